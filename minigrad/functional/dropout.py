"""Dropout and noise: inverted dropout, channel dropout (1d/2d), drop-connect on weights, alpha
dropout for SELU networks and additive Gaussian noise. Read patches.py next.

All of them are the identity in eval mode and keep the expectation of each unit in training.
Each takes an explicit mask= (or noise=) so that tests can fix the randomness and gradcheck
the rest; otherwise the random numbers come from minigrad.backend's seeded per-device rng.
Masks are 0/1 arrays in the input's dtype (the array API does not multiply bool by float).
"""

from minigrad import backend, ops
from minigrad.functional.activations import SELU_ALPHA, SELU_SCALE
from minigrad.functional.linear import linear
from minigrad.tensor import Tensor

# alpha' = -λα (Klambauer et al. 2017): the value SELU saturates to for large negative inputs
ALPHA_PRIME = -SELU_SCALE * SELU_ALPHA

# --------------------------------------------------------------------------- helpers


def _check_p(fn, p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: dropout probability p must be in [0, 1], got {p!r}")


def _check_input(fn, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")


def _keep_mask(fn, input, p, mask, shape):
    """The 0/1 keep-mask of `shape` (1 = kept) in input's dtype: the given one or a fresh draw.

    A drawn mask keeps each entry with probability 1 - p (u >= p for u uniform in [0, 1))."""
    xp = backend.xp_of(input.data)
    if mask is None:
        u = backend.rand(shape, input.device, input.dtype)
        return xp.astype(u >= p, input.data.dtype)
    data = mask.data if isinstance(mask, Tensor) else mask
    data = backend.to_device(data, input.device)
    if tuple(data.shape) != tuple(shape):
        raise ValueError(f"{fn}: mask has shape {tuple(data.shape)}, expected {tuple(shape)}")
    return xp.astype(data, input.data.dtype)


def _channel_shape(fn, input, spatial_dims):
    """(N, C, 1, ...) for batched input, (C, 1, ...) for unbatched: one draw per channel."""
    ndim = input.ndim
    if ndim not in (spatial_dims + 1, spatial_dims + 2):
        raise ValueError(
            f"{fn}: expected a {spatial_dims + 1}-D (C, *) or {spatial_dims + 2}-D (N, C, *) "
            f"input, got shape {input.shape}"
        )
    return input.shape[: ndim - spatial_dims] + (1,) * spatial_dims


def _feature_shape(fn, input):
    """(N, C, 1, ...): feature_alpha_dropout drops whole channels of any (N, C, *) input."""
    if input.ndim < 2:
        raise ValueError(f"{fn}: expected an (N, C, *) input, got shape {input.shape}")
    return input.shape[:2] + (1,) * (input.ndim - 2)


# --------------------------------------------------------------------------- inverted dropout


def _inverted(fn, input, p, training, mask, shape):
    """y = x · keep / (1 - p);  dx = dout · keep / (1 - p) (the mul's own backward)."""
    _check_input(fn, input)
    _check_p(fn, p)
    if not training or (p == 0 and mask is None):
        return input
    keep = _keep_mask(fn, input, p, mask, shape)
    # p = 1 drops everything: scale 0 instead of dividing by zero
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return ops.mul(input, keep * scale)


def dropout(input, p=0.5, training=True, mask=None):
    """Zero each entry with probability p and scale the rest by 1/(1-p) (Srivastava et al. 2014).

    mask: an optional keep-mask of input's shape (True/1 = kept) instead of a random draw."""
    shape = input.shape if isinstance(input, Tensor) else None
    return _inverted("dropout", input, p, training, mask, shape)


def dropout1d(input, p=0.5, training=True, mask=None):
    """Zero whole channels of (N, C, L) or (C, L) input; mask shape (N, C, 1) or (C, 1)."""
    _check_input("dropout1d", input)
    shape = _channel_shape("dropout1d", input, 1)
    return _inverted("dropout1d", input, p, training, mask, shape)


def dropout2d(input, p=0.5, training=True, mask=None):
    """Zero whole channels of (N, C, H, W) or (C, H, W) input (Tompson et al. 2015).

    Neighbouring pixels are correlated, so per-pixel dropout hardly regularises a conv layer;
    dropping a feature map as a whole does. mask shape (N, C, 1, 1) or (C, 1, 1)."""
    _check_input("dropout2d", input)
    shape = _channel_shape("dropout2d", input, 2)
    return _inverted("dropout2d", input, p, training, mask, shape)


def drop_connect(input, weight, bias=None, p=0.5, training=True, mask=None):
    """A linear layer whose individual weights are dropped (Wan et al. 2013, DropConnect).

    y = x @ (w · keep / (1 - p))^T + b; eval uses the full weights. mask has weight's shape."""
    _check_input("drop_connect", weight)
    weight = _inverted("drop_connect", weight, p, training, mask, weight.shape)
    return linear(input, weight, bias)


# --------------------------------------------------------------------------- alpha dropout


def _alpha(fn, input, p, training, mask, shape):
    """Alpha dropout: dropped units become α' = -λα, then y = a·x' + b_ (Klambauer et al. 2017).

    a = ((1 - p)(1 + p·α'²))^(-1/2), b_ = -a·α'·p keep a N(0, 1) input at mean 0, variance 1.
    As one affine map per entry: y = x·(a·keep) + (a·α'·(1 - keep) + b_), so dx = dout·a·keep."""
    _check_input(fn, input)
    _check_p(fn, p)
    if not training or (p == 0 and mask is None):
        return input
    keep = _keep_mask(fn, input, p, mask, shape)
    if p == 1:
        return ops.mul(input, keep * 0.0)
    a = ((1.0 - p) * (1.0 + p * ALPHA_PRIME**2)) ** -0.5
    shift = (1.0 - keep) * (a * ALPHA_PRIME) + (-a * ALPHA_PRIME * p)
    return ops.add(ops.mul(input, keep * a), shift)


def alpha_dropout(input, p=0.5, training=False, mask=None):
    """Dropout that keeps SELU's self-normalisation: mean 0, variance 1 in, mean 0, var 1 out."""
    shape = input.shape if isinstance(input, Tensor) else None
    return _alpha("alpha_dropout", input, p, training, mask, shape)


def feature_alpha_dropout(input, p=0.5, training=False, mask=None):
    """Alpha dropout of whole channels of (N, C, *) input; mask shape (N, C, 1, ...)."""
    _check_input("feature_alpha_dropout", input)
    shape = _feature_shape("feature_alpha_dropout", input)
    return _alpha("feature_alpha_dropout", input, p, training, mask, shape)


# --------------------------------------------------------------------------- additive noise


def gaussian_noise(input, std=0.1, training=True, noise=None):
    """y = x + std·ε with ε ~ N(0, 1) in training (zero mean: expectation kept); identity in eval.

    noise: an optional standard-normal sample ε of input's shape instead of a fresh draw."""
    _check_input("gaussian_noise", input)
    if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
        raise ValueError(f"gaussian_noise: std must be a number >= 0, got {std!r}")
    if not training or (std == 0 and noise is None):
        return input
    xp = backend.xp_of(input.data)
    if noise is None:
        eps = backend.randn(input.shape, input.device, input.dtype)
    else:
        eps = backend.to_device(noise.data if isinstance(noise, Tensor) else noise, input.device)
        if tuple(eps.shape) != input.shape:
            raise ValueError(
                f"gaussian_noise: noise has shape {tuple(eps.shape)}, expected {input.shape}"
            )
        eps = xp.astype(eps, input.data.dtype)
    return ops.add(input, eps * std)
