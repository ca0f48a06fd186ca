"""ctx_in_output: the vector reaches the deep output layer. The state carries the vector, the vector moves
every step's scores through the output layer alone, and the option needs the deep output it adds to
(teacher forcing against step-by-step decoding: test_decoder_model.py's OUTPUT_VARIANTS)."""

import pytest
import torch

from model.decoder.conditional_gru import START, DecoderConfig, StoryDecoder
from model.decoder.files import load_decoder, save_decoder

WORDS = ["<eos>", "UNK", *(f"w{i}" for i in range(18))]


def tiny(ctx_every_step: bool, softmax: str = "adaptive") -> StoryDecoder:
    torch.manual_seed(3)
    return StoryDecoder(DecoderConfig(n_words=len(WORDS), dim_word=16, dim=20, dim_ctx=7, ctx_every_step=ctx_every_step,
                                      ctx_in_output=True, softmax=softmax,
                                      cutoffs=[6, 12] if softmax == "adaptive" else []))


def test_the_vector_moves_the_scores_through_the_output_layer(tmp_path):
    model = tiny(ctx_every_step=False)
    ctx = torch.randn(2, 7)
    with torch.no_grad():
        assert torch.equal(model.initial_state(ctx)[:, 20:], ctx)
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
