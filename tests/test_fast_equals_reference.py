"""The fast layer equals the textbook references, values AND gradients, on every config strategy
of minigrad.testing: conv2d/conv1d/conv_transpose2d, max/avg pooling, the five norms and
cross-entropy. Inputs come in both memory layouts (NCHW and channels-last), since the fast
paths branch on the layout (the NumPy tricks of minigrad/fast/arrays.py apply to one only)."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_losses import class_cases

import minigrad as mg
from minigrad import backend
from minigrad import functional as F
from minigrad import testing as mt
from minigrad.functional import conv, normalization, pooling
from minigrad.functional.cross_entropy import cross_entropy_reference

TOL = dict(rtol=1e-10, atol=1e-10)


def tensor(a, device, channels_last=False):
    """A float64 Tensor of `a` on `device`; channels_last stores a 4-d array as NHWC memory
    behind its NCHW shape (what a conv hands the next layer)."""
    if not channels_last or np.ndim(a) != 4:
        return mg.tensor(a, device=device, requires_grad=True)
    xp = backend.namespace(device)
    nhwc = backend.to_device(np.ascontiguousarray(np.transpose(a, (0, 2, 3, 1))), device)
    return mg.Tensor(xp.permute_dims(nhwc, (0, 3, 1, 2)), requires_grad=True)


def outputs_and_grads(fn, arrays, device, channels_last):
    """fn(*tensors), then one backward of a fixed random upstream gradient: y and each input's
    gradient as host arrays (None entries of `arrays` are passed through as None)."""
    tensors = [None if a is None else tensor(a, device, channels_last) for a in arrays]
    y = fn(*tensors)
    dout = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(mg.tensor(dout, device=device))
    grads = [backend.to_host(t.grad) for t in tensors if t is not None]
    return [y.numpy()] + grads


def assert_same(fast, reference, arrays, device, channels_last=False):
    got = outputs_and_grads(fast, arrays, device, channels_last)
    expected = outputs_and_grads(reference, arrays, device, channels_last)
    assert len(got) == len(expected)
    for mine, ref in zip(got, expected):
        assert mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref, **TOL)


def assert_equals_reference(module, name, arrays, device, channels_last=False, args=(), **kwargs):
    """F.<name>(x, *args, *rest, **kwargs) equals <module>.<name>_reference(the same), where
    x, *rest are Tensors of `arrays`."""
    twins = [getattr(F, name), getattr(module, f"{name}_reference")]
    calls = [lambda t, *rest, fn=fn: fn(t, *args, *rest, **kwargs) for fn in twins]
    assert_same(*calls, arrays, device, channels_last)


# --------------------------------------------------------------------------- convolution


@st.composite
def conv_case(draw):
    """mt.conv2d_configs with input, weight and (maybe) bias arrays drawn to match."""
    cfg = draw(mt.conv2d_configs())
    x = draw(mt.arrays((cfg["batch"], cfg["in_channels"], cfg["height"], cfg["width"])))
    w_shape = (cfg["out_channels"], cfg["in_channels"] // cfg["groups"], *cfg["kernel_size"])
    w = draw(mt.arrays(w_shape))
    b = draw(st.none() | mt.arrays((cfg["out_channels"],)))
    kwargs = {k: cfg[k] for k in ("stride", "padding", "dilation", "groups")}
    return x, w, b, kwargs


@settings(max_examples=30)
@given(case=conv_case(), channels_last=st.booleans())
def test_conv2d_equals_reference(case, channels_last, device):
    x, w, b, kwargs = case
    assert_equals_reference(conv, "conv2d", [x, w, b], device, channels_last, **kwargs)


@settings(max_examples=15)
@given(case=conv_case(), same=st.booleans())
def test_conv1d_equals_reference(case, same, device):
    x, w, b, kwargs = case  # the width axis of a conv2d config
    kwargs = {k: v[1] if isinstance(v, tuple) else v for k, v in kwargs.items()}
    if same:
        kwargs.update(stride=1, padding="same")
    assert_equals_reference(conv, "conv1d", [x[:, :, 0], w[:, :, 0], b], device, **kwargs)


@settings(max_examples=20)
@given(case=conv_case(), data=st.data())
def test_conv_transpose2d_equals_reference(case, data, device):
    # the transposed conv maps a conv's output shape back: its weight is (F, C/G, KH, KW)
    x, w, _, kwargs = case
    y_shape = F.conv2d(mg.tensor(x), mg.tensor(w), **kwargs).shape
    limits = [max(s, d) - 1 for s, d in zip(kwargs["stride"], kwargs["dilation"])]
    output_padding = tuple(data.draw(st.integers(0, n)) for n in limits)
    kwargs = dict(kwargs, output_padding=output_padding)
    sizes = zip(y_shape[2:], kwargs["stride"], kwargs["padding"], kwargs["dilation"], w.shape[2:])
    out = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in sizes]
    assume(min(out) >= 1)  # a padding larger than the transposed conv's reach
    weight = data.draw(mt.arrays((y_shape[1], w.shape[0] // kwargs["groups"], *w.shape[2:])))
    b = data.draw(st.none() | mt.arrays((weight.shape[1] * kwargs["groups"],)))
    z = data.draw(mt.arrays(y_shape))
    layout = data.draw(st.booleans())
    assert_equals_reference(conv, "conv_transpose2d", [z, weight, b], device, layout, **kwargs)


# --------------------------------------------------------------------------- pooling


def pool_shape(cfg):
    return (cfg["batch"], cfg["channels"], cfg["height"], cfg["width"])


def pool_kwargs(cfg, *names):
    return {name: cfg[name] for name in ("kernel_size", "stride", "padding") + names}


@settings(max_examples=30)
@given(
    cfg=mt.pool2d_configs(),
    ties=st.booleans(),
    data=st.data(),
    ceil_mode=st.booleans(),
    channels_last=st.booleans(),
)
def test_max_pool2d_equals_reference(cfg, ties, data, ceil_mode, channels_last, device):
    # with ties (a few distinct values, as after a ReLU) both must route dout to the FIRST max
    shape = pool_shape(cfg)
    if ties:
        x = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.5, 1.0])))
    else:
        x = data.draw(mt.distinct_arrays(shape))
    kwargs = dict(pool_kwargs(cfg, "dilation"), ceil_mode=ceil_mode)
    assert_equals_reference(pooling, "max_pool2d", [x], device, channels_last, **kwargs)


@settings(max_examples=30)
@given(
    cfg=mt.pool2d_configs(dilation=False),
    data=st.data(),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    channels_last=st.booleans(),
)
def test_avg_pool2d_equals_reference(
    cfg, data, ceil_mode, count_include_pad, channels_last, device
):
    x = data.draw(mt.arrays(pool_shape(cfg)))
    kwargs = dict(pool_kwargs(cfg), ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    assert_equals_reference(pooling, "avg_pool2d", [x], device, channels_last, **kwargs)


# --------------------------------------------------------------------------- normalisation


@st.composite
def norm_case(draw, spatial_dims=2):
    """mt.norm_configs shapes, well-conditioned input, per-channel weight and bias (maybe None)."""
    shape = draw(mt.norm_configs(spatial_dims=spatial_dims))
    x = draw(mt.well_conditioned(shape, axes=(0,) + tuple(range(2, len(shape)))))
    affine = draw(st.booleans())
    w = draw(mt.arrays((shape[1],), 0.5, 2.0)) if affine else None
    b = draw(mt.arrays((shape[1],))) if affine else None
    return x, w, b


@settings(max_examples=25)
@given(case=norm_case(), channels_last=st.booleans(), momentum=st.sampled_from([0.1, 0.6]))
def test_batch_norm_equals_reference_with_running_stats(case, channels_last, momentum, device):
    x, w, b = case
    pairs = (F.batch_norm, normalization.batch_norm_reference)
    buffers = {fn: [mg.zeros(x.shape[1], device=device), mg.ones(x.shape[1], device=device)]
               for fn in pairs}  # fmt: skip

    def training(fn):
        def norm(t, *wb):
            return fn(t, *buffers[fn], *wb, training=True, momentum=momentum)

        return norm

    arrays = [x] if w is None else [x, w, b]
    assert_same(training(pairs[0]), training(pairs[1]), arrays, device, channels_last)
    for mine, ref in zip(*buffers.values()):  # the running statistics are blended alike
        np.testing.assert_allclose(mine.numpy(), ref.numpy(), **TOL)


@settings(max_examples=15)
@given(case=norm_case(), channels_last=st.booleans())
def test_instance_norm_equals_reference(case, channels_last, device):
    x, w, b = case
    assume(x.shape[2] * x.shape[3] > 1)  # instance norm needs two values per (sample, channel)
    arrays = [x] if w is None else [x, w, b]
    assert_equals_reference(
        normalization, "instance_norm", arrays, device, channels_last, (None, None)
    )


@settings(max_examples=20)
@given(case=norm_case(), groups=st.integers(1, 4), channels_last=st.booleans())
def test_group_norm_equals_reference(case, groups, channels_last, device):
    x, w, b = case
    groups = groups if x.shape[1] % groups == 0 else 1
    arrays = [x] if w is None else [x, w, b]
    assert_equals_reference(normalization, "group_norm", arrays, device, channels_last, (groups,))


@settings(max_examples=20)
@given(case=norm_case(), trailing=st.integers(1, 3), rms=st.booleans())
def test_layer_and_rms_norm_equal_reference(case, trailing, rms, device):
    x, _, _ = case
    shape = x.shape[-trailing:]
    w = np.linspace(0.5, 2.0, int(np.prod(shape))).reshape(shape)
    b = np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape)
    arrays = [x, w] if rms else [x, w, b]
    name = "rms_norm" if rms else "layer_norm"
    assert_equals_reference(normalization, name, arrays, device, args=(shape,))


# --------------------------------------------------------------------------- cross-entropy


@settings(max_examples=30)
@given(case=class_cases(), soft=st.booleans(), data=st.data())
def test_cross_entropy_equals_reference(case, soft, data, device):
    # class ids (some ignored) from tests/test_losses.py, or class probabilities of x's shape
    x, target, weight, options = case
    options = dict(options, weight=weight)
    if soft:
        p = data.draw(mt.arrays(x.shape, low=0.1, high=1.0))
        target = p / p.sum(axis=1, keepdims=True)

    def with_target(fn):
        def loss(t, *soft_target):
            return fn(t, soft_target[0] if soft else target, **options)

        return loss

    arrays = [x, target] if soft else [x]
    assert_same(
        with_target(F.cross_entropy),
        with_target(cross_entropy_reference),
        arrays,
        device,
    )
