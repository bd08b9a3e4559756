"""Training utilities: metrics, a progress line, early stopping and a short fit()/evaluate()
loop; checkpoints.py holds checkpoints and the training log. Read progress.py first;
checkpoints.py next.

Per-step code never waits for the device: metrics return 0-d Tensors, and RunningAverage sums
them on the device; the host reads the sums once per epoch (or log interval).

Under mpiexec (see distributed.py) every rank runs fit/evaluate on its share of the data: the
metrics are summed over the ranks, so they describe the whole data set; rank 0 alone prints,
logs and writes checkpoints, and a checkpoint restores every rank.
"""

import inspect
import math
import sys
import time

import numpy as np

from minigrad import backend, distributed
from minigrad.checkpoints import (  # noqa: F401  (minigrad.train.* keeps working)
    CHECKPOINT_FORMAT,
    TrainingLog,
    load_checkpoint,
    save_checkpoint,
)
from minigrad.functional.cross_entropy import check_class_ids
from minigrad.nn.module import copy_state_dict
from minigrad.progress import progress
from minigrad.tensor import Tensor, no_grad

# --------------------------------------------------------------------------- helpers


def _array(x):
    """The backend array of a Tensor, or `x` itself when it already is one."""
    return x.data if isinstance(x, Tensor) else x


def to_numpy(x):
    """A Tensor, backend array, list or number as a host NumPy array (a host sync)."""
    x = _array(x)
    if backend.is_array(x):
        return backend.to_host(x)
    return np.asarray(x)


def _check_logits(name, logits, targets):
    """logits (B, C) and integer targets (B,) as backend arrays, checked."""
    logits = _array(logits)
    targets = _array(targets)
    if logits.ndim != 2:
        raise ValueError(f"{name}: logits must have shape (B, C), got {tuple(logits.shape)}")
    if tuple(targets.shape) != (logits.shape[0],):
        raise ValueError(
            f"{name}: targets must have shape ({logits.shape[0]},) to match logits "
            f"{tuple(logits.shape)}, got {tuple(targets.shape)}"
        )
    return logits, targets


# --------------------------------------------------------------------------- metrics


def accuracy(logits, targets):
    """Fraction of rows whose argmax equals the target, as a 0-d Tensor (no host sync)."""
    logits, targets = _check_logits("accuracy", logits, targets)
    xp = backend.xp_of(logits)
    predictions = xp.argmax(logits, axis=1)
    correct = xp.astype(predictions == xp.astype(targets, predictions.dtype), logits.dtype)
    return Tensor(xp.mean(correct))


def topk_accuracy(logits, targets, k):
    """Fraction of rows whose target is among the k largest logits, as a 0-d Tensor.

    The target's rank is the number of logits strictly larger than its own: no sort needed,
    and a tie with the k-th largest counts as a hit."""
    logits, targets = _check_logits("topk_accuracy", logits, targets)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= logits.shape[1]:
        raise ValueError(f"topk_accuracy: k must be an int in [1, {logits.shape[1]}], got {k!r}")
    xp = backend.xp_of(logits)
    index = xp.reshape(xp.astype(targets, xp.int64), (-1, 1))
    target_logit = xp.take_along_axis(logits, index, axis=1)  # (B, 1)
    rank = xp.sum(xp.astype(logits > target_logit, xp.int64), axis=1)  # (B,)
    return Tensor(xp.mean(xp.astype(rank < k, logits.dtype)))


def confusion_matrix(preds, targets, num_classes):
    """(num_classes, num_classes) int64 host array: row = true class, column = prediction.

    preds are class indices (B,) or logits (B, C), whose argmax is taken."""
    preds = to_numpy(preds)
    targets = to_numpy(targets).astype(np.int64).reshape(-1)
    if preds.ndim == 2:
        preds = preds.argmax(axis=1)
    preds = preds.astype(np.int64).reshape(-1)
    if preds.shape != targets.shape:
        raise ValueError(f"confusion_matrix: {preds.shape[0]} preds but {targets.shape[0]} targets")
    for name, values in (("preds", preds), ("targets", targets)):
        check_class_ids("confusion_matrix", values, num_classes, what=name, error=ValueError)
    counts = np.bincount(targets * num_classes + preds, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


class RunningAverage:
    """The mean of values added one batch at a time, weighted by batch size.

    Device values are summed on the device (in float64); value() reads the sum once."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.total = 0.0
        self.count = 0

    def update(self, value, n=1):
        """Add `value`, the mean over `n` samples (a 0-d Tensor, array or number)."""
        value = _array(value)
        if backend.is_array(value):
            if value.size != 1:
                raise ValueError(f"RunningAverage: expected one value, got shape {value.shape}")
            xp = backend.xp_of(value)
            value = xp.reshape(xp.astype(value, xp.float64), ())
        self.total = self.total + value * n
        self.count += n

    def all_reduce(self):
        """Sum the totals and counts of every rank (distributed.py): afterwards value() is the
        average over all ranks' samples. Every rank must call it; a no-op in a world of one."""
        if distributed.get_world_size() == 1:
            return
        sums = np.array([float(to_numpy(self.total)) if self.count else 0.0, self.count])
        distributed.all_reduce(sums, "sum")
        self.total, self.count = float(sums[0]), int(sums[1])

    def value(self):
        """The average so far as a Python float (NaN before the first update); a host sync."""
        if self.count == 0:
            return math.nan
        return float(to_numpy(self.total)) / self.count


class MetricTracker:
    """Several named RunningAverages: update(loss=..., acc=..., n=B); compute() once an epoch."""

    def __init__(self):
        self.averages = {}

    def update(self, n=1, **values):
        for name, value in values.items():
            self.averages.setdefault(name, RunningAverage()).update(value, n)

    def all_reduce(self):
        """Sum every average over the ranks (see RunningAverage.all_reduce)."""
        for average in self.averages.values():
            average.all_reduce()

    def compute(self):
        return {name: average.value() for name, average in self.averages.items()}

    def reset(self):
        self.averages = {}

    def __str__(self):
        return "  ".join(f"{name} {value:.4f}" for name, value in self.compute().items())


# --------------------------------------------------------------------------- progress


_progress = progress  # fit() has an argument named progress (the bar: minigrad/progress.py)


# --------------------------------------------------------------------------- early stopping


class EarlyStopping:
    """Stop when a validation metric has not improved for `patience` epochs.

    Improvement means metric < best - min_delta (mode="min") or > best + min_delta ("max").
    With restore_best_weights, a copy of the best state_dict is kept for restore(model)
    (fit() calls it when training ends)."""

    def __init__(self, patience=5, min_delta=0.0, mode="min", restore_best_weights=True):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_state = None
        self.bad_epochs = 0
        self.epoch = -1

    def _improved(self, metric):
        if math.isnan(metric):
            return False
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def step(self, metric, model=None):
        """Record this epoch's metric; returns True when training should stop."""
        metric = float(to_numpy(metric))
        self.epoch += 1
        if self._improved(metric):
            self.best = metric
            self.best_epoch = self.epoch
            self.bad_epochs = 0
            if self.restore_best_weights and model is not None:
                self.best_state = copy_state_dict(model.state_dict())
            return False
        self.bad_epochs += 1
        return self.bad_epochs > self.patience

    def restore(self, model):
        """Load the best weights seen into `model` (nothing happens if none were kept)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


# --------------------------------------------------------------------------- loops


def evaluate(model, loader, loss_fn):
    """{"loss": mean loss, "acc": accuracy (integer targets only)} over `loader`, in eval mode
    under no_grad; the model's previous train/eval modes are restored afterwards.
    With several ranks, each evaluates its own `loader` and the result covers all of them."""
    from minigrad.nn.module import training_mode

    tracker = MetricTracker()
    with training_mode(model, False), no_grad():
        for x, y in loader:
            out = model(x)
            metrics = {"loss": loss_fn(out, y)}
            if out.ndim == 2 and y.dtype.startswith(("int", "uint")):
                metrics["acc"] = accuracy(out, y)
            tracker.update(n=y.shape[0], **metrics)
    tracker.all_reduce()
    return tracker.compute()


NAN_CHECK_EVERY = 50  # fit reads the step losses back once per this many steps


class _DivergenceCheck:
    """Stops training when the loss is NaN or inf, naming the epoch and step, without a host
    sync per step: the 0-d losses stay on the device and are read together every
    NAN_CHECK_EVERY steps and at the end of the epoch (flush)."""

    def __init__(self, epoch, optimizer, steps=None):
        self.epoch = epoch
        self.optimizer = optimizer
        self.steps = steps
        self.losses = []
        self.done = 0  # steps already read back

    def update(self, loss):
        self.losses.append(_array(loss))
        if len(self.losses) >= NAN_CHECK_EVERY:
            self.flush()

    def flush(self):
        if not self.losses:
            return
        xp = backend.xp_of(self.losses[0])
        values = backend.to_host(xp.stack([xp.reshape(v, ()) for v in self.losses]))
        bad = np.flatnonzero(~np.isfinite(values))
        first = self.done
        self.done += len(self.losses)
        self.losses = []
        if bad.size:
            raise FloatingPointError(self._message(first + int(bad[0]) + 1, values[bad[0]]))

    def _message(self, step, value):
        of = f" of {self.steps}" if self.steps is not None else ""
        lr = self.optimizer.param_groups[0]["lr"]
        return (
            f"fit: the training loss became {value} at epoch {self.epoch}, step {step}{of}; "
            f"training stopped. Try a lower learning rate (lr={lr:g} now), clipping gradients "
            "(fit(..., clip_grad_norm=1.0)), or running one step under "
            "`with minigrad.detect_anomaly():` to name the op that first makes a NaN/inf. "
            "fit(..., stop_on_nan=False) trains on regardless."
        )


def _train_epoch(model, optimizer, loss_fn, batches, clip_grad_norm, batch_scheduler, check=None):
    """One pass over `batches`; returns the mean training loss (one host sync).

    batch_scheduler, if not None, steps after every optimizer step (OneCycleLR); check, if
    not None, is the _DivergenceCheck that sees every step's loss."""
    from minigrad.nn.utils import clip_grad_norm_

    model.train()
    average = RunningAverage()
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        average.update(loss, n=y.shape[0])
        if check is not None:
            check.update(loss)
    if check is not None:
        check.flush()
    average.all_reduce()
    return average.value()


def _step_scheduler(scheduler, metric):
    """scheduler.step(), or step(metric) for schedules that need one (ReduceLROnPlateau)."""
    required = [
        p for p in inspect.signature(scheduler.step).parameters.values() if p.default is p.empty
    ]
    if required:
        scheduler.step(metric)
    else:
        scheduler.step()


def _run_epoch(
    model, optimizer, loss_fn, batches, val_loader, clip_grad_norm, batch_scheduler, check=None
):
    """Train one epoch, then evaluate: a row of lr, train_loss, test_loss, test_acc, seconds."""
    start = time.perf_counter()
    row = {"lr": optimizer.param_groups[0]["lr"]}
    row["train_loss"] = _train_epoch(
        model, optimizer, loss_fn, batches, clip_grad_norm, batch_scheduler, check
    )
    if val_loader is not None:
        metrics = evaluate(model, val_loader, loss_fn)
        row["test_loss"] = metrics["loss"]
        row["test_acc"] = metrics.get("acc")
    row["seconds"] = time.perf_counter() - start
    return row


def _should_stop(row, model, callbacks, early_stopping):
    """Ask every callback (all of them run) and the early stopper whether to stop."""
    votes = [callback(row, model) for callback in callbacks]
    if early_stopping is not None:
        votes.append(early_stopping.step(row.get("test_loss", row["train_loss"]), model))
    return any(votes)


def fit(
    model,
    optimizer,
    loss_fn,
    train_loader,
    epochs,
    val_loader=None,
    scheduler=None,
    clip_grad_norm=None,
    early_stopping=None,
    callbacks=(),
    log=None,
    progress=True,
    start_epoch=0,
    scheduler_per_batch=False,
    stop_on_nan=True,
):
    """Train epochs start_epoch+1 .. epochs; returns their rows (also sent to `log`).

    Each row: epoch, train_loss, test_loss and test_acc (with val_loader), lr, seconds.
    The scheduler steps once per epoch (with the monitored loss for ReduceLROnPlateau), or
    after every optimizer step when scheduler_per_batch is True (OneCycleLR, warm-ups);
    callbacks run as cb(row, model) after each epoch and stop training by returning True, as
    early_stopping does. The monitored loss is test_loss, or train_loss without val_loader.
    To resume: start_epoch=load_checkpoint(...)["epoch"].
    stop_on_nan: raise FloatingPointError, naming the epoch and step, as soon as the training
    loss is NaN or inf (read back every NAN_CHECK_EVERY steps, not every step); False trains on.
    With several ranks (distributed.py): call it on every rank, each with its share of the
    data (DistributedSampler); rows hold the metrics of all ranks, and only rank 0 shows
    progress and writes the log. A loader whose sampler has set_epoch() gets it every epoch."""
    main_rank = distributed.get_rank() == 0
    progress = progress and main_rank
    batch_scheduler = scheduler if scheduler_per_batch else None
    epoch_scheduler = None if scheduler_per_batch else scheduler
    rows = []
    for epoch in range(start_epoch + 1, epochs + 1):
        _set_sampler_epoch(train_loader, epoch)
        batches = _progress(train_loader, desc=f"epoch {epoch}/{epochs}", disable=not progress)
        row = {"epoch": epoch}
        steps = len(train_loader) if hasattr(train_loader, "__len__") else None
        check = _DivergenceCheck(epoch, optimizer, steps) if stop_on_nan else None
        row.update(
            _run_epoch(
                model,
                optimizer,
                loss_fn,
                batches,
                val_loader,
                clip_grad_norm,
                batch_scheduler,
                check,
            )
        )
        rows.append(row)
        if log is not None:
            log.log(**row)
        if progress:
            print(_summary(row), file=sys.stderr)
        if epoch_scheduler is not None:
            _step_scheduler(epoch_scheduler, row.get("test_loss", row["train_loss"]))
        if _should_stop(row, model, callbacks, early_stopping):
            break
    if early_stopping is not None and early_stopping.restore_best_weights:
        early_stopping.restore(model)
    return rows


def _set_sampler_epoch(loader, epoch):
    """DistributedSampler draws each epoch's permutation from seed + epoch."""
    set_epoch = getattr(getattr(loader, "sampler", None), "set_epoch", None)
    if set_epoch is not None:
        set_epoch(epoch)


def _summary(row):
    parts = [f"epoch {row['epoch']}"]
    for key in ("train_loss", "test_loss", "test_acc", "lr", "seconds"):
        if row.get(key) is not None:
            parts.append(f"{key} {row[key]:.4g}")
    return "  ".join(parts)
