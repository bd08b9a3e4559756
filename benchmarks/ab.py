"""A/B: a train step in two checkouts of minigrad, interleaved, so that a change is measured
against the code before it under the same machine load. Read run.py first.

    python -m benchmarks.ab OTHER_CHECKOUT [--model cnn|cnn-bn|cifar] [--rounds 6] [--steps 10]
                            [--other-env K=V]

Models: the benchmark CNN with SGD momentum, the same with BatchNorm2d, or the CIFAR example's
model (examples/train_cifar10.py) with Adam.

Each round runs a fresh subprocess per checkout (this one, then OTHER), each timing `--steps`
train steps after 3 warm-up steps; the medians over all rounds are printed with their ratio.
Make OTHER with e.g. `git worktree add ../before HEAD~1`. OTHER may be this checkout with
`--other-env`, e.g. `python -m benchmarks.ab . --other-env MINIGRAD_KEEP_FREED_MEMORY=0`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.memory import ROOT

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import minigrad
assert minigrad.__file__.startswith(sys.argv[1]), minigrad.__file__
from benchmarks import models
if sys.argv[2] == "cifar":
    import minigrad.functional as F
    from benchmarks.epoch import load_example
    model = load_example("train_cifar10").make_model()
    optimizer = minigrad.optim.Adam(model.parameters(), lr=1e-3)
    x, y = (minigrad.tensor(a) for a in models.cifar_batch())
    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
else:
    batchnorm = sys.argv[2] == "cnn-bn"
    model = models.minigrad_cnn(models.cnn_weights(batchnorm=batchnorm), batchnorm=batchnorm)
    step = models.minigrad_train_step(model, *models.cnn_batch())
for _ in range(3):
    step()
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def step_times(checkout, model, steps, env=None):
    """Seconds per train step in a fresh process that imports minigrad from `checkout`, with
    `env` (a dict) added to the environment."""
    command = [sys.executable, "-c", CHILD, str(checkout), model, str(steps)]
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(
        command, cwd=checkout, env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (the 'before')")
    parser.add_argument("--model", choices=["cnn", "cnn-bn", "cifar"], default="cnn")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--other-env", action="append", default=[], metavar="K=V", help="environment for OTHER"
    )
    args = parser.parse_args(argv)
    envs = {"this": {}, "other": dict(item.split("=", 1) for item in args.other_env)}
    checkouts = {"this": ROOT, "other": args.other.resolve()}
    times = {name: [] for name in checkouts}
    for _ in range(args.rounds):
        for name, path in checkouts.items():
            times[name] += step_times(path, args.model, args.steps, envs[name])
    medians = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    for name, path in checkouts.items():
        extra = " ".join(f"{k}={v}" for k, v in envs[name].items())
        where = f"{path} {extra}".rstrip()
        print(f"{name:5s} {medians[name]:7.1f} ms per step  ({where})")
    print(f"other / this = {medians['other'] / medians['this']:.3f} (> 1: this checkout is faster)")


if __name__ == "__main__":
    main()
