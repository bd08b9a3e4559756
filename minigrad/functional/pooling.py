"""Pooling: max/avg_pool1d/2d and adaptive_avg_pool1d/2d (global pooling too), first as textbook
references on NCHW tensors, then the public functions. Read normalization.py next.

A pool reduces each K x K window of the padded input to one number. The references stack the
windows (windows.stack_windows, (B, C, KH*KW, OH, OW)) and reduce axis 2: the max picks the
window's FIRST maximum (argmax's rule, PyTorch's too), so dout goes to that entry only; the
mean divides the sum by the window's count, so every entry gets dout / count. F.max_pool2d and
F.avg_pool2d run minigrad.fast.pooling instead (strided slices of channels-last memory), equal
to these references in values and gradients (tested); backward(create_graph=True)
differentiates the references (the fast ops' `reference`, set next to them).
"""

import math

from minigrad import backend, ops
from minigrad.creation import arange
from minigrad.fast.pooling import AvgPool, MaxPool
from minigrad.functional.windows import check_tensor, pair, single, stack_windows
from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- geometry


def _pool_size(size, kernel, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling output length; in ceil mode the last window must start inside the
    input or its left padding."""
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * pad - span + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_args(fn, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Check and normalise pooling arguments; returns kernel, stride, pads, dilation, out_size.

    pads are ((top, bottom), (left, right)); in ceil mode bottom/right grow so that the last
    window fits in the padded array."""
    check_tensor(fn, "input", x, 4)
    kernel = pair(kernel_size, "kernel_size", fn, 1)
    stride = kernel if stride is None or stride == [] else pair(stride, "stride", fn, 1)
    padding = pair(padding, "padding", fn)
    dilation = pair(dilation, "dilation", fn, 1)
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(
                f"{fn}: padding {padding} must be at most half of the (dilated) kernel size "
                f"{kernel} (dilation {dilation})"
            )
    out_size = []
    pads = []
    for axis in range(2):
        size = x.shape[2 + axis]
        args = (kernel[axis], stride[axis], padding[axis], dilation[axis])
        out = _pool_size(size, *args, ceil_mode)
        if out < 1:
            raise ValueError(f"{fn}: input {x.shape} is too small for kernel {kernel}")
        span = dilation[axis] * (kernel[axis] - 1) + 1
        end = max((out - 1) * stride[axis] + span, size + padding[axis])
        pads.append((padding[axis], end - size - padding[axis]))
        out_size.append(out)
    return kernel, stride, tuple(pads), dilation, tuple(out_size)


def _divisor_1d(size, kernel, stride, pad, out, count_include_pad):
    """How many entries each window along one axis averages (PyTorch's avg_pool rule: the
    padding counts when count_include_pad, the ceil-mode overhang never does)."""
    counts = []
    for o in range(out):
        start = o * stride - pad
        end = min(start + kernel, size + pad)
        if not count_include_pad:
            start = max(start, 0)
            end = min(end, size)
        counts.append(end - start)
    return counts


def _avg_divisor(x, kernel, stride, pads, out_size, count_include_pad):
    """The (OH, OW) divisor of each window, or a Python number when all are equal."""
    rows, cols = (
        _divisor_1d(
            x.shape[2 + a], kernel[a], stride[a], pads[a][0], out_size[a], count_include_pad
        )
        for a in range(2)
    )
    if len(set(rows)) == 1 and len(set(cols)) == 1:
        return float(rows[0] * cols[0])
    xp = backend.xp_of(x.data)
    grid = [[float(r * c) for c in cols] for r in rows]
    return xp.asarray(grid, dtype=x.data.dtype, device=x.data.device)


# --------------------------------------------------------------------------- references


def _padded(x, pads, value):
    """(B, C, H, W) with ((top, bottom), (left, right)) of `value` around each image."""
    (top, bottom), (left, right) = pads
    return ops.pad(x, (left, right, top, bottom), value)


def _max_pool2d(x, kernel, stride, pads, dilation, size):
    """y = sum over the window of x * [entry is the window's first argmax], so dout flows to
    that entry alone."""
    windows = stack_windows(_padded(x, pads, -math.inf), kernel, stride, dilation, size)
    first = ops.argmax(windows, dim=2, keepdim=True)  # (B, C, 1, OH, OW)
    count = kernel[0] * kernel[1]
    scan = ops.reshape(arange(count, device=x.device), (1, 1, count, 1, 1))
    return ops.sum(ops.where(scan == first, windows, 0.0), dim=2)


MaxPool.reference = _max_pool2d  # the fast op's forward arguments


def max_pool2d_reference(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """F.max_pool2d from primitives (_max_pool2d)."""
    args = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool2d(x, *args)


def _avg_pool2d(x, divisor, kernel, stride, pads, size):
    """y = (sum over the zero-padded window) / divisor (a number, or one per window)."""
    windows = stack_windows(_padded(x, pads, 0.0), kernel, stride, (1, 1), size)
    divisor = divisor if isinstance(divisor, float) else Tensor(divisor)
    return ops.sum(windows, dim=2) / divisor


AvgPool.reference = _avg_pool2d  # the fast op's forward arguments


def avg_pool2d_reference(
    x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
):
    """F.avg_pool2d from primitives (_avg_pool2d)."""
    args = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    kernel, stride, pads, _, size = args
    divisor = _avg_divisor(x, kernel, stride, pads, size, count_include_pad)
    return _avg_pool2d(x, divisor, kernel, stride, pads, size)


# --------------------------------------------------------------------------- the public functions


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """PyTorch's F.max_pool2d: (B, C, H, W) -> (B, C, OH, OW); padding counts as -inf."""
    args = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    kernel, stride, pads, dilation, out_size = args
    return MaxPool.apply(
        x, kernel=kernel, stride=stride, pads=pads, dilation=dilation, size=out_size
    )


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """PyTorch's F.max_pool1d: (B, C, L) -> (B, C, OL), as max_pool2d over a height-1 image."""
    check_tensor("max_pool1d", "input", x, 3)
    fn = "max_pool1d"
    kernel = (1, single(kernel_size, "kernel_size", fn))
    stride = None if stride is None else (1, single(stride, "stride", fn))
    padding = (0, single(padding, "padding", fn))
    dilation = (1, single(dilation, "dilation", fn))
    y = max_pool2d(ops.unsqueeze(x, 2), kernel, stride, padding, dilation, ceil_mode)
    return ops.squeeze(y, 2)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """PyTorch's F.avg_pool2d: (B, C, H, W) -> (B, C, OH, OW), the mean of each window."""
    args = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    kernel, stride, pads, _, out_size = args
    divisor = _avg_divisor(x, kernel, stride, pads, out_size, count_include_pad)
    return AvgPool.apply(x, divisor=divisor, kernel=kernel, stride=stride, pads=pads, size=out_size)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """PyTorch's F.avg_pool1d: (B, C, L) -> (B, C, OL), as avg_pool2d over a height-1 image."""
    check_tensor("avg_pool1d", "input", x, 3)
    fn = "avg_pool1d"
    kernel = (1, single(kernel_size, "kernel_size", fn))
    stride = None if stride is None else (1, single(stride, "stride", fn))
    padding = (0, single(padding, "padding", fn))
    y = avg_pool2d(ops.unsqueeze(x, 2), kernel, stride, padding, ceil_mode, count_include_pad)
    return ops.squeeze(y, 2)


# --------------------------------------------------------------------------- adaptive pooling


def _adaptive_output_size(fn, output_size, in_size):
    """An int, a pair, or a pair holding None (keep that input size) -> a pair of ints."""
    given = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(given) != len(in_size):
        raise ValueError(f"{fn}: output_size must have {len(in_size)} entries, got {output_size!r}")
    sizes = tuple(n if o is None else o for o, n in zip(given, in_size))
    if not all(isinstance(o, int) and not isinstance(o, bool) and o >= 1 for o in sizes):
        raise ValueError(f"{fn}: output_size must hold positive ints or None, got {output_size!r}")
    return sizes


def _adaptive_matrix(x, size, out):
    """The (out, size) matrix that averages PyTorch's adaptive bins along one axis:
    bin o covers [floor(o * size / out), ceil((o + 1) * size / out))."""
    rows = []
    for o in range(out):
        start = (o * size) // out
        end = -((-(o + 1) * size) // out)
        rows.append([1.0 / (end - start) if start <= i < end else 0.0 for i in range(size)])
    xp = backend.xp_of(x.data)
    return Tensor(xp.asarray(rows, dtype=x.data.dtype, device=x.data.device))


def adaptive_avg_pool2d(x, output_size):
    """PyTorch's F.adaptive_avg_pool2d: (B, C, H, W) -> (B, C, *output_size), bins of nearly
    equal size. Global pooling is output_size=1."""
    check_tensor("adaptive_avg_pool2d", "input", x, 4)
    h, w = x.shape[2:]
    oh, ow = _adaptive_output_size("adaptive_avg_pool2d", output_size, (h, w))
    if (oh, ow) == (1, 1):
        return ops.mean(x, dim=(2, 3), keepdim=True)
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(x, (h // oh, w // ow))
    # bins of unequal size: y = A_h @ x @ A_w^T, one averaging matrix per axis
    rows = _adaptive_matrix(x, h, oh)
    cols = _adaptive_matrix(x, w, ow)
    return ops.matmul(ops.matmul(rows, x), ops.transpose(cols, 0, 1))


def adaptive_avg_pool1d(x, output_size):
    """PyTorch's F.adaptive_avg_pool1d: (B, C, L) -> (B, C, output_size)."""
    check_tensor("adaptive_avg_pool1d", "input", x, 3)
    (out,) = _adaptive_output_size("adaptive_avg_pool1d", _as_tuple(output_size), x.shape[2:])
    y = adaptive_avg_pool2d(ops.unsqueeze(x, 2), (1, out))
    return ops.squeeze(y, 2)


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
