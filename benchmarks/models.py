"""The reference networks of the benchmarks, built from ONE set of NumPy weights for minigrad and
PyTorch alike, so every framework starts a step from the same numbers. Read numpy_cnn.py next.

The LeNet-like CNN on 1x28x28 (float32, batch 128):
    conv32 3x3 pad 1 [-BN] - maxpool 2 - ReLU - conv64 3x3 pad 1 [-BN] - maxpool 2 - ReLU
    - flatten (64*7*7 = 3136) - fc128 - ReLU - fc10
Weights are keyed by PyTorch's nn.Sequential state-dict names ("0.weight", "3.bias", ...) in
PyTorch's layouts: conv (F, C, 3, 3), linear (out, in), flatten in (C, H, W) order.
"""

import numpy as np

BATCH = 128
LR = 0.01
MOMENTUM = 0.9


def cnn_layer_names(batchnorm):
    """Sequential index of each weighted layer: conv1, [bn1], conv2, [bn2], fc1, fc2."""
    if batchnorm:
        return {"conv1": "0", "bn1": "1", "conv2": "4", "bn2": "5", "fc1": "9", "fc2": "11"}
    return {"conv1": "0", "conv2": "3", "fc1": "7", "fc2": "9"}


def _uniform(rng, shape, fan_in):
    """PyTorch's default init range for conv and linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def cnn_weights(seed=0, batchnorm=False):
    """Dict state-dict name -> float32 array for the CNN (BN weight 1, bias 0, as PyTorch)."""
    rng = np.random.default_rng(seed)
    names = cnn_layer_names(batchnorm)
    shapes = {"conv1": (32, 1, 3, 3), "conv2": (64, 32, 3, 3), "fc1": (128, 3136), "fc2": (10, 128)}
    weights = {}
    for layer, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        weights[f"{names[layer]}.weight"] = _uniform(rng, shape, fan_in)
        weights[f"{names[layer]}.bias"] = _uniform(rng, shape[0], fan_in)
    if batchnorm:
        for layer, channels in (("bn1", 32), ("bn2", 64)):
            weights[f"{names[layer]}.weight"] = np.ones(channels, np.float32)
            weights[f"{names[layer]}.bias"] = np.zeros(channels, np.float32)
    return weights


def cnn_batch(seed=1, batch=BATCH):
    """A random batch: x (B, 1, 28, 28) float32 in [0, 1), labels y (B,) int64 in [0, 10)."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    return x, y


# --------------------------------------------------------------------------- minigrad


def cnn(nn, batchnorm=False):
    """The CNN from an `nn` namespace: minigrad.nn or torch.nn (the names match)."""

    def block(conv):
        norm = [nn.BatchNorm2d(conv.out_channels)] if batchnorm else []
        return [conv, *norm, nn.MaxPool2d(2), nn.ReLU()]  # pool first: they commute

    return nn.Sequential(
        *block(nn.Conv2d(1, 32, 3, padding=1)),
        *block(nn.Conv2d(32, 64, 3, padding=1)),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def minigrad_cnn(weights, batchnorm=False):
    """The CNN as a minigrad nn.Sequential holding `weights` (copied)."""
    from minigrad import nn

    model = cnn(nn, batchnorm)
    model.load_state_dict({k: v.copy() for k, v in weights.items()}, strict=False)
    return model


def minigrad_train_step(model, x, y, lr=LR, momentum=MOMENTUM):
    """A closure running one step: forward, cross-entropy, backward, SGD-momentum update."""
    import minigrad as mg
    import minigrad.functional as F
    from minigrad import optim

    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xt, yt = mg.tensor(x), mg.tensor(y)
    model.train()

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        optimizer.step()

    return step


def minigrad_inference(model, x):
    """A closure running the model's eval-mode forward under no_grad."""
    import minigrad as mg

    xt = mg.tensor(x)
    model.eval()

    def infer():
        with mg.no_grad():
            model(xt)

    return infer


# --------------------------------------------------------------------------- PyTorch


def torch_cnn(torch, weights, batchnorm=False):
    """The same CNN as a torch.nn.Sequential holding `weights` (copied)."""
    model = cnn(torch.nn, batchnorm)
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
    model.load_state_dict(state, strict=False)
    return model


def torch_train_step(torch, model, x, y, lr=LR, momentum=MOMENTUM):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        optimizer.step()

    return step


def torch_inference(torch, model, x):
    xt = torch.from_numpy(x)
    model.eval()

    def infer():
        with torch.no_grad():
            model(xt)

    return infer


# --------------------------------------------------------------------------- the CIFAR example


def cifar_batch(seed=2, batch=BATCH):
    """A random CIFAR-shaped batch: x (B, 3, 32, 32) float32 in [0, 1), labels (B,) int64."""
    rng = np.random.default_rng(seed)
    return rng.random((batch, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, batch)
