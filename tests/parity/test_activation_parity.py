"""Parity of every activation with PyTorch (skipped without torch): forward values and input
gradients (and PReLU's weight gradient) in float64 to 1e-10, on inputs kept off the kinks."""

import numpy as np
import pytest
from helpers import assert_pairs_close, run_with_torch

from minigrad import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def off_kinks(shape, low, high, kinks, seed):
    """Uniform values in [low, high] pushed at least 0.05 away from each kink."""
    x = np.random.default_rng(seed).uniform(low, high, shape)
    for k in kinks:
        near = np.abs(x - k) < 0.05
        x[near] = k + np.where(x[near] >= k, 0.05, -0.05)
    return x


# name: (ours, torch's, kinks). PyTorch's own float64 gradients of hardsigmoid and of celu with
# alpha != 1 use float32 constants (1.0f / 6; 1 / alpha rounded to float): they are off by ~5e-9
# absolute, so those two gradients are compared with the exact formula instead (EXACT_GRADS).
CASES = {
    "sigmoid": (F.sigmoid, torch.sigmoid, ()),
    "tanh": (F.tanh, torch.tanh, ()),
    "relu": (F.relu, TF.relu, (0,)),
    "relu6": (F.relu6, TF.relu6, (0, 6)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), (0,)),
    "rrelu_eval": (F.rrelu, TF.rrelu, (0,)),
    "elu": (lambda x: F.elu(x, 0.8), lambda x: TF.elu(x, 0.8), (0,)),
    "selu": (F.selu, TF.selu, (0,)),
    "celu": (lambda x: F.celu(x, 1.7), lambda x: TF.celu(x, 1.7), (0,)),
    "celu_alpha1": (F.celu, TF.celu, (0,)),
    "gelu": (F.gelu, TF.gelu, ()),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), lambda x: TF.gelu(x, approximate="tanh"), ()),
    "silu": (F.silu, TF.silu, ()),
    "mish": (F.mish, TF.mish, ()),
    "softplus": (F.softplus, TF.softplus, ()),
    "softplus_beta": (
        lambda x: F.softplus(x, beta=2.0, threshold=5.0),
        lambda x: TF.softplus(x, beta=2.0, threshold=5.0),
        (2.5,),
    ),
    "softsign": (F.softsign, TF.softsign, ()),
    "hardtanh": (lambda x: F.hardtanh(x, -2, 3), lambda x: TF.hardtanh(x, -2, 3), (-2, 3)),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid, (-3, 3)),
    "hardswish": (F.hardswish, TF.hardswish, (-3, 3)),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid, ()),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink, ()),
    "softshrink": (lambda x: F.softshrink(x, 1.5), lambda x: TF.softshrink(x, 1.5), (-1.5, 1.5)),
    "hardshrink": (lambda x: F.hardshrink(x, 1.5), lambda x: TF.hardshrink(x, 1.5), (-1.5, 1.5)),
    "threshold": (lambda x: F.threshold(x, 0.5, -3), lambda x: TF.threshold(x, 0.5, -3), (0.5,)),
    "glu": (lambda x: F.glu(x, 1), lambda x: TF.glu(x, 1), ()),
    "softmax": (lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1), ()),
    "log_softmax": (lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1), ()),
    "softmin": (lambda x: F.softmin(x, 0), lambda x: TF.softmin(x, 0), ()),
}


EXACT_GRADS = {
    "celu": lambda x: np.where(x > 0, 1.0, np.exp(x / 1.7)),
    "hardsigmoid": lambda x: np.where(np.abs(x) < 3, 1 / 6, 0.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_matches_torch(name, device):
    ours, theirs, kinks = CASES[name]
    x = off_kinks((4, 6, 3), -8.0, 8.0, kinks, seed=len(name))
    (y, y_ref), (dx, dx_ref) = run_with_torch(torch, ours, theirs, [x], device)
    if name in EXACT_GRADS:
        dout = np.random.default_rng(0).standard_normal(x.shape)
        dx_ref = dout * EXACT_GRADS[name](x)
    assert_pairs_close([(y, y_ref), (dx, dx_ref)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_extreme_logits_match_torch(name, device):
    ours, theirs, _ = CASES[name]
    x = np.array([[1e4, -1e4, 30.0, -30.0], [-1e4, -1e4, 1e4, 1e4]])
    assert_pairs_close(run_with_torch(torch, ours, theirs, [x], device))


@pytest.mark.parametrize(
    "shape, channels", [((4, 3, 5), 3), ((4, 3, 5), 1), ((5, 4), 4), ((6,), 1)]
)
def test_prelu_matches_torch(shape, channels, device):
    x = off_kinks(shape, -3.0, 3.0, (0,), seed=1)
    w = np.random.default_rng(2).uniform(-0.5, 0.5, channels)
    assert_pairs_close(run_with_torch(torch, F.prelu, TF.prelu, [x, w], device))


def test_rrelu_training_matches_torch_given_the_same_slopes(device):
    x = off_kinks((5, 7), -3.0, 3.0, (0,), seed=3)
    noise = np.random.default_rng(4).uniform(0.1, 0.3, x.shape)

    def theirs(t):
        # PyTorch draws its own slopes; y = x * slope below zero is its definition
        return torch.where(t >= 0, t, t * torch.from_numpy(noise))

    ours = lambda t: F.rrelu(t, 0.1, 0.3, training=True, noise=noise)  # noqa: E731
    assert_pairs_close(run_with_torch(torch, ours, theirs, [x], device))
