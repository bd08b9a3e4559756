"""create_graph=True: backward() run on Tensors, so the gradients it returns have a graph of their
own and can be differentiated again. Read tensor.py (the engine) first; functional.py next.

Every Function's backward is written against `self.xp`, an array namespace. Here it is handed
`namespace`, whose functions are minigrad's differentiable ops, and the arrays forward saved are
swapped for the Tensors they are (an input, or the output): the same lines of math then record
a graph. An op whose forward saved an intermediate (softmax's probabilities, a normalised x̂) is
differentiated through its `reference` instead: the same value recomputed from primitives.
"""

import copy

import numpy as np

from minigrad import backend, ops
from minigrad.tensor import Tensor, enable_grad

# --------------------------------------------------------------------------- the namespace


def _any_tensor(*values):
    return any(isinstance(v, Tensor) for v in values)


def _constant(x, op):
    """Apply a non-differentiable array function (sign, a cast to bool) to a Tensor or array."""
    if isinstance(x, Tensor):
        return Tensor(op(backend.xp_of(x.data), x.data))
    return op(backend.xp_of(x), x)


class _GraphNamespace:
    """The array functions that backward() methods call, as differentiable minigrad ops.

    Each accepts Tensors and plain arrays (an array argument is a constant); with no Tensor
    among its arguments it is the backend's own function."""

    def __getattr__(self, name):
        raise NotImplementedError(
            f"create_graph=True: a backward() calls xp.{name}, which has no differentiable "
            "twin in minigrad.autograd.graph.namespace; differentiate that op once, or give "
            "its Function a `reference` (see minigrad.tensor.Function)"
        )

    def reshape(self, x, shape):
        return (
            ops.reshape(x, shape) if isinstance(x, Tensor) else backend.xp_of(x).reshape(x, shape)
        )

    def permute_dims(self, x, axes):
        return ops.permute(x, tuple(axes))

    def broadcast_to(self, x, shape):
        return ops.broadcast_to(x, tuple(shape))

    def matrix_transpose(self, x):
        return ops.transpose(x, -2, -1)

    def matmul(self, a, b):
        return ops.matmul(a, b)

    def sum(self, x, axis=None, keepdims=False):
        return ops.sum(x, axis, keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return ops.mean(x, axis, keepdims)

    def exp(self, x):
        return ops.exp(x)

    def log(self, x):
        return ops.log(x)

    def sqrt(self, x):
        return ops.sqrt(x)

    def tanh(self, x):
        return ops.tanh(x)

    def abs(self, x):
        return ops.abs(x)

    def maximum(self, a, b):
        return ops.maximum(a, b) if _any_tensor(a, b) else backend.xp_of(a).maximum(a, b)

    def minimum(self, a, b):
        return ops.minimum(a, b) if _any_tensor(a, b) else backend.xp_of(a).minimum(a, b)

    def where(self, condition, a, b):
        if not _any_tensor(a, b):
            return backend.xp_of(condition).where(condition, a, b)
        return ops.where(condition, a, b)

    def flip(self, x, axis=None):
        return ops.flip(x, tuple(range(x.ndim)) if axis is None else axis)

    def roll(self, x, shift, axis=None):
        return ops.roll(x, shift, axis)

    def concat(self, arrays, axis=0):
        return ops.cat(list(arrays), axis)

    def asarray(self, x, copy=None):
        return ops.clone(x) if copy else x

    def sign(self, x):
        return _constant(x, lambda xp, a: xp.sign(a))

    def astype(self, x, dtype):
        name = backend.dtype_name(dtype)
        if isinstance(x, Tensor) and name.startswith("float"):
            return ops.to(x, x.device, name)
        return _constant(x, lambda xp, a: xp.astype(a, backend._dtype(xp, name)))

    def zeros(self, shape, dtype=None, device=None):
        xp = backend.namespace(device)
        array = xp.zeros(
            shape, dtype=backend._dtype(xp, dtype), device=backend.native_device(device)
        )
        return Tensor(array)

    def zeros_like(self, x):
        return _constant(x, lambda xp, a: xp.zeros_like(a))

    def ones_like(self, x):
        return _constant(x, lambda xp, a: xp.ones_like(a))

    def take(self, x, indices, axis=None):
        """x's entries at the 1-D integer `indices` along axis (of x flattened when None): a
        gather, whose backward (a scatter-add, index_ops._add_rows) gathers again."""
        if not isinstance(x, Tensor):
            return backend.xp_of(x).take(x, indices, axis=axis)
        from minigrad.index_ops import GatherIndex

        if axis is None:
            x, axis = ops.reshape(x, (-1,)), 0
        axis = axis % x.ndim
        if axis == 0:
            return GatherIndex.apply(x, (indices,))
        y = GatherIndex.apply(ops.transpose(x, 0, axis), (indices,))
        return ops.transpose(y, 0, axis)

    def einsum(self, subscripts, *operands):
        if not _any_tensor(*operands):
            return backend.xp_of(operands[0]).einsum(subscripts, *operands)
        tensors = [o if isinstance(o, Tensor) else Tensor(o) for o in operands]
        return ops.einsum(subscripts, *tensors)

    def expand_dims(self, x, axis=0):
        if isinstance(x, Tensor):
            return ops.unsqueeze(x, axis)
        return backend.xp_of(x).expand_dims(x, axis=axis)

    def stack(self, arrays, axis=0):
        return ops.stack(list(arrays), axis)


namespace = _GraphNamespace()

# --------------------------------------------------------------------------- one node

# attributes the engine keeps on every node: never swapped for Tensors
_ENGINE_FIELDS = {
    "xp",
    "parents",
    "forward_arrays",
    "forward_kwargs",
    "forward_output",
    "versions",
    "output_counter",
    "output_version",
}


def backward(fn, output, dout):
    """fn's input gradients for the upstream gradient `dout` (a Tensor), as Tensors that carry
    the graph of this computation: what backward(create_graph=True) runs at each node."""
    if type(fn).reference is not None:
        return _through_reference(fn, dout)
    twin = copy.copy(fn)
    twin.xp = namespace
    for name, value in vars(fn).items():
        if name not in _ENGINE_FIELDS:
            setattr(twin, name, _as_tensor(fn, name, value, output))
    with enable_grad():
        return twin.backward(dout)


def _is_array(value):
    """An array, or a NumPy scalar: what a NumPy reduction returns for a 0-d result."""
    return backend.is_array(value) or isinstance(value, np.generic)


def _as_tensor(fn, name, value, output):
    """A value forward saved, as backward must see it to record a graph: the input or output
    Tensor that an array is; an array that is constant (named in fn.constant, or passed to
    forward as a plain array) as it is. Any other array is an intermediate: refuse."""
    if isinstance(value, (tuple, list)) and any(_is_array(v) for v in value):
        return type(value)(_as_tensor(fn, name, v, output) for v in value)
    if not _is_array(value):
        return value
    if value is fn.forward_output or value is output.data:
        return output
    for parent, array in zip(fn.parents, fn.forward_arrays):
        if value is array:
            return parent if isinstance(parent, Tensor) else array
    if name in type(fn).constant:
        return value
    raise NotImplementedError(
        f"{type(fn).__name__}: create_graph=True cannot differentiate its backward: forward "
        f"saved '{name}', an intermediate array rather than an input or the output, and the "
        "op names no `reference`; use its textbook reference op (functional/*_reference) "
        "or compose it from primitives"
    )


def _stand_in(parent):
    """A parent as the reference receives it: a Tensor that needs a gradient becomes a view
    node of itself, so the reference's graph can be cut at it (see _through_reference)."""
    if isinstance(parent, Tensor) and parent.requires_grad:
        return ops.reshape(parent, parent.shape)
    return parent


def _through_reference(fn, dout):
    """A fused op's input gradients, differentiable: its reference rebuilds the value from
    primitives on the same inputs, and that small graph is differentiated with create_graph.

    The reference runs on stand-ins of the inputs, cut loose from the graph while it is
    differentiated: the gradient is then the op's own partial derivative (an input that
    also feeds another input through the graph upstream is not counted twice), and the walk
    stops at the op's inputs. Reconnected afterwards, they lead higher derivatives on."""
    from minigrad.autograd import grad

    with enable_grad():
        stand_ins = [_stand_in(p) for p in fn.parents]
    wanted = [s for s, p in zip(stand_ins, fn.parents) if s is not p]
    links = [s._ctx for s in wanted]
    for s in wanted:
        s._ctx = None  # a leaf while the reference is differentiated
    try:
        with enable_grad():
            y = type(fn).reference(*stand_ins, **fn.forward_kwargs)
        found = grad(y, wanted, dout, create_graph=True, allow_unused=True)
    finally:
        for s, link in zip(wanted, links):
            s._ctx = link
    found = dict(zip(map(id, wanted), found))
    return tuple(found.get(id(s)) for s in stand_ins)
