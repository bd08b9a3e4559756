"""Parity of the recurrent layers with PyTorch (skipped without torch), in float64: a PyTorch
state dict ported into minigrad gives the same outputs, final states and gradients (input,
initial states, every weight), for stacked, bidirectional, batch_first and padded batches."""

import contextlib

import numpy as np
import pytest

import minigrad
from minigrad import backend, nn

torch = pytest.importorskip("torch")

MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]


def _pair(name, **kwargs):
    """(minigrad layer, torch layer) with torch's random weights ported into ours."""
    theirs = getattr(torch.nn, name)(dtype=torch.float64, **kwargs)
    ours = getattr(nn, name)(dtype="float64", **kwargs)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    return ours, theirs


def _states(name, rng, shape):
    count = 2 if name == "LSTM" else 1
    return [rng.standard_normal(shape) for _ in range(count)]


def _as_hx(name, parts):
    return tuple(parts) if name == "LSTM" else parts[0]


def _flat(result):
    """(output, h_n) or (output, (h_n, c_n)) as a flat list."""
    output, final = result
    return [output, *final] if isinstance(final, tuple) else [output, final]


def _run_theirs(theirs, x, hx, lengths, batch_first):
    if lengths is None:
        return theirs(x, hx)
    utils = torch.nn.utils.rnn
    packed = utils.pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
    )
    output, final = theirs(packed, hx)
    total = x.shape[1] if batch_first else x.shape[0]
    padded, _ = utils.pad_packed_sequence(output, batch_first=batch_first, total_length=total)
    return padded, final


def check_parity(name, kwargs, x, h0=None, lengths=None, fused=True, seed=0):
    ours, theirs = _pair(name, **kwargs)
    ours.fused = fused
    xm = minigrad.tensor(x, dtype="float64", requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_()
    hm = ht = None
    if h0 is not None:
        hm = [minigrad.tensor(h, dtype="float64", requires_grad=True) for h in h0]
        ht = [torch.from_numpy(h).requires_grad_() for h in h0]
    mine = _flat(ours(xm, None if hm is None else _as_hx(name, hm), lengths=lengths))
    ref = _flat(
        _run_theirs(theirs, xt, None if ht is None else _as_hx(name, ht), lengths, ours.batch_first)
    )
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(r.shape) for r in ref]
    for a, b in zip(mine, ref):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    total = sum((a * minigrad.tensor(g, dtype="float64")).sum() for a, g in zip(mine, grads))
    total.backward()
    torch.autograd.backward(ref, [torch.from_numpy(g) for g in grads])
    pairs = [(xm.grad, xt.grad)]
    pairs += list(zip([h.grad for h in hm or []], [h.grad for h in ht or []]))
    theirs_params = dict(theirs.named_parameters())
    pairs += [(p.grad, theirs_params[k].grad) for k, p in ours.named_parameters()]
    for a, b in pairs:
        np.testing.assert_allclose(backend.to_host(a), b.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name, extra", MODES)
@pytest.mark.parametrize("fused", [True, False])
def test_stacked_bidirectional_with_initial_state(name, extra, fused):
    rng = np.random.default_rng(1)
    kwargs = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, **extra)
    x = rng.standard_normal((5, 2, 3))
    check_parity(name, kwargs, x, _states(name, rng, (4, 2, 4)), fused=fused)


@pytest.mark.parametrize("name, extra", MODES)
def test_batch_first_no_bias_default_state(name, extra):
    rng = np.random.default_rng(2)
    kwargs = dict(input_size=3, hidden_size=5, num_layers=3, bias=False, batch_first=True)
    check_parity(name, dict(kwargs, **extra), rng.standard_normal((2, 4, 3)))


@pytest.mark.parametrize("name, extra", MODES)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_match_packed_sequences(name, extra, fused, batch_first):
    rng = np.random.default_rng(3)
    kwargs = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True, **extra)
    shape = (3, 6, 2) if batch_first else (6, 3, 2)
    x = rng.standard_normal(shape)
    h0 = _states(name, rng, (4, 3, 3))
    check_parity(name, dict(kwargs, batch_first=batch_first), x, h0, lengths=[4, 6, 1], fused=fused)


@pytest.mark.parametrize("name, extra", MODES)
def test_unbatched_input(name, extra):
    rng = np.random.default_rng(4)
    kwargs = dict(input_size=3, hidden_size=2, num_layers=2, bidirectional=True, **extra)
    check_parity(name, kwargs, rng.standard_normal((4, 3)), _states(name, rng, (4, 2)))


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells(name, batched):
    rng = np.random.default_rng(5)
    ours, theirs = _pair(name, input_size=3, hidden_size=4)
    shape = (2, 4) if batched else (4,)
    x = rng.standard_normal((2, 3) if batched else (3,))
    states = _states("LSTM" if name == "LSTMCell" else name, rng, shape)
    xm = minigrad.tensor(x, requires_grad=True)
    hm = [minigrad.tensor(h, requires_grad=True) for h in states]
    xt = torch.from_numpy(x).requires_grad_()
    ht = [torch.from_numpy(h).requires_grad_() for h in states]
    mine = ours(xm, tuple(hm) if len(hm) == 2 else hm[0])
    ref = theirs(xt, tuple(ht) if len(ht) == 2 else ht[0])
    mine = list(mine) if isinstance(mine, tuple) else [mine]
    ref = list(ref) if isinstance(ref, tuple) else [ref]
    grads = [rng.standard_normal(r.shape) for r in ref]
    sum((a * minigrad.tensor(g)).sum() for a, g in zip(mine, grads)).backward()
    torch.autograd.backward(ref, [torch.from_numpy(g) for g in grads])
    for a, b in zip(mine, ref):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    pairs = [(xm.grad, xt.grad)] + [(a.grad, b.grad) for a, b in zip(hm, ht)]
    theirs_params = dict(theirs.named_parameters())
    pairs += [(p.grad, theirs_params[k].grad) for k, p in ours.named_parameters()]
    for a, b in pairs:
        np.testing.assert_allclose(backend.to_host(a), b.numpy(), rtol=1e-9, atol=1e-11)


def test_reprs_and_parameter_names_match():
    for name, kwargs in [
        ("LSTM", dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)),
        ("GRU", dict(input_size=3, hidden_size=4, bias=False, batch_first=True, dropout=0.5)),
        ("RNN", dict(input_size=3, hidden_size=4)),
        ("RNNCell", dict(input_size=3, hidden_size=4, nonlinearity="relu", bias=False)),
        ("LSTMCell", dict(input_size=3, hidden_size=4)),
    ]:
        with pytest.warns(UserWarning) if kwargs.get("dropout") else contextlib.nullcontext():
            ours = getattr(nn, name)(**kwargs)
        with pytest.warns(UserWarning) if kwargs.get("dropout") else contextlib.nullcontext():
            theirs = getattr(torch.nn, name)(**kwargs)
        assert repr(ours) == repr(theirs)
        mine = [(k, p.shape) for k, p in ours.named_parameters()]
        assert mine == [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
