"""Learning-rate schedules against hand-computed values; state dicts; the LR range test."""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, nn, optim
from minigrad.optim import lr_scheduler as S


def _sgd(lr=1.0, **kwargs):
    return optim.SGD([mg.tensor(np.zeros(2), requires_grad=True)], lr=lr, **kwargs)


def _sequence(scheduler, steps):
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return lrs


def test_step_and_multistep():
    assert _sequence(S.StepLR(_sgd(), step_size=2, gamma=0.5), 6) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    got = _sequence(S.MultiStepLR(_sgd(), milestones=[1, 3, 3], gamma=0.1), 5)
    np.testing.assert_allclose(got, [1, 0.1, 0.1, 1e-3, 1e-3])


def test_warmup_and_polynomial():
    np.testing.assert_allclose(
        _sequence(S.LinearLR(_sgd(), start_factor=0.25, total_iters=3), 5),
        [0.25, 0.5, 0.75, 1.0, 1.0],
    )
    np.testing.assert_allclose(
        _sequence(S.ConstantLR(_sgd(), factor=0.5, total_iters=2), 4), [0.5, 0.5, 1, 1]
    )
    np.testing.assert_allclose(
        _sequence(S.PolynomialLR(_sgd(), total_iters=4, power=2.0), 6),
        [(1 - min(t, 4) / 4) ** 2 for t in range(6)],
    )
    np.testing.assert_allclose(
        _sequence(S.ExponentialLR(_sgd(), gamma=0.9), 4), [0.9**t for t in range(4)]
    )


def test_lambda_and_multiplicative():
    np.testing.assert_allclose(
        _sequence(S.LambdaLR(_sgd(2.0), lambda t: 1 / (t + 1)), 4), [2, 1, 2 / 3, 0.5]
    )
    np.testing.assert_allclose(
        _sequence(S.MultiplicativeLR(_sgd(), lambda t: 0.5), 4), [1, 0.5, 0.25, 0.125]
    )


def test_cosine_follows_the_closed_form():
    got = _sequence(S.CosineAnnealingLR(_sgd(), T_max=10, eta_min=0.1), 25)
    want = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(25)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_warm_restarts_restart_with_growing_periods():
    got = _sequence(S.CosineAnnealingWarmRestarts(_sgd(), T_0=2, T_mult=2), 8)
    cos = [(1 + math.cos(math.pi * c / t)) / 2 for t in (2, 4) for c in range(t)]
    np.testing.assert_allclose(got, cos + [1.0, (1 + math.cos(math.pi / 8)) / 2])


def test_cyclic_triangular_and_momentum():
    scheduler = S.CyclicLR(_sgd(momentum=0.9), 0.1, 0.5, step_size_up=2, base_momentum=0.8)
    lrs, momenta = [], []
    for _ in range(6):
        lrs.append(scheduler.get_last_lr()[0])
        momenta.append(scheduler.optimizer.param_groups[0]["momentum"])
        scheduler.step()
    np.testing.assert_allclose(lrs, [0.1, 0.3, 0.5, 0.3, 0.1, 0.3])
    np.testing.assert_allclose(momenta, [0.9, 0.85, 0.8, 0.85, 0.9, 0.85])


def test_cyclic_cycles_adam_beta1():
    adam = optim.Adam([mg.tensor(np.zeros(2), requires_grad=True)])
    scheduler = S.CyclicLR(adam, 0.1, 0.5, step_size_up=1, base_momentum=0.8, max_momentum=0.9)
    scheduler.step()
    assert adam.param_groups[0]["betas"] == pytest.approx((0.8, 0.999))


def test_one_cycle_endpoints():
    scheduler = S.OneCycleLR(_sgd(momentum=0.9), max_lr=1.0, total_steps=10, pct_start=0.3)
    lrs = _sequence(scheduler, 10)
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert max(lrs) == pytest.approx(1.0) and np.argmax(lrs) == 2
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    with pytest.raises(ValueError, match="total_steps"):
        scheduler.step()


def test_reduce_on_plateau():
    scheduler = S.ReduceLROnPlateau(_sgd(), patience=1, factor=0.5, cooldown=1, min_lr=0.2)
    lrs = []
    for _ in range(10):
        scheduler.step(1.0)  # never improves after the first
        lrs.append(scheduler.get_last_lr()[0])
    # 2 bad epochs (> patience) reduce; then 1 cooldown epoch that does not count
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2]


def test_sequential_warmup_then_cosine():
    opt = _sgd()
    warmup = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    cosine = S.CosineAnnealingLR(opt, T_max=4)
    got = _sequence(S.SequentialLR(opt, [warmup, cosine], milestones=[2]), 6)
    want = [0.5, 0.75] + [(1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_state_dict_resumes_the_sequence():
    straight = _sequence(S.OneCycleLR(_sgd(), 1.0, total_steps=20), 20)
    first = S.OneCycleLR(_sgd(), 1.0, total_steps=20)
    head = _sequence(first, 8)
    opt = _sgd()
    opt.load_state_dict(first.optimizer.state_dict())
    second = S.OneCycleLR(opt, 1.0, total_steps=20)
    second.load_state_dict(first.state_dict())
    assert head + _sequence(second, 12) == straight


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="Optimizer"):
        S.StepLR("sgd", 2)
    with pytest.raises(ValueError, match="step_size"):
        S.StepLR(_sgd(), 0)
    with pytest.raises(ValueError, match="start_factor"):
        S.LinearLR(_sgd(), start_factor=0.0)
    with pytest.raises(ValueError, match="factor"):
        S.ReduceLROnPlateau(_sgd(), factor=1.5)
    with pytest.raises(ValueError, match="cycle_momentum"):
        S.CyclicLR(optim.Adagrad([mg.tensor(np.zeros(1), requires_grad=True)]), 0.1, 1.0)


# --------------------------------------------------------------------------- LR range test


def _regression_task(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4))
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]])
    batches = [(mg.tensor(x, device=device), mg.tensor(y, device=device))]  # full batch
    mg.seed(0)
    model = nn.Linear(4, 1, device=device)
    return model, batches


def test_lr_range_test_sweeps_suggests_and_restores(device):
    model, batches = _regression_task(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = {k: backend.to_host(v).copy() for k, v in model.state_dict().items()}

    def mse(out, y):
        return ((out - y) ** 2).mean()

    result = optim.lr_range_test(model, opt, mse, batches, start_lr=1e-4, end_lr=10.0, num_iter=60)
    lrs = result["lrs"]
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    np.testing.assert_allclose(ratios, (1e5) ** (1 / 59))
    assert len(lrs) < 60  # an lr of 10 diverges on this problem, so the sweep stopped early
    assert 1e-3 < result["suggestion"] < 1.0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(backend.to_host(v), before[k])
    assert opt.param_groups[0]["lr"] == 0.01 and opt.state == {}


def test_lr_suggestion_stays_below_the_loss_minimum():
    from minigrad.optim.lr_finder import _steepest_descent

    lrs = [10.0**e for e in range(-6, 2)]
    # a fall to the minimum at 1e-2, then a diverging, oscillating loss whose drop from 3.0
    # to 1.5 is steeper than any before the minimum: that drop must not be suggested
    losses = [2.3, 2.2, 1.8, 1.2, 1.0, 3.0, 1.5, 2.0]
    assert _steepest_descent(lrs, losses) == 1e-4
