"""NLL and cross-entropy with PyTorch's semantics: class-id targets (ignore_index, per-class
weights, label smoothing) or class probabilities. In order: the textbook cross_entropy_reference,
the fused NLLLoss and CrossEntropy, the public functions, their argument checks. Read losses.py
first (its argument checks); linear.py next.

"mean" divides the summed loss by the summed weights of the targets that are not ignored, as
PyTorch does. backward(create_graph=True) differentiates the fused op through its reference
(it saves log-probabilities); NLL's target matrix is a constant.
"""

from minigrad import backend, ops
from minigrad.functional.activations import log_softmax
from minigrad.functional.losses import as_host, check_reduction, same_shape
from minigrad.tensor import Function, Tensor

# --------------------------------------------------------------------------- the references


def cross_entropy_reference(
    input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    """F.cross_entropy from primitives: loss_i = -sum_c q_ic log_softmax(x_i)_c, q the target
    distribution (one-hot or given, smoothed by eps/C, weighted); "mean" divides by the
    targets' summed weights. The oracle of the fused CrossEntropy (also twice differentiable)."""
    name = "cross_entropy"
    args = (ignore_index, reduction, label_smoothing)
    x, t, w = _cross_entropy_args(name, input, target, weight, *args)
    xp = backend.xp_of(x.data)
    num_classes = x.shape[1]
    if isinstance(t, Tensor):  # soft targets: "mean" averages over samples, unweighted
        q = (1 - label_smoothing) * t + label_smoothing / num_classes
        q = q if w is None else q * Tensor(xp.reshape(w, (1, num_classes) + (1,) * (x.ndim - 2)))
        norm = xp.asarray(x.numel() // num_classes, dtype=x.data.dtype, device=x.data.device)
    else:
        return _class_id_reference(x, t, w, int(ignore_index), reduction, label_smoothing, input)
    rows = -ops.sum(q * log_softmax(x, dim=1), dim=1)
    if reduction == "none":
        return ops.reshape(rows, ()) if input.ndim == 1 else rows
    total = ops.sum(rows)
    return total if reduction == "sum" else total / Tensor(xp.where(norm > 0, norm, xp.nan))


def _class_id_reference(x, ids, w, ignore_index, reduction, eps, input):
    """PyTorch's formula for class ids y, written term by term (independent of the fused
    op's target matrix): loss_i = w_y·(1 - eps)·(-log p_iy) + eps/C·Σ_c w_c·(-log p_ic),
    0 where y = ignore_index; "mean" divides by Σ w_y over the counted targets."""
    xp = backend.xp_of(x.data)
    num_classes = x.shape[1]
    logp = log_softmax(x, dim=1)  # (N, C, *)
    valid = ids != ignore_index
    safe = xp.where(valid, ids, xp.zeros_like(ids))  # any class id where the target is ignored
    picked = ops.reshape(logp.gather(1, Tensor(xp.expand_dims(safe, axis=1))), ids.shape)
    w_y = xp.ones(ids.shape, dtype=x.data.dtype, device=x.data.device)
    if w is not None:
        w_y = xp.reshape(xp.take(w, xp.reshape(safe, (-1,))), ids.shape)
    w_c = 1.0 if w is None else Tensor(xp.reshape(w, (1, num_classes) + (1,) * (x.ndim - 2)))
    smooth = -ops.sum(logp * w_c, dim=1)  # Σ_c w_c·(-log p_c)
    counted = xp.astype(valid, x.data.dtype)
    rows = (
        Tensor(counted * w_y * (1 - eps)) * -picked + Tensor(counted * eps / num_classes) * smooth
    )
    if reduction == "none":
        return ops.reshape(rows, ()) if input.ndim == 1 else rows
    total = ops.sum(rows)
    if reduction == "sum":
        return total
    norm = xp.sum(counted * w_y)
    return total / Tensor(xp.where(norm > 0, norm, xp.nan))


# --------------------------------------------------------------------------- the fused ops


def _target_weights(xp, ids, like, weight, ignore_index, smoothing):
    """q (N, C, *): how much each log-probability counts, and the sum of the targets' weights.

    q = valid w_c ((1 - eps) onehot(y) + eps / C): PyTorch's (1 - eps) NLL + eps/C smoothing
    term, weighted per class; ignored targets get q = 0."""
    num_classes = like.shape[1]
    tail = (1,) * (like.ndim - 2)
    classes = xp.reshape(xp.arange(num_classes, device=like.device), (1, num_classes) + tail)
    y = xp.expand_dims(ids, axis=1)  # (N, 1, *)
    onehot = xp.astype(y == classes, like.dtype)
    valid = xp.astype(y != ignore_index, like.dtype)
    q = (1 - smoothing) * onehot + smoothing / num_classes
    if weight is None:
        return valid * q, xp.sum(valid)
    w = xp.reshape(weight, (1, num_classes) + tail)
    w_y = xp.sum(onehot * w, axis=1, keepdims=True) * valid
    return valid * w * q, xp.sum(w_y)


def _divisor(norm):
    """The array `norm`, NaN where it is 0: "mean" over nothing is NaN, silently."""
    xp = backend.xp_of(norm)
    return xp.where(norm > 0, norm, xp.nan)


def _reduce_rows(xp, loss, reduction, norm):
    """Reduce per-sample losses; "mean" divides by `norm` (NaN when nothing counts)."""
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    if reduction == "sum":
        return total
    return total / _divisor(norm)


def _row_scale(xp, dout, reduction, norm):
    """d(reduced loss)/d(per-sample loss), shaped (N, 1, *) or () to broadcast over classes.

    `norm` is an array even when dout is a Tensor (create_graph=True): a constant."""
    if reduction == "none":
        return xp.expand_dims(dout, axis=1)
    if reduction == "sum":
        return dout
    return dout / _divisor(norm)


class NLLLoss(Function):
    """loss_i = -w_{y_i} x[i, y_i] (0 for ignored targets);  dx = -q * dout, q = w onehot(y)"""

    constant = ("q", "norm")  # made of the class ids and weights alone

    def forward(self, x, ids, *, weight, ignore_index, reduction):
        xp = self.xp
        self.q, self.norm = _target_weights(xp, ids, x, weight, ignore_index, 0.0)
        self.reduction = reduction
        return _reduce_rows(xp, -xp.sum(self.q * x, axis=1), reduction, self.norm)

    def backward(self, dout):
        scale = _row_scale(self.xp, dout, self.reduction, self.norm)
        return -(scale * self.q), None  # scale first: it may be a Tensor (create_graph)


class CrossEntropy(Function):
    """loss_i = -sum_c q_ic log softmax(x_i)_c;  dx = (softmax(x_i) sum_c q_ic - q_i) * dout_i

    q is the (smoothed, weighted) one-hot of a class target or the (smoothed, weighted) class
    probabilities of a soft target; dt = -(1 - eps) w log softmax(x) * dout for soft targets.
    Fused for stability and speed: log-softmax subtracts the max, nothing takes log(0), and
    the backward is one expression instead of a chain through softmax, log and gather."""

    def forward(self, x, t, *, weight, ignore_index, reduction, smoothing):
        xp = self.xp
        shifted = x - xp.max(x, axis=1, keepdims=True)
        self.logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        num_classes = x.shape[1]
        tail = (1,) * (x.ndim - 2)
        self.w = None if weight is None else xp.reshape(weight, (1, num_classes) + tail)
        if xp.isdtype(t.dtype, "integral"):
            q, norm = _target_weights(xp, t, x, weight, ignore_index, smoothing)
        else:
            q = (1 - smoothing) * t + smoothing / num_classes
            q = q if weight is None else q * self.w
            # soft targets: "mean" averages over samples, unweighted (as PyTorch)
            norm = xp.asarray(x.size // num_classes, dtype=x.dtype, device=x.device)
        self.q, self.norm = q, norm
        self.reduction, self.smoothing = reduction, smoothing
        return _reduce_rows(xp, -xp.sum(q * self.logp, axis=1), reduction, norm)

    def backward(self, dout):
        xp = self.xp
        scale = _row_scale(xp, dout, self.reduction, self.norm)
        p = xp.exp(self.logp)
        dx = (p * xp.sum(self.q, axis=1, keepdims=True) - self.q) * scale
        dt = None
        if self.needs_input_grad[1]:
            dt = -(1 - self.smoothing) * self.logp * scale
            dt = dt if self.w is None else dt * self.w
        return dx, dt


def _cross_entropy_fused_reference(x, t, *, weight, ignore_index, reduction, smoothing):
    """cross_entropy_reference on CrossEntropy's own arguments: what backward(create_graph=True)
    differentiates, as the fused op saves log-probabilities."""
    args = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    return cross_entropy_reference(x, t, weight, **args)


CrossEntropy.reference = _cross_entropy_fused_reference

# --------------------------------------------------------------------------- the public functions


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """-input[n, target[n]] * weight[target[n]] for log-probabilities input (N, C, d1, ...)."""
    check_reduction("nll_loss", reduction)
    batched, target = _unbatch("nll_loss", input, target, soft=False)
    ids = _class_target("nll_loss", batched, target, ignore_index)
    weight = _weight_array("nll_loss", weight, batched.shape[1], batched)
    loss = NLLLoss.apply(
        batched, ids, weight=weight, ignore_index=int(ignore_index), reduction=reduction
    )
    return ops.reshape(loss, ()) if input.ndim == 1 and reduction == "none" else loss


def cross_entropy(
    input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    """log_softmax over dim 1 + NLL in one stable node, for logits (N, C, d1, ...).

    target: class ids (N, d1, ...) (integers; ignore_index skipped) or class probabilities of
    the input's shape (floats). label_smoothing eps mixes the target with the uniform eps/C."""
    name = "cross_entropy"
    args = (ignore_index, reduction, label_smoothing)
    batched, target, weight = _cross_entropy_args(name, input, target, weight, *args)
    loss = CrossEntropy.apply(
        batched,
        target,
        weight=weight,
        ignore_index=int(ignore_index),
        reduction=reduction,
        smoothing=float(label_smoothing),
    )
    return ops.reshape(loss, ()) if input.ndim == 1 and reduction == "none" else loss


# ---------------------------------------------------------- arguments (checked before any math)


def _cross_entropy_args(name, input, target, weight, ignore_index, reduction, smoothing):
    """Check cross-entropy's arguments; returns the batched input, the target (class ids as an
    int64 array, or probabilities as a Tensor) and the class weights as an array (or None)."""
    check_reduction(name, reduction)
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {smoothing}")
    soft = _is_soft(target)
    batched, target = _unbatch(name, input, target, soft)
    if soft:
        target = same_shape(name, batched, target)
    else:
        target = _class_target(name, batched, target, ignore_index)
    return batched, target, _weight_array(name, weight, batched.shape[1], batched)


def _unbatch(name, input, target, soft):
    """An unbatched input (C,) with target () (or (C,) probabilities) as a batch of one."""
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dim, got a 0-d tensor")
    if input.ndim > 1:
        return input, target
    shape = (1,) + (input.shape if soft else ())
    if isinstance(target, Tensor):
        return ops.reshape(input, (1,) + input.shape), ops.reshape(target, shape)
    return ops.reshape(input, (1,) + input.shape), as_host(target).reshape(shape)


def _is_soft(target):
    """Float targets are class probabilities; integer targets are class ids."""
    if isinstance(target, Tensor):
        return target.dtype.startswith("float")
    if backend.is_array(target):
        return backend.dtype_name(target.dtype).startswith("float")
    return as_host(target).dtype.kind == "f"


def _weight_array(name, weight, size, like):
    """A per-class weight of shape (size,) as a raw array on `like`'s device (not trained)."""
    if weight is None:
        return None
    array = weight.data if isinstance(weight, Tensor) else weight
    array = backend.to_device(array, like.device, dtype=like.dtype)
    if tuple(array.shape) != (size,):
        raise ValueError(f"{name}: weight has shape {tuple(array.shape)}, expected ({size},)")
    return array


def _class_target(name, input, target, ignore_index):
    """Class ids of shape (N, d1, ...) for input (N, C, d1, ...) as an int64 array on the
    input's device, after checking shape and range (a host sync only for device targets)."""
    num_classes = input.shape[1]
    expected = (input.shape[0],) + input.shape[2:]
    ids = target.data if isinstance(target, Tensor) else target
    ids = ids if backend.is_array(ids) else as_host(ids)
    if not backend.dtype_name(ids.dtype).startswith(("int", "uint")):
        raise TypeError(f"{name}: class targets must be integers, got dtype {ids.dtype}")
    if tuple(ids.shape) != expected:
        raise ValueError(
            f"{name}: target has shape {tuple(ids.shape)}, expected {expected} "
            f"for an input of shape {input.shape} (class dim 1)"
        )
    check_class_ids(name, ids, num_classes, ignore_index)
    ids = backend.to_device(ids, input.device)
    xp = backend.xp_of(ids)
    return ids if ids.dtype == xp.int64 else xp.astype(ids, xp.int64)


def check_class_ids(name, ids, num_classes, ignore_index=None, what="target", error=IndexError):
    """Raise `error` for a class id in array `ids` outside [0, num_classes) that is not
    ignore_index: the one range check of class ids (losses, dataset labels, metrics). Ids on
    a GPU are checked without a sync: the error comes at the next host read (the loss)."""
    if ids.size == 0:
        return
    xp = backend.xp_of(ids)
    if ignore_index is not None:
        ids = xp.where(ids == ignore_index, xp.zeros_like(ids), ids)
    if not backend.in_host_memory(ids):
        failed = xp.any((ids < 0) | (ids >= num_classes))
        allowed = f"[0, {num_classes}){_ignored(ignore_index)}"
        message = f"{name}: {what}: a class id out of range (ids must be in {allowed})"
        backend.check_when_read(failed, error(message))
        return
    low, high = backend.to_host(xp.stack([xp.min(ids), xp.max(ids)]))
    if low < 0 or high >= num_classes:
        bad = int(low if low < 0 else high)
        raise error(
            f"{name}: {what}: class id {bad}, but there are {num_classes} classes "
            f"(ids must be in [0, {num_classes}){_ignored(ignore_index)})"
        )


def _ignored(ignore_index):
    return "" if ignore_index is None else f" or equal ignore_index={ignore_index}"
