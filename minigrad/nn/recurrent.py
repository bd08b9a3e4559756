"""Recurrent layers with PyTorch's names, arguments, weight layouts and init: RNNCell, LSTMCell,
GRUCell for one step, and RNN, LSTM, GRU over whole sequences (stacked, bidirectional, dropout
between layers, variable lengths). Read functional/recurrent.py first; padding.py next.

Weights stack the gate blocks in PyTorch's order (LSTM i, f, g, o; GRU r, z, n), so a PyTorch
state dict loads as it is: weight_ih_l{k}[_reverse] (G*H, in), weight_hh_l{k} (G*H, H),
bias_ih_l{k}, bias_hh_l{k} (G*H,), all drawn from U(-1/sqrt(H), 1/sqrt(H)).
"""

import math
import operator
import warnings

from minigrad import backend, creation, ops
from minigrad import functional as F  # noqa: N812
from minigrad.fast.recurrent import recurrence_fast
from minigrad.functional.recurrent import GATES, cell, recurrence_reference
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- helpers


def _check_size(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


def _weight(shape, device, dtype):
    """A zero Parameter; reset_parameters() draws its values."""
    return Parameter(creation.zeros(shape, dtype=dtype, device=device or "cpu"))


def _reset_uniform(module):
    """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
    bound = 1 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _nonlinearity_mode(owner, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


def _check_tensor(owner, name, value):
    if not isinstance(value, Tensor):
        raise TypeError(f"{owner}: {name} must be a Tensor, got {type(value).__name__}")


def _state_parts(owner, mode, hx):
    """hx as a tuple of Tensors: (h,) or, for an LSTM, the pair (h, c)."""
    if mode != "LSTM":
        _check_tensor(owner, "hx", hx)
        return (hx,)
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{owner}: hx must be a pair (h, c) of Tensors, got {type(hx).__name__}")
    for name, part in zip(("h", "c"), hx):
        _check_tensor(owner, f"hx's {name}", part)
    return tuple(hx)


def _check_state_shape(owner, name, part, expected):
    if part.shape != expected:
        raise ValueError(f"{owner}: {name} has shape {part.shape}, expected {expected}")


# --------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """What the cells share: weight_ih (G*H, in), weight_hh (G*H, H), biases (G*H,)."""

    mode = None

    def __init__(self, input_size, hidden_size, bias, device=None, dtype=None):
        super().__init__()
        owner = type(self).__name__
        self.input_size = _check_size(owner, "input_size", input_size)
        self.hidden_size = _check_size(owner, "hidden_size", hidden_size)
        self.bias = bool(bias)
        rows = GATES[self.mode] * hidden_size
        self.weight_ih = _weight((rows, input_size), device, dtype)
        self.weight_hh = _weight((rows, hidden_size), device, dtype)
        if bias:
            self.bias_ih = _weight((rows,), device, dtype)
            self.bias_hh = _weight((rows,), device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_uniform(self)

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if self.mode == "RNN_RELU":
            text += ", nonlinearity=relu"
        return text

    def _step(self, input, hx):
        """The new state as a tuple, for a (B, in) or unbatched (in,) input."""
        owner = type(self).__name__
        _check_tensor(owner, "input", input)
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input has shape {input.shape}, expected (batch, {self.input_size}) "
                f"or ({self.input_size},)"
            )
        x = input.unsqueeze(0) if input.ndim == 1 else input
        expected = (x.shape[0], self.hidden_size)
        if hx is None:
            zeros = creation.zeros(expected, dtype=input.dtype, device=input.device)
            state = (zeros,) * (2 if self.mode == "LSTM" else 1)
        else:
            state = _state_parts(owner, self.mode, hx)
            state = tuple(s.unsqueeze(0) if input.ndim == 1 else s for s in state)
            for name, part in zip(("h", "c"), state):
                _check_state_shape(owner, name, part, expected)
        weights = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        new = cell(self.mode, x, state, *weights)
        return tuple(s.squeeze(0) for s in new) if input.ndim == 1 else new


class RNNCell(RNNCellBase):
    """h' = tanh(x @ W_ih^T + b_ih + h @ W_hh^T + b_hh) (or relu); returns h'."""

    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None
    ):
        self.mode = _nonlinearity_mode("RNNCell", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: hx = (h, c), zeros when None; returns (h', c')."""

    mode = "LSTM"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n as in PyTorch); returns h'."""

    mode = "GRU"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]


# --------------------------------------------------------------------------- sequences


class RNNBase(Module):
    """A stack of num_layers recurrent layers over (T, B, in) input ((B, T, in) when batch_first,
    (T, in) unbatched); each layer feeds its outputs, both directions concatenated when
    bidirectional, to the next, with dropout in between in training mode (not after the last).

    forward(input, hx=None, lengths=None) returns (output, h_n) ((output, (h_n, c_n)) for LSTM):
    output (T, B, D*H), h_n and c_n (num_layers*D, B, H), D = 2 if bidirectional else 1; row
    layer*D + d of h_n is layer `layer`'s final state in direction d (1 = reverse).

    lengths (B ints in [1, T]): sequence b fills only steps 0..lengths[b]-1 of the padded input.
    Its outputs past that are zero and its h_n (and c_n) are those at its last valid step; the
    reverse direction starts at that step. This is what PyTorch gives for a batch run through
    pack_padded_sequence(input, lengths, enforce_sorted=False) and unpacked with
    pad_packed_sequence(..., total_length=T).

    fused = True runs each layer and direction as one Function with a hand-written backward
    (fast/recurrent.py); set it to False on an instance (or the class) for the
    reference loop of functional/recurrent.py, built from primitives."""

    mode = None
    fused = True

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        owner = type(self).__name__
        self.input_size = _check_size(owner, "input_size", input_size)
        self.hidden_size = _check_size(owner, "hidden_size", hidden_size)
        self.num_layers = _check_size(owner, "num_layers", num_layers)
        number = isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
        if not number or not 0 <= dropout <= 1:
            raise ValueError(f"{owner}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{owner}: dropout={dropout} acts between layers only, and num_layers=1",
                stacklevel=2,
            )
        if proj_size != 0:
            raise ValueError(f"{owner}: proj_size={proj_size!r} is not supported (only 0)")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        self._register_weights(device, dtype)
        self.reset_parameters()

    def _register_weights(self, device, dtype):
        """Parameters in PyTorch's order: per layer, per direction, w_ih, w_hh, b_ih, b_hh."""
        rows = GATES[self.mode] * self.hidden_size
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            features = self.input_size if layer == 0 else self.hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", _weight((rows, features), device, dtype))
                setattr(self, f"weight_hh_{name}", _weight((rows, self.hidden_size), device, dtype))
                if self.bias:
                    setattr(self, f"bias_ih_{name}", _weight((rows,), device, dtype))
                    setattr(self, f"bias_hh_{name}", _weight((rows,), device, dtype))

    def reset_parameters(self):
        _reset_uniform(self)

    def flatten_parameters(self):
        """A no-op, kept so that ported code runs (PyTorch packs cuDNN weights here)."""

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text

    # ----- input checks
    def _time_major(self, input):
        """input as (T, B, in), and whether it came unbatched."""
        owner = type(self).__name__
        _check_tensor(owner, "input", input)
        layout = "(batch, seq, feature)" if self.batch_first else "(seq, batch, feature)"
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{owner}: expected a 3-D input {layout} or a 2-D unbatched (seq, feature), "
                f"got shape {input.shape}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input has {input.shape[-1]} features (its last dim, shape "
                f"{input.shape}), expected input_size={self.input_size}"
            )
        if input.ndim == 2:
            return input.unsqueeze(1), True
        return (input.transpose(0, 1) if self.batch_first else input), False

    def _initial_state(self, hx, x, unbatched):
        """hx as a tuple of (num_layers*D, B, H) Tensors: zeros when None."""
        owner = type(self).__name__
        directions = 2 if self.bidirectional else 1
        expected = (self.num_layers * directions, x.shape[1], self.hidden_size)
        if hx is None:
            zeros = creation.zeros(expected, dtype=x.dtype, device=x.device)
            return (zeros,) * (2 if self.mode == "LSTM" else 1)
        state = _state_parts(owner, self.mode, hx)
        names = ("h0", "c0") if self.mode == "LSTM" else ("hx",)
        for name, part in zip(names, state):
            if unbatched and part.ndim != 2:
                raise ValueError(
                    f"{owner}: for a 2-D unbatched input, {name} must be 2-D "
                    f"(num_layers*num_directions, hidden_size), got shape {part.shape}"
                )
        state = tuple(s.unsqueeze(1) for s in state) if unbatched else state
        for name, part in zip(names, state):
            _check_state_shape(owner, name, part, expected)
        return state

    def _keep_mask(self, lengths, x, unbatched):
        """(T, B, 1) booleans on x's device, True where step t < lengths[b]; None without."""
        if lengths is None:
            return None
        owner = type(self).__name__
        if unbatched:
            raise ValueError(f"{owner}: lengths= needs a batched 3-D input")
        steps, batch = x.shape[0], x.shape[1]
        host = lengths.numpy() if isinstance(lengths, Tensor) else lengths
        host = backend.to_host(host) if backend.is_array(host) else host
        values = list(host.tolist() if hasattr(host, "tolist") else host)
        try:
            values = [operator.index(v) for v in values]
        except TypeError:
            values = None
        if values is None or len(values) != batch:
            raise ValueError(
                f"{owner}: lengths must be {batch} ints (one per sequence), got {lengths!r}"
            )
        if not all(1 <= v <= steps for v in values):
            raise ValueError(
                f"{owner}: lengths must lie in [1, {steps}] (the padded length), got {values}"
            )
        xp = backend.xp_of(x.data)
        t = xp.reshape(creation.arange(steps, device=x.device).data, (steps, 1, 1))
        n = xp.reshape(backend.to_device(values, x.device, dtype="int64"), (1, batch, 1))
        return t < n

    # ----- the stack
    def _layer_weights(self, layer, direction):
        name = f"l{layer}{'_reverse' if direction else ''}"
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return [getattr(self, f"{w}_{name}") if self.bias or w[0] == "w" else None for w in names]

    def _run(self, x, state, keep):
        """x (T, B, in) through every layer; returns (output (T, B, D*H), final state)."""
        recurrence = recurrence_fast if self.fused else recurrence_reference
        directions = 2 if self.bidirectional else 1
        finals = [[] for _ in state]
        for layer in range(self.num_layers):
            outputs = []
            for d in range(directions):
                w_ih, w_hh, b_ih, b_hh = self._layer_weights(layer, d)
                gi = F.linear(x, w_ih, b_ih)  # (T, B, G*H): every step's input part, one GEMM
                start = tuple(s[layer * directions + d] for s in state)
                y, final = recurrence(self.mode, gi, start, w_hh, b_hh, keep, reverse=d == 1)
                outputs.append(y)
                for parts, part in zip(finals, final):
                    parts.append(part)
            x = ops.cat(outputs, dim=-1) if directions == 2 else outputs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)
        return x, tuple(ops.stack(parts) for parts in finals)

    def forward(self, input, hx=None, lengths=None):
        x, unbatched = self._time_major(input)
        if x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: input has no time steps: {input.shape}")
        keep = self._keep_mask(lengths, x, unbatched)
        state = self._initial_state(hx, x, unbatched)
        output, final = self._run(x, state, keep)
        if unbatched:
            output = output.squeeze(1)
            final = tuple(s.squeeze(1) for s in final)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (final if self.mode == "LSTM" else final[0])


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t @ W_ih^T + b_ih + h_{t-1} @ W_hh^T + b_hh) (or relu)."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        device=None,
        dtype=None,
    ):
        self.mode = _nonlinearity_mode("RNN", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )


class LSTM(RNNBase):
    """Long short-term memory: forward(input, (h0, c0)=None) -> output, (h_n, c_n)."""

    mode = "LSTM"


class GRU(RNNBase):
    """Gated recurrent unit: forward(input, h0=None) -> output, h_n."""

    mode = "GRU"
