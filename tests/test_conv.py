"""Tests for functional/conv.py: conv1d, conv2d and conv_transpose2d against direct-loop NumPy
references written from the definitions, gradients by gradcheck, layouts, fast paths, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend
from minigrad import functional as F
from minigrad import testing as mt
from minigrad.fast import arrays as fast_arrays
from minigrad.fast import conv as fast_conv
from minigrad.functional import conv as conv_module
from minigrad.gradcheck import gradcheck

# --------------------------------------------------------------------------- references


def reference(x, w, b=None, device="cpu", **kwargs):
    """conv2d_reference, the package's textbook conv (im2col from slices + one matmul), on host
    arrays; tests/test_fast_equals_reference.py holds it against F.conv2d on every config, and
    test_conv2d_reference_by_hand below checks it against numbers worked out by hand."""
    tensors = [None if a is None else mg.tensor(a, device=device) for a in (x, w, b)]
    return conv_module.conv2d_reference(*tensors, **kwargs).numpy()


def ref_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups):
    """Scatter each input pixel's weighted kernel into the output, then cut the padding."""
    n, c, h, wd = x.shape
    _, fg, kh, kw = w.shape
    cg = c // groups
    size = [
        (m - 1) * s + d * (k - 1) + 1 + op
        for m, s, d, k, op in zip((h, wd), stride, dilation, (kh, kw), output_padding)
    ]
    full = np.zeros((n, fg * groups, size[0], size[1]))
    for ci in range(c):
        g = ci // cg
        for p in range(h):
            for q in range(wd):
                for i in range(kh):
                    for j in range(kw):
                        r = p * stride[0] + i * dilation[0]
                        t = q * stride[1] + j * dilation[1]
                        full[:, g * fg : (g + 1) * fg, r, t] += (
                            x[:, ci, p, q, None] * w[ci, :, i, j]
                        )
    out = full[:, :, padding[0] : size[0] - padding[0], padding[1] : size[1] - padding[1]]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def channels_last(a, device):
    """The same values as `a` (B, C, H, W), stored NHWC on `device` behind the NCHW shape."""
    xp = backend.namespace(device)
    nhwc = backend.to_device(np.ascontiguousarray(a.transpose(0, 2, 3, 1)), device)
    return mg.Tensor(xp.permute_dims(nhwc, (0, 3, 1, 2)))


# --------------------------------------------------------------------------- strategies


@st.composite
def conv_case(draw, max_channels=4, max_out=4):
    """A conv2d config with input, weight and bias arrays drawn to match."""
    cfg = draw(mt.conv2d_configs(max_channels=max_channels, max_out=max_out))
    shape = (cfg["batch"], cfg["in_channels"], cfg["height"], cfg["width"])
    wshape = (cfg["out_channels"], cfg["in_channels"] // cfg["groups"], *cfg["kernel_size"])
    x = draw(mt.arrays(shape))
    w = draw(mt.arrays(wshape))
    b = draw(st.none() | mt.arrays((cfg["out_channels"],)))
    return cfg, x, w, b


@st.composite
def transpose_case(draw):
    """A conv_transpose2d config (output_padding < max(stride, dilation)) with arrays."""
    groups = draw(st.integers(1, 2))
    c = groups * draw(st.integers(1, 2))
    fg = draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    full = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip(size, stride, dilation, kernel)]
    padding = tuple(draw(st.integers(0, (f - 1) // 2)) for f in full)
    x = draw(mt.arrays((draw(st.integers(1, 2)), c, *size)))
    w = draw(mt.arrays((c, fg, *kernel)))
    b = draw(st.none() | mt.arrays((fg * groups,)))
    cfg = dict(stride=stride, padding=padding, output_padding=out_pad, groups=groups)
    return cfg, dilation, x, w, b


def conv_kwargs(cfg):
    return dict(
        stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"]
    )


# --------------------------------------------------------------------------- conv2d


@given(case=conv_case())
def test_conv2d_forward(case, device):
    cfg, x, w, b = case
    bias = None if b is None else mg.tensor(b, device=device)
    y = F.conv2d(mg.tensor(x, device=device), mg.tensor(w, device=device), bias, **conv_kwargs(cfg))
    expected = reference(x, w, b, device, **conv_kwargs(cfg))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_conv2d_reference_by_hand():
    # one 3x4 image, one 2x2 kernel, stride (1, 2), padding (0, 1): worked out on paper
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    # padded rows: [0 0 1 2 3 0], [0 4 5 6 7 0], [0 8 9 10 11 0]; windows start at cols 0, 2, 4
    expected = np.array([[[[0 + 0 + 0 + 16, 1 + 4 + 15 + 24, 3 + 0 + 21 + 0],
                           [0 + 8 + 0 + 32, 5 + 12 + 27 + 40, 7 + 0 + 33 + 0]]]]) + 0.5  # fmt: skip
    got = reference(x, w, np.array([0.5]), stride=(1, 2), padding=(0, 1))
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=8)
@given(case=conv_case(max_channels=2, max_out=3))
def test_conv2d_gradcheck_full(case, device):
    cfg, x, w, b = case
    kwargs = conv_kwargs(cfg)
    inputs = [x, w] if b is None else [x, w, b]
    gradcheck(lambda *t: F.conv2d(*t, **kwargs), inputs, device=device)


@settings(max_examples=8)
@given(case=conv_case(max_channels=2, max_out=3), trained=st.sampled_from(["xb", "b", "wb", "x"]))
def test_conv2d_gradients_when_only_some_inputs_need_them(case, trained, device):
    # the bias gradient comes from the weight GEMM's ones-column row, or from a sum when the
    # weight is frozen: each subset must get what training all three gets (gradchecked above)
    cfg, x, w, b = case
    if b is None:
        b = np.linspace(-1, 1, w.shape[0])
    kwargs = conv_kwargs(cfg)
    tensors = [
        mg.tensor(a, device=device, requires_grad=n in trained) for a, n in zip((x, w, b), "xwb")
    ]
    y = F.conv2d(*tensors, **kwargs)
    upstream = np.cos(np.arange(np.prod(y.shape))).reshape(y.shape)
    y.backward(mg.tensor(upstream, device=device))
    for name, t in zip("xwb", tensors):
        if name not in trained:
            assert t.grad is None
            continue
        ref = [mg.tensor(a, device=device, requires_grad=True) for a in (x, w, b)]
        F.conv2d(*ref, **kwargs).backward(mg.tensor(upstream, device=device))
        index = "xwb".index(name)
        np.testing.assert_allclose(
            backend.to_host(t.grad), backend.to_host(ref[index].grad), rtol=1e-12, atol=1e-12
        )


@given(
    shape=st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
    out_channels=st.integers(1, 4),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.sampled_from(["same", "valid", (1, 0), (0, 2), (2, 1)]),
    data=st.data(),
)
def test_conv2d_input_gradient_by_correlation_equals_col2im(
    shape, out_channels, kernel, dilation, padding, data, device
):
    # stride-1 convs may take dx as a correlation with the flipped kernel (when F <= C); both
    # ways must agree on every config, so force each in turn
    x = data.draw(mt.arrays(shape))
    w = data.draw(mt.arrays((out_channels, shape[1], *kernel)))
    pads = conv_module._conv_padding("t", padding, kernel, (1, 1), dilation)
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if any(n + sum(p) < s for n, p, s in zip(shape[2:], pads, spans)):
        return  # the kernel does not fit
    grads = []
    for correlate in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fast_conv, "_correlate_for_dx", lambda *a, c=correlate: c)
            xt = mg.tensor(x, device=device, requires_grad=True)
            y = F.conv2d(xt, mg.tensor(w, device=device), padding=padding, dilation=dilation)
            upstream = np.cos(np.arange(np.prod(y.shape))).reshape(y.shape)
            y.backward(mg.tensor(upstream, device=device))
        grads.append(backend.to_host(xt.grad))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_conv2d_correlation_path_is_taken_only_where_it_was_measured_faster():
    assert fast_conv._correlate_for_dx((32, 32, 3, 3), (1, 1), 1)
    assert not fast_conv._correlate_for_dx((64, 32, 3, 3), (1, 1), 1)  # F = 2C
    assert not fast_conv._correlate_for_dx((32, 32, 3, 3), (2, 1), 1)
    assert not fast_conv._correlate_for_dx((32, 16, 3, 3), (1, 1), 2)


@settings(max_examples=6)
@given(case=conv_case())
def test_conv2d_gradcheck_fast(case, device):
    cfg, x, w, b = case
    kwargs = conv_kwargs(cfg)
    inputs = [x, w] if b is None else [x, w, b]
    gradcheck(lambda *t: F.conv2d(*t, **kwargs), inputs, mode="fast", device=device)


@settings(max_examples=8)
@given(case=conv_case(), use_bias=st.booleans())
def test_conv2d_channels_last_input_matches_contiguous(case, use_bias, device):
    cfg, x, w, b = case
    w_t = mg.tensor(w, device=device)
    b_t = mg.tensor(b, device=device) if use_bias and b is not None else None
    contiguous = mg.tensor(x, device=device, requires_grad=True)
    strided = channels_last(x, device).requires_grad_()
    outs = []
    for xt in (contiguous, strided):
        y = F.conv2d(xt, w_t, b_t, **conv_kwargs(cfg))
        y.backward(mg.tensor(np.ones(y.shape), device=device))
        outs.append((y.numpy(), xt.grad))
    # equal up to rounding: the GEMM operands reach NumPy's matmul with different strides, and
    # it may pick different kernels for them, which can round an ulp apart (found by
    # hypothesis: a two-channel 1x1 kernel gave 3.7350823346177e-205 vs ...7006e-205)
    ulps = dict(rtol=4 * np.finfo(outs[0][0].dtype).eps, atol=0)
    np.testing.assert_allclose(outs[0][0], outs[1][0], **ulps)
    np.testing.assert_allclose(backend.to_host(outs[0][1]), backend.to_host(outs[1][1]), **ulps)


def test_conv2d_output_is_channels_last():
    """The output's memory is NHWC behind the NCHW shape: the next permute is free."""
    x = mg.randn(2, 3, 5, 6)
    y = F.conv2d(x, mg.randn(4, 3, 3, 3), padding=1)
    assert y.shape == (2, 4, 5, 6)
    assert y.data.transpose(0, 2, 3, 1).flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("kernel", [(2, 4), (3, 2), (4, 4)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv2d_same_padding_even_kernels(kernel, dilation, device):
    rng = np.random.default_rng(kernel[0] * 10 + kernel[1] + dilation)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((2, 3, *kernel))
    y = F.conv2d(
        mg.tensor(x, device=device), mg.tensor(w, device=device), padding="same", dilation=dilation
    )
    totals = [dilation * (k - 1) for k in kernel]
    pads = tuple((t // 2, t - t // 2) for t in totals)  # PyTorch puts the odd pixel at the end
    padded = np.pad(x, ((0, 0), (0, 0), *pads))
    expected = reference(padded, w, dilation=dilation)
    assert y.shape == (2, 2, 7, 6)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    small = (x[:1, :, :4, :5], w[:1])
    gradcheck(lambda a, b: F.conv2d(a, b, padding="same", dilation=dilation), small, device=device)


def test_conv2d_valid_padding_and_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 3)).astype(np.float32)
    y = F.conv2d(mg.tensor(x), mg.tensor(w), padding="valid")
    assert y.dtype == "float32"
    expected = reference(x.astype(float), w.astype(float))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conv2d_without_weight_grad_keeps_no_cols():
    x = mg.randn(1, 2, 4, 4, requires_grad=True)
    w = mg.randn(3, 2, 3, 3)
    y = F.conv2d(x, w)
    assert y._ctx.cols is None
    y.sum().backward()
    assert x.grad.shape == (1, 2, 4, 4) and w.grad is None


# --------------------------------------------------------------------------- conv1d


@given(
    data=st.data(),
    groups=st.integers(1, 2),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
)
def test_conv1d(data, groups, kernel, stride, dilation, device):
    c = groups * data.draw(st.integers(1, 2))
    f = groups * data.draw(st.integers(1, 2))
    padding = data.draw(st.integers(0, 2))
    length = data.draw(st.integers(max(1, dilation * (kernel - 1) + 1 - 2 * padding), 7))
    x = data.draw(mt.arrays((2, c, length)))
    w = data.draw(mt.arrays((f, c // groups, kernel)))
    b = data.draw(mt.arrays((f,)))
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = F.conv1d(
        mg.tensor(x, device=device),
        mg.tensor(w, device=device),
        mg.tensor(b, device=device),
        **kwargs,
    )
    expected = reference(
        x[:, :, None],
        w[:, :, None],
        b,
        stride=(1, stride),
        padding=(0, padding),
        dilation=(1, dilation),
        groups=groups,
    )[:, :, 0]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    gradcheck(lambda *t: F.conv1d(*t, **kwargs), [x, w, b], device=device)


def test_conv1d_same_padding():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 6))
    w = rng.standard_normal((3, 2, 4))
    y = F.conv1d(mg.tensor(x), mg.tensor(w), padding="same")
    padded = np.pad(x[:, :, None], ((0, 0), (0, 0), (0, 0), (1, 2)))  # odd pixel at the end
    expected = reference(padded, w[:, :, None])
    np.testing.assert_allclose(y.numpy(), expected[:, :, 0], rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- conv_transpose2d


@given(case=transpose_case())
def test_conv_transpose2d(case, device):
    cfg, dilation, x, w, b = case
    bias = None if b is None else mg.tensor(b, device=device)
    y = F.conv_transpose2d(
        mg.tensor(x, device=device), mg.tensor(w, device=device), bias, dilation=dilation, **cfg
    )
    expected = ref_conv_transpose2d(
        x, w, b, cfg["stride"], cfg["padding"], cfg["output_padding"], dilation, cfg["groups"]
    )
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    inputs = [x, w] if b is None else [x, w, b]
    gradcheck(lambda *t: F.conv_transpose2d(*t, dilation=dilation, **cfg), inputs, device=device)


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>: the two maps are adjoint."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    kwargs = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    y = F.conv2d(mg.tensor(x), mg.tensor(w), **kwargs).numpy()
    g = rng.standard_normal(y.shape)
    back = F.conv_transpose2d(mg.tensor(g), mg.tensor(w), output_padding=(0, 0), **kwargs)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * back.numpy()), rtol=1e-10)


# --------------------------------------------------------------------------- fast paths


@given(data=st.data())
def test_window_view_matches_slices(data):
    """arrays.window_view (NumPy strided view) == the portable slice loop, on strided input."""
    kernel = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    out = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    size = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out, stride, dilation, kernel)]
    x = data.draw(mt.arrays((2, 3, size[0] + 1, size[1], 4)))
    x = x[:, :, 1:]  # a non-contiguous view
    view = fast_arrays.window_view(x, kernel, stride, dilation, out)
    slices = fast_conv._windows_by_slices(x, kernel, stride, dilation, out)
    np.testing.assert_array_equal(view, slices)


def test_fast_paths_are_off_for_other_devices():
    x = backend.to_device(np.zeros((1, 3, 3, 1)), "strict")
    assert fast_arrays.window_view(x, (2, 2), (1, 1), (1, 1), (2, 2)) is None


# --------------------------------------------------------------------------- errors


def test_conv2d_errors():
    x = mg.randn(2, 3, 8, 8)
    with pytest.raises(
        ValueError, match=r"input has 3 channels, weight expects 1 \(weight shape \(32, 1, 3, 3\)"
    ):
        F.conv2d(x, mg.randn(32, 1, 3, 3))
    with pytest.raises(ValueError, match="input must have 4 dims"):
        F.conv2d(mg.randn(3, 8, 8), mg.randn(4, 3, 3, 3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv2d(x, mg.randn(4, 3, 9, 3))
    with pytest.raises(ValueError, match="groups=2 does not divide the 3 input channels"):
        F.conv2d(x, mg.randn(4, 1, 3, 3), groups=2)
    with pytest.raises(ValueError, match="does not divide the 3 output channels"):
        F.conv2d(mg.randn(1, 4, 5, 5), mg.randn(3, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="bias must have shape"):
        F.conv2d(x, mg.randn(4, 3, 3, 3), mg.randn(5))
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        F.conv2d(x, mg.randn(4, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="stride must be >= 1"):
        F.conv2d(x, mg.randn(4, 3, 3, 3), stride=0)
    with pytest.raises(TypeError, match="input must be a Tensor"):
        F.conv2d(np.zeros((1, 3, 4, 4)), mg.randn(4, 3, 3, 3))


def test_conv_transpose2d_errors():
    x = mg.randn(1, 4, 3, 3)
    with pytest.raises(ValueError, match="input has 4 channels, weight expects 2"):
        F.conv_transpose2d(x, mg.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, mg.randn(4, 3, 3, 3), stride=2, output_padding=2)
