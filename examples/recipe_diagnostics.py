"""The training-recipe checks of minigrad.diagnostics on a real model, healthy and broken.

Runs five checks on an MLP (784-256-BN-ReLU-128-tanh-10) for Fashion-MNIST: the train/eval
mode, the loss at initialisation (about log 10 = 2.30), overfitting one batch of 32, the
update/weight ratios of one SGD step (about 1e-3 is healthy) and activation statistics
(dead ReLUs, saturated tanh). Then the same checks on a deliberately broken copy: weights
initialised 10x too large, a learning rate 100x too high and the model left in eval mode.
Expected: 5 of 5 checks pass for the healthy model and 5 of 5 are flagged for the broken
one, in about 5 s on a 2-core CPU. The last line printed is `broken model: 5 of 5 flagged`.

Fashion-MNIST is read from --data DIR, the cache, or /usr/share/datasets/fashion-mnist; when
none has it (or with --synthetic), a synthetic 10-class set of the same shape is used instead
(a note says so).

    python examples/recipe_diagnostics.py
"""

import argparse
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import diagnostics, nn, optim
from minigrad.data import FashionMNIST

MEAN, STD = 0.2860, 0.3530  # of the Fashion-MNIST training pixels scaled to [0, 1]


def synthetic_images(n, seed=0):
    """(x (n, 1, 28, 28) in [0, 1], y (n,)): one fixed random pattern per class plus noise."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(99).uniform(0, 1, size=(10, 1, 28, 28))
    y = rng.integers(0, 10, size=n)
    x = np.clip(patterns[y] + 0.3 * rng.standard_normal((n, 1, 28, 28)), 0, 1)
    return x.astype(np.float32), y.astype(np.int64)


def load_batch(n, root, device, synthetic=False):
    """The first n training images, normalised, as Tensors; synthetic when not found."""
    try:
        if synthetic:
            raise FileNotFoundError("--synthetic")
        train_set = FashionMNIST(root, train=True)
        x = train_set.data[:n].astype(np.float32) / 255  # uint8 -> [0, 1], only n images
        y = train_set.targets[:n]
        print(f"data: the first {n} Fashion-MNIST training images")
    except FileNotFoundError as missing:
        x, y = synthetic_images(n)
        print(f"data: {n} SYNTHETIC images (class pattern + noise), not Fashion-MNIST: {missing}")
    x = (x - MEAN) / STD
    return mg.tensor(x, device=device), mg.tensor(y, device=device)


def make_model(device):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256, bias=False),  # BatchNorm subtracts the mean: a bias gets no gradient
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.Tanh(),
        nn.Linear(128, 10),
    ).to(device)


def break_model(model, scale):
    """Multiply every Linear weight by `scale`: the classic too-large initialisation."""
    with mg.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.data = module.weight.data * scale


def one_step_ratios(model, optimizer, x, y):
    """A real training step on (x, y), measured: ‖Δw‖/‖w‖ per parameter."""
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return diagnostics.update_ratios(model, optimizer)


def run_checks(title, model, optimizer, x, y, steps):
    """Print every report; return how many checks were flagged (not ok)."""
    print(f"\n=== {title} ===")
    reports = [
        diagnostics.check_mode(model, expected="train"),
        diagnostics.check_initial_loss(model, x, y, num_classes=10),
        diagnostics.overfit_one_batch(model, optimizer, x[:32], y[:32], steps=steps),
        diagnostics.activation_stats(model, x),
        one_step_ratios(model, optimizer, x, y),  # last: it changes the weights
    ]
    for report in reports:
        print(f"\n{report}")
    flagged = sum(not report.ok for report in reports)
    return flagged, len(reports)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder holding the Fashion-MNIST files")
    parser.add_argument("--synthetic", action="store_true", help="skip Fashion-MNIST")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or strict")
    parser.add_argument("--batch", type=int, default=256, help="images for the checks")
    parser.add_argument("--steps", type=int, default=100, help="steps to overfit one batch")
    parser.add_argument("--lr", type=float, default=0.01, help="the healthy SGD lr")
    args = parser.parse_args()
    start = time.perf_counter()
    mg.seed(0)
    x, y = load_batch(args.batch, args.data, args.device, args.synthetic)

    healthy = make_model(args.device)
    sgd = optim.SGD(healthy.parameters(), lr=args.lr, momentum=0.9)
    good = run_checks("healthy model", healthy, sgd, x, y, args.steps)

    broken = make_model(args.device)
    break_model(broken, scale=10.0)
    broken.eval()  # e.g. left over from an evaluation pass
    sgd = optim.SGD(broken.parameters(), lr=args.lr * 100, momentum=0.9)
    bad = run_checks("broken model: init x10, lr x100, eval mode", broken, sgd, x, y, args.steps)

    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    print(f"healthy model: {good[1] - good[0]} of {good[1]} passed")
    print(f"broken model: {bad[0]} of {bad[1]} flagged")


if __name__ == "__main__":
    main()
