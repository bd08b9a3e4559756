"""The learning-rate range test (Smith 2017): sweep the lr up exponentially over a few batches and
watch the loss. Read cyclic_lr.py before this file and swa_utils.py after it.
"""

import math

from minigrad import backend

# --------------------------------------------------------------------------- helpers


def _snapshot(value):
    """A deep copy of a (nested) state dict whose arrays are copied too."""
    if backend.is_array(value):
        return backend.xp_of(value).asarray(value, copy=True)
    if isinstance(value, dict):
        return type(value)((k, _snapshot(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    return value


def _batches_forever(batches):
    """Yield from `batches` and start it again when it runs out (a DataLoader, a list...)."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("lr_range_test: batches yielded nothing")


def _steepest_descent(lrs, losses):
    """The lr where the smoothed loss falls fastest against log(lr), searched only up to the
    lowest loss: past the minimum the loss rises, and a steep stretch there is divergence."""
    if len(lrs) < 2:
        return lrs[0] if lrs else None
    lowest = min(range(len(losses)), key=losses.__getitem__)
    if lowest == 0:
        return lrs[0]
    slopes = [
        (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        for i in range(lowest)
    ]
    best = min(range(len(slopes)), key=slopes.__getitem__)
    return lrs[best]


# --------------------------------------------------------------------------- the test


def lr_range_test(
    model,
    optimizer,
    loss_fn,
    batches,
    start_lr=1e-7,
    end_lr=10.0,
    num_iter=100,
    smooth=0.05,
    diverge=5.0,
):
    """Train for up to num_iter batches with lr_i = start_lr·(end_lr/start_lr)^(i/(num_iter−1)).

    The loss is smoothed as an exponential moving average with weight `smooth` on the newest
    value (bias-corrected, as in Adam); the sweep stops once it exceeds diverge × the best
    smoothed loss or is not finite. Each loss is read on the host once (a diagnostic, not a
    training step). The model's and optimizer's initial states are restored afterwards.

    Returns {"lrs": [...], "losses": [...] (smoothed), "suggestion": lr where the smoothed loss
    falls fastest}. A common choice is a value near the suggestion, or a tenth of the lr at the
    minimum of the loss."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_range_test: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iter < 2:
        raise ValueError(f"lr_range_test: num_iter must be >= 2, got {num_iter}")
    if not 0 < smooth <= 1:
        raise ValueError(f"lr_range_test: smooth must be in (0, 1], got {smooth}")
    model_state = _snapshot(model.state_dict())
    optimizer_state = _snapshot(optimizer.state_dict())
    try:
        lrs, losses = _sweep(model, optimizer, loss_fn, batches, start_lr, end_lr, num_iter,
                             smooth, diverge)  # fmt: skip
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
    return {"lrs": lrs, "losses": losses, "suggestion": _steepest_descent(lrs, losses)}


def _sweep(model, optimizer, loss_fn, batches, start_lr, end_lr, num_iter, smooth, diverge):
    growth = (end_lr / start_lr) ** (1.0 / (num_iter - 1))
    lrs, losses = [], []
    average, best = 0.0, math.inf
    for i, (x, y) in zip(range(num_iter), _batches_forever(batches)):
        lr = start_lr * growth**i
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        average = smooth * loss.item() + (1.0 - smooth) * average
        smoothed = average / (1.0 - (1.0 - smooth) ** (i + 1))
        if not math.isfinite(smoothed) or smoothed > diverge * best:
            break
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
    return lrs, losses
