"""Parity of F.interpolate and nn.Upsample with PyTorch (skipped without torch): forward values
and input gradients in float64 to 1e-12, nearest and (bi)linear, align_corners both ways,
size and scale_factor (recomputed or not)."""

import numpy as np
import pytest
from helpers import assert_pairs_close, run_with_torch

from minigrad import functional as F
from minigrad import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

SHAPES = [(2, 3, 5, 7), (1, 2, 6, 4), (1, 1, 1, 3)]
SIZE_OR_SCALE = [
    dict(size=(9, 4)),
    dict(size=(2, 11)),
    dict(size=5),
    dict(scale_factor=2),
    dict(scale_factor=(0.5, 1.7)),
    dict(scale_factor=1.3),  # keeps one axis's size on some shapes
    dict(scale_factor=(2.5, 0.8), recompute_scale_factor=True),
]
MODES = [
    ("nearest", None),
    ("nearest-exact", None),
    ("bilinear", False),
    ("bilinear", True),
]


def assert_parity(ours, theirs, x_shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(x_shape)
    assert_pairs_close(run_with_torch(torch, ours, theirs, [x], seed=seed), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode, align_corners", MODES)
@pytest.mark.parametrize("kwargs", SIZE_OR_SCALE, ids=lambda k: "-".join(map(str, k.values())))
@pytest.mark.parametrize("shape", SHAPES)
def test_interpolate_2d(shape, kwargs, mode, align_corners):
    if shape[2] * min(np.ravel(kwargs.get("scale_factor", 1))) < 1:
        pytest.skip("the scale factor leaves no rows")
    args = dict(kwargs, mode=mode, align_corners=align_corners)
    assert_parity(lambda t: F.interpolate(t, **args), lambda t: TF.interpolate(t, **args), shape)


@pytest.mark.parametrize(
    "mode, align_corners", [("nearest", None), ("linear", False), ("linear", True)]
)
@pytest.mark.parametrize("kwargs", [dict(size=11), dict(size=3), dict(scale_factor=1.6)])
def test_interpolate_1d(kwargs, mode, align_corners):
    args = dict(kwargs, mode=mode, align_corners=align_corners)
    assert_parity(
        lambda t: F.interpolate(t, **args), lambda t: TF.interpolate(t, **args), (2, 3, 7)
    )


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Upsample", dict(scale_factor=2, mode="bilinear")),
        ("Upsample", dict(size=(3, 9), mode="nearest")),
        ("UpsamplingNearest2d", dict(scale_factor=3)),
        ("UpsamplingBilinear2d", dict(size=(8, 8))),
    ],
)
def test_upsample_layers(name, kwargs):
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert_parity(ours, theirs, (2, 2, 4, 5))
