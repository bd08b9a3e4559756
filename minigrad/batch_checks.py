"""The recipe's checks of what the net is fed and how it answers: the backprop dependency check
(no batch mixing), the input-independent baseline, a picture of exactly the batch fed to the
net, and prediction dynamics on a fixed batch. diagnostics.py re-exports them; read it first,
plots.py next.
"""

from contextlib import contextmanager

import numpy as np

from minigrad import backend
from minigrad.nn.module import training_mode
from minigrad.plots import new_figure, save_figure
from minigrad.tensor import Tensor, no_grad
from minigrad.train import to_numpy

# --------------------------------------------------------------------------- helpers


@contextmanager
def _frozen(model, train):
    """Run a block with the model in train/eval mode and its parameters out of the graph (so
    their .grad stays untouched); flags, modes, buffers (BatchNorm's running statistics) and
    the RNG are put back afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    buffers = [(b, backend.xp_of(b.data).asarray(b.data, copy=True)) for b in model.buffers()]
    rng = backend.get_rng_state()
    for p, _ in flags:
        p.requires_grad = False
    try:
        with training_mode(model, train):
            yield
    finally:
        for p, flag in flags:
            p.requires_grad = flag
        for b, data in buffers:
            b.data = data
        backend.set_rng_state(rng)


def _softmax_host(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- dependency check


class BatchDependency:
    """Which samples' inputs received gradient from sample `sample`'s output."""

    def __init__(self, sample, magnitudes, train):
        self.sample = sample
        self.magnitudes = magnitudes  # max |d loss_i / d x_j| for every j in the batch
        self.leaks = [j for j, m in enumerate(magnitudes) if j != sample and m > 0]
        self.own = float(magnitudes[sample])
        self.train = train
        self.ok = not self.leaks and self.own > 0

    def __str__(self):
        mode = "train" if self.train else "eval"
        if self.ok:
            return (
                f"the output of sample {self.sample} depends on its own input only ({mode} "
                "mode): OK"
            )
        if self.own == 0:
            return (
                f"the output of sample {self.sample} does not depend on its own input at all: "
                "the model ignores its input (a detached tensor, a zeroing bug?)"
            )
        shown = ", ".join(str(j) for j in self.leaks[:10])
        return (
            f"the output of sample {self.sample} has a gradient on the inputs of "
            f"{len(self.leaks)} other sample(s) ({shown}): the model mixes the batch. Look for "
            "a reduction or normalisation over dim 0, or a reshape/view/transpose that moves the "
            "batch axis" + (" (BatchNorm in train mode mixes by design)" if self.train else "")
        )


def check_batch_dependency(model, x, sample=0, train=False):
    """The backprop dependency check: the gradient of sample i's output must be zero on every
    other sample's input. A model that mixes the batch (a mean over the wrong axis, a reshape
    that moves the batch axis) fails it, and then training quietly learns from the batch.

    The model runs in eval mode by default, because BatchNorm in train mode mixes the batch by
    design; train=True checks the training forward as it is. The output of `sample` is reduced
    with random weights (a plain sum of a softmax would have zero gradient everywhere). The
    model's parameters, gradients, buffers, modes and the RNG are left as they were."""
    if not isinstance(x, Tensor) or x.ndim == 0 or x.shape[0] < 2:
        raise ValueError(
            f"check_batch_dependency: x must be a batch of at least 2 samples, got {x!r}"
        )
    if not -x.shape[0] <= sample < x.shape[0]:
        raise ValueError(
            f"check_batch_dependency: sample {sample} is not in a batch of {x.shape[0]}"
        )
    sample %= x.shape[0]
    leaf = Tensor(backend.xp_of(x.data).asarray(x.data, copy=True), requires_grad=True)
    with _frozen(model, train):
        y = model(leaf)
        weights = np.random.default_rng(0).standard_normal(y.shape[1:])
        weights = Tensor(backend.to_device(weights, y.device, dtype=y.dtype))
        (y[sample] * weights).sum().backward()
    grad = np.abs(to_numpy(leaf.grad)).reshape(x.shape[0], -1)
    return BatchDependency(sample, grad.max(axis=1).tolist(), train)


# --------------------------------------------------------------------------- baseline


class Baseline:
    """Training loss on real inputs vs on zeroed inputs after the same training."""

    def __init__(self, real_loss, zeroed_loss, steps, margin):
        self.real_loss = real_loss
        self.zeroed_loss = zeroed_loss
        self.steps = steps
        self.ok = real_loss <= (1.0 - margin) * zeroed_loss

    def __str__(self):
        numbers = (
            f"after {self.steps} steps: loss {self.real_loss:.4g} on real inputs, "
            f"{self.zeroed_loss:.4g} on zeroed inputs"
        )
        if self.ok:
            return numbers + ": the model uses its input: OK"
        return (
            numbers + ": real inputs do no better than zeros, so the model learns nothing from "
            "its input. Check that x reaches the model (not a constant, not detached, not "
            "wrongly scaled) and that the labels belong to the inputs"
        )


def _train_on(make_model, make_optimizer, batches, loss_fn, steps, seed):
    """Train a fresh model (seeded) for `steps` steps cycling over batches; the last loss."""
    backend.seed(seed)
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    model.train()
    loss = None
    for step in range(steps):
        x, y = batches[step % len(batches)]
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    with no_grad():
        model.eval()
        losses = [float(to_numpy(loss_fn(model(x), y))) for x, y in batches]
    return sum(losses) / len(losses)


def input_independent_baseline(
    make_model, make_optimizer, batches, steps=100, loss_fn=None, margin=0.05, seed=0
):
    """The input-independent baseline: train the same fresh model (same seed, same steps) once
    on the real inputs and once on all-zero inputs; the real one must end with a lower loss
    (by at least `margin`, a fraction). If it does not, the net ignores its input.

    make_model() -> a new model; make_optimizer(parameters) -> its optimizer; batches: a list
    of (x, y) pairs, cycled. The final losses are measured in eval mode on the same batches.
    minigrad's RNG state is restored afterwards."""
    if loss_fn is None:
        from minigrad.functional import cross_entropy

        loss_fn = cross_entropy
    batches = list(batches)
    if not batches or steps < 1:
        raise ValueError(
            f"input_independent_baseline: needs at least one batch and steps >= 1, "
            f"got {len(batches)} batch(es) and steps={steps}"
        )
    zeroed = [(x * 0, y) for x, y in batches]
    rng = backend.get_rng_state()
    try:
        real = _train_on(make_model, make_optimizer, batches, loss_fn, steps, seed)
        zero = _train_on(make_model, make_optimizer, zeroed, loss_fn, steps, seed)
    finally:
        backend.set_rng_state(rng)
    return Baseline(real, zero, steps, margin)


# --------------------------------------------------------------------------- the batch fed


class CapturedBatch:
    """The inputs (and the first call's other arguments) the model was last called with."""

    def __init__(self):
        self.inputs = None
        self.calls = 0


@contextmanager
def capture_batch(model, keep="first"):
    """Record exactly what model(...) receives inside the block (after every transform and
    augmentation): `with capture_batch(model) as seen: train_step(...)`, then seen.inputs is a
    host copy of the first (keep="first") or last (keep="last") input batch."""
    if keep not in ("first", "last"):
        raise ValueError(f"capture_batch: keep must be 'first' or 'last', got {keep!r}")
    seen = CapturedBatch()

    def hook(module, inputs):
        if seen.inputs is None or keep == "last":
            seen.inputs = to_numpy(inputs[0]).copy()
        seen.calls += 1

    handle = model.register_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def denormalize(x, mean=None, std=None):
    """Images (N, C, H, W) as the eye should see them: x·std + mean per channel (undoing
    transforms.Normalize), clipped to [0, 1], as host arrays (N, H, W) or (N, H, W, 3)."""
    x = to_numpy(x).astype(np.float64)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"denormalize: expected images (N, 1 or 3, H, W), got shape {x.shape}")
    channels = x.shape[1]
    std = np.ones(channels) if std is None else np.broadcast_to(np.asarray(std, float), channels)
    mean = (
        np.zeros(channels) if mean is None else np.broadcast_to(np.asarray(mean, float), channels)
    )
    x = x * std[:, None, None] + mean[:, None, None]
    x = np.clip(x, 0.0, 1.0)
    return x[:, 0] if channels == 1 else x.transpose(0, 2, 3, 1)


def plot_batch(x, path, mean=None, std=None, labels=None, class_names=None, max_images=64):
    """A grid of the images of batch x, de-normalised (see denormalize), each titled with its
    label: look at exactly what the net is fed before trusting a run."""
    images = denormalize(x, mean, std)[:max_images]
    labels = None if labels is None else to_numpy(labels).reshape(-1)[:max_images]
    columns = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / columns))
    figure = new_figure(columns * 1.0 + 0.5, rows * 1.1 + 0.5)
    for i, image in enumerate(images):
        axes = figure.add_subplot(rows, columns, i + 1)
        gray = dict(cmap="gray", vmin=0, vmax=1) if image.ndim == 2 else {}
        axes.imshow(image, interpolation="nearest", **gray)
        axes.axis("off")
        if labels is not None:
            label = int(labels[i])
            name = class_names[label] if class_names is not None else str(label)
            axes.set_title(name, fontsize=7)
    return save_figure(figure, path)


# --------------------------------------------------------------------------- prediction dynamics


class PredictionDynamics:
    """Class probabilities of a fixed batch, recorded once per epoch (pass it to fit as a
    callback, or call record(model) yourself): how predictions settle, flip or never move.

    probabilities: (epochs, N, C) host array; flips(): how many predictions changed between
    consecutive records; plot(path): one panel per sample, each class's probability over
    epochs, the true class drawn thick."""

    def __init__(self, x, y=None, max_samples=16):
        self.x = x[:max_samples]
        self.y = None if y is None else to_numpy(y).reshape(-1)[:max_samples]
        self.epochs = []
        self.records = []

    @property
    def probabilities(self):
        return np.stack(self.records) if self.records else np.zeros((0,))

    def record(self, model, epoch=None):
        """Softmax of model(x) in eval mode without a graph; the model's modes are restored."""
        with training_mode(model, False), no_grad():
            logits = to_numpy(model(self.x)).astype(np.float64)
        self.records.append(_softmax_host(logits))
        self.epochs.append(len(self.epochs) + 1 if epoch is None else epoch)

    def __call__(self, row, model):
        """fit's callback protocol: record after each epoch, never ask to stop."""
        self.record(model, row.get("epoch") if isinstance(row, dict) else None)
        return False

    def flips(self):
        """Number of samples whose predicted class changed, between each pair of records."""
        predicted = self.probabilities.argmax(axis=-1)
        return (predicted[1:] != predicted[:-1]).sum(axis=1).tolist()

    def plot(self, path, class_names=None):
        if not self.records:
            raise ValueError("PredictionDynamics.plot: nothing recorded yet")
        probs = self.probabilities
        samples, classes = probs.shape[1], probs.shape[2]
        columns = min(4, samples)
        rows = int(np.ceil(samples / columns))
        figure = new_figure(columns * 2.4 + 0.5, rows * 1.8 + 0.5)
        for i in range(samples):
            axes = figure.add_subplot(rows, columns, i + 1)
            for c in range(classes):
                true = self.y is not None and int(self.y[i]) == c
                name = class_names[c] if class_names is not None else str(c)
                axes.plot(self.epochs, probs[:, i, c], lw=2.5 if true else 0.8, label=name)
            axes.set_ylim(-0.02, 1.02)
            title = f"sample {i}" + ("" if self.y is None else f" (true {int(self.y[i])})")
            axes.set_title(title, fontsize=8)
            axes.tick_params(labelsize=6)
        figure.axes[0].legend(fontsize=5, loc="upper left")
        figure.supxlabel("epoch")
        figure.supylabel("probability")
        return save_figure(figure, path)
