"""`final_states` reads a forward GRU's state at each row's last real token from a dense pass; it must equal
the packed pass's final state whatever the padding, and a bidirectional GRU keeps the packed pass."""

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from model.skipthought.encoder import final_states


def packed_states(gru: torch.nn.GRU, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    _, hidden = gru(pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False))
    return torch.cat(list(hidden), dim=1)


def test_dense_forward_states_equal_the_packed_ones():
    torch.manual_seed(0)
    gru = torch.nn.GRU(6, 5, batch_first=True)
    lengths = torch.tensor([7, 1, 4, 7, 2])
    embedded = torch.randn(len(lengths), 7, 6)
    noisy = embedded.clone()
    for row, length in enumerate(lengths):
        noisy[row, length:] = 100.0  # padding must not reach the state read
    with torch.no_grad():
        expected = packed_states(gru, embedded, lengths)
        torch.testing.assert_close(final_states(gru, embedded, lengths), expected)
        torch.testing.assert_close(final_states(gru, noisy, lengths), expected)


def test_bidirectional_states_start_the_backward_pass_at_each_end():
    torch.manual_seed(1)
    gru = torch.nn.GRU(6, 5, batch_first=True, bidirectional=True)
    lengths = torch.tensor([3, 6, 1])
    embedded = torch.randn(3, 6, 6)
    with torch.no_grad():
        states = final_states(gru, embedded, lengths)
        alone = torch.cat([packed_states(gru, embedded[r : r + 1, :n], lengths[r : r + 1])
                           for r, n in enumerate(lengths)])
    assert states.shape == (3, 10)
    torch.testing.assert_close(states, alone)
