"""Benchmark activations, forward + backward: minigrad against PyTorch CPU (2 threads) in the
same run. Usage: python benchmarks/bench_activations.py [--quick]

Input (128, 4096) float32 (an MLP hidden layer), upstream gradient of ones. Each function runs
alternately in both libraries after a warm-up; the script prints the median ms of each and the
ratio minigrad / PyTorch (time: lower is better).
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigrad as mg  # noqa: E402
from benchmarks.timing import compare_pair, repeats_from_cli, torch_or_none  # noqa: E402
from minigrad import functional as F  # noqa: E402

SHAPE = (128, 4096)
# name -> (minigrad function, PyTorch function name and keyword arguments)
CASES = {
    "relu": (F.relu, "relu", {}),
    "gelu (exact, erf)": (F.gelu, "gelu", {}),
    "gelu (tanh)": (lambda x: F.gelu(x, approximate="tanh"), "gelu", {"approximate": "tanh"}),
    "silu": (F.silu, "silu", {}),
    "softplus": (F.softplus, "softplus", {}),
    "mish": (F.mish, "mish", {}),
}


def ours(fn, x):
    inp = mg.tensor(x, requires_grad=True)
    ones = mg.tensor(np.ones_like(x))

    def step():
        inp.grad = None
        fn(inp).backward(ones)

    return step


def theirs(torch, name, kwargs, x):
    inp = torch.tensor(x, requires_grad=True)
    ones = torch.ones_like(inp)
    fn = getattr(torch.nn.functional, name)

    def step():
        inp.grad = None
        fn(inp, **kwargs).backward(ones)

    return step


def main():
    repeats, warmup = repeats_from_cli(__doc__)
    torch = torch_or_none()
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    print(f"activation forward+backward on {SHAPE} float32, median of {repeats}")
    for label, (fn, name, kwargs) in CASES.items():
        other = theirs(torch, name, kwargs, x) if torch is not None else None
        compare_pair(label, ours(fn, x), other, repeats, warmup)


if __name__ == "__main__":
    main()
