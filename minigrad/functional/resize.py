"""Resizing: interpolate (nearest, nearest-exact, linear, bilinear) on (N, C, L) and (N, C, H, W)
batches, as torch.nn.functional.interpolate. Read pooling.py first; nn/resize.py and
data/transforms.py (RandomResizedCrop) use it.

Resizing is linear and separable. Along each spatial axis, output position o reads one input
position (nearest) or blends two (linear) with weights that depend only on the sizes, so one
axis is resized by a small (out, in) matrix R whose rows hold those weights:

    y = R_L x                       (N, C, L)
    y = R_H x R_W^T                 (N, C, H, W)
    dx = R_H^T dout R_W             the backward is the transpose

The forward gathers the taps instead of multiplying by R (cheaper, and an inf in x stays in
the outputs that read it); the backward multiplies by R^T, which sums the gradient of every
output into the inputs it read.
"""

import math
from dataclasses import dataclass

import numpy as np

from minigrad import backend
from minigrad.tensor import Function, Tensor

MODES = {"nearest": 1, "nearest-exact": 1, "linear": 3, "bilinear": 4}  # mode: input dims

# --------------------------------------------------------------------------- taps of one axis


@dataclass
class AxisTaps:
    """How one axis is resized: out[o] = sum_k weights[k][o] * x[indices[k][o]] (host arrays)."""

    in_size: int
    indices: list
    weights: list

    def matrix(self):
        """R (out, in): the dense form of the taps (for the backward)."""
        r = np.zeros((len(self.indices[0]), self.in_size))
        for index, weight in zip(self.indices, self.weights):
            np.add.at(r, (np.arange(len(index)), index), weight)
        return r


def _scale(in_size, out_size, scale_factor, dtype):
    """Input positions per output position, in the input's precision as PyTorch computes it:
    1 / scale_factor when one is used, else in_size / out_size."""
    if scale_factor is not None:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(in_size) / dtype.type(out_size)


def _nearest_taps(in_size, out_size, scale_factor, exact, dtype):
    """nearest: src = floor(o * scale); nearest-exact: src = floor((o + 0.5) * scale)."""
    o = np.arange(out_size, dtype=dtype) + (dtype.type(0.5) if exact else dtype.type(0))
    src = np.floor((o * _scale(in_size, out_size, scale_factor, dtype)).astype(np.float32))
    return AxisTaps(in_size, [np.minimum(src.astype(np.int64), in_size - 1)], [np.ones(out_size)])


def _nearest_taps_2d(in_size, out_size, scale_factor, exact):
    """PyTorch's (N, C, H, W) nearest kernels differ from their 1-D ones: they compute in
    float32 whatever the input's dtype, and plain nearest copies an axis that keeps its size
    and halves the index when the size doubles."""
    if not exact and out_size in (in_size, 2 * in_size):
        src = np.arange(out_size) // (out_size // in_size)
        return AxisTaps(in_size, [src], [np.ones(out_size)])
    return _nearest_taps(in_size, out_size, scale_factor, exact, np.dtype("float32"))


def _linear_taps(in_size, out_size, scale_factor, align_corners, dtype):
    """Blend the two inputs around the source coordinate src of each output o:
    align_corners: src = o * (in - 1) / (out - 1), the corner pixels' centres line up;
    otherwise src = (o + 0.5) * scale - 0.5, the image edges line up (src clamped at 0).
    An axis whose size does not change is copied (src = o), as PyTorch does."""
    o = np.arange(out_size, dtype=dtype)
    if out_size == in_size:  # PyTorch copies such an axis whatever scale_factor says
        src = o
    elif align_corners:
        scale = dtype.type(in_size - 1) / dtype.type(max(out_size - 1, 1))  # out 1: src 0
        src = o * scale
    else:
        scale = _scale(in_size, out_size, scale_factor, dtype)
        src = np.maximum(scale * (o + dtype.type(0.5)) - dtype.type(0.5), dtype.type(0))
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = np.clip(src - i0, 0, 1)
    return AxisTaps(in_size, [i0, i1], [1 - w1, w1])


def _axis_taps(mode, in_size, out_size, scale_factor, align_corners, dtype, spatial_dims=1):
    if mode.startswith("nearest") and spatial_dims == 2:
        return _nearest_taps_2d(in_size, out_size, scale_factor, mode == "nearest-exact")
    if mode.startswith("nearest"):
        return _nearest_taps(in_size, out_size, scale_factor, mode == "nearest-exact", dtype)
    return _linear_taps(in_size, out_size, scale_factor, align_corners, dtype)


def resize_matrix(in_size, out_size, mode="linear", align_corners=False):
    """R (out_size, in_size) as a float64 host array: y = R @ x resizes a length-in_size axis
    as interpolate(size=out_size) does (mode "nearest", "nearest-exact" or "linear")."""
    if mode not in ("nearest", "nearest-exact", "linear"):
        raise ValueError(
            f"resize_matrix: mode must be nearest, nearest-exact or linear, got {mode!r}"
        )
    float64 = np.dtype("float64")
    return _axis_taps(mode, in_size, out_size, None, align_corners, float64).matrix()


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
        device = backend.device_of(x)
        along = tuple(-1 if a == axis else 1 for a in range(x.ndim))  # weights vary along axis
        y = None
        for index, weight in zip(taps.indices, taps.weights):
            w = xp.reshape(backend.to_device(weight, device, backend.dtype_name(x.dtype)), along)
            term = xp.take(x, backend.to_device(index, device), axis=axis) * w
            y = term if y is None else y + term
        return y

    def backward(self, dout):
        xp = self.xp
        device = backend.device_of(dout)
        dtype = backend.dtype_name(dout.dtype)
        r = [backend.to_device(t.matrix(), device, dtype) for t in self.taps]
        if len(r) == 1:  # (N, C, OL) @ R_L: (N, C, L)
            return (xp.matmul(dout, r[0]),)
        # R_H^T (H, OH) @ dout (N, C, OH, OW) @ R_W (OW, W) = dx (N, C, H, W)
        return (xp.matmul(xp.matmul(xp.matrix_transpose(r[0]), dout), r[1]),)


# --------------------------------------------------------------------------- the public function


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
        if not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
            raise ValueError(f"interpolate: size must hold ints >= 1, got {size!r}")
        return tuple(int(s) for s in sizes), None
    scales = _per_axis(scale_factor, n, "scale_factor")
    if not all(isinstance(s, (int, float)) and s > 0 and math.isfinite(s) for s in scales):
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
    dtype = np.dtype(backend.dtype_name(input.dtype))
    taps = []
    for i, out in enumerate(sizes):
        scale = None if scales is None else scales[i]
        taps.append(
            _axis_taps(mode, input.shape[2 + i], out, scale, bool(align_corners), dtype, len(sizes))
        )
    return Resize.apply(input, taps=taps)
