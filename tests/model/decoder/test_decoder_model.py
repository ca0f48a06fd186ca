"""The decoder module and its directory: teacher forcing equals step-by-step decoding (for both ways of
conditioning and both softmaxes), padding costs nothing and changes nothing, a saved model loads back
for decoding, and the defaults are the released decoder's architecture."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from model.decoder.beam_search import SearchOptions, beam_search
from model.decoder.conditional_gru import START, DecoderConfig, StoryDecoder
from model.decoder.files import load_decoder, read_decoder_config, save_decoder
from model.skipthought.api import pad_batch

WORDS = ["<eos>", "UNK", *(f"w{i}" for i in range(18))]
TARGETS = [[4, 9, 2, 0], [7, 0], [19, 3, 3, 11, 5, 6, 0]]
SHIPPED = Path(__file__).resolve().parents[3] / "trained" / "decoder-novels"
# (deep_output, ctx_every_step, softmax): the original's two, and the options in each combination.
VARIANTS = [(True, False, "full"), (False, False, "full"), (True, True, "full"), (True, False, "adaptive"),
            (True, True, "adaptive"), (False, True, "adaptive")]


# ctx_in_output (the vector in the deep output layer) with and without ctx_every_step
OUTPUT_VARIANTS = [(True, False, "full", True), (True, True, "adaptive", True), (True, False, "adaptive", True)]


def tiny(deep_output: bool = True, seed: int = 0, ctx_every_step: bool = False, softmax: str = "full",
         ctx_in_output: bool = False) -> StoryDecoder:
    torch.manual_seed(seed)
    return StoryDecoder(DecoderConfig(n_words=len(WORDS), dim_word=16, dim=20, dim_ctx=7, deep_output=deep_output,
                                      ctx_every_step=ctx_every_step, ctx_in_output=ctx_in_output, softmax=softmax,
                                      cutoffs=[6, 12] if softmax == "adaptive" else []))


@pytest.mark.parametrize(("deep_output", "ctx_every_step", "softmax", "ctx_in_output"),
                         [(*variant, False) for variant in VARIANTS] + OUTPUT_VARIANTS)
def test_teacher_forcing_equals_step_by_step(deep_output, ctx_every_step, softmax, ctx_in_output):
    model = tiny(deep_output, ctx_every_step=ctx_every_step, softmax=softmax, ctx_in_output=ctx_in_output)
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


@pytest.mark.parametrize(("deep_output", "ctx_every_step", "softmax"), VARIANTS[:1] + VARIANTS[-2:])
def test_padding_changes_nothing_and_gets_no_gradient(deep_output, ctx_every_step, softmax):
    model = tiny(deep_output, ctx_every_step=ctx_every_step, softmax=softmax)
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


def test_the_vector_rides_in_the_state_through_a_batched_beam_search():
    model = tiny(ctx_every_step=True, softmax="adaptive")
    ctx = torch.randn(3, 7)
    with torch.no_grad():
        state = model.initial_state(ctx)
        assert state.shape == (3, 20 + 7) and torch.equal(state[:, 20:], ctx)
        _, state = model.step(torch.full((3,), START), state)
        assert torch.equal(state[:, 20:], ctx)
        # The vector changes every step's distribution, not only the first state's.
        h = state[:, :20]
        other = torch.cat([h, ctx.flip(0)], dim=1)
        assert not torch.allclose(model.step(torch.tensor([4, 4, 4]), state)[0],
                                  model.step(torch.tensor([4, 4, 4]), other)[0])
    # Beam search reorders and prunes the states; each context must keep its own vector, so three
    # decoded together equal each decoded alone.
    options = SearchOptions(beam_width=3, max_len=8, no_repeat_ngram=0)
    together = beam_search(model.step, model.initial_state(ctx), options)
    alone = [beam_search(model.step, model.initial_state(ctx[i:i + 1]), options)[0] for i in range(3)]
    assert [r.best.tokens for r in together] == [r.best.tokens for r in alone]
    torch.testing.assert_close([r.best.log_prob for r in together], [r.best.log_prob for r in alone])


@pytest.mark.parametrize(("deep_output", "ctx_every_step", "softmax"), [VARIANTS[0], VARIANTS[4]])
def test_saved_decoder_loads_for_decoding(tmp_path, deep_output, ctx_every_step, softmax):
    model = tiny(deep_output, ctx_every_step=ctx_every_step, softmax=softmax)
    model.config.provenance = {"source": "test"}
    save_decoder(tmp_path / "decoder", model, WORDS)
    assert json.loads((tmp_path / "decoder" / "config.json").read_text())["family"] == "decoder"
    assert read_decoder_config(tmp_path / "decoder") == model.config
    loaded = load_decoder(tmp_path / "decoder")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    ctx = torch.randn(2, 7)
    ids, lengths = pad_batch(TARGETS[:2])
    torch.testing.assert_close(loaded(ctx, ids, lengths), model(ctx, ids, lengths).detach())
    prev = torch.tensor([START, START])
    torch.testing.assert_close(loaded.step(prev, loaded.initial_state(ctx)),
                               tuple(t.detach() for t in model.step(prev, model.initial_state(ctx))))
    with pytest.raises(ValueError, match=r"must start with '<eos>' and 'UNK'"):
        save_decoder(tmp_path / "bad", model, ["UNK", "<eos>", *WORDS[2:]])
    (tmp_path / "decoder" / "vocab.txt").write_text("".join(f"{w}\n" for w in WORDS[:-1]))
    with pytest.raises(ValueError, match=r"vocab\.txt has 19 words but the decoder's softmax has n_words = 20"):
        load_decoder(tmp_path / "decoder")
    (tmp_path / "decoder" / "config.json").write_text(json.dumps({"family": "vse", "n_words": 20}))
    with pytest.raises(ValueError, match="not a decoder model directory"):
        load_decoder(tmp_path / "decoder")


def test_defaults_are_the_released_architecture_and_an_old_config_loads(tmp_path):
    """A config.json written before the options existed reads as the released architecture, and its
    weights load strictly, name for name and shape for shape; the shipped decoder loads too."""
    keys = {"embedding.weight", "ff_state.weight", "ff_state.bias", "ff_hid.weight", "ff_hid.bias", "ff_logit.weight",
            "ff_logit.bias", *(f"gru.{p}_{s}_l0" for p in ("weight", "bias") for s in ("ih", "hh"))}
    assert set(tiny().state_dict()) == keys and tiny().gru.input_size == 16
    save_decoder(tmp_path / "old", tiny(), WORDS)
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    for option in ("ctx_every_step", "ctx_in_output", "softmax", "cutoffs"):
        del config[option]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    old = load_decoder(tmp_path / "old")
    assert (old.config.ctx_every_step, old.config.ctx_in_output, old.config.softmax) == (False, False, "full")
    assert old.initial_state(torch.zeros(1, 7)).shape == (1, 20)
    shipped = load_decoder(SHIPPED)
    assert shipped.initial_state(torch.zeros(1, shipped.config.dim_ctx)).shape[0] == 1


def test_bad_cutoffs_name_the_option():
    with pytest.raises(ValueError, match=r"--cutoffs 6,30 must rise and stay below the 20 words"):
        StoryDecoder(DecoderConfig(n_words=20, dim_word=16, dim=20, dim_ctx=7, softmax="adaptive", cutoffs=[6, 30]))
    with pytest.raises(ValueError, match=r"--cutoffs 4,8,12 leave the last of 3 tail clusters a 0-d projection"):
        StoryDecoder(DecoderConfig(n_words=20, dim_word=16, dim=20, dim_ctx=7, softmax="adaptive", cutoffs=[4, 8, 12]))
