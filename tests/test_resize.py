"""Tests for functional/resize.py and nn/upsampling.py: interpolate against a pixel-by-pixel
reference written from PyTorch's coordinate rules in exact fractions, gradients by gradcheck,
errors. tests/parity/test_resize_parity.py compares with PyTorch itself."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.functional.resize import resize_matrix
from minigrad.gradcheck import gradcheck

# --------------------------------------------------------------------------- reference


def source(o, in_size, out_size, scale_factor, mode, align_corners, dims):
    """The exact source coordinate of output position o (a Fraction) on a `dims`-D image."""
    if mode in ("linear", "bilinear") and out_size == in_size:
        return Fraction(o)  # PyTorch copies an axis that keeps its size
    if mode == "nearest" and dims == 2 and out_size in (in_size, 2 * in_size):
        return Fraction(o * in_size, out_size)  # a copy, or o // 2, whatever scale_factor says
    if mode in ("linear", "bilinear") and align_corners:
        return Fraction(o * (in_size - 1), max(out_size - 1, 1))
    scale = Fraction(in_size, out_size) if scale_factor is None else 1 / Fraction(scale_factor)
    if mode == "nearest":
        return o * scale
    if mode == "nearest-exact":
        return (o + Fraction(1, 2)) * scale
    return max((o + Fraction(1, 2)) * scale - Fraction(1, 2), Fraction(0))


def taps(o, in_size, out_size, scale_factor, mode, align_corners, dims=1):
    """[(input position, weight)] that output position o reads."""
    src = source(o, in_size, out_size, scale_factor, mode, align_corners, dims)
    i0 = min(math.floor(src), in_size - 1)
    if mode.startswith("nearest"):
        return [(i0, 1.0)]
    lam = float(min(max(src - i0, 0), 1))
    return [(i0, 1 - lam), (min(i0 + 1, in_size - 1), lam)]


def reference(x, out_sizes, scale_factors, mode, align_corners):
    """Every output pixel as the weighted sum of the input pixels it reads."""
    spatial = x.shape[2:]
    out = np.zeros(x.shape[:2] + tuple(out_sizes))
    for index in np.ndindex(*out_sizes):
        per_axis = [
            taps(o, n, m, s, mode, align_corners, len(spatial))
            for o, n, m, s in zip(index, spatial, out_sizes, scale_factors)
        ]
        for combo in np.ndindex(*[len(t) for t in per_axis]):
            source_index = tuple(per_axis[a][k][0] for a, k in enumerate(combo))
            weight = math.prod(per_axis[a][k][1] for a, k in enumerate(combo))
            out[(..., *index)] += weight * x[(..., *source_index)]
    return out


# --------------------------------------------------------------------------- cases

MODE_AND_DIMS = st.sampled_from(
    [("nearest", 3), ("nearest", 4), ("nearest-exact", 4), ("linear", 3), ("bilinear", 4)]
)
SCALES = st.sampled_from([0.5, 0.75, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0])  # 1.3 keeps sizes 1..3


@st.composite
def resize_cases(draw, max_side=5):
    """(x, kwargs, out sizes, scale factors for the reference) of one valid interpolate call."""
    mode, ndim = draw(MODE_AND_DIMS)
    spatial = draw(st.lists(st.integers(1, max_side), min_size=ndim - 2, max_size=ndim - 2))
    x = draw(hnp.arrays(np.float64, (2, 2, *spatial), elements=st.floats(-3, 3)))
    kwargs = {"mode": mode}
    if not mode.startswith("nearest"):
        kwargs["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        sizes = draw(st.lists(st.integers(1, 7), min_size=ndim - 2, max_size=ndim - 2))
        kwargs["size"] = tuple(sizes) if len(sizes) > 1 else sizes[0]
        return x, kwargs, sizes, [None] * len(sizes)
    scales = [draw(SCALES.filter(lambda s, n=n: math.floor(n * s) >= 1)) for n in spatial]
    kwargs["scale_factor"] = tuple(scales)
    return x, kwargs, [math.floor(n * s) for n, s in zip(spatial, scales)], scales


@settings(max_examples=40)
@given(case=resize_cases())
def test_interpolate_matches_the_reference(case, device):
    x, kwargs, sizes, scales = case
    y = F.interpolate(mg.tensor(x, device=device), **kwargs)
    assert y.device == device and y.shape == x.shape[:2] + tuple(sizes)
    expected = reference(x, sizes, scales, kwargs["mode"], kwargs.get("align_corners"))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=15)
@given(case=resize_cases(max_side=4))
def test_interpolate_gradients(case, device):
    x, kwargs, _, _ = case
    gradcheck(lambda t: F.interpolate(t, **kwargs), [x], device=device)


@pytest.mark.parametrize(
    "shape, mode, expected",
    [
        ((1, 1, 3), "linear", [0.0, 1.0, 2.0]),  # copied: the size stays 3
        ((1, 1, 1, 3), "bilinear", [0.0, 1.0, 2.0]),
        ((1, 1, 1, 3), "nearest", [0.0, 1.0, 2.0]),  # PyTorch's 2-D nearest copies too
        ((1, 1, 3), "nearest", [0.0, 0.0, 1.0]),  # but its 1-D one reads floor(o / 1.3)
        ((1, 1, 1, 3), "nearest-exact", [0.0, 1.0, 1.0]),  # floor((o + 0.5) / 1.3)
    ],
)
def test_an_axis_that_keeps_its_size(shape, mode, expected, device):
    x = mg.tensor(np.arange(3.0).reshape(shape), device=device)
    y = F.interpolate(x, scale_factor=1.3, mode=mode)
    np.testing.assert_array_equal(y.numpy().reshape(-1), expected)


def test_recompute_scale_factor_uses_in_over_out(device):
    x = np.arange(5.0).reshape(1, 1, 5)
    kept = F.interpolate(mg.tensor(x, device=device), scale_factor=1.7, mode="linear")
    recomputed = F.interpolate(
        mg.tensor(x, device=device), scale_factor=1.7, mode="linear", recompute_scale_factor=True
    )
    np.testing.assert_allclose(kept.numpy(), reference(x, [8], [1.7], "linear", False))
    np.testing.assert_allclose(recomputed.numpy(), reference(x, [8], [None], "linear", False))
    assert not np.allclose(kept.numpy(), recomputed.numpy())


def test_nearest_keeps_an_inf_where_it_is_read():
    x = np.array([[[1.0, np.inf, 3.0]]])
    np.testing.assert_array_equal(
        F.interpolate(mg.tensor(x), size=6).numpy(), [[[1, 1, np.inf, np.inf, 3, 3]]]
    )


def test_resize_matrix_rows_are_the_interpolation_weights():
    r = resize_matrix(4, 3, "linear")
    np.testing.assert_allclose(r.sum(axis=1), 1.0)
    x = np.random.default_rng(0).standard_normal(4)
    np.testing.assert_allclose(r @ x, reference(x[None, None], [3], [None], "linear", False)[0, 0])
    with pytest.raises(ValueError, match="mode must be nearest, nearest-exact or linear"):
        resize_matrix(4, 3, "bilinear")


@pytest.mark.parametrize(
    "x_shape, kwargs, message",
    [
        ((1, 1, 4, 4), {}, "exactly one of size and scale_factor"),
        ((1, 1, 4, 4), dict(size=2, scale_factor=2), "exactly one of size and scale_factor"),
        ((1, 1, 4, 4), dict(size=2, mode="bicubic"), "mode must be one of"),
        ((1, 1, 4, 4), dict(size=2, mode="linear"), "'linear' needs a 3-D input"),
        ((1, 1, 4), dict(size=2, mode="bilinear"), "'bilinear' needs a 4-D input"),
        ((1, 4), dict(size=2), "'nearest' needs a 3-D or 4-D input"),
        ((1, 1, 4, 4), dict(size=2, align_corners=True), "align_corners can only be set"),
        ((1, 1, 4, 4), dict(size=0), "size must hold ints >= 1"),
        ((1, 1, 4, 4), dict(size=2.5), "size must hold ints >= 1"),
        ((1, 1, 4, 4), dict(size=(2, 3, 4)), "size needs 2 values"),
        ((1, 1, 4, 4), dict(scale_factor=-1), "scale_factor must be finite and > 0"),
        ((1, 1, 4, 4), dict(scale_factor=0.1), "makes input .* empty"),
    ],
)
def test_bad_arguments_raise_clear_errors(x_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        F.interpolate(mg.zeros(*x_shape), **kwargs)


def test_bad_input_types_raise():
    with pytest.raises(TypeError, match="input must be a Tensor"):
        F.interpolate(np.zeros((1, 1, 2, 2)), size=3)
    with pytest.raises(TypeError, match="must be floating point"):
        F.interpolate(mg.tensor(np.zeros((1, 1, 2, 2), dtype=np.int64)), size=3)


# --------------------------------------------------------------------------- layers


def test_upsample_layers_call_interpolate(device):
    x = mg.tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 5)), device=device)
    pairs = [
        (nn.Upsample(scale_factor=2), dict(scale_factor=2.0)),
        (nn.Upsample(size=(3, 7), mode="bilinear"), dict(size=(3, 7), mode="bilinear")),
        (nn.UpsamplingNearest2d(size=6), dict(size=6)),
        (
            nn.UpsamplingBilinear2d(scale_factor=2),
            dict(scale_factor=2.0, mode="bilinear", align_corners=True),
        ),
    ]
    for layer, kwargs in pairs:
        np.testing.assert_array_equal(layer(x).numpy(), F.interpolate(x, **kwargs).numpy())
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert list(nn.Upsample(size=3).parameters()) == []
