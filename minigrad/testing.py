"""Hypothesis strategies for testing layers (yours and minigrad's), plus test profiles.
Inputs are valid BY CONSTRUCTION: hypothesis shrinks towards 0 and towards repeated values,
exactly onto kinks and ties, so filtering with assume() would test the wrong thing.
Read gradcheck.py before this file; progress.py and train.py come next.

    import minigrad.testing as mt
    @given(x=mt.arrays(mt.shapes(max_dims=3), kinks=(0.0,)))
    def test_my_relu(x): gradcheck(my_relu, [x])
"""

import math

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# --------------------------------------------------------------------------- profiles

settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def load_profile(name=None):
    """Load 'dev' (default), 'ci' (few examples, derandomized) or 'thorough'."""
    settings.load_profile(name or "dev")


# --------------------------------------------------------------------------- shapes


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    """Array shapes, e.g. (), (3,), (2, 1, 4)."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5):
    """A tuple of `num_shapes` shapes that broadcast together (sizes 1 included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda result: result.input_shapes)


@st.composite
def matmul_shapes(draw, max_batch_dims=2, max_side=5):
    """(a_shape, b_shape) that matmul accepts: vectors, matrices and broadcast batches."""
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    batch = draw(broadcastable_shapes(2, 0, max_batch_dims, max_side=3))
    a_kind = draw(st.sampled_from(["vector", "matrix"]))
    b_kind = draw(st.sampled_from(["vector", "matrix"]))
    a = (k,) if a_kind == "vector" else batch[0] + (n, k)
    b = (k,) if b_kind == "vector" else batch[1] + (k, m)
    return a, b


# --------------------------------------------------------------------------- values


def _intervals(low, high, kinks, margin):
    """The pieces of [low, high] that stay at least `margin` away from every kink."""
    edges = [low] + sorted(k for k in kinks if low < k < high) + [high]
    pieces = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        lo = a if i == 0 else a + margin
        hi = b if i == len(edges) - 2 else b - margin
        if hi > lo:
            pieces.append((lo, hi))
    if not pieces:
        raise ValueError(f"no room in [{low}, {high}] at distance {margin} from kinks {kinks}")
    return pieces


def floats(low=-3.0, high=3.0, kinks=(), margin=0.1):
    """Floats in [low, high] at least `margin` away from each kink (by construction)."""
    pieces = _intervals(low, high, kinks, margin)
    return st.one_of(
        *[st.floats(lo, hi, allow_nan=False, allow_infinity=False) for lo, hi in pieces]
    )


def arrays(shape, low=-3.0, high=3.0, kinks=(), margin=0.1, dtype=np.float64):
    """Float arrays of `shape` (a tuple or a strategy) with values kept off `kinks`."""
    return hnp.arrays(dtype, shape, elements=floats(low, high, kinks, margin))


@st.composite
def distinct_arrays(draw, shape, gap=0.1, scale=1.0):
    """Arrays whose values differ pairwise by at least `gap`: a shuffled, shifted ladder.

    Max, max-pool, sort and median are only differentiable without ties."""
    if not isinstance(shape, tuple):
        shape = draw(shape)
    n = math.prod(shape)
    order = draw(st.permutations(list(range(n)))) if n else []
    offset = draw(st.floats(-1.0, 1.0))
    jitter = draw(st.floats(0.0, gap * 0.4))
    values = (np.asarray(order, dtype=np.float64) - n / 2) * gap * scale + offset + jitter
    return values.reshape(shape)


@st.composite
def well_conditioned(draw, shape, axes=None, min_std=0.5):
    """Arrays whose slices along `axes` have a std of at least `min_std` (for normalisation).

    Built as a fixed spread (+-1 pattern) times a drawn scale plus drawn noise, so no slice
    can collapse to a constant however hypothesis shrinks."""
    if not isinstance(shape, tuple):
        shape = draw(shape)
    noise = draw(arrays(shape, -0.3, 0.3))
    pattern = np.where(np.indices(shape).sum(axis=0) % 2 == 0, 1.0, -1.0) if shape else 1.0
    scale = draw(st.floats(min_std * 1.5, 3.0))
    shift = draw(st.floats(-2.0, 2.0))
    return pattern * scale + noise + shift


def dropout_masks(shape, p=None):
    """Boolean keep-masks (True = kept) of `shape` with a drawn or given drop probability."""
    probability = st.just(p) if p is not None else st.floats(0.0, 0.9)
    return probability.flatmap(
        lambda q: hnp.arrays(bool, shape, elements=st.booleans() if 0 < q < 1 else st.just(q < 1))
    )


# --------------------------------------------------------------------------- layer configs


@st.composite
def conv2d_configs(draw, max_batch=2, max_channels=4, max_kernel=3, max_out=4, groups=True):
    """Always-valid conv2d settings; the input size is derived so the output is 1..max_out.

    Kernel, stride, padding, dilation are drawn per axis (non-square), groups divide both
    channel counts. Returns a dict: batch, in_channels, out_channels, kernel_size, stride,
    padding, dilation, groups, height, width."""
    g = draw(st.integers(1, 2)) if groups else 1
    cin = g * draw(st.integers(1, max(1, max_channels // g)))
    cout = g * draw(st.integers(1, max(1, max_channels // g)))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, (k - 1) * d // 2 + 1)) for k, d in zip(kernel, dilation))
    size = []
    for k, s, p, d in zip(kernel, stride, padding, dilation):
        out = draw(st.integers(1, max_out))
        extra = draw(st.integers(0, s - 1))
        span = d * (k - 1) + 1
        size.append(max(1, (out - 1) * s + span - 2 * p + extra))
    return {
        "batch": draw(st.integers(1, max_batch)),
        "in_channels": cin,
        "out_channels": cout,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": g,
        "height": size[0],
        "width": size[1],
    }


@st.composite
def pool2d_configs(draw, max_batch=2, max_channels=3, max_kernel=3, max_out=4, dilation=True):
    """Always-valid max/avg-pool settings (padding <= kernel/2, as PyTorch requires).

    Returns a dict: batch, channels, kernel_size, stride, padding, dilation, height, width."""
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = []
    for k, s, p, d in zip(kernel, stride, padding, dil):
        out = draw(st.integers(1, max_out))
        span = d * (k - 1) + 1
        # at least d wide: otherwise a window could fall wholly in the padding (max = -inf)
        size.append(max(span - 2 * p, (out - 1) * s + span - 2 * p, d, 1))
    return {
        "batch": draw(st.integers(1, max_batch)),
        "channels": draw(st.integers(1, max_channels)),
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dil,
        "height": size[0],
        "width": size[1],
    }


@st.composite
def norm_configs(draw, max_batch=4, max_channels=4, max_spatial=4, spatial_dims=2):
    """Shapes for normalisation layers: (N, C, *spatial) with N*spatial >= 2 per channel."""
    batch = draw(st.integers(2, max_batch))
    channels = draw(st.integers(1, max_channels))
    spatial = tuple(draw(st.integers(1, max_spatial)) for _ in range(spatial_dims))
    return (batch, channels) + spatial
