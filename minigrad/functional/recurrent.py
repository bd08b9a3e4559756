"""Recurrent cells as textbook math on minigrad's primitives: the RNN (tanh/relu), LSTM and GRU
updates, the cells behind nn.RNNCell/LSTMCell/GRUCell, and one layer's loop over time.
Read distillation.py next; nn/recurrent.py holds the layers (fast/recurrent.py, read last,
fuses the same loop with backprop through time by hand).

Every cell splits its work as PyTorch does: gi = x @ w_ih^T + b_ih and gh = h @ w_hh^T + b_hh,
then gate math on (gi, gh). A layer computes gi for ALL its time steps with one GEMM before
the loop, so only the h @ w_hh^T product has to wait for the previous step.
"""

from minigrad import ops
from minigrad.functional.linear import linear

# --------------------------------------------------------------------------- helpers


def chunks(gates, n):
    """(B, n*H) -> n tensors (B, H): the pre-activations of each gate, in PyTorch's order."""
    size = gates.shape[-1] // n
    return [gates[..., k * size : (k + 1) * size] for k in range(n)]


# --------------------------------------------------------------------------- one step


def rnn_tanh_update(gi, gh, state):
    """h' = tanh(gi + gh)  (Elman's RNN)"""
    return (ops.tanh(gi + gh),)


def rnn_relu_update(gi, gh, state):
    """h' = relu(gi + gh)"""
    return (ops.relu(gi + gh),)


def lstm_update(gi, gh, state):
    """i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the four chunks of gi + gh;
    c' = f * c + i * g;  h' = o * tanh(c')  (Hochreiter & Schmidhuber 1997, with a forget gate)"""
    _, c = state
    i, f, g, o = chunks(gi + gh, 4)
    i, f, g, o = ops.sigmoid(i), ops.sigmoid(f), ops.tanh(g), ops.sigmoid(o)
    c_new = f * c + i * g
    return o * ops.tanh(c_new), c_new


def gru_update(gi, gh, state):
    """r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n);
    h' = (1 - z) * n + z * h  (Cho et al. 2014; the reset gate scales gh_n, bias included,
    as in PyTorch and cuDNN)"""
    (h,) = state
    gi_r, gi_z, gi_n = chunks(gi, 3)
    gh_r, gh_z, gh_n = chunks(gh, 3)
    r = ops.sigmoid(gi_r + gh_r)
    z = ops.sigmoid(gi_z + gh_z)
    n = ops.tanh(gi_n + r * gh_n)
    return (n + z * (h - n),)


UPDATES = {
    "RNN_TANH": rnn_tanh_update,
    "RNN_RELU": rnn_relu_update,
    "LSTM": lstm_update,
    "GRU": gru_update,
}
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def cell(mode, input, state, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of a cell: input (B, in), state (h,) or (h, c) of (B, H) -> the new state.

    w_ih (G*H, in), w_hh (G*H, H) with G = GATES[mode] stacked gate blocks."""
    return UPDATES[mode](linear(input, w_ih, b_ih), linear(state[0], w_hh, b_hh), state)


# --------------------------------------------------------------------------- over time


def recurrence_reference(mode, gi, state, w_hh, b_hh=None, keep=None, reverse=False):
    """One layer, one direction over T steps. gi (T, B, G*H) holds every step's input
    projection; state is (h0,) or (h0, c0), each (B, H). Returns (outputs (T, B, H), state).

    keep: None, or a boolean array (T, B, 1), True where step t lies inside sequence b. Past a
    sequence's end its state is carried unchanged (so the final state is the one at its last
    valid step) and its output is zero. reverse=True runs from step T-1 down to step 0."""
    update = UPDATES[mode]
    steps = range(gi.shape[0])
    outputs = [None] * len(steps)
    for t in reversed(steps) if reverse else steps:
        new = update(gi[t], linear(state[0], w_hh, b_hh), state)
        if keep is not None:
            inside = keep[t, ...]
            outputs[t] = ops.where(inside, new[0], 0.0)
            new = tuple(ops.where(inside, n, s) for n, s in zip(new, state))
        else:
            outputs[t] = new[0]
        state = new
    return ops.stack(outputs), state
