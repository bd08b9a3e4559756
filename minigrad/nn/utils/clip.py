"""Gradient clipping and regularisation helpers that act on parameters between backward and step:
clip_grad_norm_, clip_grad_value_, max_norm_, l1_penalty, GradientNoise. Read parametrize.py next.

All of them work on raw arrays with the parameters' namespace and never synchronise with the
host: a clip factor is applied with xp.clip even when it is 1, instead of asking `if norm > c`.
"""

import math

from minigrad import backend, ops
from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- helpers


def _as_list(parameters):
    """A Tensor or an iterable of Tensors (e.g. model.parameters()) as a list."""
    if isinstance(parameters, Tensor):
        return [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensors (parameters), got {type(p).__name__}")
    return params


def _check_positive_number(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")


def _norm(xp, a, norm_type):
    """The p-norm of all entries of `a` as a 0-d array (max |a| for p = inf)."""
    if norm_type == math.inf:
        return xp.max(xp.abs(a)) if a.size > 0 else xp.zeros((), dtype=a.dtype, device=a.device)
    return xp.linalg.vector_norm(a, ord=norm_type)


# --------------------------------------------------------------------------- clipping


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their joint norm is at most max_norm.

        n = ‖(‖g₁‖, ‖g₂‖, …)‖_p   (= the p-norm of all gradients concatenated)
        g ← g · min(1, max_norm / (n + 1e-6))

    Returns n, the norm BEFORE clipping, as a 0-d Tensor on the gradients' device (no host
    sync; error_if_nonfinite=True adds one to raise on a NaN/inf norm). Gradients must share a
    device. foreach is accepted for PyTorch compatibility; the arrays are updated one by one."""
    del foreach
    norm_type = float(norm_type)
    _check_positive_number("clip_grad_norm_", "max_norm", max_norm)
    if norm_type <= 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type!r}")
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return Tensor(backend.to_device(0.0, "cpu", dtype=backend.DEFAULT_DTYPE))
    xp = backend.xp_of(grads[0])
    norms = xp.stack([xp.astype(_norm(xp, g, norm_type), grads[0].dtype) for g in grads])
    total = _norm(xp, norms, norm_type)
    if error_if_nonfinite and not bool(backend.to_host(xp.isfinite(total))):
        raise RuntimeError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is not finite; "
            "pass error_if_nonfinite=False to clip anyway"
        )
    factor = xp.clip(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g *= xp.astype(factor, g.dtype)
    return Tensor(xp.asarray(total))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient entry into [-clip_value, clip_value], in place."""
    del foreach
    _check_positive_number("clip_grad_value_", "clip_value", clip_value)
    for p in _as_list(parameters):
        if p.grad is None:
            continue
        xp = backend.xp_of(p.grad)
        p.grad[...] = xp.clip(p.grad, -clip_value, clip_value)


# --------------------------------------------------------------------------- weight constraints


def max_norm_(weight, max_norm, dim=0, norm_type=2.0):
    """Max-norm constraint (Srivastava et al. 2014, Dropout, section 5.1), in place.

    Each slice weight[i] along `dim` is one output unit's incoming weight vector; if its norm
    exceeds max_norm it is rescaled to norm max_norm (factor min(1, c / (‖w_i‖ + 1e-7))).
    Linear weight (out, in): dim=0 bounds each row; Conv2d weight (out, in, kh, kw): dim=0
    bounds each filter. Call it after optimizer.step()."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"max_norm_: weight must be a Tensor, got {type(weight).__name__}")
    _check_positive_number("max_norm_", "max_norm", max_norm)
    if weight.ndim == 0:
        raise ValueError("max_norm_: weight must have at least one dimension, got a 0-d tensor")
    dim = dim % weight.ndim
    w = weight.data
    xp = backend.xp_of(w)
    axes = tuple(a for a in range(w.ndim) if a != dim)
    if norm_type == math.inf:
        norms = xp.max(xp.abs(w), axis=axes, keepdims=True) if axes else xp.abs(w)
    else:
        norms = xp.linalg.vector_norm(w, ord=norm_type, axis=axes, keepdims=True)
    w *= xp.clip(max_norm / (norms + 1e-7), max=1.0)
    return weight


# --------------------------------------------------------------------------- regularisers


def l1_penalty(parameters):
    """Σ |w| over all parameters as a differentiable Tensor: add λ·l1_penalty(...) to the loss.

    Its gradient λ·sign(w) pushes weights to exactly zero (sparse weights), unlike L2 decay."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("l1_penalty: got no parameters")
    total = ops.sum(ops.abs(params[0]))
    for p in params[1:]:
        total = total + ops.sum(ops.abs(p))
    return total


class GradientNoise:
    """Add annealed Gaussian noise to the gradients (Neelakantan et al. 2015, "Adding Gradient
    Noise Improves Learning for Very Deep Networks"):

        g ← g + N(0, σ_t²),   σ_t² = eta / (1 + t)^gamma,   t = 0, 1, 2, … (calls to step())

    Call step() after backward and before optimizer.step(). The noise comes from each
    parameter's device generator; seed, when given, reseeds minigrad's generators once."""

    def __init__(self, parameters, eta=0.01, gamma=0.55, seed=None):
        _check_positive_number("GradientNoise", "eta", eta)
        _check_positive_number("GradientNoise", "gamma", gamma)
        self.params = _as_list(parameters)
        self.eta = eta
        self.gamma = gamma
        self.t = 0
        if seed is not None:
            backend.seed(seed)

    def std(self):
        """σ_t for the next step."""
        return math.sqrt(self.eta / (1.0 + self.t) ** self.gamma)

    def step(self):
        sigma = self.std()
        for p in self.params:
            if p.grad is None:
                continue
            noise = backend.randn(p.grad.shape, p.device, p.dtype)
            p.grad += sigma * noise
        self.t += 1
