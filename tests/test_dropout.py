"""Tests for functional/dropout.py and nn/dropout.py: the formulas given a mask (forward against
NumPy, gradcheck), the statistics of the random masks, eval identity and p validation."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import functional as F
from minigrad import nn
from minigrad.gradcheck import gradcheck

ALPHA_PRIME = -1.0507009873554805 * 1.6732632423543772  # -λα of SELU


def host(t):
    return t.numpy().astype(np.float64)


def alpha_affine(p):
    """(a, b) of alpha dropout (Klambauer et al. 2017), written out independently."""
    a = 1.0 / math.sqrt((1 - p) * (1 + p * ALPHA_PRIME**2))
    return a, -a * ALPHA_PRIME * p


def binomial_bound(p, n, sigmas=5):
    """|fraction - p| stays below this for n Bernoulli(p) draws (5 standard deviations)."""
    return sigmas * math.sqrt(p * (1 - p) / n) + 1e-12


P = st.sampled_from([0.1, 0.25, 0.5, 0.8])


# --------------------------------------------------------------------------- given a mask


@given(data=st.data(), shape=mt.shapes(min_dims=1, max_dims=3), p=P)
def test_dropout_with_mask_forward_and_gradcheck(data, shape, p, device):
    x = data.draw(mt.arrays(shape))
    mask = data.draw(mt.dropout_masks(shape, p))
    y = F.dropout(mg.tensor(x, device=device), p, mask=mask)
    np.testing.assert_allclose(host(y), x * mask / (1 - p), rtol=1e-12)
    gradcheck(lambda t: F.dropout(t, p, mask=mask), [x], device=device)
    layer = nn.Dropout(p)
    np.testing.assert_allclose(host(layer(mg.tensor(x, device=device), mask=mask)), host(y))


@given(data=st.data(), shape=mt.shapes(min_dims=1, max_dims=3), p=P)
def test_alpha_dropout_with_mask_forward_and_gradcheck(data, shape, p, device):
    x = data.draw(mt.arrays(shape))
    mask = data.draw(mt.dropout_masks(shape, p))
    a, b = alpha_affine(p)
    y = F.alpha_dropout(mg.tensor(x, device=device), p, training=True, mask=mask)
    expected = a * np.where(mask, x, ALPHA_PRIME) + b
    np.testing.assert_allclose(host(y), expected, rtol=1e-12, atol=1e-12)
    gradcheck(lambda t: F.alpha_dropout(t, p, True, mask), [x], device=device)


@given(data=st.data(), p=P)
def test_channel_dropouts_with_mask(data, p, device):
    x = data.draw(mt.arrays((2, 3, 2, 3)))
    mask = data.draw(mt.dropout_masks((2, 3, 1, 1), p))
    y = F.dropout2d(mg.tensor(x, device=device), p, mask=mask)
    np.testing.assert_allclose(host(y), x * mask / (1 - p), rtol=1e-12)
    gradcheck(lambda t: F.dropout2d(t, p, mask=mask), [x], device=device)
    x1 = x[:, :, 0]
    y = F.dropout1d(mg.tensor(x1, device=device), p, mask=mask[:, :, 0])
    np.testing.assert_allclose(host(y), x1 * mask[:, :, 0] / (1 - p), rtol=1e-12)
    a, b = alpha_affine(p)
    y = F.feature_alpha_dropout(mg.tensor(x, device=device), p, True, mask)
    np.testing.assert_allclose(host(y), a * np.where(mask, x, ALPHA_PRIME) + b, atol=1e-12)
    gradcheck(lambda t: F.feature_alpha_dropout(t, p, True, mask), [x], device=device)


@given(data=st.data(), p=P)
def test_drop_connect_with_mask(data, p, device):
    x = data.draw(mt.arrays((2, 4)))
    w = data.draw(mt.arrays((3, 4)))
    b = data.draw(mt.arrays((3,)))
    mask = data.draw(mt.dropout_masks((3, 4), p))
    layer = nn.DropConnect(nn.Linear(4, 3), p).to(device, "float64")
    layer.linear.weight.data = mg.tensor(w, device=device).data
    layer.linear.bias.data = mg.tensor(b, device=device).data
    y = layer(mg.tensor(x, device=device), mask=mask)
    np.testing.assert_allclose(host(y), x @ (w * mask / (1 - p)).T + b, rtol=1e-10, atol=1e-12)
    params = list(layer.parameters())
    assert params[0] is layer.linear.weight and params[1] is layer.linear.bias
    assert layer.weight is layer.linear.weight
    gradcheck(lambda t: layer(t, mask=mask), [x], params=params, device=device)
    layer.eval()
    np.testing.assert_allclose(host(layer(mg.tensor(x, device=device))), x @ w.T + b, rtol=1e-12)


def test_gaussian_noise_with_explicit_noise(device):
    rng = np.random.default_rng(0)
    x, noise = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y = F.gaussian_noise(mg.tensor(x, device=device), 0.3, noise=noise)
    np.testing.assert_allclose(host(y), x + 0.3 * noise, rtol=1e-12)
    gradcheck(lambda t: F.gaussian_noise(t, 0.3, noise=noise), [x], device=device)
    layer = nn.GaussianNoise(0.3)
    np.testing.assert_allclose(host(layer(mg.tensor(x, device=device), noise=noise)), host(y))


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_statistics_and_gradient_mask(p, device):
    mg.seed(1)
    n = 200_000
    x = mg.ones(n, dtype="float64", device=device, requires_grad=True)
    y = F.dropout(x, p)
    values = host(y)
    dropped = np.mean(values == 0)
    assert abs(dropped - p) < binomial_bound(p, n)
    assert set(np.unique(values)) <= {0.0, 1 / (1 - p)}
    # E[y] = 1 with variance p/(1-p) per entry
    assert abs(values.mean() - 1) < 5 * math.sqrt(p / (1 - p) / n)
    # backward multiplies by the same scaled mask that forward used
    y.backward(mg.ones(n, dtype="float64", device=device))
    np.testing.assert_array_equal(mg.Tensor(x.grad).numpy(), values)


def test_dropout2d_drops_whole_channels(device):
    mg.seed(2)
    p = 0.3
    x = mg.ones(64, 50, 3, 4, dtype="float64", device=device)
    y = host(nn.Dropout2d(p)(x))
    per_channel = y.reshape(64, 50, -1)
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()
    dropped = np.mean(per_channel[:, :, 0] == 0)
    assert abs(dropped - p) < binomial_bound(p, 64 * 50)
    y1 = host(nn.Dropout1d(p)(mg.ones(64, 50, 7, device=device)))
    assert (y1.min(axis=2) == y1.max(axis=2)).all()
    assert abs(np.mean(y1[:, :, 0] == 0) - p) < binomial_bound(p, 64 * 50)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(p, device):
    mg.seed(3)
    n = 400_000
    x = mg.randn(n, dtype="float64", device=device)
    y = host(nn.AlphaDropout(p)(x))
    assert abs(y.mean()) < 0.01
    assert abs(y.std() - 1) < 0.01
    a, b = alpha_affine(p)
    dropped = np.isclose(y, a * ALPHA_PRIME + b, rtol=0, atol=1e-12)
    assert abs(dropped.mean() - p) < binomial_bound(p, n)
    z = host(nn.FeatureAlphaDropout(p)(mg.randn(2000, 50, 4, dtype="float64", device=device)))
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


def test_drop_connect_drops_weights(device):
    mg.seed(4)
    p = 0.4
    layer = nn.DropConnect(nn.Linear(300, 200), p).to(device, "float64")
    x = mg.ones(1, 300, dtype="float64", device=device)
    layer(x).backward(mg.ones(1, 200, dtype="float64", device=device))
    # dL/dw = dout^T x · keep/(1-p) = keep/(1-p) for ones: the weight mask itself
    grad = mg.Tensor(layer.linear.weight.grad).numpy()
    assert abs(np.mean(grad == 0) - p) < binomial_bound(p, grad.size)
    assert set(np.unique(grad)) <= {0.0, 1 / (1 - p)}


def test_gaussian_noise_statistics(device):
    mg.seed(5)
    x = mg.zeros(200_000, dtype="float64", device=device)
    y = host(nn.GaussianNoise(0.5)(x))
    assert abs(y.mean()) < 5 * 0.5 / math.sqrt(y.size)
    assert abs(y.std() - 0.5) < 0.005


def test_seeded_masks_repeat(device):
    x = mg.ones(1000, device=device)
    mg.seed(7)
    first = host(F.dropout(x, 0.5))
    mg.seed(7)
    np.testing.assert_array_equal(host(F.dropout(x, 0.5)), first)
    assert not np.array_equal(host(F.dropout(x, 0.5)), first)


# --------------------------------------------------------------------------- modes and p


LAYERS = [nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout]


@pytest.mark.parametrize("cls", LAYERS)
def test_eval_is_exact_identity(cls, device):
    x = mg.randn(2, 3, 4, 5, device=device)
    layer = cls(0.5).eval()
    y = layer(x if cls is not nn.Dropout1d else x[:, :, 0])
    expected = x if cls is not nn.Dropout1d else x[:, :, 0]
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    assert nn.GaussianNoise(1.0).eval()(x) is x
    assert nn.Sequential(nn.Linear(5, 5), cls(0.3)).eval()[1].training is False


@pytest.mark.parametrize("fn", [F.dropout, F.alpha_dropout, F.dropout2d, F.feature_alpha_dropout])
def test_p_zero_identity_and_p_one_zeros(fn, device):
    x = mg.randn(2, 3, 4, 5, dtype="float64", device=device, requires_grad=True)
    np.testing.assert_array_equal(fn(x, 0.0, True).numpy(), x.numpy())
    y = fn(x, 1.0, True)
    np.testing.assert_array_equal(y.numpy(), np.zeros(x.shape))
    y.backward(mg.ones(*x.shape, dtype="float64", device=device))
    np.testing.assert_array_equal(mg.Tensor(x.grad).numpy(), np.zeros(x.shape))


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", True])
def test_p_outside_unit_interval_raises(p):
    x = mg.randn(2, 3, 4)
    for fn in (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout):
        with pytest.raises(ValueError, match="probability"):
            fn(x, p, True)
    for cls in LAYERS:
        with pytest.raises(ValueError, match="probability"):
            cls(p)
    with pytest.raises(ValueError, match="probability"):
        nn.DropConnect(nn.Linear(2, 2), p)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="mask has shape"):
        F.dropout(mg.randn(2, 3), 0.5, mask=np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="dropout2d"):
        F.dropout2d(mg.randn(2, 3), 0.5)
    with pytest.raises(ValueError, match="std"):
        nn.GaussianNoise(-1.0)
    with pytest.raises(TypeError, match="Linear"):
        nn.DropConnect(nn.Dropout(0.5))
