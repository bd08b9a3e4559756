"""Tests for functional/normalization.py and nn/normalization.py: forward against NumPy
references, gradcheck in train and eval mode, channels-last input, running statistics, modes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import functional as F
from minigrad import nn
from minigrad.gradcheck import gradcheck

# --------------------------------------------------------------------------- NumPy references


def np_normalize(x, axes, eps, center=True):
    mean = x.mean(axis=axes, keepdims=True) if center else 0.0
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def np_channel(v, ndim):
    """(C,) -> (1, C, 1, ...) for an (N, C, *) input."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def np_batch_norm(x, w, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    return np_normalize(x, axes, eps) * np_channel(w, x.ndim) + np_channel(b, x.ndim)


def np_group_norm(x, groups, w, b, eps=1e-5):
    n, c = x.shape[:2]
    grouped = x.reshape(n, groups, -1)
    y = np_normalize(grouped, (2,), eps).reshape(x.shape)
    return y * np_channel(w, x.ndim) + np_channel(b, x.ndim)


def channels_last(a):
    """The same (N, C, H, W) values with NHWC memory (as conv outputs are)."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(0, 3, 1, 2)


def params(device, *arrays):
    return [mg.tensor(a, dtype="float64", device=device, requires_grad=True) for a in arrays]


def host(t):
    return t.numpy().astype(np.float64)


@st.composite
def norm_inputs(draw, spatial=(0, 2), min_side=1, channels=None):
    """(x, w, b): a well-conditioned (N, C, *) input and per-channel affine parameters.

    Spatial sides are at least `min_side` (instance norm needs 2+ values per sample)."""
    dims = draw(st.integers(*spatial))
    shape = draw(mt.norm_configs(max_batch=3, max_channels=3, max_spatial=3, spatial_dims=dims))
    shape = shape[:1] + (channels or shape[1],) + tuple(max(n, min_side) for n in shape[2:])
    x = draw(mt.well_conditioned(shape))
    w = draw(mt.arrays((shape[1],), 0.5, 2.0))
    b = draw(mt.arrays((shape[1],), -1.0, 1.0))
    return x, w, b


# --------------------------------------------------------------------------- batch norm


@given(data=norm_inputs())
def test_batch_norm_train_forward_and_gradcheck(data, device):
    x, w, b = data
    weight, bias = params(device, w, b)
    y = F.batch_norm(mg.tensor(x, device=device), None, None, weight, bias, training=True)
    np.testing.assert_allclose(host(y), np_batch_norm(x, w, b), rtol=1e-10, atol=1e-10)

    def fn(t):
        return F.batch_norm(t, None, None, weight, bias, training=True)

    gradcheck(fn, [x], params=[weight, bias], device=device)


@given(data=norm_inputs(), stats=st.data())
def test_batch_norm_eval_forward_and_gradcheck(data, stats, device):
    x, w, b = data
    channels = x.shape[1]
    mean = stats.draw(mt.arrays((channels,), -1.0, 1.0))
    var = stats.draw(mt.arrays((channels,), 0.2, 3.0))
    weight, bias = params(device, w, b)
    rm, rv = (mg.tensor(a, device=device) for a in (mean, var))
    y = F.batch_norm(mg.tensor(x, device=device), rm, rv, weight, bias, training=False)
    expected = (x - np_channel(mean, x.ndim)) / np.sqrt(np_channel(var, x.ndim) + 1e-5)
    expected = expected * np_channel(w, x.ndim) + np_channel(b, x.ndim)
    np.testing.assert_allclose(host(y), expected, rtol=1e-10, atol=1e-10)

    def fn(t):
        return F.batch_norm(t, rm, rv, weight, bias, training=False)

    gradcheck(fn, [x], params=[weight, bias], device=device)


@settings(max_examples=6)
@given(data=norm_inputs(spatial=(2, 2)), affine=st.booleans(), training=st.booleans())
def test_batchnorm2d_module_gradcheck(data, affine, training, device):
    x = data[0]
    layer = nn.BatchNorm2d(x.shape[1], affine=affine).to(device, "float64")
    if affine:
        layer.weight.data = mg.tensor(data[1], device=device).data
        layer.bias.data = mg.tensor(data[2], device=device).data
    layer.train(training)
    if not training:
        layer(mg.tensor(x * 0.5 + 0.3, device=device))  # a train step already gave stats
    gradcheck(layer, [x], params=list(layer.parameters()), device=device)


@settings(max_examples=20)
@given(data=norm_inputs(spatial=(2, 2)), scale=st.floats(0.5, 3.0), shift=st.floats(-2.0, 2.0))
def test_batch_norm_channels_last_identical(data, scale, shift, device):
    # channels-last memory takes backend's GEMV / einsum sums on NumPy: same results
    x, w, b = data
    x = x * scale + shift
    dout = np.cos(np.arange(x.size)).reshape(x.shape)
    results = []
    for array in (x, channels_last(x)):
        t = mg.tensor(array, device=device, requires_grad=True)
        weight, bias = params(device, w, b)
        y = F.batch_norm(t, None, None, weight, bias, training=True)
        y.backward(mg.tensor(channels_last(dout) if array is not x else dout, device=device))
        grads = [mg.Tensor(g).numpy() for g in (t.grad, weight.grad, bias.grad)]
        results.append([host(y), *grads])
        if device == "cpu" and array is not x:
            # the elementwise math keeps the NHWC memory: nothing was copied back to NCHW
            assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous
            assert t.grad.transpose(0, 2, 3, 1).flags.c_contiguous
    for nchw, nhwc in zip(*results):
        np.testing.assert_allclose(nchw, nhwc, rtol=1e-12, atol=1e-12)


def test_batch_norm_one_value_per_channel_raises():
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(mg.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(mg.randn(2, 3))
    with pytest.raises(ValueError, match="weight has shape"):
        F.batch_norm(mg.randn(2, 3), None, None, mg.ones(4), training=True)
    with pytest.raises(ValueError, match="eval mode"):
        F.batch_norm(mg.randn(2, 3), None, None, training=False)


def test_batch_norm_zero_variance_channel_is_finite(device):
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    x[:, 1] = 7.0
    t = mg.tensor(x, device=device, requires_grad=True)
    y = nn.BatchNorm1d(2).to(device, "float64")(t)
    y.backward(mg.ones(*x.shape, dtype="float64", device=device))
    assert np.isfinite(host(y)).all() and np.isfinite(mg.Tensor(t.grad).numpy()).all()
    np.testing.assert_allclose(host(y)[:, 1], 0.0, atol=1e-12)


# --------------------------------------------------------------------------- running statistics


@pytest.mark.parametrize("momentum", [0.1, 0.35, None])
def test_running_stats_match_numpy_over_steps(momentum, device):
    rng = np.random.default_rng(2)
    layer = nn.BatchNorm2d(3, momentum=momentum).to(device, "float64")
    mean, var = np.zeros(3), np.ones(3)
    for step in range(1, 5):
        x = rng.standard_normal((4, 3, 2, 5)) * (step + 1) + step
        layer(mg.tensor(x, device=device))
        m = 1.0 / step if momentum is None else momentum
        mean = (1 - m) * mean + m * x.mean(axis=(0, 2, 3))
        var = (1 - m) * var + m * x.var(axis=(0, 2, 3), ddof=1)
        np.testing.assert_allclose(host(layer.running_mean), mean, rtol=1e-12)
        np.testing.assert_allclose(host(layer.running_var), var, rtol=1e-12)
        assert int(layer.num_batches_tracked.numpy()) == step
    layer.eval()
    x = rng.standard_normal((2, 3, 2, 5))
    y = layer(mg.tensor(x, device=device))
    expected = (x - np_channel(mean, 4)) / np.sqrt(np_channel(var, 4) + 1e-5)
    np.testing.assert_allclose(host(y), expected, rtol=1e-10, atol=1e-12)
    assert int(layer.num_batches_tracked.numpy()) == 4  # eval counts nothing


def test_batchnorm1d_2d_and_3d_inputs_and_state_dict(device):
    layer = nn.BatchNorm1d(3).to(device)
    assert list(layer.state_dict()) == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    x2 = np.random.default_rng(3).standard_normal((5, 3))
    x3 = np.random.default_rng(4).standard_normal((5, 3, 4))
    for x in (x2, x3):
        y = layer.double()(mg.tensor(x, device=device))
        np.testing.assert_allclose(host(y), np_batch_norm(x, np.ones(3), np.zeros(3)), atol=1e-12)
    assert int(layer.num_batches_tracked.numpy()) == 2


def test_no_running_stats_uses_batch_stats_in_eval(device):
    layer = nn.BatchNorm2d(2, affine=False, track_running_stats=False).to(device, "float64")
    assert layer.running_mean is None and layer.weight is None
    assert list(layer.state_dict()) == []
    x = np.random.default_rng(5).standard_normal((3, 2, 2, 2))
    layer.eval()
    y = layer(mg.tensor(x, device=device))
    np.testing.assert_allclose(host(y), np_batch_norm(x, np.ones(2), np.zeros(2)), atol=1e-12)


def test_train_eval_switch_across_nested_modules(device):
    rng = np.random.default_rng(6)
    inner = nn.Sequential(nn.BatchNorm1d(4), nn.Dropout(0.5))
    model = nn.Sequential(nn.BatchNorm1d(4), inner).to(device, "float64")
    x = mg.tensor(rng.standard_normal((8, 4)) * 3 + 2, device=device)
    model(x)
    model.eval()
    assert not any(m.training for m in model.modules())
    before = [host(b) for b in model.buffers()]
    y1, y2 = host(model(x)), host(model(x))
    np.testing.assert_array_equal(y1, y2)  # no dropout, running statistics only
    for b, saved in zip(model.buffers(), before):
        np.testing.assert_array_equal(host(b), saved)
    rm0, rv0 = host(model[0].running_mean), host(model[0].running_var)
    rm1, rv1 = host(inner[0].running_mean), host(inner[0].running_var)
    h = (x.numpy() - rm0) / np.sqrt(rv0 + 1e-5)
    np.testing.assert_allclose(y1, (h - rm1) / np.sqrt(rv1 + 1e-5), rtol=1e-10)
    model.train()
    assert all(m.training for m in model.modules())
    model(x)
    assert int(inner[0].num_batches_tracked.numpy()) == 2


# --------------------------------------------------------------------------- instance norm


@given(data=norm_inputs(spatial=(1, 2), min_side=2))
def test_instance_norm_forward_and_gradcheck(data, device):
    x, w, b = data
    weight, bias = params(device, w, b)
    y = F.instance_norm(mg.tensor(x, device=device), weight=weight, bias=bias)
    axes = tuple(range(2, x.ndim))
    expected = np_normalize(x, axes, 1e-5) * np_channel(w, x.ndim) + np_channel(b, x.ndim)
    np.testing.assert_allclose(host(y), expected, rtol=1e-10, atol=1e-10)

    def fn(t):
        return F.instance_norm(t, weight=weight, bias=bias)

    gradcheck(fn, [x], params=[weight, bias], device=device)


def test_instance_norm_running_stats_and_unbatched(device):
    rng = np.random.default_rng(7)
    layer = nn.InstanceNorm2d(3, track_running_stats=True, affine=True).to(device, "float64")
    assert layer.momentum == 0.1 and nn.InstanceNorm2d(3).weight is None
    x = rng.standard_normal((2, 3, 4, 5)) + 1
    layer(mg.tensor(x, device=device))
    mean = 0.1 * x.mean(axis=(2, 3)).mean(axis=0)
    var = 0.9 + 0.1 * x.var(axis=(2, 3), ddof=1).mean(axis=0)
    np.testing.assert_allclose(host(layer.running_mean), mean, rtol=1e-12)
    np.testing.assert_allclose(host(layer.running_var), var, rtol=1e-12)
    layer.eval()
    y = layer(mg.tensor(x[0], device=device))  # unbatched (C, H, W)
    assert y.shape == (3, 4, 5)
    expected = (x[0] - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(host(y), expected, rtol=1e-10)
    layer.train()
    weight, bias = layer.weight, layer.bias
    gradcheck(layer, [x], params=[weight, bias], device=device)
    with pytest.raises(ValueError, match="spatial element"):
        F.instance_norm(mg.randn(2, 3, 1))


# --------------------------------------------------------------------------- per-sample norms


@given(groups=st.integers(1, 3), per_group=st.integers(1, 2), data=st.data())
def test_group_norm_forward_and_gradcheck(groups, per_group, data, device):
    x, w, b = data.draw(norm_inputs(spatial=(1, 2), min_side=2, channels=groups * per_group))
    weight, bias = params(device, w, b)
    y = F.group_norm(mg.tensor(x, device=device), groups, weight, bias)
    np.testing.assert_allclose(host(y), np_group_norm(x, groups, w, b), rtol=1e-9, atol=1e-9)

    def fn(t):
        return F.group_norm(t, groups, weight, bias)

    gradcheck(fn, [x], params=[weight, bias], device=device)


def test_group_norm_errors_and_module(device):
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="num_groups=3"):
        F.group_norm(mg.randn(2, 4, 3), 3)
    layer = nn.GroupNorm(2, 4).to(device, "float64")
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    x = np.random.default_rng(8).standard_normal((2, 4, 3))
    y = layer(mg.tensor(x, device=device))
    np.testing.assert_allclose(host(y), np_group_norm(x, 2, np.ones(4), np.zeros(4)), atol=1e-12)


@given(
    shape=mt.shapes(min_dims=2, max_dims=3, min_side=2, max_side=4),
    trailing=st.integers(1, 2),
    data=st.data(),
)
def test_layer_norm_and_rms_norm(shape, trailing, data, device):
    x = data.draw(mt.well_conditioned(shape))
    normalized = shape[-trailing:]
    axes = tuple(range(len(shape) - trailing, len(shape)))
    w = data.draw(mt.arrays(normalized, 0.5, 2.0))
    b = data.draw(mt.arrays(normalized, -1.0, 1.0))
    weight, bias = params(device, w, b)
    t = mg.tensor(x, device=device)
    y = F.layer_norm(t, normalized, weight, bias)
    # x̂·w + b may cancel to ~0: its rounding error is relative to |x̂·w| + |b| (~1), not to y
    expected = np_normalize(x, axes, 1e-5) * w + b
    np.testing.assert_allclose(host(y), expected, rtol=1e-10, atol=1e-13)
    gradcheck(
        lambda a: F.layer_norm(a, normalized, weight, bias),
        [x],
        params=[weight, bias],
        device=device,
    )
    eps = float(np.finfo(np.float64).eps)
    y = F.rms_norm(t, normalized, weight)
    expected = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps) * w
    np.testing.assert_allclose(host(y), expected, rtol=1e-10)
    gradcheck(lambda a: F.rms_norm(a, normalized, weight), [x], params=[weight], device=device)


def test_layer_norm_module_options_and_errors(device):
    layer = nn.LayerNorm((2, 3), bias=False).to(device, "float64")
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert nn.LayerNorm(3, elementwise_affine=False).weight is None
    assert nn.RMSNorm(3).weight.shape == (3,) and nn.RMSNorm(3, eps=1e-3).eps == 1e-3
    x = np.random.default_rng(9).standard_normal((4, 2, 3))
    y = layer(mg.tensor(x, device=device))
    np.testing.assert_allclose(host(y), np_normalize(x, (1, 2), 1e-5), rtol=1e-10)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(mg.randn(2, 3), (4,))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.RMSNorm(5)(mg.randn(2, 3))
