"""Channels-last memory behind the logical NCHW shape, shared by the fast conv and pools:
views between the two orders, padding, cropping and kernel-offset slices. Read conv.py next.

A conv output is born channels-last: its GEMM result (B*OH*OW, F) is reshaped to
(B, OH, OW, F) and handed out as the permuted view (B, F, OH, OW), without a copy.
Elementwise ops keep that memory order, so the next layer's permute to (B, H, W, C) is free
again (PyTorch calls this memory format `channels_last`). Measured gain: not timed on its own;
every conv, pool and batch-norm row of benchmarks/README.md runs on it (im2col reads the C
channels of a pixel as one contiguous run).
"""

from minigrad import backend
from minigrad.functional.windows import window_slices


def channels_last(x):
    """(B, C, H, W) -> the (B, H, W, C) view; free when x is a channels-last array."""
    return backend.xp_of(x).permute_dims(x, (0, 2, 3, 1))


def channels_first(x):
    """(B, H, W, C) -> the logical (B, C, H, W) view of the same memory."""
    return backend.xp_of(x).permute_dims(x, (0, 3, 1, 2))


def pad(x, pads, value=0.0):
    """(..., H, W, C) -> (..., top+H+bottom, left+W+right, C), the border filled with `value`."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    xp = backend.xp_of(x)
    *lead, h, w, c = x.shape
    shape = (*lead, top + h + bottom, left + w + right, c)
    out = xp.full(shape, value, dtype=x.dtype, device=x.device)
    out[..., top : top + h, left : left + w, :] = x
    return out


def crop(x, pads, size):
    """Undo pad: the (..., H, W, C) interior of a padded (..., Hp, Wp, C) array (a view)."""
    (top, _), (left, _) = pads
    return x[..., top : top + size[0], left : left + size[1], :]


def window_index(i, j, stride, dilation, out_size):
    """The index of what kernel offset (i, j) sees at every output position: with it,
    x[index] is a (..., OH, OW, C) strided slice of a padded (..., Hp, Wp, C) array."""
    rows, cols = window_slices(i, j, stride, dilation, out_size)
    return (..., rows, cols, slice(None))


def window(x, i, j, stride, dilation, out_size):
    """The (..., OH, OW, C) slice of x that kernel offset (i, j) sees."""
    return x[window_index(i, j, stride, dilation, out_size)]
