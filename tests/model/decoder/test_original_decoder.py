"""Converting a released storyteller decoder (real Python 2 formats, random weights) and checking its
per-step log-probabilities against an independent NumPy implementation of reference c.1, with and
without the deep output, through both `forward` (teacher forcing) and `initial_state`/`step`."""

import numpy as np
import pytest
import torch

from flows.cli.main import main
from model.decoder.conditional_gru import START
from model.decoder.files import load_decoder
from model.decoder.original import convert_decoder
from model.original_files import OriginalFileError
from model.skipthought.api import pad_batch
from model.skipthought.files import read_vocabulary
from tests.py2_files import write_decoder_dictionary, write_options

N_WORDS, DIM_WORD, DIM, DIM_CTX = 50, 8, 12, 10
# Indices 2..54 by frequency; 50..54 are beyond n_words, so the original mapped them to UNK.
DICTIONARY = ["the", ",", "café", *(f"w{i}" for i in range(5, 55))]
TARGETS = [[5, 17, 2, 0], [3, 0], [49, 8, 8, 30, 11, 0], [0]]


def write_release(folder, deep_output: bool | None, protocol: int, seed: int = 0) -> dict[str, np.ndarray]:
    """romance.npz(.pkl) and romance_dictionary.pkl; `deep_output` None leaves `doutput` out of the options."""
    rng = np.random.default_rng(seed)
    deep = deep_output is not False
    shapes = {"Wemb": (N_WORDS, DIM_WORD), "ff_state_W": (DIM_CTX, DIM), "ff_state_b": (DIM,),
              "decoder_W": (DIM_WORD, 2 * DIM), "decoder_b": (2 * DIM,), "decoder_U": (DIM, 2 * DIM),
              "decoder_Wx": (DIM_WORD, DIM), "decoder_Ux": (DIM, DIM), "decoder_bx": (DIM,),
              "ff_logit_W": (DIM_WORD if deep else DIM, N_WORDS), "ff_logit_b": (N_WORDS,)}
    if deep:
        shapes |= {"ff_hid_W": (DIM, DIM_WORD), "ff_hid_b": (DIM_WORD,)}
    params = {name: rng.normal(0, 0.5, shape).astype(np.float32) for name, shape in shapes.items()}
    np.savez(folder / "romance.npz", **params, history_errs=np.array([]))
    options = {"dimctx": DIM_CTX, "dim_word": DIM_WORD, "dim": DIM, "encoder": "gru", "decoder": "gru",
               "max_epochs": 5, "dispFreq": 1, "decay_c": 0.0, "grad_clip": 5.0, "n_words": N_WORDS,
               "maxlen_w": 100, "optimizer": "adam", "batch_size": 16, "saveto": "romance.npz",
               "dictionary": "romance_dictionary.pkl", "embeddings": None, "reload_": False}
    if deep_output is not None:
        options["doutput"] = deep_output
    write_options(folder / "romance.npz.pkl", options, protocol)
    worddict = {word: index + 2 for index, word in enumerate(DICTIONARY)}
    wordcount = {word: 1000 - index for index, word in enumerate(DICTIONARY)}
    write_decoder_dictionary(folder / "romance_dictionary.pkl", dict(reversed(worddict.items())), wordcount, protocol)
    return params


def reference_log_probs(ctx: np.ndarray, targets: list[int], p: dict, deep: bool) -> np.ndarray:
    """(len(targets), n_words) log-probabilities of each step under teacher forcing, in float64."""
    p = {name: value.astype(np.float64) for name, value in p.items()}
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h, x, rows = np.tanh(ctx @ p["ff_state_W"] + p["ff_state_b"]), np.zeros(DIM_WORD), []
    for target in targets:
        a = x @ p["decoder_W"] + p["decoder_b"] + h @ p["decoder_U"]
        r, u = sigmoid(a[:DIM]), sigmoid(a[DIM:])
        h = u * h + (1 - u) * np.tanh(x @ p["decoder_Wx"] + p["decoder_bx"] + r * (h @ p["decoder_Ux"]))
        out = np.tanh(h @ p["ff_hid_W"] + p["ff_hid_b"]) if deep else h
        logits = out @ p["ff_logit_W"] + p["ff_logit_b"]
        rows.append(logits - logits.max() - np.log(np.exp(logits - logits.max()).sum()))
        x = p["Wemb"][target]
    return np.array(rows)


@pytest.mark.parametrize(("deep_output", "protocol"), [(None, 0), (False, 2)])
def test_converted_decoder_matches_numpy_reference(tmp_path, deep_output, protocol):
    params = write_release(tmp_path, deep_output, protocol)
    config = convert_decoder(tmp_path / "romance.npz", tmp_path / "romance_dictionary.pkl", tmp_path / "decoder")
    deep = deep_output is None
    assert (config.n_words, config.dim_word, config.dim, config.dim_ctx, config.deep_output) == (
        N_WORDS, DIM_WORD, DIM, DIM_CTX, deep)
    assert config.provenance["words_beyond_n_words_as_unk"] == 5
    assert read_vocabulary(tmp_path / "decoder").words == ["<eos>", "UNK", *DICTIONARY[:N_WORDS - 2]]
    model = load_decoder(tmp_path / "decoder")
    ctx = np.random.default_rng(1).normal(size=(len(TARGETS), DIM_CTX)).astype(np.float32)
    expected = [reference_log_probs(c.astype(np.float64), t, params, deep) for c, t in zip(ctx, TARGETS, strict=True)]
    ids, lengths = pad_batch(TARGETS)
    scores = model(torch.from_numpy(ctx), ids, lengths).numpy()
    for row, (targets, rows) in enumerate(zip(TARGETS, expected, strict=True)):
        np.testing.assert_allclose(scores[row, :len(targets)], rows[np.arange(len(targets)), targets], atol=1e-5)
        assert not scores[row, len(targets):].any()
    state, prev = model.initial_state(torch.from_numpy(ctx)), torch.full((len(TARGETS),), START)
    for t in range(max(len(targets) for targets in TARGETS)):
        log_probs, state = model.step(prev, state)
        assert log_probs.dtype == torch.float32 and log_probs.shape == (len(TARGETS), N_WORDS)
        for row, rows in enumerate(expected):
            if t < len(rows):
                np.testing.assert_allclose(log_probs[row].numpy(), rows[t], atol=1e-5)
        prev = ids[:, t]


def copy_release(source, target, broken: str | None = None, keep: float = 0.5) -> None:
    for path in source.iterdir():
        if path.is_file():
            data = path.read_bytes()
            (target / path.name).write_bytes(data[: int(len(data) * keep)] if path.name == broken else data)


@pytest.mark.parametrize("broken", ["romance.npz", "romance.npz.pkl", "romance_dictionary.pkl"])
def test_truncated_files_are_named(tmp_path, broken):
    write_release(tmp_path, None, 2)
    (tmp_path / "copy").mkdir()
    # 0.8 of the dictionary keeps the worddict whole and cuts the wordcount pickle after it.
    copy_release(tmp_path, tmp_path / "copy", broken, 0.8 if broken == "romance_dictionary.pkl" else 0.5)
    with pytest.raises(OriginalFileError, match=f"{broken} is truncated"):
        convert_decoder(tmp_path / "copy" / "romance.npz", tmp_path / "copy" / "romance_dictionary.pkl",
                        tmp_path / "out")


def test_bad_arrays_and_small_dictionary_are_named(tmp_path):
    params = write_release(tmp_path, None, 2)
    dictionary = tmp_path / "romance_dictionary.pkl"
    np.savez(tmp_path / "romance.npz", **{k: v for k, v in params.items() if k != "ff_hid_W"})
    with pytest.raises(OriginalFileError, match=r"romance\.npz has no array 'ff_hid_W'"):
        convert_decoder(tmp_path / "romance.npz", dictionary, tmp_path / "out")
    np.savez(tmp_path / "romance.npz", **{**params, "ff_state_W": np.zeros((4800, DIM), np.float32)})
    with pytest.raises(OriginalFileError, match=r"ff_state_W has shape \(4800, 12\), expected \(10, 12\)"):
        convert_decoder(tmp_path / "romance.npz", dictionary, tmp_path / "out")
    small = {word: index + 2 for index, word in enumerate(DICTIONARY[:30])}
    write_decoder_dictionary(dictionary, small, small, 2)
    with pytest.raises(OriginalFileError, match=r"romance_dictionary\.pkl has no word for 18 of the indices 2\.\.49"):
        convert_decoder(tmp_path / "romance.npz", dictionary, tmp_path / "out")
    with pytest.raises(OriginalFileError, match=r"nowhere\.pkl is missing"):
        convert_decoder(tmp_path / "romance.npz", tmp_path / "nowhere.pkl", tmp_path / "out")


def test_convert_command(tmp_path, capsys):
    write_release(tmp_path, False, 0)
    args = ["convert", "decoder", "--decoder", str(tmp_path / "romance.npz"), "--dictionary"]
    assert main([*args, str(tmp_path / "romance_dictionary.pkl"), "--out", str(tmp_path / "decoder")]) == 0
    assert "50 words, 10-d vectors -> GRU 12 (8-d words, no deep output); 5 dictionary words" in capsys.readouterr().out
    assert main([*args, str(tmp_path / "missing.pkl"), "--out", str(tmp_path / "decoder")]) == 1
    assert "missing.pkl is missing" in capsys.readouterr().err
