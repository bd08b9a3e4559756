"""Differentiable primitives, each forward with its backward right below, simple to complex:
arithmetic, elementwise math and matmul here; reductions and shapes in shape_ops.py, indexing
in index_ops.py, einsum in einsum.py (all re-exported below, so ops.sum works too).
Read shape_ops.py next, then functional/.
"""

import math

from minigrad import backend
from minigrad.shape_ops import _as_float
from minigrad.tensor import Function, Tensor, _unbroadcast, namespace_of

# --------------------------------------------------------------------------- arithmetic


class Add(Function):
    """y = a + b;  da = dout, db = dout"""

    def forward(self, a, b):
        return a + b

    def backward(self, dout):
        return dout, dout


class Sub(Function):
    """y = a - b;  da = dout, db = -dout"""

    def forward(self, a, b):
        return a - b

    def backward(self, dout):
        return dout, (-dout if self.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b;  da = dout * b, db = dout * a"""

    def forward(self, a, b):
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        return a * b

    def backward(self, dout):
        da = dout * self.b if self.needs_input_grad[0] else None
        db = dout * self.a if self.needs_input_grad[1] else None
        return da, db


class Div(Function):
    """y = a / b;  da = dout / b, db = -dout * y / b"""

    def forward(self, a, b):
        self.b = b
        y = a / b
        self.y = y if self.needs_input_grad[1] else None
        return y

    def backward(self, dout):
        da = dout / self.b if self.needs_input_grad[0] else None
        db = -dout * self.y / self.b if self.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    """y = a ** b;  da = dout * b * a**(b-1), db = dout * y * log(a)"""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = a**b
        return self.y

    def backward(self, dout):
        da = db = None
        if self.needs_input_grad[0]:
            da = dout * self.b * self.a ** (self.b - 1)
        if self.needs_input_grad[1]:
            scalar = isinstance(self.a, (int, float))
            # namespace_of: under create_graph=True a base given as an array is a constant
            log_a = math.log(self.a) if scalar else namespace_of(self.a).log(self.a)
            db = dout * self.y * log_a
        return da, db


class Neg(Function):
    """y = -x;  dx = -dout"""

    def forward(self, x):
        return -x

    def backward(self, dout):
        return (-dout,)


def _check_operand(name, other):
    if isinstance(other, (Tensor, int, float)) or backend.is_array(other):
        return
    raise TypeError(f"{name}: unsupported operand of type {type(other).__name__}")


def add(a, b):
    _check_operand("add", b)
    return Add.apply(a, b)


def sub(a, b):
    _check_operand("sub", b)
    return Sub.apply(a, b)


def mul(a, b):
    _check_operand("mul", b)
    return Mul.apply(a, b)


def div(a, b):
    _check_operand("div", b)
    return Div.apply(a, b)


def pow(a, b):
    _check_operand("pow", b)
    return Pow.apply(a, b)


def neg(x):
    return Neg.apply(x)


# --------------------------------------------------------------------------- elementwise math


class Exp(Function):
    """y = exp(x);  dx = dout * y"""

    def forward(self, x):
        self.y = self.xp.exp(x)
        return self.y

    def backward(self, dout):
        return (dout * self.y,)


class Log(Function):
    """y = log(x);  dx = dout / x"""

    def forward(self, x):
        self.x = x
        return self.xp.log(x)

    def backward(self, dout):
        return (dout / self.x,)


class Sqrt(Function):
    """y = sqrt(x);  dx = dout / (2 y)"""

    def forward(self, x):
        self.y = self.xp.sqrt(x)
        return self.y

    def backward(self, dout):
        return (dout / (2 * self.y),)


class Abs(Function):
    """y = |x|;  dx = dout * sign(x)   (0 at x = 0, like PyTorch)"""

    def forward(self, x):
        self.x = x
        return self.xp.abs(x)

    def backward(self, dout):
        return (dout * self.xp.sign(self.x),)


class Tanh(Function):
    """y = tanh(x);  dx = dout * (1 - y**2)"""

    def forward(self, x):
        self.y = self.xp.tanh(x)
        return self.y

    def backward(self, dout):
        return (dout * (1 - self.y * self.y),)


def sigmoid_array(x):
    """1 / (1 + exp(-x)) of an array, as (1 + tanh(x/2)) / 2: never overflows, even at -1e4."""
    return 0.5 + 0.5 * backend.xp_of(x).tanh(0.5 * x)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)) = (1 + tanh(x/2)) / 2;  dx = dout * y * (1 - y)

    Fused for stability (sigmoid_array)."""

    def forward(self, x):
        self.y = sigmoid_array(x)
        return self.y

    def backward(self, dout):
        return (dout * self.y * (1 - self.y),)


class ReLU(Function):
    """y = max(x, 0);  dx = dout * (x > 0)"""

    constant = ("mask",)  # x > 0: constant wherever relu has a derivative (x != 0)

    def forward(self, x):
        # the mask is kept as bool (1 byte per entry, not 4) and cast in backward: less
        # memory to write and read than a float mask
        self.mask = x > 0 if self.needs_input_grad[0] else None
        return self.xp.maximum(x, 0)

    def backward(self, dout):
        return (dout * _as_float(self.xp, self.mask, dout),)


class Clamp(Function):
    """y = min(max(x, lo), hi);  dx = dout where lo <= x <= hi, else 0"""

    constant = ("inside",)  # lo <= x <= hi: constant away from the bounds

    def forward(self, x, lo=None, hi=None):
        xp = self.xp
        inside = xp.ones(x.shape, dtype=xp.bool, device=x.device)
        if lo is not None:
            inside = inside & (x >= lo)
        if hi is not None:
            inside = inside & (x <= hi)
        self.inside = _as_float(xp, inside, x)
        return xp.clip(x, lo, hi)

    def backward(self, dout):
        return (dout * self.inside,)


class Maximum(Function):
    """y = max(a, b);  the larger input gets dout, a tie splits it in halves (as PyTorch)"""

    constant = ("share_a",)  # 0, 1/2 or 1: constant away from ties

    def forward(self, a, b):
        xp = self.xp
        y = xp.maximum(a, b)
        self.share_a = _as_float(xp, a > b, y) + 0.5 * _as_float(xp, a == b, y)
        return y

    def backward(self, dout):
        return dout * self.share_a, dout * (1 - self.share_a)


class Minimum(Function):
    """y = min(a, b);  the smaller input gets dout, a tie splits it in halves (as PyTorch)"""

    constant = ("share_a",)

    def forward(self, a, b):
        xp = self.xp
        y = xp.minimum(a, b)
        self.share_a = _as_float(xp, a < b, y) + 0.5 * _as_float(xp, a == b, y)
        return y

    def backward(self, dout):
        return dout * self.share_a, dout * (1 - self.share_a)


class Where(Function):
    """y = a where cond else b;  da = dout where cond, db = dout elsewhere"""

    def forward(self, cond, a, b):
        self.cond = cond
        return self.xp.where(cond, a, b)

    def backward(self, dout):
        zero = self.xp.zeros((), dtype=dout.dtype, device=dout.device)
        da = self.xp.where(self.cond, dout, zero) if self.needs_input_grad[1] else None
        db = self.xp.where(self.cond, zero, dout) if self.needs_input_grad[2] else None
        return None, da, db


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def clamp(x, min=None, max=None):  # noqa: F811  (PyTorch names the bounds min and max)
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return Clamp.apply(x, min, max)


clip = clamp


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: sqrt(var) (unbiased with correction=1, PyTorch's default)."""
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction))


def where(condition, a, b):
    """Elementwise choice; `condition` is a boolean Tensor or array (never differentiated)."""
    if isinstance(condition, Tensor):
        condition = condition.data
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(ref, Tensor):
        raise TypeError("where: a or b must be a Tensor")
    condition = backend.to_device(condition, ref.device)
    return Where.apply(Tensor(condition), a, b)


def compare(a, b, name):
    """Elementwise comparison (less, equal, ...): a boolean Tensor outside the graph."""
    ref = a if isinstance(a, Tensor) else b
    xp = backend.xp_of(ref.data)
    left = a.data if isinstance(a, Tensor) else a
    right = b.data if isinstance(b, Tensor) else b
    return Tensor(getattr(xp, name)(left, right))


# --------------------------------------------------------------------------- matmul


class MatMul(Function):
    """y = a @ b (batched, broadcasting);  da = dout @ b^T, db = a^T @ dout

    1-D operands are promoted to matrices (a row for a, a column for b) and dropped again."""

    def forward(self, a, b):
        xp = self.xp
        self.a_shape, self.b_shape = a.shape, b.shape
        # the inputs themselves are saved, not their promoted views: create_graph=True
        # recognises a saved input (autograd/graph.py); promoting again costs one view
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        y2 = xp.matmul(_as_row(a), _as_column(b))
        self.y2_shape = y2.shape
        return xp.reshape(y2, _matmul_shape(a.shape, b.shape, y2.shape))

    def backward(self, dout):
        xp = self.xp
        dout = xp.reshape(dout, self.y2_shape)
        da = db = None
        if self.needs_input_grad[0]:
            da2 = xp.matmul(dout, xp.matrix_transpose(_as_column(self.b)))
            da = _batch_sum(da2, self.a_shape)
        if self.needs_input_grad[1]:
            db2 = xp.matmul(xp.matrix_transpose(_as_row(self.a)), dout)
            db = _batch_sum(db2, self.b_shape, column=True)
        return da, db


def _as_row(a):
    """A 1-D left operand of matmul as a (1, n) matrix; others as they are."""
    return a[None, :] if a.ndim == 1 else a


def _as_column(b):
    """A 1-D right operand of matmul as an (n, 1) matrix; others as they are."""
    return b[:, None] if b.ndim == 1 else b


def _matmul_shape(a_shape, b_shape, y2_shape):
    if len(a_shape) == 1 and len(b_shape) == 1:
        return ()
    if len(a_shape) == 1:
        return y2_shape[:-2] + y2_shape[-1:]
    if len(b_shape) == 1:
        return y2_shape[:-1]
    return y2_shape


def _batch_sum(grad, shape, column=False):
    """Sum a promoted-and-broadcast matmul gradient back to its operand's shape."""
    if len(shape) == 1:
        grad = grad[..., :, 0] if column else grad[..., 0, :]
    return _unbroadcast(grad, shape, grad.dtype)


def matmul(a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        ref = a if isinstance(a, Tensor) else b
        a = a if isinstance(a, Tensor) else Tensor(backend.to_device(a, ref.device))
        b = b if isinstance(b, Tensor) else Tensor(backend.to_device(b, ref.device))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got {a.shape} @ {b.shape}")
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul: shapes {a.shape} @ {b.shape} do not match "
            f"({inner_a} columns vs {inner_b} rows)"
        )
    return MatMul.apply(a, b)


# reductions and shapes live in shape_ops.py, indexing in index_ops.py, einsum in einsum.py;
# ops is the one namespace for all
from minigrad.einsum import einsum  # noqa: E402, F401
from minigrad.index_ops import (  # noqa: E402, F401
    argsort,
    chunk,
    gather,
    getitem,
    index_put,
    masked_fill,
    scatter,
    scatter_add,
    sort,
    split,
    topk,
)
from minigrad.shape_ops import (  # noqa: E402, F401
    amax,
    amin,
    argmax,
    argmin,
    broadcast_to,
    cat,
    clone,
    concat,
    expand,
    flatten,
    flip,
    max,
    mean,
    min,
    pad,
    permute,
    repeat,
    reshape,
    roll,
    squeeze,
    stack,
    sum,
    tile,
    to,
    transpose,
    unsqueeze,
    var,
    view,
)
