"""Tensor's methods that are one op each, written out: x.exp(), x.sum(1), x.topk(3), x.add_(y).
Read tensor.py first; the math is in ops.py, shape_ops.py, index_ops.py and inplace.py.

Those modules build on Tensor (which mixes this class in), so they cannot be imported here
first: each method reaches them through the package, `mg.ops`, when it runs.
"""

import minigrad as mg


class _ToShortcuts:
    """PyTorch's shorthands for .to(), shared by Tensor (returns a copy) and Module (in place)."""

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")


class TensorMethods:
    """Mixed into Tensor: math, reductions, shapes, indexing ops, casts and in-place updates."""

    # ----- elementwise math
    def add(self, other, *, alpha=1):
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self**exponent

    def neg(self):
        return -self

    def exp(self):
        return mg.ops.exp(self)

    def log(self):
        return mg.ops.log(self)

    def sqrt(self):
        return mg.ops.sqrt(self)

    def abs(self):
        return mg.ops.abs(self)

    def tanh(self):
        return mg.ops.tanh(self)

    def sigmoid(self):
        return mg.ops.sigmoid(self)

    def relu(self):
        return mg.ops.relu(self)

    def clamp(self, min=None, max=None):
        return mg.ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return mg.ops.maximum(self, other)

    def minimum(self, other):
        return mg.ops.minimum(self, other)

    def softmax(self, dim):
        return mg.functional.softmax(self, dim)

    def log_softmax(self, dim):
        return mg.functional.log_softmax(self, dim)

    def matmul(self, other):
        return mg.ops.matmul(self, other)

    # ----- reductions
    def sum(self, dim=None, keepdim=False):
        return mg.ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return mg.ops.mean(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return mg.ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return mg.ops.std(self, dim, unbiased, keepdim, correction=correction)

    def amax(self, dim=None, keepdim=False):
        return mg.ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return mg.ops.amin(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return mg.ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return mg.ops.min(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return mg.ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return mg.ops.argmin(self, dim, keepdim)

    # ----- shapes
    def reshape(self, *shape):
        return mg.ops.reshape(self, shape_args(shape))

    def view(self, *shape):
        return mg.ops.reshape(self, shape_args(shape))

    def flatten(self, start_dim=0, end_dim=-1):
        return mg.ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return mg.ops.transpose(self, dim0, dim1)

    def t(self):
        """The transpose of a matrix (a vector stays as it is), PyTorch's t()."""
        if self.ndim > 2:
            raise ValueError(f"t() expects at most 2 dims, got shape {self.shape}; use transpose")
        return self.T

    def permute(self, *dims):
        return mg.ops.permute(self, shape_args(dims))

    def squeeze(self, dim=None):
        return mg.ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return mg.ops.unsqueeze(self, dim)

    def expand(self, *shape):
        return mg.ops.expand(self, shape_args(shape))

    def broadcast_to(self, shape):
        return mg.ops.expand(self, tuple(shape))

    def flip(self, *dims):
        return mg.ops.flip(self, shape_args(dims))

    def roll(self, shifts, dims=None):
        return mg.ops.roll(self, shifts, dims)

    def repeat(self, *sizes):
        return mg.ops.repeat(self, shape_args(sizes))

    def tile(self, *dims):
        return mg.ops.tile(self, shape_args(dims))

    def chunk(self, chunks, dim=0):
        return mg.ops.chunk(self, chunks, dim)

    def split(self, split_size_or_sections, dim=0):
        return mg.ops.split(self, split_size_or_sections, dim)

    def clone(self):
        return mg.ops.clone(self)

    def contiguous(self):
        """Self: minigrad's arrays need no stride bookkeeping from the user."""
        return self

    # ----- indexing ops
    def gather(self, dim, index):
        return mg.ops.gather(self, dim, index)

    def scatter(self, dim, index, src=None, *, value=None):
        return mg.ops.scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim, index, src):
        return mg.ops.scatter_add(self, dim, index, src)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return mg.ops.topk(self, k, dim, largest, sorted)

    def sort(self, dim=-1, descending=False, stable=False):
        return mg.ops.sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        return mg.ops.argsort(self, dim, descending, stable)

    def masked_fill(self, mask, value):
        return mg.ops.masked_fill(self, mask, value)

    # ----- casts (each a .to() that keeps the device)
    def astype(self, dtype):
        return self.to(dtype=dtype)

    def long(self):
        return self.to(dtype="int64")

    def int(self):
        return self.to(dtype="int32")

    def bool(self):
        return self.to(dtype="bool")

    def type(self, dtype=None):
        """type() names the tensor type ('minigrad.FloatTensor'); type(dtype) casts."""
        if dtype is None:
            return f"minigrad.{_TYPE_NAMES.get(self.dtype, self.dtype)}"
        return self.to(dtype=dtype)

    # ----- in-place updates: they change this tensor's array (see inplace.py for the rules)
    def __iadd__(self, other):
        return mg.inplace.add_(self, other)

    def __isub__(self, other):
        return mg.inplace.sub_(self, other)

    def __imul__(self, other):
        return mg.inplace.mul_(self, other)

    def __itruediv__(self, other):
        return mg.inplace.div_(self, other)

    def __setitem__(self, index, value):
        mg.inplace.setitem(self, index, value)

    def add_(self, other, *, alpha=1):
        return mg.inplace.add_(self, other, alpha)

    def sub_(self, other, *, alpha=1):
        return mg.inplace.sub_(self, other, alpha)

    def mul_(self, other):
        return mg.inplace.mul_(self, other)

    def div_(self, other):
        return mg.inplace.div_(self, other)

    def neg_(self):
        return mg.inplace.neg_(self)

    def clamp_(self, min=None, max=None):
        return mg.inplace.clamp_(self, min, max)

    clip_ = clamp_

    def zero_(self):
        return mg.inplace.fill_(self, 0)

    def fill_(self, value):
        return mg.inplace.fill_(self, value)

    def copy_(self, src):
        return mg.inplace.copy_(self, src)

    def masked_fill_(self, mask, value):
        return mg.inplace.masked_fill_(self, mask, value)

    def scatter_(self, dim, index, src=None, *, value=None):
        return mg.inplace.scatter_(self, dim, index, src, value=value)

    def scatter_add_(self, dim, index, src):
        return mg.inplace.scatter_add_(self, dim, index, src)


_TYPE_NAMES = {
    "float16": "HalfTensor",
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "int32": "IntTensor",
    "int64": "LongTensor",
    "bool": "BoolTensor",
}


def shape_args(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)
