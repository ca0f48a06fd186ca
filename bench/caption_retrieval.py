"""What the vectors are worth: caption-to-caption retrieval on the Flickr8k test split.

For each of the 5,000 test captions (1,000 images x 5), all other test captions are ranked by
cosine similarity; R@K is the share of queries with a caption of the same image among the first
K. Printed side by side, all on the same Treebank tokens (case kept, as every vocabulary here is):
a TF-IDF bag-of-words baseline (lower-cased tokens, smoothed idf, L2-normalised); the SIF mean of
the word vectors of --words (Arora et al. 2017), with and without its first principal component
removed; and for each --encoder, the encoder itself and the SIF mean of its own word table, which
says whether the GRU beats averaging the vectors it reads.

SIF's p(w) is a Zipf estimate from each word's rank in the table's vocabulary (saved commonest first):
a model folder keeps no word counts, and on the novels+captions word2vec model the estimate retrieves
as well as that corpus's real counts (R@1 0.319 against 0.320). The Flickr8k train+dev counts, real
but of captions alone, do worse (0.282): "dog" or "man" are common there and so weigh little, yet
they are what tells one image's captions from another's.
"""

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from data_schemas import CAPTIONS
from data_schemas import text as col
from data_schemas.shards import read_artifact
from model.families import read_family_config
from model.skipthought.api import TextEncoder
from model.skipthought.files import EOS, UNK, load_tables, read_config, read_vocabulary
from model.words.files import WORDS, read_word_vectors
from model.words.sif import DEFAULT_A, remove_first_component, sif_weights, weighted_means, zipf_counts
from pipelines.corpus import captions

KS = (1, 5, 10)
# The words model `make models` trains (novels and captions, the Flickr8k test split left out).
DEFAULT_WORDS = Path("workspace/models/models/words-novels-captions")
TARGET = "target: encoder R@1 >= TF-IDF R@1 and > SIF at every K"
Recall = dict[int, float]


def recall_at_k(vectors: np.ndarray, images: list[str]) -> Recall:
    """Share of captions whose top-K neighbours (itself excluded) include one of the same image."""
    normed = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    scores = normed @ normed.T
    np.fill_diagonal(scores, -np.inf)
    top = np.argsort(-scores, axis=1)[:, : max(KS)]
    labels = np.array(images)
    hits = labels[top] == labels[:, None]
    return {k: float(hits[:, :k].any(axis=1).mean()) for k in KS}


def tfidf(token_lists: list[list[str]]) -> sparse.csr_matrix:
    vocabulary: dict[str, int] = {}
    rows, cols, values = [], [], []
    for row, tokens in enumerate(token_lists):
        for word, count in Counter(t.lower() for t in tokens).items():
            rows.append(row)
            cols.append(vocabulary.setdefault(word, len(vocabulary)))
            values.append(count)
    counts = sparse.csr_matrix((values, (rows, cols)), shape=(len(token_lists), len(vocabulary)), dtype=np.float64)
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1
    return counts @ sparse.diags(idf)


def flickr8k_captions(shared: Path) -> pa.Table:
    with tempfile.TemporaryDirectory() as temp:
        source = shared / "captions" / "flickr8k" / "Flickr8k.token.txt.gz"
        captions.run(str(source), "flickr8k", Path(temp), captions.CaptionParams("flickr8k"),
                     ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
        return read_artifact(Path(temp) / "corpora" / "flickr8k" / "captions", CAPTIONS)


def sif_recalls(label: str, words: list[str], vectors: np.ndarray, tokens: list[list[str]], images: list[str],
                a: float, skip: frozenset[str] = frozenset()) -> dict[str, Recall]:
    """R@K of the SIF means over one word table, without and with the first component removed; tokens
    in `skip` are left out as unknown words are, and take no rank in the Zipf estimate."""
    # Later rows win a repeated word, as the encoder's own vocabulary lookup does.
    index = {word: row for row, word in enumerate(words) if word not in skip}
    counts = zipf_counts([word for word in words if word not in skip])
    means = weighted_means(tokens, index, vectors, sif_weights(words, counts, a))
    return {label: recall_at_k(means, images),
            f"{label}, 1st component removed": recall_at_k(remove_first_component(means), images)}


def encoder_word_table(model_dir: Path) -> tuple[list[str], np.ndarray]:
    """The encoder's vocabulary and the rows its GRUs read (uni and bi tables side by side, as
    combine-skip puts their outputs)."""
    config, vocab = read_config(model_dir), read_vocabulary(model_dir)
    tables = load_tables(model_dir, config, len(vocab.words))
    return vocab.words, np.hstack([np.asarray(tables[part]) for part in config.parts])


def target_verdict(encoder: Recall, baseline: Recall, sif: list[Recall]) -> str:
    r1 = encoder[1] >= baseline[1]
    beats_sif = all(encoder[k] > max(row[k] for row in sif) for k in KS) if sif else True
    return "met" if r1 and beats_sif else "not met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--encoder", type=Path, action="append", default=[], help="encoder model dir (repeatable)")
    parser.add_argument("--words", type=Path, default=DEFAULT_WORDS if DEFAULT_WORDS.is_dir() else None,
                        help=f"words model dir (`storyteller train words`) for the SIF rows; default {DEFAULT_WORDS} "
                        "where it exists, else no SIF rows")
    parser.add_argument("--a", type=float, default=DEFAULT_A,
                        help=f"SIF weight parameter: word weight a / (a + p(w)) (default {DEFAULT_A:g})")
    args = parser.parse_args()
    table = flickr8k_captions(args.shared)
    test = table.filter(pc.equal(table.column(col.SPLIT), "test"))
    tokens, images = test.column(col.TOKENS).to_pylist(), test.column(col.IMAGE_ID).to_pylist()
    print(f"Flickr8k test split: {len(tokens):,} captions of {len(set(images)):,} images")
    if args.words is not None or args.encoder:
        print(f"SIF: weight a / (a + p(w)), a = {args.a:g}, p(w) by Zipf from the rank in each vocab.txt")
    results = {"TF-IDF bag of words": recall_at_k(tfidf(tokens).toarray(), images)}
    sif: list[Recall] = []
    if args.words is None:
        print(f"no --words given and {DEFAULT_WORDS} does not exist: SIF rows skipped")
    else:
        vectors = read_word_vectors(args.words)
        left_out = read_family_config(args.words, WORDS, "word-vector").get("provenance", {}).get("exclude_split")
        print(f"words: {args.words} ({len(vectors.words):,} words, dim {vectors.dim}, split left out of training: "
              f"{left_out or 'none, so the test captions were seen'})")
        word_rows = sif_recalls(f"SIF {args.words.name}", vectors.words, vectors.vectors, tokens, images, args.a)
        results.update(word_rows)
        sif = list(word_rows.values())
    encoders = {}
    for model in args.encoder:
        encoders[model] = results[f"skip-thoughts {model.name}"] = recall_at_k(
            TextEncoder(model).encode_tokens(tokens), images)
        words, table_rows = encoder_word_table(model)
        # UNK and <eos> are skipped: SIF leaves out a word it has no vector for, not averages in UNK's.
        results.update(sif_recalls(f"encoder word-table SIF {model.name}", words, table_rows, tokens, images,
                                   args.a, frozenset((UNK, EOS))))
    width = max(len(name) for name in results)
    print(f"{'':{width}}  " + "  ".join(f"R@{k:<3}" for k in KS))
    for name, recall in results.items():
        print(f"{name:{width}}  " + "  ".join(f"{recall[k]:.3f}" for k in KS))
    print(TARGET + ("" if sif else " (no SIF rows: TF-IDF only)"))
    for model, recall in encoders.items():
        print(f"  {model.name}: {target_verdict(recall, results['TF-IDF bag of words'], sif)}")


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
