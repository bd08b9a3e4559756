"""Find a learning rate with the LR range test (Smith 2017), then try it against a 100x smaller one.

optim.lr_range_test trains a small CNN on Fashion-MNIST for --num-iter batches while the lr of
SGD (momentum 0.9) grows exponentially from 1e-5 to 10, and records the smoothed loss. The loss
sits flat while the lr is too small, falls, then rises; the suggestion is the lr where it falls
fastest (searched below the loss minimum, see steepest_before_minimum). The curve is printed
as a text plot and, when matplotlib is installed, saved as a PNG (with the lr sweep itself, by
minigrad.plots). Finally two fresh copies of the model train --train-steps steps, one at the
suggestion and one at a hundredth of it.
Expected: a suggestion between about 1e-3 and 1e-1, and a clearly higher test accuracy for it
than for the 100x smaller lr; about 30 s on a loaded 2-core CPU. The last line printed is
`suggested lr: X`.

Fashion-MNIST is read from --data DIR, the cache, or /usr/share/datasets/fashion-mnist; when
none has it (or with --synthetic), a synthetic 10-class set is used instead (a note says so).

    python examples/lr_range_test.py --plot lr_range_test.png
"""

import argparse
import itertools
import math
import os
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim, plots
from minigrad.data import DataLoader, FashionMNIST, TensorDataset
from minigrad.data import transforms as T
from minigrad.train import evaluate

MEAN, STD = 0.2860, 0.3530  # of the Fashion-MNIST training pixels scaled to [0, 1]


def synthetic_images(n, seed):
    """(x (n, 1, 28, 28) in [0, 1], y (n,)): one fixed random pattern per class plus noise."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(99).uniform(0, 1, size=(10, 1, 28, 28))
    y = rng.integers(0, 10, size=n)
    x = np.clip(patterns[y] + 0.5 * rng.standard_normal((n, 1, 28, 28)), 0, 1)
    return x.astype(np.float32), y.astype(np.int64)


def first_images(dataset, n):
    """The first n images of an image dataset as a float [0, 1] TensorDataset."""
    return TensorDataset(dataset.data[:n].astype(np.float32) / 255, dataset.targets[:n])


def load_data(args):
    """(train, test) TensorDatasets of --limit and --limit // 4 images."""
    n_train, n_test = args.limit, max(args.limit // 4, 64)
    try:
        if args.synthetic:
            raise FileNotFoundError("--synthetic")
        train = first_images(FashionMNIST(args.data, train=True), n_train)
        test = first_images(FashionMNIST(args.data, train=False), n_test)
        print(f"data: {n_train} Fashion-MNIST training and {n_test} test images")
    except FileNotFoundError as missing:
        print(f"data: SYNTHETIC images (class pattern + noise), not Fashion-MNIST: {missing}")
        train = TensorDataset(*synthetic_images(n_train, seed=0))
        test = TensorDataset(*synthetic_images(n_test, seed=1))
    return train, test


def make_model(kind):
    """cnn: conv16-BN-pool-ReLU, conv32-BN-pool-ReLU, fc10 (~17k params); mlp: 784-128-10.
    Max-pool before ReLU: they commute, and the ReLU then touches a 4x smaller array."""
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )


def text_plot(lrs, losses, rows=12, width=40):
    """The loss-vs-lr curve as text: `rows` lrs evenly spaced in log lr, one bar each."""
    low, high = min(losses), max(losses)
    picks = np.unique(np.linspace(0, len(lrs) - 1, rows).round().astype(int))
    lines = [f"{'lr':>10}  {'loss':>7}"]
    for i in picks:
        bar = "#" * (1 + round((width - 1) * (losses[i] - low) / max(high - low, 1e-12)))
        lines.append(f"{lrs[i]:>10.2e}  {losses[i]:>7.4f}  {bar}")
    return "\n".join(lines)


def steepest_before_minimum(lrs, losses):
    """The lr where the smoothed loss falls fastest against log(lr), looking only at lrs below
    the loss minimum: past it the loss is noisy (BatchNorm keeps it from exploding) and a dip
    there can look steep although the lr is already far too high."""
    end = int(np.argmin(losses)) + 1
    if end < 2:
        return lrs[0]
    slopes = np.diff(losses[:end]) / np.diff(np.log(lrs[:end]))
    return lrs[int(np.argmin(slopes))]


def save_plots(result, suggestion, path):
    """Loss vs lr (log axis) as `path`, and the lr sweep by step next to it; needs matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no plot saved (pip install matplotlib)")
        return
    figure = Figure(figsize=(5, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(result["lrs"], result["losses"])
    axes.axvline(suggestion, color="tab:red", linestyle="--", label="suggestion")
    axes.set(xscale="log", xlabel="learning rate", ylabel="smoothed loss", title="LR range test")
    axes.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format="png")
    sweep_path = os.path.splitext(path)[0] + "_sweep.png"
    sweep = plots.plot_lr_schedule(result["lrs"], sweep_path, log_scale=True)
    print(f"saved {path} and {sweep}")


def train_at(lr, args, train_set, test_loader):
    """Test accuracy of a fresh model (same seed, same batches) after --train-steps at `lr`."""
    mg.seed(args.seed)
    model = make_model(args.model).to(args.device)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loader = make_loader(args, train_set, shuffle=True)
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    for x, y in itertools.islice(batches, args.train_steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return evaluate(model, test_loader, F.cross_entropy)["acc"]


def make_loader(args, dataset, shuffle):
    normalize = T.Normalize([MEAN], [STD])
    return DataLoader(
        dataset, args.batch_size, shuffle, seed=args.seed, transform=normalize, device=args.device
    )


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder holding the Fashion-MNIST files")
    parser.add_argument("--synthetic", action="store_true", help="skip Fashion-MNIST")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or strict")
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    parser.add_argument("--limit", type=int, default=4096, help="training images to use")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-iter", type=int, default=100, help="batches in the sweep")
    parser.add_argument("--train-steps", type=int, default=60, help="steps per comparison run")
    parser.add_argument("--plot", default="lr_range_test.png", help="PNG path (matplotlib)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.perf_counter()
    mg.seed(args.seed)
    train_set, test_set = load_data(args)
    model = make_model(args.model).to(args.device)
    optimizer = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    train_loader = make_loader(args, train_set, shuffle=True)
    result = optim.lr_range_test(
        model, optimizer, F.cross_entropy, train_loader, 1e-5, 10.0, num_iter=args.num_iter
    )
    lrs, losses = result["lrs"], result["losses"]
    print(f"sweep: {len(lrs)} of {args.num_iter} steps before the loss diverged")
    print(text_plot(lrs, losses))
    at_min = lrs[int(np.argmin(losses))]
    print(f"lowest smoothed loss {min(losses):.4f} at lr {at_min:.3g} (a tenth: {at_min / 10:.3g})")
    suggestion = result["suggestion"]
    print(f"lr_range_test's suggestion (steepest descent): {suggestion:.3g}")
    if suggestion > at_min:
        suggestion = steepest_before_minimum(lrs, losses)
        print(f"  it lies past the loss minimum; steepest descent before it: {suggestion:.3g}")
    save_plots(result, suggestion, args.plot)
    if args.train_steps > 0:
        test_loader = make_loader(args, test_set, shuffle=False)
        for lr in (suggestion, suggestion / 100):
            acc = train_at(lr, args, train_set, test_loader)
            print(f"{args.train_steps} steps at lr {lr:.3g}: test accuracy {acc:.4f}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    print(f"suggested lr: {suggestion:.3g} (log10 {math.log10(suggestion):.2f})")


if __name__ == "__main__":
    main()
