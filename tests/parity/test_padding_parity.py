"""Parity of the padding layers (nn.ZeroPad2d, nn.ReflectionPad1d, ...) with PyTorch's (skipped
without torch): values, the input gradient and repr, every mode and dimension count."""

import numpy as np
import pytest
from helpers import assert_pairs_close, run_with_torch

from minigrad import nn

torch = pytest.importorskip("torch")

MODES = ["Zero", "Constant", "Reflection", "Replication", "Circular"]
# (dims, input shape, padding): batched and unbatched inputs, ints and uneven tuples
CASES = [
    (1, (2, 3, 6), 2),
    (1, (3, 5), (1, 3)),
    (2, (2, 2, 5, 6), (1, 0, 1, 0)),
    (2, (3, 4, 5), (2, 1, 0, 3)),
    (3, (1, 2, 4, 5, 6), 1),
    (3, (2, 4, 4, 5), (1, 2, 0, 1, 2, 0)),
]


def layers(mode, dims, padding):
    """Our layer and PyTorch's, built with the same arguments."""
    name = f"{mode}Pad{dims}d"
    args = (padding, 2.5) if mode == "Constant" else (padding,)
    return getattr(nn, name)(*args), getattr(torch.nn, name)(*args)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dims, shape, padding", CASES)
def test_padding_layer_matches_torch(mode, dims, shape, padding):
    ours, theirs = layers(mode, dims, padding)
    x = np.random.default_rng(dims + len(shape)).standard_normal(shape)
    # the values, and the gradient: reflected and wrapped entries collect several gradients
    assert_pairs_close(run_with_torch(torch, ours, theirs, [x]), rtol=0, atol=1e-12)
    assert repr(ours) == repr(theirs)
    assert ours.padding == theirs.padding
