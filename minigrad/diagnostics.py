"""The habits of a careful practitioner as one call each: loss at init, overfit one batch, update
ratios, activation statistics and train/eval mode. Read checkpoints.py before this file,
batch_checks.py after.

Each check returns a small result object: its fields hold the numbers, `ok` says whether all
looks healthy, and str(result) explains in plain words what looks wrong and what to try. The
checks leave the model as they found it: weights, buffers, modes, optimizer and RNG state.
"""

import math
from contextlib import contextmanager

import numpy as np

from minigrad import backend
from minigrad.batch_checks import (  # noqa: F401
    PredictionDynamics,
    capture_batch,
    check_batch_dependency,
    denormalize,
    input_independent_baseline,
    plot_batch,
)
from minigrad.nn.module import training_mode
from minigrad.tensor import Tensor, no_grad

# --------------------------------------------------------------------------- helpers


def _copy(value):
    """A deep copy of nested dicts/lists/tuples whose arrays are copied on their device."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, Tensor):
        return Tensor(_copy(value.data))
    if backend.is_array(value):
        return backend.xp_of(value).asarray(value, copy=True)
    return value


@contextmanager
def _preserved(model, optimizer=None):
    """Run a block, then put back the model's state, modes, the optimizer and the RNG."""
    state = _copy(dict(model.state_dict()))
    grads = [(p, _copy(p.grad)) for p in model.parameters()]
    opt_state = _copy(optimizer.state_dict()) if optimizer is not None else None
    rng = _copy(backend.get_rng_state())
    try:
        with training_mode(model, None):
            yield
    finally:
        model.load_state_dict(state)
        for p, grad in grads:
            p.grad = grad
        if optimizer is not None:
            optimizer.load_state_dict(opt_state)
        backend.set_rng_state(rng)


def _default_loss():
    from minigrad.functional import cross_entropy

    return cross_entropy


def _leaves(model):
    """(name, module) for every module without children: the layers that compute."""
    return [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]


def _table(header, rows):
    """Left-aligned text columns, for __str__ of the reports."""
    cells = [header] + rows
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


# --------------------------------------------------------------------------- mode


class ModeReport:
    """Modules whose .training flag disagrees with the expected mode."""

    def __init__(self, expected, mismatched):
        self.expected = expected
        self.mismatched = mismatched  # [(name, type name)]
        self.ok = not mismatched

    def __str__(self):
        if self.ok:
            return f"all modules are in {self.expected} mode: OK"
        other = "train" if self.expected == "eval" else "eval"
        names = ", ".join(f"'{name or '(root)'}' ({kind})" for name, kind in self.mismatched)
        fix = "model.eval()" if self.expected == "eval" else "model.train()"
        return (
            f"{len(self.mismatched)} module(s) in {other} mode where {self.expected} was "
            f"expected: {names}. Call {fix} on the whole model: in the wrong mode BatchNorm "
            "uses batch statistics instead of running ones (and updates them), and Dropout "
            "drops units at evaluation (or never during training)."
        )


def check_mode(model, expected="eval"):
    """Report every module whose .training flag is not what `expected` ("train"|"eval") says."""
    if expected not in ("train", "eval"):
        raise ValueError(f"check_mode: expected must be 'train' or 'eval', got {expected!r}")
    want = expected == "train"
    mismatched = [(n, type(m).__name__) for n, m in model.named_modules() if m.training != want]
    return ModeReport(expected, mismatched)


# --------------------------------------------------------------------------- loss at init


class InitialLoss:
    """The loss at initialisation against the loss of a uniform prediction, log(C)."""

    def __init__(self, loss, expected, num_classes, logit_std, tolerance):
        self.loss = loss
        self.expected = expected
        self.num_classes = num_classes
        self.logit_std = logit_std
        self.ok = abs(loss - expected) <= tolerance * expected

    def __str__(self):
        head = (
            f"initial loss {self.loss:.4g}, expected about log({self.num_classes}) = "
            f"{self.expected:.4g} for softmax cross-entropy (logit std {self.logit_std:.3g})"
        )
        if self.ok:
            return head + ": OK"
        if not math.isfinite(self.loss):
            return head + ": the loss is not finite; check the inputs and the initialisation."
        if self.loss > self.expected:
            return head + (
                f": {self.loss / self.expected:.1f}x too high. The network is confidently "
                "wrong at init: its logits are too large. Scale down the last layer's weights "
                "(e.g. multiply them by 0.01), zero its bias, and check the input scaling."
            )
        return head + (
            ": lower than chance before any training. Does the label leak into the input, or "
            "does the last layer's bias already fit the class frequencies?"
        )


def check_initial_loss(model, x, y, num_classes, loss_fn=None, tolerance=0.25):
    """Compare the loss at init with log(num_classes); ok when within `tolerance` (relative)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"check_initial_loss: num_classes must be an int >= 2, got {num_classes!r}"
        )
    loss_fn = loss_fn or _default_loss()
    with _preserved(model), no_grad():
        logits = model(x)
        loss = loss_fn(logits, y)
    xp = backend.xp_of(logits.data)
    values = [xp.reshape(loss.data, ()), xp.std(logits.data)]
    values = backend.to_host(xp.stack([xp.astype(v, xp.float64) for v in values]))
    return InitialLoss(
        float(values[0]), math.log(num_classes), num_classes, float(values[1]), tolerance
    )


# --------------------------------------------------------------------------- overfit one batch


class OverfitResult:
    """The losses of training on one small batch, and whether they reached `target`."""

    def __init__(self, losses, target, batch_size):
        self.losses = losses
        self.target = target
        self.batch_size = batch_size
        self.final = losses[-1]
        self.ok = bool(self.final <= target)

    def __str__(self):
        head = (
            f"overfit one batch of {self.batch_size}: loss {self.losses[0]:.4g} -> "
            f"{self.final:.4g} in {len(self.losses)} steps (target {self.target:g})"
        )
        if self.ok:
            return head + ": OK"
        bad = np.flatnonzero(~np.isfinite(self.losses))
        if bad.size:
            return head + (
                f": the loss became {self.losses[bad[0]]} at step {bad[0] + 1}. The "
                "learning rate is probably too high, or a log/division has no epsilon."
            )
        return head + (
            ": the model cannot memorise a handful of examples, so something is broken. Check "
            "that outputs and targets line up (shapes, label order), that zero_grad/backward/"
            "step all run, that the lr is not tiny, and that no layer blocks the gradient "
            "(dead ReLUs, detached tensors). Dropout and weight decay also slow this test down."
        )


def overfit_one_batch(model, optimizer, x, y, loss_fn=None, steps=200, target=0.05):
    """Train on the batch (x, y) alone for `steps` steps; ok when the final loss <= target.

    The model, optimizer and RNG are restored afterwards. The losses are read in one host
    transfer at the end, so the loop never waits for the device."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"overfit_one_batch: steps must be an int >= 1, got {steps!r}")
    loss_fn = loss_fn or _default_loss()
    losses = []
    with _preserved(model, optimizer):
        for _ in range(steps):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(backend.xp_of(loss.data).reshape(loss.data, ()))
        xp = backend.xp_of(losses[0])
        host = backend.to_host(xp.stack(losses))
    return OverfitResult(host.astype(np.float64), target, x.shape[0])


# --------------------------------------------------------------------------- update ratios


class UpdateRatios:
    """Per parameter: ‖w‖ before the step, ‖grad‖, ‖Δw‖ and the ratio ‖Δw‖/‖w‖ (~1e-3 is healthy).

    Only weights with 2+ dims are judged; biases and norm scales often start at 0 or 1."""

    def __init__(self, rows, low, high):
        self.rows = rows  # dicts: name, shape, weight_norm, grad_norm, update_norm, ratio, verdict
        self.low = low
        self.high = high
        self.ok = all(row["verdict"] in ("ok", "not judged") for row in self.rows)

    def __str__(self):
        header = ("parameter", "shape", "|w|", "|grad|", "|dw|/|w|", "verdict")
        rows = [
            (
                r["name"],
                str(r["shape"]),
                f"{r['weight_norm']:.3g}",
                "-" if r["grad_norm"] is None else f"{r['grad_norm']:.3g}",
                f"{r['ratio']:.2e}",
                r["verdict"],
            )
            for r in self.rows
        ]
        advice = [
            f"update/weight ratios: healthy is about 1e-3 (flagged outside "
            f"[{self.low:g}, {self.high:g}])"
        ]
        if any(r["verdict"].startswith("too small") for r in self.rows):
            advice.append("too small: raise the learning rate, or look for vanishing gradients")
        if any(r["verdict"].startswith("too small (no") for r in self.rows):
            advice.append("no update at all: a zero lr, or no gradient (unused or detached)")
        if any(r["verdict"].startswith("too large") for r in self.rows):
            advice.append("too large: lower the learning rate, or clip the gradients")
        return "\n".join(advice + [_table(header, rows)])


def _verdict(ndim, has_grad, ratio, low, high):
    if ndim < 2:
        return "not judged"
    if ratio == 0:
        return "too small (no update)" if has_grad else "too small (no gradient)"
    if ratio < low:
        return "too small"
    if ratio > high:
        return "too large"
    return "ok"


def _norms(params, before):
    """(P, 3) host array of ‖w_before‖, ‖grad‖ (NaN without one) and ‖w - w_before‖ in
    float64: one transfer for all parameters."""
    xp = backend.xp_of(params[0].data)
    rows = []
    for p, old in zip(params, before):
        old = xp.astype(backend.to_device(old, p.device), xp.float64)
        grad_norm = xp.asarray(math.nan, dtype=xp.float64, device=old.device)
        if p.grad is not None:
            grad_norm = xp.linalg.vector_norm(xp.astype(p.grad, xp.float64))
        update_norm = xp.linalg.vector_norm(xp.astype(p.data, xp.float64) - old)
        rows.append(xp.stack([xp.linalg.vector_norm(old), grad_norm, update_norm]))
    return backend.to_host(xp.stack(rows))


def update_ratios(model, step=None, before=None, low=1e-4, high=1e-2):
    """Measure one update: ‖Δw‖/‖w‖ per parameter, plus gradient norms.

    step: an optimizer (its step() is called, using the gradients already computed) or any
    callable that updates the model; or pass before= {name: array} saved before an update
    you made yourself. The update is kept: it is a real training step."""
    named = list(model.named_parameters())
    if before is None:
        if step is None:
            raise TypeError("update_ratios: pass an optimizer or callable as step, or before=")
        before = {name: backend.xp_of(p.data).asarray(p.data, copy=True) for name, p in named}
        step = getattr(step, "step", step)
        if not callable(step):
            raise TypeError(f"update_ratios: step must be an optimizer or callable, got {step!r}")
        step()
    missing = [name for name, _ in named if name not in before]
    if missing:
        raise KeyError(f"update_ratios: before= lacks parameter(s) {missing}")
    norms = _norms([p for _, p in named], [before[name] for name, _ in named])
    rows = [_ratio_row(name, p, n, low, high) for (name, p), n in zip(named, norms)]
    return UpdateRatios(rows, low, high)


def _ratio_row(name, p, norms, low, high):
    w, g, dw = (float(v) for v in norms)
    ratio = dw / w if w > 0 else (0.0 if dw == 0 else math.inf)
    return {
        "name": name,
        "shape": p.shape,
        "weight_norm": w,
        "grad_norm": None if math.isnan(g) else g,
        "update_norm": dw,
        "ratio": ratio,
        "verdict": _verdict(p.ndim, p.grad is not None, ratio, low, high),
    }


# --------------------------------------------------------------------------- activations

_RELUS = ("ReLU", "ReLU6")
_SATURATING = {"Tanh": "tanh", "Sigmoid": "sigmoid", "Hardtanh": "tanh"}


class ActivationStats:
    """Per leaf layer: output mean/std, dead-unit fraction (ReLU) and saturation (tanh/sigmoid)."""

    def __init__(self, rows, dead_limit, saturation_limit):
        self.rows = rows  # dicts: name, type, shape, mean, std, dead, saturated, warning
        self.dead_limit = dead_limit
        self.saturation_limit = saturation_limit
        self.ok = not any(row["warning"] for row in rows)

    def __getitem__(self, name):
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"no layer named {name!r}; layers: {[r['name'] for r in self.rows]}")

    def __str__(self):
        header = ("layer", "type", "mean", "std", "dead", "saturated", "")
        rows = [
            (
                r["name"],
                r["type"],
                f"{r['mean']:.3g}",
                f"{r['std']:.3g}",
                "-" if r["dead"] is None else f"{r['dead']:.0%}",
                "-" if r["saturated"] is None else f"{r['saturated']:.0%}",
                r["warning"],
            )
            for r in self.rows
        ]
        verdict = "activations look healthy: OK" if self.ok else "activations: problems found"
        return verdict + "\n" + _table(header, rows)


def _layer_stats(y, kind):
    """Device statistics of one layer output y (B, ...) -> host [mean, std, dead, saturated]."""
    xp = backend.xp_of(y)
    y = xp.astype(y, xp.float64)
    nan = xp.asarray(math.nan, dtype=xp.float64, device=y.device)
    dead = saturated = nan
    if kind == "relu" and y.shape[0] > 0:
        # a unit (one position of the output of one sample) is dead when it is 0 for all samples
        alive = xp.any(y > 0, axis=0)
        dead = 1.0 - xp.mean(xp.astype(alive, xp.float64))
    if kind == "tanh":
        saturated = xp.mean(xp.astype(xp.abs(y) > 0.99, xp.float64))
    if kind == "sigmoid":
        saturated = xp.mean(xp.astype((y < 0.01) | (y > 0.99), xp.float64))
    return backend.to_host(xp.stack([xp.mean(y), xp.std(y), dead, saturated]))


def _warning(values, dead_limit, saturation_limit):
    mean, std, dead, saturated = (float(v) for v in values)
    if not (math.isfinite(mean) and math.isfinite(std)):
        return "non-finite values"
    if not math.isnan(dead) and dead > dead_limit:
        return f"{dead:.0%} dead units: lower the lr, fix the init/bias, or try LeakyReLU"
    if not math.isnan(saturated) and saturated > saturation_limit:
        return f"{saturated:.0%} saturated: gradients vanish; scale the init or normalise"
    if std < 1e-6:
        return "constant output: the signal has vanished"
    return ""


def _layer_outputs(model, x):
    """[(name, module, output array)] of every leaf module during one model(x), under no_grad,
    by temporary forward hooks; the model's state, modes and RNG are restored afterwards."""
    outputs = []

    def recorder(name):
        def hook(module, inputs, output):
            if isinstance(output, Tensor):
                outputs.append((name, module, output.data))

        return hook

    handles = [m.register_forward_hook(recorder(n)) for n, m in _leaves(model)]
    try:
        with _preserved(model), no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _activation_row(name, module, y, dead_limit, saturation_limit):
    kind = type(module).__name__
    values = _layer_stats(y, "relu" if kind in _RELUS else _SATURATING.get(kind))
    mean, std, dead, saturated = (float(v) for v in values)
    return {
        "name": name or kind,
        "type": kind,
        "shape": tuple(y.shape),
        "mean": mean,
        "std": std,
        "dead": None if math.isnan(dead) else dead,
        "saturated": None if math.isnan(saturated) else saturated,
        "warning": _warning(values, dead_limit, saturation_limit),
    }


def activation_stats(model, x, dead_limit=0.1, saturation_limit=0.1):
    """Run model(x) once and report, per leaf layer, the output's mean and std, the fraction of
    dead units after a ReLU (0 for every sample of the batch) and of saturated tanh/sigmoid
    outputs (|tanh| > 0.99, sigmoid < 0.01 or > 0.99); flags fractions above the limits.

    Leaves the model untouched: hooks are removed, BatchNorm statistics and RNG restored."""
    rows = [
        _activation_row(name, module, y, dead_limit, saturation_limit)
        for name, module, y in _layer_outputs(model, x)
    ]
    return ActivationStats(rows, dead_limit, saturation_limit)
