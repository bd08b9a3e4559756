"""Optimizers in order of increasing complexity: SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW,
Adamax, NAdam, RAdam. Read schedule_base.py next; nn/utils.py holds clipping and regularisers.

Every optimizer updates `param.data` in place with array-namespace operations: no graph, no
host sync. The step count is a plain Python int in each parameter's state, so bias corrections
are Python floats. Names, defaults and update formulas follow torch.optim, step for step.
The shared bookkeeping lives in Optimizer.step: it counts t, applies decoupled weight decay and
hands each `_update` the direction g; every `_update` holds only its optimizer's equations.
Below, g is the gradient, p the parameter, t the step count (1 on the first step), η = lr.
"""

import math

from minigrad import backend
from minigrad.tensor import Tensor, enable_grad

# --------------------------------------------------------------------------- helpers


def _check_nonnegative(owner, name, value):
    """Reject a negative hyper-parameter, naming it (e.g. 'Adam: lr must be >= 0, got -1')."""
    if value < 0:
        raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")


def _check_betas(owner, betas):
    if len(betas) != 2:
        raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{owner}: betas[{i}] must be in [0, 1), got {beta!r}")


def _zeros_like(a, fill=0.0):
    """A state array shaped, typed and placed like `a` (every creation names its device)."""
    xp = backend.xp_of(a)
    return xp.full(a.shape, fill, dtype=a.dtype, device=a.device)


def _decay_decoupled(p, group):
    """p ← p(1 − ηλ) for decoupled weight decay (AdamW, NAdamW, RAdamW); else nothing."""
    if group.get("decoupled_weight_decay", False):
        p.data *= 1.0 - group["lr"] * group["weight_decay"]


def _direction(p, group):
    """The gradient to descend: -g when maximizing, plus the coupled L2 term λp.

    After backward(create_graph=True) p.grad is a Tensor with a graph: its values are used."""
    g = p.grad.data if isinstance(p.grad, Tensor) else p.grad
    if group.get("maximize", False):
        g = -g
    weight_decay = group.get("weight_decay", 0.0)
    if weight_decay != 0 and not group.get("decoupled_weight_decay", False):
        g = g + weight_decay * p.data
    return g


def _rms(v, bias_correction2, eps):
    """σ = √v / √(1 − β₂ᵗ) + ε, the per-coordinate scale an Adam-family step divides by."""
    sigma = backend.xp_of(v).sqrt(v)
    sigma /= math.sqrt(bias_correction2)
    sigma += eps
    return sigma


def _options(arguments):
    """A constructor's arguments, from locals(), as the defaults of every param group."""
    return {k: v for k, v in arguments.items() if k not in ("self", "params", "__class__")}


def _copy_state_value(value, like):
    """A state value moved to the device of array `like`; float arrays take its dtype."""
    if not backend.is_array(value):
        return value
    is_float = backend.xp_of(value).isdtype(value.dtype, "real floating")
    dtype = backend.dtype_name(like.dtype) if is_float else None
    moved = backend.to_device(value, backend.device_of(like), dtype=dtype)
    return backend.xp_of(moved).asarray(moved, copy=True)


# --------------------------------------------------------------------------- Optimizer


class Optimizer:
    """Base class: param groups (each a dict of options plus "params"), per-param state.

    `params` is an iterable of tensors, or of dicts {"params": [...], "lr": ...} that give
    per-group options (e.g. a smaller lr for a pretrained backbone). Subclasses implement
    `_update(p, g, state, group)` for one parameter, `_init_state(p, state, group)` for its
    buffers and `_check_group(group)`."""

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or dicts, got one Tensor")
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            options = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {options}")
        return "\n".join(lines + [")"])

    def _check_group(self, group):
        """Raise ValueError naming a bad hyper-parameter of `group` (subclasses extend)."""
        _check_nonnegative(type(self).__name__, "lr", group["lr"])

    def add_param_group(self, param_group):
        """Append a group; options it leaves out come from the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer params must be Tensors, got {type(p).__name__}")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: None (the default, frees memory) or zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """One update of every parameter that requires grad and has a gradient.

        closure, if given, re-evaluates the model and returns the loss (run with grad on)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    self._init_state(p, state, group)
                state["step"] += 1
                _decay_decoupled(p, group)
                self._update(p, _direction(p, group), state, group)
        return loss

    def _init_state(self, p, state, group):
        """Create the per-parameter buffers (state["step"] is already 0)."""

    def _update(self, p, g, state, group):
        """Update p.data in place from g, the direction of _direction; state["step"] is t."""
        raise NotImplementedError

    def state_dict(self):
        """{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}, as PyTorch.

        Parameters are numbered in group order; arrays are the live state (not copies)."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned; arrays move to each parameter's device."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state has {len(saved_groups)} param groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        by_index = {}
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"a loaded param group has {len(saved['params'])} params, "
                    f"the optimizer's has {len(group['params'])}"
                )
            by_index.update(zip(saved["params"], group["params"]))
        self.state = {}
        for i, saved_state in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: _copy_state_value(v, p.data) for k, v in saved_state.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})


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
        _check_nonnegative("SGD", "momentum", group["momentum"])
        _check_nonnegative("SGD", "weight_decay", group["weight_decay"])
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
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _check_nonnegative("Adagrad", name, group[name])

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
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            _check_nonnegative("RMSprop", name, group[name])

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
        _check_nonnegative("Adadelta", "eps", group["eps"])
        _check_nonnegative("Adadelta", "weight_decay", group["weight_decay"])

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
        name = type(self).__name__
        _check_betas(name, group["betas"])
        _check_nonnegative(name, "eps", group["eps"])
        _check_nonnegative(name, "weight_decay", group["weight_decay"])

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
        _check_nonnegative("NAdam", "momentum_decay", group["momentum_decay"])

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
