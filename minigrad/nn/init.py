"""Weight initialisers with PyTorch's names, fan conventions and gains (nn.init.xavier_uniform_).
Each fills tensor.data in place from the seeded generator and returns the tensor; lsuv_ last
scales a whole model's layers on a data batch. Read normalization.py next.

Why scale matters: a layer y = W x with n inputs of unit variance gives y a variance of
n * Var(W). Keeping that near 1 through depth keeps signals and gradients from vanishing or
exploding, so each scheme picks Var(W) from the fans (and the nonlinearity's gain).
"""

import math

from minigrad import backend
from minigrad.tensor import Tensor, no_grad

# --------------------------------------------------------------------------- helpers


_LINEAR_GAIN = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity, param=None):
    """The factor that restores unit variance after `nonlinearity` (PyTorch's table).

    relu halves the variance (gain sqrt(2)); tanh's slope < 1 shrinks it (5/3); leaky_relu
    with slope a keeps (1 + a^2)/2 of it; selu uses 3/4 (PyTorch's choice for SELU nets)."""
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel), as PyTorch computes them.

    Conv weights (out, in/groups, kh, kw): fan_in = in/groups * kh * kw, fan_out = out * kh * kw.
    A transposed conv's (in, out/groups, kh, kw) is read the same way, as in PyTorch."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with at least 2 dims, got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check(tensor, name):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{name}: expected a Tensor or Parameter, got {type(tensor).__name__}")
    if not tensor.dtype.startswith("float"):
        raise TypeError(f"init.{name}: expected a float tensor, got dtype {tensor.dtype}")


def _fill(tensor, data):
    """Write `data` into the tensor's own array, as an update under no_grad: an optimizer or
    state_dict holding that array sees the new values, and its version counter goes up."""
    with no_grad():
        tensor.copy_(data)
    return tensor


# --------------------------------------------------------------------------- plain fills


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    _check(tensor, "uniform_")
    u = backend.rand(tensor.shape, tensor.device, tensor.dtype)
    return _fill(tensor, u * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    _check(tensor, "normal_")
    z = backend.randn(tensor.shape, tensor.device, tensor.dtype)
    return _fill(tensor, z * std + mean)


def constant_(tensor, val):
    _check(tensor, "constant_")
    xp = backend.xp_of(tensor.data)
    data = xp.full(tensor.shape, val, dtype=tensor.data.dtype, device=tensor.data.device)
    return _fill(tensor, data)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


# --------------------------------------------------------------------------- fan-scaled


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))  (Glorot & Bengio, 2010).

    Var = a^2/3 = gain^2 * 2/(fan_in + fan_out): the compromise between keeping forward
    activations (fan_in) and backward gradients (fan_out) at unit variance."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))  (Glorot & Bengio, 2010)."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b), b = gain * sqrt(3 / fan)  (He et al., 2015); `a` is leaky_relu's slope.

    PyTorch's Linear and Conv default a=sqrt(5) gives gain^2 = 2/(1+5) = 1/3: b = 1/sqrt(fan_in)."""
    _check(tensor, "kaiming_uniform_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std^2), std = gain / sqrt(fan)  (He et al., 2015)."""
    _check(tensor, "kaiming_normal_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def lecun_uniform_(tensor):
    """U(-b, b), b = sqrt(3 / fan_in): Var = 1/fan_in (LeCun et al., 1998, "Efficient BackProp")."""
    _check(tensor, "lecun_uniform_")
    bound = math.sqrt(3.0 / _calculate_correct_fan(tensor, "fan_in"))
    return uniform_(tensor, -bound, bound)


def lecun_normal_(tensor):
    """N(0, 1/fan_in): the initialisation SELU networks assume (Klambauer et al., 2017)."""
    _check(tensor, "lecun_normal_")
    return normal_(tensor, 0.0, math.sqrt(1.0 / _calculate_correct_fan(tensor, "fan_in")))


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix times gain (Saxe et al., 2014), dims after the first flattened.

    QR of a Gaussian matrix gives Q with orthonormal columns; multiplying column j by sign(R_jj)
    makes Q uniformly (Haar) distributed. Done on the host, then copied to the device."""
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dims, got {tensor.shape}")
    host = backend.namespace("cpu")
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape[1:])
    flat = backend.host_rng().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T  # QR needs a tall matrix; transpose back afterwards
    q, r = host.linalg.qr(flat)
    q = q * host.sign(host.linalg.diagonal(r))
    if rows < cols:
        q = q.T
    data = backend.to_device(host.reshape(q * gain, tensor.shape), tensor.device, tensor.dtype)
    return _fill(tensor, data)


# --------------------------------------------------------------------------- data-driven


def _output_variance(model, layer, x):
    """Var over all entries of `layer`'s output during one model(x), as a float (one host sync
    per LSUV try: initialisation is not per-step code)."""
    seen = []
    handle = layer.register_forward_hook(lambda module, inputs, y: seen.append(y.data))
    try:
        with no_grad():
            model(x)
    finally:
        handle.remove()
    if not seen:
        raise ValueError(f"lsuv_: {type(layer).__name__} did not run during model(x)")
    y = seen[0]
    return float(backend.to_host(backend.xp_of(y).var(y)))


def lsuv_(model, x, tol=0.1, max_iter=10, layers=None, orthogonal=True):
    """Layer-sequential unit-variance initialisation (Mishkin & Matas 2015, "All you need is a
    good init"), in place; returns model.

    Each layer's weight is first made orthogonal (orthogonal_) and its bias zeroed; then, layer
    by layer from input to output, its weight is divided by √Var(output) on the batch x until
    |Var − 1| < tol (at most max_iter tries). Later layers see the already-scaled earlier
    ones, so the unit variance holds through the depth whatever the activations are.
    layers: the modules to treat, in order (default every Linear and Conv in model.modules()).
    The model runs in eval mode (BatchNorm statistics untouched); its modes are restored."""
    from minigrad.nn.layers import Conv1d, Conv2d, ConvTranspose2d, Linear

    if layers is None:
        kinds = (Linear, Conv1d, Conv2d, ConvTranspose2d)
        layers = [m for m in model.modules() if isinstance(m, kinds)]
    if not layers:
        raise ValueError("lsuv_: the model has no Linear or Conv layer to initialise")
    from minigrad.nn.module import training_mode

    with training_mode(model, False):
        for layer in layers:
            _lsuv_layer(model, layer, x, tol, max_iter, orthogonal)
    return model


def _lsuv_layer(model, layer, x, tol, max_iter, orthogonal):
    if orthogonal:
        orthogonal_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        zeros_(layer.bias)
    for _ in range(max_iter):
        var = _output_variance(model, layer, x)
        if abs(var - 1.0) < tol or var == 0.0:
            return
        _fill(layer.weight, layer.weight.data / math.sqrt(var))
