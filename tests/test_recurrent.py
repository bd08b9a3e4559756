"""Tests for nn/recurrent.py and functional/recurrent*.py: cells against NumPy, gradcheck of
cells and of stacked/bidirectional layers, the fused loop equal to the reference, lengths=
against running each sequence alone, dropout between layers, init, and error messages."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
import minigrad.testing as mt
from minigrad import backend, nn
from minigrad.gradcheck import gradcheck

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def numpy_cell(mode, x, state, w_ih, w_hh, b_ih, b_hh):
    """The textbook equations, written independently of minigrad, on NumPy arrays."""
    h = state[0]
    gi = x @ w_ih.T + b_ih
    gh = h @ w_hh.T + b_hh
    if mode == "RNN_TANH":
        return (np.tanh(gi + gh),)
    if mode == "RNN_RELU":
        return (np.maximum(gi + gh, 0),)
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sigmoid(f) * state[1] + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    r_i, z_i, n_i = np.split(gi, 3, axis=-1)
    r_h, z_h, n_h = np.split(gh, 3, axis=-1)
    r, z = sigmoid(r_i + r_h), sigmoid(z_i + z_h)
    n = np.tanh(n_i + r * n_h)
    return ((1 - z) * n + z * h,)


def make_cell(mode, input_size, hidden_size, device):
    if mode == "LSTM":
        layer = nn.LSTMCell(input_size, hidden_size, dtype="float64")
    elif mode == "GRU":
        layer = nn.GRUCell(input_size, hidden_size, dtype="float64")
    else:
        relu = mode == "RNN_RELU"
        layer = nn.RNNCell(input_size, hidden_size, nonlinearity="relu" if relu else "tanh")
    return layer.to(device, dtype="float64")


def call_cell(layer, x, *state):
    """The cell's new state as a tuple, whatever its hx convention."""
    out = layer(x, tuple(state) if len(state) == 2 else state[0])
    return out if isinstance(out, tuple) else (out,)


def host(t):
    return backend.to_host(t.data if hasattr(t, "data") else t)


def _kink_free_bias(layer, x, state, targets):
    """Set bias_ih so that the pre-activation of a batch-1 step equals `targets` exactly (a
    relu cell then sits off its kink by construction)."""
    w_ih, w_hh, b_hh = (host(p) for p in (layer.weight_ih, layer.weight_hh, layer.bias_hh))
    rest = x @ w_ih.T + state[0] @ w_hh.T + b_hh
    layer.bias_ih.data = backend.to_device(targets - rest[0], layer.bias_ih.device)


# --------------------------------------------------------------------------- cells


@given(
    mode=st.sampled_from(MODES),
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    data=st.data(),
)
def test_cell_forward_and_gradcheck(mode, sizes, data, device):
    batch, features, hidden = sizes
    if mode == "RNN_RELU":
        batch = 1  # the bias below sets the one row's pre-activations off the kink
    layer = make_cell(mode, features, hidden, device)
    x = data.draw(mt.arrays((batch, features)))
    parts = 2 if mode == "LSTM" else 1
    state = [data.draw(mt.arrays((batch, hidden))) for _ in range(parts)]
    if mode == "RNN_RELU":
        targets = data.draw(mt.arrays((hidden,), kinks=(0.0,), margin=0.1))
        _kink_free_bias(layer, x, state, targets)
    weights = [host(p) for p in layer.parameters()]
    expected = numpy_cell(mode, x, state, *weights)
    tensors = [minigrad.tensor(a, device=device, dtype="float64") for a in [x, *state]]
    for got, want in zip(call_cell(layer, *tensors), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    params = list(layer.parameters())
    gradcheck(lambda *t: call_cell(layer, *t), [x, *state], params=params, device=device)


def test_cells_take_unbatched_input_and_default_state(device):
    layer = make_cell("LSTM", 3, 2, device)
    h, c = layer(minigrad.randn(3, device=device, dtype="float64"))
    assert h.shape == (2,) and c.shape == (2,)
    h = make_cell("GRU", 3, 2, device)(minigrad.randn(4, 3, device=device, dtype="float64"))
    assert h.shape == (4, 2) and h.device == device


# --------------------------------------------------------------------------- stacks


def make_layer(mode, device, **kwargs):
    if mode.startswith("RNN"):
        kwargs["nonlinearity"] = "relu" if mode == "RNN_RELU" else "tanh"
        return nn.RNN(dtype="float64", **kwargs).to(device)
    return getattr(nn, mode)(dtype="float64", **kwargs).to(device)


def flat(result):
    output, final = result
    return (output, *final) if isinstance(final, tuple) else (output, final)


@st.composite
def stack_configs(draw, modes=("RNN_TANH", "LSTM", "GRU")):
    """A small recurrent stack and inputs: mode, layer kwargs, x, initial states, lengths."""
    mode = draw(st.sampled_from(modes))
    steps, batch = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    kwargs = dict(
        input_size=draw(st.integers(1, 3)),
        hidden_size=draw(st.integers(1, 3)),
        num_layers=draw(st.integers(1, 2)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
    )
    shape = (batch, steps) if kwargs["batch_first"] else (steps, batch)
    x = draw(mt.arrays(shape + (kwargs["input_size"],), -2.0, 2.0))
    rows = kwargs["num_layers"] * (2 if kwargs["bidirectional"] else 1)
    state = []
    if draw(st.booleans()):
        parts = 2 if mode == "LSTM" else 1
        state = [draw(mt.arrays((rows, batch, kwargs["hidden_size"]))) for _ in range(parts)]
    lengths = None
    if draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return mode, kwargs, x, state, lengths


def stack_fn(layer, mode, lengths):
    def fn(x, *state):
        hx = None if not state else (tuple(state) if mode == "LSTM" else state[0])
        return flat(layer(x, hx, lengths=lengths))

    return fn


@settings(max_examples=10)
@given(config=stack_configs(), fused=st.booleans())
def test_stack_gradcheck(config, fused, device):
    mode, kwargs, x, state, lengths = config
    layer = make_layer(mode, device, **kwargs)
    layer.fused = fused
    params = list(layer.parameters())
    fn = stack_fn(layer, mode, lengths)
    gradcheck(fn, [x, *state], params=params, device=device, mode="fast", directions=6)


@pytest.mark.parametrize("mode, check", [("RNN_RELU", "full"), ("LSTM", "fast"), ("GRU", "fast")])
def test_two_layer_bidirectional_gradcheck(mode, check, device):
    # a fixed draw; gradcheck raises NonDifferentiableError should one sit on relu's kink
    rng = np.random.default_rng(7)
    kwargs = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    layer = make_layer(mode, device, **kwargs)
    x = rng.standard_normal((4, 2, 2))
    state = [rng.standard_normal((4, 2, 3)) for _ in range(2 if mode == "LSTM" else 1)]
    for fused in (True, False):
        layer.fused = fused
        fn = stack_fn(layer, mode, [4, 3])
        params = list(layer.parameters())
        gradcheck(fn, [x, *state], params=params, device=device, mode=check, directions=8)


@given(config=stack_configs(modes=MODES), data=st.data())
def test_fused_equals_reference(config, data, device):
    mode, kwargs, x, state, lengths = config
    layer = make_layer(mode, device, **kwargs)
    results = []
    for fused in (True, False):
        layer.fused = fused
        layer.zero_grad()
        ins = [minigrad.tensor(a, device=device, requires_grad=True) for a in [x, *state]]
        outs = stack_fn(layer, mode, lengths)(*ins)
        seed = np.random.default_rng(0)
        total = sum(
            (o * minigrad.tensor(seed.standard_normal(o.shape), device=device)).sum() for o in outs
        )
        total.backward()
        grads = [host(t.grad) for t in ins] + [host(p.grad) for p in layer.parameters()]
        results.append(([o.numpy() for o in outs], grads))
    (outs_a, grads_a), (outs_b, grads_b) = results
    for a, b in zip(outs_a + grads_a, outs_b + grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fused", [True, False])
def test_lengths_equal_running_each_sequence_alone(mode, fused, device):
    rng = np.random.default_rng(3)
    kwargs = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True, batch_first=True)
    layer = make_layer(mode, device, **kwargs)
    layer.fused = fused
    lengths = [2, 5, 1]
    x = rng.standard_normal((3, 5, 2))
    outs = flat(layer(minigrad.tensor(x, device=device), lengths=lengths))
    for b, n in enumerate(lengths):
        alone = flat(layer(minigrad.tensor(x[b : b + 1, :n], device=device)))
        np.testing.assert_allclose(outs[0].numpy()[b, :n], alone[0].numpy()[0], atol=1e-12)
        assert np.all(outs[0].numpy()[b, n:] == 0)
        for final, single in zip(outs[1:], alone[1:]):
            np.testing.assert_allclose(final.numpy()[:, b], single.numpy()[:, 0], atol=1e-12)


# --------------------------------------------------------------------------- dropout, init


def test_dropout_acts_between_layers_only():
    minigrad.seed(0)
    layer = nn.LSTM(4, 8, num_layers=2, dropout=0.5, dtype="float64")
    x = minigrad.randn(6, 3, 4, dtype="float64")
    train_out, (train_h, _) = layer(x)
    layer.eval()
    eval_out, (eval_h, _) = layer(x)
    # the first layer never sees dropout; the second sees a dropped copy of its input
    np.testing.assert_allclose(train_h.numpy()[0], eval_h.numpy()[0], atol=1e-15)
    assert not np.allclose(train_out.numpy(), eval_out.numpy())
    # nothing is dropped after the last layer: its outputs are never exactly zero
    assert np.all(train_out.numpy() != 0)


def test_dropout_argument_checks():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.GRU(2, 3, dropout=0.2)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\], got 1.5"):
        nn.LSTM(2, 3, num_layers=2, dropout=1.5)


def test_layout_and_uniform_init():
    minigrad.seed(0)
    layer = nn.LSTM(10, 200, num_layers=2, bidirectional=True)
    names = [n for n, _ in layer.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert names[4] == "weight_ih_l0_reverse" and len(names) == 16
    assert layer.weight_ih_l1.shape == (800, 400) and layer.weight_hh_l1_reverse.shape == (800, 200)
    bound = 1 / math.sqrt(200)
    for p in layer.parameters():
        values = host(p)
        assert np.abs(values).max() <= bound
    w = host(layer.weight_hh_l0)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert [n for n, _ in nn.GRU(2, 3, bias=False).named_parameters()] == [
        "weight_ih_l0",
        "weight_hh_l0",
    ]
    assert nn.GRUCell(2, 3).weight_ih.shape == (9, 2)
    assert nn.RNNCell(2, 3, bias=False).bias_hh is None


def test_output_shapes(device):
    layer = make_layer("GRU", device, input_size=3, hidden_size=4, num_layers=3, bidirectional=True)
    out, h = layer(minigrad.randn(7, 2, 3, device=device, dtype="float64"))
    assert out.shape == (7, 2, 8) and h.shape == (6, 2, 4)
    layer = make_layer("LSTM", device, input_size=3, hidden_size=4, batch_first=True)
    out, (h, c) = layer(minigrad.randn(2, 7, 3, device=device, dtype="float64"))
    assert out.shape == (2, 7, 4) and h.shape == c.shape == (1, 2, 4)
    out, (h, c) = layer(minigrad.randn(7, 3, device=device, dtype="float64"))
    assert out.shape == (7, 4) and h.shape == (1, 4)


# --------------------------------------------------------------------------- errors


def test_input_errors():
    layer = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"expected a 3-D input \(seq, batch, feature\).*\(2,\)"):
        layer(minigrad.randn(2))
    with pytest.raises(ValueError, match="input has 5 features .* expected input_size=3"):
        layer(minigrad.randn(6, 2, 5))
    with pytest.raises(TypeError, match="input must be a Tensor"):
        layer(np.zeros((6, 2, 3)))
    with pytest.raises(ValueError, match=r"RNNCell: input has shape \(2, 5\), expected"):
        nn.RNNCell(3, 4)(minigrad.randn(2, 5))


def test_initial_state_errors():
    x = minigrad.randn(6, 2, 3)
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 2, 4\), expected \(4, 2, 4\)"):
        nn.LSTM(3, 4, num_layers=2, bidirectional=True)(
            x, (minigrad.zeros(2, 2, 4), minigrad.zeros(4, 2, 4))
        )
    with pytest.raises(ValueError, match=r"c0 has shape \(1, 3, 4\), expected \(1, 2, 4\)"):
        nn.LSTM(3, 4)(x, (minigrad.zeros(1, 2, 4), minigrad.zeros(1, 3, 4)))
    with pytest.raises(TypeError, match=r"hx must be a pair \(h, c\)"):
        nn.LSTM(3, 4)(x, minigrad.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="unbatched input, hx must be 2-D"):
        nn.GRU(3, 4)(minigrad.randn(6, 3), minigrad.zeros(1, 1, 4))
    with pytest.raises(ValueError, match=r"GRUCell: h has shape \(3, 4\), expected \(2, 4\)"):
        nn.GRUCell(3, 4)(minigrad.randn(2, 3), minigrad.zeros(3, 4))


def test_lengths_and_argument_errors():
    layer = nn.GRU(3, 4)
    x = minigrad.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\].*\[6, 2\]"):
        layer(x, lengths=[6, 2])
    with pytest.raises(ValueError, match="lengths must be 2 ints"):
        layer(x, lengths=[3])
    with pytest.raises(ValueError, match="lengths must be 2 ints"):
        layer(x, lengths=[3.5, 2])
    with pytest.raises(ValueError, match="lengths= needs a batched"):
        layer(minigrad.randn(5, 3), lengths=[5])
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="proj_size=2 is not supported"):
        nn.LSTM(3, 4, proj_size=2)


def test_lengths_accept_tensors_and_arrays():
    layer = nn.RNN(3, 4)
    x = minigrad.randn(5, 2, 3)
    a, _ = layer(x, lengths=[4, 2])
    b, _ = layer(x, lengths=minigrad.tensor([4, 2]))
    c, _ = layer(x, lengths=np.array([4, 2]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy(), c.numpy())
