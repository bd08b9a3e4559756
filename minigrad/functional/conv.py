"""Convolution: conv1d, conv2d (stride, padding, dilation, groups) and conv_transpose2d, as
im2col by kernel-offset slices plus ONE matrix product. Read pooling.py next.

Layout. The logical shape is PyTorch's (B, C, H, W), but the math runs on the channels-last
view (B, H, W, C) = permute_dims(x, (0, 2, 3, 1)). A conv output is born channels-last: the
GEMM result (B*OH*OW, F) is reshaped to (B, OH, OW, F) and handed out as the permuted view
(B, F, OH, OW), without a copy. Elementwise ops keep that memory order, so the next conv's
permute_dims is free again (PyTorch calls this memory format `channels_last`).

im2col. Kernel offset (i, j) sees, at every output position, one strided slice of the padded
input; the slices side by side form `cols` (B, OH, OW, KH, KW, C), and the whole conv is
cols (B*OH*OW, KH*KW*C) @ w (KH*KW*C, F). col2im, for the input gradient, is the same loop
with += into a zero image. Groups ride along as a leading batch axis G of the matmul.
"""

from minigrad import backend, ops
from minigrad.tensor import Function, Tensor

# --------------------------------------------------------------------------- arguments


def _pair(value, name, fn, minimum=0):
    """An int or a pair of ints as a pair, each at least `minimum`."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in pair):
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value!r}")
    return pair


def _out_size(size, kernel, stride, pad_total, dilation):
    """Output length of a sliding window: floor((size + pads - span) / stride) + 1."""
    span = dilation * (kernel - 1) + 1
    return (size + pad_total - span) // stride + 1


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
    ph, pw = _pair(padding, "padding", fn)
    return ((ph, ph), (pw, pw))


def _check_tensor(fn, name, t, ndim):
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(t).__name__}")
    if t.ndim != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dims, got shape {t.shape}")


def _check_conv_args(fn, x, weight, bias, groups, transposed=False):
    """Input, weight and bias shapes agree and groups divide the channels.

    weight is (F, C/G, KH, KW) for a conv and (C, F/G, KH, KW) for a transposed conv."""
    _check_tensor(fn, "input", x, weight.ndim if isinstance(weight, Tensor) else x.ndim)
    _check_tensor(fn, "weight", weight, x.ndim)
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
        _check_tensor(fn, "bias", bias, 1)
        if bias.shape != (out_channels,):
            raise ValueError(f"{fn}: bias must have shape ({out_channels},), got {bias.shape}")


# --------------------------------------------------------------------------- layout helpers


def _channels_last(x):
    """(B, C, H, W) -> the (B, H, W, C) view; free when x is a channels-last array."""
    return backend.xp_of(x).permute_dims(x, (0, 2, 3, 1))


def _channels_first(x):
    """(B, H, W, C) -> the logical (B, C, H, W) view of the same memory."""
    return backend.xp_of(x).permute_dims(x, (0, 3, 1, 2))


def _split_groups(x, groups):
    """(B, H, W, C) -> (G, B, H, W, C/G): groups become the matmul batch axis."""
    xp = backend.xp_of(x)
    b, h, w, c = x.shape
    return xp.permute_dims(xp.reshape(x, (b, h, w, groups, c // groups)), (3, 0, 1, 2, 4))


def _merge_groups(x):
    """(G, B, H, W, Cg) -> (B, H, W, G*Cg); a view when G == 1."""
    xp = backend.xp_of(x)
    g, b, h, w, c = x.shape
    return xp.reshape(xp.permute_dims(x, (1, 2, 3, 0, 4)), (b, h, w, g * c))


def _pad(x, pads, value=0.0):
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


def _crop(x, pads, size):
    """Undo _pad: the (..., H, W, C) interior of a padded (..., Hp, Wp, C) array (a view)."""
    (top, _), (left, _) = pads
    return x[..., top : top + size[0], left : left + size[1], :]


def _window_index(i, j, stride, dilation, out_size):
    """The index of what kernel offset (i, j) sees at every output position: with it,
    x[index] is a (..., OH, OW, C) strided slice of a padded (..., Hp, Wp, C) array."""
    h0 = i * dilation[0]
    w0 = j * dilation[1]
    h1 = h0 + (out_size[0] - 1) * stride[0] + 1
    w1 = w0 + (out_size[1] - 1) * stride[1] + 1
    return (..., slice(h0, h1, stride[0]), slice(w0, w1, stride[1]), slice(None))


def _window(x, i, j, stride, dilation, out_size):
    """The (..., OH, OW, C) slice of x that kernel offset (i, j) sees."""
    return x[_window_index(i, j, stride, dilation, out_size)]


def _offsets(kernel):
    """Kernel offsets (i, j) in row-major order (the order PyTorch scans a window in)."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


# --------------------------------------------------------------------------- im2col / col2im


def _windows_by_slices(x, kernel, stride, dilation, out_size):
    """(..., Hp, Wp, C) -> (..., OH, OW, KH, KW, C): one strided-slice copy per kernel offset."""
    xp = backend.xp_of(x)
    *lead, _, _, c = x.shape
    shape = (*lead, out_size[0], out_size[1], kernel[0], kernel[1], c)
    cols = xp.empty(shape, dtype=x.dtype, device=x.device)
    for i, j in _offsets(kernel):
        cols[..., i, j, :] = _window(x, i, j, stride, dilation, out_size)
    return cols


def _im2col(x, kernel, stride, dilation, out_size, ones_column=False):
    """Padded (G, B, Hp, Wp, Cg) -> cols (G, B*OH*OW, KH*KW*Cg), ready for one GEMM; with
    ones_column, one more column of ones, so that a bias row in the weight matrix adds the
    bias inside the GEMM (and cols^T @ dout yields db as its last row).

    On NumPy the windows are a zero-copy strided view and one copy lays them out as rows
    (sequential writes: measured 3-4x faster than the slice loop's scattered writes)."""
    xp = backend.xp_of(x)
    g, b = x.shape[:2]
    rows = b * out_size[0] * out_size[1]
    width = kernel[0] * kernel[1] * x.shape[-1]
    windows = backend.window_view(x, kernel, stride, dilation, out_size)
    if windows is None:
        windows = _windows_by_slices(x, kernel, stride, dilation, out_size)
        cols = xp.reshape(windows, (g, rows, width))
        if ones_column:
            ones = xp.ones((g, rows, 1), dtype=x.dtype, device=x.device)
            cols = xp.concat([cols, ones], axis=-1)
        return cols
    if not ones_column:
        return xp.reshape(windows, (g, rows, width))
    cols = xp.empty((g, rows, width + 1), dtype=x.dtype, device=x.device)
    cols[..., width] = 1
    # the first `width` columns seen in the windows' shape: a view (copy=False raises if not)
    target = xp.reshape(cols[..., :width], windows.shape, copy=False)
    target[...] = windows
    return cols


def _col2im(cols, padded_shape, kernel, stride, dilation, out_size):
    """The adjoint of _im2col: cols (G, KH*KW, B*OH*OW, Cg), one block per kernel offset,
    summed into a zero padded image (G, B, Hp, Wp, Cg); overlapping windows add up.

    Offset-major cols make every += read one contiguous block: measured 1.5x faster than
    reading the (i, j) columns out of the (B*OH*OW, KH*KW*Cg) matrix."""
    xp = backend.xp_of(cols)
    g, b, _, _, c = padded_shape
    image = xp.zeros(padded_shape, dtype=cols.dtype, device=cols.device)
    for k, (i, j) in enumerate(_offsets(kernel)):
        block = xp.reshape(cols[:, k, ...], (g, b, out_size[0], out_size[1], c))
        image[_window_index(i, j, stride, dilation, out_size)] += block
    return image


def _grouped_rows(a, groups):
    """(B, H, W, C) -> (G, B*H*W, C/G): one matrix of channel rows per group."""
    xp = backend.xp_of(a)
    b, h, w, c = a.shape
    return xp.permute_dims(xp.reshape(a, (b * h * w, groups, c // groups)), (1, 0, 2))


def _ungrouped_rows(a, shape):
    """(G, B*H*W, Cg) -> (B, H, W, G*Cg); a view when G == 1."""
    xp = backend.xp_of(a)
    return xp.reshape(xp.permute_dims(a, (1, 0, 2)), shape)


# --------------------------------------------------------------------------- conv2d


def _weight_matrix(w, groups):
    """(F, Cg, KH, KW) -> (G, KH*KW*Cg, F/G), rows in the (i, j, c) order of cols."""
    xp = backend.xp_of(w)
    f, c, kh, kw = w.shape
    w = xp.reshape(w, (groups, f // groups, c, kh, kw))
    return xp.reshape(xp.permute_dims(w, (0, 3, 4, 2, 1)), (groups, kh * kw * c, f // groups))


def _weight_from_matrix(dw, shape, groups):
    """The inverse of _weight_matrix: (G, KH*KW*Cg, F/G) -> (F, Cg, KH, KW)."""
    xp = backend.xp_of(dw)
    f, c, kh, kw = shape
    dw = xp.reshape(dw, (groups, kh, kw, c, f // groups))
    return xp.reshape(xp.permute_dims(dw, (0, 4, 3, 1, 2)), shape)


def _offset_weights(w_mat, kernel):
    """(G, KH*KW*Cg, F/G) -> (G, KH*KW, F/G, Cg): the transposed weight of each offset."""
    xp = backend.xp_of(w_mat)
    g, rows, f = w_mat.shape
    offsets = kernel[0] * kernel[1]
    return xp.matrix_transpose(xp.reshape(w_mat, (g, offsets, rows // offsets, f)))


class Convolution(Function):
    """y = x (*) w + b as cols @ W;  dW = cols^T @ dout,  dx = col2im(dout @ W^T),  db = sum dout.

    Fused (im2col, GEMM and bias in one op) for speed: no graph nodes for the layout steps.
    For stride 1, one group and F <= C, dx is computed as a correlation of dout with the
    flipped kernel instead (_input_grad_by_correlation): the same numbers from one GEMM,
    without col2im's adds."""

    def forward(self, x, w, b, stride, pads, dilation, groups):
        xp = self.xp
        kernel = tuple(w.shape[2:])
        x = _pad(_split_groups(_channels_last(x), groups), pads)
        out_size = tuple(
            _out_size(n, k, s, 0, d) for n, k, s, d in zip(x.shape[2:4], kernel, stride, dilation)
        )
        w_mat = _weight_matrix(w, groups)
        if b is not None:  # the bias as one more row of W, met by a column of ones in cols
            bias_row = xp.reshape(b, (groups, 1, w.shape[0] // groups))
            w_mat = xp.concat([w_mat, bias_row], axis=1)
        cols = _im2col(x, kernel, stride, dilation, out_size, ones_column=b is not None)
        # (G, B*OH*OW, KH*KW*Cg [+1]) @ (G, KH*KW*Cg [+1], F/G): the whole conv is one GEMM,
        # bias included (measured: saves a pass over y, and db comes out of the dW GEMM)
        y = _ungrouped_rows(xp.matmul(cols, w_mat), (x.shape[1], *out_size, w.shape[0]))
        self.cols = cols if self.needs_input_grad[1] else None
        self.w_mat = w_mat
        self.args = (w.shape, x.shape, pads, kernel, stride, dilation, groups, out_size)
        return _channels_first(y)

    def backward(self, dout):
        xp = self.xp
        w_shape, padded_shape, pads, kernel, stride, dilation, groups, out_size = self.args
        dout = _grouped_rows(_channels_last(dout), groups)
        width = kernel[0] * kernel[1] * w_shape[1]  # rows of W without the bias row
        dx = dw = db = None
        size = (padded_shape[2] - sum(pads[0]), padded_shape[3] - sum(pads[1]))
        if self.needs_input_grad[0] and _correlate_for_dx(w_shape, stride, groups):
            args = (dout, self.w_mat[0, :width, :], w_shape, pads, dilation, out_size, size)
            dx = _input_grad_by_correlation(*args)
            dx = _channels_first(xp.reshape(dx, (padded_shape[1], *size, w_shape[1])))
        elif self.needs_input_grad[0]:
            # (G, 1, B*OH*OW, F/G) @ (G, KH*KW, F/G, Cg): one input-gradient block per offset
            weights = _offset_weights(self.w_mat[:, :width, :], kernel)
            dcols = xp.matmul(xp.expand_dims(dout, axis=1), weights)
            dx = _col2im(dcols, padded_shape, kernel, stride, dilation, out_size)
            dx = _channels_first(_merge_groups(_crop(dx, pads, size)))
        if self.needs_input_grad[1]:
            dw_mat = xp.matmul(xp.matrix_transpose(self.cols), dout)  # (G, width [+1], F/G)
            dw = _weight_from_matrix(dw_mat[:, :width, :], w_shape, groups)
            if self.needs_input_grad[2]:
                db = xp.reshape(dw_mat[:, width, :], (-1,))  # the ones column's row: sum dout
        if self.needs_input_grad[2] and db is None:
            db = xp.reshape(xp.sum(dout, axis=1), (-1,))
        return dx, dw, db


def _correlate_for_dx(w_shape, stride, groups):
    """Whether conv backward takes dx as a correlation of dout with the flipped kernel: for
    stride 1, one group and no more output than input channels. Timed per layer (128 images,
    3x3), the correlation won for F = C (32 at 32x32, 64 at 16x16) and lost for F = 2C; the
    CIFAR example's step went 421-438 -> 382-388 ms (`python -m benchmarks.ab --model cifar`)."""
    return stride == (1, 1) and groups == 1 and w_shape[0] <= w_shape[1]


def _input_grad_by_correlation(dout, w_rows, w_shape, pads, dilation, out_size, size):
    """dx of a stride-1 conv as a correlation: dout (1, B*OH*OW, F) padded by the dilated kernel
    span on every side, correlated with the kernel flipped in space and transposed (F <-> C).
    One im2col GEMM writes dx (1, B*H*W, C) directly, with no col2im adds.

    Padded-input row i sums dout[i - d*k] w[k] over k; with S = d*(K-1) zeros in front of
    dout that is sum over k' of dpad[i + d*k'] w[K-1-k'], a correlation. Only the rows i of
    the unpadded input are computed: dpad from row `top` on."""
    xp = backend.xp_of(dout)
    f, c, kh, kw = w_shape
    span = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    image = xp.reshape(dout, (1, -1, out_size[0], out_size[1], f))
    dpad = _pad(image, ((span[0], span[0]), (span[1], span[1])))
    (top, _), (left, _) = pads
    dpad = dpad[:, :, top : top + size[0] + span[0], left : left + size[1] + span[1], :]
    cols = _im2col(dpad, (kh, kw), (1, 1), dilation, size)  # (1, B*H*W, KH*KW*F)
    # W rows are (i, j, c) x F columns; the flipped transpose has rows (i', j', f) x C columns
    w = xp.flip(xp.reshape(w_rows, (kh, kw, c, f)), axis=(0, 1))
    w_flipped = xp.reshape(xp.permute_dims(w, (0, 1, 3, 2)), (kh * kw * f, c))
    return xp.matmul(cols, w_flipped)


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


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, PyTorch's F.conv2d: x (B, C, H, W), weight (F, C/groups, KH, KW),
    bias (F,) or None -> (B, F, OH, OW). padding: int, pair, "same" or "valid"."""
    _check_tensor("conv2d", "input", x, 4)
    _check_conv_args("conv2d", x, weight, bias, groups)
    stride = _pair(stride, "stride", "conv2d", 1)
    dilation = _pair(dilation, "dilation", "conv2d", 1)
    pads = _conv_padding("conv2d", padding, weight.shape[2:], stride, dilation)
    _check_kernel_fits("conv2d", x, weight, pads, dilation)
    return Convolution.apply(
        x, weight, bias, stride=stride, pads=pads, dilation=dilation, groups=groups
    )


def _single(value, name, fn):
    """The 1-d ops take an int or a one-element tuple."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be an int or a 1-tuple, got {value!r}")
    return value


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation, PyTorch's F.conv1d: x (B, C, L), weight (F, C/groups, K) ->
    (B, F, OL). Runs as conv2d over a height-1 image."""
    _check_tensor("conv1d", "input", x, 3)
    _check_conv_args("conv1d", x, weight, bias, groups)
    stride = (1, _single(stride, "stride", "conv1d"))
    dilation = (1, _single(dilation, "dilation", "conv1d"))
    if isinstance(padding, str):
        pads = _conv_padding("conv1d", padding, (1, weight.shape[2]), stride, dilation)
    else:
        pads = _conv_padding(
            "conv1d", (0, _single(padding, "padding", "conv1d")), (1, 1), stride, dilation
        )
    x = ops.unsqueeze(x, 2)
    weight = ops.unsqueeze(weight, 2)
    _check_kernel_fits("conv1d", x, weight, pads, dilation)
    y = Convolution.apply(
        x, weight, bias, stride=stride, pads=pads, dilation=dilation, groups=groups
    )
    return ops.squeeze(y, 2)


# --------------------------------------------------------------------------- conv_transpose2d


def _transposed_weight_matrix(w, groups):
    """(C, F/G, KH, KW) -> (G, C/G, KH*KW*F/G): each input channel paints a KH x KW x F patch."""
    xp = backend.xp_of(w)
    c, f, kh, kw = w.shape
    w = xp.reshape(w, (groups, c // groups, f, kh, kw))
    return xp.reshape(xp.permute_dims(w, (0, 1, 3, 4, 2)), (groups, c // groups, kh * kw * f))


def _transposed_weight_from_matrix(dw, shape, groups):
    """The inverse of _transposed_weight_matrix: (G, C/G, KH*KW*F/G) -> (C, F/G, KH, KW)."""
    xp = backend.xp_of(dw)
    c, f, kh, kw = shape
    dw = xp.reshape(dw, (groups, c // groups, kh, kw, f))
    return xp.reshape(xp.permute_dims(dw, (0, 1, 4, 2, 3)), shape)


def _patch_weights(w_mat, kernel):
    """(G, C/G, KH*KW*F/G) -> (G, KH*KW, C/G, F/G): the weight of each kernel offset."""
    xp = backend.xp_of(w_mat)
    g, c, cols = w_mat.shape
    offsets = kernel[0] * kernel[1]
    return xp.permute_dims(xp.reshape(w_mat, (g, c, offsets, cols // offsets)), (0, 2, 1, 3))


class TransposedConvolution(Function):
    """y = col2im(x @ W) + b, the adjoint of a conv's x -> y;  dx = im2col(dout) @ W^T,
    dW = x^T @ im2col(dout),  db = sum dout. Fused for speed, like Convolution."""

    def forward(self, x, w, b, stride, padding, out_size, dilation, groups):
        xp = self.xp
        kernel = tuple(w.shape[2:])
        in_size = tuple(x.shape[2:])
        pads = tuple((p, p) for p in padding)
        f = w.shape[1]
        padded = tuple(n + 2 * p for n, p in zip(out_size, padding))
        padded_shape = (groups, x.shape[0], *padded, f)
        x_rows = _grouped_rows(_channels_last(x), groups)
        w_mat = _transposed_weight_matrix(w, groups)
        # (G, 1, B*H*W, C/G) @ (G, KH*KW, C/G, F/G): each pixel's patch, offset by offset
        patches = xp.matmul(xp.expand_dims(x_rows, axis=1), _patch_weights(w_mat, kernel))
        image = _col2im(patches, padded_shape, kernel, stride, dilation, in_size)
        y = _merge_groups(_crop(image, pads, out_size))
        if b is not None:
            y = y + b
        self.x_rows = x_rows if self.needs_input_grad[1] else None
        self.w_mat = w_mat
        self.args = (x.shape, w.shape, pads, kernel, stride, dilation, groups)
        return _channels_first(y)

    def backward(self, dout):
        xp = self.xp
        x_shape, w_shape, pads, kernel, stride, dilation, groups = self.args
        b, c, h, w = x_shape
        dout_nhwc = _channels_last(dout)
        padded = _pad(_split_groups(dout_nhwc, groups), pads)
        dcols = _im2col(padded, kernel, stride, dilation, (h, w))
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx_rows = xp.matmul(dcols, xp.matrix_transpose(self.w_mat))
            dx = _channels_first(_ungrouped_rows(dx_rows, (b, h, w, c)))
        if self.needs_input_grad[1]:
            dw_mat = xp.matmul(xp.matrix_transpose(self.x_rows), dcols)
            dw = _transposed_weight_from_matrix(dw_mat, w_shape, groups)
        if self.needs_input_grad[2]:
            db = xp.sum(dout_nhwc, axis=(0, 1, 2))
        return dx, dw, db


def conv_transpose2d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """PyTorch's F.conv_transpose2d (the gradient of conv2d with respect to its input):
    x (B, C, H, W), weight (C, F/groups, KH, KW) -> (B, F, OH, OW) with
    OH = (H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1."""
    fn = "conv_transpose2d"
    _check_tensor(fn, "input", x, 4)
    _check_conv_args(fn, x, weight, bias, groups, transposed=True)
    stride = _pair(stride, "stride", fn, 1)
    padding = _pair(padding, "padding", fn)
    output_padding = _pair(output_padding, "output_padding", fn)
    dilation = _pair(dilation, "dilation", fn, 1)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(
                f"{fn}: output_padding {output_padding} must be smaller than either stride "
                f"{stride} or dilation {dilation}"
            )
    out_size = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(
            x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding
        )
    )
    if min(out_size) < 1:
        raise ValueError(f"{fn}: output size {out_size} is empty (input shape {x.shape})")
    return TransposedConvolution.apply(
        x,
        weight,
        bias,
        stride=stride,
        padding=padding,
        out_size=out_size,
        dilation=dilation,
        groups=groups,
    )
