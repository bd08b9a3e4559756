"""The fast convolution behind F.conv1d, F.conv2d and F.conv_transpose2d: channels-last im2col,
groups as a batch axis, the bias inside the GEMM, dx by correlation. Read pooling.py next.

The math is functional/conv.py's conv2d_reference (y = cols @ W + b, cols = im2col(x)); this
file computes the same numbers with fewer passes over memory, and is property-tested equal to
it. Kernel offset (i, j) sees one strided slice of the padded channels-last input at every
output position; the slices side by side form cols (B, OH, OW, KH, KW, C), and the whole conv
is cols (B*OH*OW, KH*KW*C) @ W (KH*KW*C, F). col2im, for the input gradient, is the same loop
with += into a zero image. Groups ride along as a leading batch axis G of the matmul.
"""

from minigrad import backend
from minigrad.fast.arrays import window_view
from minigrad.fast.layout import channels_first, channels_last, crop, pad, window, window_index
from minigrad.functional.windows import offsets, out_size, unpadded_size
from minigrad.tensor import Function

# --------------------------------------------------------------------------- groups and rows


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


def _grouped_rows(a, groups):
    """(B, H, W, C) -> (G, B*H*W, C/G): one matrix of channel rows per group."""
    xp = backend.xp_of(a)
    b, h, w, c = a.shape
    return xp.permute_dims(xp.reshape(a, (b * h * w, groups, c // groups)), (1, 0, 2))


def _ungrouped_rows(a, shape):
    """(G, B*H*W, Cg) -> (B, H, W, G*Cg); a view when G == 1."""
    xp = backend.xp_of(a)
    return xp.reshape(xp.permute_dims(a, (1, 0, 2)), shape)


# --------------------------------------------------------------------------- im2col / col2im


def _windows_by_slices(x, kernel, stride, dilation, size):
    """(..., Hp, Wp, C) -> (..., OH, OW, KH, KW, C): one strided-slice copy per kernel offset
    (the portable twin of arrays.window_view)."""
    xp = backend.xp_of(x)
    *lead, _, _, c = x.shape
    shape = (*lead, size[0], size[1], kernel[0], kernel[1], c)
    cols = xp.empty(shape, dtype=x.dtype, device=x.device)
    for i, j in offsets(kernel):
        cols[..., i, j, :] = window(x, i, j, stride, dilation, size)
    return cols


def _im2col(x, kernel, stride, dilation, size, ones_column=False):
    """Padded (G, B, Hp, Wp, Cg) -> cols (G, B*OH*OW, KH*KW*Cg), ready for one GEMM; with
    ones_column, one more column of ones for _bias_in_gemm.

    On NumPy the windows are a zero-copy strided view (arrays.window_view) and one copy lays
    them out as rows."""
    xp = backend.xp_of(x)
    g, b = x.shape[:2]
    rows = b * size[0] * size[1]
    width = kernel[0] * kernel[1] * x.shape[-1]
    windows = window_view(x, kernel, stride, dilation, size)
    if windows is None:
        windows = _windows_by_slices(x, kernel, stride, dilation, size)
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


def _col2im(cols, padded_shape, kernel, stride, dilation, size):
    """The adjoint of _im2col: cols (G, KH*KW, B*OH*OW, Cg), one block per kernel offset,
    summed into a zero padded image (G, B, Hp, Wp, Cg); overlapping windows add up.
    Measured gain: offset-major blocks make each += contiguous, 1.5x faster than reading the
    (i, j) columns out of the (B*OH*OW, KH*KW*Cg) matrix."""
    xp = backend.xp_of(cols)
    g, b, _, _, c = padded_shape
    image = xp.zeros(padded_shape, dtype=cols.dtype, device=cols.device)
    for k, (i, j) in enumerate(offsets(kernel)):
        block = xp.reshape(cols[:, k, ...], (g, b, size[0], size[1], c))
        image[window_index(i, j, stride, dilation, size)] += block
    return image


# --------------------------------------------------------------------------- weights


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
    count = kernel[0] * kernel[1]
    return xp.matrix_transpose(xp.reshape(w_mat, (g, count, rows // count, f)))


def _bias_in_gemm(w_mat, b, groups):
    """W (G, KH*KW*Cg, F/G) with the bias as one more row, met by cols' column of ones: the
    GEMM adds the bias, and cols^T @ dout yields db as its last row. Measured gain: the
    benchmark CNN's train step 47.4 -> 46.0 ms (no separate pass over y for +b or for db)."""
    xp = backend.xp_of(w_mat)
    bias_row = xp.reshape(b, (groups, 1, w_mat.shape[-1]))
    return xp.concat([w_mat, bias_row], axis=1)


# --------------------------------------------------------------------------- dx by correlation


def _correlate_for_dx(w_shape, stride, groups):
    """Whether conv backward takes dx as a correlation of dout with the flipped kernel: for
    stride 1, one group and no more output than input channels. Measured gain: the CIFAR
    example's step 421-438 -> 382-388 ms (`python -m benchmarks.ab --model cifar`); timed per
    layer (128 images, 3x3), it won for F = C and lost for F = 2C."""
    return stride == (1, 1) and groups == 1 and w_shape[0] <= w_shape[1]


def _input_grad_by_correlation(dout, w_rows, w_shape, pads, dilation, size, in_size):
    """dx of a stride-1 conv as a correlation: dout (1, B*OH*OW, F) padded by the dilated kernel
    span on every side, correlated with the kernel flipped in space and transposed (F <-> C).
    One im2col GEMM writes dx (1, B*H*W, C) directly, with no col2im adds.

    Padded-input row i sums dout[i - d*k] w[k] over k; with S = d*(K-1) zeros in front of
    dout that is sum over k' of dpad[i + d*k'] w[K-1-k'], a correlation. Only the rows i of
    the unpadded input are computed: dpad from row `top` on."""
    xp = backend.xp_of(dout)
    f, c, kh, kw = w_shape
    span = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    image = xp.reshape(dout, (1, -1, size[0], size[1], f))
    dpad = pad(image, ((span[0], span[0]), (span[1], span[1])))
    (top, _), (left, _) = pads
    dpad = dpad[:, :, top : top + in_size[0] + span[0], left : left + in_size[1] + span[1], :]
    cols = _im2col(dpad, (kh, kw), (1, 1), dilation, in_size)  # (1, B*H*W, KH*KW*F)
    # W rows are (i, j, c) x F columns; the flipped transpose has rows (i', j', f) x C columns
    w = xp.flip(xp.reshape(w_rows, (kh, kw, c, f)), axis=(0, 1))
    w_flipped = xp.reshape(xp.permute_dims(w, (0, 1, 3, 2)), (kh * kw * f, c))
    return xp.matmul(cols, w_flipped)


# --------------------------------------------------------------------------- conv2d


class Convolution(Function):
    """y = x (*) w + b as cols @ W;  dW = cols^T @ dout,  dx = col2im(dout @ W^T),  db = sum dout.

    Fused (im2col, GEMM and bias in one op) for speed: no graph nodes for the layout steps."""

    def forward(self, x, w, b, stride, pads, dilation, groups):
        xp = self.xp
        kernel = tuple(w.shape[2:])
        x = pad(_split_groups(channels_last(x), groups), pads)
        size = tuple(
            out_size(n, k, s, 0, d) for n, k, s, d in zip(x.shape[2:4], kernel, stride, dilation)
        )
        w_mat = _weight_matrix(w, groups)
        if b is not None:
            w_mat = _bias_in_gemm(w_mat, b, groups)
        cols = _im2col(x, kernel, stride, dilation, size, ones_column=b is not None)
        # (G, B*OH*OW, KH*KW*Cg [+1]) @ (G, KH*KW*Cg [+1], F/G): the whole conv is one GEMM
        y = _ungrouped_rows(xp.matmul(cols, w_mat), (x.shape[1], *size, w.shape[0]))
        self.cols = cols if self.needs_input_grad[1] else None
        self.w_mat = w_mat
        self.args = (w.shape, x.shape, pads, kernel, stride, dilation, groups, size)
        return channels_first(y)

    def backward(self, dout):
        w_shape, padded_shape, pads, kernel, stride, dilation, groups, size = self.args
        dout = _grouped_rows(channels_last(dout), groups)
        width = kernel[0] * kernel[1] * w_shape[1]  # rows of W without the bias row
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx = self._input_grad(dout, width)
        if self.needs_input_grad[1]:
            dw_mat = self.xp.matmul(self.xp.matrix_transpose(self.cols), dout)  # (G, width+1, F/G)
            dw = _weight_from_matrix(dw_mat[:, :width, :], w_shape, groups)
            if self.needs_input_grad[2]:
                db = self.xp.reshape(dw_mat[:, width, :], (-1,))  # the ones column's row
        if self.needs_input_grad[2] and db is None:
            db = self.xp.reshape(self.xp.sum(dout, axis=1), (-1,))
        return dx, dw, db

    def _input_grad(self, dout, width):
        """dx (B, C, H, W): by correlation where _correlate_for_dx says so, else col2im."""
        xp = self.xp
        w_shape, padded_shape, pads, kernel, stride, dilation, groups, size = self.args
        in_size = unpadded_size(padded_shape[2:4], pads)
        if _correlate_for_dx(w_shape, stride, groups):
            args = (dout, self.w_mat[0, :width, :], w_shape, pads, dilation, size, in_size)
            dx = _input_grad_by_correlation(*args)
            return channels_first(xp.reshape(dx, (padded_shape[1], *in_size, w_shape[1])))
        # (G, 1, B*OH*OW, F/G) @ (G, KH*KW, F/G, Cg): one input-gradient block per offset
        weights = _offset_weights(self.w_mat[:, :width, :], kernel)
        dcols = xp.matmul(xp.expand_dims(dout, axis=1), weights)
        dx = _col2im(dcols, padded_shape, kernel, stride, dilation, size)
        return channels_first(_merge_groups(crop(dx, pads, in_size)))


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
    count = kernel[0] * kernel[1]
    return xp.permute_dims(xp.reshape(w_mat, (g, c, count, cols // count)), (0, 2, 1, 3))


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
        x_rows = _grouped_rows(channels_last(x), groups)
        w_mat = _transposed_weight_matrix(w, groups)
        # (G, 1, B*H*W, C/G) @ (G, KH*KW, C/G, F/G): each pixel's patch, offset by offset
        patches = xp.matmul(xp.expand_dims(x_rows, axis=1), _patch_weights(w_mat, kernel))
        image = _col2im(patches, padded_shape, kernel, stride, dilation, in_size)
        y = _merge_groups(crop(image, pads, out_size))
        if b is not None:
            y = y + b
        self.x_rows = x_rows if self.needs_input_grad[1] else None
        self.w_mat = w_mat
        self.args = (x.shape, w.shape, pads, kernel, stride, dilation, groups)
        return channels_first(y)

    def backward(self, dout):
        xp = self.xp
        x_shape, w_shape, pads, kernel, stride, dilation, groups = self.args
        b, c, h, w = x_shape
        dout_nhwc = channels_last(dout)
        padded = pad(_split_groups(dout_nhwc, groups), pads)
        dcols = _im2col(padded, kernel, stride, dilation, (h, w))
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx_rows = xp.matmul(dcols, xp.matrix_transpose(self.w_mat))
            dx = channels_first(_ungrouped_rows(dx_rows, (b, h, w, c)))
        if self.needs_input_grad[1]:
            dw_mat = xp.matmul(xp.matrix_transpose(self.x_rows), dcols)
            dw = _transposed_weight_from_matrix(dw_mat, w_shape, groups)
        if self.needs_input_grad[2]:
            db = xp.sum(dout_nhwc, axis=(0, 1, 2))
        return dx, dw, db
