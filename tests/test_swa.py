"""Weight averaging (AveragedModel, EMA), SWALR and snapshot ensembles."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, nn, optim
from minigrad.optim import swa_utils


def _model(device):
    mg.seed(0)
    return nn.Sequential(nn.Linear(3, 4, device=device), nn.Tanh(), nn.Linear(4, 2, device=device))


def _perturb(model, rng, device):
    """Give the model new weights, as one more training step would."""
    for p in model.parameters():
        p.data = backend.to_device(rng.standard_normal(p.shape).astype("float32"), device)


def _weights(model):
    return [backend.to_host(p.data).copy() for p in model.parameters()]


def test_swa_is_the_running_mean(device):
    rng = np.random.default_rng(0)
    model = _model(device)
    swa = swa_utils.AveragedModel(model)
    seen = []
    for _ in range(4):
        _perturb(model, rng, device)
        swa.update_parameters(model)
        seen.append(_weights(model))
    assert swa.n_averaged == 4
    for i, p in enumerate(swa.module.parameters()):
        mean = np.mean([w[i] for w in seen], axis=0)
        np.testing.assert_allclose(backend.to_host(p.data), mean, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("multi", [True, False])
def test_ema(multi, device):
    rng = np.random.default_rng(1)
    model = _model(device)
    if multi:
        ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9))
    else:
        ema = swa_utils.AveragedModel(model, avg_fn=swa_utils.get_ema_avg_fn(0.9))
    expected = None
    for _ in range(5):
        _perturb(model, rng, device)
        ema.update_parameters(model)
        current = _weights(model)
        if expected is None:
            expected = current
        else:
            expected = [0.9 * e + 0.1 * c for e, c in zip(expected, current)]
    for p, e in zip(ema.module.parameters(), expected):
        np.testing.assert_allclose(backend.to_host(p.data), e, rtol=1e-5, atol=1e-6)


def test_averaged_model_is_an_independent_copy(device):
    model = _model(device)
    swa = swa_utils.AveragedModel(model)
    x = mg.randn(5, 3, device=device)
    np.testing.assert_allclose(swa(x).numpy(), model(x).numpy())
    first = model[0].weight
    first.data = first.data * 0 + 1
    assert not np.allclose(backend.to_host(swa.module[0].weight.data), 1.0)
    assert swa.module[0].weight is not first


def test_buffers_are_copied_or_averaged(device):
    model = nn.BatchNorm1d(3, device=device)
    copied = swa_utils.AveragedModel(model)
    averaged = swa_utils.AveragedModel(model, use_buffers=True)
    for value in (1.0, 3.0):
        model.running_mean.data = backend.to_device(np.full(3, value, "float32"), device)
        copied.update_parameters(model)
        averaged.update_parameters(model)
    np.testing.assert_allclose(backend.to_host(copied.module.running_mean.data), 3.0)
    np.testing.assert_allclose(backend.to_host(averaged.module.running_mean.data), 2.0)


def test_swalr_anneals_to_swa_lr():
    opt = optim.SGD([mg.tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    scheduler = swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=4, anneal_strategy="linear")
    lrs = []
    for _ in range(7):
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step()
    np.testing.assert_allclose(lrs, [1.0, 0.775, 0.55, 0.325, 0.1, 0.1, 0.1])


def test_snapshot_ensemble_averages_softmax(device):
    rng = np.random.default_rng(2)
    model = _model(device)
    ensemble = swa_utils.SnapshotEnsemble(max_snapshots=2)
    x = mg.randn(6, 3, device=device)
    outputs = []
    for _ in range(3):
        _perturb(model, rng, device)
        ensemble.add(model)
        logits = model(x).numpy()
        probs = np.exp(logits - logits.max(1, keepdims=True))
        outputs.append(probs / probs.sum(1, keepdims=True))
    current = _weights(model)
    model.train()
    got = ensemble.predict(model, x)
    assert len(ensemble) == 2  # the oldest snapshot was dropped
    np.testing.assert_allclose(got.numpy(), (outputs[1] + outputs[2]) / 2, rtol=1e-5)
    assert model.training
    for w, p in zip(current, model.parameters()):
        np.testing.assert_array_equal(backend.to_host(p.data), w)


def test_update_bn_recomputes_running_stats_as_a_cumulative_mean(device):
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(3, 4, device=device), nn.BatchNorm1d(4, device=device))
    model.eval()
    batches = [rng.standard_normal((n, 3)).astype("float32") * 2 + 1 for n in (5, 7, 4)]
    loader = [(mg.tensor(x, device=device), None) for x in batches]
    swa_utils.update_bn(loader, model)
    w = backend.to_host(model[0].weight.data)
    b = backend.to_host(model[0].bias.data)
    outputs = [x @ w.T + b for x in batches]
    # momentum=None: the plain mean over batches of each batch's statistics
    mean = np.mean([z.mean(0) for z in outputs], axis=0)
    var = np.mean([z.var(0, ddof=1) for z in outputs], axis=0)
    bn = model[1]
    np.testing.assert_allclose(backend.to_host(bn.running_mean.data), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backend.to_host(bn.running_var.data), var, rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1 and not model.training and not bn.training


def test_update_bn_without_batchnorm_leaves_the_model_alone(device):
    model = _model(device)
    before = _weights(model)
    swa_utils.update_bn([mg.randn(2, 3, device=device)], model)
    for a, b in zip(_weights(model), before):
        np.testing.assert_array_equal(a, b)
