"""Benchmark conv2d and max_pool2d: minigrad against PyTorch CPU (2 threads) in the same run.
Usage: python benchmarks/bench_conv.py [--quick]    (PyTorch is skipped when not installed)

Each case runs minigrad and PyTorch alternately, after a warm-up, and prints the median time
of the repeats in ms and the ratio minigrad / PyTorch (lower is better, 1.0 = as fast). The
best (minimum) times are printed too: on a shared machine they are the steadier figure.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigrad as mg  # noqa: E402
from benchmarks.timing import compare_pair, repeats_from_cli  # noqa: E402
from minigrad import functional as F  # noqa: E402

# the suite (python -m benchmarks) builds its rows from conv_contenders and pool_contenders
CONV_X, CONV_W, POOL_X = (128, 32, 14, 14), (64, 32, 3, 3), (128, 32, 28, 28)

try:
    import torch
    import torch.nn.functional as TF  # noqa: N812
except ImportError:
    torch = None


def channels_last(a):
    """A float32 (B, C, H, W) array whose memory is NHWC, as minigrad's conv outputs are."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1), dtype=np.float32).transpose(0, 3, 1, 2)


# --------------------------------------------------------------------------- cases


def conv_arrays(rng):
    """x, w, b and the upstream gradient of the conv case (x and dout channels-last)."""
    x = channels_last(rng.standard_normal(CONV_X))
    w = rng.standard_normal(CONV_W).astype(np.float32) * 0.1
    b = rng.standard_normal(CONV_W[0]).astype(np.float32)
    dout = channels_last(rng.standard_normal((CONV_X[0], CONV_W[0], *CONV_X[2:])))
    return x, w, b, dout


def conv_contenders(x, w, b, dout):
    """{"forward": (minigrad fn, torch fn or None), "train": (...)} for conv2d 3x3 pad 1."""
    xm = mg.Tensor(x, requires_grad=True)  # wraps x as it is: mg.tensor() would copy to NCHW
    wm = mg.tensor(w, requires_grad=True)
    bm = mg.tensor(b, requires_grad=True)

    def ours_forward():
        with mg.no_grad():
            F.conv2d(xm, wm, bm, padding=1)

    def ours_train():
        xm.grad = wm.grad = bm.grad = None
        F.conv2d(xm, wm, bm, padding=1).backward(dout)

    theirs_forward = theirs_train = None
    if torch is not None:
        xt = torch.tensor(x).contiguous(memory_format=torch.channels_last).requires_grad_()
        wt = torch.tensor(w, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        dt = torch.tensor(dout).contiguous(memory_format=torch.channels_last)

        def theirs_forward():
            with torch.no_grad():
                TF.conv2d(xt, wt, bt, padding=1)

        def theirs_train():
            xt.grad = wt.grad = bt.grad = None
            TF.conv2d(xt, wt, bt, padding=1).backward(dt)

    return {"forward": (ours_forward, theirs_forward), "train": (ours_train, theirs_train)}


def conv_case(rng, repeats, warmup):
    cases = conv_contenders(*conv_arrays(rng))
    compare_pair("conv2d 3x3 p1 forward", *cases["forward"], repeats, warmup)
    compare_pair("conv2d 3x3 p1 forward+backward", *cases["train"], repeats, warmup)


def pool_arrays(rng):
    """x and the upstream gradient of the max-pool case, both channels-last."""
    x = channels_last(rng.standard_normal(POOL_X))
    dout = channels_last(rng.standard_normal((*POOL_X[:2], POOL_X[2] // 2, POOL_X[3] // 2)))
    return x, dout


def pool_contenders(x, dout):
    """{"forward": (minigrad fn, torch fn or None), "train": (...)} for max_pool2d 2x2."""
    xm = mg.Tensor(x, requires_grad=True)  # keeps the channels-last memory

    def ours_forward():
        with mg.no_grad():
            F.max_pool2d(xm, 2)

    def ours_train():
        xm.grad = None
        F.max_pool2d(xm, 2).backward(dout)

    theirs_forward = theirs_train = None
    if torch is not None:
        xt = torch.tensor(x).contiguous(memory_format=torch.channels_last).requires_grad_()
        dt = torch.tensor(dout).contiguous(memory_format=torch.channels_last)

        def theirs_forward():
            with torch.no_grad():
                TF.max_pool2d(xt, 2)

        def theirs_train():
            xt.grad = None
            TF.max_pool2d(xt, 2).backward(dt)

    return {"forward": (ours_forward, theirs_forward), "train": (ours_train, theirs_train)}


def pool_case(rng, repeats, warmup):
    cases = pool_contenders(*pool_arrays(rng))
    compare_pair("max_pool2d 2x2 forward", *cases["forward"], repeats, warmup)
    compare_pair("max_pool2d 2x2 forward+backward", *cases["train"], repeats, warmup)


def main():
    repeats, warmup = repeats_from_cli(__doc__)
    if torch is not None:
        torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"float32, median of {repeats}; x (128,32,14,14) w (64,32,3,3); pool x (128,32,28,28)")
    conv_case(rng, repeats, warmup)
    pool_case(rng, repeats, warmup)


if __name__ == "__main__":
    main()
