"""Tests for minigrad/functional/linear.py: F.linear and F.embedding against NumPy, gradcheck."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
import minigrad.testing as mt
from minigrad import backend
from minigrad import functional as F
from minigrad.gradcheck import gradcheck


@st.composite
def linear_inputs(draw):
    """(x (..., in), w (out, in), b (out,) or None) with 0 to 2 leading dims."""
    lead = draw(mt.shapes(min_dims=0, max_dims=2, max_side=3))
    n_in = draw(st.integers(1, 4))
    n_out = draw(st.integers(1, 4))
    x = draw(mt.arrays(lead + (n_in,)))
    w = draw(mt.arrays((n_out, n_in)))
    b = draw(st.none() | mt.arrays((n_out,)))
    return x, w, b


@st.composite
def embedding_inputs(draw, padding=False):
    """(ids of any shape with repeats likely, weight (num, dim), padding_idx or None)."""
    num = draw(st.integers(1, 5))
    dim = draw(st.integers(1, 3))
    shape = draw(mt.shapes(min_dims=0, max_dims=3, max_side=4))
    ids = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, num - 1)))
    w = draw(mt.arrays((num, dim)))
    padding_idx = draw(st.integers(-num, num - 1)) if padding else None
    return ids, w, padding_idx


def on(array, device):
    return minigrad.tensor(array, dtype="float64", device=device)


# --------------------------------------------------------------------------- linear


@given(inputs=linear_inputs())
def test_linear_matches_numpy_and_gradcheck(inputs, device):
    x, w, b = inputs
    expected = x @ w.T + (0.0 if b is None else b)
    bias = None if b is None else on(b, device)
    y = F.linear(on(x, device), on(w, device), bias)
    assert y.shape == expected.shape and y.device == device
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    if b is None:
        gradcheck(F.linear, [x, w], device=device)
    else:
        gradcheck(F.linear, [x, w, b], device=device)


def test_linear_grads_written_out(device):
    # dx = dout @ w, dw = dout^T @ x over all leading dims, db = dout summed over them
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    dout = rng.standard_normal((2, 3, 5))
    xt, wt, bt = (on(a, device).requires_grad_() for a in (x, w, b))
    F.linear(xt, wt, bt).backward(on(dout, device))
    np.testing.assert_allclose(backend.to_host(xt.grad), dout @ w)
    np.testing.assert_allclose(backend.to_host(wt.grad), dout.reshape(6, 5).T @ x.reshape(6, 4))
    np.testing.assert_allclose(backend.to_host(bt.grad), dout.sum(axis=(0, 1)))


def test_linear_only_needed_grads():
    x = minigrad.randn(3, 2)
    w = minigrad.randn(4, 2, requires_grad=True)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 2)


def test_linear_shape_errors():
    with pytest.raises(
        ValueError, match=r"input has 30 features, weight expects 20 \(weight shape \(10, 20\)\)"
    ):
        F.linear(minigrad.randn(3, 30), minigrad.randn(10, 20))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\), expected \(10,\)"):
        F.linear(minigrad.randn(3, 20), minigrad.randn(10, 20), minigrad.randn(3))
    with pytest.raises(ValueError, match="2-D"):
        F.linear(minigrad.randn(3, 20), minigrad.randn(20))
    with pytest.raises(ValueError, match="at least 1 dim"):
        F.linear(minigrad.tensor(1.0), minigrad.randn(1, 1))


# --------------------------------------------------------------------------- embedding


@given(inputs=embedding_inputs())
def test_embedding_matches_numpy_and_gradcheck(inputs, device):
    ids, w, _ = inputs
    y = F.embedding(minigrad.tensor(ids, device=device), on(w, device))
    assert y.shape == ids.shape + (w.shape[1],)
    np.testing.assert_array_equal(y.numpy(), w[ids])
    gradcheck(lambda i, weight: F.embedding(i, weight), [ids, w], device=device)


@given(inputs=embedding_inputs(padding=True), seed=st.integers(0, 2**16))
def test_embedding_backward_scatter_adds_and_skips_padding(inputs, seed, device):
    ids, w, padding_idx = inputs
    dout = np.random.default_rng(seed).standard_normal(ids.shape + (w.shape[1],))
    weight = on(w, device).requires_grad_()
    F.embedding(minigrad.tensor(ids, device=device), weight, padding_idx=padding_idx).backward(
        on(dout, device)
    )
    expected = np.zeros_like(w)
    for i, row in zip(ids.reshape(-1), dout.reshape(-1, w.shape[1])):
        if i != padding_idx % w.shape[0]:
            expected[i] += row
    np.testing.assert_allclose(backend.to_host(weight.grad), expected, rtol=1e-12, atol=1e-12)


def test_embedding_repeated_ids(device):
    w = on(np.arange(6.0).reshape(3, 2), device).requires_grad_()
    ids = minigrad.tensor(np.array([[2, 2], [2, 0]]), device=device)
    F.embedding(ids, w).sum().backward()
    np.testing.assert_array_equal(backend.to_host(w.grad), [[1, 1], [0, 0], [3, 3]])


def test_embedding_accepts_numpy_and_lists():
    w = minigrad.randn(4, 3)
    np.testing.assert_array_equal(F.embedding([1, 3], w).numpy(), w.numpy()[[1, 3]])
    np.testing.assert_array_equal(F.embedding(np.array(2), w).numpy(), w.numpy()[2])


def test_embedding_errors(device):
    w = minigrad.randn(4, 3, device=device)
    for bad in (4, -1):
        with pytest.raises(IndexError, match=f"id {bad} is out of range for 4 embeddings"):
            F.embedding(minigrad.tensor(np.array([0, bad]), device=device), w)
    with pytest.raises(TypeError, match="float"):
        F.embedding(minigrad.tensor(np.array([0.0]), device=device), w)
    with pytest.raises(ValueError, match="padding_idx 4"):
        F.embedding(minigrad.tensor(np.array([0]), device=device), w, padding_idx=4)
