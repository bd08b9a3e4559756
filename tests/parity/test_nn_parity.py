"""Parity of nn modules with PyTorch (skipped without torch): Linear/Embedding math, state-dict
key names, default-init fans and gains, reprs, and loading a PyTorch state dict."""

import math

import numpy as np
import pytest

import minigrad
from minigrad import backend, nn
from minigrad.nn import init

torch = pytest.importorskip("torch")


def test_linear_forward_backward_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 7))
    w = rng.standard_normal((5, 7))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((4, 3, 5))

    ours = nn.Linear(7, 5, dtype="float64")
    ours.load_state_dict({"weight": w, "bias": b})
    xt = minigrad.tensor(x, dtype="float64", requires_grad=True)
    y = ours(xt)
    y.backward(minigrad.tensor(dout, dtype="float64"))

    ref = torch.nn.Linear(7, 5, dtype=torch.float64)
    ref.load_state_dict({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)})
    xr = torch.from_numpy(x).requires_grad_()
    yr = ref(xr)
    yr.backward(torch.from_numpy(dout))

    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(backend.to_host(xt.grad), xr.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        backend.to_host(ours.weight.grad), ref.weight.grad.numpy(), rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(
        backend.to_host(ours.bias.grad), ref.bias.grad.numpy(), rtol=0, atol=1e-10
    )


def test_embedding_with_padding_float64():
    rng = np.random.default_rng(1)
    table = rng.standard_normal((6, 3))
    ids = np.array([[0, 2, 2], [5, 1, 2]])
    dout = rng.standard_normal((2, 3, 3))
    ours = nn.Embedding(6, 3, padding_idx=2, dtype="float64")
    ours.load_state_dict({"weight": table})
    ours(ids).backward(minigrad.tensor(dout, dtype="float64"))
    ref = torch.nn.Embedding(6, 3, padding_idx=2, dtype=torch.float64)
    ref.load_state_dict({"weight": torch.from_numpy(table)})
    ref(torch.from_numpy(ids)).backward(torch.from_numpy(dout))
    np.testing.assert_allclose(
        backend.to_host(ours.weight.grad), ref.weight.grad.numpy(), rtol=0, atol=1e-12
    )


def _models():
    ours = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, (3, 2), groups=2, bias=False),
        nn.Flatten(),
        nn.Linear(6 * 2 * 3, 5),
        nn.Sequential(nn.Identity(), nn.Linear(5, 2)),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, (3, 2), groups=2, bias=False),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * 2 * 3, 5),
        torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(5, 2)),
    )
    return ours, theirs


def test_state_dict_keys_and_shapes_match():
    ours, theirs = _models()
    ours_state = ours.state_dict()
    theirs_state = theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert tuple(ours_state[key].shape) == tuple(value.shape), key


def test_reprs_match():
    ours, theirs = _models()
    for a, b in zip(ours, theirs):
        if not isinstance(a, nn.MaxPool2d):  # torch prints no dilation/ceil_mode defaults
            assert repr(a) == repr(b)
    assert repr(nn.Linear(3, 2, bias=False)) == repr(torch.nn.Linear(3, 2, bias=False))
    assert repr(nn.Embedding(5, 2, padding_idx=0)) == repr(torch.nn.Embedding(5, 2, padding_idx=0))
    assert repr(nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)) == repr(
        torch.nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)
    )


def test_torch_state_dict_loads_into_minigrad():
    ours, theirs = _models()
    if not hasattr(minigrad.functional, "max_pool2d"):
        pytest.skip("F.max_pool2d not available yet")
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((2, 1, 8, 8)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(minigrad.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(10, 20), (8, 3, 5, 2), (4, 2, 7), (6, 4, 1, 1)])
def test_fans_match_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(minigrad.zeros(*shape))
    theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    assert ours == theirs


@pytest.mark.parametrize(
    "name, param",
    [
        ("linear", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", math.sqrt(5)),
        ("selu", None),
        ("conv_transpose2d", None),
        ("sigmoid", None),
    ],
)
def test_gains_match_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-12
    )


def test_default_init_bounds_match_torch():
    # the same U(-bound, bound): with hundreds of weights the largest |w| sits just under it
    for ours, theirs in [
        (nn.Linear(300, 200), torch.nn.Linear(300, 200)),
        (nn.Conv2d(8, 16, 3, groups=2), torch.nn.Conv2d(8, 16, 3, groups=2)),
        (nn.ConvTranspose2d(8, 16, 3, groups=2), torch.nn.ConvTranspose2d(8, 16, 3, groups=2)),
    ]:
        a = np.abs(ours.weight.numpy()).max()
        b = theirs.weight.detach().abs().max().item()
        assert a == pytest.approx(b, rel=0.02), type(ours).__name__
