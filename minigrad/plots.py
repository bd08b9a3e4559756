"""Pictures of a training run, saved as PNG: loss/accuracy curves, the LR schedule, first-layer
conv filters, a confusion matrix, image grids; RunFolder puts them all in one folder. Read
batch_checks.py first, tune.py next; matplotlib is optional.

matplotlib is imported only when a plot is drawn. Figures are built with its object API and an
Agg canvas, so no window opens and pyplot's global state (and backend) is never touched.
"""

import math
import os
import time

import numpy as np

from minigrad import distributed
from minigrad.train import to_numpy

# --------------------------------------------------------------------------- helpers


def new_figure(width, height):
    """A matplotlib Figure drawn by Agg; a clear error when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            "minigrad.plots needs matplotlib, which is not installed: pip install matplotlib"
        ) from e
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path):
    """Lay out `figure` and write it to `path` as PNG (its folder is made); returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def _rows(log):
    """The per-epoch rows of a TrainingLog, a list of dicts, or a .jsonl file written by one."""
    from minigrad.train import TrainingLog

    if isinstance(log, (str, os.PathLike)):
        log = TrainingLog.read(log)
    rows = log.rows if isinstance(log, TrainingLog) else list(log)
    if not rows:
        raise ValueError("plots: the training log has no rows yet")
    return rows


def _column(rows, key):
    """(epochs, values) of the rows that have a value for `key`."""
    pairs = [(row.get("epoch", i + 1), row.get(key)) for i, row in enumerate(rows)]
    pairs = [(e, v) for e, v in pairs if v is not None]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _integer_epochs(axes):
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def matplotlib_available():
    """True when matplotlib can be imported (the plots need it; everything else does not)."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return False
    return True


def _show(axes, image):
    """Draw one (C, H, W) image with pixels in [0, 1]: grey when C == 1, else RGB."""
    if image.shape[0] == 1:
        axes.imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(image.transpose(1, 2, 0), interpolation="nearest")
    axes.axis("off")


def _grid_shape(n, max_columns):
    columns = min(n, max_columns)
    return math.ceil(n / columns), columns


# --------------------------------------------------------------------------- curves


def plot_history(log, path, title=None):
    """Loss curves (train and test) and, when logged, accuracy (test, and train when the rows
    have "train_acc"), side by side."""
    rows = _rows(log)
    has_acc = any(row.get("test_acc") is not None for row in rows)
    figure = new_figure(10 if has_acc else 5, 4)
    loss_axes = figure.add_subplot(1, 2 if has_acc else 1, 1)
    for key in ("train_loss", "test_loss"):
        epochs, values = _column(rows, key)
        if values:
            loss_axes.plot(epochs, values, marker="o", label=key.replace("_", " "))
    loss_axes.set(xlabel="epoch", ylabel="loss", title=title or "loss")
    loss_axes.legend()
    _integer_epochs(loss_axes)
    if has_acc:
        acc_axes = figure.add_subplot(1, 2, 2)
        for key in ("train_acc", "test_acc"):
            epochs, values = _column(rows, key)
            if values:
                acc_axes.plot(epochs, values, marker="o", label=key.replace("_acc", ""))
        acc_axes.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        acc_axes.legend()
        _integer_epochs(acc_axes)
    return save_figure(figure, path)


def plot_lr_schedule(lrs, path, log_scale=False):
    """The learning rate per step (a sequence of floats) or per epoch (a TrainingLog's "lr")."""
    if not isinstance(lrs, (list, tuple, np.ndarray)):
        lrs = [row["lr"] for row in _rows(lrs)]
    if len(lrs) == 0:
        raise ValueError("plot_lr_schedule: no learning rates to plot")
    figure = new_figure(5, 3.5)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(np.arange(len(lrs)), np.asarray(lrs, dtype=np.float64))
    axes.set(xlabel="step", ylabel="learning rate", title="learning-rate schedule")
    if log_scale:
        axes.set_yscale("log")
    return save_figure(figure, path)


# --------------------------------------------------------------------------- images


def _filter_images(weight):
    """(F, C, kh, kw) -> F images (kh, kw) or (kh, kw, 3), each scaled to [0, 1] on its own."""
    if weight.ndim != 4:
        raise ValueError(f"plot_filters: expected a (F, C, kh, kw) weight, got {weight.shape}")
    images = weight.transpose(0, 2, 3, 1) if weight.shape[1] == 3 else weight[:, 0]
    low = images.min(axis=tuple(range(1, images.ndim)), keepdims=True)
    high = images.max(axis=tuple(range(1, images.ndim)), keepdims=True)
    return (images - low) / np.maximum(high - low, 1e-12)


def plot_filters(weight, path, max_filters=64):
    """A grid of first-layer conv filters (a Conv2d or its weight). RGB when C == 3, else the
    first input channel in grey; each filter is contrast-stretched on its own."""
    weight = getattr(weight, "weight", weight)
    images = _filter_images(to_numpy(weight).astype(np.float64))[:max_filters]
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    figure = new_figure(columns * 0.8 + 0.5, rows * 0.8 + 0.5)
    for i, image in enumerate(images):
        axes = figure.add_subplot(rows, columns, i + 1)
        axes.imshow(image, cmap=None if image.ndim == 3 else "gray", interpolation="nearest")
        axes.axis("off")
    return save_figure(figure, path)


def plot_confusion_matrix(matrix, path, class_names=None, normalize=False):
    """Rows = true class, columns = predicted (train.confusion_matrix's layout).

    normalize=True divides each row by its count, showing per-class recall."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got {matrix.shape}")
    n = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for {n} classes")
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure = new_figure(1.5 + 0.5 * n, 1.2 + 0.5 * n)
    axes = figure.add_subplot(1, 1, 1)
    shown = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(shown, ax=axes)
    axes.set_xticks(range(n), names, rotation=45, ha="right")
    axes.set_yticks(range(n), names)
    axes.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    for (i, j), value in np.ndenumerate(matrix):
        text = f"{value:.2f}" if normalize else f"{int(value)}"
        color = "white" if value > matrix.max() / 2 else "black"
        axes.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    return save_figure(figure, path)


def _mosaic(images, columns, gap=1):
    """(N, C, H, W) images tiled into one (C, rows*(H+gap)-gap, columns*(W+gap)-gap) image,
    white between the tiles: one imshow instead of N subplots."""
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    sheet = np.ones((c, rows * (h + gap) - gap, columns * (w + gap) - gap))
    for i, image in enumerate(images):
        top, left = (i // columns) * (h + gap), (i % columns) * (w + gap)
        sheet[:, top : top + h, left : left + w] = image
    return sheet


def plot_images(images, path, title=None, max_columns=16):
    """A grid of (N, C, H, W) images with pixels in [0, 1] (grey when C == 1, else RGB)."""
    images = np.asarray(to_numpy(images), dtype=np.float64)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"plot_images: expected a non-empty (N, C, H, W) batch, got {images.shape}"
        )
    rows, columns = _grid_shape(len(images), max_columns)
    figure = new_figure(columns * 0.55 + 0.4, rows * 0.55 + 0.7)
    axes = figure.add_subplot(1, 1, 1)
    _show(axes, np.clip(_mosaic(images, columns), 0.0, 1.0))
    if title:
        axes.set_title(title, fontsize=9)
    return save_figure(figure, path)


def plot_mistakes(images, true, predicted, confidence, path, class_names=None, max_columns=6):
    """Misclassified images, each titled with its true class and the predicted class with
    the probability given to it (e.g. from RunFolder: the most confident mistakes first)."""
    images = np.asarray(to_numpy(images), dtype=np.float64)
    if images.ndim != 4 or not len(images) == len(true) == len(predicted) == len(confidence):
        raise ValueError(
            f"plot_mistakes: need (N, C, H, W) images and N labels, got {images.shape} images, "
            f"{len(true)} true, {len(predicted)} predicted, {len(confidence)} confidences"
        )
    if len(images) == 0:
        figure = new_figure(4, 1.5)
        figure.text(0.5, 0.5, "no mistakes on the test set", ha="center", va="center")
        return save_figure(figure, path)
    names = class_names if class_names is not None else [str(i) for i in range(1 + max(true))]
    rows, columns = _grid_shape(len(images), max_columns)
    figure = new_figure(columns * 1.3 + 0.2, rows * 1.55 + 0.5)
    for i, image in enumerate(images):
        axes = figure.add_subplot(rows, columns, i + 1)
        _show(axes, np.clip(image, 0.0, 1.0))
        label = f"true: {names[true[i]]}\npred: {names[predicted[i]]} {confidence[i]:.0%}"
        axes.set_title(label, fontsize=7)
    figure.suptitle("most confident mistakes")
    return save_figure(figure, path)


# --------------------------------------------------------------------------- a run folder

PICTURES_HINT = 'no pictures: matplotlib is not installed (pip install -e ".[plots]" adds it)'


def _new_run_dir(name):
    """runs/<name>-<date>-<time>, with -2, -3 ... added when two runs start in one second."""
    base = os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    return path


def _find_normalize(transform):
    """The Normalize step of a transform (itself, or inside a Compose), or None."""
    from minigrad.data.transforms import Compose, Normalize

    if isinstance(transform, Normalize):
        return transform
    steps = transform.transforms if isinstance(transform, Compose) else ()
    found = [t for t in map(_find_normalize, steps) if t is not None]
    return found[-1] if found else None


def _denormalize(images, normalize):
    """(B, C, H, W) normalised host images back to pixels in [0, 1]: x * std[c] + mean[c]."""
    if normalize is not None:
        std = np.reshape(normalize.std, (1, -1, 1, 1))
        images = images * std + np.reshape(normalize.mean, (1, -1, 1, 1))
    return np.clip(images, 0.0, 1.0)


def _class_names(dataset, n):
    """The dataset's `classes` (looking through Subsets), or "0" .. "n-1"."""
    while not getattr(dataset, "classes", ()) and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    names = list(getattr(dataset, "classes", ()))
    return names if len(names) == n else [str(i) for i in range(n)]


def _train_sample(train_loader, test_loader, max_images=10_000):
    """The first training images (as many as the test set, up to max_images), batched like the
    test set: no augmentation, the test set's normalisation."""
    from minigrad.data import DataLoader, Subset

    n = min(len(train_loader.dataset), len(test_loader.dataset), max_images)
    subset = Subset(train_loader.dataset, range(n))
    return DataLoader(
        subset, test_loader.batch_size, transform=test_loader.transform, device=test_loader.device
    )


def _keep_most_confident(kept, batch, count):
    """The `count` most confident of two (images, true, predicted, confidence) collections."""
    merged = batch if kept is None else [np.concatenate(pair) for pair in zip(kept, batch)]
    order = np.argsort(-merged[3], kind="stable")[:count]
    return [part[order] for part in merged]


def _test_pass(model, loader, keep):
    """(confusion matrix, the `keep` most confident mistakes) of `model` in eval mode."""
    from minigrad import functional as F  # noqa: N812
    from minigrad.nn.module import training_mode
    from minigrad.tensor import no_grad
    from minigrad.train import confusion_matrix

    mistakes, true, predicted = None, [], []
    with training_mode(model, False), no_grad():
        for x, y in loader:
            probs = to_numpy(F.softmax(model(x), dim=1))
            labels = to_numpy(y)
            guess = probs.argmax(axis=1)
            wrong = guess != labels
            batch = [to_numpy(x)[wrong], labels[wrong], guess[wrong], probs.max(axis=1)[wrong]]
            mistakes = _keep_most_confident(mistakes, batch, keep)
            true.append(labels)
            predicted.append(guess)
    matrix = confusion_matrix(np.concatenate(predicted), np.concatenate(true), probs.shape[1])
    return matrix, mistakes


class RunFolder:
    """One folder holding what a classification run leaves behind (the examples' --out):

        log.csv, log.jsonl   one row per epoch (train.TrainingLog), with train_acc added
        checkpoint.npz       model, optimizer and scheduler (train.save_checkpoint)
        confusion.csv        the test confusion matrix (row = true class)
        history.png          loss and accuracy per epoch, train vs test (redrawn every epoch)
        filters.png          the first conv layer's filters
        confusion.png        the confusion matrix, each row divided by its count
        mistakes.png         the most confident test mistakes, true and predicted class
        batch.png            the first training batch exactly as the net saw it, de-normalised
        lr.png               the learning rate of every step (with a scheduler)

    The pictures need matplotlib; without it the folder holds the numbers and finish() says
    how to get it. Use: run = RunFolder(...); fit(..., callbacks=[run.end_epoch]);
    run.finish(). train_acc is measured like test_acc, in eval mode without augmentation, on
    the first training images (as many as the test set, up to 10,000): the gap between the
    two curves is then the generalisation gap. out=None: runs/<name>-<date>-<time>.
    Under mpiexec every rank makes one (fit's callbacks run on every rank); the metrics and
    the confusion matrix cover all ranks' data, the mistakes and the batch are rank 0's, and
    rank 0 alone writes the files."""

    def __init__(
        self, out, model, optimizer, train_loader, test_loader, scheduler=None, name="run"
    ):
        from minigrad.train import TrainingLog

        self.writer = distributed.get_rank() == 0
        path = os.fspath(out) if out is not None else _new_run_dir(name) if self.writer else ""
        paths = [None] * distributed.get_world_size()
        distributed.all_gather_object(paths, path)
        self.path = paths[0]  # rank 0's choice, on every rank
        if self.writer:
            os.makedirs(self.path, exist_ok=True)
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.test_loader = test_loader
        self.train_sample = _train_sample(train_loader, test_loader)
        self.normalize = _find_normalize(test_loader.transform)
        self.log = TrainingLog(self.file("log"), columns=TrainingLog.COLUMNS + ("train_acc",))
        self.pictures = self.writer and matplotlib_available()
        self.first_batch = None
        self.lrs = []
        self._hook = model.register_forward_hook(self._watch)
        if self.writer:
            print(f"run folder: {self.path}", flush=True)

    def file(self, name):
        return os.path.join(self.path, name)

    def _watch(self, model, inputs, output):
        """Forward hook: the lr of every training step, and a copy of the first batch."""
        if model.training:
            self.lrs.append(self.optimizer.param_groups[0]["lr"])
            if self.first_batch is None:
                self.first_batch = np.array(to_numpy(inputs[0]), dtype=np.float64)

    def end_epoch(self, row, model):
        """fit() callback: add train_acc to the row, log it, redraw history.png; never stops."""
        from minigrad import functional as F  # noqa: N812
        from minigrad.train import evaluate

        row["train_acc"] = evaluate(model, self.train_sample, F.cross_entropy).get("acc")
        self.log.log(**row)
        if self.pictures:
            plot_history(self.log, self.file("history.png"))
        return False

    def finish(self, mistakes=24):
        """Save the checkpoint, the confusion matrix and the pictures; print what was written."""
        from minigrad.train import save_checkpoint

        self._hook.remove()
        epoch = self.log.rows[-1]["epoch"] if self.log.rows else 0
        save_checkpoint(
            self.file("checkpoint.npz"), self.model, self.optimizer, self.scheduler, epoch=epoch
        )
        matrix, wrong = _test_pass(self.model, self.test_loader, mistakes)
        distributed.all_reduce(matrix, "sum")  # every rank's share of the test set
        if not self.writer:
            return []
        np.savetxt(self.file("confusion.csv"), matrix, fmt="%d", delimiter=",")
        if not self.pictures:
            print(PICTURES_HINT)
            return []
        written = self._draw(matrix, wrong)
        print(f"pictures: {', '.join(os.path.basename(p) for p in written)}")
        return written

    def _draw(self, matrix, mistakes):
        """Every picture there is something for; returns their paths."""
        from minigrad.nn import Conv2d

        names = _class_names(self.test_loader.dataset, len(matrix))
        convs = [m for m in self.model.modules() if isinstance(m, Conv2d)]
        written = [plot_history(self.log, self.file("history.png"))] if self.log.rows else []
        if convs:
            written.append(plot_filters(convs[0], self.file("filters.png")))
        path = self.file("confusion.png")
        written.append(plot_confusion_matrix(matrix, path, names, normalize=True))
        images, true, predicted, confidence = mistakes
        images = _denormalize(images, self.normalize)
        path = self.file("mistakes.png")
        written.append(plot_mistakes(images, true, predicted, confidence, path, names))
        if self.first_batch is not None:
            batch = _denormalize(self.first_batch, self.normalize)
            title = f"the first training batch ({len(batch)} images, as the net saw them)"
            written.append(plot_images(batch, self.file("batch.png"), title))
        if self.scheduler is not None and self.lrs:
            written.append(plot_lr_schedule(self.lrs, self.file("lr.png")))
        return written
