"""Pruning (minigrad.nn.utils.prune): the orig/mask/hook mechanics, masks against NumPy counts,
composition of repeated pruning, PyTorch's validation messages, remove and is_pruned."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend, nn
from minigrad.nn.utils import prune


def host(t):
    return backend.to_host(getattr(t, "data", t)).copy()


def linear(device, weight, bias=None):
    """A float64 Linear holding exactly `weight` (out, in) and `bias`."""
    out_features, in_features = weight.shape
    layer = nn.Linear(in_features, out_features, dtype="float64", device=device)
    bias = np.zeros(out_features) if bias is None else bias
    layer.load_state_dict({"weight": weight, "bias": bias})
    return layer


def distinct(shape, seed=0):
    """Entries with distinct magnitudes (no ties for 'the k smallest')."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    magnitudes = rng.permutation(size) + 1.0
    return (magnitudes * rng.choice([-1.0, 1.0], size)).reshape(shape)


# --------------------------------------------------------------------------- mechanics


def test_pruning_moves_the_parameter_and_recomputes_weight_before_forward(device):
    w = distinct((4, 5))
    layer = linear(device, w)
    prune.l1_unstructured(layer, "weight", amount=0.25)
    assert [k for k, _ in layer.named_parameters()] == ["bias", "weight_orig"]
    assert list(layer.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    assert isinstance(layer.weight_orig, nn.Parameter)
    assert not isinstance(layer.weight, nn.Parameter)
    mask = host(layer.weight_mask)
    np.testing.assert_array_equal(mask, (np.abs(w) > 5).astype(float))
    # a training step changes weight_orig; the pre-hook rebuilds weight from it
    layer.weight_orig.data = layer.weight_orig.data * 2
    x = mg.tensor(np.eye(5), dtype="float64", device=device)
    y = layer(x)
    np.testing.assert_allclose(y.numpy(), (2 * w * mask).T)


def test_gradient_reaches_weight_orig_only_where_unpruned(device):
    layer = linear(device, distinct((3, 4), seed=1))
    prune.l1_unstructured(layer, "weight", amount=5)
    x = mg.tensor(np.ones((2, 4)), dtype="float64", device=device)
    layer(x).sum().backward()
    mask = host(layer.weight_mask)
    np.testing.assert_array_equal(host(layer.weight_orig.grad), 2.0 * mask)


@settings(max_examples=20, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    amount=st.one_of(st.floats(0.0, 1.0), st.integers(0, 25)),
)
def test_l1_unstructured_prunes_round_amount_of_the_smallest(shape, amount):
    w = distinct(shape)
    size = w.size
    amount = min(amount, size) if isinstance(amount, int) else amount
    layer = linear("cpu", w)
    prune.l1_unstructured(layer, "weight", amount)
    k = amount if isinstance(amount, int) else round(amount * size)
    expected = (np.abs(w) > k).astype(float)  # magnitudes are 1..size
    np.testing.assert_array_equal(host(layer.weight_mask), expected)


def test_repeated_pruning_takes_its_amount_from_the_unpruned_entries(device):
    w = distinct((4, 5))
    layer = linear(device, w)
    prune.l1_unstructured(layer, "weight", amount=0.5)  # 10 of 20 go: |w| <= 10
    prune.l1_unstructured(layer, "weight", amount=0.5)  # 5 of the 10 left go: |w| <= 15
    np.testing.assert_array_equal(host(layer.weight_mask), (np.abs(w) > 15).astype(float))
    hooks = list(layer._forward_pre_hooks.values())
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer)
    assert len(hooks[0]) == 2


def test_ln_structured_drops_whole_channels_by_norm(device):
    rng = np.random.default_rng(2)
    scales = np.array([3.0, 0.5, 2.0, 0.1, 1.0])[:, None]
    w = rng.uniform(0.5, 1.0, (5, 4)) * scales
    layer = linear(device, w)
    prune.ln_structured(layer, "weight", amount=2, n=2, dim=0)
    kept_rows = np.linalg.norm(w, axis=1) > np.sort(np.linalg.norm(w, axis=1))[1]
    np.testing.assert_array_equal(host(layer.weight_mask), np.repeat(kept_rows[:, None], 4, 1))
    # again along the same dim: 40% of the 3 rows left rounds to 1 more row
    prune.ln_structured(layer, "weight", amount=0.4, n=1, dim=0)
    assert host(layer.weight_mask).any(axis=1).sum() == 2


def test_random_unstructured_prunes_the_amount_among_unpruned(device):
    backend.seed(0)
    layer = linear(device, distinct((6, 5)))
    prune.random_unstructured(layer, "weight", amount=10)
    first = host(layer.weight_mask)
    assert first.sum() == 20
    prune.random_unstructured(layer, "weight", amount=0.5)
    second = host(layer.weight_mask)
    assert second.sum() == 10
    assert np.all(second <= first)


def test_global_unstructured_prunes_the_smallest_across_layers(device):
    a = linear(device, distinct((2, 3)) * 10)  # magnitudes 10..60
    b = linear(device, distinct((3, 2), seed=3))  # magnitudes 1..6
    pairs = [(a, "weight"), (b, "weight")]
    prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=8)
    assert host(b.weight_mask).sum() == 0
    np.testing.assert_array_equal(host(a.weight_mask), (np.abs(host(a.weight_orig)) > 20) * 1.0)


def test_identity_and_custom_mask(device):
    layer = linear(device, distinct((2, 3)))
    prune.identity(layer, "weight")
    np.testing.assert_array_equal(host(layer.weight_mask), np.ones((2, 3)))
    mask = np.array([[1.0, 0, 1], [0, 1, 1]])
    prune.custom_from_mask(layer, "bias", mask=np.array([0.0, 1.0]))
    prune.custom_from_mask(layer, "weight", mask=mask)
    np.testing.assert_array_equal(host(layer.weight_mask), mask)
    assert list(layer.state_dict()) == ["weight_orig", "bias_orig", "weight_mask", "bias_mask"]


def test_remove_makes_the_pruning_permanent(device):
    w = distinct((3, 4))
    layer = linear(device, w)
    assert not prune.is_pruned(layer)
    prune.l1_unstructured(layer, "weight", amount=6)
    model = nn.Sequential(nn.ReLU(), layer)
    assert prune.is_pruned(model)
    prune.remove(layer, "weight")
    assert not prune.is_pruned(model)
    assert isinstance(layer.weight, nn.Parameter)
    assert list(layer.state_dict()) == ["bias", "weight"]
    np.testing.assert_array_equal(host(layer.weight), w * (np.abs(w) > 6))
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        prune.remove(layer, "weight")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "amount, error, message",
    [
        (-1, ValueError, r"amount=-1 should either be a float in the range \[0, 1\]"),
        (1.5, ValueError, r"amount=1.5 should either be a float in the range \[0, 1\]"),
        ("half", TypeError, "Invalid type for amount: half. Must be int or float."),
        (13, ValueError, "amount=13 should be smaller than the number of parameters to prune=12"),
    ],
)
def test_amount_is_validated_with_pytorchs_messages(amount, error, message):
    layer = linear("cpu", distinct((3, 4)))
    with pytest.raises(error, match=message):
        prune.l1_unstructured(layer, "weight", amount)


def test_structured_pruning_needs_a_matrix_and_a_valid_dim():
    layer = linear("cpu", distinct((3, 4)))
    with pytest.raises(ValueError, match="Structured pruning can only be applied"):
        prune.ln_structured(layer, "bias", 1, n=2, dim=0)
    with pytest.raises(IndexError, match="Invalid index 2 for tensor of size"):
        prune.ln_structured(layer, "weight", 1, n=2, dim=2)


def test_global_unstructured_wants_an_unstructured_method():
    layer = linear("cpu", distinct((3, 4)))
    with pytest.raises(TypeError, match='Only "unstructured" PRUNING_TYPE'):
        prune.global_unstructured(
            [(layer, "weight")], pruning_method=prune.LnStructured, amount=1, n=2, dim=0
        )
    with pytest.raises(TypeError, match="parameters is not an Iterable"):
        prune.global_unstructured(layer, pruning_method=prune.L1Unstructured, amount=1)


def test_unknown_tensor_name_is_named():
    with pytest.raises(AttributeError, match="no tensor named 'kernel'"):
        prune.l1_unstructured(linear("cpu", distinct((2, 2))), "kernel", 1)


def test_a_rejected_amount_leaves_the_module_as_it_was():
    layer = linear("cpu", distinct((3, 4)))
    with pytest.raises(ValueError, match="amount=13"):
        prune.l1_unstructured(layer, "weight", 13)
    assert not prune.is_pruned(layer) and list(layer.state_dict()) == ["weight", "bias"]
    prune.l1_unstructured(layer, "weight", 6)
    with pytest.raises(ValueError, match="amount=7"):
        prune.l1_unstructured(layer, "weight", 7)  # only 6 entries are left
    assert prune.is_pruned(layer) and host(layer.weight_mask).sum() == 6


def test_random_structured_drops_whole_channels(device):
    backend.seed(1)
    layer = linear(device, distinct((6, 4)))
    prune.random_structured(layer, "weight", amount=0.5, dim=0)
    mask = host(layer.weight_mask)
    rows = mask.any(axis=1)
    assert rows.sum() == 3
    np.testing.assert_array_equal(mask, np.repeat(rows[:, None], 4, 1) * 1.0)
    prune.random_structured(layer, "weight", amount=1, dim=0)
    assert host(layer.weight_mask).any(axis=1).sum() == 2
