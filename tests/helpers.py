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
