"""The decoder module and its directory: teacher forcing equals step-by-step decoding, padding costs
nothing and changes nothing, and a saved model loads back for decoding."""

import json

import pytest
import torch
import torch.nn.functional as F

from model.decoder.conditional_gru import START, DecoderConfig, StoryDecoder
from model.decoder.files import load_decoder, read_decoder_config, save_decoder
from model.skipthought.api import pad_batch

WORDS = ["<eos>", "UNK", *(f"w{i}" for i in range(18))]
TARGETS = [[4, 9, 2, 0], [7, 0], [19, 3, 3, 11, 5, 6, 0]]


def tiny(deep_output: bool = True, seed: int = 0) -> StoryDecoder:
    torch.manual_seed(seed)
    return StoryDecoder(DecoderConfig(n_words=len(WORDS), dim_word=6, dim=10, dim_ctx=7, deep_output=deep_output))


@pytest.mark.parametrize("deep_output", [True, False])
def test_teacher_forcing_equals_step_by_step(deep_output):
    model = tiny(deep_output)
    ctx = torch.randn(len(TARGETS), 7)
    ids, lengths = pad_batch(TARGETS)
    with torch.no_grad():
        scores = model(ctx, ids, lengths)
        state, prev = model.initial_state(ctx), torch.full((len(TARGETS),), START)
        for t in range(ids.shape[1]):
            log_probs, state = model.step(prev, state)
            torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(len(TARGETS)))
            real = t < lengths
            torch.testing.assert_close(scores[real, t], log_probs[real].gather(1, ids[real, t, None])[:, 0])
            prev = ids[:, t]
    padding = torch.arange(ids.shape[1])[None, :] >= lengths[:, None]
    assert not scores[padding].any()


def test_padding_changes_nothing_and_gets_no_gradient():
    model = tiny()
    ctx = torch.randn(len(TARGETS), 7)
    ids, lengths = pad_batch(TARGETS)
    # Each target decoded alone, without padding, then padded with zeros.
    alone = torch.stack([F.pad(model(ctx[r:r + 1], ids[r:r + 1, :len(t)], lengths[r:r + 1])[0],
                               (0, ids.shape[1] - len(t))) for r, t in enumerate(TARGETS)])
    torch.testing.assert_close(model(ctx, ids, lengths), alone)
    junk = ids.masked_fill(torch.arange(ids.shape[1])[None, :] >= lengths[:, None], 13)
    torch.testing.assert_close(model(ctx, junk, lengths), alone)
    model(ctx, junk, lengths).sum().backward()
    assert model.embedding.weight.grad[13].abs().sum() == 0  # word 13 occurs only as padding
    assert model.gru.bias_hh_l0.grad is None  # the original has no hidden-side bias


def test_saved_decoder_loads_for_decoding(tmp_path):
    model = tiny()
    model.config.provenance = {"source": "test"}
    save_decoder(tmp_path / "decoder", model, WORDS)
    assert json.loads((tmp_path / "decoder" / "config.json").read_text())["family"] == "decoder"
    assert read_decoder_config(tmp_path / "decoder") == model.config
    loaded = load_decoder(tmp_path / "decoder")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    ctx = torch.randn(2, 7)
    ids, lengths = pad_batch(TARGETS[:2])
    torch.testing.assert_close(loaded(ctx, ids, lengths), model(ctx, ids, lengths).detach())
    with pytest.raises(ValueError, match=r"must start with '<eos>' and 'UNK'"):
        save_decoder(tmp_path / "bad", model, ["UNK", "<eos>", *WORDS[2:]])
    (tmp_path / "decoder" / "vocab.txt").write_text("".join(f"{w}\n" for w in WORDS[:-1]))
    with pytest.raises(ValueError, match=r"vocab\.txt has 19 words but the decoder's softmax has n_words = 20"):
        load_decoder(tmp_path / "decoder")
    (tmp_path / "decoder" / "config.json").write_text(json.dumps({"family": "vse", "n_words": 20}))
    with pytest.raises(ValueError, match="not a decoder model directory"):
        load_decoder(tmp_path / "decoder")
