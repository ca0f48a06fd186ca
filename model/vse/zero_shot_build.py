"""Making a zero-shot joint space (model/vse/zero_shot.py) from parts that exist already: word vectors,
a CNN's ImageNet classifier and the class names. Nothing is trained; building takes seconds.

Class names come from a labels file with one line per class (WordNet synonyms, comma-separated), as
`../shared/data/weights/imagenet_labels/imagenet_labels.txt`, whose first line names the `background`
class that ImageNet-1k classifiers lack: line i + 1 names class i.
"""

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from model.cnn.registry import image_model_spec, resolve_weights
from model.skipthought.files import EOS, UNK
from model.vse.zero_shot import ZeroShotConfig, ZeroShotEmbedding
from model.words.files import WordVectors
from model.words.sif import sif_weights, weighted_means, zipf_counts

# ImageNet-1k class ranges (inclusive) and the everyday word captions use for them: a photo of a beagle
# is captioned "a dog", and no class name of the 118 dog breeds says "dog".
GENERIC_WORDS = ((0, 6, "fish"), (389, 397, "fish"), (7, 24, "bird"), (80, 100, "bird"), (127, 146, "bird"),
                 (52, 68, "snake"), (151, 268, "dog"), (281, 285, "cat"), (294, 297, "bear"),
                 (300, 326, "insect"), (365, 382, "monkey"))
CLASSIFIER = "_fc"  # EfficientNet-Lite0's ImageNet head in its released state dict
COMMON_SAMPLE = 50_000  # captions the common component is estimated on


def read_class_names(path: Path, n_classes: int) -> list[list[str]]:
    """Each class's names; a file of n_classes + 1 lines starts with `background`, which is skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--labels {path} is not a file: give the class names, one line per class")
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) == n_classes + 1:
        lines = lines[1:]
    if len(lines) != n_classes:
        raise ValueError(f"{path} has {len(lines)} lines but the classifier has {n_classes} classes: one line per "
                         "class (or a first `background` line and then one per class)")
    names = [[name.strip() for name in line.split(",") if name.strip()] for line in lines]
    empty = [row + 1 for row, line in enumerate(names) if not line]
    if empty:
        raise ValueError(f"{path}: lines {empty[:5]} name no class")
    return names


def class_names_with_generic(names: list[list[str]]) -> list[list[str]]:
    """The names, plus the generic word of the class's ImageNet range (only for 1000-class label sets)."""
    if len(names) != 1000:
        return names
    return [[*own, *(word for first, last, word in GENERIC_WORDS if first <= row <= last)]
            for row, own in enumerate(names)]


def _name_rows(name: str, index: dict[str, int]) -> list[int]:
    """Rows of a class name's words, each lower-cased, as written or capitalised, the first that has a vector."""
    rows = []
    for word in (w for w in re.split(r"[\s\-']+", name) if w):
        found = next((index[form] for form in (word.lower(), word, word.capitalize()) if form in index), None)
        if found is not None:
            rows.append(found)
    return rows


def class_vectors(names: list[list[str]], index: dict[str, int], table: np.ndarray,
                  weights: np.ndarray) -> tuple[np.ndarray, int]:
    """(n_classes, dim) unit rows: the mean of the unit SIF vectors of the class's names; a class none of
    whose words has a vector stays zero (it adds nothing to an image). Also how many classes have a vector."""
    out = np.zeros((len(names), table.shape[1]), dtype=np.float32)
    covered = 0
    for row, class_names in enumerate(names):
        vectors = []
        for name in class_names:
            rows = _name_rows(name, index)
            if rows:
                vector = (table[rows] * weights[rows, None]).mean(axis=0)
                vectors.append(vector / max(np.linalg.norm(vector), 1e-12))
        if vectors:
            mean = np.mean(vectors, axis=0)
            out[row] = mean / max(np.linalg.norm(mean), 1e-12)
            covered += 1
    return out, covered


def common_component(token_lists: Sequence[Sequence[str]], index: dict[str, int], table: np.ndarray,
                     weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """The first right singular vector of the captions' SIF means (a seeded sample of them), sign fixed so
    the mean caption projects positively."""
    if not token_lists:
        raise ValueError("the common component needs captions: give --captions corpora with at least one caption")
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(token_lists), min(len(token_lists), COMMON_SAMPLE), replace=False)
    means = weighted_means([token_lists[r] for r in np.sort(rows)], index, table, weights)
    means = means[np.abs(means).sum(axis=1) > 0]
    if not len(means):
        raise ValueError("no caption has a word with a vector: are the captions and word vectors of one language?")
    _, _, vt = np.linalg.svd(means, full_matrices=False)
    direction = vt[0]
    return (direction if means.mean(axis=0) @ direction >= 0 else -direction).astype(np.float32)


def build_zero_shot(word_vectors: WordVectors, cnn: str, cnn_weights: str | Path | None, labels: Path,
                    captions: Sequence[Sequence[str]], top_classes: int = 10,
                    provenance: dict | None = None) -> tuple[ZeroShotEmbedding, list[str]]:
    """The model and its vocabulary (<eos>, UNK, then the word vectors' words, commonest first)."""
    if top_classes < 1:
        raise ValueError(f"--top-classes must be at least 1, got {top_classes}")
    spec = image_model_spec(cnn)
    weights_path = resolve_weights(cnn, cnn_weights)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    if f"{CLASSIFIER}.weight" not in state:
        raise ValueError(f"{weights_path} has no classifier ({CLASSIFIER}.weight): --cnn {cnn} cannot give class "
                         "probabilities")
    fc_weight, fc_bias = state[f"{CLASSIFIER}.weight"].float(), state[f"{CLASSIFIER}.bias"].float()
    if fc_weight.shape[1] != spec.feature_dim:
        raise ValueError(f"{weights_path}: the classifier reads {fc_weight.shape[1]}-d features, the {cnn} "
                         f"features are {spec.feature_dim}-d")
    words = [EOS, UNK, *(w for w in word_vectors.words if w not in (EOS, UNK))]
    source = word_vectors.index()
    table = np.zeros((len(words), word_vectors.dim), dtype=np.float32)
    table[2:] = word_vectors.vectors[[source[w] for w in words[2:]]]
    counts = zipf_counts(word_vectors.words)
    word_weights = sif_weights(words, counts).astype(np.float32)
    word_weights[:2] = 0.0
    index = {word: row for row, word in enumerate(words) if row >= 2}
    word_map = np.array([index.get(word.lower(), row) if row >= 2 else row for row, word in enumerate(words)])
    names = class_names_with_generic(read_class_names(labels, fc_weight.shape[0]))
    vectors, covered = class_vectors(names, index, table, word_weights)
    lowered = [[word.lower() if word.lower() in index else word for word in tokens] for tokens in captions]
    common = common_component(lowered, index, table, word_weights)
    config = ZeroShotConfig(n_words=len(words), dim_image=spec.feature_dim, n_classes=fc_weight.shape[0],
                            dim=word_vectors.dim, top_classes=top_classes, provenance={
                                **(provenance or {}), "word_vectors": word_vectors.source, "cnn": cnn,
                                "cnn_weights": str(weights_path), "labels": str(labels),
                                "classes_with_vectors": covered, "common_from_captions": len(captions)})
    model = ZeroShotEmbedding(config)
    with torch.no_grad():
        model.words.copy_(torch.from_numpy(table))
        model.word_map.copy_(torch.from_numpy(word_map))
        model.word_weights.copy_(torch.from_numpy(word_weights))
        model.common.copy_(torch.from_numpy(common))
        model.classifier_weight.copy_(fc_weight)
        model.classifier_bias.copy_(fc_bias)
        model.class_vectors.copy_(torch.from_numpy(vectors))
    return model.eval(), words
