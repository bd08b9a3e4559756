"""Tests for functional/pooling.py: max/avg/adaptive pooling against window-by-window NumPy
references written from PyTorch's definitions, gradients by gradcheck, ties, layouts, errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import backend
from minigrad import functional as F
from minigrad import testing as mt
from minigrad.gradcheck import gradcheck

# --------------------------------------------------------------------------- references


def out_len(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length (written from its documentation)."""
    span = d * (k - 1) + 1
    value = (size + 2 * p - span) / s + 1
    out = math.ceil(value) if ceil_mode else math.floor(value)
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def ref_max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    """Each output is the max of the input entries its window covers (padding never wins)."""
    n, c, h, w = x.shape
    oh = out_len(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    ow = out_len(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    out = np.full((n, c, oh, ow), -np.inf)
    for p in range(oh):
        for q in range(ow):
            for i in range(kernel[0]):
                for j in range(kernel[1]):
                    r = p * stride[0] - padding[0] + i * dilation[0]
                    t = q * stride[1] - padding[1] + j * dilation[1]
                    if 0 <= r < h and 0 <= t < w:
                        out[:, :, p, q] = np.maximum(out[:, :, p, q], x[:, :, r, t])
    return out


def ref_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad):
    """Window sum over the input entries, divided by the window's size clipped to the padded
    input (count_include_pad) or by the number of input entries it covers."""
    n, c, h, w = x.shape
    oh = out_len(h, kernel[0], stride[0], padding[0], 1, ceil_mode)
    ow = out_len(w, kernel[1], stride[1], padding[1], 1, ceil_mode)
    out = np.zeros((n, c, oh, ow))
    for p in range(oh):
        for q in range(ow):
            total = np.zeros((n, c))
            inside = 0
            in_padded = 0
            for i in range(kernel[0]):
                for j in range(kernel[1]):
                    r = p * stride[0] - padding[0] + i
                    t = q * stride[1] - padding[1] + j
                    if -padding[0] <= r < h + padding[0] and -padding[1] <= t < w + padding[1]:
                        in_padded += 1
                    if 0 <= r < h and 0 <= t < w:
                        total += x[:, :, r, t]
                        inside += 1
            out[:, :, p, q] = total / (in_padded if count_include_pad else inside)
    return out


def ref_adaptive_avg_pool2d(x, out):
    """Bin i of n over length L spans [floor(i L / n), ceil((i + 1) L / n))."""
    n, c, h, w = x.shape
    y = np.zeros((n, c, *out))
    for p in range(out[0]):
        h0, h1 = math.floor(p * h / out[0]), math.ceil((p + 1) * h / out[0])
        for q in range(out[1]):
            w0, w1 = math.floor(q * w / out[1]), math.ceil((q + 1) * w / out[1])
            y[:, :, p, q] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def channels_last(a, device):
    xp = backend.namespace(device)
    nhwc = backend.to_device(np.ascontiguousarray(a.transpose(0, 2, 3, 1)), device)
    return mg.Tensor(xp.permute_dims(nhwc, (0, 3, 1, 2)))


# --------------------------------------------------------------------------- strategies


def input_shape(cfg):
    return (cfg["batch"], cfg["channels"], cfg["height"], cfg["width"])


@st.composite
def max_pool_case(draw):
    cfg = draw(mt.pool2d_configs())
    # a side shorter than the dilation lets a dilated window hold only padding: its max is
    # -inf (as in PyTorch) and has no finite gradient to check
    cfg["height"] = max(cfg["height"], cfg["dilation"][0])
    cfg["width"] = max(cfg["width"], cfg["dilation"][1])
    x = draw(mt.distinct_arrays(input_shape(cfg)))
    return cfg, x, draw(st.booleans())


@st.composite
def avg_pool_case(draw):
    cfg = draw(mt.pool2d_configs(dilation=False))
    x = draw(mt.arrays(input_shape(cfg)))
    return cfg, x, draw(st.booleans()), draw(st.booleans())


def max_kwargs(cfg, ceil_mode):
    return dict(
        kernel_size=cfg["kernel_size"],
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        ceil_mode=ceil_mode,
    )


# --------------------------------------------------------------------------- max pooling


@given(case=max_pool_case())
def test_max_pool2d(case, device):
    cfg, x, ceil_mode = case
    kwargs = max_kwargs(cfg, ceil_mode)
    y = F.max_pool2d(mg.tensor(x, device=device), **kwargs)
    expected = ref_max_pool2d(
        x, cfg["kernel_size"], cfg["stride"], cfg["padding"], cfg["dilation"], ceil_mode
    )
    np.testing.assert_array_equal(y.numpy(), expected)
    gradcheck(lambda t: F.max_pool2d(t, **kwargs), [x], device=device)


@settings(max_examples=6)
@given(case=max_pool_case())
def test_max_pool2d_channels_last_matches_contiguous(case, device):
    cfg, x, ceil_mode = case
    results = []
    for xt in (mg.tensor(x, device=device), channels_last(x, device)):
        xt.requires_grad_()
        y = F.max_pool2d(xt, **max_kwargs(cfg, ceil_mode))
        y.backward(mg.tensor(np.arange(y.numel()).reshape(y.shape) + 1.0, device=device))
        results.append((y.numpy(), backend.to_host(xt.grad)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_max_pool2d_ties_route_to_first_maximum(device):
    """PyTorch gives a tied window's whole gradient to its first maximum in row-major order."""
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [2.0, 0.0, 2.0]]]])
    xt = mg.tensor(x, device=device, requires_grad=True)
    y = F.max_pool2d(xt, 2, stride=1)
    y.backward(mg.tensor(np.array([[[[1.0, 10.0], [100.0, 1000.0]]]]), device=device))
    np.testing.assert_array_equal(y.numpy(), [[[[1.0, 2.0], [2.0, 2.0]]]])
    expected = [[[[1.0, 0.0, 0.0], [0.0, 0.0, 1010.0], [100.0, 0.0, 0.0]]]]
    np.testing.assert_array_equal(backend.to_host(xt.grad), expected)


@pytest.mark.parametrize("width", [4, 5])
def test_max_pool2d_2x2_ties_after_relu(width, device):
    """All-zero windows (ReLU output) send their gradient to the top-left entry only, on the
    tiling path (no zeroing) and the non-tiling one (a leftover column)."""
    x = np.zeros((1, 2, 4, width))
    x[0, 1, 1, 1] = 3.0
    xt = mg.tensor(x, device=device, requires_grad=True)
    y = F.max_pool2d(xt, 2)
    y.backward(mg.tensor(np.ones(y.shape), device=device))
    expected = np.zeros_like(x)
    expected[0, :, ::2, 0 : 2 * (width // 2) : 2] = 1.0
    expected[0, 1, 0, 0] = 0.0
    expected[0, 1, 1, 1] = 1.0
    np.testing.assert_array_equal(backend.to_host(xt.grad), expected)


def ref_max_pool_grad(x, dout, kernel):
    """dx of a tiling max-pool: each window's dout goes to its first maximum (row-major)."""
    dx = np.zeros_like(x)
    kh, kw = kernel
    for n, c, p, q in np.ndindex(*dout.shape):
        window = x[n, c, p * kh : (p + 1) * kh, q * kw : (q + 1) * kw]
        i, j = np.unravel_index(np.argmax(window), window.shape)  # argmax: first maximum
        dx[n, c, p * kh + i, q * kw + j] += dout[n, c, p, q]
    return dx


@given(
    ints=st.booleans(),
    kernel=st.sampled_from([(2, 2), (2, 3), (1, 2)]),
    data=st.data(),
)
def test_tiled_max_pool_gradient_with_and_without_ties(ints, kernel, data, device):
    # small integers tie in most windows; distinct values never do
    shape = (2, 3, 2 * kernel[0], 2 * kernel[1])
    if ints:
        x = data.draw(hnp.arrays(np.float64, shape, elements=st.integers(-1, 1).map(float)))
    else:
        x = data.draw(mt.distinct_arrays(shape))
    dout = np.arange(1.0, 1 + 2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    xt = mg.tensor(x, device=device, requires_grad=True)
    F.max_pool2d(xt, kernel).backward(mg.tensor(dout, device=device))
    np.testing.assert_array_equal(backend.to_host(xt.grad), ref_max_pool_grad(x, dout, kernel))


def test_max_pool2d_2x2_is_channels_last_and_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.permutation(2 * 3 * 8 * 6).reshape(2, 3, 8, 6).astype(np.float32)
    xt = channels_last(x, "cpu")
    y = F.max_pool2d(xt, 2)
    assert y.data.transpose(0, 2, 3, 1).flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(
        y.numpy(), ref_max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    )


@pytest.mark.parametrize("kernel, shape", [((2, 2), (2, 3, 4, 6)), ((3, 2), (1, 2, 6, 4))])
def test_tiling_windows(kernel, shape, device):
    """kernel == stride on exact multiples takes the whole-array path; check it on both pools,
    with ties (an all-zero channel) for max."""
    x = np.random.default_rng(8).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    x[:, 0] = 0.0
    xt = mg.tensor(x, device=device, requires_grad=True)
    y = F.max_pool2d(xt, kernel)
    y.backward(mg.tensor(np.arange(y.numel()).reshape(y.shape) + 1.0, device=device))
    np.testing.assert_array_equal(
        y.numpy(), ref_max_pool2d(x, kernel, kernel, (0, 0), (1, 1), False)
    )
    expected = np.zeros_like(x)
    grads = np.arange(y.numel()).reshape(y.shape) + 1.0
    for p in range(y.shape[2]):
        for q in range(y.shape[3]):
            block = x[
                :, :, p * kernel[0] : (p + 1) * kernel[0], q * kernel[1] : (q + 1) * kernel[1]
            ]
            flat = block.reshape(shape[0], shape[1], -1).argmax(axis=2)  # first maximum
            for n in range(shape[0]):
                for c in range(shape[1]):
                    i, j = divmod(flat[n, c], kernel[1])
                    expected[n, c, p * kernel[0] + i, q * kernel[1] + j] = grads[n, c, p, q]
    np.testing.assert_array_equal(backend.to_host(xt.grad), expected)
    y = F.avg_pool2d(mg.tensor(x, device=device), kernel)
    np.testing.assert_allclose(y.numpy(), ref_avg_pool2d(x, kernel, kernel, (0, 0), False, True))
    gradcheck(lambda t: F.avg_pool2d(t, kernel), [x], device=device)


@given(data=st.data(), kernel=st.integers(1, 3), stride=st.integers(1, 3))
def test_max_pool1d(data, kernel, stride, device):
    padding = data.draw(st.integers(0, kernel // 2))
    length = data.draw(st.integers(max(1, kernel - 2 * padding), 7))
    x = data.draw(mt.distinct_arrays((2, 2, length)))
    y = F.max_pool1d(mg.tensor(x, device=device), kernel, stride, padding)
    expected = ref_max_pool2d(x[:, :, None], (1, kernel), (1, stride), (0, padding), (1, 1), False)
    np.testing.assert_array_equal(y.numpy(), expected[:, :, 0])
    gradcheck(lambda t: F.max_pool1d(t, kernel, stride, padding), [x], device=device)


# --------------------------------------------------------------------------- average pooling


@given(case=avg_pool_case())
def test_avg_pool2d(case, device):
    cfg, x, ceil_mode, count_include_pad = case
    kwargs = dict(
        kernel_size=cfg["kernel_size"],
        stride=cfg["stride"],
        padding=cfg["padding"],
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )
    y = F.avg_pool2d(mg.tensor(x, device=device), **kwargs)
    expected = ref_avg_pool2d(
        x, cfg["kernel_size"], cfg["stride"], cfg["padding"], ceil_mode, count_include_pad
    )
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    gradcheck(lambda t: F.avg_pool2d(t, **kwargs), [x], device=device)


@given(data=st.data(), kernel=st.integers(1, 3), stride=st.integers(1, 3))
def test_avg_pool1d(data, kernel, stride, device):
    padding = data.draw(st.integers(0, kernel // 2))
    length = data.draw(st.integers(max(1, kernel - 2 * padding), 7))
    x = data.draw(mt.arrays((2, 2, length)))
    y = F.avg_pool1d(mg.tensor(x, device=device), kernel, stride, padding, True, False)
    expected = ref_avg_pool2d(x[:, :, None], (1, kernel), (1, stride), (0, padding), True, False)
    np.testing.assert_allclose(y.numpy(), expected[:, :, 0], rtol=1e-12, atol=1e-12)
    gradcheck(lambda t: F.avg_pool1d(t, kernel, stride, padding, True, False), [x], device=device)


# --------------------------------------------------------------------------- adaptive pooling


@given(
    data=st.data(),
    out=st.tuples(st.integers(1, 4) | st.none(), st.integers(1, 4) | st.none()),
)
def test_adaptive_avg_pool2d(data, out, device):
    shape = (2, 2, data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7)))
    x = data.draw(mt.arrays(shape))
    y = F.adaptive_avg_pool2d(mg.tensor(x, device=device), out)
    full = tuple(n if o is None else o for o, n in zip(out, shape[2:]))
    np.testing.assert_allclose(y.numpy(), ref_adaptive_avg_pool2d(x, full), rtol=1e-12, atol=1e-12)
    gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), [x], device=device)


@pytest.mark.parametrize("out", [1, (1, 1), 2, (3, 2)])
def test_adaptive_avg_pool2d_int_global_and_divisible(out, device):
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 4))
    y = F.adaptive_avg_pool2d(mg.tensor(x, device=device), out)
    pair = (out, out) if isinstance(out, int) else out
    np.testing.assert_allclose(y.numpy(), ref_adaptive_avg_pool2d(x, pair), rtol=1e-12)
    gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), [x[:1]], device=device)


@given(data=st.data(), out=st.integers(1, 5))
def test_adaptive_avg_pool1d(data, out, device):
    x = data.draw(mt.arrays((2, 2, data.draw(st.integers(1, 8)))))
    y = F.adaptive_avg_pool1d(mg.tensor(x, device=device), out)
    expected = ref_adaptive_avg_pool2d(x[:, :, None], (1, out))[:, :, 0]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    gradcheck(lambda t: F.adaptive_avg_pool1d(t, out), [x], device=device)


# --------------------------------------------------------------------------- errors


def test_pooling_errors():
    x = mg.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match="padding .* at most half"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="padding .* at most half"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="input must have 4 dims"):
        F.max_pool2d(mg.randn(2, 5, 5), 2)
    with pytest.raises(ValueError, match="too small"):
        F.max_pool2d(x, 6)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        F.avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(x, (2, 0))
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(x, (2, 2, 2))
