"""Optimizers: each update against its written formula in NumPy, convergence, properties,
state_dict round trips, frozen/None-grad parameters and argument checks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend, optim
from minigrad import testing as mt

SHAPE = (3, 2)


def _leaf(array, device):
    # copy first: on "strict", tensor() may share memory with a NumPy input
    return mg.tensor(np.array(array), dtype="float64", device=device, requires_grad=True)


def _run(opt_cls, kwargs, p0, grads, device):
    """Apply the optimizer to one parameter with the given gradient sequence."""
    p = _leaf(p0, device)
    opt = opt_cls([p], **kwargs)
    for g in grads:
        p.grad = backend.to_device(g, device)
        opt.step()
    return p.numpy()


# --------------------------------------------------------------------------- NumPy references
# Each reference is the update rule as written in the papers / torch docs, on whole arrays.


def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):  # fmt: skip
    buf = None
    for g in grads:
        g = (-g if maximize else g) + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def ref_adagrad(p, grads, lr, lr_decay, weight_decay, initial_accumulator_value, eps=1e-10):
    s = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        s = s + g**2
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
    return p


def ref_rmsprop(p, grads, lr, alpha, weight_decay, momentum, centered, eps=1e-8):
    v, mean, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        mean = alpha * mean + (1 - alpha) * g
        sigma = np.sqrt(v - mean**2 if centered else v) + eps
        if momentum > 0:
            buf = momentum * buf + g / sigma
            p = p - lr * buf
        else:
            p = p - lr * g / sigma
    return p


def ref_adadelta(p, grads, lr, rho, weight_decay, eps=1e-6):
    v, u = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g**2
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        p = p - lr * delta
    return p


def ref_adam(p, grads, lr, betas, weight_decay, amsgrad=False, maximize=False, decoupled=False,
             eps=1e-8):  # fmt: skip
    b1, b2 = betas
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1**t)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def ref_adamax(p, grads, lr, betas, weight_decay, eps=1e-8):
    b1, b2 = betas
    m, u = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        p = p - lr / (1 - b1**t) * m / u
    return p


def ref_nadam(p, grads, lr, betas, weight_decay, momentum_decay, eps=1e-8):
    b1, b2 = betas
    m, v, prod = np.zeros_like(p), np.zeros_like(p), 1.0
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        prod *= mu_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_hat = v / (1 - b2**t)
        m_bar = mu_next * m / (1 - prod * mu_next) + (1 - mu_t) * g / (1 - prod)
        p = p - lr * m_bar / (np.sqrt(v_hat) + eps)
    return p


def ref_radam(p, grads, lr, betas, weight_decay, eps=1e-8):
    b1, b2 = betas
    m, v = np.zeros_like(p), np.zeros_like(p)
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            l_t = math.sqrt(1 - b2**t) / (np.sqrt(v) + eps)
            p = p - lr * m_hat * r * l_t
        else:
            p = p - lr * m_hat
    return p


# --------------------------------------------------------------------------- one step = formula

LR = st.floats(1e-3, 1.0)
DECAY = st.sampled_from([0.0, 0.1, 0.5])
BETAS = st.tuples(st.floats(0.0, 0.95), st.floats(0.5, 0.999))

CASES = {
    "SGD": (
        lambda d: d.draw(
            st.fixed_dictionaries(
                {
                    "lr": LR,
                    "momentum": st.sampled_from([0.0, 0.5, 0.9]),
                    "dampening": st.sampled_from([0.0, 0.3]),
                    "weight_decay": DECAY,
                    "maximize": st.booleans(),
                }
            )
        ),
        ref_sgd,
    ),
    "Adagrad": (
        lambda d: {
            "lr": d.draw(LR),
            "lr_decay": d.draw(st.sampled_from([0.0, 0.2])),
            "weight_decay": d.draw(DECAY),
            "initial_accumulator_value": d.draw(st.sampled_from([0.0, 0.5])),
        },
        ref_adagrad,
    ),
    "RMSprop": (
        lambda d: {
            "lr": d.draw(LR),
            "alpha": d.draw(st.floats(0.5, 0.99)),
            "weight_decay": d.draw(DECAY),
            "momentum": d.draw(st.sampled_from([0.0, 0.9])),
            "centered": d.draw(st.booleans()),
        },
        ref_rmsprop,
    ),
    "Adadelta": (
        lambda d: {"lr": d.draw(LR), "rho": d.draw(st.floats(0.5, 0.99)), "weight_decay": 0.1},
        ref_adadelta,
    ),
    "Adam": (
        lambda d: {
            "lr": d.draw(LR),
            "betas": d.draw(BETAS),
            "weight_decay": d.draw(DECAY),
            "amsgrad": d.draw(st.booleans()),
            "maximize": d.draw(st.booleans()),
        },
        ref_adam,
    ),
    "AdamW": (
        lambda d: {
            "lr": d.draw(LR),
            "betas": d.draw(BETAS),
            "weight_decay": d.draw(DECAY),
            "amsgrad": d.draw(st.booleans()),
        },  # fmt: skip
        lambda p, grads, **kw: ref_adam(p, grads, decoupled=True, **kw),
    ),
    "Adamax": (
        lambda d: {"lr": d.draw(LR), "betas": d.draw(BETAS), "weight_decay": d.draw(DECAY)},
        ref_adamax,
    ),
    "NAdam": (
        lambda d: {
            "lr": d.draw(LR),
            "betas": d.draw(BETAS),
            "weight_decay": d.draw(DECAY),
            "momentum_decay": d.draw(st.sampled_from([4e-3, 0.1])),
        },  # fmt: skip
        ref_nadam,
    ),
    "RAdam": (
        # beta2 = 0.5 reaches ρ_t > 5 in 3 steps? no: ρ_∞ = 3; 0.9 gives ρ_∞ = 19 (rectified)
        lambda d: {
            "lr": d.draw(LR),
            "betas": (d.draw(st.floats(0, 0.9)), d.draw(st.sampled_from([0.9, 0.999]))),
            "weight_decay": d.draw(DECAY),
        },  # fmt: skip
        ref_radam,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_steps_match_formula(name, data, device):
    draw_kwargs, reference = CASES[name]
    kwargs = draw_kwargs(data)
    p0 = data.draw(mt.arrays(SHAPE))
    grads = [data.draw(mt.arrays(SHAPE)) for _ in range(8)]
    got = _run(getattr(optim, name), kwargs, p0, grads, device)
    np.testing.assert_allclose(got, reference(p0.copy(), grads, **kwargs), rtol=1e-9, atol=1e-12)


@given(data=st.data())
def test_sgd_nesterov_matches_formula(data, device):
    kwargs = {"lr": data.draw(LR), "momentum": data.draw(st.floats(0.1, 0.99)), "nesterov": True}
    p0 = data.draw(mt.arrays(SHAPE))
    grads = [data.draw(mt.arrays(SHAPE)) for _ in range(5)]
    got = _run(optim.SGD, kwargs, p0, grads, device)
    np.testing.assert_allclose(got, ref_sgd(p0.copy(), grads, **kwargs), rtol=1e-9, atol=1e-12)


def test_radam_switches_to_rectified_steps():
    """With β₂ = 0.9, ρ_t crosses 5 at t = 6: steps 1-5 are plain momentum steps."""
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(SHAPE)
    grads = [rng.standard_normal(SHAPE) for _ in range(8)]
    kwargs = {"lr": 0.1, "betas": (0.9, 0.9), "weight_decay": 0.0}
    for n in (5, 8):
        got = _run(optim.RAdam, kwargs, p0, grads[:n], "cpu")
        np.testing.assert_allclose(got, ref_radam(p0.copy(), grads[:n], **kwargs), rtol=1e-12)


# --------------------------------------------------------------------------- convergence

CONVERGING = [
    (optim.SGD, {"lr": 0.1}),
    (optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (optim.Adagrad, {"lr": 0.5}),
    (optim.RMSprop, {"lr": 0.01, "centered": True}),
    (optim.Adadelta, {"lr": 20.0}),
    (optim.Adam, {"lr": 0.05}),
    (optim.AdamW, {"lr": 0.05, "weight_decay": 0.0}),
    (optim.Adamax, {"lr": 0.05}),
    (optim.NAdam, {"lr": 0.05}),
    (optim.RAdam, {"lr": 0.05}),
]


@pytest.mark.parametrize("opt_cls, kwargs", CONVERGING, ids=lambda v: getattr(v, "__name__", ""))
def test_converges_on_a_quadratic(opt_cls, kwargs, device):
    """f(w) = ½ Σ c_i (w_i − w*_i)², an ill-conditioned bowl (c from 0.5 to 4)."""
    target = np.array([1.0, -2.0, 0.5, 3.0])
    curvature = np.array([0.5, 1.0, 2.0, 4.0])
    w = _leaf(np.zeros(4), device)
    c = mg.tensor(curvature, dtype="float64", device=device)
    t = mg.tensor(target, dtype="float64", device=device)
    opt = opt_cls([w], **kwargs)
    for _ in range(400):
        opt.zero_grad()
        loss = (c * (w - t) ** 2).sum() * 0.5
        loss.backward()
        opt.step()
    np.testing.assert_allclose(w.numpy(), target, atol=2e-2)


# --------------------------------------------------------------------------- properties


@given(w0=mt.arrays(SHAPE), c=mt.arrays(SHAPE), lam=st.floats(0.01, 1.0))
def test_sgd_weight_decay_is_l2_penalty(w0, c, lam, device):
    """SGD(weight_decay=λ) on L equals SGD on L + λ/2 ‖w‖²."""
    cc = mg.tensor(c, dtype="float64", device=device)
    w1, w2 = _leaf(w0, device), _leaf(w0, device)
    opt1 = optim.SGD([w1], lr=0.1, momentum=0.9, weight_decay=lam)
    opt2 = optim.SGD([w2], lr=0.1, momentum=0.9)
    for _ in range(5):
        opt1.zero_grad()
        opt2.zero_grad()
        ((w1 * cc).sum() + (w1**4).sum()).backward()
        ((w2 * cc).sum() + (w2**4).sum() + (w2 * w2).sum() * (lam / 2)).backward()
        opt1.step()
        opt2.step()
    np.testing.assert_allclose(w1.numpy(), w2.numpy(), rtol=1e-10, atol=1e-12)


@given(p0=mt.arrays(SHAPE), g=mt.arrays(SHAPE, 0.5, 3.0), scale=st.sampled_from([1e-3, 1e3]))
def test_adam_is_invariant_to_gradient_scale(p0, g, scale, device):
    """With eps = 0, m/√v does not change when every gradient is multiplied by a constant."""
    grads = [g * (k % 3 - 1.5) for k in range(6)]
    base = _run(optim.Adam, {"lr": 0.01, "eps": 0.0}, p0, grads, device)
    scaled = _run(optim.Adam, {"lr": 0.01, "eps": 0.0}, p0, [scale * g for g in grads], device)
    np.testing.assert_allclose(scaled, base, rtol=1e-10)


# --------------------------------------------------------------------------- state and params

RESUMABLE = [
    (optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (optim.Adagrad, {"lr_decay": 0.1}),
    (optim.RMSprop, {"momentum": 0.5, "centered": True}),
    (optim.Adadelta, {}),
    (optim.Adam, {"amsgrad": True}),
    (optim.AdamW, {}),
    (optim.Adamax, {}),
    (optim.NAdam, {}),
    (optim.RAdam, {"betas": (0.9, 0.9)}),
]


def _grad_sequence(n):
    rng = np.random.default_rng(1)
    return [[rng.standard_normal((3, 2)), rng.standard_normal(4)] for _ in range(n)]


def _steps(opt, params, grads, device):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = backend.to_device(g, device)
        opt.step()


@pytest.mark.parametrize("opt_cls, kwargs", RESUMABLE, ids=lambda v: getattr(v, "__name__", ""))
def test_state_dict_round_trip_resumes_exactly(opt_cls, kwargs, device):
    """5 steps, save, load into a fresh optimizer (on `device`), 5 more = 10 straight steps."""
    grads = _grad_sequence(10)
    init = [np.linspace(-1, 1, 6).reshape(3, 2), np.arange(4.0)]
    straight = [_leaf(a, "cpu") for a in init]
    opt = opt_cls(straight, **kwargs)
    _steps(opt, straight, grads, "cpu")
    first = [_leaf(a, "cpu") for a in init]
    opt1 = opt_cls(first, **kwargs)
    _steps(opt1, first, grads[:5], "cpu")
    saved = opt1.state_dict()
    assert sorted(saved["state"]) == [0, 1] and saved["param_groups"][0]["params"] == [0, 1]
    resumed = [_leaf(p.numpy(), device) for p in first]
    opt2 = opt_cls(resumed, **kwargs)
    opt2.load_state_dict(saved)
    _steps(opt2, resumed, grads[5:], device)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_frozen_and_gradless_params_are_untouched(device):
    trained = _leaf(np.ones(3), device)
    frozen = _leaf(np.ones(3), device)
    gradless = _leaf(np.ones(3), device)
    opt = optim.Adam([trained, frozen, gradless], lr=0.1, weight_decay=0.1)
    trained.grad = backend.to_device(np.ones(3), device)
    frozen.grad = backend.to_device(np.ones(3), device)
    frozen.requires_grad = False
    opt.step()
    assert not np.allclose(trained.numpy(), 1.0)
    np.testing.assert_array_equal(frozen.numpy(), np.ones(3))
    np.testing.assert_array_equal(gradless.numpy(), np.ones(3))
    assert frozen not in opt.state and gradless not in opt.state


def test_param_groups_have_their_own_options(device):
    a, b = _leaf(np.zeros(2), device), _leaf(np.zeros(2), device)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = backend.to_device(np.ones(2), device)
    b.grad = backend.to_device(np.ones(2), device)
    opt.step()
    np.testing.assert_allclose(a.numpy(), [-0.1, -0.1])
    np.testing.assert_allclose(b.numpy(), [-0.5, -0.5])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_zero_grad(device):
    p = _leaf(np.ones(2), device)
    opt = optim.SGD([p], lr=0.1)
    p.grad = backend.to_device(np.ones(2), device)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(backend.to_host(p.grad), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_step_runs_the_closure_with_grad():
    p = _leaf(np.array([2.0]), "cpu")
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with mg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(p.numpy(), [1.0])


BAD = [
    (optim.SGD, {"lr": -0.1}, "lr"),
    (optim.SGD, {"momentum": -0.5}, "momentum"),
    (optim.SGD, {"weight_decay": -1.0}, "weight_decay"),
    (optim.SGD, {"nesterov": True}, "nesterov"),
    (optim.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    (optim.Adagrad, {"eps": -1.0}, "eps"),
    (optim.RMSprop, {"alpha": -0.1}, "alpha"),
    (optim.Adadelta, {"rho": 1.5}, "rho"),
    (optim.Adam, {"betas": (1.0, 0.999)}, r"betas\[0\]"),
    (optim.Adam, {"betas": (0.9, -0.1)}, r"betas\[1\]"),
    (optim.AdamW, {"eps": -1e-8}, "eps"),
    (optim.NAdam, {"momentum_decay": -1.0}, "momentum_decay"),
    (optim.RAdam, {"weight_decay": -0.1}, "weight_decay"),
]


@pytest.mark.parametrize("opt_cls, kwargs, name", BAD)
def test_bad_hyper_parameters_raise_naming_them(opt_cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        opt_cls([_leaf(np.ones(2), "cpu")], **kwargs)


def test_empty_or_wrong_params_raise():
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="Tensor"):
        optim.Adam([np.ones(2)])


@settings(max_examples=5)
@given(p0=mt.arrays(SHAPE))
def test_float32_params_stay_float32(p0, device):
    p = mg.tensor(p0, dtype="float32", device=device, requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = backend.to_device(np.ones(SHAPE, dtype=np.float32), device)
    opt.step()
    assert p.dtype == "float32"
    assert opt.state[p]["exp_avg"].dtype == p.data.dtype
