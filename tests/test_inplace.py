"""In-place updates (minigrad/inplace.py): results equal the out-of-place ops, the array itself
is changed under no_grad, a leaf that requires grad refuses outside it, recorded updates are
differentiable, and the version counter turns a stale saved value into an error."""

import numpy as np
import pytest
from helpers import on
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import backend, gradcheck, nn
from minigrad.inplace import LEAF_ERROR

small = mt.shapes(1, 3, max_side=4)
STALE = "modified by an inplace operation"


@st.composite
def shape_and_mask(draw):
    shape = draw(small)
    mask = draw(st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return shape, np.asarray(mask).reshape(shape)


# each case: (name, in-place call, the same update written out of place); o is the operand
CASES = [
    ("add_", lambda t, o: t.add_(o), lambda t, o: t + o),
    ("add_alpha", lambda t, o: t.add_(o, alpha=-0.5), lambda t, o: t - 0.5 * o),
    ("sub_", lambda t, o: t.sub_(o), lambda t, o: t - o),
    ("mul_", lambda t, o: t.mul_(o), lambda t, o: t * o),
    ("div_", lambda t, o: t.div_(o * o + 1), lambda t, o: t / (o * o + 1)),
    ("iadd", lambda t, o: t.__iadd__(o), lambda t, o: t + o),
    ("isub", lambda t, o: t.__isub__(o), lambda t, o: t - o),
    ("imul", lambda t, o: t.__imul__(o), lambda t, o: t * o),
    ("itruediv", lambda t, o: t.__itruediv__(o * o + 1), lambda t, o: t / (o * o + 1)),
    ("neg_", lambda t, o: t.neg_(), lambda t, o: -t),
    ("clamp_", lambda t, o: t.clamp_(-0.5, 1.0), lambda t, o: t.clamp(-0.5, 1.0)),
    ("copy_", lambda t, o: t.copy_(o), lambda t, o: o * 1),
    ("fill_", lambda t, o: t.fill_(0.25), lambda t, o: t * 0 + 0.25),
    ("zero_", lambda t, o: t.zero_(), lambda t, o: t * 0),
    ("setitem", lambda t, o: t.__setitem__(0, o[0]) or t, lambda t, o: mg.cat([o[:1], t[1:]])),
]
NAMES = [c[0] for c in CASES]


@pytest.mark.parametrize("name, update, reference", CASES, ids=NAMES)
@given(data=st.data())
def test_no_grad_update_equals_out_of_place_and_keeps_the_array(
    name, update, reference, data, device
):
    shape = data.draw(small)
    x = data.draw(mt.arrays(shape, kinks=(-0.5, 1.0)))
    o = data.draw(mt.arrays(shape))
    t, other = on(device, x, o)
    t.requires_grad_()
    expected = reference(*on(device, x, o)).numpy()
    array, version = t.data, t._version
    with mg.no_grad():
        result = update(t, other)
    assert result is t
    assert t.data is array, "the update must write into the tensor's own array"
    assert t._version == version + 1
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, update, reference", CASES, ids=NAMES)
@given(data=st.data())
def test_leaf_that_requires_grad_refuses_outside_no_grad(name, update, reference, data, device):
    x = data.draw(mt.arrays(data.draw(small)))
    t, other = on(device, x, x)
    t.requires_grad_()
    with pytest.raises(RuntimeError) as error:
        update(t, other)
    assert str(error.value) == LEAF_ERROR
    np.testing.assert_array_equal(t.numpy(), x)
    assert t._version == 0


@pytest.mark.parametrize("name, update, reference", CASES, ids=NAMES)
@given(data=st.data())
def test_recorded_update_is_differentiable(name, update, reference, data, device):
    shape = data.draw(small)
    x = data.draw(mt.arrays(shape, kinks=(-0.5 / 1.5, 1.0 / 1.5)))  # clamp_'s kinks on 1.5 x
    o = data.draw(mt.arrays(shape))

    def through_update(a, b):
        h = a * 1.5  # a non-leaf: its in-place update is recorded in the graph
        update(h, b)
        return h * 2

    def written_out(a, b):
        return reference(a * 1.5, b) * 2

    ours = through_update(*on(device, x, o)).numpy()
    np.testing.assert_allclose(ours, written_out(*on(device, x, o)).numpy(), rtol=1e-12)
    gradcheck(through_update, [x, o], device=device)


@given(data=st.data())
def test_update_with_a_value_that_requires_grad_joins_the_graph(data, device):
    x = data.draw(mt.arrays(data.draw(small)))

    def write_into_buffer(v):
        buffer = mg.zeros(*v.shape, dtype="float64", device=device)
        buffer[...] = v * 3  # the buffer does not require grad, the value does
        buffer += v
        return buffer

    gradcheck(write_into_buffer, [x], device=device)


# --------------------------------------------------------------------------- version counter

SAVING_OPS = [  # each keeps its input (or output) array for backward
    ("mul", lambda t: t * t),
    ("exp", lambda t: t.exp()),
    ("tanh", lambda t: t.tanh()),
    ("pow", lambda t: t**3),
    ("matmul", lambda t: t @ t.T),
    ("var", lambda t: t.var(correction=0)),
]
CHANGES = [  # ways to change the input's array after the op ran
    ("no_grad add_", lambda t, y: t.add_(1.0)),
    ("no_grad setitem", lambda t, y: t.__setitem__(0, 5.0)),
    ("through a view", lambda t, y: t[0].mul_(2.0)),
    ("through detach", lambda t, y: t.detach().zero_()),
    ("the output", lambda t, y: y.mul_(2.0)),
]


@pytest.mark.parametrize("op_name, op", SAVING_OPS, ids=[s[0] for s in SAVING_OPS])
@pytest.mark.parametrize("change_name, change", CHANGES, ids=[c[0] for c in CHANGES])
@given(x=mt.arrays(mt.shapes(2, 2, min_side=1, max_side=3), 0.5, 2.0))
def test_backward_after_an_in_place_change_raises(op_name, op, change_name, change, x, device):
    (t,) = on(device, x, requires_grad=True)
    y = op(t)
    with mg.no_grad():
        change(t, y)
    with pytest.raises(RuntimeError, match=STALE):
        y.sum().backward()


def test_updates_after_backward_and_on_unsaved_tensors_are_fine(device):
    (w,) = on(device, np.ones(3), requires_grad=True)
    (w * 2).sum().backward()
    with mg.no_grad():
        w -= 0.5 * w.grad  # the graph is gone: nothing saved w
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0, 0.0])
    h = w * 3
    h += 1  # recorded: Mul saved no copy of its output, so this is allowed
    h.sum().backward()
    np.testing.assert_allclose(backend.to_host(w.grad), [5.0, 5.0, 5.0])


def test_a_view_in_a_graph_is_refused_and_its_base_takes_the_update(device):
    (w,) = on(device, np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    h = w * 2
    with pytest.raises(RuntimeError, match="BasicIndex made this tensor a view"):
        h[0].mul_(3.0)
    with pytest.raises(RuntimeError, match="Reshape made this tensor a view"):
        h.view(-1).zero_()
    h[0] = h[0] * 3.0
    h.sum().backward()
    np.testing.assert_allclose(backend.to_host(w.grad), [[6.0, 6.0], [2.0, 2.0]])


def test_ops_that_used_the_old_value_keep_it_after_a_recorded_update(device):
    (w,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    h = w * 2
    tenfold = h * 5  # uses the old h
    h.mul_(3)
    (tenfold + h).sum().backward()  # 10 w + 6 w
    np.testing.assert_allclose(backend.to_host(w.grad), [16.0, 16.0])


def test_a_buffer_used_before_it_joined_the_graph(device):
    (w,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    buffer = mg.ones(2, dtype="float64", device=device)
    y = buffer * w  # buffer was a leaf outside the graph here
    buffer[0] = w[0] * 3
    (y + buffer).sum().backward()  # w0 + w1 + 3 w0 + 1
    np.testing.assert_allclose(backend.to_host(w.grad), [4.0, 1.0])


def test_old_value_changed_under_no_grad_still_raises(device):
    (w,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    h = w * 2
    y = h * h  # saves h's array
    with mg.no_grad():
        h.add_(1.0)  # changes that very array
    h.mul_(3.0)  # recorded: remembers the value at the new version, not the one y saw
    with pytest.raises(RuntimeError, match=STALE):
        (y + h).sum().backward()


# --------------------------------------------------------------------------- the manual SGD loop


def test_manual_sgd_loop_updates_parameters_in_place(device):
    mg.seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(device)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1)
    arrays = [p.data for p in model.parameters()]
    state = model.state_dict()
    before = [p.numpy().copy() for p in model.parameters()]
    x = mg.randn(8, 3, device=device)
    loss = (model(x) ** 2).mean()
    loss.backward()
    lr = 0.1
    with mg.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    for p, a, b in zip(model.parameters(), arrays, before):
        assert p.data is a  # optimizers and state_dict hold these arrays
        np.testing.assert_allclose(p.numpy(), b - lr * backend.to_host(p.grad), rtol=1e-6)
    for key, p in zip(state, model.parameters()):
        assert state[key] is p.data
    assert optimizer.param_groups[0]["params"][0].data is arrays[0]


def test_module_attribute_update_keeps_the_parameter_and_its_place():
    layer = nn.Linear(2, 2)
    weight = layer.weight
    with mg.no_grad():
        layer.weight += 1.0
    assert layer.weight is weight
    assert list(layer.state_dict()) == ["weight", "bias"]


# --------------------------------------------------------------------------- types, shapes, errors


def test_integer_tensor_refuses_a_float_result(device):
    t = mg.tensor([1, 2], device=device)
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
        t += 0.5
    t += 2
    assert t.tolist() == [3, 4] and t.dtype == "int64"


def test_float32_target_keeps_its_dtype(device):
    t = mg.tensor([1.0, 2.0], device=device)
    t.add_(mg.tensor(np.array([0.5, 0.25]), device=device))
    assert t.dtype == "float32"
    np.testing.assert_array_equal(t.numpy(), np.array([1.5, 2.25], np.float32))


def test_in_place_cannot_broadcast_its_target(device):
    t = mg.zeros(3, device=device)
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*shape \(3,\)"):
        t.add_(mg.ones(2, 3, device=device))


def test_read_only_array_is_replaced_not_written():
    source = np.broadcast_to(np.arange(3.0), (2, 3))  # a read-only view
    t = mg.from_numpy(source)
    t.mul_(2.0)
    np.testing.assert_array_equal(t.numpy(), [[0, 2, 4], [0, 2, 4]])
    np.testing.assert_array_equal(source, [[0, 1, 2], [0, 1, 2]])


def test_from_numpy_shares_memory_both_ways():
    array = np.zeros(3)
    t = mg.from_numpy(array)
    t[1] = 7.0
    array[2] = 5.0
    assert array.tolist() == [0.0, 7.0, 5.0] and t.tolist() == [0.0, 7.0, 5.0]
    with pytest.raises(TypeError, match="NumPy array"):
        mg.from_numpy([1.0, 2.0])


# --------------------------------------------------------------------------- x[index] = value


@given(case=shape_and_mask(), fill=st.floats(-2, 2))
def test_boolean_mask_assignment_and_masked_fill(case, fill, device):
    shape, mask = case
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    expected = np.where(mask, fill, x)
    for write in (
        lambda t: t.__setitem__(mg.tensor(mask, device=device), fill),
        lambda t: t.__setitem__(mask, fill),
        lambda t: t.masked_fill_(mg.tensor(mask, device=device), fill),
    ):
        (t,) = on(device, x)
        write(t)
        np.testing.assert_array_equal(t.numpy(), expected)
    (t,) = on(device, x)
    np.testing.assert_array_equal(t.masked_fill(mask, fill).numpy(), expected)
    np.testing.assert_array_equal(t.numpy(), x)  # masked_fill leaves t as it was
    v = data_values = np.arange(int(mask.sum()), dtype=np.float64) + 100
    (t,) = on(device, x)
    t[mask] = mg.tensor(data_values, device=device)  # one value per True entry (host mask)
    expected = x.copy()
    expected[mask] = v
    np.testing.assert_array_equal(t.numpy(), expected)


@given(x=mt.arrays(mt.shapes(1, 3, min_side=2, max_side=4)), data=st.data())
def test_integer_and_slice_assignment_gradients(x, data, device):
    n = x.shape[0]
    ids = np.asarray(
        data.draw(
            st.lists(st.integers(-n, n - 1), min_size=1, max_size=n, unique_by=lambda i: i % n)
        )
    )
    v = data.draw(mt.arrays((len(ids),) + x.shape[1:]))

    def assign_rows(a, b):
        h = a * 1
        h[ids] = b
        return h

    def assign_slice(a):
        h = a * 1
        h[1:, ...] = a[:1] * 2  # the value broadcasts over the rows it replaces
        return h

    expected = x.copy()
    expected[ids] = v
    np.testing.assert_array_equal(assign_rows(*on(device, x, v)).numpy(), expected)
    gradcheck(assign_rows, [x, v], device=device)
    gradcheck(assign_slice, [x], device=device)


def test_mask_values_on_a_device_need_a_host_mask():
    t = mg.zeros(3, device="strict")
    mask = mg.tensor([True, False, True], device="strict")
    with pytest.raises(TypeError, match="host sync"):
        t[mask] = mg.tensor([1.0, 2.0], device="strict")


def test_requires_grad_flag_only_changes_on_leaves():
    w = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf variables"):
        (w * 2).requires_grad_(False)
    assert w.requires_grad_(False).requires_grad is False


def test_a_no_grad_write_after_a_recorded_update_is_caught():
    """h.div_(b) is recorded (Div saves its output, h's new array); a later no_grad write to h
    changes that saved array, so backward must raise, not return a wrong b.grad."""
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([2.0, 4.0], requires_grad=True)
    h = a * 1
    h.div_(b)
    with mg.no_grad():
        h.mul_(100)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h.sum().backward()


def test_writing_into_an_expanded_tensor_is_refused_and_its_base_keeps_working():
    a = mg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    b = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (a * b).sum()
    expanded = b.expand(4, 3)
    with mg.no_grad(), pytest.raises(RuntimeError, match="read-only view of another one"):
        expanded.add_(1)
    y.backward()  # b never changed: no version error
    np.testing.assert_array_equal(a.grad, [1.0, 2.0, 3.0])
