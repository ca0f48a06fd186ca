"""The output layer over a vocabulary, shared by the skip-thought objective and the story decoder.

* ``full``: one linear layer and a softmax over every word, as the original: p = softmax(x · W + b).
* ``adaptive``: torch's `nn.AdaptiveLogSoftmaxWithLoss` (Grave et al. 2017, "Efficient softmax
  approximation for GPUs"). The vocabulary, whose ids run by descending frequency (reference a.2:
  0 `<eos>`, 1 `UNK`, then the words by count), is cut at `cutoffs` into a head and tail clusters:
  the head scores its words and one entry per cluster, p(w) = p_head(w) in the head, and
  p(w) = p_head(cluster) · p_cluster(w) in a tail cluster, each cluster scoring from a smaller
  projection of x (divided by 4 per cluster). Training a target needs the head and its own
  cluster only, which is where the speed comes from; `log_prob` still gives the full distribution
  for decoding.

In a recipe the cutoffs are one string of word ranks, "2000,6000": head = ids 0..1999, then two
clusters, 2000..5999 and 6000..n_words-1.
"""

from torch import nn

SOFTMAXES = ("full", "adaptive")
DIV_VALUE = 4.0  # torch's and the paper's default: each tail cluster's projection is 4x smaller


def parse_cutoffs(text: str, softmax: str, vocab_size: int) -> list[int]:
    """The `--cutoffs` string as word ranks, checked against `--softmax` and `--vocab-size`."""
    try:
        cutoffs = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--cutoffs {text!r} must be comma-separated word ranks, e.g. 2000,6000") from None
    if softmax != "adaptive":
        if cutoffs:
            raise ValueError(f"--cutoffs {text!r} belong to --softmax adaptive, not --softmax {softmax}")
        return cutoffs
    if not cutoffs:
        raise ValueError("--softmax adaptive needs --cutoffs, the word ranks where the head and each tail cluster "
                         "end, e.g. 2000,6000")
    check_cutoffs(cutoffs, vocab_size, "--vocab-size")
    return cutoffs


def check_cutoffs(cutoffs: list[int], n_words: int, what: str = "the vocabulary") -> None:
    if not cutoffs or any(b <= a for a, b in zip([0, *cutoffs], cutoffs, strict=False)) or cutoffs[-1] >= n_words:
        raise ValueError(f"--cutoffs {','.join(map(str, cutoffs))} must rise and stay below the {n_words} words of "
                         f"{what}: lower them or keep more words")


def output_layer(dim_in: int, n_words: int, softmax: str, cutoffs: list[int]) -> nn.Module:
    """nn.Linear(dim_in, n_words) for the full softmax, else the adaptive softmax over the same words."""
    if softmax == "full":
        return nn.Linear(dim_in, n_words)
    if softmax != "adaptive":
        raise ValueError(f"softmax {softmax!r} is not one of {SOFTMAXES}")
    check_cutoffs(cutoffs, n_words)
    if dim_in // DIV_VALUE ** len(cutoffs) < 1:
        raise ValueError(f"--cutoffs {','.join(map(str, cutoffs))} leave the last of {len(cutoffs)} tail clusters a "
                         f"0-d projection of the {dim_in}-d input (each is {DIV_VALUE:g}x smaller): use fewer clusters")
    # A head bias, as the full softmax's b: the head then carries the words' prior frequencies.
    return nn.AdaptiveLogSoftmaxWithLoss(dim_in, n_words, cutoffs, div_value=DIV_VALUE, head_bias=True)
