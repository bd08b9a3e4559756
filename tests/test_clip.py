"""Gradient clipping and weight constraints (minigrad.nn.utils) against NumPy norms."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend
from minigrad import testing as mt
from minigrad.nn import utils

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _params_with_grads(grads, device):
    params = []
    for g in grads:
        p = mg.tensor(np.zeros(g.shape), dtype="float64", device=device, requires_grad=True)
        p.grad = backend.to_device(np.array(g), device)  # a copy: clipping works in place
        params.append(p)
    return params


def _grads_strategy(low=-3.0, high=3.0):
    return st.tuples(*[mt.arrays(s, low, high) for s in SHAPES])


def _numpy_norm(grads, norm_type):
    flat = np.concatenate([g.ravel() for g in grads])
    if norm_type == math.inf:
        return np.abs(flat).max()
    return (np.abs(flat) ** norm_type).sum() ** (1.0 / norm_type)


@given(
    grads=_grads_strategy(),
    max_norm=st.floats(0.1, 10.0),
    norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]),
)
def test_clip_grad_norm(grads, max_norm, norm_type, device):
    params = _params_with_grads(grads, device)
    total = utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = _numpy_norm(grads, norm_type)
    assert isinstance(total, mg.Tensor) and total.device == device and total.shape == ()
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-10, atol=1e-12)
    clipped = [backend.to_host(p.grad) for p in params]
    assert _numpy_norm(clipped, norm_type) <= max_norm * (1 + 1e-9) + 1e-12
    # one factor for all gradients: direction preserved, nothing changes below the bound
    factor = min(1.0, max_norm / (expected + 1e-6))
    for before, after in zip(grads, clipped):
        np.testing.assert_allclose(after, before * factor, rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_skips_missing_grads_and_checks_finiteness(device):
    params = _params_with_grads([np.array([3.0, 4.0])], device)
    params.append(mg.tensor(np.ones(2), device=device, requires_grad=True))  # grad None
    total = utils.clip_grad_norm_(params, 1.0)
    np.testing.assert_allclose(total.numpy(), 5.0)
    np.testing.assert_allclose(backend.to_host(params[0].grad), [0.6, 0.8], rtol=1e-6)
    bad = _params_with_grads([np.array([np.inf, 1.0])], device)
    with pytest.raises(RuntimeError, match="not finite"):
        utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        utils.clip_grad_norm_(params, -1.0)


@given(grads=_grads_strategy(), clip_value=st.floats(0.01, 2.0))
def test_clip_grad_value(grads, clip_value, device):
    params = _params_with_grads(grads, device)
    utils.clip_grad_value_(params, clip_value)
    for before, p in zip(grads, params):
        np.testing.assert_array_equal(
            backend.to_host(p.grad), np.clip(before, -clip_value, clip_value)
        )


@given(
    w=st.one_of(mt.arrays((4, 3)), mt.arrays((3, 2, 2, 2))),
    max_norm=st.floats(0.1, 3.0),
)
def test_max_norm_bounds_each_unit(w, max_norm, device):
    """Linear (out, in) and conv (out, in, kh, kw): each output unit's weights get norm <= c."""
    weight = mg.tensor(np.array(w), dtype="float64", device=device, requires_grad=True)
    utils.max_norm_(weight, max_norm)
    rows = w.reshape(w.shape[0], -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    expected = rows * np.minimum(1.0, max_norm / (norms + 1e-7))
    got = weight.numpy().reshape(w.shape[0], -1)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.all(np.linalg.norm(got, axis=1) <= max_norm * (1 + 1e-9))


def test_l1_penalty_is_differentiable(device):
    w = mg.tensor(np.array([[1.0, -2.0], [0.5, -0.25]]), device=device, requires_grad=True)
    b = mg.tensor(np.array([-3.0]), device=device, requires_grad=True)
    penalty = utils.l1_penalty([w, b])
    np.testing.assert_allclose(penalty.numpy(), 6.75)
    penalty.backward()
    np.testing.assert_array_equal(backend.to_host(w.grad), [[1.0, -1.0], [1.0, -1.0]])
    np.testing.assert_array_equal(backend.to_host(b.grad), [-1.0])


def test_gradient_noise_is_annealed(device):
    """The noise added on step t has standard deviation sqrt(eta / (1 + t)^gamma)."""
    p = mg.tensor(np.zeros(20000), dtype="float64", device=device, requires_grad=True)
    noise = utils.GradientNoise([p], eta=0.3, gamma=0.55, seed=0)
    for t in range(3):
        p.grad = backend.to_device(np.zeros(20000), device)
        noise.step()
        sample = backend.to_host(p.grad)
        expected = math.sqrt(0.3 / (1 + t) ** 0.55)
        assert abs(sample.std() / expected - 1) < 0.03  # std error ~ 1/sqrt(2n) = 0.5%
        assert abs(sample.mean()) < 4 * expected / math.sqrt(20000)
