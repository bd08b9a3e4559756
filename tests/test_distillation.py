"""Knowledge distillation (F.distillation_loss, nn.DistillationLoss) against a NumPy reference of
Hinton et al.'s formula, its gradient by gradcheck, and bad input; nn.Ensemble's averaging."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend, gradcheck, nn
from minigrad import functional as F
from minigrad import testing as mt


def np_log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def np_distillation(s, t, y, temperature, alpha):
    """T² · mean_n Σ_c p (log p − log q) with p, q the softened teacher/student, + hard CE."""
    log_q = np_log_softmax(s / temperature)
    log_p = np_log_softmax(t / temperature)
    kd = temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(1).mean()
    if y is None:
        return kd
    hard = -np_log_softmax(s)[np.arange(len(y)), y].mean()
    return alpha * kd + (1 - alpha) * hard


logits = mt.arrays((4, 5), low=-4.0, high=4.0)


@settings(max_examples=15, deadline=None)
@given(
    s=logits,
    t=logits,
    temperature=st.floats(0.5, 8.0),
    alpha=st.floats(0.0, 1.0),
    hard=st.booleans(),
)
def test_distillation_loss_matches_numpy_and_gradcheck(s, t, temperature, alpha, hard, device):
    y = np.array([0, 3, 1, 4]) if hard else None
    target = None if y is None else mg.tensor(y, device=device)
    loss = F.distillation_loss(
        mg.tensor(s, device=device), mg.tensor(t, device=device), target, temperature, alpha
    )
    expected = np_distillation(s, t, y, temperature, alpha)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10, atol=1e-12)
    teacher = mg.tensor(t, dtype="float64", device=device)
    gradcheck(
        lambda x: F.distillation_loss(x, teacher, target, temperature, alpha), [s], device=device
    )


def test_teacher_gets_no_gradient_and_the_module_agrees(device):
    rng = np.random.default_rng(0)
    s = mg.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    t = mg.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    y = mg.tensor([1, 0, 3], device=device)
    kd = nn.DistillationLoss(temperature=2.0, alpha=0.7)
    loss = kd(s, t, y)
    loss.backward()
    assert t.grad is None and s.grad is not None
    expected = F.distillation_loss(s, t, y, temperature=2.0, alpha=0.7)
    assert loss.item() == expected.item()
    assert repr(kd) == "DistillationLoss(temperature=2.0, alpha=0.7)"


def test_equal_logits_give_zero_kd():
    z = mg.tensor(np.random.default_rng(1).standard_normal((3, 4)))
    assert abs(F.distillation_loss(z, z, temperature=3.0).item()) < 1e-12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=0.0), "temperature must be a number > 0, got 0.0"),
        (dict(alpha=1.5), r"alpha must be a number in \[0, 1\], got 1.5"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    z = mg.randn(2, 3)
    with pytest.raises(ValueError, match=message):
        F.distillation_loss(z, z, **kwargs)


def test_logits_must_match():
    with pytest.raises(ValueError, match=r"must both be \(N, C\)"):
        F.distillation_loss(mg.randn(2, 3), mg.randn(2, 4))


# --------------------------------------------------------------------------- Ensemble


def test_ensemble_averages_the_members_probabilities(device):
    mg.seed(0)
    members = [nn.Linear(3, 4, device=device) for _ in range(3)]
    x = mg.randn(5, 3, device=device)
    ensemble = nn.Ensemble(members)
    probs = [F.softmax(m(x), dim=-1).numpy() for m in members]
    np.testing.assert_allclose(ensemble(x).numpy(), np.mean(probs, axis=0), rtol=1e-6)
    logits = nn.Ensemble(members, average="logits")(x).numpy()
    np.testing.assert_allclose(logits, np.mean([m(x).numpy() for m in members], 0), rtol=1e-6)
    assert list(ensemble.state_dict())[:2] == ["models.0.weight", "models.0.bias"]
    ensemble.eval()
    assert not any(m.training for m in members)
    assert backend.device_of(ensemble(x).data) == device


def test_ensemble_checks_its_arguments():
    with pytest.raises(ValueError, match="non-empty list of Modules"):
        nn.Ensemble([])
    with pytest.raises(ValueError, match="average must be 'probs' or 'logits'"):
        nn.Ensemble([nn.Linear(2, 2)], average="votes")
