"""Shared test helpers: run a minigrad function on a device and compare with a NumPy reference."""

import numpy as np

import minigrad as mg


def on(device, *arrays, requires_grad=False):
    """NumPy arrays as float64 Tensors on `device`."""
    return [mg.tensor(np.asarray(a), device=device, requires_grad=requires_grad) for a in arrays]


def assert_forward(fn, reference, arrays, device, rtol=1e-10, atol=1e-12):
    """fn(*tensors) on `device` equals reference(*arrays) computed by NumPy on the host."""
    out = fn(*on(device, *arrays))
    expected = reference(*[np.asarray(a) for a in arrays])
    np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=atol)
    assert out.shape == np.shape(expected)
    assert out.device == device
    return out


def run_with_torch(torch, ours, theirs, arrays, device="cpu", seed=0):
    """Run minigrad's `ours` and PyTorch's `theirs` on float64 copies of `arrays`, backward one
    random upstream gradient through both; return [(ours, torch's)] for the output and for
    the gradient of every input (for the parity tests; torch is passed in, never imported)."""
    ins = [mg.tensor(a, dtype="float64", device=device, requires_grad=True) for a in arrays]
    refs = [torch.from_numpy(a).requires_grad_() for a in arrays]
    y = ours(*ins)
    yr = theirs(*refs)
    assert y.shape == tuple(yr.shape)
    dout = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(mg.tensor(dout, dtype="float64", device=device))
    yr.backward(torch.from_numpy(dout))
    pairs = [(y.numpy(), yr.detach().numpy())]
    pairs += [(mg.backend.to_host(t.grad), r.grad.numpy()) for t, r in zip(ins, refs)]
    return pairs


def assert_pairs_close(pairs, rtol=1e-10, atol=1e-10):
    for mine, ref in pairs:
        np.testing.assert_allclose(mine, ref, rtol=rtol, atol=atol)
