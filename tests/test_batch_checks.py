"""The recipe's batch checks (minigrad/batch_checks.py, re-exported by diagnostics): the
dependency check flags models that mix the batch and passes clean ones; the input-independent
baseline flags a model blind to its input; the captured batch is exactly what the net saw;
prediction dynamics record, count flips and plot."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, diagnostics, nn, optim

# --------------------------------------------------------------------------- helpers


class MeanOverBatch(nn.Module):
    """The classic bug: centring over dim 0 (the batch) instead of the features."""

    def forward(self, x):
        return x - x.mean(dim=0, keepdim=True)


class FlattenBug(nn.Module):
    """(B, C, L) -> (B, C*L) through a transpose that moves the batch axis (a reshape bug)."""

    def forward(self, x):
        return x.transpose(0, 1).reshape(x.shape[0], -1)


class Blind(nn.Module):
    """Multiplies its input by zero: the net below it never sees the data."""

    def forward(self, x):
        return x * 0


def mlp(device, *middle):
    return nn.Sequential(nn.Linear(6, 8, device=device), *middle, nn.Linear(8, 3, device=device))


def separable(device, n=48, seed=0):
    """Three classes that a linear model separates from x."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 6)) * 0.3
    x[np.arange(n), y] += 2.0
    return mg.tensor(x.astype("float32"), device=device), mg.tensor(y, device=device)


# --------------------------------------------------------------------------- dependency check


def test_a_clean_model_passes_and_is_left_untouched(device):
    mg.seed(0)
    model = mlp(device, nn.BatchNorm1d(8, device=device), nn.ReLU())
    model.train()
    x = mg.randn(5, 6, device=device)
    model(x).sum().backward()
    grads = [backend.to_host(p.grad).copy() for p in model.parameters()]
    result = diagnostics.check_batch_dependency(model, x, sample=2)
    assert result.ok, str(result)
    assert result.leaks == [] and result.own > 0
    assert all(m.training for m in model.modules())
    for p, g in zip(model.parameters(), grads):
        assert p.requires_grad
        np.testing.assert_array_equal(backend.to_host(p.grad), g)


@pytest.mark.parametrize("bug, leaks", [(MeanOverBatch, [1, 2, 3]), (FlattenBug, [1])])
def test_a_model_that_mixes_the_batch_is_flagged(bug, leaks, device):
    mg.seed(1)
    if bug is FlattenBug:
        model = nn.Sequential(bug(), nn.Linear(6, 3, device=device))
        x = mg.randn(4, 2, 3, device=device)
    else:
        model = mlp(device, bug())
        x = mg.randn(4, 6, device=device)
    result = diagnostics.check_batch_dependency(model, x)
    assert not result.ok
    # FlattenBug: row 0 of the reshaped (C, B*L) holds x[0, 0] and x[1, 0]
    assert result.leaks == leaks
    assert "mixes the batch" in str(result)


def test_batchnorm_in_train_mode_mixes_and_is_said_so(device):
    model = mlp(device, nn.BatchNorm1d(8, device=device))
    x = mg.randn(4, 6, device=device)
    assert diagnostics.check_batch_dependency(model, x).ok
    before = backend.to_host(model[1].running_mean.data).copy()
    result = diagnostics.check_batch_dependency(model, x, train=True)
    assert not result.ok and "BatchNorm in train mode mixes by design" in str(result)
    np.testing.assert_array_equal(backend.to_host(model[1].running_mean.data), before)


def test_a_model_blind_to_its_input_is_named(device):
    result = diagnostics.check_batch_dependency(mlp(device, Blind()), mg.randn(3, 6, device=device))
    assert not result.ok and result.own == 0
    assert "does not depend on its own input" in str(result)


def test_dependency_check_needs_a_batch():
    with pytest.raises(ValueError, match="at least 2 samples"):
        diagnostics.check_batch_dependency(mlp("cpu"), mg.randn(1, 6))
    with pytest.raises(ValueError, match="sample 5 is not in a batch of 3"):
        diagnostics.check_batch_dependency(mlp("cpu"), mg.randn(3, 6), sample=5)


# --------------------------------------------------------------------------- baseline


def test_input_independent_baseline(device):
    batches = [separable(device, seed=s) for s in range(2)]

    def make_optimizer(params):
        return optim.Adam(params, lr=0.05)

    state = backend.get_rng_state()
    good = diagnostics.input_independent_baseline(
        lambda: mlp(device, nn.ReLU()), make_optimizer, batches, steps=40
    )
    assert good.ok, str(good)
    assert good.real_loss < 0.5 * good.zeroed_loss
    blind = diagnostics.input_independent_baseline(
        lambda: mlp(device, Blind()), make_optimizer, batches, steps=40
    )
    assert not blind.ok and "learns nothing from its input" in str(blind)
    assert blind.real_loss == pytest.approx(blind.zeroed_loss, rel=1e-6)
    assert backend.get_rng_state() == state


# --------------------------------------------------------------------------- the batch fed


def test_capture_batch_sees_exactly_the_transformed_input(device):
    model = mlp(device)
    x = mg.randn(4, 6, device=device)
    with diagnostics.capture_batch(model) as seen:
        model(x * 2 + 1)
        model(x)
    np.testing.assert_allclose(seen.inputs, backend.to_host((x * 2 + 1).data))
    assert seen.calls == 2
    model(x)
    assert seen.calls == 2  # the hook is gone
    with diagnostics.capture_batch(model, keep="last") as seen:
        model(x * 2 + 1)
        model(x)
    np.testing.assert_allclose(seen.inputs, backend.to_host(x.data))


def test_denormalize_undoes_normalize():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 3, 4, 5))
    mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.2, 0.25, 0.3])
    normalized = (images - mean[:, None, None]) / std[:, None, None]
    out = diagnostics.denormalize(mg.tensor(normalized), mean, std)
    np.testing.assert_allclose(out, images.transpose(0, 2, 3, 1), atol=1e-12)
    grey = diagnostics.denormalize(np.full((1, 1, 2, 2), 3.0), mean=0.5, std=0.5)
    np.testing.assert_array_equal(grey, np.ones((1, 2, 2)))  # 2.0 is clipped to 1
    with pytest.raises(ValueError, match=r"expected images \(N, 1 or 3, H, W\)"):
        diagnostics.denormalize(np.zeros((2, 5)))


def test_plot_batch_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    x = np.random.default_rng(0).standard_normal((5, 1, 6, 6))
    path = diagnostics.plot_batch(
        x, tmp_path / "batch.png", mean=0.3, std=0.2, labels=[0, 1, 2, 1, 0], class_names="abc"
    )
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- dynamics


def test_prediction_dynamics_follow_training(tmp_path, device):
    mg.seed(2)
    x, y = separable(device)
    model = mlp(device, nn.ReLU(), nn.Dropout(0.5))
    opt = optim.SGD(model.parameters(), lr=0.5)
    dynamics = diagnostics.PredictionDynamics(x, y, max_samples=6)
    for epoch in range(1, 6):
        model.train()
        opt.zero_grad()
        mg.functional.cross_entropy(model(x), y).backward()
        opt.step()
        assert dynamics({"epoch": epoch}, model) is False
        assert model.training
    probs = dynamics.probabilities
    assert probs.shape == (5, 6, 3) and dynamics.epochs == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    true = probs[:, np.arange(6), backend.to_host(y.data)[:6]]
    assert true[-1].mean() > true[0].mean()  # learning raises the true class's probability
    predicted = probs.argmax(-1)
    assert dynamics.flips() == [int((a != b).sum()) for a, b in zip(predicted[1:], predicted)]
    pytest.importorskip("matplotlib")
    assert dynamics.plot(tmp_path / "dynamics.png").endswith("dynamics.png")


def test_prediction_dynamics_as_a_fit_callback():
    from minigrad import functional as F
    from minigrad import train

    mg.seed(3)
    x, y = separable("cpu", n=16)
    model = mlp("cpu", nn.ReLU())
    dynamics = diagnostics.PredictionDynamics(x, y)
    opt = optim.SGD(model.parameters(), lr=0.1)
    train.fit(model, opt, F.cross_entropy, [(x, y)], 3, callbacks=[dynamics], progress=False)
    assert dynamics.epochs == [1, 2, 3] and dynamics.probabilities.shape == (3, 16, 3)
