"""Benchmark an LSTM layer's forward + backward: minigrad (fused loop and reference loop)
against PyTorch CPU (2 threads) in the same run. Usage: python benchmarks/bench_rnn.py [--quick]

nn.LSTM(64, 128) on a (seq 50, batch 64, 64) float32 input, PyTorch's initial weights ported
into minigrad; each step runs forward and backs the gradient of sum(output) + sum(h_n) into
the input and every weight. The script prints the median ms of each and the ratios.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigrad as mg  # noqa: E402
from benchmarks.timing import compare_pair, repeats_from_cli, torch_or_none  # noqa: E402
from minigrad import nn  # noqa: E402

SEQ, BATCH, FEATURES, HIDDEN = 50, 64, 64, 128
NAME = f"LSTM({FEATURES}, {HIDDEN}) seq {SEQ} batch {BATCH} fwd+bwd"


def lstm_input(seed=0):
    return np.random.default_rng(seed).standard_normal((SEQ, BATCH, FEATURES), np.float32)


def lstm_weights(seed=0):
    """Weights in PyTorch's layout, drawn from its default init U(-1/sqrt(H), 1/sqrt(H))."""
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(HIDDEN)
    shapes = {
        "weight_ih_l0": (4 * HIDDEN, FEATURES),
        "weight_hh_l0": (4 * HIDDEN, HIDDEN),
        "bias_ih_l0": (4 * HIDDEN,),
        "bias_hh_l0": (4 * HIDDEN,),
    }
    return {k: rng.uniform(-bound, bound, s).astype(np.float32) for k, s in shapes.items()}


def _train_step(layer, inp):
    """forward, then backward of sum(output) + sum(h_n): the same code drives both libraries."""

    def step():
        inp.grad = None
        layer.zero_grad()
        output, (h_n, _) = layer(inp)
        (output.sum() + h_n.sum()).backward()

    return step


def ours_step(x, weights, fused=True):
    """minigrad's step; fused=False runs the reference loop over time."""
    layer = nn.LSTM(FEATURES, HIDDEN)
    layer.load_state_dict(weights)
    layer.fused = fused
    return _train_step(layer, mg.Tensor(x, requires_grad=True))


def torch_step(torch, x, weights):
    layer = torch.nn.LSTM(FEATURES, HIDDEN)
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    return _train_step(layer, torch.from_numpy(x).requires_grad_())


def main():
    repeats, warmup = repeats_from_cli(__doc__, quick=(3, 1), full=(15, 3))
    torch = torch_or_none()
    x, weights = lstm_input(), lstm_weights()
    theirs = torch_step(torch, x, weights) if torch is not None else None
    for fused in (True, False):
        label = f"{'fused' if fused else 'reference'} loop"
        compare_pair(
            f"LSTM fwd+bwd, {label}", ours_step(x, weights, fused), theirs, repeats, warmup
        )


if __name__ == "__main__":
    main()
