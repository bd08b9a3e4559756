"""Tests of minigrad/diagnostics.py: each check finds the problem planted in a tiny model, passes
on a healthy one, and leaves the model, optimizer and RNG as it found them."""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, diagnostics, nn, optim
from minigrad import functional as F

# --------------------------------------------------------------------------- helpers


def batch(device, n=32, features=6, classes=4, seed=0):
    """A fixed batch from NumPy's own generator: x (n, features) float32, y (n,) int64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return mg.tensor(x, device=device), mg.tensor(y, device=device)


def classifier(device, hidden=16, classes=4, last_scale=0.1):
    """Linear-ReLU-Linear whose last layer is scaled by `last_scale` after the default init."""
    model = nn.Sequential(
        nn.Linear(6, hidden, device=device), nn.ReLU(), nn.Linear(hidden, classes, device=device)
    )
    model[2].weight.data *= last_scale
    model[2].bias.data *= 0
    return model


def host(tensor_or_array):
    return backend.to_host(getattr(tensor_or_array, "data", tensor_or_array)).copy()


def snapshot(model):
    return {k: host(v) for k, v in model.state_dict().items()}


def assert_same_state(model, before):
    after = snapshot(model)
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def numpy_cross_entropy(logits, y):
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean()


# --------------------------------------------------------------------------- check_mode


def test_check_mode_reports_a_submodule_left_in_train_mode():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
    model.eval()
    assert diagnostics.check_mode(model, "eval").ok
    model[1].train()
    report = diagnostics.check_mode(model, "eval")
    assert not report.ok
    assert report.mismatched == [("1", "BatchNorm1d")]
    assert "'1' (BatchNorm1d)" in str(report) and "model.eval()" in str(report)
    model.train()
    assert diagnostics.check_mode(model, "train").ok
    assert "OK" in str(diagnostics.check_mode(model, "train"))
    with pytest.raises(ValueError, match="expected must be"):
        diagnostics.check_mode(model, "test")


# --------------------------------------------------------------------------- initial loss


def test_initial_loss_is_near_log_num_classes_for_a_healthy_model(device):
    mg.seed(0)
    model = classifier(device)
    x, y = batch(device)
    result = diagnostics.check_initial_loss(model, x, y, num_classes=4)
    logits = model(x)
    assert result.loss == pytest.approx(numpy_cross_entropy(host(logits), host(y)), rel=1e-5)
    assert result.expected == pytest.approx(math.log(4))
    assert result.ok, str(result)
    assert str(result).endswith("OK")


def test_initial_loss_flags_huge_logits_and_leaves_the_model_alone(device):
    mg.seed(0)
    model = nn.Sequential(
        nn.Linear(6, 16, device=device),
        nn.BatchNorm1d(16, device=device),
        nn.ReLU(),
        nn.Linear(16, 4, device=device),
    )
    model[3].weight.data *= 1000.0
    x, y = batch(device)
    before = snapshot(model)
    rng = backend.get_rng_state()
    result = diagnostics.check_initial_loss(model, x, y, num_classes=4)
    assert not result.ok
    assert result.loss > 3 * math.log(4)
    assert "too high" in str(result) and "logits are too large" in str(result)
    assert_same_state(model, before)  # the BatchNorm running statistics included
    assert backend.get_rng_state() == rng
    with pytest.raises(ValueError, match="num_classes"):
        diagnostics.check_initial_loss(model, x, y, num_classes=1)


def test_initial_loss_below_chance_is_suspicious():
    model = classifier("cpu", last_scale=0.0)
    x, y = batch("cpu")
    model[2].bias.data[...] = np.where(np.arange(4) == 0, 50.0, 0.0)
    y = mg.tensor(np.zeros(32, dtype=np.int64))  # every label is class 0
    result = diagnostics.check_initial_loss(model, x, y, num_classes=4)
    assert not result.ok
    assert "lower than chance" in str(result)


# --------------------------------------------------------------------------- overfit one batch


def test_overfit_one_batch_succeeds_and_restores_everything(device):
    mg.seed(1)
    model = classifier(device, hidden=32, last_scale=1.0)
    opt = optim.Adam(model.parameters(), lr=0.02)
    x, y = batch(device, n=8)
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()  # some optimizer state to restore
    before = snapshot(model)
    moments = [host(opt.state[p]["exp_avg"]) for p in model.parameters()]
    result = diagnostics.overfit_one_batch(model, opt, x, y, F.cross_entropy, steps=150)
    assert result.ok, str(result)
    assert len(result.losses) == 150 and result.final <= 0.05
    assert result.losses[0] > 1.0
    assert_same_state(model, before)
    for p, m in zip(model.parameters(), moments):
        np.testing.assert_array_equal(host(opt.state[p]["exp_avg"]), m)
        assert opt.state[p]["step"] == 1


def test_overfit_one_batch_reports_a_model_that_cannot_learn():
    mg.seed(1)
    model = classifier("cpu")
    x, y = batch("cpu", n=8)
    result = diagnostics.overfit_one_batch(model, optim.SGD(model.parameters(), lr=0.0), x, y)
    assert not result.ok
    assert result.losses[0] == result.final
    assert "cannot memorise" in str(result)

    def nan_loss(out, target):
        return F.cross_entropy(out, target) * math.nan

    opt = optim.SGD(model.parameters(), lr=0.1)
    result = diagnostics.overfit_one_batch(model, opt, x, y, nan_loss, steps=3)
    assert "became nan at step 1" in str(result)


# --------------------------------------------------------------------------- update ratios


def backward_once(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()


def test_update_ratios_match_numpy_and_pass_at_1e_minus_3(device):
    mg.seed(2)
    model = classifier(device, last_scale=1.0)
    x, y = batch(device)
    backward_once(model, x, y)
    # one param group per tensor, with the lr that makes ‖Δw‖/‖w‖ = 1e-3 for plain SGD
    groups = []
    for p in model.parameters():
        w, g = host(p), host(p.grad)
        groups.append({"params": [p], "lr": float(1e-3 * np.linalg.norm(w) / np.linalg.norm(g))})
    weights = {name: host(p) for name, p in model.named_parameters()}
    grads = {name: host(p.grad) for name, p in model.named_parameters()}
    report = diagnostics.update_ratios(model, optim.SGD(groups, lr=1.0))
    assert report.ok, str(report)
    for row, group in zip(report.rows, groups):
        w, g = weights[row["name"]], grads[row["name"]]
        assert row["weight_norm"] == pytest.approx(np.linalg.norm(w), rel=1e-5)
        assert row["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-5)
        assert row["update_norm"] == pytest.approx(group["lr"] * np.linalg.norm(g), rel=1e-3)
        if np.linalg.norm(w) > 0:  # the last bias starts at 0: its lr is 0 too
            assert row["ratio"] == pytest.approx(1e-3, rel=1e-3)
    assert [r["verdict"] for r in report.rows] == ["ok", "not judged"] * 2


def test_update_ratios_flag_zero_lr_as_too_small_and_big_lr_as_too_large(device):
    mg.seed(2)
    model = classifier(device, last_scale=1.0)
    x, y = batch(device)
    backward_once(model, x, y)
    report = diagnostics.update_ratios(model, optim.SGD(model.parameters(), lr=0.0))
    assert not report.ok
    assert all(row["ratio"] == 0.0 for row in report.rows)
    assert [r["verdict"] for r in report.rows][::2] == ["too small (no update)"] * 2
    assert "zero lr" in str(report)
    report = diagnostics.update_ratios(model, optim.SGD(model.parameters(), lr=100.0))
    assert [r["verdict"] for r in report.rows][::2] == ["too large"] * 2
    assert "lower the learning rate" in str(report)


def test_update_ratios_from_a_saved_state_and_without_gradients():
    model = classifier("cpu", last_scale=1.0)
    before = {name: host(p) for name, p in model.named_parameters()}
    model[0].weight.data += 0.05  # an update made by hand: ‖Δw‖ = 0.05·sqrt(96)
    report = diagnostics.update_ratios(model, before=before)
    first = report.rows[0]
    assert first["update_norm"] == pytest.approx(0.05 * math.sqrt(96), rel=1e-5)
    assert first["grad_norm"] is None
    assert report.rows[2]["verdict"] == "too small (no gradient)"
    with pytest.raises(TypeError, match="pass an optimizer"):
        diagnostics.update_ratios(model)


# --------------------------------------------------------------------------- activation stats


def test_activation_stats_find_dead_relus_against_numpy(device):
    mg.seed(3)
    model = classifier(device)
    x, _ = batch(device, n=64)
    healthy = diagnostics.activation_stats(model, x)
    assert healthy.ok, str(healthy)
    assert healthy["1"]["dead"] == 0.0
    model[0].bias.data -= 100.0  # every pre-activation is negative: all ReLUs die
    report = diagnostics.activation_stats(model, x)
    assert not report.ok
    assert report["1"]["dead"] == 1.0
    assert "100% dead" in str(report)
    # partly dead: NumPy counts the units that are 0 for every sample
    model[0].bias.data += 100.0
    model[0].bias.data[:8] -= 100.0
    w, b = host(model[0].weight), host(model[0].bias)
    hidden = np.maximum(host(x) @ w.T + b, 0)
    report = diagnostics.activation_stats(model, x)
    assert report["1"]["dead"] == pytest.approx(np.mean(np.all(hidden == 0, axis=0)))
    assert report["0"]["mean"] == pytest.approx((host(x) @ w.T + b).mean(), rel=1e-4)
    assert report["1"]["std"] == pytest.approx(hidden.std(), rel=1e-4)
    assert report["1"]["dead"] == pytest.approx(0.5)


def test_activation_stats_find_saturated_tanh_and_sigmoid(device):
    mg.seed(4)
    x, _ = batch(device, n=16)
    for layer, kind in ((nn.Tanh(), "tanh"), (nn.Sigmoid(), "sigmoid")):
        model = nn.Sequential(nn.Linear(6, 8, device=device), layer)
        assert diagnostics.activation_stats(model, x).ok
        model[0].weight.data *= 1000.0
        report = diagnostics.activation_stats(model, x)
        assert report["1"]["saturated"] > 0.9
        assert "saturated" in str(report)
        assert not report.ok, kind


def test_activation_stats_leave_no_hooks_and_no_buffer_changes(device):
    mg.seed(5)
    model = nn.Sequential(
        nn.Linear(6, 8, device=device), nn.BatchNorm1d(8, device=device), nn.Dropout(0.5)
    )
    x, _ = batch(device)
    before = snapshot(model)
    rng = backend.get_rng_state()
    report = diagnostics.activation_stats(model, x)
    assert [r["name"] for r in report.rows] == ["0", "1", "2"]
    assert report["1"]["mean"] == pytest.approx(0.0, abs=1e-5)  # batch statistics in train mode
    assert all(not m._forward_hooks for m in model.modules())
    assert_same_state(model, before)
    assert backend.get_rng_state() == rng
    with pytest.raises(KeyError, match="no layer named"):
        report["fc"]
