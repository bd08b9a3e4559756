"""Second derivatives of everything in functional/ (and the fast ops behind it): under
create_graph=True each op's gradient equals its plain backward's, and gradgradcheck passes on
it (float64, every test device); a small CNN's second derivatives equal PyTorch's; planted
bugs in a second derivative are caught; an op with no twice-differentiable path says so."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import F, nn, ops
from minigrad.fast.recurrent import recurrence_fast
from minigrad.functional import recurrent, smooth, special
from minigrad.functional.activations import ELU
from minigrad.functional.smooth import SiLU
from minigrad.gradcheck import GradcheckError
from minigrad.nn.sync_batchnorm import SyncBatchNormFunction

FEW = settings(max_examples=3)
SMALL = mt.shapes(min_dims=1, max_dims=2, max_side=3)


def first_derivatives(fn, arrays, device, create_graph, seed=0):
    """d(sum of fn's outputs times fixed random weights) / d(every input), as host arrays."""
    ins = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    outs = fn(*ins)
    outs = outs if isinstance(outs, tuple) else (outs,)
    rng = np.random.default_rng(seed)
    weights = [mg.tensor(rng.standard_normal(o.shape), device=device) for o in outs]
    found = mg.autograd.grad(outs, ins, weights, create_graph=create_graph, allow_unused=True)
    return [None if g is None else g.numpy() for g in found]


def assert_same_first_derivative(fn, arrays, device):
    """The gradient that create_graph=True computes (through an op's reference or the graph
    namespace) equals the plain backward's: gradgradcheck alone would pass a reference that
    computes some other function, as it differentiates that reference's gradient again."""
    plain = first_derivatives(fn, arrays, device, create_graph=False)
    graphed = first_derivatives(fn, arrays, device, create_graph=True)
    for a, b in zip(plain, graphed):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def check(fn, arrays, device, **options):
    assert_same_first_derivative(fn, arrays, device)
    assert mg.gradgradcheck(fn, arrays, device=device, **options)


# --------------------------------------------------------------------------- activations

# name: (function, kinks, low, high)
ELEMENTWISE = {
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), (0.0,), -3, 3),
    "rrelu": (lambda x: F.rrelu(x, training=True, noise=np.full(x.shape, 0.2)), (0.0,), -3, 3),
    "elu": (lambda x: F.elu(x, 1.3), (0.0,), -3, 3),
    "selu": (F.selu, (0.0,), -3, 3),
    "celu": (lambda x: F.celu(x, 0.7), (0.0,), -3, 3),
    "hardtanh": (lambda x: F.hardtanh(x, -1.0, 1.5), (-1.0, 1.5), -3, 3),
    "relu6": (F.relu6, (0.0, 6.0), -2, 8),
    "threshold": (lambda x: F.threshold(x, 0.5, -2.0), (0.5,), -3, 3),
    "gelu": (F.gelu, (), -4, 4),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), (), -4, 4),
    "silu": (F.silu, (), -4, 4),
    "swish": (lambda x: F.swish(x, 1.5), (), -4, 4),
    "mish": (F.mish, (), -4, 4),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), (1.5,), -4, 4),
    "logsigmoid": (F.logsigmoid, (), -4, 4),
    "softsign": (F.softsign, (0.0,), -3, 3),
    "tanhshrink": (F.tanhshrink, (), -3, 3),
    "hardsigmoid": (F.hardsigmoid, (-3.0, 3.0), -5, 5),
    "hardswish": (F.hardswish, (-3.0, 3.0), -5, 5),
    "softshrink": (lambda x: F.softshrink(x, 0.5), (-0.5, 0.5), -3, 3),
    "hardshrink": (lambda x: F.hardshrink(x, 0.5), (-0.5, 0.5), -3, 3),
    "erf": (special.erf, (), -3, 3),
    "erfc": (special.erfc, (), -3, 3),
    "log1p_exp": (smooth.log1p_exp, (), -4, 4),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@FEW
@given(data=st.data())
def test_elementwise_activation(name, data, device):
    fn, kinks, low, high = ELEMENTWISE[name]
    x = data.draw(mt.arrays(SMALL, low, high, kinks=kinks, margin=0.2))
    check(fn, [x], device)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_gradient_on_a_kink_equals_the_plain_backward(name, device):
    """Where an activation has a kink, create_graph=True picks the same one-sided slope as
    the plain backward (the references select branches with the fused op's own masks)."""
    fn, kinks, _, _ = ELEMENTWISE[name]
    x = np.array(sorted(set(kinks) | {0.0, -3.0, 3.0, -0.5, 0.5, 1.5}))
    assert_same_first_derivative(fn, [x], device)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # NumPy overflow/NaN warnings
@pytest.mark.parametrize(
    "fn",
    [F.elu, F.selu, F.softplus, F.logsigmoid, F.mish, F.silu, F.gelu, F.softsign],
    ids=lambda fn: fn.__name__,
)
def test_references_are_stable_at_large_inputs(fn, device):
    x = np.array([-1e4, -40.0, -0.5, 0.0, 0.5, 40.0, 1e4])
    assert_same_first_derivative(fn, [x], device)
    t = mg.tensor(x, device=device, requires_grad=True)
    (g,) = mg.autograd.grad(fn(t).sum(), t, create_graph=True)
    (h,) = mg.autograd.grad(g.sum(), t)
    assert np.all(np.isfinite(h.numpy()))


@FEW
@given(data=st.data(), per_channel=st.booleans())
def test_prelu_and_learnable_swish(data, per_channel, device):
    x = data.draw(mt.arrays((2, 3, 2), kinks=(0.0,), margin=0.2))
    w = data.draw(mt.arrays((3 if per_channel else 1,), 0.05, 0.5))
    check(F.prelu, [x, w], device)
    check(F.swish, [x, w[:1]], device)


@FEW
@given(x=mt.arrays((2, 4, 3)), dim=st.sampled_from([0, 1, -1]))
def test_softmax_family_and_glu(x, dim, device):
    for fn in (F.softmax, F.log_softmax, F.softmin, F.glu):
        check(lambda t, fn=fn: fn(t, dim=1 if fn is F.glu else dim), [x], device)


# --------------------------------------------------------------------------- losses


@FEW
@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_regression_losses(data, reduction, device):
    x = data.draw(mt.arrays((2, 3)))
    # |x - y| stays at least 0.2 away from 0 (l1's kink) and from Huber's delta = 0.8
    gap = data.draw(mt.arrays((2, 3), -2.0, 2.0, kinks=(-0.8, 0.0, 0.8), margin=0.2))
    y = x - gap
    for fn in (F.mse_loss, F.l1_loss):
        check(lambda a, b, fn=fn: fn(a, b, reduction=reduction), [x, y], device)
    check(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=0.8), [x, y], device)
    check(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=0.8), [x, y], device)


@FEW
@given(data=st.data(), weighted=st.booleans())
def test_binary_losses(data, weighted, device):
    p = data.draw(mt.arrays((2, 3), 0.05, 0.95))
    t = data.draw(mt.arrays((2, 3), 0.0, 1.0))
    logits = data.draw(mt.arrays((2, 3), -4, 4))
    weight = np.linspace(0.5, 1.5, 3) if weighted else None
    check(lambda a, b: F.binary_cross_entropy(a, b, weight), [p, t], device)
    check(
        lambda a, b, w: F.binary_cross_entropy_with_logits(a, b, weight, pos_weight=w),
        [logits, t, data.draw(mt.arrays((3,), 0.5, 2.0))],
        device,
    )
    check(lambda a, b: F.binary_cross_entropy_with_logits(a, b), [logits, t], device)


@FEW
@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]))
def test_kl_div(data, reduction, device):
    log_q = data.draw(mt.arrays((2, 3), -3, 0))
    p = data.draw(mt.arrays((2, 3), 0.05, 1.0))
    check(lambda a, b: F.kl_div(a, b, reduction=reduction), [log_q, p], device)
    check(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True), [log_q, -p], device)


@FEW
@given(
    data=st.data(),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    weighted=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.2]),
)
def test_nll_and_cross_entropy_with_class_ids(data, reduction, weighted, smoothing, device):
    x = data.draw(mt.arrays((4, 3, 2)))
    ids = data.draw(st.lists(st.integers(0, 2), min_size=8, max_size=8))
    ids = np.asarray(ids).reshape(4, 2)
    options = dict(reduction=reduction, ignore_index=1, weight=np.array([0.5, 1.0, 2.0]))
    if not weighted:
        options.pop("weight")
    check(lambda a: F.nll_loss(a, ids, **options), [x], device)
    check(lambda a: F.cross_entropy(a, ids, label_smoothing=smoothing, **options), [x], device)


@FEW
@given(data=st.data(), smoothing=st.sampled_from([0.0, 0.1]))
def test_cross_entropy_with_probabilities_and_distillation(data, smoothing, device):
    x = data.draw(mt.arrays((3, 4)))
    p = data.draw(mt.arrays((3, 4), 0.1, 1.0))
    p = p / p.sum(axis=1, keepdims=True)
    check(lambda a, t: F.cross_entropy(a, t, label_smoothing=smoothing), [x, p], device)
    teacher = mg.tensor(data.draw(mt.arrays((3, 4))), device=device)
    ids = np.array([0, 3, 1])
    check(lambda a: F.distillation_loss(a, teacher, ids, temperature=2.0), [x], device)


# --------------------------------------------------------------------------- linear layers


@FEW
@given(data=st.data(), bias=st.booleans())
def test_linear(data, bias, device):
    lead = data.draw(st.sampled_from([(), (2,), (2, 1)]))
    x = data.draw(mt.arrays(lead + (3,)))
    w = data.draw(mt.arrays((2, 3)))
    b = data.draw(mt.arrays((2,)))
    check(F.linear, [x, w, b] if bias else [x, w], device)


@FEW
@given(data=st.data(), padding_idx=st.sampled_from([None, 2]))
def test_embedding(data, padding_idx, device):
    w = data.draw(mt.arrays((4, 3)))
    ids = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=6, max_size=6)))
    ids = mg.tensor(ids.reshape(2, 3), device=device)
    check(lambda t: F.embedding(ids, t, padding_idx=padding_idx), [w], device)


@settings(max_examples=3)
@given(cfg=mt.conv2d_configs(max_batch=1, max_channels=2, max_kernel=2, max_out=3), data=st.data())
def test_conv2d(cfg, data, device):
    x = data.draw(mt.arrays((cfg["batch"], cfg["in_channels"], cfg["height"], cfg["width"])))
    kernel = cfg["kernel_size"]
    w_shape = (cfg["out_channels"], cfg["in_channels"] // cfg["groups"]) + kernel
    w = data.draw(mt.arrays(w_shape))
    b = data.draw(mt.arrays((cfg["out_channels"],)))
    options = {k: cfg[k] for k in ("stride", "padding", "dilation", "groups")}
    check(lambda a, c, d: F.conv2d(a, c, d, **options), [x, w, b], device, mode="fast")


@settings(max_examples=3)
@given(data=st.data(), stride=st.integers(1, 2), groups=st.integers(1, 2))
def test_conv1d_and_conv_transpose2d(data, stride, groups, device):
    x = data.draw(mt.arrays((1, 2, 5)))
    w = data.draw(mt.arrays((2, 2 // groups, 3)))
    conv1d = lambda a, c: F.conv1d(a, c, stride=stride, padding=1, groups=groups)  # noqa: E731
    check(conv1d, [x, w], device, mode="fast")
    x2 = data.draw(mt.arrays((1, 2, 2, 3)))
    w2 = data.draw(mt.arrays((2, 1, 2, 2)))
    b2 = data.draw(mt.arrays((groups,)))
    options = dict(stride=stride, padding=(0, 1), output_padding=stride - 1, groups=groups)
    transposed = lambda a, c, d: F.conv_transpose2d(a, c, d, **options)  # noqa: E731
    check(transposed, [x2, w2, b2], device, mode="fast")


# --------------------------------------------------------------------------- pooling


@settings(max_examples=3)
@given(cfg=mt.pool2d_configs(max_batch=1, max_channels=2, max_out=3), data=st.data())
def test_max_and_avg_pool2d(cfg, data, device):
    shape = (cfg["batch"], cfg["channels"], cfg["height"], cfg["width"])
    x = data.draw(mt.distinct_arrays(shape))  # no ties: the max is differentiable
    args = (cfg["kernel_size"], cfg["stride"], cfg["padding"])
    check(lambda a: F.max_pool2d(a, *args, cfg["dilation"]), [x], device, mode="fast")
    check(lambda a: F.avg_pool2d(a, *args, count_include_pad=False), [x], device, mode="fast")


@FEW
@given(data=st.data())
def test_pool1d_and_adaptive_pools(data, device):
    x1 = data.draw(mt.distinct_arrays((1, 2, 5)))
    check(lambda a: F.max_pool1d(a, 2, 1), [x1], device)
    check(lambda a: F.avg_pool1d(a, 3, 2, padding=1), [x1], device)
    check(lambda a: F.adaptive_avg_pool1d(a, 3), [x1], device)
    x = data.draw(mt.arrays((1, 2, 4, 5)))
    for size in (1, (2, 5), (3, 2)):
        check(lambda a, size=size: F.adaptive_avg_pool2d(a, size), [x], device, mode="fast")


# --------------------------------------------------------------------------- normalisation


@settings(max_examples=3)
@given(shape=mt.norm_configs(max_batch=3, max_channels=3, max_spatial=2), data=st.data())
def test_batch_and_instance_norm(shape, data, device):
    channels = shape[1]
    x = data.draw(mt.well_conditioned(shape))
    w = data.draw(mt.arrays((channels,), 0.5, 2.0))
    b = data.draw(mt.arrays((channels,)))
    stats = [mg.zeros(channels, device=device, dtype="float64") for _ in range(2)]

    def batch_norm(a, c, d):
        return F.batch_norm(a, *stats, c, d, training=True)

    def eval_norm(a, c, d):
        running = (mg.tensor(np.linspace(-1, 1, channels), device=device), stats[1] + 0.5)
        return F.batch_norm(a, *running, c, d)

    check(batch_norm, [x, w, b], device, mode="fast")
    check(eval_norm, [x, w, b], device, mode="fast")
    if np.prod(shape[2:]) > 1:
        check(lambda a, c, d: F.instance_norm(a, weight=c, bias=d), [x, w, b], device, mode="fast")


@settings(max_examples=3)
@given(data=st.data())
def test_layer_group_and_rms_norm(data, device):
    x = data.draw(mt.well_conditioned((2, 4, 3), axes=(1, 2)))
    w = data.draw(mt.arrays((4, 3), 0.5, 2.0))
    b = data.draw(mt.arrays((4, 3)))
    check(lambda a, c, d: F.layer_norm(a, (4, 3), c, d), [x, w, b], device, mode="fast")
    check(lambda a, c: F.rms_norm(a, 3, c[0]), [x, w], device, mode="fast")
    check(lambda a, c, d: F.group_norm(a, 2, c[:, 0], d[:, 0]), [x, w, b], device, mode="fast")


def test_batch_norm_updates_running_statistics_once(device):
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)), device=device)
    x.requires_grad_()
    means = []
    for create_graph in (False, True):
        mean = mg.zeros(3, device=device, dtype="float64")
        var = mg.ones(3, device=device, dtype="float64")
        y = F.batch_norm(x, mean, var, training=True)
        mg.autograd.grad((y * y * y).sum(), x, create_graph=create_graph)
        means.append((mean.numpy().copy(), var.numpy().copy()))
    np.testing.assert_array_equal(means[0][0], means[1][0])
    np.testing.assert_array_equal(means[0][1], means[1][1])


# --------------------------------------------------------------------------- dropout, resize


@FEW
@given(data=st.data())
def test_dropout_variants_with_given_masks(data, device):
    x = data.draw(mt.arrays((2, 3, 2, 2)))
    mask = data.draw(mt.dropout_masks((2, 3, 2, 2)))
    channels = data.draw(mt.dropout_masks((2, 3, 1, 1)))
    w_mask = data.draw(mt.dropout_masks((2, 2)))
    square = lambda fn: lambda a: fn(a * a)  # noqa: E731  (a nonzero second derivative)
    check(square(lambda a: F.dropout(a, 0.3, mask=mask)), [x], device)
    check(square(lambda a: F.dropout2d(a, 0.3, mask=channels)), [x], device)
    check(square(lambda a: F.alpha_dropout(a, 0.3, True, mask=mask)), [x], device)
    check(square(lambda a: F.feature_alpha_dropout(a, 0.3, True, mask=channels)), [x], device)
    check(square(lambda a: F.gaussian_noise(a, 0.1, noise=mask * 1.0)), [x], device)
    w = data.draw(mt.arrays((2, 2)))
    check(lambda a, c: F.drop_connect(a, c, p=0.4, mask=w_mask), [x[0, 0], w], device)


@FEW
@given(data=st.data(), mode=st.sampled_from(["nearest", "nearest-exact", "bilinear"]))
def test_interpolate(data, mode, device):
    x = data.draw(mt.arrays((1, 2, 3, 2)))
    size = data.draw(st.tuples(st.integers(1, 5), st.integers(1, 5)))
    check(lambda a: F.interpolate(a * a, size=size, mode=mode), [x], device)
    x1 = data.draw(mt.arrays((1, 2, 3)))
    check(lambda a: F.interpolate(a * a, scale_factor=1.7, mode="linear"), [x1], device)


@FEW
@given(data=st.data(), stride=st.integers(1, 2))
def test_unfold_fold_and_pad(data, stride, device):
    x = data.draw(mt.arrays((1, 2, 3, 4)))
    options = dict(dilation=(1, 2), padding=1, stride=stride)
    check(lambda a: F.unfold(a * a, (2, 2), **options), [x], device, mode="fast")
    cols = data.draw(mt.arrays((1, 2 * 4, 4)))
    check(lambda c: F.fold(c * c, (3, 3), (2, 2)), [cols], device, mode="fast")
    check(lambda a: F.pad(a * a, (1, 0, 2, 1), value=0.5), [x], device, mode="fast")


# --------------------------------------------------------------------------- recurrent


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@settings(max_examples=2)
@given(data=st.data(), reverse=st.booleans(), lengths=st.booleans())
def test_fused_recurrence_and_cell(mode, data, reverse, lengths, device):
    steps, batch, hidden, gates = 3, 2, 2, recurrent.GATES[mode]
    parts = 2 if mode == "LSTM" else 1
    relu = mode == "RNN_RELU"
    gi = data.draw(mt.arrays((steps, batch, gates * hidden), kinks=(0.0,), margin=0.2))
    # for relu, |h @ w_hh^T| <= 2 * 3 * 0.01 keeps every pre-activation off the kink at 0
    scale = 0.01 if relu else 0.5
    w_hh = data.draw(mt.arrays((gates * hidden, hidden), -scale, scale))
    b_hh = data.draw(mt.arrays((gates * hidden,), -scale, scale))
    state = [data.draw(mt.arrays((batch, hidden))) for _ in range(parts)]
    keep = mg.tensor(np.array([[1, 1], [1, 0], [1, 0]], bool)[:, :, None], device=device)
    keep = keep.data if lengths else None

    def layer(g, w, b, *h):
        outputs, final = recurrence_fast(mode, g, h, w, b, keep, reverse)
        return (outputs,) + final

    check(layer, [gi, w_hh, b_hh] + state, device, mode="fast")
    if relu:
        return  # the cell's pre-activation x @ w_ih^T is not kept off the kink by construction
    w_ih = data.draw(mt.arrays((gates * hidden, 3)))
    x = data.draw(mt.arrays((batch, 3)))

    def cell(a, w, *h):
        return recurrent.cell(mode, a, h, w, mg.tensor(w_hh, device=device))

    check(cell, [x, w_ih] + state, device, mode="fast")


# --------------------------------------------------------------------------- fused ops in a graph


@FEW
@given(data=st.data())
def test_fused_ops_that_share_an_input_upstream(data, device):
    """w feeds the second op both directly and through the first: create_graph=True must
    take each op's own partial derivative (counting the upstream path once)."""
    h = data.draw(mt.arrays((2, 3)))
    w = data.draw(mt.arrays((3, 3), -1, 1))
    check(lambda a, c: F.linear(F.gelu(F.linear(a, c)), c), [h, w], device)
    x = data.draw(mt.arrays((1, 2, 4, 4)))
    k = data.draw(mt.arrays((2, 2, 3, 3), -1, 1))
    twice = lambda a, c: F.conv2d(F.silu(F.conv2d(a, c, padding=1)), c)  # noqa: E731
    check(twice, [x, k], device, mode="fast")


def test_each_reference_runs_once_per_backward(monkeypatch):
    """A backward with create_graph=True differentiates each fused node's reference once and
    stops at the node's inputs: walking on upstream would rerun every earlier reference again
    (exponential in the depth)."""
    from minigrad.functional.linear import Linear

    calls = []
    reference = Linear.reference
    monkeypatch.setattr(Linear, "reference", lambda *a, **k: calls.append(1) or reference(*a, **k))
    rng = np.random.default_rng(0)
    h = x = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    for _ in range(6):
        h = F.gelu(F.linear(h, mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)))
    mg.autograd.grad(h.sum(), x, create_graph=True)
    assert len(calls) == 6


def test_small_cnn_second_derivatives_match_torch():
    """conv-BN-ReLU-maxpool-linear and cross-entropy, float64: the second derivatives with
    respect to the input and every parameter (as products with random weights of the
    gradient, d<g, v>) equal PyTorch's."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 2 * 2, 4),
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 4),
    ).to(dtype="float64")
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4, 4))
    y = np.array([0, 3, 1])
    names = [name for name, _ in theirs.named_parameters()]
    weights = [rng.standard_normal(x.shape)]
    weights += [rng.standard_normal(tuple(p.shape)) for p in theirs.parameters()]

    xt = torch.from_numpy(x).requires_grad_()
    wrt = [xt] + list(theirs.parameters())
    loss = torch.nn.functional.cross_entropy(theirs(xt), torch.from_numpy(y))
    expected_grads = torch.autograd.grad(loss, wrt, create_graph=True)
    inner = sum((g * torch.from_numpy(v)).sum() for g, v in zip(expected_grads, weights))
    expected = torch.autograd.grad(inner, wrt)

    xm = mg.tensor(x, requires_grad=True)
    params = dict(ours.named_parameters())
    wrt = [xm] + [params[name] for name in names]
    grads = mg.autograd.grad(F.cross_entropy(ours(xm), y), wrt, create_graph=True)
    inner = sum((g * mg.tensor(v)).sum() for g, v in zip(grads, weights))
    second = mg.autograd.grad(inner, wrt)

    for name, mine, ref in zip(["input"] + names, grads, expected_grads):
        np.testing.assert_allclose(
            mine.numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg=name
        )
    for name, mine, ref in zip(["input"] + names, second, expected):
        np.testing.assert_allclose(mine.numpy(), ref.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)
    assert any(np.abs(r.numpy()).max() > 1e-3 for r in expected)  # not a vacuous comparison


# --------------------------------------------------------------------------- planted bugs


@pytest.mark.parametrize(
    "op, constant, fn",
    [(ELU, ("slope",), lambda x: F.elu(x, 1.3)), (SiLU, ("s",), F.silu)],
    ids=["elu", "silu"],
)
def test_a_detached_second_derivative_is_caught(op, constant, fn, monkeypatch):
    """The op's saved slope (or sigmoid) taken for a constant: the first derivative stays
    right, the second loses a term, and gradgradcheck says so."""
    monkeypatch.setattr(op, "reference", None)
    monkeypatch.setattr(op, "constant", constant)
    x = np.array([[-1.5, -0.4, 0.7], [1.2, -2.0, 0.3]])
    assert_same_first_derivative(fn, [x], "cpu")
    with pytest.raises(GradcheckError):
        mg.gradgradcheck(fn, [x])


def test_a_reference_of_another_function_is_caught(monkeypatch):
    """A reference computing another function (here Swish with beta 1.5 for SiLU) has
    consistent derivatives of its own, which a second-order check alone would accept;
    gradgradcheck's comparison of the first derivative with the plain backward's does not."""
    monkeypatch.setattr(SiLU, "reference", lambda x: x * ops.sigmoid(1.5 * x))
    x = np.array([[-1.5, -0.4, 0.7], [1.2, -2.0, 0.3]])
    with pytest.raises(GradcheckError, match="differs from the plain backward"):
        mg.gradgradcheck(F.silu, [x])
    with pytest.raises(AssertionError):
        assert_same_first_derivative(F.silu, [x], "cpu")


# --------------------------------------------------------------------------- no second derivative


def test_sync_batch_norm_names_itself_when_differentiated_twice(device):
    """SyncBatchNorm's backward sums over every rank (an all_reduce), which records no graph:
    create_graph=True refuses it by name instead of returning a detached gradient."""
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 2, 3)), device=device)
    x.requires_grad_()
    y = SyncBatchNormFunction.apply(x, None, None, eps=1e-5)
    with pytest.raises(NotImplementedError, match="SyncBatchNormFunction"):
        mg.autograd.grad((y * y).sum(), x, create_graph=True)
