"""Convolution: conv1d, conv2d (stride, padding, dilation, groups) and conv_transpose2d, first
as textbook references on NCHW tensors, then the public functions, then their argument
checks. Read pooling.py next.

A convolution (a cross-correlation, as in every deep-learning library) slides a KH x KW kernel
over the zero-padded input. Written as im2col: cols (B, C*KH*KW, OH*OW) holds every window as
a column, and y = W (F, C*KH*KW) @ cols + b is ONE matrix product per group. The references
here build cols from differentiable slices (windows.stack_windows), so autograd derives
  dW = dout @ cols^T,   dcols = W^T @ dout (col2im adds it back into dx),   db = sum dout.
F.conv2d runs the same math through minigrad.fast.conv (channels-last memory, the bias inside
the GEMM, dx by correlation): equal to these references, values and gradients (tested).
The fast ops save their im2col matrices, so backward(create_graph=True) differentiates these
references instead (each fast Function's `reference`, set below next to it).
"""

from minigrad import ops
from minigrad.fast.conv import Convolution, TransposedConvolution
from minigrad.functional.windows import check_tensor, out_size, pair, single, stack_windows
from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- references


def _conv2d(x, w, b, stride, pads, dilation, groups):
    """NCHW. Per group: cols = im2col(x) (B, Cg*KH*KW, OH*OW); y = w.reshape(Fg, -1) @ cols + b."""
    (top, bottom), (left, right) = pads
    x = ops.pad(x, (left, right, top, bottom))
    f, cg, kh, kw = w.shape
    sizes = zip(x.shape[2:], (kh, kw), stride, dilation)
    size = tuple(out_size(n, k, s, 0, d) for n, k, s, d in sizes)
    fg = f // groups
    ys = []
    for g in range(groups):
        windows = stack_windows(x[:, g * cg : (g + 1) * cg], (kh, kw), stride, dilation, size)
        # (B, Cg, KH*KW, OH, OW): rows in w's (c, i, j) order, one column per output pixel
        cols = ops.reshape(windows, (x.shape[0], cg * kh * kw, size[0] * size[1]))
        w_rows = ops.reshape(w[g * fg : (g + 1) * fg], (fg, cg * kh * kw))
        ys.append(ops.matmul(w_rows, cols))  # (Fg, Cg*KH*KW) @ (B, Cg*KH*KW, OH*OW)
    y = ops.reshape(ops.cat(ys, dim=1), (x.shape[0], f, *size))
    return y if b is None else y + ops.reshape(b, (1, f, 1, 1))


Convolution.reference = _conv2d  # the same arguments as the fast op's forward


def conv2d_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d as im2col + one matmul per group, from differentiable primitives (the oracle
    of the fast path; also twice differentiable)."""
    args = _conv2d_args("conv2d", x, weight, bias, stride, padding, dilation, groups)
    stride, pads, dilation = args
    return _conv2d(x, weight, bias, stride, pads, dilation, groups)


def conv1d_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv1d as conv2d_reference over a height-1 image."""
    args = _conv1d_args("conv1d", x, weight, bias, stride, padding, dilation, groups)
    stride, pads, dilation = args
    x = ops.unsqueeze(x, 2)
    weight = ops.unsqueeze(weight, 2)
    _check_kernel_fits("conv1d", x, weight, pads, dilation)
    return ops.squeeze(_conv2d(x, weight, bias, stride, pads, dilation, groups), 2)


def _zero_stuff(x, stride):
    """(B, C, H, W) -> (B, C, (H-1)*sh+1, (W-1)*sw+1): s-1 zeros between neighbouring pixels."""
    b, c, h, w = x.shape
    sh, sw = stride
    x = ops.pad(ops.unsqueeze(x, 4), (0, sw - 1))  # (B, C, H, W, sw)
    x = ops.reshape(x, (b, c, h, w * sw))[:, :, :, : (w - 1) * sw + 1]
    x = ops.pad(ops.unsqueeze(x, 3), (0, 0, 0, sh - 1))  # (B, C, H, sh, W')
    return ops.reshape(x, (b, c, h * sh, x.shape[-1]))[:, :, : (h - 1) * sh + 1]


def _conv_transpose2d(x, weight, bias, stride, padding, out_size, dilation, groups):
    """The textbook stride-1 conv: the input with stride-1 zeros between its pixels, padded by
    d*(KH-1) (+ output_padding at the end), convolved with the kernel flipped in space and with
    its channel axes swapped; then `padding` cropped off each side."""
    c, fg, kh, kw = weight.shape
    cg = c // groups
    # (C, F/G, KH, KW) -> (F, C/G, KH, KW): group g's block transposed, the kernel flipped
    w = ops.permute(ops.reshape(weight, (groups, cg, fg, kh, kw)), (0, 2, 1, 3, 4))
    w = ops.reshape(w, (groups * fg, cg, kh, kw))[:, :, ::-1, ::-1]
    spans = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    full = tuple(n + 2 * p for n, p in zip(out_size, padding))
    stuffed = _zero_stuff(x, stride)
    extra = tuple(f - (n + s) for f, n, s in zip(full, stuffed.shape[2:], spans))  # output pad
    pads = ((spans[0], spans[0] + extra[0]), (spans[1], spans[1] + extra[1]))
    y = _conv2d(stuffed, w, None, (1, 1), pads, dilation, groups)
    top, left = padding
    y = y[:, :, top : top + out_size[0], left : left + out_size[1]]
    return y if bias is None else y + ops.reshape(bias, (1, -1, 1, 1))


def conv_transpose2d_reference(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """F.conv_transpose2d as a stride-1 conv of the zero-stuffed input (_conv_transpose2d)."""
    fn = "conv_transpose2d"
    args = _transposed_args(fn, x, weight, bias, stride, padding, output_padding, groups, dilation)
    stride, padding, size, dilation = args
    return _conv_transpose2d(x, weight, bias, stride, padding, size, dilation, groups)


TransposedConvolution.reference = _conv_transpose2d  # the fast op's forward arguments


# --------------------------------------------------------------------------- the public functions


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, PyTorch's F.conv2d: x (B, C, H, W), weight (F, C/groups, KH, KW),
    bias (F,) or None -> (B, F, OH, OW). padding: int, pair, "same" or "valid"."""
    stride, pads, dilation = _conv2d_args(
        "conv2d", x, weight, bias, stride, padding, dilation, groups
    )
    return Convolution.apply(
        x, weight, bias, stride=stride, pads=pads, dilation=dilation, groups=groups
    )


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation, PyTorch's F.conv1d: x (B, C, L), weight (F, C/groups, K) ->
    (B, F, OL). Runs as conv2d over a height-1 image."""
    stride, pads, dilation = _conv1d_args(
        "conv1d", x, weight, bias, stride, padding, dilation, groups
    )
    x = ops.unsqueeze(x, 2)
    weight = ops.unsqueeze(weight, 2)
    _check_kernel_fits("conv1d", x, weight, pads, dilation)
    y = Convolution.apply(
        x, weight, bias, stride=stride, pads=pads, dilation=dilation, groups=groups
    )
    return ops.squeeze(y, 2)


def conv_transpose2d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """PyTorch's F.conv_transpose2d (the gradient of conv2d with respect to its input):
    x (B, C, H, W), weight (C, F/groups, KH, KW) -> (B, F, OH, OW) with
    OH = (H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1."""
    fn = "conv_transpose2d"
    args = _transposed_args(fn, x, weight, bias, stride, padding, output_padding, groups, dilation)
    stride, padding, size, dilation = args
    return TransposedConvolution.apply(
        x,
        weight,
        bias,
        stride=stride,
        padding=padding,
        out_size=size,
        dilation=dilation,
        groups=groups,
    )


# ---------------------------------------------------------- arguments (checked before any math)


def _conv_padding(fn, padding, kernel, stride, dilation):
    """PyTorch's padding (int, pair, "valid" or "same") as ((top, bottom), (left, right)).

    "same" pads d*(k-1) in total, the odd one at the end, and needs stride 1."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{fn}: padding='same' needs stride 1, got stride={stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, str):
        raise ValueError(
            f"{fn}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}"
        )
    ph, pw = pair(padding, "padding", fn)
    return ((ph, ph), (pw, pw))


def _check_conv_args(fn, x, weight, bias, groups, transposed=False):
    """Input, weight and bias shapes agree and groups divide the channels.

    weight is (F, C/G, KH, KW) for a conv and (C, F/G, KH, KW) for a transposed conv."""
    check_tensor(fn, "input", x, weight.ndim if isinstance(weight, Tensor) else x.ndim)
    check_tensor(fn, "weight", weight, x.ndim)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    channels = x.shape[1]
    if channels % groups:
        raise ValueError(f"{fn}: groups={groups} does not divide the {channels} input channels")
    expected = weight.shape[0] if transposed else weight.shape[1] * groups
    if channels != expected:
        raise ValueError(
            f"{fn}: input has {channels} channels, weight expects {expected} "
            f"(weight shape {weight.shape}, groups={groups})"
        )
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    if not transposed and out_channels % groups:
        raise ValueError(
            f"{fn}: groups={groups} does not divide the {out_channels} output channels"
        )
    if bias is not None:
        check_tensor(fn, "bias", bias, 1)
        if bias.shape != (out_channels,):
            raise ValueError(f"{fn}: bias must have shape ({out_channels},), got {bias.shape}")


def _check_kernel_fits(fn, x, weight, pads, dilation):
    """The dilated kernel must fit inside the padded input (else there is no output)."""
    for axis, name in ((0, "height"), (1, "width")):
        size = x.shape[2 + axis] + sum(pads[axis])
        span = dilation[axis] * (weight.shape[2 + axis] - 1) + 1
        if span > size:
            raise ValueError(
                f"{fn}: kernel {name} {span} (with dilation) is larger than the padded input "
                f"{name} {size} (input shape {x.shape}, weight shape {weight.shape})"
            )


def _conv2d_args(fn, x, weight, bias, stride, padding, dilation, groups):
    """Check conv2d's arguments; returns stride, pads ((top, bottom), (left, right)), dilation."""
    check_tensor(fn, "input", x, 4)
    _check_conv_args(fn, x, weight, bias, groups)
    stride = pair(stride, "stride", fn, 1)
    dilation = pair(dilation, "dilation", fn, 1)
    pads = _conv_padding(fn, padding, weight.shape[2:], stride, dilation)
    _check_kernel_fits(fn, x, weight, pads, dilation)
    return stride, pads, dilation


def _conv1d_args(fn, x, weight, bias, stride, padding, dilation, groups):
    """conv1d's arguments as conv2d's over a height-1 image: stride, pads, dilation."""
    check_tensor(fn, "input", x, 3)
    _check_conv_args(fn, x, weight, bias, groups)
    stride = (1, single(stride, "stride", fn))
    dilation = (1, single(dilation, "dilation", fn))
    if isinstance(padding, str):
        return stride, _conv_padding(fn, padding, (1, weight.shape[2]), stride, dilation), dilation
    pads = _conv_padding(fn, (0, single(padding, "padding", fn)), (1, 1), stride, dilation)
    return stride, pads, dilation


def _transposed_args(fn, x, weight, bias, stride, padding, output_padding, groups, dilation):
    """Check conv_transpose2d's arguments; returns stride, padding, out_size, dilation."""
    check_tensor(fn, "input", x, 4)
    _check_conv_args(fn, x, weight, bias, groups, transposed=True)
    stride = pair(stride, "stride", fn, 1)
    padding = pair(padding, "padding", fn)
    output_padding = pair(output_padding, "output_padding", fn)
    dilation = pair(dilation, "dilation", fn, 1)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(
                f"{fn}: output_padding {output_padding} must be smaller than either stride "
                f"{stride} or dilation {dilation}"
            )
    size = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(
            x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding
        )
    )
    if min(size) < 1:
        raise ValueError(f"{fn}: output size {size} is empty (input shape {x.shape})")
    return stride, padding, size, dilation
