"""Loss functions with PyTorch's names and semantics: regression losses (mse, l1, smooth L1,
Huber), then probabilistic ones (BCE, BCE with logits, KL divergence); NLL and cross-entropy
are in cross_entropy.py. Read smooth.py before this file, cross_entropy.py and nn/losses.py
after it.

Every loss computes a per-element (or per-sample) term and then reduces it: reduction="none"
keeps the terms, "sum" adds them, "mean" divides the sum by a count (for weighted NLL and
cross-entropy: by the summed weights of the targets that are not ignored, as PyTorch does).
A fused loss whose backward uses an intermediate names a `reference` (the same loss from
primitives) for backward(create_graph=True), right above it.
"""

from minigrad import backend, ops
from minigrad.functional.smooth import log1p_exp
from minigrad.tensor import Function, Tensor

REDUCTIONS = ("none", "mean", "sum")


# --------------------------------------------------------------------------- helpers


def as_host(value):
    """A list, number or NumPy array from the user as a host (NumPy) array, for checking."""
    return backend.to_device(value, "cpu")


def check_reduction(name, reduction, allowed=REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss, reduction):
    """Reduce a Tensor of loss terms as `reduction` says."""
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _as_tensor(name, value, like, what="target"):
    """`value` (Tensor, NumPy array, list or number) as a Tensor on `like`'s device; float data
    that is not a Tensor gets `like`'s dtype."""
    if isinstance(value, Tensor):
        return value
    host = backend.to_host(value) if backend.is_array(value) else as_host(value)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{name}: {what} must be numeric, got dtype {host.dtype}")
    dtype = like.dtype if host.dtype.kind == "f" else None
    return Tensor(backend.to_device(host, like.device, dtype=dtype))


def same_shape(name, input, target):
    """Elementwise losses need matching shapes: broadcasting here usually hides a bug."""
    target = _as_tensor(name, target, input)
    if target.shape != input.shape:
        raise ValueError(
            f"{name}: target has shape {target.shape}, expected the input's shape {input.shape}"
        )
    return target


# --------------------------------------------------------------------------- regression losses


def _huber_reference(d, *, delta, scale):
    """s d^2 / 2 where |d| <= delta, else s delta (|d| - delta / 2)"""
    linear = delta * (ops.abs(d) - 0.5 * delta)
    return scale * ops.where(abs(d.data) <= delta, 0.5 * d * d, linear)


class Huber(Function):
    """y = s d^2 / 2 where |d| <= delta, else s delta (|d| - delta / 2);
    dd = dout * s clip(d, -delta, delta)

    huber_loss is s = 1; smooth_l1_loss is delta = beta, s = 1/beta."""

    reference = _huber_reference  # the saved slope clip(d, -delta, delta) depends on d

    def forward(self, d, *, delta, scale):
        xp = self.xp
        a = xp.abs(d)
        self.slope = scale * xp.clip(d, -delta, delta)
        quadratic = 0.5 * d * d
        linear = delta * (a - 0.5 * delta)
        return scale * xp.where(a <= delta, quadratic, linear)

    def backward(self, dout):
        return (dout * self.slope,)


def mse_loss(input, target, *, reduction="mean"):
    """mean((x - y)^2)"""
    check_reduction("mse_loss", reduction)
    d = input - same_shape("mse_loss", input, target)
    return _reduce(d * d, reduction)


def l1_loss(input, target, *, reduction="mean"):
    """mean(|x - y|); the gradient at x = y is 0, as in PyTorch"""
    check_reduction("l1_loss", reduction)
    return _reduce(ops.abs(input - same_shape("l1_loss", input, target)), reduction)


def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0):
    """Quadratic (d^2 / 2 beta) below |d| = beta, linear (|d| - beta/2) above; beta=0 is L1."""
    check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    d = input - same_shape("smooth_l1_loss", input, target)
    return _reduce(Huber.apply(d, delta=float(beta), scale=1.0 / beta), reduction)


def huber_loss(input, target, *, reduction="mean", delta=1.0):
    """Quadratic (d^2 / 2) below |d| = delta, linear (delta (|d| - delta/2)) above."""
    check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    d = input - same_shape("huber_loss", input, target)
    return _reduce(Huber.apply(d, delta=float(delta), scale=1.0), reduction)


# --------------------------------------------------------------------------- binary losses


# exp(-100): below it PyTorch's clamped log is -100 anyway
TINY = 3.7200759760208361e-44


def _clamped_log(x):
    """max(log x, -100) of a Tensor, without evaluating log where x <= exp(-100)"""
    inside = x.data > TINY
    return ops.where(inside, ops.log(ops.where(inside, x, 1.0)), -100.0)


def _bce_reference(x, t):
    return -(t * _clamped_log(x) + (1 - t) * _clamped_log(1 - x))


class BinaryCrossEntropy(Function):
    """y = -(t log x + (1 - t) log(1 - x)), each log clamped to >= -100 (as PyTorch);
    dx = dout (x - t) / max(x (1 - x), 1e-12),  dt = dout (log(1 - x) - log x)"""

    reference = _bce_reference

    def forward(self, x, t):
        xp = self.xp
        log_x = xp.maximum(xp.log(xp.maximum(x, TINY)), -100.0)
        log_1mx = xp.maximum(xp.log(xp.maximum(1 - x, TINY)), -100.0)
        self.x, self.t = x, t
        self.log_ratio = log_1mx - log_x if self.needs_input_grad[1] else None
        return -(t * log_x + (1 - t) * log_1mx)

    def backward(self, dout):
        x, t = self.x, self.t
        dx = None
        if self.needs_input_grad[0]:
            dx = dout * (x - t) / self.xp.maximum(x * (1 - x), 1e-12)
        dt = dout * self.log_ratio if self.needs_input_grad[1] else None
        return dx, dt


def _bce_with_logits_reference(x, t, p):
    """(1 - t) x + c softplus(-x), c = 1 + (p - 1) t (1 without pos_weight)"""
    c = 1.0 if p is None else 1 + (p - 1) * t
    return (1 - t) * x + c * log1p_exp(-x)


class BinaryCrossEntropyWithLogits(Function):
    """y = (1 - t) x + c softplus(-x), c = 1 + (p - 1) t for pos_weight p (c = 1 without);
    softplus(-x) = max(-x, 0) + log(1 + exp(-|x|)) never overflows.
    dx = dout ((1 - t) - c sigmoid(-x)),  dt = dout ((p - 1) softplus(-x) - x),
    dp = dout t softplus(-x)"""

    reference = _bce_with_logits_reference

    def forward(self, x, t, p):
        xp = self.xp
        sp = xp.maximum(-x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))
        c = 1.0 if p is None else 1 + (p - 1) * t
        self.x, self.t, self.p, self.sp, self.c = x, t, p, sp, c
        return (1 - t) * x + c * sp

    def backward(self, dout):
        x, t, p, sp = self.x, self.t, self.p, self.sp
        dx = dt = dp = None
        if self.needs_input_grad[0]:
            dx = dout * ((1 - t) - self.c * ops.sigmoid_array(-x))
        if self.needs_input_grad[1]:
            dt = dout * (-x if p is None else (p - 1) * sp - x)
        if self.needs_input_grad[2]:
            dp = dout * t * sp
        return dx, dt, dp


def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    """BCE of probabilities `input` in [0, 1]; `weight` rescales each element (broadcast)."""
    check_reduction("binary_cross_entropy", reduction)
    target = same_shape("binary_cross_entropy", input, target)
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * _as_tensor("binary_cross_entropy", weight, input, "weight")
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input, target, weight=None, *, reduction="mean", pos_weight=None
):
    """BCE of sigmoid(input) computed from the logits, stable for any |input|.

    pos_weight (broadcast over the last dim, e.g. one per class) multiplies the positive term."""
    name = "binary_cross_entropy_with_logits"
    check_reduction(name, reduction)
    target = same_shape(name, input, target)
    if pos_weight is not None:
        pos_weight = _as_tensor(name, pos_weight, input, "pos_weight")
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        loss = loss * _as_tensor(name, weight, input, "weight")
    return _reduce(loss, reduction)


def _kl_div_reference(x, t, *, log_target):
    """t (log t - x), 0 where t = 0; or exp(t) (t - x) for log-probabilities t"""
    if log_target:
        return ops.exp(t) * (t - x)
    positive = t.data > 0
    log_t = ops.where(positive, ops.log(ops.where(positive, t, 1.0)), 0.0)
    return t * (log_t - x)


class KLDiv(Function):
    """y = t (log t - x) (0 where t = 0), or with log_target: exp(t) (t - x);
    dx = -dout t (or -dout exp(t)),  dt = dout (log t + 1 - x) (or dout exp(t) (t - x + 1))"""

    reference = _kl_div_reference

    def forward(self, x, t, *, log_target):
        xp = self.xp
        self.x, self.t, self.log_target = x, t, log_target
        if log_target:
            self.p = xp.exp(t)
            return self.p * (t - x)
        positive = t > 0
        self.log_t = xp.where(positive, xp.log(xp.where(positive, t, 1.0)), 0.0)
        return t * (self.log_t - x)

    def backward(self, dout):
        x, t = self.x, self.t
        p = self.p if self.log_target else t
        dx = -dout * p if self.needs_input_grad[0] else None
        dt = None
        if self.needs_input_grad[1] and self.log_target:
            dt = dout * p * (t - x + 1)
        elif self.needs_input_grad[1]:
            dt = dout * (self.log_t + 1 - x)
        return dx, dt


def kl_div(input, target, *, reduction="mean", log_target=False):
    """KL(target || exp(input)) for log-probabilities `input`; "batchmean" divides the sum by
    the batch size (the true KL divergence per sample), "mean" by the number of elements."""
    check_reduction("kl_div", reduction, REDUCTIONS + ("batchmean",))
    loss = KLDiv.apply(input, same_shape("kl_div", input, target), log_target=bool(log_target))
    if reduction == "batchmean":
        total = ops.sum(loss)
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)
