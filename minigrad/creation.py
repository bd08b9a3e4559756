"""Tensor constructors, PyTorch's names: tensor() from data, zeros/ones/full(_like), rand and
randn from the seeded per-device generators, arange. Read ops.py next.
"""

from minigrad import backend
from minigrad.tensor import Tensor, _shape_args


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new leaf Tensor from a list, scalar, NumPy/CuPy array or Tensor (copied).

    Float data without a dtype becomes float32 (float64 arrays stay float64)."""
    if isinstance(data, Tensor):
        data = data.data
    array = backend.new_array(data, device, dtype)
    t = Tensor(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _filled(fill, shape, dtype, device, requires_grad):
    xp = backend.namespace(device)
    dtype = backend._dtype(xp, dtype or backend.DEFAULT_DTYPE)
    shape = _shape_args(shape)
    data = xp.full(shape, fill, dtype=dtype, device=backend.native_device(device))
    return Tensor(data).requires_grad_(requires_grad) if requires_grad else Tensor(data)


def zeros(*shape, dtype=None, device="cpu", requires_grad=False):
    return _filled(0, shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device="cpu", requires_grad=False):
    return _filled(1, shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device="cpu", requires_grad=False):
    return _filled(fill_value, shape, dtype, device, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _filled(0, t.shape, dtype or t.dtype, t.device, requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _filled(1, t.shape, dtype or t.dtype, t.device, requires_grad)


def randn(*shape, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples from the device's seeded generator (see minigrad.seed)."""
    data = backend.randn(_shape_args(shape), device, dtype)
    return Tensor(data).requires_grad_(requires_grad) if requires_grad else Tensor(data)


def rand(*shape, dtype=None, device="cpu", requires_grad=False):
    """Uniform [0, 1) samples from the device's seeded generator."""
    data = backend.rand(_shape_args(shape), device, dtype)
    return Tensor(data).requires_grad_(requires_grad) if requires_grad else Tensor(data)


def arange(start, end=None, step=1, dtype=None, device="cpu"):
    if end is None:
        start, end = 0, start
    xp = backend.namespace(device)
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = "int64" if is_int else backend.DEFAULT_DTYPE
    data = xp.arange(
        start, end, step, dtype=backend._dtype(xp, dtype), device=backend.native_device(device)
    )
    return Tensor(data)
