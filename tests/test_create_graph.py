"""backward(create_graph=True) as a user meets it: .grad becomes a Tensor with a graph, gradients of
gradients, a gradient penalty trained against PyTorch, optimizers stepping on such a .grad, and
the default backward building nothing at all."""

import tracemalloc

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.tensor import Function, Tensor

RNG = np.random.default_rng(3)


def close(value, expected, rtol=1e-12, atol=1e-12):
    data = value.numpy() if isinstance(value, Tensor) else mg.backend.to_host(value)
    np.testing.assert_allclose(data, expected, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- .grad with a graph


def test_backward_with_create_graph_leaves_a_grad_with_a_graph(device):
    x_host = RNG.uniform(-1, 1, 4)
    x = mg.tensor(x_host, device=device, requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.requires_grad and x.grad.device == device
    close(x.grad, 3 * x_host**2)
    (second,) = mg.autograd.grad(x.grad.sum(), x, retain_graph=True)
    close(second, 6 * x_host)
    # a second backward accumulates into the Tensor, which keeps its graph
    (x**3).sum().backward(create_graph=True)
    close(x.grad, 6 * x_host**2)
    close(mg.autograd.grad(x.grad.sum(), x)[0], 12 * x_host)


def test_grad_of_grad_of_grad(device):
    # f = exp(2x) y^3: f_x = 2 exp(2x) y^3, f_xx = 4 exp(2x) y^3, f_xxx = 8 exp(2x) y^3,
    # and the mixed f_xy = 6 exp(2x) y^2
    x_host, y_host = RNG.uniform(-1, 1, 3), RNG.uniform(0.5, 1.5, 3)
    x = mg.tensor(x_host, device=device, requires_grad=True)
    y = mg.tensor(y_host, device=device, requires_grad=True)
    f = ((x * 2).exp() * y**3).sum()
    (fx,) = mg.autograd.grad(f, x, create_graph=True)
    fxx, fxy = mg.autograd.grad(fx.sum(), [x, y], create_graph=True)
    (fxxx,) = mg.autograd.grad(fxx.sum(), x)
    e = np.exp(2 * x_host)
    close(fx, 2 * e * y_host**3)
    close(fxx, 4 * e * y_host**3)
    close(fxy, 6 * e * y_host**2)
    close(fxxx, 8 * e * y_host**3)


def test_a_10000_long_chain_is_differentiated_twice():
    # y = tanh(tanh(...tanh(x))): the engine walks both graphs without recursion
    x = mg.tensor([0.8], dtype="float64", requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y.tanh()
    (dy,) = mg.autograd.grad(y.sum(), x, create_graph=True)
    (d2y,) = mg.autograd.grad(dy.sum(), x)
    value, d1, d2 = 0.8, 1.0, 0.0  # chain rule for y_{k+1} = f(y_k), step by step in NumPy
    for _ in range(10_000):
        t = np.tanh(value)
        slope, curve = 1 - t * t, -2 * t * (1 - t * t)
        d1, d2, value = slope * d1, curve * d1 * d1 + slope * d2, t
    close(dy, [d1], rtol=1e-9, atol=0)
    close(d2y, [d2], rtol=1e-9, atol=0)


# --------------------------------------------------------------------------- gradient penalty


def _penalised_loss(lib_grad, params, x, target, lam):
    """mse(critic(x), target) + lam * mean((|d critic / d x| - 1)^2), WGAN-GP style (Gulrajani
    et al. 2017), with the input gradient built by grad(create_graph=True)."""
    w1, b1, w2, b2 = params
    out = (x @ w1 + b1).tanh() @ w2 + b2
    (dx,) = lib_grad(out.sum(), x)
    norm = ((dx * dx).sum(1) + 1e-12) ** 0.5
    penalty = ((norm - 1) ** 2).mean()
    return ((out - target) ** 2).mean() + lam * penalty, penalty


def test_gradient_penalty_trains_and_matches_torch():
    torch = pytest.importorskip("torch")
    hosts = [RNG.standard_normal((2, 8)) * 0.7, RNG.standard_normal(8) * 0.1]  # W1, b1
    hosts += [RNG.standard_normal((8, 1)) * 0.5, np.zeros(1)]  # W2, b2
    x_host, target = RNG.standard_normal((16, 2)), RNG.standard_normal((16, 1))
    ours = [mg.tensor(h, requires_grad=True) for h in hosts]
    theirs = [torch.tensor(h, requires_grad=True) for h in hosts]
    x = mg.tensor(x_host, requires_grad=True)
    tx = torch.tensor(x_host, requires_grad=True)
    opt = optim.SGD(ours, lr=0.1)  # PyTorch's side is written out: p <- p - lr g
    penalties = []
    for _ in range(40):
        loss, penalty = _penalised_loss(
            lambda y, t: mg.autograd.grad(y, t, create_graph=True), ours, x, target, 1.0
        )
        tloss, _ = _penalised_loss(
            lambda y, t: torch.autograd.grad(y, t, create_graph=True),
            theirs,
            tx,
            torch.from_numpy(target),
            1.0,
        )
        opt.zero_grad()
        loss.backward()
        tloss.backward()
        for p, tp in zip(ours, theirs):
            close(p.grad, tp.grad.numpy(), rtol=1e-9, atol=1e-12)
        opt.step()
        with torch.no_grad():
            for tp in theirs:
                tp -= 0.1 * tp.grad
                tp.grad = None
        close(loss, tloss.item(), rtol=1e-9)
        penalties.append(penalty.item())
    for p, tp in zip(ours, theirs):
        close(p, tp.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert penalties[-1] < 0.5 * penalties[0]


# --------------------------------------------------------------------------- optimizers


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: optim.Adagrad(ps, lr=0.1),
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
        lambda ps: optim.Adadelta(ps),
        lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
        lambda ps: optim.AdamW(ps, lr=0.01),
        lambda ps: optim.Adamax(ps, lr=0.01),
        lambda ps: optim.NAdam(ps, lr=0.01),
        lambda ps: optim.RAdam(ps, lr=0.01),
    ],
)
def test_optimizers_step_on_a_grad_with_a_graph(make, device):
    host = RNG.uniform(-1, 1, (3, 2))
    plain = mg.tensor(host, device=device, requires_grad=True)
    graphed = mg.tensor(host, device=device, requires_grad=True)
    opt_plain, opt_graphed = make([plain]), make([graphed])
    for _ in range(3):
        for p, create_graph in ((plain, False), (graphed, True)):
            p.grad = None
            (p.tanh() ** 2).sum().backward(create_graph=create_graph)
        assert isinstance(graphed.grad, Tensor) and graphed.grad.requires_grad
        opt_plain.step()
        opt_graphed.step()
        assert mg.backend.is_array(graphed.data)
        close(graphed, plain.numpy(), rtol=0, atol=0)
    assert isinstance(graphed.grad, Tensor)  # step reads the values, leaves .grad as it was


# --------------------------------------------------------------------------- the default path


def _small_cnn_loss(device):
    """A loss through conv, batch norm, ReLU, max-pool, linear and cross-entropy."""
    mg.seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    ).to(device)
    images = mg.randn(8, 1, 8, 8, device=device)
    labels = mg.tensor([0, 1, 2, 3, 4, 5, 6, 7], device=device)
    return model.parameters(), F.cross_entropy(model(images), labels)


def _tanh_mlp_loss(device, batch=8, width=16):
    """A loss through tanh, 2-D matmuls and a written-out mse (twice differentiable)."""
    mg.seed(0)
    params = [
        mg.randn(width, width, device=device, requires_grad=True),
        mg.randn(width, device=device, requires_grad=True),
        mg.randn(width, 1, device=device, requires_grad=True),
    ]
    x, y = mg.randn(batch, width, device=device), mg.randn(batch, 1, device=device)
    out = (x @ params[0] + params[1]).tanh() @ params[2]
    return params, ((out - y) ** 2).mean()


@pytest.fixture
def counts(monkeypatch):
    """Function.apply calls and Tensor objects made while counts["on"] is True."""
    found = {"on": False, "apply": 0, "tensor": 0}
    original_apply, original_init = Function.apply.__func__, Tensor.__init__

    def counting_apply(cls, *args, **kwargs):
        found["apply"] += found["on"]
        return original_apply(cls, *args, **kwargs)

    def counting_init(self, *args, **kwargs):
        found["tensor"] += found["on"]
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(Function, "apply", classmethod(counting_apply))
    monkeypatch.setattr(Tensor, "__init__", counting_init)
    return found


@pytest.mark.parametrize("make_loss", [_small_cnn_loss, _tanh_mlp_loss])
def test_the_default_backward_builds_no_graph(make_loss, device, counts):
    params, loss = make_loss(device)
    counts["on"] = True
    loss.backward()
    counts["on"] = False
    assert (counts["apply"], counts["tensor"]) == (0, 0)
    for p in params:
        assert mg.backend.is_array(p.grad) and not isinstance(p.grad, Tensor)


def test_the_counters_see_a_create_graph_backward(device, counts):
    _, loss = _tanh_mlp_loss(device)
    counts["on"] = True
    loss.backward(create_graph=True)
    assert counts["apply"] > 10 and counts["tensor"] > 10


def _backward_peak(create_graph):
    _, loss = _tanh_mlp_loss("cpu", batch=256, width=128)
    tracemalloc.start()
    loss.backward(create_graph=create_graph)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_the_default_backward_peak_memory_is_that_of_an_equal_run():
    first, second = _backward_peak(False), _backward_peak(False)
    assert abs(first - second) <= 0.02 * first
    assert _backward_peak(True) > 1.5 * first  # the graph a create_graph backward keeps
