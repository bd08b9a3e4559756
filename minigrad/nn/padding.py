"""The padding layers (PyTorch's names): F.pad as a layer with no weights, one class per mode and
number of padded dimensions. Read functional/patches.py (F.pad) first; upsampling.py next.

`padding` is an int (the same on every side) or 2N ints, (before, after) pairs starting from the
LAST dimension: ZeroPad2d((left, right, top, bottom)). An N-d layer takes inputs with N + 1 or
N + 2 dims, (C, *spatial) or (B, C, *spatial).
"""

from minigrad import functional as F  # noqa: N812
from minigrad.nn.module import Module


class _PadNd(Module):
    """F.pad(x, padding, mode, value) over the last `dims` dimensions."""

    dims = 2
    mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = _padding_tuple(padding, self.dims, type(self).__name__)
        self.value = value

    def forward(self, x):
        if x.ndim not in (self.dims + 1, self.dims + 2):
            raise ValueError(
                f"{type(self).__name__}: expected a {self.dims + 1}-d or {self.dims + 2}-d "
                f"input (C, *spatial) or (B, C, *spatial), got shape {tuple(x.shape)}"
            )
        if self.mode == "constant":
            return F.pad(x, self.padding, value=self.value)
        return F.pad(x, self.padding, mode=self.mode)

    def extra_repr(self):
        return f"{self.padding}"


def _padding_tuple(padding, dims, name):
    """int -> (p,) * 2*dims; a sequence of 2*dims ints -> a tuple; anything else raises."""
    if _is_int(padding):
        padding = (padding,) * (2 * dims)
    valid = isinstance(padding, (tuple, list)) and len(padding) == 2 * dims
    if not valid or not all(_is_int(p) for p in padding):
        raise ValueError(f"{name}: padding must be an int or {2 * dims} ints, got {padding!r}")
    if any(p < 0 for p in padding):
        raise ValueError(f"{name}: negative padding (cropping) is not supported: {padding}")
    return tuple(padding)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding, value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_PadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)


class _CopyPadNd(_PadNd):
    """The modes that copy input entries into the padding: no fill value to give."""

    def __init__(self, padding):
        super().__init__(padding)


class _ReflectionPadNd(_CopyPadNd):
    """Mirror at the edge without repeating it: each side's padding must be < the size."""

    mode = "reflect"


class _ReplicationPadNd(_CopyPadNd):
    """Repeat the edge entry."""

    mode = "replicate"


class _CircularPadNd(_CopyPadNd):
    """Wrap around: the padding before comes from the far end."""

    mode = "circular"


class ZeroPad1d(_ZeroPadNd):
    dims = 1


class ZeroPad2d(_ZeroPadNd):
    dims = 2


class ZeroPad3d(_ZeroPadNd):
    dims = 3


class ConstantPad1d(_ConstantPadNd):
    dims = 1


class ConstantPad2d(_ConstantPadNd):
    dims = 2


class ConstantPad3d(_ConstantPadNd):
    dims = 3


class ReflectionPad1d(_ReflectionPadNd):
    dims = 1


class ReflectionPad2d(_ReflectionPadNd):
    dims = 2


class ReflectionPad3d(_ReflectionPadNd):
    dims = 3


class ReplicationPad1d(_ReplicationPadNd):
    dims = 1


class ReplicationPad2d(_ReplicationPadNd):
    dims = 2


class ReplicationPad3d(_ReplicationPadNd):
    dims = 3


class CircularPad1d(_CircularPadNd):
    dims = 1


class CircularPad2d(_CircularPadNd):
    dims = 2


class CircularPad3d(_CircularPadNd):
    dims = 3
