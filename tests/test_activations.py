"""Tests of functional/activations.py and nn/activations.py: forward against NumPy references
written here, backward by gradcheck on kink-free inputs, stability at +-1e4 with no warnings."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import F, nn
from minigrad.functional.special import erf, erf_array, erfc, erfc_array
from minigrad.gradcheck import gradcheck

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # NumPy overflow/NaN warnings

SMALL = mt.shapes(max_dims=3, max_side=3)
SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. 2017
SELU_SCALE = 1.0507009873554804934193349852946
np_erf = np.vectorize(math.erf)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def run(fn, x, device):
    return fn(mg.tensor(x, device=device)).numpy()


# name: (function, NumPy reference, kinks, low, high)
CASES = {
    "sigmoid": (F.sigmoid, np_sigmoid, (), -6, 6),
    "tanh": (F.tanh, np.tanh, (), -4, 4),
    "relu": (F.relu, lambda x: np.maximum(x, 0), (0.0,), -3, 3),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6), (0.0, 6.0), -3, 8),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.1),
        lambda x: np.where(x > 0, x, 0.1 * x),
        (0.0,),
        -3,
        3,
    ),
    "rrelu_eval": (
        F.rrelu,
        lambda x: np.where(x > 0, x, x * (1 / 8 + 1 / 3) / 2),
        (0.0,),
        -3,
        3,
    ),
    "elu": (
        lambda x: F.elu(x, 1.3),
        lambda x: np.where(x > 0, x, 1.3 * (np.exp(x) - 1)),
        (0.0,),
        -4,
        3,
    ),
    "selu": (
        F.selu,
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
        (0.0,),
        -4,
        3,
    ),
    "celu": (
        lambda x: F.celu(x, 0.7),
        lambda x: np.maximum(0, x) + np.minimum(0, 0.7 * (np.exp(x / 0.7) - 1)),
        (0.0,),
        -4,
        3,
    ),
    "gelu": (F.gelu, lambda x: 0.5 * x * (1 + np_erf(x / np.sqrt(2))), (), -5, 5),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        (),
        -5,
        5,
    ),
    "silu": (F.silu, lambda x: x * np_sigmoid(x), (), -6, 6),
    "swish": (lambda x: F.swish(x, 1.7), lambda x: x * np_sigmoid(1.7 * x), (), -6, 6),
    "mish": (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), (), -6, 6),
    "softplus": (
        lambda x: F.softplus(x, beta=1.5, threshold=2.0),
        lambda x: np.where(1.5 * x > 2, x, np.log1p(np.exp(1.5 * x)) / 1.5),
        (2.0 / 1.5,),
        -5,
        5,
    ),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x)), (), -4, 4),
    "hardtanh": (
        lambda x: F.hardtanh(x, -0.5, 1.5),
        lambda x: np.clip(x, -0.5, 1.5),
        (-0.5, 1.5),
        -3,
        3,
    ),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1), (-3.0, 3.0), -5, 5),
    "hardswish": (
        F.hardswish,
        lambda x: x * np.clip(x + 3, 0, 6) / 6,
        (-3.0, 3.0),
        -5,
        5,
    ),
    "logsigmoid": (F.logsigmoid, lambda x: -np.log1p(np.exp(-x)), (), -6, 6),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x), (), -3, 3),
    "softshrink": (
        lambda x: F.softshrink(x, 0.7),
        lambda x: np.where(x > 0.7, x - 0.7, np.where(x < -0.7, x + 0.7, 0.0)),
        (-0.7, 0.7),
        -3,
        3,
    ),
    "hardshrink": (
        lambda x: F.hardshrink(x, 0.7),
        lambda x: np.where(np.abs(x) > 0.7, x, 0.0),
        (-0.7, 0.7),
        -3,
        3,
    ),
    "threshold": (
        lambda x: F.threshold(x, 0.4, -1.5),
        lambda x: np.where(x > 0.4, x, -1.5),
        (0.4,),
        -3,
        3,
    ),
}


# --------------------------------------------------------------------------- erf


def test_erf_matches_math_erf_to_1e15():
    x = np.concatenate(
        [
            np.linspace(-30.0, 30.0, 60001),
            np.logspace(-300, 1.5, 3000),
            -np.logspace(-300, 1.5, 3000),
            [0.0, 0.46875, -0.46875, 4.0, -4.0, 26.5, 27.5, 1e4, -1e300],
        ]
    )
    erf_ref = np_erf(x)
    erfc_ref = np.vectorize(math.erfc)(x)
    erf_err = np.abs(erf_array(x) - erf_ref) / np.maximum(np.abs(erf_ref), 1e-300)
    erfc_err = np.abs(erfc_array(x) - erfc_ref) / np.maximum(erfc_ref, 1e-300)
    assert erf_err.max() < 1e-15
    assert erfc_err[erfc_ref > 1e-300].max() < 2e-15
    assert np.all(erfc_array(np.array([30.0, 1e4])) == 0.0)


def test_single_precision_erfc_matches_math_erfc(device):
    # float32 takes the shorter Numerical Recipes formula: its error must stay at the level
    # of float32 rounding (Cody's formulas evaluated in float32 reach 6.9e-7)
    x = np.concatenate(
        [
            np.linspace(-12.0, 12.0, 240001),
            np.random.default_rng(0).standard_normal(20000) * 3,
            [0.0, -0.0, 9.5, 10.5, 13.0, 1e30, -1e30, np.inf, -np.inf],
        ]
    ).astype(np.float32)
    got = mg.backend.to_host(erfc_array(mg.backend.to_device(x, device, dtype="float32")))
    assert got.dtype == np.float32
    ref = np.vectorize(math.erfc)(x.astype(np.float64))
    normal = ref > np.finfo(np.float32).tiny
    rel = np.abs(got.astype(np.float64) - ref)[normal] / ref[normal]
    assert rel.max() < 6e-7
    assert np.abs(got.astype(np.float64) - ref)[~normal].max() < 1e-44  # subnormals, zeros
    assert got[x == np.inf] == 0.0 and got[x == -np.inf] == 2.0


def test_gelu_float32_matches_the_float64_formula(device):
    x = np.linspace(-12.0, 12.0, 4801)
    y32 = F.gelu(mg.tensor(x, dtype="float32", device=device)).numpy()
    y64 = F.gelu(mg.tensor(x, dtype="float64", device=device)).numpy()
    assert y32.dtype == np.float32
    # Phi(x) for x << 0 is ill-conditioned: rounding x/sqrt(2) to float32 (relative 6e-8)
    # moves it by a relative x^2 * 6e-8, whatever the formula; allow twice that
    bound = np.abs(y64) * (1e-6 + x * x * 1.2e-7) + 1e-37
    assert np.all(np.abs(y32 - y64) <= bound)
    assert np.abs(y32 - y64)[np.abs(x) < 3].max() < 1e-6  # where GELU's values live


def test_erf_on_device(device):
    x = np.linspace(-6.0, 6.0, 241)
    got = mg.backend.to_host(erf_array(mg.backend.to_device(x, device)))
    np.testing.assert_allclose(got, np_erf(x), rtol=1e-15, atol=1e-16)


@given(x=mt.arrays(SMALL, -4.0, 4.0))
def test_erf_and_erfc_ops(x, device):
    np.testing.assert_allclose(run(erf, x, device), np_erf(x), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(run(erfc, x, device), np.vectorize(math.erfc)(x), rtol=1e-14)
    gradcheck(erf, [x], device=device)
    gradcheck(erfc, [x], device=device)


# --------------------------------------------------------------------------- elementwise


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_elementwise(name, data, device):
    fn, ref, kinks, low, high = CASES[name]
    x = data.draw(mt.arrays(SMALL, low=low, high=high, kinks=kinks))
    np.testing.assert_allclose(run(fn, x, device), ref(x), rtol=1e-12, atol=1e-14)
    gradcheck(fn, [x], device=device)


@pytest.mark.parametrize("name", sorted(CASES) + ["softmax", "log_softmax", "softmin", "glu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_logits_are_finite_without_warnings(name, dtype, device):
    fn = CASES[name][0] if name in CASES else (lambda x: getattr(F, name)(x, dim=-1))
    x = mg.tensor([[1e4, -1e4, 0.5, -0.5], [-1e4, -1e4, 1e4, 1e4]], dtype=dtype, device=device)
    x.requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = fn(x)
        y.backward(mg.ones(*y.shape, dtype=dtype, device=device))
    assert np.all(np.isfinite(y.numpy()))
    assert np.all(np.isfinite(mg.backend.to_host(x.grad)))


# --------------------------------------------------------------------------- PReLU and RReLU


@given(x=mt.arrays(st.sampled_from([(2, 3), (2, 3, 2), (3,)]), kinks=(0.0,)), data=st.data())
def test_prelu(x, data, device):
    channels = x.shape[1] if x.ndim > 1 else 1  # no channel dim below 2 dims (as PyTorch)
    size = data.draw(st.sampled_from([1, channels]))
    w = data.draw(mt.arrays((size,), low=-1, high=1))
    slope = w.reshape((-1,) + (1,) * (x.ndim - 2)) if size > 1 else w[0]
    ref = np.where(x > 0, x, slope * x)
    weight = mg.tensor(w, device=device, requires_grad=True)
    got = F.prelu(mg.tensor(x, device=device), weight).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    gradcheck(lambda t: F.prelu(t, weight), [x], params=[weight], device=device)


def test_prelu_rejects_a_wrong_weight():
    with pytest.raises(ValueError, match=r"weight has shape \(2,\), expected \(1,\) or \(3,\)"):
        F.prelu(mg.randn(4, 3), mg.ones(2))
    with pytest.raises(ValueError, match=r"expected \(1,\) or \(1,\)"):
        F.prelu(mg.randn(4), mg.ones(4))


@given(x=mt.arrays(SMALL, kinks=(0.0,)), data=st.data())
def test_rrelu_training_with_explicit_noise(x, data, device):
    noise = data.draw(mt.arrays(x.shape, low=0.1, high=0.4))
    fn = lambda t: F.rrelu(t, training=True, noise=noise)  # noqa: E731
    np.testing.assert_allclose(run(fn, x, device), np.where(x > 0, x, noise * x), rtol=1e-14)
    gradcheck(fn, [x], device=device)


def test_rrelu_random_slopes_lie_in_range_and_average_out(device):
    mg.seed(0)
    x = -mg.ones(20000, dtype="float64", device=device)
    slopes = -F.rrelu(x, lower=0.1, upper=0.3, training=True).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 3 * 0.2 / np.sqrt(12 * 20000) * 5
    assert np.all(F.rrelu(-x, training=True).numpy() == 1.0)


# --------------------------------------------------------------------------- GLU, softmax family


@st.composite
def glu_inputs(draw):
    shape = list(draw(mt.shapes(min_dims=1, max_dims=3, max_side=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    shape[dim] *= 2
    return draw(mt.arrays(tuple(shape))), dim


@given(case=glu_inputs())
def test_glu(case, device):
    x, dim = case
    a, b = np.split(x, 2, axis=dim)
    fn = lambda t: F.glu(t, dim)  # noqa: E731
    np.testing.assert_allclose(run(fn, x, device), a * np_sigmoid(b), rtol=1e-12)
    gradcheck(fn, [x], device=device)


def test_glu_rejects_an_odd_size():
    with pytest.raises(ValueError, match="dim -1 has size 3"):
        F.glu(mg.randn(2, 3))


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


SOFTMAXES = {
    "softmax": (F.softmax, np_softmax),
    "log_softmax": (F.log_softmax, lambda x, axis: np.log(np_softmax(x, axis))),
    "softmin": (F.softmin, lambda x, axis: np_softmax(-x, axis)),
}


@pytest.mark.parametrize("name", sorted(SOFTMAXES))
@given(x=mt.arrays(mt.shapes(min_dims=1, max_dims=3, max_side=4), low=-5, high=5), data=st.data())
def test_softmax_family(name, x, data, device):
    fn, ref = SOFTMAXES[name]
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    f = lambda t: fn(t, dim=dim)  # noqa: E731
    np.testing.assert_allclose(run(f, x, device), ref(x, dim), rtol=1e-12, atol=1e-14)
    gradcheck(f, [x], device=device)


def test_softmax_needs_a_valid_dim():
    with pytest.raises(TypeError, match="pass dim="):
        F.softmax(mg.randn(2, 3))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        F.log_softmax(mg.randn(2, 3), dim=2)


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="'erf'"):
        F.gelu(mg.randn(3), approximate="erf")


# --------------------------------------------------------------------------- modules

MODULES = [
    (nn.ReLU(inplace=True), F.relu),
    (nn.ReLU6(), F.relu6),
    (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
    (nn.ELU(0.5), lambda x: F.elu(x, 0.5)),
    (nn.SELU(), F.selu),
    (nn.CELU(0.5), lambda x: F.celu(x, 0.5)),
    (nn.GELU("tanh"), lambda x: F.gelu(x, approximate="tanh")),
    (nn.SiLU(), F.silu),
    (nn.Swish(2.0), lambda x: F.swish(x, 2.0)),
    (nn.Mish(), F.mish),
    (nn.Softplus(2.0, 3.0), lambda x: F.softplus(x, 2.0, 3.0)),
    (nn.Softsign(), F.softsign),
    (nn.Hardtanh(-2.0, 2.0), lambda x: F.hardtanh(x, -2.0, 2.0)),
    (nn.Hardsigmoid(), F.hardsigmoid),
    (nn.Hardswish(), F.hardswish),
    (nn.LogSigmoid(), F.logsigmoid),
    (nn.Tanhshrink(), F.tanhshrink),
    (nn.Softshrink(0.3), lambda x: F.softshrink(x, 0.3)),
    (nn.Hardshrink(0.3), lambda x: F.hardshrink(x, 0.3)),
    (nn.Threshold(0.1, 20.0), lambda x: F.threshold(x, 0.1, 20.0)),
    (nn.GLU(0), lambda x: F.glu(x, 0)),
    (nn.Softmax(1), lambda x: F.softmax(x, dim=1)),
    (nn.LogSoftmax(0), lambda x: F.log_softmax(x, dim=0)),
    (nn.Softmin(-1), lambda x: F.softmin(x, dim=-1)),
    (nn.Sigmoid(), F.sigmoid),
    (nn.Tanh(), F.tanh),
]


@pytest.mark.parametrize("module, fn", MODULES, ids=lambda m: type(m).__name__)
def test_module_wraps_its_function(module, fn, device):
    x = mg.tensor(np.random.default_rng(0).uniform(-4, 4, (4, 6)), device=device)
    np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())


@settings(max_examples=5)
@given(x=mt.arrays((2, 3, 2), kinks=(0.0,)))
def test_prelu_module_gradient_wrt_its_weight(x, device):
    layer = nn.PReLU(3, init=0.1).to(device)
    assert layer.weight.shape == (3,) and np.allclose(layer.weight.numpy(), 0.1)
    gradcheck(layer, [x], params=list(layer.parameters()), device=device)


@settings(max_examples=5)
@given(x=mt.arrays((2, 3)))
def test_learnable_swish_trains_beta(x, device):
    layer = nn.Swish(beta=1.5, learnable=True).to(device)
    assert [name for name, _ in layer.named_parameters()] == ["beta"]
    np.testing.assert_allclose(run(layer, x, device), x * np_sigmoid(1.5 * x), rtol=1e-6)
    gradcheck(layer, [x], params=[layer.beta], device=device)


def test_rrelu_module_is_random_in_train_and_fixed_in_eval(device):
    layer = nn.RReLU(0.1, 0.3)
    x = -mg.ones(100, dtype="float64", device=device)
    assert len(np.unique(layer(x).numpy())) > 1
    np.testing.assert_allclose(layer.eval()(x).numpy(), -0.2)
