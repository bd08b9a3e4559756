"""Tests for minigrad/nn/layers.py: layouts, default init, forward against NumPy, gradcheck
through module parameters; conv and pool modules only lightly (their math is tested in F)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
from minigrad import backend, nn
from minigrad import functional as F
from minigrad.gradcheck import gradcheck


def host(t):
    return t.numpy().astype(np.float64)


# --------------------------------------------------------------------------- shape layers


def test_identity_flatten_unflatten(device):
    x = minigrad.randn(2, 3, 4, 5, device=device)
    assert nn.Identity(7, key=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    y = nn.Unflatten(1, (6, 10))(nn.Flatten()(x))
    assert y.shape == (2, 6, 10)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(2, 6, 10))
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Unflatten(1, (2, 3))) == "Unflatten(dim=1, unflattened_size=(2, 3))"


# --------------------------------------------------------------------------- Linear


def test_linear_layout_and_default_init():
    minigrad.seed(0)
    layer = nn.Linear(400, 300)
    assert layer.weight.shape == (300, 400) and layer.bias.shape == (300,)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    bound = 1 / math.sqrt(400)
    w, b = host(layer.weight), host(layer.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound) has std bound / sqrt(3)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(w).max() > 0.95 * bound
    assert repr(layer) == "Linear(in_features=400, out_features=300, bias=True)"
    assert nn.Linear(2, 3, bias=False).bias is None


def test_linear_device_and_dtype(device):
    layer = nn.Linear(3, 2, device=device, dtype="float64")
    assert layer.weight.device == device and layer.weight.dtype == "float64"
    assert layer.weight.requires_grad


def test_linear_forward_and_gradcheck(device):
    rng = np.random.default_rng(1)
    layer = nn.Linear(4, 3).to(device)
    x = rng.standard_normal((2, 5, 4))
    y = layer(minigrad.tensor(x, device=device, dtype="float32"))
    expected = x @ host(layer.weight).T + host(layer.bias)
    np.testing.assert_allclose(host(y), expected, rtol=1e-5, atol=1e-5)
    gradcheck(layer, [x], params=list(layer.parameters()), device=device)


def test_linear_errors():
    with pytest.raises(ValueError, match="in_features must be a positive int, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="input has 5 features, weight expects 4"):
        nn.Linear(4, 3)(minigrad.randn(2, 5))


# --------------------------------------------------------------------------- Embedding


def test_embedding_init_and_padding(device):
    minigrad.seed(0)
    emb = nn.Embedding(1000, 64, padding_idx=-1, device=device)
    w = host(emb.weight)
    assert emb.padding_idx == 999 and np.all(w[999] == 0)
    assert w[:999].mean() == pytest.approx(0, abs=0.01)
    assert w[:999].std() == pytest.approx(1, rel=0.02)
    ids = minigrad.tensor(np.array([[1, 999, 1]]), device=device)
    out = emb(ids)
    assert out.shape == (1, 3, 64)
    np.testing.assert_array_equal(host(out)[0, 1], 0)
    out.sum().backward()
    grad = backend.to_host(emb.weight.grad)
    assert np.all(grad[999] == 0) and np.all(grad[1] == 2)
    assert repr(emb) == "Embedding(1000, 64, padding_idx=999)"


def test_embedding_gradcheck(device):
    emb = nn.Embedding(5, 3).to(device)
    ids = np.array([[0, 4, 4], [2, 0, 1]])
    gradcheck(emb, [ids], params=[emb.weight], device=device)


def test_embedding_from_pretrained():
    table = np.arange(12.0).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad and emb.weight.dtype == "float64"
    np.testing.assert_array_equal(host(emb([3, 0])), table[[3, 0]])
    with pytest.raises(ValueError, match="padding_idx 9"):
        nn.Embedding(4, 2, padding_idx=9)


# --------------------------------------------------------------------------- Maxout


def test_maxout_matches_numpy_and_gradcheck(device):
    rng = np.random.default_rng(2)
    layer = nn.Maxout(4, 3, pool_size=2).to(device)
    assert layer.weight.shape == (6, 4)
    x = rng.standard_normal((5, 4))
    z = x @ host(layer.weight).T + host(layer.bias)
    expected = z.reshape(5, 3, 2).max(axis=-1)
    y = layer(minigrad.tensor(x, device=device, dtype="float32"))
    np.testing.assert_allclose(host(y), expected, rtol=1e-5, atol=1e-5)
    gradcheck(layer, [x], params=list(layer.parameters()), device=device)
    assert repr(layer) == "Maxout(in_features=4, out_features=3, pool_size=2)"


# --------------------------------------------------------------------------- conv and pools


def test_conv_layouts_init_and_repr():
    conv = nn.Conv2d(6, 8, (3, 5), stride=2, padding=1, groups=2)
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    bound = 1 / math.sqrt(3 * 3 * 5)
    assert np.abs(host(conv.weight)).max() <= bound
    assert np.abs(host(conv.bias)).max() <= bound
    assert repr(conv) == (
        "Conv2d(6, 8, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), groups=2)"
    )
    assert nn.Conv1d(4, 2, 3, bias=False).weight.shape == (2, 4, 3)
    assert "bias=False" in repr(nn.Conv1d(4, 2, 3, bias=False))
    up = nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2)
    assert up.weight.shape == (6, 2, 2, 2) and up.bias.shape == (4,)
    assert np.abs(host(up.weight)).max() <= 1 / math.sqrt(2 * 2 * 2)
    assert list(nn.Sequential(conv, nn.Flatten()).state_dict()) == ["0.weight", "0.bias"]


def test_conv_argument_errors():
    with pytest.raises(ValueError, match="divisible by groups 2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="'full'"):
        nn.Conv2d(3, 4, 3, padding="full")


def test_conv_forward_shapes(device):
    x = minigrad.randn(2, 3, 7, 9, device=device)
    assert nn.Conv2d(3, 4, 3).to(device)(x).shape == (2, 4, 5, 7)
    assert nn.Conv2d(3, 4, 3, padding="same").to(device)(x).shape == (2, 4, 7, 9)
    assert nn.Conv2d(3, 4, (3, 1), stride=(2, 1)).to(device)(x).shape == (2, 4, 3, 9)
    y = nn.Conv1d(3, 5, 3, padding=1).to(device)(minigrad.randn(2, 3, 8, device=device))
    assert y.shape == (2, 5, 8)


def test_conv2d_module_calls_f_conv2d():
    conv = nn.Conv2d(2, 3, 2, stride=1, padding=1, dilation=1)
    x = minigrad.randn(1, 2, 4, 5)
    expected = F.conv2d(x, conv.weight, conv.bias, 1, 1, 1, 1)
    np.testing.assert_array_equal(conv(x).numpy(), expected.numpy())


def test_conv_transpose_forward_shape():
    if not hasattr(F, "conv_transpose2d"):
        pytest.skip("F.conv_transpose2d not available yet")
    up = nn.ConvTranspose2d(3, 4, 2, stride=2)
    assert up(minigrad.randn(2, 3, 4, 5)).shape == (2, 4, 8, 10)


def test_pool_modules():
    if not hasattr(F, "max_pool2d"):
        pytest.skip("pooling functions not available yet")
    x = minigrad.randn(2, 3, 8, 6)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 3)
    assert nn.AvgPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 8, 6)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    assert nn.AdaptiveAvgPool2d((2, 3))(x).shape == (2, 3, 2, 3)
    seq = minigrad.randn(2, 3, 9)
    assert nn.MaxPool1d(3)(seq).shape == (2, 3, 3)
    assert nn.AvgPool1d(2, stride=1)(seq).shape == (2, 3, 8)
    assert repr(nn.MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    )
    assert list(nn.MaxPool2d(2).parameters()) == []


@given(
    x=hnp.arrays(np.float64, (2, 3, 5, 6), elements=st.integers(-2, 2).map(float)),
    upstream=hnp.arrays(np.float64, (2, 3, 6, 7), elements=st.integers(-3, 3).map(float)),
    pool=st.sampled_from([(2, None, 0), (3, 2, 1), (2, 1, 1), (3, 1, 0)]),
)
def test_max_pool_then_relu_equals_relu_then_max_pool(x, upstream, pool, device):
    # why the examples write MaxPool2d before ReLU (the ReLU then touches a smaller array):
    # the two commute, values and gradients alike. Small integers: ties at positive values,
    # at zero and below it in most windows
    kernel, stride, padding = pool
    pool_first = nn.Sequential(nn.MaxPool2d(kernel, stride, padding), nn.ReLU())
    relu_first = nn.Sequential(nn.ReLU(), nn.MaxPool2d(kernel, stride, padding))
    inputs = [minigrad.tensor(x, device=device, requires_grad=True) for _ in "ab"]
    outs = [model(t) for model, t in zip((pool_first, relu_first), inputs)]
    np.testing.assert_array_equal(outs[0].numpy(), outs[1].numpy())
    grad = minigrad.tensor(upstream[..., : outs[0].shape[2], : outs[0].shape[3]], device=device)
    for out in outs:
        out.backward(grad)
    np.testing.assert_array_equal(backend.to_host(inputs[0].grad), backend.to_host(inputs[1].grad))


def test_sequential_runs_modules_in_declared_order():
    seen = []
    modules = [nn.ReLU(), nn.MaxPool1d(2), nn.Identity()]
    for module in modules:
        module.register_forward_hook(lambda m, inputs, out: seen.append(type(m).__name__))
    out = nn.Sequential(*modules)(minigrad.randn(2, 3, 8))
    assert seen == ["ReLU", "MaxPool1d", "Identity"] and out.shape == (2, 3, 4)
    out = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))(minigrad.randn(1, 2, 4, 4, requires_grad=True))
    assert type(out._ctx).__name__ == "MaxPool"  # the last module declared ran last


def test_summary_of_a_small_cnn(device):
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 2, 10, dtype="float64"),
    ).to(device)
    table = model.summary((2, 1, 6, 5), print_fn=None)
    lines = table.splitlines()
    assert lines[2].split()[:2] == ["0", "Conv2d"] and "(2, 4, 6, 5)" in lines[2]
    assert "(2, 4, 3, 2)" in lines[3] and "(2, 24)" in lines[4] and "(2, 10)" in lines[5]
    assert lines[5].endswith("250") and lines[-1].startswith("total params: 290")


def test_padding_layers_on_every_device_and_their_errors(device):
    x = minigrad.tensor(np.arange(12.0).reshape(1, 3, 4), device=device, requires_grad=True)
    y = nn.ZeroPad2d((1, 0, 2, 0))(x)  # one column on the left, two rows on top
    assert y.shape == (1, 5, 5) and y.device == device
    np.testing.assert_array_equal(y.numpy()[:, 2:, 1:], x.numpy())
    assert float(y.sum().item()) == float(x.sum().item())
    y.sum().backward()
    np.testing.assert_array_equal(backend.to_host(x.grad), np.ones((1, 3, 4)))
    mirrored = nn.ReflectionPad1d(2)(minigrad.tensor([[1.0, 2.0, 3.0]], device=device))
    np.testing.assert_array_equal(mirrored.numpy(), [[3, 2, 1, 2, 3, 2, 1]])
    assert list(nn.ConstantPad2d(1, 3.0).parameters()) == []
    with pytest.raises(ValueError, match="4 ints"):
        nn.ZeroPad2d((1, 2, 3))
    with pytest.raises(ValueError, match="negative"):
        nn.ZeroPad1d(-1)
    with pytest.raises(ValueError, match="2 ints"):
        nn.ReplicationPad1d(True)
    with pytest.raises(ValueError, match="3-d or 4-d"):
        nn.ZeroPad2d(1)(minigrad.tensor(np.zeros((1, 1, 2, 2, 2)), device=device))
    with pytest.raises(ValueError, match="must be < the size"):
        nn.ReflectionPad1d(3)(minigrad.tensor([[1.0, 2.0, 3.0]], device=device))
