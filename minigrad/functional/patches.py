"""F.pad (constant, reflect, replicate, circular), F.unfold (sliding patches as columns, the
im2col of a convolution) and F.fold (its adjoint: columns summed back into an image).
Read conv.py first; resize.py next.

unfold's columns are ordered as PyTorch's: row c*KH*KW + i*KW + j of the (B, C*KH*KW, L)
result holds channel c at kernel offset (i, j) for every one of the L = OH*OW windows.
Each op's backward is the other one: fold is unfold's transpose.
"""

from dataclasses import dataclass

from minigrad import ops
from minigrad.functional.windows import offsets, out_size, stack_windows, window_slices
from minigrad.tensor import Function, Tensor

# --------------------------------------------------------------------------- pad


def _source_positions(n, before, after, mode):
    """For each position of a padded axis, the input position it copies (PyTorch's modes)."""
    if mode == "reflect" and max(before, after) >= n:
        raise ValueError(f"pad: reflect padding ({before}, {after}) must be < the size {n}")
    if mode == "circular" and max(before, after) > n:
        raise ValueError(f"pad: circular padding ({before}, {after}) must be <= the size {n}")
    positions = range(-before, n + after)
    if mode == "reflect":  # mirror at the edge without repeating it: -1 -> 1, n -> n - 2
        return [n - 1 - abs(n - 1 - abs(i)) for i in positions]
    if mode == "replicate":
        return [min(max(i, 0), n - 1) for i in positions]
    return [i % n for i in positions]  # circular


def pad(input, pad, mode="constant", value=None):
    """PyTorch's F.pad: `pad` lists (before, after) pairs starting from the LAST dimension.

    mode="constant" fills with `value` (default 0); "reflect", "replicate" and "circular"
    copy entries of the input, so their gradients add up where an entry is copied twice."""
    if mode == "constant":
        return ops.pad(input, pad, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(
            f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}"
        )
    if len(pad) % 2 or len(pad) // 2 > input.ndim or any(p < 0 for p in pad):
        raise ValueError(f"pad: {pad} must hold (before, after) pairs >= 0 for the last dims")
    y = input
    for k in range(len(pad) // 2):
        dim = input.ndim - 1 - k
        index = _source_positions(input.shape[dim], pad[2 * k], pad[2 * k + 1], mode)
        # an integer-array index picks along the first axis: move `dim` there and back
        y = y.transpose(0, dim)[index].transpose(0, dim)
    return y


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class _Patches:
    """Kernel, dilation, padding and stride as (height, width) pairs, and the window grid."""

    kernel: tuple
    dilation: tuple
    padding: tuple
    stride: tuple

    def windows(self, size):
        """(OH, OW): how many windows fit along each axis of an (H, W) image."""
        return tuple(
            out_size(n, k, s, 2 * p, d)
            for n, k, d, p, s in zip(size, self.kernel, self.dilation, self.padding, self.stride)
        )


def _as_pair(value, name, fn, minimum):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= minimum for v in pair):
        raise ValueError(f"{fn}: {name} must be an int >= {minimum} or a pair of them: {value!r}")
    return pair


def _patches(fn, kernel_size, dilation, padding, stride):
    return _Patches(
        _as_pair(kernel_size, "kernel_size", fn, 1),
        _as_pair(dilation, "dilation", fn, 1),
        _as_pair(padding, "padding", fn, 0),
        _as_pair(stride, "stride", fn, 1),
    )


def _offset_slices(cfg, grid):
    """For each kernel offset (i, j), row-major: the strided slices of the padded image that
    hold the pixel at that offset in every window (windows.py's geometry)."""
    every = (slice(None), slice(None))
    for i, j in offsets(cfg.kernel):
        yield every + window_slices(i, j, cfg.stride, cfg.dilation, grid)


# --------------------------------------------------------------------------- arrays


def _unfold_array(xp, x, cfg):
    """(B, C, H, W) -> (B, C*KH*KW, OH*OW)."""
    b, c, h, w = x.shape
    (ph, pw), grid = cfg.padding, cfg.windows((h, w))
    padded = xp.zeros((b, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype, device=x.device)
    padded[:, :, ph : ph + h, pw : pw + w] = x
    pieces = [padded[index] for index in _offset_slices(cfg, grid)]  # each (B, C, OH, OW)
    cols = xp.stack(pieces, axis=2)  # (B, C, KH*KW, OH, OW)
    return xp.reshape(cols, (b, c * len(pieces), grid[0] * grid[1]))


def _fold_array(xp, cols, cfg, size):
    """(B, C*KH*KW, OH*OW) -> (B, C, H, W): each column entry is added to its pixel."""
    b = cols.shape[0]
    (ph, pw), grid = cfg.padding, cfg.windows(size)
    k = cfg.kernel[0] * cfg.kernel[1]
    c = cols.shape[1] // k
    cols = xp.reshape(cols, (b, c, k) + grid)
    padded = xp.zeros(
        (b, c, size[0] + 2 * ph, size[1] + 2 * pw), dtype=cols.dtype, device=cols.device
    )
    for n, index in enumerate(_offset_slices(cfg, grid)):
        padded[index] += cols[:, :, n, ...]  # overlapping windows add up
    return padded[:, :, ph : ph + size[0], pw : pw + size[1]]


def _unfold_reference(x, cfg):
    """unfold from differentiable slices (windows.stack_windows), for create_graph=True: fold
    adds each patch back in place, into a view, which a recorded graph cannot do."""
    (ph, pw), grid = cfg.padding, cfg.windows(x.shape[2:])
    padded = ops.pad(x, (pw, pw, ph, ph))
    windows = stack_windows(padded, cfg.kernel, cfg.stride, cfg.dilation, grid)
    b, c, k = windows.shape[:3]  # (B, C, KH*KW, OH, OW)
    return ops.reshape(windows, (b, c * k, grid[0] * grid[1]))


class Unfold(Function):
    """cols = the sliding patches of x as columns;  dx = fold(dout) (patches added back)"""

    reference = _unfold_reference

    def forward(self, x, cfg):
        self.cfg, self.size = cfg, x.shape[2:]
        return _unfold_array(self.xp, x, cfg)

    def backward(self, dout):
        return _fold_array(self.xp, dout, self.cfg, self.size), None


class Fold(Function):
    """y = columns summed into an image;  dcols = unfold(dout)"""

    def forward(self, cols, cfg, size):
        self.cfg = cfg
        return _fold_array(self.xp, cols, cfg, size)

    def backward(self, dout):
        return _unfold_array(self.xp, dout, self.cfg), None, None


# --------------------------------------------------------------------------- public


def _batched(t, ndim, fn, shape_text):
    if not isinstance(t, Tensor) or t.ndim not in (ndim - 1, ndim):
        got = t.shape if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{fn}: input must be a {shape_text} Tensor, got {got}")
    return t if t.ndim == ndim else t.unsqueeze(0)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """(B, C, H, W) -> (B, C*KH*KW, L): every sliding KH x KW patch as a column."""
    x = _batched(input, 4, "unfold", "(B, C, H, W) or (C, H, W)")
    cfg = _patches("unfold", kernel_size, dilation, padding, stride)
    if min(cfg.windows(x.shape[2:])) < 1:
        raise ValueError(f"unfold: the kernel {cfg.kernel} does not fit the input {x.shape}")
    cols = Unfold.apply(x, cfg)
    return cols if input.ndim == 4 else cols.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """(B, C*KH*KW, L) -> (B, C, H, W): unfold's adjoint; overlapping entries add up."""
    cols = _batched(input, 3, "fold", "(B, C*KH*KW, L) or (C*KH*KW, L)")
    cfg = _patches("fold", kernel_size, dilation, padding, stride)
    size = _as_pair(output_size, "output_size", "fold", 1)
    k = cfg.kernel[0] * cfg.kernel[1]
    grid = cfg.windows(size)
    if cols.shape[1] % k or cols.shape[2] != grid[0] * grid[1]:
        raise ValueError(
            f"fold: input {cols.shape} needs C*{k} rows and {grid[0]}*{grid[1]} columns "
            f"for output_size {size} with kernel {cfg.kernel}"
        )
    y = Fold.apply(cols, cfg, size)
    return y if input.ndim == 3 else y.squeeze(0)
