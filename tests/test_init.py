"""Tests for minigrad/nn/init.py: statistics of large tensors, fan conventions, gains."""

import math

import numpy as np
import pytest

import minigrad
from minigrad.nn import Parameter, init


def big(shape, device="cpu"):
    return Parameter(minigrad.zeros(*shape, device=device))


def stats(t):
    a = t.numpy().astype(np.float64)
    return a.mean(), a.std(), a.min(), a.max()


# --------------------------------------------------------------------------- gains and fans


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="'x'"):
        init.calculate_gain("leaky_relu", "x")


def test_fans_of_linear_and_conv_weights():
    fans = init._calculate_fan_in_and_fan_out
    assert fans(minigrad.zeros(10, 20)) == (20, 10)
    # conv weight (out, in/groups, kh, kw): in/groups = 3 with groups=2 and 6 input channels
    assert fans(minigrad.zeros(8, 3, 5, 2)) == (3 * 5 * 2, 8 * 5 * 2)
    assert fans(minigrad.zeros(4, 2, 7)) == (14, 28)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        fans(minigrad.zeros(5))


# --------------------------------------------------------------------------- statistics


def test_plain_fills(device):
    t = big((200, 300), device)
    mean, std, low, high = stats(init.uniform_(t, -2.0, 4.0))
    assert t.device == device and t.dtype == "float32"
    assert low >= -2.0 and high < 4.0
    assert mean == pytest.approx(1.0, abs=0.03)
    assert std == pytest.approx(6 / math.sqrt(12), rel=0.02)
    mean, std, _, _ = stats(init.normal_(t, 3.0, 0.5))
    assert mean == pytest.approx(3.0, abs=0.01) and std == pytest.approx(0.5, rel=0.02)
    assert np.all(init.constant_(t, 0.25).numpy() == 0.25)
    assert np.all(init.zeros_(t).numpy() == 0) and np.all(init.ones_(t).numpy() == 1)


@pytest.mark.parametrize("shape", [(256, 512), (64, 32, 3, 5)])
def test_xavier(shape, device):
    fan_in = shape[1] * math.prod(shape[2:])
    fan_out = shape[0] * math.prod(shape[2:])
    expected = 0.7 * math.sqrt(2 / (fan_in + fan_out))
    _, std, low, high = stats(init.xavier_uniform_(big(shape, device), gain=0.7))
    assert std == pytest.approx(expected, rel=0.05)
    assert max(-low, high) <= 0.7 * math.sqrt(6 / (fan_in + fan_out))
    _, std, _, _ = stats(init.xavier_normal_(big(shape, device), gain=0.7))
    assert std == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming(mode, device):
    shape = (48, 16, 3, 4)  # fan_in 192, fan_out 576
    fan = 192 if mode == "fan_in" else 576
    t = init.kaiming_uniform_(big(shape, device), a=0, mode=mode, nonlinearity="relu")
    _, std, low, high = stats(t)
    assert std == pytest.approx(math.sqrt(2 / fan), rel=0.05)
    assert max(-low, high) <= math.sqrt(6 / fan)
    t = init.kaiming_normal_(big(shape, device), mode=mode, nonlinearity="relu")
    assert stats(t)[1] == pytest.approx(math.sqrt(2 / fan), rel=0.05)


def test_kaiming_default_of_linear_is_one_over_sqrt_fan_in():
    # a = sqrt(5) with leaky_relu: gain^2 = 1/3, bound = sqrt(3) * gain / sqrt(fan_in)
    t = init.kaiming_uniform_(big((300, 400)), a=math.sqrt(5))
    _, std, low, high = stats(t)
    assert max(-low, high) <= 1 / math.sqrt(400)
    assert std == pytest.approx(1 / math.sqrt(400) / math.sqrt(3), rel=0.05)


def test_lecun(device):
    _, std, low, high = stats(init.lecun_uniform_(big((200, 300), device)))
    assert std == pytest.approx(math.sqrt(1 / 300), rel=0.05)
    assert max(-low, high) <= math.sqrt(3 / 300)
    assert stats(init.lecun_normal_(big((200, 300), device)))[1] == pytest.approx(
        math.sqrt(1 / 300), rel=0.05
    )


@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (6, 2, 3, 3)])
def test_orthogonal(shape, device):
    t = init.orthogonal_(big(shape, device), gain=2.0)
    assert t.shape == shape and t.device == device
    w = t.numpy().astype(np.float64).reshape(shape[0], -1) / 2.0
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def test_seeded_and_in_place():
    minigrad.seed(7)
    a = big((3, 4))
    same = init.normal_(a)
    first = a.numpy().copy()
    minigrad.seed(7)
    np.testing.assert_array_equal(init.normal_(big((3, 4))).numpy(), first)
    assert same is a and a.requires_grad and a.grad is None


def test_errors():
    with pytest.raises(TypeError, match="ndarray"):
        init.zeros_(np.zeros(3))
    with pytest.raises(TypeError, match="int64"):
        init.normal_(minigrad.tensor(np.arange(4)))
    with pytest.raises(ValueError, match="'fan_avg'"):
        init.kaiming_uniform_(big((3, 3)), mode="fan_avg")


# --------------------------------------------------------------------------- LSUV


def _output_stds(model, x):
    """The std of every Linear's output during model(x), by forward hooks."""
    stds = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, y: stds.append(float(y.numpy().std())))
        for m in model.modules()
        if isinstance(m, minigrad.nn.Linear)
    ]
    with minigrad.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return stds


def test_lsuv_gives_every_layer_unit_output_variance(device):
    minigrad.seed(0)
    nn = minigrad.nn
    layers = [nn.Linear(30, 64), nn.Tanh(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)]
    model = nn.Sequential(*layers, nn.Dropout(0.5)).to(device)
    model.train()
    x = minigrad.randn(256, 30, device=device) * 5
    assert init.lsuv_(model, x, tol=0.02) is model
    assert all(m.training for m in model.modules())  # modes restored
    for std in _output_stds(model.eval(), x):
        assert abs(std**2 - 1) < 0.02
    assert model[0].bias.numpy().tolist() == [0.0] * 64


def test_lsuv_needs_a_layer_to_scale():
    with pytest.raises(ValueError, match="no Linear or Conv layer"):
        init.lsuv_(minigrad.nn.Sequential(minigrad.nn.ReLU()), minigrad.randn(2, 3))


def test_init_writes_into_the_parameter_array():
    layer = minigrad.nn.Linear(4, 3)
    array, version = layer.weight.data, layer.weight._version
    init.constant_(layer.weight, 0.5)
    assert layer.weight.data is array and layer.weight._version == version + 1
    np.testing.assert_array_equal(layer.weight.numpy(), np.full((3, 4), 0.5, np.float32))
