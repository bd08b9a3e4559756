"""Sliding windows, shared by convolution and pooling: int-or-pair arguments, output sizes,
padding, and the strided slice each kernel offset sees. Read conv.py next.

A K x K window slid with stride s and dilation d over a padded image visits, for kernel offset
(i, j), the entries (p s + i d, q s + j d) for every output position (p, q): one strided slice
of the image. Convolution and pooling are loops over these K*K slices.
"""

from minigrad import ops
from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- arguments


def ntuple(value, n, name, fn, minimum=None, number=int):
    """An int (or any `number` type) or n of them as an n-tuple, each at least `minimum`."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    kind = "an int" if number is int else "a number"
    if len(values) != n:
        raise ValueError(f"{fn}: {name} must be {kind} or {n} of them, got {value!r}")
    if not all(isinstance(v, number) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{fn}: {name} must be {kind} or {n} of them, got {value!r}")
    if minimum is not None and any(v < minimum for v in values):
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value!r}")
    return values


def pair(value, name, fn, minimum=0):
    """An int or a pair of ints as a pair, each at least `minimum` (kernel, stride, padding)."""
    return ntuple(value, 2, name, fn, minimum)


def single(value, name, fn):
    """The 1-d ops take an int or a one-element tuple."""
    return ntuple(value, 1, name, fn)[0]


def check_tensor(fn, name, t, ndim):
    """Raise unless `t` is a Tensor with `ndim` dims."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(t).__name__}")
    if t.ndim != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dims, got shape {t.shape}")


# --------------------------------------------------------------------------- geometry


def out_size(size, kernel, stride, pad_total, dilation):
    """Output length of a sliding window: floor((size + pads - span) / stride) + 1."""
    span = dilation * (kernel - 1) + 1
    return (size + pad_total - span) // stride + 1


def offsets(kernel):
    """Kernel offsets (i, j) in row-major order (the order PyTorch scans a window in)."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def window_slices(i, j, stride, dilation, size):
    """The (rows, columns) slices that kernel offset (i, j) sees of a padded image, for an
    output of `size` (OH, OW): x[..., rows, cols] lines up with the output positions."""
    h0 = i * dilation[0]
    w0 = j * dilation[1]
    h1 = h0 + (size[0] - 1) * stride[0] + 1
    w1 = w0 + (size[1] - 1) * stride[1] + 1
    return slice(h0, h1, stride[0]), slice(w0, w1, stride[1])


def unpadded_size(padded, pads):
    """The (H, W) that padding by ((top, bottom), (left, right)) turned into `padded`."""
    return (padded[0] - sum(pads[0]), padded[1] - sum(pads[1]))


# --------------------------------------------------------------------------- windows as a tensor


def stack_windows(x, kernel, stride, dilation, size):
    """Padded (B, C, Hp, Wp) -> (B, C, KH*KW, OH, OW): entry k of axis 2 is what kernel offset
    k sees at every output position. Built from differentiable slices, so the gradient of
    anything computed from the windows flows back to x (overlapping windows add up)."""
    every = (slice(None), slice(None))
    slices = [x[every + window_slices(i, j, stride, dilation, size)] for i, j in offsets(kernel)]
    return ops.stack(slices, dim=2)
