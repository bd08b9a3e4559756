"""Resizing: interpolate (nearest, nearest-exact, linear, bilinear) on (N, C, L) and (N, C, H, W)
batches, as torch.nn.functional.interpolate. Read pooling.py first; recurrent.py next.
nn/upsampling.py and data/transforms.py (RandomResizedCrop) use it.

Resizing is linear and separable. Along each spatial axis, output position o reads one input
position (nearest) or blends two (linear) with weights that depend only on the sizes, so one
axis is resized by a small (out, in) matrix R whose rows hold those weights:

    y = R_L x                       (N, C, L)
    y = R_H x R_W^T                 (N, C, H, W)
    dx = R_H^T dout R_W             the backward is the transpose

The forward gathers the taps instead of multiplying by R (cheaper, and each output touches
only the inputs it reads, so an inf in x does not spread along its row); the backward
multiplies by R^T, which sums the gradient of every output into the inputs it read.
"""

import math
import numbers
from dataclasses import dataclass

from minigrad import backend
from minigrad.tensor import Function, Tensor

MODES = {"nearest": 1, "nearest-exact": 1, "linear": 3, "bilinear": 4}  # mode: input dims

# --------------------------------------------------------------------------- taps of one axis


@dataclass
class Place:
    """Where the taps are computed: the input's namespace, device and float dtype name."""

    xp: object
    device: object
    dtype: str

    def positions(self, n, dtype=None):
        """0, 1, ..., n - 1 as a float array (self.dtype unless another is named)."""
        return self.xp.arange(n, dtype=getattr(self.xp, dtype or self.dtype), device=self.device)

    def ones(self, n):
        return self.xp.ones(n, dtype=getattr(self.xp, self.dtype), device=self.device)

    def scalar(self, value, dtype=None):
        return self.xp.asarray(
            value, dtype=getattr(self.xp, dtype or self.dtype), device=self.device
        )

    def index(self, src, in_size):
        """PyTorch's index of a source coordinate: floor in float32 (floorf), at most in - 1."""
        xp = self.xp
        return xp.clip(xp.astype(xp.floor(xp.astype(src, xp.float32)), xp.int64), max=in_size - 1)


@dataclass
class AxisTaps:
    """How one axis is resized: out[o] = sum_k weights[k][o] * x[indices[k][o]]."""

    in_size: int
    indices: list
    weights: list

    def matrix(self):
        """R (out, in): the dense form of the taps (for the backward)."""
        xp = backend.xp_of(self.indices[0])
        columns = xp.arange(self.in_size, dtype=xp.int64, device=self.indices[0].device)
        r = 0
        for index, weight in zip(self.indices, self.weights):
            hits = xp.astype(index[:, None] == columns[None, :], weight.dtype)  # one-hot rows
            r = r + hits * weight[:, None]
        return r


def _scale(in_size, out_size, scale_factor, place, dtype=None):
    """Input positions per output position, in the precision PyTorch computes it in:
    1 / scale_factor when one is used, else in_size / out_size."""
    if scale_factor is not None:
        return place.scalar(1.0 / scale_factor, dtype)
    return place.scalar(in_size, dtype) / place.scalar(out_size, dtype)


def _nearest_taps(in_size, out_size, scale_factor, exact, place, precision=None):
    """nearest: src = floor(o * scale); nearest-exact: src = floor((o + 0.5) * scale)."""
    o = place.positions(out_size, precision) + (0.5 if exact else 0.0)
    src = o * _scale(in_size, out_size, scale_factor, place, precision)
    return AxisTaps(in_size, [place.index(src, in_size)], [place.ones(out_size)])


def _nearest_taps_2d(in_size, out_size, scale_factor, exact, place):
    """PyTorch's (N, C, H, W) nearest kernels differ from their 1-D ones: they compute in
    float32 whatever the input's dtype, and plain nearest copies an axis that keeps its size
    and halves the index when the size doubles."""
    if not exact and out_size in (in_size, 2 * in_size):
        o = place.xp.arange(out_size, dtype=place.xp.int64, device=place.device)
        return AxisTaps(in_size, [o // (out_size // in_size)], [place.ones(out_size)])
    return _nearest_taps(in_size, out_size, scale_factor, exact, place, "float32")


def _linear_taps(in_size, out_size, scale_factor, align_corners, place):
    """Blend the two inputs around the source coordinate src of each output o:
    align_corners: src = o * (in - 1) / (out - 1), the corner pixels' centres line up;
    otherwise src = (o + 0.5) * scale - 0.5, the image edges line up (src clamped at 0).
    An axis whose size does not change is copied (src = o), as PyTorch does."""
    xp = place.xp
    o = place.positions(out_size)
    if out_size == in_size:  # PyTorch copies such an axis whatever scale_factor says
        src = o
    elif align_corners:
        src = o * (place.scalar(in_size - 1) / place.scalar(max(out_size - 1, 1)))  # out 1: 0
    else:
        scale = _scale(in_size, out_size, scale_factor, place)
        src = xp.clip(scale * (o + 0.5) - 0.5, min=0.0)
    i0 = place.index(src, in_size)
    i1 = xp.clip(i0 + 1, max=in_size - 1)
    w1 = xp.clip(src - xp.astype(i0, src.dtype), min=0.0, max=1.0)
    return AxisTaps(in_size, [i0, i1], [1 - w1, w1])


def _axis_taps(mode, in_size, out_size, scale_factor, align_corners, place, spatial_dims=1):
    if mode.startswith("nearest") and spatial_dims == 2:
        return _nearest_taps_2d(in_size, out_size, scale_factor, mode == "nearest-exact", place)
    if mode.startswith("nearest"):
        return _nearest_taps(in_size, out_size, scale_factor, mode == "nearest-exact", place)
    return _linear_taps(in_size, out_size, scale_factor, align_corners, place)


def resize_matrix(in_size, out_size, mode="linear", align_corners=False, device="cpu"):
    """R (out_size, in_size), float64 on `device`: y = R @ x resizes a length-in_size axis as
    interpolate(size=out_size) does (mode "nearest", "nearest-exact" or "linear")."""
    if mode not in ("nearest", "nearest-exact", "linear"):
        raise ValueError(
            f"resize_matrix: mode must be nearest, nearest-exact or linear, got {mode!r}"
        )
    place = Place(backend.namespace(device), backend.native_device(device), "float64")
    return _axis_taps(mode, in_size, out_size, None, align_corners, place).matrix()


# --------------------------------------------------------------------------- the op


class Resize(Function):
    """y = R_H x R_W^T (or R_L x), gathered tap by tap;  dx = R_H^T dout R_W (or R_L^T dout)"""

    def forward(self, x, taps):
        self.taps = taps  # one AxisTaps per spatial axis: axes 2, 3, ...
        for axis, axis_taps in enumerate(taps, start=2):
            x = self._resize_axis(x, axis, axis_taps)
        return x

    def _resize_axis(self, x, axis, taps):
        """out[..., o, ...] = sum_k weights[k][o] * x[..., indices[k][o], ...] along `axis`."""
        xp = self.xp
        along = tuple(-1 if a == axis else 1 for a in range(x.ndim))  # weights vary along axis
        y = 0
        for index, weight in zip(taps.indices, taps.weights):
            y = y + xp.take(x, index, axis=axis) * xp.reshape(weight, along)
        return y

    def backward(self, dout):
        xp = self.xp
        r = [taps.matrix() for taps in self.taps]  # arrays, even when dout is a Tensor
        if len(r) == 1:  # (N, C, OL) @ R_L: (N, C, L)
            return (xp.matmul(dout, r[0]),)
        # R_H^T (H, OH) @ dout (N, C, OH, OW) @ R_W (OW, W) = dx (N, C, H, W)
        r_h_t = backend.xp_of(r[0]).matrix_transpose(r[0])
        return (xp.matmul(xp.matmul(r_h_t, dout), r[1]),)


# --------------------------------------------------------------------------- the public function


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _per_axis(value, n, name):
    """One value per spatial axis from a number or a sequence of n."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n:
        raise ValueError(f"interpolate: {name} needs {n} values for this input, got {value!r}")
    return values


def _output_sizes(x, size, scale_factor, n):
    """(out sizes, scale factors or None): out = floor(in * scale_factor) as in PyTorch."""
    if (size is None) == (scale_factor is None):
        raise ValueError(
            f"interpolate: give exactly one of size and scale_factor, got size={size!r}, "
            f"scale_factor={scale_factor!r}"
        )
    if size is not None:
        sizes = _per_axis(size, n, "size")
        if not all(isinstance(s, numbers.Integral) and _is_real(s) and s >= 1 for s in sizes):
            raise ValueError(f"interpolate: size must hold ints >= 1, got {size!r}")
        return tuple(int(s) for s in sizes), None
    scales = _per_axis(scale_factor, n, "scale_factor")
    if not all(_is_real(s) and s > 0 and math.isfinite(s) for s in scales):
        raise ValueError(f"interpolate: scale_factor must be finite and > 0, got {scale_factor!r}")
    sizes = tuple(math.floor(float(x.shape[2 + i]) * s) for i, s in enumerate(scales))
    if min(sizes) < 1:
        raise ValueError(
            f"interpolate: scale_factor {scale_factor!r} makes input {x.shape} empty: {sizes}"
        )
    return sizes, tuple(float(s) for s in scales)


def _check_mode(x, mode, align_corners):
    if not isinstance(x, Tensor):
        raise TypeError(f"interpolate: input must be a Tensor, got {type(x).__name__}")
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {sorted(MODES)}, got {mode!r}")
    if mode.startswith("nearest") and x.ndim not in (3, 4):
        raise ValueError(f"interpolate: mode {mode!r} needs a 3-D or 4-D input, got {x.shape}")
    if not mode.startswith("nearest") and x.ndim != MODES[mode]:
        raise ValueError(f"interpolate: mode {mode!r} needs a {MODES[mode]}-D input, got {x.shape}")
    if align_corners is not None and mode.startswith("nearest"):
        raise ValueError(
            f"interpolate: align_corners can only be set with mode 'linear' or 'bilinear', "
            f"got mode {mode!r}"
        )
    if not backend.dtype_name(x.dtype).startswith("float"):
        raise TypeError(f"interpolate: input must be floating point, got {x.dtype}")


def interpolate(
    input,  # noqa: A002 (PyTorch's name)
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
):
    """Resize (N, C, L) or (N, C, H, W) to `size`, or by `scale_factor` (out = floor(in * s)).

    mode: "nearest" (src = floor(o * in / out)), "nearest-exact" (pixel centres), "linear"
    (3-D) or "bilinear" (4-D). align_corners (linear modes only, default False) maps the corner
    pixels' centres onto each other. With scale_factor the coordinate map uses 1 / scale_factor,
    unless recompute_scale_factor=True, which uses in / out as `size` does (PyTorch's rules)."""
    _check_mode(input, mode, align_corners)
    sizes, scales = _output_sizes(input, size, scale_factor, input.ndim - 2)
    if recompute_scale_factor:
        scales = None
    place = Place(backend.xp_of(input.data), backend.native_device(input.device), input.dtype)
    taps = []
    for i, out in enumerate(sizes):
        scale = None if scales is None else scales[i]
        taps.append(
            _axis_taps(mode, input.shape[2 + i], out, scale, bool(align_corners), place, len(sizes))
        )
    return Resize.apply(input, taps=taps)
