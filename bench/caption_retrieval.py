"""What the vectors are worth: caption-to-caption retrieval on the Flickr8k test split.

For each of the 5,000 test captions (1,000 images x 5), all other test captions are ranked by
cosine similarity; R@K is the share of queries with a caption of the same image among the first
K. Printed for each encoder given and for a TF-IDF bag-of-words baseline (lower-cased tokens,
smoothed idf, L2-normalised), all on the same Treebank tokens.
"""

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from scipy import sparse

from data_schemas import CAPTIONS
from data_schemas import text as col
from data_schemas.shards import read_artifact
from model.skipthought.api import TextEncoder
from pipelines.corpus import captions

KS = (1, 5, 10)


def recall_at_k(vectors: np.ndarray, images: list[str]) -> dict[int, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--encoder", type=Path, action="append", default=[], help="encoder model dir (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        source = args.shared / "captions" / "flickr8k" / "Flickr8k.token.txt.gz"
        captions.run(str(source), "flickr8k", Path(temp), captions.CaptionParams("flickr8k"),
                     ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
        table = read_artifact(Path(temp) / "corpora" / "flickr8k" / "captions", CAPTIONS)
    test = table.filter(pc.equal(table.column(col.SPLIT), "test"))
    tokens, images = test.column(col.TOKENS).to_pylist(), test.column(col.IMAGE_ID).to_pylist()
    print(f"Flickr8k test split: {len(tokens):,} captions of {len(set(images)):,} images")
    results = {"TF-IDF bag of words": recall_at_k(tfidf(tokens).toarray(), images)}
    for model in args.encoder:
        results[f"skip-thoughts {model.name}"] = recall_at_k(TextEncoder(model).encode_tokens(tokens), images)
    width = max(len(name) for name in results)
    print(f"{'':{width}}  " + "  ".join(f"R@{k:<3}" for k in KS))
    for name, recall in results.items():
        print(f"{name:{width}}  " + "  ".join(f"{recall[k]:.3f}" for k in KS))


if __name__ == "__main__":
    main()
