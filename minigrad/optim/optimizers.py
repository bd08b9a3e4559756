"""Optimizers in order of increasing complexity: SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW,
Adamax, NAdam, RAdam. Read optimizer_base.py first and schedule_base.py next;
nn/utils/clip.py holds clipping and regularisers.

Each optimizer holds only its own buffers (_init_state) and equations (_update); the counting of
t, weight decay and state_dict live in optimizer_base.py, read before this file. Names, defaults
and update formulas follow torch.optim, step for step.
Below, g is the gradient, p the parameter, t the step count (1 on the first step), η = lr.
"""

import math

from minigrad import backend
from minigrad.optim.optimizer_base import Optimizer

# --------------------------------------------------------------------------- helpers


def _check_betas(owner, betas):
    """Reject betas that are not a pair of numbers in [0, 1), naming the bad one."""
    if len(betas) != 2:
        raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{owner}: betas[{i}] must be in [0, 1), got {beta!r}")


def _zeros_like(a, fill=0.0):
    """A state array shaped, typed and placed like `a` (every creation names its device)."""
    xp = backend.xp_of(a)
    return xp.full(a.shape, fill, dtype=a.dtype, device=a.device)


def _rms(v, bias_correction2, eps):
    """σ = √v / √(1 − β₂ᵗ) + ε, the per-coordinate scale an Adam-family step divides by."""
    sigma = backend.xp_of(v).sqrt(v)
    sigma /= math.sqrt(bias_correction2)
    sigma += eps
    return sigma


def _options(arguments):
    """A constructor's arguments, from locals(), as the defaults of every param group."""
    return {k: v for k, v in arguments.items() if k not in ("self", "params", "__class__")}


# --------------------------------------------------------------------------- SGD


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum, dampening, Nesterov and L2 weight decay.

        g ← g + λp
        b ← g (first step);  b ← μb + (1 − τ)g (later steps)
        g ← g + μb (nesterov)  or  g ← b
        p ← p − ηg

    The textbook momentum v ← γv − η∇L, p ← p + v is the same trajectory with v = −ηb while
    the learning rate stays constant (PyTorch keeps η outside the buffer so that changing the
    lr takes effect at once)."""

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
        *,
        maximize=False,
    ):
        super().__init__(params, _options(locals()))

    def _check_group(self, group):
        super()._check_group(group)
        self._check_nonnegative(group, "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _update(self, p, g, state, group):
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = backend.xp_of(g).asarray(g, copy=True)
                state["momentum_buffer"] = buf
            else:
                buf *= momentum
                buf += (1.0 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


# --------------------------------------------------------------------------- adaptive


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): per-coordinate steps shrink with the summed squared grads.

    g ← g + λp;   η_t = η / (1 + (t − 1)·lr_decay)
    s ← s + g²;   p ← p − η_t · g / (√s + ε)"""

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0.0,
        weight_decay=0.0,
        initial_accumulator_value=0.0,
        eps=1e-10,
        *,
        maximize=False,
    ):
        super().__init__(params, _options(locals()))

    def _check_group(self, group):
        super()._check_group(group)
        self._check_nonnegative(
            group, "lr_decay", "weight_decay", "initial_accumulator_value", "eps"
        )

    def _init_state(self, p, state, group):
        state["sum"] = _zeros_like(p.data, group["initial_accumulator_value"])

    def _update(self, p, g, state, group):
        xp = backend.xp_of(g)
        clr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        std = xp.sqrt(state["sum"])
        std += group["eps"]
        p.data -= clr * (g / std)


class RMSprop(Optimizer):
    """RMSprop (Hinton, lecture 6e): divide by a running RMS of the gradient.

    g ← g + λp;   v ← αv + (1 − α)g²
    centered:     ḡ ← αḡ + (1 − α)g;   σ = √(v − ḡ²) + ε   else σ = √v + ε
    momentum μ>0: b ← μb + g/σ;  p ← p − ηb      else p ← p − η g/σ"""

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0.0,
        momentum=0.0,
        centered=False,
        *,
        maximize=False,
    ):
        super().__init__(params, _options(locals()))

    def _check_group(self, group):
        super()._check_group(group)
        self._check_nonnegative(group, "alpha", "eps", "weight_decay", "momentum")

    def _init_state(self, p, state, group):
        state["square_avg"] = _zeros_like(p.data)
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros_like(p.data)
        if group["centered"]:
            state["grad_avg"] = _zeros_like(p.data)

    def _update(self, p, g, state, group):
        xp = backend.xp_of(g)
        alpha = group["alpha"]
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1.0 - alpha) * (g * g)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1.0 - alpha) * (g - grad_avg)
            avg = xp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (g / avg)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): a step size in the units of p, from two running averages.

    g ← g + λp;       v ← ρv + (1 − ρ)g²
    Δ = √(u + ε) / √(v + ε) · g;   u ← ρu + (1 − ρ)Δ²;   p ← p − ηΔ"""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        super().__init__(params, _options(locals()))

    def _check_group(self, group):
        super()._check_group(group)
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Adadelta: rho must be in [0, 1], got {group['rho']!r}")
        self._check_nonnegative(group, "eps", "weight_decay")

    def _init_state(self, p, state, group):
        state["square_avg"] = _zeros_like(p.data)
        state["acc_delta"] = _zeros_like(p.data)

    def _update(self, p, g, state, group):
        xp = backend.xp_of(g)
        rho = group["rho"]
        eps = group["eps"]
        square_avg = state["square_avg"]
        acc_delta = state["acc_delta"]
        square_avg *= rho
        square_avg += (1.0 - rho) * (g * g)
        delta = xp.sqrt(acc_delta + eps)
        delta /= xp.sqrt(square_avg + eps)
        delta *= g
        acc_delta *= rho
        acc_delta += (1.0 - rho) * (delta * delta)
        p.data -= group["lr"] * delta


# --------------------------------------------------------------------------- Adam family


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), weight decay as L2 (added to g), optional AMSGrad.

        g ← g + λp;   m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²
        v̂ = max(v̂, v) (amsgrad) or v;     p ← p − η/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

    Dividing by √v makes the step invariant to the scale of g (up to ε)."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        *,
        maximize=False,
    ):
        betas = tuple(betas)
        super().__init__(params, _options(locals()))

    def _check_group(self, group):
        super()._check_group(group)
        _check_betas(type(self).__name__, group["betas"])
        self._check_nonnegative(group, "eps", "weight_decay")

    def _init_state(self, p, state, group):
        state["exp_avg"] = _zeros_like(p.data)
        state["exp_avg_sq"] = _zeros_like(p.data)
        if group.get("amsgrad", False):
            state["max_exp_avg_sq"] = _zeros_like(p.data)

    def _moments(self, g, state, group):
        """m ← β₁m + (1 − β₁)g and v ← β₂v + (1 − β₂)g², in place; returns the step t."""
        beta1, beta2 = group["betas"]
        exp_avg = state["exp_avg"]
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg += (1.0 - beta1) * (g - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1.0 - beta2) * (g * g)
        return state["step"]

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        t = self._moments(g, state, group)
        v = state["exp_avg_sq"]
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"] = backend.xp_of(g).maximum(state["max_exp_avg_sq"], v)
        sigma = _rms(v, 1.0 - beta2**t, group["eps"])
        p.data -= group["lr"] / (1.0 - beta1**t) * (state["exp_avg"] / sigma)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay
    Regularization"): the decay shrinks p directly instead of entering g, so it is not
    rescaled by 1/√v.

        p ← p(1 − ηλ), then the Adam step without the L2 term."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
        self.defaults["decoupled_weight_decay"] = True


class Adamax(Adam):
    """Adamax (Kingma & Ba 2015, section 7.1): Adam with the infinity norm in place of √v.

    g ← g + λp;   m ← β₁m + (1 − β₁)g;   u ← max(β₂u, |g| + ε)
    p ← p − η/(1 − β₁ᵗ) · m / u"""

    def __init__(
        self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, maximize=False
    ):
        betas = tuple(betas)
        Optimizer.__init__(self, params, _options(locals()))

    def _init_state(self, p, state, group):
        state["exp_avg"] = _zeros_like(p.data)
        state["exp_inf"] = _zeros_like(p.data)

    def _update(self, p, g, state, group):
        xp = backend.xp_of(g)
        beta1, beta2 = group["betas"]
        exp_avg = state["exp_avg"]
        exp_avg += (1.0 - beta1) * (g - exp_avg)
        scaled = state["exp_inf"]
        scaled *= beta2
        state["exp_inf"] = xp.maximum(scaled, xp.abs(g) + group["eps"])
        clr = group["lr"] / (1.0 - beta1 ** state["step"])
        p.data -= clr * (exp_avg / state["exp_inf"])


class NAdam(Adam):
    """NAdam (Dozat 2016): Adam with Nesterov momentum and a warming momentum schedule.

        μ_t = β₁(1 − ½·0.96^(t·ψ)), ψ = momentum_decay;   Π_t = μ₁μ₂…μ_t
        m, v as in Adam;   σ = √(v / (1 − β₂ᵗ)) + ε
        p ← p − η(1 − μ_t)/(1 − Π_t) · g/σ − η μ_{t+1}/(1 − Π_t μ_{t+1}) · m/σ
    decoupled_weight_decay=True gives NAdamW (p ← p(1 − ηλ) first)."""

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        maximize=False,
    ):
        betas = tuple(betas)
        Optimizer.__init__(self, params, _options(locals()))

    def _check_group(self, group):
        super()._check_group(group)
        self._check_nonnegative(group, "momentum_decay")

    def _init_state(self, p, state, group):
        super()._init_state(p, state, group)
        state["mu_product"] = 1.0

    def _update(self, p, g, state, group):
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        t = self._moments(g, state, group)
        psi = group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]
        sigma = _rms(state["exp_avg_sq"], 1.0 - beta2**t, group["eps"])
        p.data -= (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / sigma)
        p.data -= (lr * mu_next / (1.0 - mu_product * mu_next)) * (state["exp_avg"] / sigma)


class RAdam(Adam):
    """RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond").

    While the variance of the adaptive lr is intractable (ρ_t ≤ 5, the first steps), take a
    plain bias-corrected momentum step; afterwards rectify Adam's step by r_t:
        ρ_∞ = 2/(1 − β₂) − 1;   ρ_t = ρ_∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)
        r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))
        m̂ = m/(1 − β₁ᵗ);  p ← p − η m̂ · r_t √(1 − β₂ᵗ)/(√v + ε)   if ρ_t > 5, else p ← p − η m̂"""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        decoupled_weight_decay=False,
        *,
        maximize=False,
    ):
        betas = tuple(betas)
        Optimizer.__init__(self, params, _options(locals()))

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        t = self._moments(g, state, group)
        bias_correction2 = 1.0 - beta2**t
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * t * beta2**t / bias_correction2
        step_size = group["lr"] / (1.0 - beta1**t)
        if rho_t <= 5.0:
            p.data -= step_size * state["exp_avg"]
            return
        rect = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        # ε is added to √v before the bias correction: rectified, as the paper and PyTorch do
        sigma = _rms(state["exp_avg_sq"], 1.0, group["eps"])
        scale = step_size * math.sqrt(rect) * math.sqrt(bias_correction2)
        p.data -= scale * (state["exp_avg"] / sigma)
