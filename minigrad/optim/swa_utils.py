"""Weight averaging and ensembles of one run: AveragedModel (SWA, EMA/Polyak averaging), SWALR,
update_bn and SnapshotEnsemble. Read lr_finder.py before this file; it ends the optim package
(data/ comes next).
"""

import copy
import math

from minigrad import backend
from minigrad import functional as F
from minigrad.nn.module import Module, copy_state_dict
from minigrad.nn.normalization import _BatchNorm
from minigrad.optim.schedule_base import LRScheduler, per_group
from minigrad.tensor import no_grad

# --------------------------------------------------------------------------- averaging rules
# An avg_fn maps (averaged array, model array, n averaged so far) to the new averaged array;
# a multi_avg_fn updates lists of averaged arrays in place. Both see raw backend arrays.


def get_swa_avg_fn():
    """Equal-weight running mean (Izmailov et al. 2018, SWA): a ← a + (w − a)/(n + 1)."""

    def swa_update(averaged, current, num_averaged):
        return averaged + (current - averaged) / (num_averaged + 1)

    return swa_update


def get_ema_avg_fn(decay=0.999):
    """Exponential moving average (Polyak averaging): a ← decay·a + (1 − decay)·w."""

    def ema_update(averaged, current, num_averaged):
        return decay * averaged + (1.0 - decay) * current

    return ema_update


def get_swa_multi_avg_fn():
    """get_swa_avg_fn applied in place to lists of arrays."""

    def swa_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            averaged += (current - averaged) / (num_averaged + 1)

    return swa_update


def get_ema_multi_avg_fn(decay=0.999):
    """get_ema_avg_fn applied in place to lists of arrays: a += (1 − decay)(w − a)."""

    def ema_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            averaged += (1.0 - decay) * (current - averaged)

    return ema_update


def _copy_model(model):
    """An independent copy of `model`: same structure, own arrays, no gradients."""
    clone = copy.deepcopy(model)
    clone.load_state_dict(model.state_dict())
    for p in clone.parameters():
        p.grad = None
    return clone


# --------------------------------------------------------------------------- AveragedModel


class AveragedModel(Module):
    """A copy of `model` whose parameters are an average of `model`'s over update_parameters().

    Default: the SWA equal-weight mean. avg_fn / multi_avg_fn give other rules, e.g.
    multi_avg_fn=get_ema_multi_avg_fn(0.999) for an EMA of the weights. The first update
    copies the weights. use_buffers=True averages buffers too (BatchNorm running stats);
    otherwise buffers are copied from `model` at each update. n_averaged is a Python int."""

    def __init__(self, model, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a Module, got {type(model).__name__}")
        self.module = _copy_model(model)
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers
        self.n_averaged = 0

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model):
        if self.use_buffers:
            return list(model.parameters()) + list(model.buffers())
        return list(model.parameters())

    def update_parameters(self, model):
        """Fold the current weights of `model` (same architecture) into the average."""
        averaged = self._tensors(self.module)
        current = self._tensors(model)
        if len(averaged) != len(current):
            raise ValueError("AveragedModel: model has a different number of parameters")
        with no_grad():
            if self.n_averaged == 0:
                for a, w in zip(averaged, current):
                    a.data = _like(w.data, a.data)
            else:
                self._average(averaged, current)
            if not self.use_buffers:
                for a, w in zip(self.module.buffers(), model.buffers()):
                    a.data = _like(w.data, a.data)
        self.n_averaged += 1

    def _average(self, averaged, current):
        floats = [(a, w) for a, w in zip(averaged, current) if a.dtype.startswith("float")]
        arrays = [a.data for a, _ in floats]
        model_arrays = [_like(w.data, a.data) for a, w in floats]
        if self.multi_avg_fn is not None:
            self.multi_avg_fn(arrays, model_arrays, self.n_averaged)
        elif self.avg_fn is not None:
            for (a, _), w in zip(floats, model_arrays):
                a.data = self.avg_fn(a.data, w, self.n_averaged)
        else:
            get_swa_multi_avg_fn()(arrays, model_arrays, self.n_averaged)


def _like(source, target):
    """A copy of array `source` on the device and with the dtype of array `target`."""
    dtype = backend.dtype_name(target.dtype)
    moved = backend.to_device(source, backend.device_of(target), dtype=dtype)
    return backend.xp_of(moved).asarray(moved, copy=True)


# --------------------------------------------------------------------------- SWALR


class SWALR(LRScheduler):
    """Anneal each group's lr to swa_lr over anneal_epochs (cos or linear), then hold it: the
    constant-lr phase of SWA. Step it at the end of every SWA epoch, as PyTorch's SWALR."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        for lr, group in zip(per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"SWALR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be an int >= 0, got {anneal_epochs!r}")
        self.anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _alpha(self, t):
        if self.anneal_strategy == "linear":
            return t
        return (1 - math.cos(math.pi * t)) / 2

    def get_lr(self):
        """lr_t = α_t·swa_lr + (1 − α_t)·lr_0, with lr_0 recovered from the previous lr."""
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        previous = self._alpha(max(0.0, min(1.0, (step - 1) / span)))
        alpha = self._alpha(max(0.0, min(1.0, step / span)))
        lrs = []
        for group in self.optimizer.param_groups:
            swa_lr = group["swa_lr"]
            if previous == 1:
                start = swa_lr
            else:
                start = (group["lr"] - previous * swa_lr) / (1 - previous)
            lrs.append(swa_lr * alpha + start * (1 - alpha))
        return lrs


# --------------------------------------------------------------------------- update_bn


def update_bn(loader, model, device=None):
    """Recompute every BatchNorm's running statistics with one pass over `loader`.

    Averaged weights were never seen by the running statistics they carry (those belong to
    the weights being trained), so after SWA: update_bn(train_loader, swa_model). Each
    BatchNorm is reset and runs with momentum=None, a cumulative average over all batches;
    the momenta and the train/eval mode are restored afterwards. A batch that is a list or
    tuple contributes its first item (the inputs); device moves it first."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for batch in loader:
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            model(x if device is None else x.to(device))
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


# --------------------------------------------------------------------------- snapshots


class SnapshotEnsemble:
    """Snapshot ensembles (Huang et al. 2017): train one model with cosine restarts
    (CosineAnnealingWarmRestarts) and add(model) at the end of each cycle; predict(model, x)
    averages the softmax outputs of all snapshots, loaded one at a time into `model`."""

    def __init__(self, max_snapshots=None):
        if max_snapshots is not None and max_snapshots < 1:
            raise ValueError(f"SnapshotEnsemble: max_snapshots must be >= 1, got {max_snapshots}")
        self.max_snapshots = max_snapshots
        self.snapshots = []

    def __len__(self):
        return len(self.snapshots)

    def add(self, model):
        """Keep a copy of model.state_dict(); beyond max_snapshots the oldest is dropped."""
        self.snapshots.append(copy_state_dict(model.state_dict()))
        if self.max_snapshots is not None and len(self.snapshots) > self.max_snapshots:
            self.snapshots.pop(0)

    def predict(self, model, x, dim=-1):
        """Mean over snapshots of softmax(model(x)) along `dim`, in eval mode, without a graph.

        The model's own weights and train/eval mode are restored afterwards."""
        if not self.snapshots:
            raise ValueError("SnapshotEnsemble.predict: no snapshot added yet")
        own = copy_state_dict(model.state_dict())
        was_training = model.training
        model.eval()
        total = None
        try:
            with no_grad():
                for state in self.snapshots:
                    model.load_state_dict(state)
                    probs = F.softmax(model(x), dim=dim)
                    total = probs if total is None else total + probs
        finally:
            model.load_state_dict(own)
            model.train(was_training)
        return total / len(self.snapshots)
