"""Parity of convolution and pooling with PyTorch (skipped without torch): forward values and
every gradient in float64 to 1e-10, over strides, paddings, dilations, groups and modes."""

import numpy as np
import pytest
from helpers import assert_pairs_close, run_with_torch

from minigrad import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def run_both(ours, theirs, arrays, seed):
    return run_with_torch(torch, ours, theirs, arrays, seed=seed)


def assert_parity(pairs):
    assert_pairs_close(pairs, rtol=0, atol=1e-10)


CONV2D_CASES = [
    # (x shape, weight shape, kwargs)
    ((2, 3, 9, 7), (4, 3, 3, 3), dict(padding=1)),
    ((2, 4, 10, 8), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((1, 3, 8, 9), (5, 3, 4, 2), dict(padding="same")),
    ((1, 2, 11, 6), (3, 2, 2, 3), dict(padding="same", dilation=(2, 1))),
    ((2, 6, 7, 7), (6, 1, 3, 3), dict(stride=2, padding=1, groups=6)),
    ((2, 3, 5, 6), (2, 3, 1, 1), dict(padding="valid")),
    ((1, 4, 12, 13), (4, 4, 5, 3), dict(stride=(3, 2), padding=(2, 1), dilation=2)),
]


@pytest.mark.parametrize("xshape, wshape, kwargs", CONV2D_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(xshape, wshape, kwargs, bias):
    rng = np.random.default_rng(len(xshape) + sum(wshape))
    arrays = [rng.standard_normal(xshape), rng.standard_normal(wshape)]
    if bias:
        arrays.append(rng.standard_normal(wshape[0]))
    assert_parity(
        run_both(lambda *t: F.conv2d(*t, **kwargs), lambda *t: TF.conv2d(*t, **kwargs), arrays, 0)
    )


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2), dict(groups=2)],
)
def test_conv1d(kwargs):
    rng = np.random.default_rng(1)
    arrays = [
        rng.standard_normal((2, 4, 11)),
        rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3)),
    ]
    arrays.append(rng.standard_normal(6))
    assert_parity(
        run_both(lambda *t: F.conv1d(*t, **kwargs), lambda *t: TF.conv1d(*t, **kwargs), arrays, 1)
    )


@pytest.mark.parametrize(
    "xshape, wshape, kwargs",
    [
        ((2, 3, 4, 5), (3, 4, 3, 3), dict(stride=2, padding=1, output_padding=1)),
        ((1, 4, 3, 3), (4, 3, 2, 3), dict(stride=(3, 2), output_padding=(2, 1), groups=2)),
        ((2, 2, 5, 4), (2, 2, 3, 2), dict(padding=(1, 0), dilation=(2, 1))),
        ((1, 2, 3, 3), (2, 2, 3, 3), dict(stride=1, dilation=2, output_padding=1)),
    ],
)
def test_conv_transpose2d(xshape, wshape, kwargs):
    rng = np.random.default_rng(2)
    groups = kwargs.get("groups", 1)
    arrays = [rng.standard_normal(xshape), rng.standard_normal(wshape)]
    arrays.append(rng.standard_normal(wshape[1] * groups))
    assert_parity(
        run_both(
            lambda *t: F.conv_transpose2d(*t, **kwargs),
            lambda *t: TF.conv_transpose2d(*t, **kwargs),
            arrays,
            2,
        )
    )


POOL_KWARGS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True),
]


@pytest.mark.parametrize("kwargs", POOL_KWARGS + [dict(kernel_size=(2, 3), dilation=(2, 1))])
def test_max_pool2d(kwargs):
    x = np.random.default_rng(3).permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8) * 0.1
    assert_parity(
        run_both(lambda t: F.max_pool2d(t, **kwargs), lambda t: TF.max_pool2d(t, **kwargs), [x], 3)
    )


def test_max_pool2d_ties():
    x = np.round(np.random.default_rng(4).standard_normal((2, 2, 6, 7)))  # many equal values
    kwargs = dict(kernel_size=3, stride=1, padding=1)
    assert_parity(
        run_both(lambda t: F.max_pool2d(t, **kwargs), lambda t: TF.max_pool2d(t, **kwargs), [x], 4)
    )


@pytest.mark.parametrize("kwargs", POOL_KWARGS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(kwargs, count_include_pad):
    x = np.random.default_rng(5).standard_normal((2, 3, 9, 8))
    kw = dict(kwargs, count_include_pad=count_include_pad)
    assert_parity(
        run_both(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), [x], 5)
    )


@pytest.mark.parametrize("out", [1, (1, 1), 3, (4, 5), (None, 2), (7, None)])
def test_adaptive_avg_pool2d(out):
    x = np.random.default_rng(6).standard_normal((2, 3, 9, 8))
    assert_parity(
        run_both(
            lambda t: F.adaptive_avg_pool2d(t, out),
            lambda t: TF.adaptive_avg_pool2d(t, out),
            [x],
            6,
        )
    )


@pytest.mark.parametrize(
    "name, args",
    [
        ("max_pool1d", (3, 2, 1)),
        ("avg_pool1d", (3, 2, 1, True, False)),
        ("adaptive_avg_pool1d", (5,)),
    ],
)
def test_pool1d(name, args):
    x = np.random.default_rng(7).standard_normal((2, 3, 13))
    ours = getattr(F, name)
    theirs = getattr(TF, name)
    assert_parity(run_both(lambda t: ours(t, *args), lambda t: theirs(t, *args), [x], 7))
