"""Cyclic learning-rate schedules: SGDR warm restarts, CyclicLR and the 1cycle policy; they can
also cycle momentum (β₁ for Adam). Read lr_scheduler.py first and lr_finder.py next.
"""

import math

from minigrad.optim.schedule_base import LRScheduler, check_optimizer, per_group


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): cosine from base_lr down to eta_min over T_i steps,
    then restart; T_0 is the first period, each next one is T_mult times longer.

        lr = η_min + (base_lr − η_min)(1 + cos(π T_cur / T_i))/2
    step(epoch) also takes a fractional epoch (e.g. epoch + batch / batches)."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):  # noqa: N803
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 must be an int > 0, got {T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: T_mult must be an int >= 1, got {T_mult!r}"
            )
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        cosine = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]

    def _place(self, epoch):
        """T_cur and T_i for an absolute (possibly fractional) epoch."""
        if epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got {epoch!r}")
        if epoch < self.T_0:
            self.T_i = self.T_0
            self.T_cur = epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            # periods T_0, T_0·m, T_0·m², … end at T_0(mⁿ − 1)/(m − 1)
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult**n

    def step(self, epoch=None):
        self._step_count = getattr(self, "_step_count", 0) + 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            self._place(epoch)
        self.last_epoch = math.floor(epoch)
        self._set_lrs(self.get_lr())


def _momentum_name(optimizer, owner):
    """'betas' (cycle β₁, Adam family) or 'momentum' (SGD, RMSprop)."""
    if "betas" in optimizer.defaults:
        return "betas"
    if "momentum" in optimizer.defaults:
        return "momentum"
    raise ValueError(
        f"{owner}: cycle_momentum needs an optimizer with 'momentum' or 'betas', "
        f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)"
    )


def _set_momentum(group, name, value):
    if name == "betas":
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith 2017): the lr goes linearly from base_lr up to max_lr in
    step_size_up steps and back in step_size_down; momentum cycles the other way.

        cycle = ⌊1 + t/total⌋;  x = 1 + t/total − cycle ∈ [0, 1)
        h = x/r (rising, x ≤ r = up/total) or (x − 1)/(r − 1) (falling)
        lr = base_lr + (max_lr − base_lr) · h · scale
    scale = 1 (triangular), 1/2^(cycle−1) (triangular2), gamma^t (exp_range) or scale_fn."""

    def __init__(
        self,
        optimizer,
        base_lr,
        max_lr,
        step_size_up=2000,
        step_size_down=None,
        mode="triangular",
        gamma=1.0,
        scale_fn=None,
        scale_mode="cycle",
        cycle_momentum=True,
        base_momentum=0.8,
        max_momentum=0.9,
        last_epoch=-1,
    ):
        check_optimizer(optimizer)
        base_lrs = per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"CyclicLR: unknown mode {mode!r} and no scale_fn given")
        self.mode = mode
        self.gamma = gamma
        self.scale_fn = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else _MODE_SCALES[mode]
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._init_momentum(optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    _not_saved = ("optimizer", "scale_fn")

    def _init_momentum(self, optimizer, base_momentum, max_momentum, last_epoch):
        self.momentum_name = _momentum_name(optimizer, "CyclicLR")
        self.base_momentums = per_group("base_momentum", optimizer, base_momentum)
        self.max_momentums = per_group("max_momentum", optimizer, max_momentum)
        if last_epoch != -1:
            return
        for high, low, group in zip(
            self.max_momentums, self.base_momentums, optimizer.param_groups
        ):
            _set_momentum(group, self.momentum_name, high)
            group["max_momentum"] = high
            group["base_momentum"] = low

    def _scale(self, cycle):
        x = cycle if self.scale_mode == "cycle" else self.last_epoch
        if self.scale_fn is not None:
            return self.scale_fn(x)
        if self.mode == "triangular2":
            return 1 / 2.0 ** (x - 1)
        if self.mode == "exp_range":
            return self.gamma**x
        return 1.0

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            height = x / self.step_ratio
        else:
            height = (x - 1) / (self.step_ratio - 1)
        scale = self._scale(cycle)
        lrs = [
            low + (high - low) * height * scale for low, high in zip(self.base_lrs, self.max_lrs)
        ]
        if self.cycle_momentum:
            pairs = zip(self.base_momentums, self.max_momentums, self.optimizer.param_groups)
            for low, high, group in pairs:
                _set_momentum(group, self.momentum_name, high - (high - low) * height * scale)
        return lrs


_MODE_SCALES = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}


def _anneal(strategy, start, end, pct):
    """From start (pct = 0) to end (pct = 1): half a cosine or a straight line."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2019, "Super-Convergence"): warm up from
    max_lr/div_factor to max_lr over pct_start of total_steps, then anneal to
    initial_lr/final_div_factor; momentum moves the opposite way (max → base → max).
    three_phase: up, back down to initial_lr symmetrically, then annihilate to min_lr."""

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start=0.3,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        last_epoch=-1,
    ):
        check_optimizer(optimizer)
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.anneal_strategy = anneal_strategy
        self._phases = _one_cycle_phases(pct_start, self.total_steps, three_phase)
        if last_epoch == -1:
            for high, group in zip(per_group("max_lr", optimizer, max_lr), optimizer.param_groups):
                group["initial_lr"] = high / div_factor
                group["max_lr"] = high
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            CyclicLR._init_momentum(self, optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(
                f"OneCycleLR: stepped {t} times, more than total_steps={self.total_steps}"
            )
        start_step, (end_step, lr_keys, momentum_keys) = self._phase(t)
        pct = (t - start_step) / (end_step - start_step)
        lrs = []
        for group in self.optimizer.param_groups:
            lrs.append(_anneal(self.anneal_strategy, group[lr_keys[0]], group[lr_keys[1]], pct))
            if self.cycle_momentum:
                start, end = group[momentum_keys[0]], group[momentum_keys[1]]
                momentum = _anneal(self.anneal_strategy, start, end, pct)
                _set_momentum(group, self.momentum_name, momentum)
        return lrs

    def _phase(self, t):
        """(first step, phase) of the phase that step t falls in; the last one takes the rest."""
        start_step = 0.0
        for phase in self._phases[:-1]:
            if t <= phase[0]:
                return start_step, phase
            start_step = phase[0]
        return start_step, self._phases[-1]


def _total_steps(total_steps, epochs, steps_per_epoch):
    if total_steps is not None:
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: total_steps must be an int > 0, got {total_steps!r}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"OneCycleLR: {name} must be an int > 0, got {value!r}")
    return epochs * steps_per_epoch


def _one_cycle_phases(pct_start, total_steps, three_phase):
    """(last step of the phase, (lr from, lr to), (momentum from, momentum to)) per phase."""
    warm_end = float(pct_start * total_steps) - 1
    up = (warm_end, ("initial_lr", "max_lr"), ("max_momentum", "base_momentum"))
    if not three_phase:
        down = (total_steps - 1, ("max_lr", "min_lr"), ("base_momentum", "max_momentum"))
        return [up, down]
    down = (2 * warm_end, ("max_lr", "initial_lr"), ("base_momentum", "max_momentum"))
    tail = (total_steps - 1, ("initial_lr", "min_lr"), ("max_momentum", "max_momentum"))
    return [up, down, tail]
