"""ctx_in_output: the vector reaches the deep output layer. Teacher forcing equals step-by-step decoding, the
state carries the vector (with or without ctx_every_step), the vector moves every step's scores through
the output layer alone, and the option needs the deep output it adds to."""

import pytest
import torch

from model.decoder.conditional_gru import START, DecoderConfig, StoryDecoder
from model.decoder.files import load_decoder, save_decoder
from model.skipthought.api import pad_batch

WORDS = ["<eos>", "UNK", *(f"w{i}" for i in range(18))]
TARGETS = [[4, 9, 2, 0], [7, 0], [19, 3, 3, 11, 5, 6, 0]]


def tiny(ctx_every_step: bool, softmax: str = "adaptive") -> StoryDecoder:
    torch.manual_seed(3)
    return StoryDecoder(DecoderConfig(n_words=len(WORDS), dim_word=16, dim=20, dim_ctx=7, ctx_every_step=ctx_every_step,
                                      ctx_in_output=True, softmax=softmax,
                                      cutoffs=[6, 12] if softmax == "adaptive" else []))


@pytest.mark.parametrize(("ctx_every_step", "softmax"), [(False, "full"), (True, "adaptive"), (False, "adaptive")])
def test_teacher_forcing_equals_step_by_step(ctx_every_step, softmax):
    model = tiny(ctx_every_step, softmax)
    ctx = torch.randn(len(TARGETS), 7)
    ids, lengths = pad_batch(TARGETS)
    with torch.no_grad():
        scores = model(ctx, ids, lengths)
        state, prev = model.initial_state(ctx), torch.full((len(TARGETS),), START)
        assert state.shape == (3, 27) and torch.equal(state[:, 20:], ctx)
        for t in range(ids.shape[1]):
            log_probs, state = model.step(prev, state)
            torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(len(TARGETS)))
            real = t < lengths
            torch.testing.assert_close(scores[real, t], log_probs[real].gather(1, ids[real, t, None])[:, 0])
            prev = ids[:, t]


def test_the_vector_moves_the_scores_through_the_output_layer(tmp_path):
    model = tiny(ctx_every_step=False)
    ctx = torch.randn(2, 7)
    with torch.no_grad():
        _, state = model.step(torch.full((2,), START), model.initial_state(ctx))
        swapped = torch.cat([state[:, :20], ctx.flip(0)], dim=1)  # same GRU states, other vectors
        assert not torch.allclose(model.step(torch.tensor([4, 4]), state)[0],
                                  model.step(torch.tensor([4, 4]), swapped)[0])
        model.ff_ctx_hid.weight.zero_()  # without the output path the swap changes nothing
        torch.testing.assert_close(model.step(torch.tensor([4, 4]), state)[0],
                                   model.step(torch.tensor([4, 4]), swapped)[0])
    save_decoder(tmp_path / "decoder", tiny(ctx_every_step=True), WORDS)
    loaded = load_decoder(tmp_path / "decoder")
    assert loaded.config.ctx_in_output and loaded.ff_ctx_hid is not None


def test_the_option_needs_the_deep_output():
    with pytest.raises(ValueError, match="adds the vector to the deep output layer: it needs deep_output"):
        DecoderConfig(n_words=20, deep_output=False, ctx_in_output=True)
