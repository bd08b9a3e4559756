"""Lottery tickets: iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019,
"The Lottery Ticket Hypothesis"; rewinding to an early iterate: Frankle et al. 2019/2020).

LeNet-300-100 (784-300-100-10 MLP) on Fashion-MNIST. Each round trains the net, prunes 20% of
each hidden layer's remaining weights (10% of the output layer's) by magnitude with
nn.utils.prune.l1_unstructured, and rewinds the surviving weights to their values after the
first --rewind-steps steps of the first run: the mask is the ticket, the early weights its
numbers. Last, the final mask is trained again from a fresh random init (the control): a winning
ticket should beat it.

Measured on the shared 2-core CPU (seed 0, the first 20000 training images, 3 epochs a round,
Adam 1.2e-3, batch 60, rewind to step 100), accuracy on the 10000 test images:

    weights left  100%    80.0%   64.1%   51.3%   41.1%   32.9%   26.3%
    accuracy      0.8582  0.8611  0.8609  0.8622  0.8619  0.8634  0.8664
    the same 26.3% mask from a fresh random init: 0.8440

The ticket at a quarter of the weights beat both the dense net and its random reinit in this
run (one seed). 742 s in all, with the test suite running alongside on the 2 cores.

    python examples/lottery_ticket.py            # --rounds 6 --epochs 3 --train 20000
    python examples/lottery_ticket.py --synthetic --train 600 --rounds 2 --epochs 1   # smoke
"""

import argparse
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import FashionMNIST
from minigrad.nn.utils import prune

MEAN, STD = 0.2860, 0.3530  # of the Fashion-MNIST training pixels scaled to [0, 1]
LAYERS = ("0", "2", "4")  # the Linear layers of make_model's Sequential


def make_model():
    return nn.Sequential(
        nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)
    )


def synthetic(n, seed):
    """(x (n, 784), y (n,)): one fixed random pattern per class plus noise."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(99).uniform(0, 1, size=(10, 784))
    y = rng.integers(0, 10, size=n)
    return np.clip(patterns[y] + 1.5 * rng.standard_normal((n, 784)), 0, 1), y


def load(args):
    """Normalised float32 (x_train, y_train, x_test, y_test) as NumPy arrays."""
    if args.synthetic:
        x, y = synthetic(args.train, 0)
        xt, yt = synthetic(args.train // 2, 1)
        print(f"data: {args.train} SYNTHETIC training images (class pattern + noise)")
    else:
        train, test = FashionMNIST(args.data, train=True), FashionMNIST(args.data, train=False)
        x, y = train.data[: args.train].reshape(-1, 784) / 255, train.targets[: args.train]
        xt, yt = test.data.reshape(-1, 784) / 255, test.targets
        print(f"data: {len(x)} Fashion-MNIST training images, {len(xt)} test images")
    scale = [(a - MEAN) / STD for a in (x, xt)]
    return scale[0].astype(np.float32), y.astype(np.int64), scale[1].astype(np.float32), yt


def weights(model):
    """The trained tensors of every Linear: weight_orig once pruned, else weight; and bias."""
    out = {}
    for name in LAYERS:
        layer = model[int(name)]
        out[name + ".weight"] = getattr(layer, "weight_orig", layer.weight)
        out[name + ".bias"] = layer.bias
    return out


def snapshot(model):
    return {k: t.numpy().copy() for k, t in weights(model).items()}


def rewind(model, saved):
    """Put the saved early weights back; the masks stay, so pruned entries stay zero."""
    for key, tensor in weights(model).items():
        tensor.data = mg.tensor(saved[key]).data


def train(model, data, args, rewind_steps=None):
    """Adam for args.epochs epochs; the weights after rewind_steps steps, if asked for."""
    x, y = data[0], data[1]
    opt = optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    steps = args.epochs * -(-len(x) // args.batch)
    rewind_steps = None if rewind_steps is None else min(rewind_steps, steps)
    early, step = None, 0
    model.train()
    for _ in range(args.epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), args.batch):
            idx = order[start : start + args.batch]
            opt.zero_grad()
            F.cross_entropy(model(mg.tensor(x[idx])), mg.tensor(y[idx])).backward()
            opt.step()
            step += 1
            if step == rewind_steps:
                early = snapshot(model)
    return early


def test_accuracy(model, data):
    model.eval()
    with mg.no_grad():
        logits = model(mg.tensor(data[2])).numpy()
    return float((logits.argmax(1) == data[3]).mean())


def prune_round(model, args):
    """Layer-wise magnitude pruning of the remaining weights (the output layer at half rate)."""
    for name in LAYERS:
        rate = args.rate / 2 if name == LAYERS[-1] else args.rate
        prune.l1_unstructured(model[int(name)], "weight", amount=rate)


def weights_left(model):
    """The fraction of the Linear weights still unpruned."""
    kept = total = 0
    for name in LAYERS:
        layer = model[int(name)]
        mask = getattr(layer, "weight_mask", None)
        total += layer.weight.numel()
        kept += layer.weight.numel() if mask is None else float(mask.numpy().sum())
    return kept / total


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=6, help="pruning rounds after the first run")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train", type=int, default=20000, help="training images used")
    p.add_argument("--rate", type=float, default=0.2, help="fraction pruned per round")
    p.add_argument("--rewind-steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=60)
    p.add_argument("--lr", type=float, default=1.2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="Fashion-MNIST folder (default: the usual)")
    p.add_argument("--synthetic", action="store_true", help="synthetic data (no files needed)")
    return p.parse_args()


def main():
    args = parse_args()
    start = time.perf_counter()
    data = load(args)
    mg.seed(args.seed)
    model = make_model()
    early = train(model, data, args, rewind_steps=args.rewind_steps)
    results = [(weights_left(model), test_accuracy(model, data))]
    print(f"round 0: weights left {results[-1][0]:.1%}, test accuracy {results[-1][1]:.4f}")
    for r in range(1, args.rounds + 1):
        prune_round(model, args)
        rewind(model, early)
        train(model, data, args)
        results.append((weights_left(model), test_accuracy(model, data)))
        print(f"round {r}: weights left {results[-1][0]:.1%}, test accuracy {results[-1][1]:.4f}")
    # the control: the same final mask on a fresh random init
    mg.seed(args.seed + 1)
    fresh = make_model()
    for name in LAYERS:
        mask = model[int(name)].weight_mask
        prune.custom_from_mask(fresh[int(name)], "weight", mask=mask)
    train(fresh, data, args)
    control = test_accuracy(fresh, data)
    print(f"random reinit at {weights_left(fresh):.1%}: test accuracy {control:.4f}")
    best = max(results[1:] or results, key=lambda pair: pair[1])
    print(f"time {time.perf_counter() - start:.0f} s")
    print(
        f"winning ticket {results[-1][1]:.4f} vs random reinit {control:.4f} "
        f"at {results[-1][0]:.1%} weights left (best pruned: {best[1]:.4f} at {best[0]:.1%})"
    )


if __name__ == "__main__":
    main()
