"""Parametrizations (nn.utils.parametrize) and weight_norm: the class swap and its undoing,
state-dict keys, chained parametrizations, gradients through g and v, and bad input."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, gradcheck, nn
from minigrad.nn.utils import parametrizations, parametrize


def host(t):
    return backend.to_host(getattr(t, "data", t)).copy()


class Symmetric(nn.Module):
    """X -> triu(X) + triu(X, 1)ᵀ, a parametrization without right_inverse."""

    def forward(self, x):
        upper = x * mg.tensor(np.triu(np.ones(x.shape)), dtype=x.dtype, device=x.device)
        strict = x * mg.tensor(np.triu(np.ones(x.shape), 1), dtype=x.dtype, device=x.device)
        return upper + strict.transpose(0, 1)


class Double(nn.Module):
    def forward(self, x):
        return x * 2

    def right_inverse(self, x):
        return x / 2


def test_register_and_remove_a_parametrization(device):
    layer = nn.Linear(3, 3, device=device)
    weight = layer.weight
    original = host(weight)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    assert type(layer).__name__ == "ParametrizedLinear" and isinstance(layer, nn.Linear)
    assert parametrize.is_parametrized(layer) and parametrize.is_parametrized(layer, "weight")
    assert not parametrize.is_parametrized(layer, "bias")
    assert list(layer.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert layer.parametrizations.weight.original is weight  # an optimizer keeps training it
    symmetric = host(layer.weight)
    np.testing.assert_array_equal(symmetric, symmetric.T)
    np.testing.assert_array_equal(np.triu(symmetric), np.triu(original))
    parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and not parametrize.is_parametrized(layer)
    assert list(layer.state_dict()) == ["bias", "weight"]
    assert layer.weight is weight
    np.testing.assert_array_equal(host(layer.weight), symmetric)


def test_chained_parametrizations_and_assignment_through_right_inverse(device):
    layer = nn.Linear(2, 2, device=device)
    before = host(layer.weight)
    parametrize.register_parametrization(layer, "weight", Double())
    parametrize.register_parametrization(layer, "weight", Double())
    # as in PyTorch, only the first right_inverse sets the original; the second just applies
    np.testing.assert_allclose(host(layer.parametrizations.weight.original), before / 2)
    np.testing.assert_allclose(host(layer.weight), 2 * before, rtol=1e-6)
    layer.weight = mg.tensor(np.ones((2, 2)), device=device)
    np.testing.assert_allclose(host(layer.parametrizations.weight.original), np.full((2, 2), 0.25))
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    np.testing.assert_allclose(host(layer.weight), np.full((2, 2), 0.25))


@pytest.mark.parametrize("dim, g_shape", [(0, (4, 1, 1, 1)), (1, (1, 2, 1, 1)), (None, ())])
def test_weight_norm_splits_length_and_direction(dim, g_shape, device):
    conv = nn.Conv2d(2, 4, 3, dtype="float64", device=device)
    w = host(conv.weight)
    parametrizations.weight_norm(conv, dim=dim)
    g = conv.parametrizations.weight.original0
    v = conv.parametrizations.weight.original1
    assert g.shape == g_shape and v.shape == w.shape
    axes = tuple(a for a in range(4) if a != dim) if dim is not None else None
    np.testing.assert_allclose(host(g), np.sqrt((w**2).sum(axis=axes, keepdims=dim is not None)))
    np.testing.assert_allclose(host(conv.weight), w, rtol=1e-12)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    gradcheck(lambda t: conv(t), [x], params=[g, v], mode="fast", device=device)


def test_weight_norm_state_is_saved_and_removed(device):
    layer = parametrizations.weight_norm(nn.Linear(3, 2, device=device))
    keys = ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert list(layer.state_dict()) == keys
    other = parametrizations.weight_norm(nn.Linear(3, 2, device=device))
    other.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(host(other.weight), host(layer.weight), rtol=1e-6)
    with pytest.raises(ValueError, match="sequence of tensors"):
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    parametrize.remove_parametrizations(layer, "weight")
    assert isinstance(layer.weight, nn.Parameter)


def test_bad_input_is_named():
    layer = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="no parameter or buffer with name 'kernel'"):
        parametrize.register_parametrization(layer, "kernel", Double())
    with pytest.raises(TypeError, match="must be a Module"):
        parametrize.register_parametrization(layer, "weight", lambda x: x)
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(layer, "weight")
    with pytest.raises(ValueError, match="dim must be None or an axis of weight, got 2"):
        parametrizations.weight_norm(layer, dim=2)


class Transpose(nn.Module):
    def forward(self, x):
        return x.transpose(0, 1)


def test_a_shape_change_needs_unsafe_and_leaves_the_module_alone():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="may not change the shape or dtype"):
        parametrize.register_parametrization(layer, "weight", Transpose())
    assert type(layer) is nn.Linear and list(layer.state_dict()) == ["weight", "bias"]
    parametrize.register_parametrization(layer, "weight", Transpose(), unsafe=True)
    assert layer.weight.shape == (3, 2)
