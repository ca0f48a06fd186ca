"""The zero-shot joint space: both sides recomputed independently in NumPy, the build from a classifier,
class names and word vectors, and the real EfficientNet-Lite0 head with the real ImageNet class names."""

from pathlib import Path

import numpy as np
import pytest
import torch

from flows.cli.main import main
from model.cnn.registry import resolve_weights
from model.vse.api import VSEEncoder
from model.vse.zero_shot_build import GENERIC_WORDS, build_zero_shot, read_class_names
from model.words.files import WordVectors, save_word_vectors
from tests.conftest import IN_PROCESS, SHARED_DATA

DIM_IMAGE = 1280  # efficientnet-lite0's pooled features
WORDS = ["a", "the", "on", ".", "dog", "retriever", "golden", "cat", "tabby", "snow", "ski", "slope", "grass", "Dog",
         "NYC"]
LABELS = ["golden retriever", "tabby, tabby cat", "ski"]


def word_vectors() -> WordVectors:
    """Concept directions: dog ~ retriever ~ golden; cat ~ tabby; ski ~ snow ~ slope; one shared direction."""
    rng = np.random.default_rng(0)
    concepts = {"dog": 0, "retriever": 0, "golden": 0, "cat": 1, "tabby": 1, "ski": 2, "snow": 2, "slope": 2}
    vectors = rng.normal(0, 0.2, size=(len(WORDS), 8)).astype(np.float32)
    for row, word in enumerate(WORDS):
        if word in concepts:
            vectors[row, concepts[word]] += 2.0
    vectors[:, 7] += 3.0  # what every word shares: SIF's common component, removed from both sides
    return WordVectors(WORDS, vectors, "tiny")


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("zero")
    weights = torch.from_numpy(np.random.default_rng(1).normal(size=(3, DIM_IMAGE)).astype(np.float32))
    torch.save({"_fc.weight": weights, "_fc.bias": torch.zeros(3)}, folder / "head.pt")
    (folder / "labels.txt").write_text("".join(f"{line}\n" for line in LABELS), encoding="utf-8")
    return folder / "head.pt", folder / "labels.txt", weights.numpy()


def built(parts, top_classes: int = 2):
    head, labels, _ = parts
    captions = [["a", "dog", "on", "the", "grass", "."], ["a", "cat", "."], ["ski", "slope", "snow"]]
    return build_zero_shot(word_vectors(), "efficientnet-lite0", head, labels, captions, top_classes)


def test_text_side_is_sif_less_the_common_component(parts):
    model, words = built(parts)
    assert words[:2] == ["<eos>", "UNK"] and words[2:] == WORDS
    ids = torch.tensor([[words.index("a"), words.index("dog"), 1, 0], [words.index("snow"), 0, 0, 0]])
    lengths = torch.tensor([4, 2])  # both end with <eos>; UNK and <eos> are not words
    out = model(ids, lengths).numpy()
    table, weights, common = (model.words.numpy(), model.word_weights.numpy(), model.common.numpy())
    for row, kept in enumerate([[words.index("a"), words.index("dog")], [words.index("snow")]]):
        mean = (table[kept] * weights[kept, None]).sum(0) / len(kept)
        mean -= (mean @ common) * common
        np.testing.assert_allclose(out[row], mean / np.linalg.norm(mean), atol=1e-5)
    assert weights[words.index("a")] < weights[words.index("slope")]  # commoner words weigh less (Zipf by rank)


def test_a_word_is_read_in_lower_case_where_that_form_has_a_vector(parts):
    model, words = built(parts)
    lengths = torch.tensor([3])
    upper, lower, acronym = ([[words.index(w) for w in ("a", form)] + [0]] for form in ("Dog", "dog", "NYC"))
    np.testing.assert_allclose(model(torch.tensor(upper), lengths), model(torch.tensor(lower), lengths))
    assert float(model(torch.tensor(acronym), lengths) @ model(torch.tensor(lower), lengths).T) < 0.99


def test_image_side_mixes_the_likeliest_classes(parts):
    model, _ = built(parts, top_classes=2)
    _, _, head = parts
    features = np.random.default_rng(2).normal(size=(4, DIM_IMAGE)).astype(np.float32)
    out = model.embed_images(torch.from_numpy(features)).numpy()
    logits = features @ head.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    classes, common = model.class_vectors.numpy(), model.common.numpy()
    for row in range(4):
        top = np.argsort(-p[row])[:2]
        mixed = (p[row, top, None] * classes[top]).sum(0)
        mixed -= (mixed @ common) * common
        np.testing.assert_allclose(out[row], mixed / np.linalg.norm(mixed), atol=1e-4)


def test_a_photo_finds_the_caption_of_its_class(parts):
    model, words = built(parts, top_classes=1)
    _, _, head = parts
    dog_photo = torch.from_numpy(head[0:1] * 0.05)  # the retriever class's own direction: it wins the softmax
    captions = [["a", "dog", "on", "the", "grass"], ["a", "tabby", "cat"], ["ski", "slope"]]
    ids = [torch.tensor([[words.index(w) for w in c] + [0]]) for c in captions]
    scores = [float(model.embed_images(dog_photo) @ model(i, torch.tensor([i.shape[1]])).T) for i in ids]
    assert int(np.argmax(scores)) == 0, scores


def test_labels_file_checks(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("background\none\ntwo, deux\n", encoding="utf-8")
    assert read_class_names(path, 2) == [["one"], ["two", "deux"]]  # the background line is skipped
    with pytest.raises(ValueError, match="3 lines but the classifier has 5"):
        read_class_names(path, 5)
    with pytest.raises(FileNotFoundError, match="--labels"):
        read_class_names(tmp_path / "missing.txt", 2)


def test_the_real_head_and_imagenet_names_through_the_cli(tmp_path, capsys):
    """The installed EfficientNet-Lite0 weights and the shared ImageNet names; `build zero-shot` writes a
    VSE folder the API loads; dog breeds carry the generic word "dog"."""
    labels = SHARED_DATA / "weights" / "imagenet_labels" / "imagenet_labels.txt"
    names = read_class_names(labels, 1000)
    assert names[207][0] == "golden retriever" and any(word == "dog" for a, b, word in GENERIC_WORDS if a <= 207 <= b)
    workspace = tmp_path / "ws"
    save_word_vectors(workspace / "models" / "tiny-words", word_vectors(), {})
    texts = ["a dog .", "ski slope", "a dog on the grass .", "a tabby cat .", "snow on the slope", "the cat",
             "the golden dog", "a cat on the grass", "a ski ."]
    (tmp_path / "caps.csv").write_text("image,caption\n" + "".join(f"{n}.jpg,{t}\n" for n, t in enumerate(texts)),
                                       encoding="utf-8")
    assert main(["corpus", "captions", "--input", str(tmp_path / "caps.csv"), "--format", "csv", "--name", "caps",
                 "--workspace", str(workspace), *IN_PROCESS]) == 0
    assert main(["build", "zero-shot", "--words", "tiny-words", "--captions", "caps", "--labels", str(labels),
                 "--workspace", str(workspace), "--name", "zs"]) == 0
    assert "of 1000 classes with a vector" in capsys.readouterr().out
    encoder = VSEEncoder(workspace / "models" / "zs")
    head = torch.load(resolve_weights("efficientnet-lite0", None), weights_only=True)["_fc.weight"].float().numpy()
    vectors = encoder.embed_features(head[[207, 281]] * 0.1)  # golden retriever, tabby
    captions = encoder.embed_token_lists([["a", "dog", "."], ["a", "tabby", "cat", "."]])
    assert (vectors @ captions.T).argmax(axis=1).tolist() == [0, 1]
