"""Word vectors as the starting rows of a trainer's word embedding (encoder, decoder, VSE): each word of
the trainer's vocabulary that has a vector starts from it; the others keep their random start."""

import numpy as np
import torch
from torch import nn

from model.words.files import WordVectors


def init_embedding(vocab_words: list[str], word_vectors: WordVectors, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(len(vocab_words), dim) float32 rows, zero where a word has no vector, and the (len(vocab_words),)
    bool mask of the words that have one."""
    if word_vectors.dim != dim:
        raise ValueError(f"the word vectors {word_vectors.source} are {word_vectors.dim}-d but the recipe's dim_word "
                         f"is {dim}: set dim_word to {word_vectors.dim} (--dim-word {word_vectors.dim}) to start "
                         f"from them, or train word vectors with --dim {dim}")
    index = word_vectors.index()
    covered = np.array([word in index for word in vocab_words], dtype=bool)
    matrix = np.zeros((len(vocab_words), dim), dtype=np.float32)
    if covered.any():
        matrix[covered] = word_vectors.vectors[[index[w] for w in vocab_words if w in index]]
    return matrix, covered


@torch.no_grad()
def start_embedding(embedding: nn.Embedding, vocab_words: list[str], ref: str,
                    word_vectors: WordVectors | None) -> dict:
    """Copy the vectors of `vocab_words` (embedding row i = word i) into `embedding`, for a recipe whose
    `word_vectors` field is `ref` (empty: random start, nothing to do). Returns the provenance entry,
    {"word_vectors": {model, covered, words}}, or {} for a random start."""
    if bool(ref) != (word_vectors is not None):
        given = "no" if word_vectors is None else "its"
        raise ValueError(f"the recipe's word_vectors is {ref!r} but the trainer was given {given} vectors: pass the "
                         "vectors of the words model it names (pipelines.training reads them from the workspace)")
    if word_vectors is None:
        return {}
    if embedding.num_embeddings != len(vocab_words):
        raise ValueError(f"the embedding has {embedding.num_embeddings} rows for {len(vocab_words)} words")
    matrix, covered = init_embedding(vocab_words, word_vectors, embedding.embedding_dim)
    weight = embedding.weight
    mask = torch.from_numpy(covered).to(weight.device)
    if covered.any() and not covered.all():
        # nn.Embedding starts rows at N(0, 1), length about sqrt(dim), several times a word2vec vector's:
        # the rows left random are scaled to the vectors' mean length, so none starts out dominating.
        length = float(np.linalg.norm(matrix[covered], axis=1).mean())
        weight[~mask] *= length / float(weight[~mask].norm(dim=1).mean())
    weight[mask] = torch.from_numpy(matrix[covered]).to(weight)
    return {"word_vectors": {"model": word_vectors.source, "ref": ref, "covered": int(covered.sum()),
                             "words": len(vocab_words)}}
