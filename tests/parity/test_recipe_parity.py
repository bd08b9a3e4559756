"""Parity with PyTorch (skipped without torch) of the recipe's model tools: pruning masks and
state-dict keys, weight_norm as a parametrization, update_bn, and BatchNorm folding."""

import numpy as np
import pytest

import minigrad
from minigrad import backend, nn
from minigrad.nn.utils import fusion, parametrizations, parametrize, prune
from minigrad.optim import swa_utils

torch = pytest.importorskip("torch")
tprune = pytest.importorskip("torch.nn.utils.prune")


def host(t):
    return backend.to_host(getattr(t, "data", t))


def pair(torch_layer, ours):
    """Copy torch_layer's float64 state into `ours` (same architecture); return both."""
    torch_layer = torch_layer.double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})
    return torch_layer, ours


def conv_pair(seed):
    torch.manual_seed(seed)
    return pair(torch.nn.Conv2d(3, 6, 3), nn.Conv2d(3, 6, 3, dtype="float64"))


def assert_same_masks(theirs, ours, name="weight"):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    mask = getattr(theirs, name + "_mask").numpy()
    np.testing.assert_array_equal(host(getattr(ours, name + "_mask")), mask)


# --------------------------------------------------------------------------- pruning


def test_l1_then_structured_then_l1_masks_equal_torchs():
    theirs, ours = conv_pair(0)
    steps = [
        ("l1_unstructured", dict(amount=0.3)),
        ("ln_structured", dict(amount=2, n=2, dim=0)),
        ("ln_structured", dict(amount=0.5, n=1, dim=1)),
        ("l1_unstructured", dict(amount=7)),
    ]
    for fn, kwargs in steps:
        getattr(tprune, fn)(theirs, "weight", **kwargs)
        getattr(prune, fn)(ours, "weight", **kwargs)
        assert_same_masks(theirs, ours)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    y = ours(minigrad.tensor(x, dtype="float64"))
    np.testing.assert_allclose(y.numpy(), theirs(torch.from_numpy(x)).detach().numpy())
    tprune.remove(theirs, "weight")
    prune.remove(ours, "weight")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_array_equal(host(ours.weight), theirs.weight.detach().numpy())


def test_ln_structured_with_importance_scores_and_inf_norm():
    theirs, ours = conv_pair(1)
    scores = np.random.default_rng(1).standard_normal((6, 3, 3, 3))
    tprune.ln_structured(theirs, "weight", 0.5, n=float("inf"), dim=-1, importance_scores=None)
    prune.ln_structured(ours, "weight", 0.5, n=float("inf"), dim=-1)
    assert_same_masks(theirs, ours)
    tprune.l1_unstructured(
        theirs, "bias", 2, importance_scores=torch.from_numpy(scores[:, 0, 0, 0])
    )
    prune.l1_unstructured(ours, "bias", 2, importance_scores=minigrad.tensor(scores[:, 0, 0, 0]))
    assert_same_masks(theirs, ours, "bias")


def test_global_unstructured_masks_equal_torchs():
    torch.manual_seed(2)
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3))
    ours = nn.Sequential(nn.Linear(5, 4, dtype="float64"), nn.Linear(4, 3, dtype="float64"))
    theirs, ours = pair(theirs, ours)
    tprune.l1_unstructured(theirs[0], "weight", 0.25)
    prune.l1_unstructured(ours[0], "weight", 0.25)
    for model, lib in ((theirs, tprune), (ours, prune)):
        params = [(model[0], "weight"), (model[1], "weight"), (model[1], "bias")]
        lib.global_unstructured(params, pruning_method=lib.L1Unstructured, amount=0.4)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for i in range(2):
        assert_same_masks(theirs[i], ours[i])
    assert_same_masks(theirs[1], ours[1], "bias")


# --------------------------------------------------------------------------- weight_norm


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(dim):
    torch.manual_seed(3)
    theirs, ours = conv_pair(3)
    torch.nn.utils.parametrizations.weight_norm(theirs, dim=dim)
    parametrizations.weight_norm(ours, dim=dim)
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(host(value), state[key].numpy(), rtol=1e-12, err_msg=key)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 5))
    dout = rng.standard_normal((2, 6, 3, 3))
    y = ours(minigrad.tensor(x, dtype="float64"))
    yt = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), atol=1e-12)
    y.backward(minigrad.tensor(dout, dtype="float64"))
    yt.backward(torch.from_numpy(dout))
    for name, p in ours.named_parameters():
        expected = dict(theirs.named_parameters())[name].grad.numpy()
        np.testing.assert_allclose(host(p.grad), expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_a_torch_weight_norm_state_dict_loads():
    torch.manual_seed(4)
    theirs = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(4, 3).double())
    ours = parametrizations.weight_norm(nn.Linear(4, 3, dtype="float64"))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(host(ours.weight), theirs.weight.detach().numpy(), rtol=1e-12)
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    parametrize.remove_parametrizations(ours, "weight")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(host(ours.weight), theirs.weight.detach().numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- update_bn


def test_update_bn_matches_torch():
    torch.manual_seed(5)
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 5), torch.nn.BatchNorm1d(5, momentum=0.3), torch.nn.ReLU()
    )
    ours = nn.Sequential(
        nn.Linear(4, 5, dtype="float64"),
        nn.BatchNorm1d(5, momentum=0.3, dtype="float64"),
        nn.ReLU(),
    )
    theirs, ours = pair(theirs, ours)
    theirs.eval()
    ours.eval()
    rng = np.random.default_rng(5)
    batches = [(rng.standard_normal((n, 4)) * 3 + 1, np.zeros(n)) for n in (8, 3, 6)]
    torch.optim.swa_utils.update_bn([(torch.from_numpy(x), y) for x, y in batches], theirs)
    swa_utils.update_bn([(minigrad.tensor(x, dtype="float64"), y) for x, y in batches], ours)
    assert not ours.training and not ours[1].training
    assert ours[1].momentum == 0.3
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(host(ours.state_dict()[key]), value.numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- fusion


def test_fused_conv_bn_equals_torchs():
    torch.manual_seed(6)
    conv = torch.nn.Conv2d(3, 4, 3, bias=False).double()
    bn = torch.nn.BatchNorm2d(4).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    conv.eval()
    bn.eval()
    _, ours_conv = pair(conv, nn.Conv2d(3, 4, 3, bias=False, dtype="float64"))
    _, ours_bn = pair(bn, nn.BatchNorm2d(4, dtype="float64"))
    ours_conv.eval()
    ours_bn.eval()
    theirs = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
    ours = fusion.fuse_conv_bn_eval(ours_conv, ours_bn)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(host(ours.state_dict()[key]), value.numpy(), rtol=1e-12)
