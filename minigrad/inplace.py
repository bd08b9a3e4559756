"""In-place updates, PyTorch's rules: x.add_(y), x -= y, x[i] = v, masked_fill_, copy_, ...
Read tensor.py (the version counter) and index_ops.py first; functional/ comes next.

Each update is its out-of-place op (x + y, index_put, masked_fill) applied to x, then handled
by one routine, _update:
- Under no_grad, or when no gradient is involved, the result is written into x's own array:
  whatever holds that array (an optimizer's parameter list, a state_dict, a view) sees the
  change. x's version counter goes up, so a backward that saved the old values raises
  instead of returning wrong gradients. This is how `p -= lr * p.grad` updates a parameter.
- Outside no_grad, a leaf that requires grad (a Parameter) may not be changed: backward
  needs the value the graph was built from. PyTorch raises the same error.
- Outside no_grad, on a tensor in a graph (or with a value that requires grad) the update is
  recorded: x becomes the output of the op applied to its old self, so gradients flow through
  it. The old array is left as it was (ops may have saved it) and x gets a new one; so views
  of x taken before the update keep the old values, where PyTorch would change them too.
  Ops that used x before the update find its old value at backward through the version
  they saw (so `h[0] = h[0] * 3` works as in PyTorch). A view in a graph (h[0], h.view(-1))
  is refused rather than updated apart from its base: write through the base (h[0] = ...).
"""

import weakref

from minigrad import backend, index_ops
from minigrad.tensor import Tensor, is_grad_enabled, no_grad

LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."
_KINDS = {"bool": 0, "int": 1, "uint": 1, "float": 2}


def _kind(dtype):
    return _KINDS[next(k for k in ("bool", "uint", "int", "float") if dtype.startswith(k))]


def _check_result(x, new, name):
    """The result must fit x: same shape (no broadcasting x up) and a castable dtype."""
    if new.shape != x.shape:
        raise RuntimeError(
            f"{name}: the result has shape {new.shape}, but the tensor changed in place has "
            f"shape {x.shape} (in-place ops cannot broadcast their target)"
        )
    if _kind(new.dtype) > _kind(x.dtype):
        raise RuntimeError(
            f"{name}: result type {new.dtype} can't be cast to the desired output type {x.dtype}"
        )


def _write(x, array):
    """Write `array` into x's own array (kept: it may be shared), and count the change."""
    xp = backend.xp_of(x.data)
    if array.dtype != x.data.dtype:
        array = xp.astype(array, x.data.dtype)
    try:
        x.data[...] = array
    except ValueError:  # a read-only array: a broadcast view, or a read-only NumPy buffer
        if x._base is not None:  # e.g. expand(): a new array would silently part from the base
            raise RuntimeError(
                "unsupported operation: this tensor is a read-only view of another one (more "
                "than one element may refer to a single memory location); clone() it first"
            ) from None
        x.data = array
        x._version_counter = [x._version_counter[0]]  # its own array now: its own count
    x._version_counter[0] += 1


def _remember(x, old):
    """Let ops that used x before this update find its old value at backward (tensor.py's
    _check_versions): a weak reference under the version they saw; the graph keeps it alive."""
    earlier = {v: r for v, r in x.__dict__.get("_earlier", {}).items() if r() is not None}
    earlier[old._version] = weakref.ref(old)
    x._earlier = earlier


def _record(x, name, op, others):
    """Outside no_grad: x becomes op(old x, *others), a node in the graph."""
    old = Tensor(x.data, x.requires_grad)
    old._ctx, old._freed, old._version_counter = x._ctx, x._freed, x._version_counter
    new = op(old, *others)
    _check_result(x, new, name)
    if new.dtype != x.dtype:
        new = new.to(dtype=x.dtype)
    _remember(x, old)
    x.data, x._ctx, x.requires_grad = new.data, new._ctx, new.requires_grad
    x._freed = False
    # a new array and a new count, one ahead: an op that used x before sees the change; the
    # node that made the new value watches this count, so a later write to x is seen there
    x._version_counter = [old._version + 1]
    if new._ctx is not None:
        new._ctx.output_counter = x._version_counter
        new._ctx.output_version = x._version_counter[0]


def _update(x, name, op, *others):
    """x = op(x, *others), in place, by the rules in the module docstring; returns x."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    needs_graph = is_grad_enabled() and (
        x.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others)
    )
    if needs_graph and x.is_leaf and x.requires_grad:
        raise RuntimeError(LEAF_ERROR)
    if needs_graph and x._base is not None and x._ctx is not None and x._ctx.view:
        raise RuntimeError(
            f"{name}: {type(x._ctx).__name__} made this tensor a view of another one that "
            "requires grad; outside no_grad, change the base tensor instead (h[index] = value)"
        )
    if needs_graph:
        _record(x, name, op, others)
        return x
    with no_grad():
        new = op(x, *others)
    _check_result(x, new, name)
    _write(x, new.data)
    return x


# --------------------------------------------------------------------------- arithmetic


def _operand_kind(other):
    if isinstance(other, Tensor):
        return _kind(other.dtype)
    if backend.is_array(other):
        return _kind(backend.dtype_name(other.dtype))
    return 2 if isinstance(other, float) else 1 if isinstance(other, int) else 0


def _arithmetic(x, name, op, other, result_kind=0):
    """An update x = op(x, other) whose result has the larger dtype kind of the two (or
    result_kind): checked first, as not every backend promotes int with float."""
    kind = max(_operand_kind(other), result_kind)
    if isinstance(x, Tensor) and kind > _kind(x.dtype):
        target = "float" if kind == 2 else "int"
        raise RuntimeError(
            f"{name}: result type {target} can't be cast to the desired output type {x.dtype}"
        )
    return _update(x, name, op, other)


def _scaled(other, alpha):
    return other if alpha == 1 else other * alpha


def add_(x, other, alpha=1):
    return _arithmetic(x, "add_", lambda t, o: t + _scaled(o, alpha), other)


def sub_(x, other, alpha=1):
    return _arithmetic(x, "sub_", lambda t, o: t - _scaled(o, alpha), other)


def mul_(x, other):
    return _arithmetic(x, "mul_", lambda t, o: t * o, other)


def div_(x, other):
    return _arithmetic(x, "div_", lambda t, o: t / o, other, result_kind=2)


def neg_(x):
    return _update(x, "neg_", lambda t: -t)


def clamp_(x, min=None, max=None):  # noqa: A002  (PyTorch's names for the bounds)
    return _update(x, "clamp_", lambda t: t.clamp(min, max))


# --------------------------------------------------------------------------- writing values


def setitem(x, index, value):
    """x[index] = value: basic indices, boolean masks, integer arrays on the leading axes."""
    return _update(x, "x[index] = value", lambda t, v: index_ops.index_put(t, index, v), value)


def fill_(x, value):
    return _update(x, "fill_", lambda t, v: index_ops.index_put(t, Ellipsis, v), value)


def copy_(x, src):
    """Copy src's values into x (broadcast to x's shape, cast to its dtype, any device)."""
    if not isinstance(src, Tensor) and not backend.is_array(src):
        raise TypeError(f"copy_: src must be a Tensor or array, got {type(src).__name__}")
    return _update(x, "copy_", lambda t, s: index_ops.index_put(t, Ellipsis, s), src)


def masked_fill_(x, mask, value):
    return _update(x, "masked_fill_", lambda t, v: index_ops.masked_fill(t, mask, v), value)


def scatter_(x, dim, index, src=None, *, value=None):
    def op(t, s):
        return index_ops.scatter(t, dim, index, s, value=value)

    return _update(x, "scatter_", op, src)


def scatter_add_(x, dim, index, src):
    return _update(x, "scatter_add_", lambda t, s: index_ops.scatter_add(t, dim, index, s), src)
