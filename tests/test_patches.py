"""F.pad, F.unfold, F.fold (functional/patches.py) and F.one_hot: forward against NumPy
references, backward through gradcheck, fold as unfold's adjoint."""

import numpy as np
import pytest
from helpers import assert_forward, on
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
import minigrad.testing as mt
from minigrad import gradcheck


@st.composite
def patch_configs(draw):
    """(x shape, kernel, dilation, padding, stride) with at least one window."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = [
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
        for k, d, p in zip(kernel, dilation, padding)
    ]
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size)
    return shape, kernel, dilation, padding, stride


def np_unfold(x, kernel, dilation, padding, stride):
    """The direct definition: one column per window, rows ordered (c, i, j)."""
    b, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    cols = np.zeros((b, c, kernel[0], kernel[1], oh, ow))
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            for r in range(oh):
                for s in range(ow):
                    row = r * stride[0] + i * dilation[0]
                    col = s * stride[1] + j * dilation[1]
                    cols[:, :, i, j, r, s] = padded[:, :, row, col]
    return cols.reshape(b, c * kernel[0] * kernel[1], oh * ow)


@given(config=patch_configs(), data=st.data())
def test_unfold_and_fold(config, data, device):
    shape, kernel, dilation, padding, stride = config
    x = data.draw(mt.arrays(shape))
    kw = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    cols = assert_forward(
        lambda t: F.unfold(t, **kw),
        lambda v: np_unfold(v, kernel, dilation, padding, stride),
        [x],
        device,
    )
    gradcheck(lambda t: F.unfold(t, **kw), [x], device=device)
    c = data.draw(mt.arrays(cols.shape))
    folded = F.fold(on(device, c)[0], shape[2:], **kw).numpy()
    # fold is unfold's adjoint: <unfold(x), c> == <x, fold(c)>
    np.testing.assert_allclose(
        np.sum(np_unfold(x, kernel, dilation, padding, stride) * c), np.sum(x * folded)
    )
    gradcheck(lambda t: F.fold(t, shape[2:], **kw), [c], device=device)


def test_unbatched_input_and_errors(device):
    (x,) = on(device, np.arange(16.0).reshape(1, 4, 4))
    assert F.unfold(x, 2).shape == (4, 9)
    assert F.fold(F.unfold(x, 2), (4, 4), 2).shape == (1, 4, 4)
    with pytest.raises(ValueError, match="does not fit"):
        F.unfold(x, 5)
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        F.unfold(x, 0)
    with pytest.raises(ValueError, match="needs C\\*4 rows and 3\\*3 columns"):
        F.fold(mg.zeros(1, 4, 8, device=device), (4, 4), 2)


@given(
    x=mt.arrays(mt.shapes(1, 3, max_side=3)),
    pads=st.lists(st.integers(0, 2), min_size=2, max_size=2),
)
def test_pad_has_pytorchs_signature(x, pads, device):
    widths = [(0, 0)] * (x.ndim - 1) + [tuple(pads)]
    assert_forward(lambda t: F.pad(t, pads), lambda v: np.pad(v, widths), [x], device)
    value_ref = lambda v: np.pad(v, widths, constant_values=-1.0)  # noqa: E731
    assert_forward(lambda t: F.pad(t, pads, "constant", -1.0), value_ref, [x], device)
    gradcheck(lambda t: F.pad(t, pads, value=2.0), [x], device=device)
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(on(device, x)[0], pads, mode="mirror")


NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", list(NUMPY_MODES))
@given(x=mt.arrays(mt.shapes(2, 3, min_side=3, max_side=4)), data=st.data())
def test_pad_modes_that_copy_entries(mode, x, data, device):
    pads = [data.draw(st.integers(0, 2)) for _ in range(4)]
    widths = [(0, 0)] * (x.ndim - 2) + [(pads[2], pads[3]), (pads[0], pads[1])]
    ref = lambda v: np.pad(v, widths, mode=NUMPY_MODES[mode])  # noqa: E731
    assert_forward(lambda t: F.pad(t, pads, mode=mode), ref, [x], device)
    gradcheck(lambda t: F.pad(t, pads, mode=mode), [x], device=device)


def test_reflect_padding_must_be_smaller_than_the_side(device):
    with pytest.raises(ValueError, match=r"reflect padding \(3, 0\) must be < the size 3"):
        F.pad(mg.zeros(1, 3, device=device), (3, 0), mode="reflect")


def test_one_hot(device):
    ids = mg.tensor([[0, 2], [1, 2]], device=device)
    out = F.one_hot(ids)
    assert out.dtype == "int64" and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[[0, 2], [1, 2]]])
    assert F.one_hot(ids, 5).shape == (2, 2, 5)
    with pytest.raises(IndexError, match="index 2 is out of range for size 2"):
        F.one_hot(ids, 2)
    with pytest.raises(TypeError, match="must be integers"):
        F.one_hot(mg.tensor([0.0], device=device))
