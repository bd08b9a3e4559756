"""Benchmark one Adam step over the ~1.07M float32 parameters of a 784-1024-256-10 MLP:
minigrad.optim.Adam against torch.optim.Adam (2 threads, foreach default) in the same run.

Usage: python benchmarks/bench_adam.py [--steps N]. The optimizers step alternately after a
warm-up; the script prints the median ms per step of each and the time ratio minigrad / PyTorch.
"torch-loop" is torch.optim.Adam(foreach=False), its per-tensor loop, for reference.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigrad as mg  # noqa: E402
from benchmarks.timing import alternate  # noqa: E402
from minigrad import optim  # noqa: E402

# Linear layers store weight (out, in) and bias (out,)
SHAPES = [(1024, 784), (1024,), (256, 1024), (256,), (10, 256), (10,)]


def _arrays(seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) * 0.05 for s in SHAPES]


def minigrad_step_fn(weights, grads):
    params = [mg.tensor(w, requires_grad=True) for w in weights]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    opt = optim.Adam(params, lr=1e-3, weight_decay=0.0)
    return opt.step


def torch_step_fn(torch, weights, grads, **options):
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    opt = torch.optim.Adam(params, lr=1e-3, **options)
    return opt.step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    weights, grads = _arrays(0), _arrays(1)
    print(f"Adam step, {sum(w.size for w in weights):,} float32 parameters in {len(SHAPES)} arrays")
    contenders = {"minigrad": minigrad_step_fn(weights, grads)}
    try:
        import torch

        torch.set_num_threads(2)
        contenders["torch"] = torch_step_fn(torch, weights, grads)
        contenders["torch-loop"] = torch_step_fn(torch, weights, grads, foreach=False)
    except ImportError:
        print("PyTorch is not installed: minigrad only")
    seconds = alternate(contenders, repeats=args.steps, warmup=5)
    ms = {name: value * 1e3 for name, value in seconds.items()}
    for name, value in ms.items():
        print(f"  {name:10s} {value:8.3f} ms/step")
    for name in ("torch", "torch-loop"):
        if name in ms:
            print(f"  minigrad / {name} = {ms['minigrad'] / ms[name]:.2f}x (time ratio)")


if __name__ == "__main__":
    main()
