"""Converting released skip-thought files (real Python 2 formats, random weights) and checking the
converted encoder against an independent NumPy implementation of the reference equations."""

import numpy as np
import pytest

from model.original_files import OriginalFileError
from model.skipthought.api import TextEncoder
from model.skipthought.original import convert_skipthoughts
from tests.py2_files import write_object_table, write_options

DIM_WORD, UNI, BI = 6, 5, 4
WORDS = ["<eos>", "UNK", "the", "dog", "runs", ".", "a", "cat", "sleeps", "the", "café", "n't", "do"]


def gru_arrays(rng, prefix: str, dim: int) -> dict[str, np.ndarray]:
    shapes = {"W": (DIM_WORD, 2 * dim), "b": (2 * dim,), "U": (dim, 2 * dim), "Wx": (DIM_WORD, dim),
              "Ux": (dim, dim), "bx": (dim,)}
    return {f"{prefix}_{k}": rng.normal(0, 0.5, shape).astype(np.float32) for k, shape in shapes.items()}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("released")
    uni = gru_arrays(rng, "encoder", UNI)
    bi = {**gru_arrays(rng, "encoder", BI), **gru_arrays(rng, "encoder_r", BI)}
    np.savez(folder / "uni_skip.npz", Wemb=rng.normal(size=(20, DIM_WORD)), decoder_W=np.zeros(3), **uni)
    np.savez(folder / "bi_skip.npz", **bi)
    write_options(folder / "uni_skip.npz.pkl", {"dim_word": DIM_WORD, "dim": UNI, "encoder": "gru",
                                                "n_words_src": 20, "decoder": "gru_cond_simple"}, protocol=0)
    write_options(folder / "bi_skip.npz.pkl", {"dim_word": DIM_WORD, "dim": BI, "encoder": "gru"}, protocol=2)
    tables = {name: rng.normal(size=(len(WORDS), DIM_WORD)).astype(np.float32) for name in ("utable", "btable")}
    for name, table in tables.items():  # rows alternate between the (620,) and (1, 620) shapes
        write_object_table(folder / f"{name}.npy", [r if i % 2 else r.reshape(1, -1) for i, r in enumerate(table)])
    (folder / "dictionary.txt").write_text("".join(f"{w}\n" for w in WORDS), encoding="utf-8")
    return folder, uni, bi, tables


def reference_gru(xs, p, prefix, dim):
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h = np.zeros(dim, dtype=np.float64)
    for x in xs:
        a = x @ p[f"{prefix}_W"] + p[f"{prefix}_b"] + h @ p[f"{prefix}_U"]
        r, u = sigmoid(a[:dim]), sigmoid(a[dim:])
        candidate = np.tanh(x @ p[f"{prefix}_Wx"] + p[f"{prefix}_bx"] + r * (h @ p[f"{prefix}_Ux"]))
        h = u * h + (1 - u) * candidate
    return h


def reference_encode(tokens, uni, bi, tables, use_norm=True):
    row = {}
    for index, word in enumerate(WORDS):
        row[word] = index  # the original dict keeps the last vector of a repeated word
    rows = [row.get(t, row["UNK"]) for t in tokens]
    u = reference_gru(tables["utable"][rows], uni, "encoder", UNI)
    xb = tables["btable"][rows]
    b = np.concatenate([reference_gru(xb, bi, "encoder", BI), reference_gru(xb[::-1], bi, "encoder_r", BI)])
    if not use_norm:
        return np.concatenate([u, b])
    return np.concatenate([u / np.linalg.norm(u), b / np.linalg.norm(b)])


def test_converted_encoder_matches_numpy_reference(released, tmp_path):
    folder, uni, bi, tables = released
    config = convert_skipthoughts(folder, folder, tmp_path / "model")
    assert (config.kind, config.output_dim) == ("combine", UNI + 2 * BI)
    encoder = TextEncoder(tmp_path / "model")
    assert isinstance(encoder.model.tables["uni"], np.memmap)
    texts = ["the dog runs .", "A café cat do n't sleep", "the", "zebra the cat sleeps . the dog runs ."]
    vectors = encoder.encode(texts)  # one padded batch with lengths 4, 5, 1 and 9
    for text, vector in zip(texts, vectors, strict=True):
        tokens = text.split()
        np.testing.assert_allclose(vector, reference_encode(tokens, uni, bi, tables), atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), np.sqrt(2), atol=1e-5)


def test_use_eos_and_use_norm_options(released, tmp_path):
    folder, uni, bi, tables = released
    convert_skipthoughts(folder, folder, tmp_path / "model")
    with_eos = TextEncoder(tmp_path / "model", use_eos=True).encode(["the dog runs ."])[0]
    expected = reference_encode(["the", "dog", "runs", ".", "<eos>"], uni, bi, tables)
    np.testing.assert_allclose(with_eos, expected, atol=1e-5)
    raw = TextEncoder(tmp_path / "model", use_norm=False).encode(["a cat sleeps"])[0]
    np.testing.assert_allclose(raw, reference_encode(["a", "cat", "sleeps"], uni, bi, tables, use_norm=False),
                               atol=1e-5)


def test_empty_text_is_a_clear_error(released, tmp_path):
    folder, *_ = released
    convert_skipthoughts(folder, folder, tmp_path / "model")
    with pytest.raises(ValueError, match=r"positions \[1\] have no tokens"):
        TextEncoder(tmp_path / "model").encode(["the dog", "   "])


@pytest.mark.parametrize("broken, message", [
    ("uni_skip.npz", "uni_skip.npz is truncated"),
    ("utable.npy", "utable.npy is truncated"),
    ("bi_skip.npz.pkl", "bi_skip.npz.pkl is truncated"),
])
def test_truncated_downloads_name_the_file(released, tmp_path, broken, message):
    folder, *_ = released
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        data = path.read_bytes()
        (copy / path.name).write_bytes(data[: len(data) // 2] if path.name == broken else data)
    with pytest.raises(OriginalFileError, match=message):
        convert_skipthoughts(copy, copy, tmp_path / "model")


def test_wrong_shapes_and_missing_unk_are_named(released, tmp_path):
    folder, uni, *_ = released
    np.savez(tmp_path / "uni_skip.npz", **{**uni, "encoder_Ux": np.zeros((3, 3), np.float32)})
    for name in ("bi_skip.npz", "uni_skip.npz.pkl", "bi_skip.npz.pkl", "utable.npy", "btable.npy"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    (tmp_path / "dictionary.txt").write_text("a\nb\n")
    with pytest.raises(OriginalFileError, match=r"encoder_Ux has shape \(3, 3\)"):
        convert_skipthoughts(tmp_path, tmp_path, tmp_path / "model")
    np.savez(tmp_path / "uni_skip.npz", **uni)
    with pytest.raises(OriginalFileError, match="no 'UNK' line"):
        convert_skipthoughts(tmp_path, tmp_path, tmp_path / "model")
