"""Pictures of a training run, saved as PNG: loss/accuracy curves, the LR schedule, first-layer
conv filters and a confusion matrix. Read train.py first; matplotlib is optional.

matplotlib is imported only when a plot is drawn. Figures are built with its object API and an
Agg canvas, so no window opens and pyplot's global state (and backend) is never touched.
"""

import math
import os

import numpy as np

from minigrad import backend

# --------------------------------------------------------------------------- helpers


def _figure(width, height):
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


def _save(figure, path):
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


def _host(x):
    x = getattr(x, "data", x)
    return backend.to_host(x) if backend.is_array(x) else np.asarray(x)


# --------------------------------------------------------------------------- curves


def plot_history(log, path, title=None):
    """Loss curves (train and test) and, when logged, test accuracy, side by side."""
    rows = _rows(log)
    has_acc = any(row.get("test_acc") is not None for row in rows)
    figure = _figure(10 if has_acc else 5, 4)
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
        epochs, values = _column(rows, "test_acc")
        acc_axes.plot(epochs, values, marker="o", color="tab:green")
        acc_axes.set(xlabel="epoch", ylabel="accuracy", title="test accuracy")
        _integer_epochs(acc_axes)
    return _save(figure, path)


def plot_lr_schedule(lrs, path, log_scale=False):
    """The learning rate per step (a sequence of floats) or per epoch (a TrainingLog's "lr")."""
    if not isinstance(lrs, (list, tuple, np.ndarray)):
        lrs = [row["lr"] for row in _rows(lrs)]
    if len(lrs) == 0:
        raise ValueError("plot_lr_schedule: no learning rates to plot")
    figure = _figure(5, 3.5)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(np.arange(len(lrs)), np.asarray(lrs, dtype=np.float64))
    axes.set(xlabel="step", ylabel="learning rate", title="learning-rate schedule")
    if log_scale:
        axes.set_yscale("log")
    return _save(figure, path)


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
    images = _filter_images(_host(weight).astype(np.float64))[:max_filters]
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    figure = _figure(columns * 0.8 + 0.5, rows * 0.8 + 0.5)
    for i, image in enumerate(images):
        axes = figure.add_subplot(rows, columns, i + 1)
        axes.imshow(image, cmap=None if image.ndim == 3 else "gray", interpolation="nearest")
        axes.axis("off")
    return _save(figure, path)


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
    figure = _figure(1.5 + 0.5 * n, 1.2 + 0.5 * n)
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
    return _save(figure, path)
