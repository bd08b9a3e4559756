"""Benchmark BatchNorm2d forward + backward in training mode: minigrad against PyTorch CPU (2
threads) in the same run. Usage: python benchmarks/bench_batchnorm.py [--quick]

Input (128, 32, 28, 28) float32, once contiguous NCHW and once channels-last (NHWC memory
behind the NCHW shape, as minigrad's conv outputs are). The two libraries run alternately after
a warm-up; the script prints the median ms of each and the ratio minigrad / PyTorch.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigrad as mg  # noqa: E402
from benchmarks.timing import compare_pair, repeats_from_cli  # noqa: E402
from minigrad import nn  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

SHAPE = (128, 32, 28, 28)


def channels_last(a):
    """The same values with NHWC memory, viewed as (N, C, H, W)."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def ours_step(x, dout):
    """One training step of minigrad's BatchNorm2d: forward, then backward with dout."""
    layer = nn.BatchNorm2d(SHAPE[1])
    inp = mg.Tensor(x, requires_grad=True)

    def step():
        inp.grad = None
        layer.zero_grad()
        layer(inp).backward(dout)

    return step


def torch_step(x, dout):
    layer = torch.nn.BatchNorm2d(SHAPE[1])
    inp = torch.from_numpy(x)
    if not x.flags.c_contiguous:
        inp = inp.contiguous(memory_format=torch.channels_last)
    inp.requires_grad_(True)
    grad = torch.from_numpy(np.ascontiguousarray(dout))

    def step():
        inp.grad = None
        layer.zero_grad()
        layer(inp).backward(grad)

    return step


def main():
    repeats, warmup = repeats_from_cli(__doc__, quick=(3, 1), full=(21, 3))
    if torch is not None:
        torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    dout = rng.standard_normal(SHAPE, dtype=np.float32)
    print(f"BatchNorm2d({SHAPE[1]}) train forward+backward, input {SHAPE} float32")
    for layout, data in (("NCHW", x), ("channels-last", channels_last(x))):
        # the upstream gradient has the same memory layout as the output it belongs to
        grad = dout if layout == "NCHW" else channels_last(dout)
        theirs = torch_step(data, grad) if torch is not None else None
        ours = ours_step(data, grad)
        compare_pair(f"batchnorm2d fwd+bwd {layout}", ours, theirs, repeats, warmup)


if __name__ == "__main__":
    main()
