"""Everyday PyTorch snippets, written once and run twice: with `torch` and with minigrad in its
place (skipped without torch). Each snippet takes the library, nn, F and optim and returns
what a user would look at; both runs must agree. Weights come from a seeded NumPy generator
and are copied in, so the two runs start from the same numbers."""

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")

LIBRARIES = {
    "minigrad": (mg, mg.nn, mg.functional, mg.optim),
    "torch": (torch, torch.nn, torch.nn.functional, torch.optim),
}
SNIPPETS = []


def snippet(fn):
    SNIPPETS.append(fn)
    return fn


def host(value):
    """What a snippet returned, as nested lists of NumPy arrays and numbers."""
    if isinstance(value, dict):
        return {k: host(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [host(v) for v in value]
    if isinstance(value, mg.Tensor):
        return value.numpy()
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value)


def assert_same(ours, theirs, path="result"):
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), path
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert ours.shape == theirs.shape, f"{path}: shape {ours.shape} vs {theirs.shape}"
        np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-6, err_msg=path)


def load_weights(lib, model, seed=0):
    """Copy seeded N(0, 0.5^2) values into every parameter, as a user's own init would."""
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)) * 0.5, dtype=lib.float32))
    return model


def data(lib, *shape, seed=1):
    return lib.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=lib.float32)


def labels(lib, n, classes, seed=2):
    return lib.tensor(np.random.default_rng(seed).integers(0, classes, n))


# --------------------------------------------------------------------------- training loops


@snippet
def manual_sgd_loop(lib, nn, F, optim):
    model = load_weights(lib, nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)))
    x, y = data(lib, 16, 3), data(lib, 16, 1, seed=5)
    lr = 0.1
    losses = []
    for _ in range(20):
        loss = ((model(x) - y) ** 2).mean()
        for p in model.parameters():
            p.grad = None
        loss.backward()
        with lib.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return losses, [p for p in model.parameters()]


@snippet
def sgd_momentum_classifier(lib, nn, F, optim):
    model = load_weights(lib, nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    x, y = data(lib, 32, 4), labels(lib, 32, 3)
    for _ in range(10):
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
    accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    return loss, accuracy, model[0].weight


@snippet
def adam_regression(lib, nn, F, optim):
    model = load_weights(lib, nn.Linear(5, 2))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = data(lib, 20, 5), data(lib, 20, 2, seed=7)
    for _ in range(15):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    return model.weight, model.bias


@snippet
def evaluation_under_no_grad(lib, nn, F, optim):
    model = load_weights(lib, nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)))
    model.eval()
    with lib.no_grad():
        logits = model(data(lib, 10, 4))
        probs = logits.softmax(dim=1)
    return probs, probs.sum(dim=1), logits.requires_grad


@snippet
def gradient_accumulation_and_clipping(lib, nn, F, optim):
    model = load_weights(lib, nn.Linear(3, 2))
    x = data(lib, 8, 3)
    for chunk in x.chunk(4):
        (model(chunk) ** 2).sum().backward()
    grads = [p.grad for p in model.parameters()]
    total = sum((g**2).sum() for g in grads) ** 0.5
    scale = min(1.0, 0.5 / float(total))
    with lib.no_grad():
        for p in model.parameters():
            p.grad *= scale
    return total, [p.grad for p in model.parameters()]


# --------------------------------------------------------------------------- in-place updates


@snippet
def in_place_arithmetic(lib, nn, F, optim):
    x = lib.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    x.add_(1.0).mul_(2.0)
    x.sub_(lib.ones(3), alpha=0.5)
    x.div_(4.0)
    x.clamp_(min=-0.5, max=1.5)
    y = x.clone()
    y += 1
    y -= x
    y *= 3
    y /= 2
    return x, y, x.neg_()


@snippet
def item_assignment(lib, nn, F, optim):
    x = lib.zeros(4, 5)
    x[0] = 1.0
    x[1, 2:] = lib.tensor([7.0, 8.0, 9.0])
    x[:, 0] = lib.arange(4).float()
    x[x > 8] = -1.0
    x[[2, 3]] = lib.full((2, 5), 2.5)
    x[..., -1] = 0.0
    return x


@snippet
def masked_fill_and_fill(lib, nn, F, optim):
    scores = data(lib, 3, 4)
    mask = scores < 0
    filled = scores.masked_fill(mask, -1e9).softmax(dim=-1)
    scores.masked_fill_(mask, 0.0)
    buffer = lib.empty(2, 2).fill_(3.0)
    return filled, scores, buffer, lib.zeros(3).zero_()


@snippet
def init_by_hand(lib, nn, F, optim):
    layer = nn.Linear(3, 2)
    with lib.no_grad():
        layer.weight.fill_(0.1)
        layer.bias.zero_()
        layer.weight[0, 0] = 1.0
    nn.init.constant_(layer.bias, 0.25)
    return layer(lib.ones(1, 3)), layer.weight.is_leaf, layer.weight.requires_grad


@snippet
def in_place_on_graph_tensors(lib, nn, F, optim):
    w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = w * 2
    h += 1
    h[0] = 0.0
    h.mul_(w)
    out = h.relu().sum()
    out.backward()
    return out, w.grad


@snippet
def update_a_slice_from_itself(lib, nn, F, optim):
    w = lib.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    h = w * 2
    before = h.sum(dim=1)  # uses h before the update
    h[:, 0] = h[:, 0] * 3
    h += h.detach()
    (h.tanh().sum() + before.exp().sum()).backward()
    return h, w.grad


@snippet
def leaf_refuses_in_place(lib, nn, F, optim):
    w = lib.ones(2, requires_grad=True)
    try:
        w += 1
    except RuntimeError as e:
        return "a leaf Variable that requires grad" in str(e), w
    return False, w


@snippet
def modified_saved_tensor_raises(lib, nn, F, optim):
    w = lib.ones(3, requires_grad=True)
    y = (w * w).sum()
    with lib.no_grad():
        w.mul_(2)
    try:
        y.backward()
    except RuntimeError as e:
        return "modified by an inplace operation" in str(e)
    return False


# --------------------------------------------------------------------------- indexing, tensor ops


@snippet
def indexing(lib, nn, F, optim):
    x = lib.arange(24).reshape(2, 3, 4).float()
    return x[1], x[:, -1], x[..., ::2], x[0, [2, 0]], x[x > 20], x[None, 1:].shape


@snippet
def gather_scatter_one_hot(lib, nn, F, optim):
    logits = data(lib, 4, 5)
    target = lib.tensor([1, 0, 4, 2])
    picked = logits.gather(1, target.unsqueeze(1)).squeeze(1)
    one_hot = lib.zeros(4, 5).scatter_(1, target.unsqueeze(1), 1.0)
    counts = lib.zeros(5).scatter_add(0, target, lib.ones(4))
    return picked, one_hot, F.one_hot(target, 5), counts


@snippet
def sorting(lib, nn, F, optim):
    x = data(lib, 3, 6)
    top = x.topk(2, dim=1)
    ordered = x.sort(dim=0, descending=True)
    best = x.max(dim=1)
    return (
        top.values,
        top.indices,
        ordered.values,
        ordered.indices,
        best.values,
        best.indices,
        x.argsort(dim=1),
        x.amax(0),
    )


@snippet
def reshaping(lib, nn, F, optim):
    x = lib.arange(12).float()
    y = x.view(3, 4)
    parts = y.split(1, dim=0) + y.chunk(2, dim=1) + y.split([1, 3], dim=1)
    return (
        y.t(),
        y.permute(1, 0).contiguous().flatten(),
        y.unsqueeze(0).squeeze(),
        y.repeat(2, 1),
        y.tile((1, 2)),
        y.flip(0),
        y.roll(1, 1),
        lib.stack([x, x]).shape,
        parts,
    )


@snippet
def statistics(lib, nn, F, optim):
    x = data(lib, 4, 5)
    return (
        x.mean(dim=0, keepdim=True),
        x.std(dim=1),
        x.std(dim=1, unbiased=False),
        x.var(correction=0),
        x.sum(),
        x.argmax(),
        x.min(dim=0).values,
    )


@snippet
def einsum_attention(lib, nn, F, optim):
    q, k, v = data(lib, 2, 3, 4, seed=1), data(lib, 2, 5, 4, seed=2), data(lib, 2, 5, 4, seed=3)
    for t in (q, k, v):
        t.requires_grad_()
    weights = lib.einsum("bqd,bkd->bqk", q, k).div(2.0).softmax(dim=-1)
    out = lib.einsum("bqk,bkd->bqd", weights, v)
    out.sum().backward()
    return out, q.grad, k.grad, v.grad


@snippet
def creation_and_casts(lib, nn, F, optim):
    lib.manual_seed(0)
    perm = lib.randperm(6)
    ints = lib.randint(0, 4, (10,))
    return (
        lib.eye(3),
        lib.linspace(0, 1, 5),
        lib.zeros_like(lib.ones(2, 2)),
        lib.full((2,), 7.0),
        lib.from_numpy(np.arange(3.0)),
        lib.tensor([1.7, -2.2]).long(),
        lib.tensor([1.7, -2.2]).int().double(),
        lib.tensor([1, 2]).float() / 2,
        sorted(perm.tolist()),
        ints.shape,
        ints.dtype == lib.int64,
    )


@snippet
def pad_unfold_fold(lib, nn, F, optim):
    x = data(lib, 1, 2, 4, 4)
    cols = F.unfold(x, kernel_size=2, stride=2)
    return (
        F.pad(x, (1, 1, 2, 0), "constant", 0.5),
        cols,
        F.fold(cols, (4, 4), kernel_size=2, stride=2),
    )


# --------------------------------------------------------------------------- autograd


@snippet
def detach_clone_requires_grad(lib, nn, F, optim):
    w = lib.tensor([2.0, 3.0], requires_grad=True)
    frozen = w.detach()
    copy = w.clone()
    (copy * w).sum().backward()
    x = lib.ones(2).requires_grad_()
    return w.grad, frozen.requires_grad, copy.requires_grad, copy.is_leaf, x.requires_grad


@snippet
def autograd_grad(lib, nn, F, optim):
    x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x.tanh() * x).sum()
    (dx,) = lib.autograd.grad(y, x)
    return dx, x.grad is None


@snippet
def tensor_hooks(lib, nn, F, optim):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g * 1))
    handle = x.register_hook(lambda g: g * 10)
    (h**2).sum().backward()
    handle.remove()
    return seen, x.grad


@snippet
def module_backward_hook(lib, nn, F, optim):
    layer = load_weights(lib, nn.Linear(3, 2))
    seen = {}

    def hook(module, grad_input, grad_output):
        seen["in"], seen["out"] = grad_input[0], grad_output[0]

    layer.register_full_backward_hook(hook)
    x = data(lib, 4, 3).requires_grad_()
    (layer(x) ** 2).sum().backward()
    return seen, x.grad


@snippet
def retain_grad_on_intermediate(lib, nn, F, optim):
    x = lib.tensor([1.0, -1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.retain_grad()
    h.log_softmax(dim=0).sum().backward()
    return h.grad, x.grad


# --------------------------------------------------------------------------- checkpoints


@snippet
def state_dict_round_trip(lib, nn, F, optim):
    model = load_weights(lib, nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    copy = load_weights(lib, nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), seed=9)
    copy.load_state_dict(model.state_dict())
    x = data(lib, 5, 3)
    return list(model.state_dict().keys()) == list(copy.state_dict().keys()), model(x), copy(x)


@snippet
def freeze_layers(lib, nn, F, optim):
    model = load_weights(lib, nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1)))
    for p in model[0].parameters():
        p.requires_grad_(False)
    model(data(lib, 2, 3)).sum().backward()
    return model[0].weight.grad is None, model[1].weight.grad


@pytest.mark.parametrize("fn", SNIPPETS, ids=[fn.__name__ for fn in SNIPPETS])
def test_snippet_runs_the_same_in_minigrad_and_pytorch(fn):
    ours = host(fn(*LIBRARIES["minigrad"]))
    theirs = host(fn(*LIBRARIES["torch"]))
    assert_same(ours, theirs)
