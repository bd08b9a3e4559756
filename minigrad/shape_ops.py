"""Differentiable reductions and shape changes: sum/mean/var/amax, reshape, permute, expand,
cat, pad, flip/roll/repeat, to(). Read ops.py first (arithmetic), index_ops.py
(x[index], gather, sort) next.
"""

import builtins
import math
import operator
from collections import namedtuple

from minigrad import backend
from minigrad.tensor import Function, Tensor


def _as_float(xp, mask, like):
    """A boolean mask as 0/1 in the dtype of `like` (the array API does not mix bool and float)."""
    return xp.astype(mask, like.dtype)


def _axes(dim, ndim):
    """PyTorch's dim (None, int or tuple; negatives allowed) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in dims:
        if not -ndim <= d < builtins.max(ndim, 1):
            raise IndexError(f"dim {d} is out of range for a tensor with {ndim} dims")
    return tuple(sorted(d % builtins.max(ndim, 1) for d in dims))


def _restore_reduced(xp, dout, axes, keepdim, shape):
    """Broadcast the gradient of a reduction back over the axes it removed."""
    if not keepdim:
        dout = xp.reshape(dout, tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return xp.broadcast_to(dout, shape)


# --------------------------------------------------------------------------- reductions


class Sum(Function):
    """y = sum of x over axes;  dx = dout broadcast back over those axes"""

    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return self.xp.sum(x, axis=axes, keepdims=keepdim)

    def backward(self, dout):
        return (_restore_reduced(self.xp, dout, self.axes, self.keepdim, self.shape),)


class Mean(Function):
    """y = sum(x) / n over axes;  dx = dout / n broadcast back"""

    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        self.n = math.prod(x.shape[a] for a in axes)
        return self.xp.mean(x, axis=axes, keepdims=keepdim)

    def backward(self, dout):
        dout = dout / self.n
        return (_restore_reduced(self.xp, dout, self.axes, self.keepdim, self.shape),)


def _var_reference(x, axes, keepdim, correction):
    """Var from primitives: what create_graph=True differentiates (forward saves x - mean)."""
    centered = x - mean(x, axes, keepdim=True)
    dof = math.prod(x.shape[a] for a in axes) - correction
    return sum(centered * centered, axes, keepdim) / dof


class Var(Function):
    """y = sum((x - mean)**2) / (n - correction);  dx = dout * 2 (x - mean) / (n - correction)"""

    reference = _var_reference

    def forward(self, x, axes, keepdim, correction):
        xp = self.xp
        self.axes, self.keepdim, self.shape = axes, keepdim, x.shape
        self.centered = x - xp.mean(x, axis=axes, keepdims=True)
        self.dof = math.prod(x.shape[a] for a in axes) - correction
        return xp.sum(self.centered * self.centered, axis=axes, keepdims=keepdim) / self.dof

    def backward(self, dout):
        dout = _restore_reduced(self.xp, dout, self.axes, self.keepdim, self.shape)
        return (dout * self.centered * 2 / self.dof,)


class Amax(Function):
    """y = max of x over axes;  dout goes to the maxima, split evenly among ties (as PyTorch)"""

    largest = True
    constant = ("share",)  # 1/count at the extremes, 0 elsewhere: constant away from ties

    def forward(self, x, axes, keepdim):
        xp = self.xp
        self.axes, self.keepdim, self.shape = axes, keepdim, x.shape
        reduce = xp.max if self.largest else xp.min
        y = reduce(x, axis=axes, keepdims=True)
        hits = _as_float(xp, x == y, x)
        self.share = hits / xp.sum(hits, axis=axes, keepdims=True)
        return (
            y
            if keepdim
            else xp.reshape(y, tuple(n for i, n in enumerate(x.shape) if i not in axes))
        )

    def backward(self, dout):
        return (_restore_reduced(self.xp, dout, self.axes, self.keepdim, self.shape) * self.share,)


class Amin(Amax):
    """y = min of x over axes;  dout goes to the minima, split evenly among ties"""

    largest = False


def _reduction(cls, x, dim, keepdim, *extra):
    axes = _axes(dim, x.ndim)
    if any(x.shape[a] == 0 for a in axes) and cls in (Amax, Amin):
        raise ValueError(f"{cls.__name__.lower()}: cannot reduce an empty dimension of {x.shape}")
    return cls.apply(x, axes, keepdim, *extra)


def sum(x, dim=None, keepdim=False):
    return _reduction(Sum, x, dim, keepdim)


def mean(x, dim=None, keepdim=False):
    return _reduction(Mean, x, dim, keepdim)


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over dim: sum((x - mean)**2) / (n - correction). correction=1 (the default) is
    the unbiased estimator, 0 the biased one; unbiased=True/False is the older spelling."""
    return _reduction(Var, x, dim, keepdim, _correction(unbiased, correction))


def _correction(unbiased, correction):
    if unbiased is not None and correction is not None:
        raise TypeError("var/std: give unbiased or correction, not both")
    if unbiased is not None:
        if not isinstance(unbiased, bool):
            raise TypeError(f"var/std: unbiased must be True or False, got {unbiased!r}")
        return int(unbiased)
    return 1 if correction is None else correction


def amax(x, dim=None, keepdim=False):
    return _reduction(Amax, x, dim, keepdim)


def amin(x, dim=None, keepdim=False):
    return _reduction(Amin, x, dim, keepdim)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest value (flattened when dim is None); not differentiable."""
    xp = backend.xp_of(x.data)
    return Tensor(xp.argmax(x.data, axis=dim, keepdims=keepdim))


def argmin(x, dim=None, keepdim=False):
    xp = backend.xp_of(x.data)
    return Tensor(xp.argmin(x.data, axis=dim, keepdims=keepdim))


ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _extreme_along(x, dim, keepdim, largest):
    """max(x, dim) / min(x, dim) once dim is checked: index_ops gathers the values."""
    (axis,) = _axes(operator.index(dim), x.ndim)  # one int dim (TypeError otherwise)
    if x.ndim and x.shape[axis] == 0:
        raise ValueError(f"max/min: cannot reduce an empty dimension of {x.shape}")
    from minigrad.index_ops import extreme_along  # index_ops builds on this file

    return extreme_along(x, axis, keepdim, largest)


def max(x, dim=None, keepdim=False):
    """max(x) is the largest value (gradient split among ties, as amax); max(x, dim) is
    (values, indices), as in PyTorch, the gradient going to the returned index alone."""
    return amax(x) if dim is None else _extreme_along(x, dim, keepdim, largest=True)


def min(x, dim=None, keepdim=False):
    """min(x) is the smallest value; min(x, dim) is (values, indices), as max."""
    return amin(x) if dim is None else _extreme_along(x, dim, keepdim, largest=False)


# --------------------------------------------------------------------------- shapes


class Reshape(Function):
    """y = x viewed with a new shape;  dx = dout viewed with the old shape"""

    view = True

    def forward(self, x, shape):
        self.shape = x.shape
        return self.xp.reshape(x, shape)

    def backward(self, dout):
        return (self.xp.reshape(dout, self.shape),)


class Permute(Function):
    """y = x with axes reordered;  dx = dout with the inverse order"""

    view = True

    def forward(self, x, dims):
        self.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return self.xp.permute_dims(x, dims)

    def backward(self, dout):
        return (self.xp.permute_dims(dout, self.inverse),)


class Expand(Function):
    """y = x broadcast to a larger shape;  dx = dout summed back (done by the engine)"""

    view = True

    def forward(self, x, shape):
        return self.xp.broadcast_to(x, shape)

    def backward(self, dout):
        return (dout,)


class Cat(Function):
    """y = the inputs joined along `dim`;  each input's gradient is its slice of dout"""

    def forward(self, *arrays, dim):
        self.dim = dim
        self.sizes = [a.shape[dim] for a in arrays]
        return self.xp.concat(arrays, axis=dim)

    def backward(self, dout):
        grads = []
        start = 0
        for size in self.sizes:
            index = [slice(None)] * dout.ndim
            index[self.dim] = slice(start, start + size)
            grads.append(dout[tuple(index)])
            start += size
        return tuple(grads)


class Pad(Function):
    """y = x surrounded by a constant border;  dx = the inner part of dout"""

    def forward(self, x, widths, value):
        xp = self.xp
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths))
        y = xp.full(shape, value, dtype=x.dtype, device=x.device)
        self.inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths))
        y[self.inner] = x
        return y

    def backward(self, dout):
        return (dout[self.inner],)


def reshape(x, shape):
    shape = tuple(shape)
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) > 1 or (
        -1 not in shape and known != x.numel() or -1 in shape and x.numel() % builtins.max(known, 1)
    ):
        raise ValueError(f"reshape: cannot view shape {x.shape} ({x.numel()} values) as {shape}")
    return Reshape.apply(x, shape)


view = reshape


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    middle = math.prod(x.shape[start : end + 1])
    return reshape(x, x.shape[:start] + (middle,) + x.shape[end + 1 :])


def permute(x, dims):
    dims = tuple(d % builtins.max(x.ndim, 1) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dims of {x.shape}")
    return Permute.apply(x, dims)


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, tuple(dims))


def squeeze(x, dim=None):
    axes = _axes(dim, x.ndim)
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def unsqueeze(x, dim):
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def expand(x, shape):
    """Broadcast to `shape`; -1 keeps a dimension (PyTorch's expand)."""
    lead = len(shape) - x.ndim
    full = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    if lead < 0 or any(n != 1 and n != m for n, m in zip(x.shape, full[lead:])):
        raise ValueError(f"expand: cannot broadcast shape {x.shape} to {tuple(shape)}")
    return Expand.apply(x, full)


broadcast_to = expand


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: needs at least one tensor")
    ref = tensors[0]
    dim = dim % ref.ndim
    for t in tensors:
        if t.ndim != ref.ndim or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != dim
        ):
            raise ValueError(f"cat: shapes {ref.shape} and {t.shape} differ outside dim {dim}")
    return Cat.apply(*tensors, dim=dim)


concat = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    dim = dim % (tensors[0].ndim + 1)
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all shapes must be equal, got {[t.shape for t in tensors]}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def pad(x, pad, value=0.0):
    """PyTorch's F.pad: `pad` lists (left, right) pairs starting from the LAST dimension."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: {pad} must hold (before, after) pairs for at most {x.ndim} dims")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(x, tuple(widths), value)


def to(x, device, dtype=None):
    """Copy to another device and/or dtype, keeping the graph (a cast to an integer or bool
    dtype ends it: the result does not require grad, as in PyTorch)."""
    device = backend.normalize_device(device)
    if dtype is not None and not backend.dtype_name(dtype).startswith("float"):
        return Tensor(To.apply(x.detach(), device, dtype).data)
    return To.apply(x, device, dtype)


class To(Function):
    """y = x on another device or dtype;  dx = dout moved back"""

    def forward(self, x, device, dtype):
        self.device, self.dtype = backend.device_of(x), x.dtype
        name = backend.dtype_name(dtype) if dtype is not None else None
        return backend.to_device(x, device, dtype=name)

    def backward(self, dout):
        dtype = backend.dtype_name(self.dtype)
        if isinstance(dout, Tensor):  # create_graph=True: the move back is a To node itself
            return (to(dout, self.device, dtype),)
        return (backend.to_device(dout, self.device, dtype=dtype),)


class Flip(Function):
    """y = x reversed along dims;  dx = dout reversed along the same dims"""

    def forward(self, x, dims):
        self.dims = dims
        return self.xp.flip(x, axis=dims)

    def backward(self, dout):
        return (self.xp.flip(dout, axis=self.dims),)


class Roll(Function):
    """y = x shifted cyclically along dims;  dx = dout shifted back"""

    def forward(self, x, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return self.xp.roll(x, shifts, axis=dims)

    def backward(self, dout):
        return (self.xp.roll(dout, tuple(-s for s in self.shifts), axis=self.dims),)


class Clone(Function):
    """y = a copy of x;  dx = dout"""

    def forward(self, x):
        return self.xp.asarray(x, copy=True)

    def backward(self, dout):
        return (dout,)


def flip(x, dims):
    dims = _axes(tuple(dims), x.ndim)
    return Flip.apply(x, dims)


def roll(x, shifts, dims=None):
    """Shift entries cyclically; with dims=None the flattened tensor is rolled (as PyTorch)."""
    if dims is None:
        return reshape(roll(flatten(x), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
    return Roll.apply(x, shifts, tuple(d % builtins.max(x.ndim, 1) for d in dims))


def clone(x):
    return Clone.apply(x)


def repeat(x, sizes):
    """Tile x sizes[i] times along each dim (PyTorch's repeat; len(sizes) >= x.ndim).

    View x as (1, n0, 1, n1, ...), broadcast the 1s to the counts, merge each pair."""
    sizes = tuple(sizes)
    if len(sizes) < x.ndim or any(n < 0 for n in sizes):
        raise ValueError(f"repeat: {sizes} needs a count >= 0 for each of the {x.ndim} dims")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    paired = reshape(x, tuple(v for n in shape for v in (1, n)))
    spread = expand(paired, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return reshape(spread, tuple(r * n for r, n in zip(sizes, shape)))


def tile(x, dims):
    """Like repeat, but fewer counts than dims are padded with ones in front (NumPy's tile)."""
    dims = tuple(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)
