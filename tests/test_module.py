"""Tests for minigrad/nn/module.py: registration order, walks, modes, devices, state dicts."""

from collections import OrderedDict

import numpy as np
import pytest

import minigrad
from minigrad import backend
from minigrad.nn import Module, ModuleDict, ModuleList, Parameter, Sequential


class Affine(Module):
    """y = x @ w^T + b with a running-count buffer: a small layer made only of primitives."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        rng = np.random.default_rng(n_in * 10 + n_out)
        self.weight = Parameter(rng.standard_normal((n_out, n_in)).astype(np.float32))
        if bias:
            self.bias = Parameter(np.zeros(n_out, np.float32))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("calls", minigrad.zeros(1))
        self.register_buffer("scratch", minigrad.zeros(2), persistent=False)
        self.n_in = n_in
        self.n_out = n_out

    def forward(self, x):
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"n_in={self.n_in}, n_out={self.n_out}"


class Act(Module):
    def forward(self, x):
        return x.relu()


class Net(Module):
    def __init__(self):
        super().__init__()
        self.features = Sequential(Affine(4, 3), Act())
        self.head = Affine(3, 2, bias=False)

    def forward(self, x):
        return self.head(self.features(x))


# --------------------------------------------------------------------------- Parameter


def test_parameter_defaults_and_float_only():
    p = Parameter(np.ones((2, 3), np.float32))
    assert p.requires_grad
    assert isinstance(p, minigrad.Tensor)
    assert Parameter(minigrad.ones(2), requires_grad=False).requires_grad is False
    with pytest.raises(TypeError, match="int64"):
        Parameter(np.arange(3))
    assert repr(p).startswith("Parameter containing:")


# --------------------------------------------------------------------------- registration


def test_registration_order_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "head.weight"]
    assert [n for n, _ in net.named_buffers()] == [
        "features.0.calls",
        "features.0.scratch",
        "head.calls",
        "head.scratch",
    ]
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert [n for n, _ in net.named_modules()] == [
        "",
        "features",
        "features.0",
        "features.1",
        "head",
    ]
    assert len(list(net.parameters(recurse=False))) == 0
    assert len(list(net.modules())) == 5


def test_reassign_and_delete():
    m = Affine(2, 2)
    with pytest.raises(TypeError, match="'weight'"):
        m.weight = minigrad.ones(2, 2)
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    m.calls = minigrad.ones(1)
    assert m.calls.numpy()[0] == 1
    with pytest.raises(TypeError, match="'calls'"):
        m.calls = 3
    del m.weight
    assert list(m.named_parameters()) == []
    with pytest.raises(AttributeError, match="weight"):
        _ = m.weight


def test_assign_before_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.w = Parameter(np.ones(2, np.float32))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_shared_parameter_counted_once():
    a = Affine(3, 3)
    net = Sequential(a, Act(), a)
    assert len(list(net.parameters())) == 2
    assert len(list(net.modules())) == 3


# --------------------------------------------------------------------------- modes and grads


def test_train_eval_recursive():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(TypeError):
        net.train("no")


def test_zero_grad_and_requires_grad():
    net = Net()
    x = minigrad.tensor(np.ones((5, 4), np.float32))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_zero_grad_keeping_arrays_zeroes_them_in_place():
    """set_to_none=False keeps each gradient array and fills it with zeros, NaN included."""
    net = Net()
    net(minigrad.tensor(np.ones((5, 4), np.float32))).sum().backward()
    first = next(net.parameters())
    first.grad[...] = np.nan
    arrays = [p.grad for p in net.parameters()]
    net.zero_grad(set_to_none=False)
    for p, array in zip(net.parameters(), arrays):
        assert p.grad is array
        np.testing.assert_array_equal(p.grad, np.zeros_like(array))


def test_forward_hook_and_apply():
    net = Net()
    seen = []
    handle = net.head.register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    net(minigrad.ones(5, 4))
    handle.remove()
    net(minigrad.ones(5, 4))
    assert seen == [(5, 2)]
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Affine", "Act", "Sequential", "Affine", "Net"]


# --------------------------------------------------------------------------- devices


def test_to_keeps_parameter_identity(device):
    net = Net()
    params = list(net.parameters())
    net(minigrad.ones(2, 4)).sum().backward()
    assert net.to(device) is net
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(p.device == device and p.grad is not None for p in net.parameters())
    assert all(b.device == device for b in net.buffers())
    out = net(minigrad.ones(2, 4, device=device))
    assert out.device == device


def test_to_dtype_casts_floats_only():
    m = Affine(2, 3)
    m.register_buffer("steps", minigrad.tensor(np.array(3)))
    weight = m.weight
    m.to(dtype="float64")
    assert m.weight is weight and m.weight.dtype == "float64"
    assert m.calls.dtype == "float64"
    assert m.steps.dtype == "int64"
    m.to("float32")
    assert m.weight.dtype == "float32"
    with pytest.raises(TypeError, match="int32"):
        m.to(dtype="int32")


# --------------------------------------------------------------------------- state dicts


def test_state_dict_keys_and_values():
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == [
        "features.0.weight",
        "features.0.bias",
        "features.0.calls",
        "head.weight",
        "head.calls",
    ]
    assert state["head.weight"] is net.head.weight.data
    assert all(backend.is_array(v) for v in state.values())


def test_load_state_dict_round_trip(device):
    src, dst = Net(), Net()
    for p in src.parameters():
        p.data = p.data + 1.5
    dst.to(device)
    weight = dst.head.weight
    host = {k: backend.to_host(v).copy() for k, v in src.state_dict().items()}
    result = dst.load_state_dict(host)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst.head.weight is weight and weight.device == device
    for key, value in host.items():
        np.testing.assert_array_equal(backend.to_host(dst.state_dict()[key]), value)
    host["head.weight"][0, 0] = 99.0  # the model holds a copy, not the caller's array
    assert dst.head.weight.numpy()[0, 0] != 99.0


def test_load_accepts_tensors():
    src, dst = Net(), Net()
    dst.load_state_dict({k: minigrad.tensor(v) for k, v in src.state_dict().items()})
    np.testing.assert_array_equal(dst.head.weight.numpy(), src.head.weight.numpy())


def test_strict_load_names_every_bad_key():
    net = Net()
    state = dict(net.state_dict())
    del state["features.0.bias"]
    state["extra.weight"] = np.zeros(2, np.float32)
    state["head.weight"] = np.zeros((7, 7), np.float32)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "'features.0.bias'" in message
    assert "'extra.weight'" in message
    assert "head.weight" in message and "(7, 7)" in message and "(2, 3)" in message


def test_non_strict_load_reports_keys():
    net = Net()
    state = dict(net.state_dict())
    del state["head.weight"]
    state["junk"] = np.zeros(1, np.float32)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["head.weight"] and unexpected == ["junk"]


# --------------------------------------------------------------------------- printing


def test_repr_tree():
    text = repr(Net())
    expected = (
        "Net(\n"
        "  (features): Sequential(\n"
        "    (0): Affine(n_in=4, n_out=3)\n"
        "    (1): Act()\n"
        "  )\n"
        "  (head): Affine(n_in=3, n_out=2)\n"
        ")"
    )
    assert text == expected


def test_summary_shapes_and_counts():
    net = Net()
    net.train()
    lines = []
    table = net.summary((5, 4), print_fn=lines.append)
    assert lines == [table]
    assert "features.0" in table and "(5, 3)" in table and "(5, 2)" in table
    assert "total params: 21" in table  # 4*3 + 3 + 3*2
    assert net.training and net.head.training
    assert all(not m._forward_hooks for m in net.modules())


# --------------------------------------------------------------------------- containers


def test_sequential_indexing():
    a, b, c = Affine(2, 3), Act(), Affine(3, 1)
    seq = Sequential(a, b, c)
    assert len(seq) == 3
    assert seq[0] is a and seq[-1] is c
    assert list(seq) == [a, b, c]
    head = seq[:2]
    assert isinstance(head, Sequential) and list(head) == [a, b]
    seq.append(Act())
    assert len(seq) == 4 and [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    with pytest.raises(IndexError):
        seq[4]
    with pytest.raises(TypeError, match="argument 1"):
        Sequential(a, "relu")
    x = minigrad.ones(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).relu().numpy())


def test_sequential_ordered_dict_names():
    seq = Sequential(OrderedDict([("fc", Affine(2, 2)), ("act", Act())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias", "fc.calls"]


def test_module_list_and_dict():
    layers = ModuleList([Affine(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.insert(0, Act())
    assert isinstance(layers[0], Act) and [n for n, _ in layers.named_children()][-1] == "3"
    del layers[0]
    assert len(layers) == 3 and isinstance(layers[1:], ModuleList)
    d = ModuleDict({"enc": Affine(2, 3), "dec": Affine(3, 2)})
    assert list(d) == ["enc", "dec"] and "enc" in d
    assert [k for k in d.state_dict()][0] == "enc.weight"


def test_forward_pre_hooks_see_and_may_replace_the_inputs_in_order():
    class Echo(Module):
        def forward(self, x, scale=1):
            return x * scale

    layer = Echo()
    seen = []
    first = layer.register_forward_pre_hook(lambda module, inputs: seen.append(inputs) or None)
    layer.register_forward_pre_hook(lambda module, inputs: inputs[0] * 3)  # a bare value
    assert layer(2, scale=5) == 30  # keyword arguments pass through untouched
    assert seen == [(2,)]
    first.remove()
    layer.register_forward_pre_hook(lambda module, inputs: (inputs[0] + 1,))  # a tuple
    assert layer(2) == 7


def test_load_state_dict_writes_into_the_existing_arrays():
    model = minigrad.nn.Linear(3, 2)
    arrays = [p.data for p in model.parameters()]
    versions = [p._version for p in model.parameters()]
    saved = {k: v * 0 + 1.5 for k, v in model.state_dict().items()}
    model.load_state_dict(saved)
    for p, a, v in zip(model.parameters(), arrays, versions):
        assert p.data is a and p._version == v + 1
        np.testing.assert_array_equal(p.numpy(), np.full(p.shape, 1.5, np.float32))
