"""F.linear (the fully connected layer as one fused op), F.embedding (a row lookup) and
F.one_hot, each fused op after its textbook reference (what backward(create_graph=True)
differentiates). Read windows.py next (nn/layers.py holds the Linear and Embedding modules).
"""

import math

from minigrad import backend, ops
from minigrad.index_ops import check_index_range
from minigrad.tensor import Function, Tensor

# --------------------------------------------------------------------------- helpers


def _shape(value):
    if not hasattr(value, "shape"):
        value = backend.to_device(value, "cpu")
    return tuple(value.shape)


def _check_linear(x, weight, bias):
    w_shape = _shape(weight)
    x_shape = _shape(x)
    if len(w_shape) != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got {w_shape}")
    if len(x_shape) == 0:
        raise ValueError("linear: input must have at least 1 dim (..., in_features), got ()")
    if x_shape[-1] != w_shape[1]:
        raise ValueError(
            f"linear: input has {x_shape[-1]} features, weight expects {w_shape[1]} "
            f"(weight shape {w_shape})"
        )
    if bias is not None and _shape(bias) != (w_shape[0],):
        raise ValueError(
            f"linear: bias has shape {_shape(bias)}, expected ({w_shape[0]},) "
            f"(weight shape {w_shape})"
        )


# --------------------------------------------------------------------------- linear


def _linear_reference(x, w, b=None):
    """y = x @ w^T + b, the leading dims of x merged into one (as Linear does)"""
    x2 = ops.reshape(x, (-1, x.shape[-1]))
    y = ops.matmul(x2, ops.transpose(w, 0, 1))
    y = y if b is None else y + b
    return ops.reshape(y, x.shape[:-1] + (w.shape[0],))


class Linear(Function):
    """y = x @ w^T + b;  dx = dout @ w,  dw = dout^T @ x,  db = sum of dout over leading dims

    Fused for speed: the leading dims of x are merged into one so that forward, dx and dw are
    one GEMM each (a matmul + add graph would keep a broadcast copy and un-broadcast b)."""

    reference = _linear_reference  # forward saves x as a matrix (x2), a view of its own

    def forward(self, x, w, b=None):
        xp = self.xp
        self.x_shape = x.shape
        rows = math.prod(x.shape[:-1])
        x2 = xp.reshape(x, (rows, x.shape[-1]))  # (N, in)
        self.x2 = x2 if self.needs_input_grad[1] else None
        self.w = w if self.needs_input_grad[0] else None
        y = xp.matmul(x2, xp.matrix_transpose(w))  # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            y = y + b
        return xp.reshape(y, x.shape[:-1] + (w.shape[0],))

    def backward(self, dout):
        xp = self.xp
        d2 = xp.reshape(dout, (-1, dout.shape[-1]))  # (N, out)
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx = xp.reshape(xp.matmul(d2, self.w), self.x_shape)  # (N, out) @ (out, in)
        if self.needs_input_grad[1]:
            dw = xp.matmul(xp.matrix_transpose(d2), self.x2)  # (out, N) @ (N, in)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            db = xp.sum(d2, axis=0)
        return dx, dw, db


def linear(x, weight, bias=None):
    """y = x @ weight^T + bias for x of shape (..., in); weight (out, in), bias (out,)."""
    _check_linear(x, weight, bias)
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)


# --------------------------------------------------------------------------- embedding


def _check_ids(ids, num_embeddings):
    """Integer ids in [0, num_embeddings); one host sync for device ids, like PyTorch's check."""
    data = ids.data if isinstance(ids, Tensor) else ids
    dtype = backend.dtype_name(data.dtype)
    if not dtype.startswith(("int", "uint")):
        raise TypeError(f"embedding: ids must be an integer tensor, got dtype {dtype}")
    if math.prod(data.shape) == 0:
        return
    xp = backend.xp_of(data)
    low = int(backend.to_host(xp.min(data)))
    high = int(backend.to_host(xp.max(data)))
    if low < 0 or high >= num_embeddings:
        bad = low if low < 0 else high
        raise IndexError(
            f"embedding: id {bad} is out of range for {num_embeddings} embeddings "
            f"(ids must be in [0, {num_embeddings}))"
        )


def _embedding_reference(ids, w, padding_idx=None):
    """y = onehot(ids) @ w: row n of the one-hot matrix (N, num_embeddings) picks row ids[n]
    of w; the padding row is read as a constant, so it gets no gradient."""
    xp = backend.xp_of(w.data)
    ids = ids.data if isinstance(ids, Tensor) else ids
    flat = xp.reshape(xp.astype(ids, xp.int64), (-1, 1))  # (N, 1)
    picks = flat == xp.arange(w.shape[0], device=flat.device)  # (N, num_embeddings)
    y = ops.matmul(Tensor(xp.astype(picks, w.data.dtype)), w)  # (N, D)
    if padding_idx is not None:
        rows = Tensor(xp.take(w.data, flat[:, 0], axis=0))
        y = ops.where(flat == padding_idx, rows, y)
    return ops.reshape(y, tuple(ids.shape) + (w.shape[1],))


class Embedding(Function):
    """y = w[ids];  dw[i] = sum of dout over the positions where ids == i (none for padding)"""

    reference = _embedding_reference  # dw is a scatter-add: arrays only

    def forward(self, ids, w, padding_idx=None):
        xp = self.xp
        self.flat = xp.reshape(xp.astype(ids, xp.int64), (-1,))  # (N,)
        self.w_shape = w.shape
        self.padding_idx = padding_idx
        y = xp.take(w, self.flat, axis=0)  # (N, D)
        return xp.reshape(y, tuple(ids.shape) + (w.shape[1],))

    def backward(self, dout):
        xp = self.xp
        d2 = xp.reshape(dout, (-1, self.w_shape[1]))  # (N, D)
        if self.padding_idx is not None:
            keep = xp.astype(self.flat != self.padding_idx, d2.dtype)
            d2 = d2 * keep[:, None]
        dw = xp.zeros(self.w_shape, dtype=dout.dtype, device=dout.device)
        # repeated ids must add up, so a plain dw[ids] = dout would lose gradient
        return None, backend.scatter_add(dw, self.flat, d2)


def embedding(ids, weight, padding_idx=None):
    """Rows of weight (num_embeddings, dim) picked by integer ids of any shape -> (*ids, dim).

    The padding_idx row gets no gradient (it stays what it is, usually zeros)."""
    w_shape = _shape(weight)
    if len(w_shape) != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got {w_shape}")
    if padding_idx is not None:
        if not -w_shape[0] <= padding_idx < w_shape[0]:
            raise ValueError(
                f"embedding: padding_idx {padding_idx} is out of range for {w_shape[0]} embeddings"
            )
        padding_idx = padding_idx % w_shape[0]
    if not isinstance(ids, Tensor) and not backend.is_array(ids):
        ids = backend.to_device(ids, "cpu")  # a list of ids
    _check_ids(ids, w_shape[0])
    return Embedding.apply(ids, weight, padding_idx=padding_idx)


def one_hot(tensor, num_classes=-1):
    """Integer class ids of any shape -> int64 (*shape, num_classes) with a 1 at each id.

    num_classes=-1 uses max(id) + 1 (one host sync to read it)."""
    ids = tensor.data if isinstance(tensor, Tensor) else backend.to_device(tensor, "cpu")
    xp = backend.xp_of(ids)
    if not xp.isdtype(ids.dtype, "integral"):
        raise TypeError(f"one_hot: ids must be integers, got {backend.dtype_name(ids.dtype)}")
    if num_classes == -1:
        num_classes = int(backend.to_host(xp.max(ids))) + 1 if math.prod(ids.shape) else 0
    check_index_range(ids, num_classes, allow_negative=False)
    classes = xp.arange(num_classes, dtype=ids.dtype, device=ids.device)
    return Tensor(xp.astype(ids[..., None] == classes, xp.int64))
