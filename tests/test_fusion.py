"""BatchNorm folding (nn.utils.fusion): in eval mode the fused layer's output equals
layer -> BatchNorm's, for conv, transposed conv and linear layers and whole Sequentials."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, nn
from minigrad.nn.utils import fusion


def trained_bn(bn, rng):
    """Give a BatchNorm non-trivial running statistics and affine parameters."""
    c = bn.num_features
    bn.running_mean.data = backend.to_device(rng.uniform(-1, 1, c), bn.running_mean.device)
    bn.running_var.data = backend.to_device(rng.uniform(0.3, 3, c), bn.running_var.device)
    if bn.weight is not None:
        bn.weight.data = backend.to_device(rng.uniform(-2, 2, c), bn.weight.device)
        bn.bias.data = backend.to_device(rng.uniform(-1, 1, c), bn.bias.device)
    return bn


def model(device):
    rng = np.random.default_rng(0)
    kw = dict(dtype="float64", device=device)
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False, **kw), nn.BatchNorm2d(3, **kw)),
        nn.ReLU(),
        nn.ConvTranspose2d(3, 4, 2, stride=2, **kw),
        nn.BatchNorm2d(4, affine=False, **kw),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 5, **kw),
        nn.BatchNorm1d(5, **kw),
    )
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            trained_bn(m, rng)
    return net.eval()


def test_fused_model_equals_the_original_in_eval_mode(device):
    net = model(device)
    fused = fusion.fuse_batchnorm(net)
    assert [type(m).__name__ for m in fused.modules()].count("Identity") == 3
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in fused.modules())
    x = mg.tensor(np.random.default_rng(1).standard_normal((3, 2, 4, 4)), device=device)
    np.testing.assert_allclose(fused(x).numpy(), net(x).numpy(), rtol=1e-10, atol=1e-12)
    # the original is untouched
    assert isinstance(net[0][1], nn.BatchNorm2d)


def test_fuse_linear_bn_eval(device):
    rng = np.random.default_rng(2)
    linear = nn.Linear(4, 3, dtype="float64", device=device).eval()
    bn = trained_bn(nn.BatchNorm1d(3, dtype="float64", device=device), rng).eval()
    fused = fusion.fuse_linear_bn_eval(linear, bn)
    x = mg.tensor(rng.standard_normal((5, 4)), device=device)
    np.testing.assert_allclose(fused(x).numpy(), bn(linear(x)).numpy(), rtol=1e-10)
    assert fused is not linear


def test_fusion_refuses_training_mode_and_mismatched_sizes():
    linear, bn = nn.Linear(4, 3), nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="Fusion only for eval!"):
        fusion.fuse_linear_bn_eval(linear, bn)
    with pytest.raises(ValueError, match="linear.out_features must equal bn.num_features"):
        fusion.fuse_linear_bn_eval(nn.Linear(4, 2).eval(), bn.eval())
