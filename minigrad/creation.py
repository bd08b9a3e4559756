"""Tensor constructors, PyTorch's names: tensor() from data, zeros/ones/full(_like), rand and
randn from the seeded per-device generators, arange, eye, linspace, randint, randperm,
from_numpy. Read ops.py next.
"""

from minigrad import backend
from minigrad.tensor import Tensor
from minigrad.tensor_methods import shape_args


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
    shape = shape_args(shape)
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
    data = backend.randn(shape_args(shape), device, dtype)
    return Tensor(data).requires_grad_(requires_grad) if requires_grad else Tensor(data)


def rand(*shape, dtype=None, device="cpu", requires_grad=False):
    """Uniform [0, 1) samples from the device's seeded generator."""
    data = backend.rand(shape_args(shape), device, dtype)
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


def empty(*shape, dtype=None, device="cpu", requires_grad=False):
    """A tensor of `shape` whose values are not to be relied on (zeros here)."""
    return _filled(0, shape, dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
    """The n x m identity matrix (m defaults to n)."""
    xp = backend.namespace(device)
    dtype = backend._dtype(xp, dtype or backend.DEFAULT_DTYPE)
    data = xp.eye(n, m, dtype=dtype, device=backend.native_device(device))
    return Tensor(data).requires_grad_(requires_grad) if requires_grad else Tensor(data)


def linspace(start, end, steps, dtype=None, device="cpu", requires_grad=False):
    """`steps` evenly spaced values from start to end, both included."""
    if steps < 0:
        raise ValueError(f"linspace: steps must be >= 0, got {steps}")
    xp = backend.namespace(device)
    dtype = backend._dtype(xp, dtype or backend.DEFAULT_DTYPE)
    data = xp.linspace(start, end, steps, dtype=dtype, device=backend.native_device(device))
    return Tensor(data).requires_grad_(requires_grad) if requires_grad else Tensor(data)


def randint(low, high=None, size=None, dtype="int64", device="cpu"):
    """Integers drawn uniformly from [low, high); randint(high, size) starts at 0 (PyTorch's
    overloads), from the seeded host generator."""
    if size is None:
        low, high, size = 0, low, high
    if size is None or high is None:
        raise TypeError("randint: give high and size, e.g. randint(10, (3,))")
    if high <= low:
        raise ValueError(f"randint: need low < high, got low={low}, high={high}")
    host = backend.host_rng().integers(low, high, size=shape_args((size,)))
    return Tensor(backend.to_device(host, device, dtype=dtype))


def randperm(n, dtype="int64", device="cpu"):
    """A random permutation of 0..n-1, from the seeded host generator."""
    if n < 0:
        raise ValueError(f"randperm: n must be >= 0, got {n}")
    return Tensor(backend.to_device(backend.host_rng().permutation(n), device, dtype=dtype))


def from_numpy(array):
    """A CPU tensor that SHARES the NumPy array's memory (writes show in both), like PyTorch's."""
    if not backend.is_array(array) or backend.device_of(array) != "cpu":
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor(array)
