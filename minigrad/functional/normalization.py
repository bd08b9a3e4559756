"""Normalisation: batch, layer, group, instance and RMS norm, first as one textbook reference,
then the public functions. Read dropout.py next; nn/normalization.py wraps these.

Every layer here computes x̂ = (x - mean) / sqrt(var + eps) over a group of values, then
y = x̂·w + b. Only which values form a group differs:
  batch_norm     (N, C, *)  one group per channel: axes (0, 2, 3, ...)
  instance_norm  (N, C, *)  one group per sample and channel: axes (2, 3, ...)
  group_norm     (N, C, *)  viewed as (N, G, C/G, *): axes (2, 3, ...)
  layer_norm     (*, D...)  the trailing normalized_shape axes
  rms_norm       like layer_norm, without subtracting the mean
normalize_reference writes this with Tensor ops, so autograd derives the textbook backward
(ĝ = dout·w, M values a group):  dx = (ĝ - Σĝ/M - x̂·Σ(ĝ·x̂)/M) / sqrt(var + eps).
The public functions run minigrad.fast.normalization's fused Normalize instead: the same
formula in one node with per-channel passes, equal to the reference (values and gradients).
Normalize saves x̂ (or x - mean), so backward(create_graph=True) differentiates the reference.
"""

import inspect
import math

from minigrad import backend, ops
from minigrad.fast.normalization import Normalize
from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- running statistics


def update_running(running, mean, var, count):
    """running <- (1 - m)·running + m·batch, in place on the buffers (no host sync).

    running = (running_mean, running_var, m), arrays or None; mean, var: (N or 1, C, 1, ...)
    batch statistics, averaged over axis 0 (instance norm has one per sample). The variance
    stored is unbiased, count/(count - 1), as in PyTorch. m may be a Python float or a 0-d
    device array (the cumulative average 1/num_batches)."""
    running_mean, running_var, momentum = running
    xp = backend.xp_of(var)
    if running_mean is not None:
        batch_mean = xp.reshape(xp.mean(mean, axis=0), running_mean.shape)
        _blend(xp, running_mean, batch_mean, momentum)
    if running_var is not None:
        unbiased = xp.mean(var, axis=0) * (count / (count - 1))
        _blend(xp, running_var, xp.reshape(unbiased, running_var.shape), momentum)


def _blend(xp, buffer, batch, momentum):
    """buffer = (1 - m)·buffer + m·batch, in the buffer's dtype and memory."""
    if not isinstance(momentum, (int, float)):
        momentum = xp.astype(momentum, buffer.dtype)
    buffer *= 1 - momentum
    buffer += momentum * xp.astype(batch, buffer.dtype)


# --------------------------------------------------------------------------- input checks


def _check_param(name, fn, param, shape):
    if param is None:
        return
    if not isinstance(param, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor or None, got {type(param).__name__}")
    if param.shape != tuple(shape):
        raise ValueError(f"{fn}: {name} has shape {param.shape}, expected {tuple(shape)}")


def _check_input(fn, input, min_dims):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < min_dims:
        raise ValueError(
            f"{fn}: input must have at least {min_dims} dims (N, C, ...), got shape {input.shape}"
        )


def _check_eps(fn, eps):
    if not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"{fn}: eps must be a number >= 0, got {eps!r}")


def _channel_shape(input):
    """(1, C, 1, ...): how a per-channel parameter broadcasts against (N, C, *)."""
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


def _normalized_shape(fn, normalized_shape, input):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or input.shape[input.ndim - len(shape) :] != shape or input.ndim < len(shape):
        raise ValueError(
            f"{fn}: normalized_shape {shape} must match the trailing dims of input "
            f"shape {input.shape}"
        )
    return shape


# --------------------------------------------------------------------------- fixed statistics


def _normalize_with_stats(input, mean, var, weight, bias, eps):
    """y = (x - mean)/sqrt(var + eps)·w + b with given per-channel statistics (eval mode).

    An affine map per channel, so plain Tensor ops give the gradients: y = x·scale + shift."""
    shape = _channel_shape(input)
    scale = 1.0 / (var + eps).sqrt()
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias
    return input * ops.reshape(scale, shape) + ops.reshape(shift, shape)


# --------------------------------------------------------------------------- the reference


def normalize_reference(x, w, b, *, view, axes, param_shape, eps, center=True, on_stats=None):
    """y = x̂·w + b, x̂ = (x - mean) / sqrt(var + eps), statistics over `axes` of x viewed as
    `view` (var biased; center=False: mean = 0), w and b broadcast as `param_shape`; built from
    Tensor ops, so autograd gives the gradients (twice differentiable). on_stats(mean, var, M)
    sees the batch statistics as arrays (the running-average update)."""
    xv = ops.reshape(x, view)
    mean = ops.mean(xv, dim=axes, keepdim=True) if center else None
    xc = xv - mean if center else xv
    var = ops.mean(xc * xc, dim=axes, keepdim=True)
    xhat = xc / ops.sqrt(var + eps)
    y = xhat if w is None else xhat * ops.reshape(w, param_shape)
    y = y if b is None else y + ops.reshape(b, param_shape)
    if on_stats is not None:
        count = math.prod(view[a] for a in axes)
        on_stats(None if mean is None else mean.data, var.data, count)
    return ops.reshape(y, x.shape)


def _normalize_again(x, w, b, *, on_stats=None, reduce=None, **config):
    """normalize_reference on Normalize's arguments, leaving out on_stats: the running
    statistics were updated once, by the forward pass. Not across ranks (SyncBatchNorm)."""
    if reduce is not None:
        raise NotImplementedError("create_graph=True through SyncBatchNorm across ranks")
    return normalize_reference(x, w, b, **config)


Normalize.reference = _normalize_again


# --------------------------------------------------------------------------- public functions


def _running(running_mean, running_var, momentum):
    """The on_stats hook that blends batch statistics into the buffers, or None."""
    if running_mean is None and running_var is None:
        return None
    if isinstance(momentum, Tensor):
        momentum = momentum.data
    mean = None if running_mean is None else running_mean.data
    var = None if running_var is None else running_var.data
    return lambda batch_mean, batch_var, count: update_running(
        (mean, var, momentum), batch_mean, batch_var, count
    )


def _check_stats_and_params(fn, input, running_mean, running_var, weight, bias):
    """Per-channel buffers and parameters must have shape (C,)."""
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        _check_param(name, fn, t, (channels,))
    _check_param("weight", fn, weight, (channels,))
    _check_param("bias", fn, bias, (channels,))


def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
):
    """Normalise (N, C, *) per channel over the batch (and spatial) axes (Ioffe & Szegedy 2015).

    training=True uses the batch statistics and blends them into running_mean/running_var
    (when given) with `momentum`; training=False uses the running statistics."""
    stats = (running_mean, running_var, weight, bias, training, momentum, eps)
    return _batch_norm(Normalize.apply, input, *stats)


def _batch_norm(normalize, input, running_mean, running_var, weight, bias, training, momentum, eps):
    _check_input("batch_norm", input, 2)
    if training and input.numel() // input.shape[1] <= 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {input.shape}"
        )
    stats = (running_mean, running_var, weight, bias, training, momentum, eps)
    axes = (0,) + tuple(range(2, input.ndim))
    return _per_channel("batch_norm", "eval mode (training=False)", normalize, axes, input, *stats)


def _per_channel(fn, mode, normalize, axes, input, mean, var, weight, bias, batch_stats, m, eps):
    """Batch and instance norm: statistics over `axes` with batch_stats, else the running ones
    (`mode` names the argument that asked for them, for the error message)."""
    _check_eps(fn, eps)
    _check_stats_and_params(fn, input, mean, var, weight, bias)
    if not batch_stats:
        if mean is None or var is None:
            raise ValueError(f"{fn}: {mode} needs running_mean and running_var")
        return _normalize_with_stats(input, mean, var, weight, bias, eps)
    return normalize(
        input,
        weight,
        bias,
        view=input.shape,
        axes=axes,
        param_shape=_channel_shape(input),
        eps=eps,
        on_stats=_running(mean, var, m),
    )


def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    """Normalise (N, C, *) per sample and channel over the spatial axes (Ulyanov et al. 2016).

    Running statistics, when given, track the per-sample statistics averaged over the batch;
    use_input_stats=False normalises with them instead."""
    stats = (running_mean, running_var, weight, bias, use_input_stats, momentum, eps)
    return _instance_norm(Normalize.apply, input, *stats)


def _instance_norm(normalize, input, running_mean, running_var, weight, bias, use_stats, m, eps):
    _check_input("instance_norm", input, 3)
    if use_stats and math.prod(input.shape[2:]) <= 1:
        raise ValueError(
            f"Expected more than 1 spatial element when training, got input size {input.shape}"
        )
    stats = (running_mean, running_var, weight, bias, use_stats, m, eps)
    axes = tuple(range(2, input.ndim))
    return _per_channel("instance_norm", "use_input_stats=False", normalize, axes, input, *stats)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` dims of each sample (Ba et al. 2016)."""
    return _layer_norm(Normalize.apply, input, normalized_shape, weight, bias, eps)


def _layer_norm(normalize, input, normalized_shape, weight, bias, eps):
    _check_input("layer_norm", input, 1)
    _check_eps("layer_norm", eps)
    shape = _normalized_shape("layer_norm", normalized_shape, input)
    _check_param("weight", "layer_norm", weight, shape)
    _check_param("bias", "layer_norm", bias, shape)
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    return normalize(input, weight, bias, view=input.shape, axes=axes, param_shape=shape, eps=eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise (N, C, *) over groups of C/num_groups channels of each sample (Wu & He 2018)."""
    return _group_norm(Normalize.apply, input, num_groups, weight, bias, eps)


def _group_norm(normalize, input, num_groups, weight, bias, eps):
    _check_input("group_norm", input, 2)
    _check_eps("group_norm", eps)
    n, channels = input.shape[:2]
    if not isinstance(num_groups, int) or num_groups < 1 or channels % num_groups:
        raise ValueError(
            f"group_norm: num_groups={num_groups!r} must be a positive divisor of the "
            f"{channels} channels of input shape {input.shape}"
        )
    _check_param("weight", "group_norm", weight, (channels,))
    _check_param("bias", "group_norm", bias, (channels,))
    spatial = input.shape[2:]
    per_group = channels // num_groups
    view = (n, num_groups, per_group) + spatial
    param_shape = (1, num_groups, per_group) + (1,) * len(spatial)
    axes = tuple(range(2, len(view)))
    return normalize(input, weight, bias, view=view, axes=axes, param_shape=param_shape, eps=eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """y = x / sqrt(mean(x²) + eps)·w over the trailing dims (Zhang & Sennrich 2019).

    eps=None uses the machine epsilon of the input's dtype, as PyTorch does."""
    return _rms_norm(Normalize.apply, input, normalized_shape, weight, eps)


def _rms_norm(normalize, input, normalized_shape, weight, eps):
    _check_input("rms_norm", input, 1)
    shape = _normalized_shape("rms_norm", normalized_shape, input)
    _check_param("weight", "rms_norm", weight, shape)
    if eps is None:
        eps = float(backend.xp_of(input.data).finfo(input.data.dtype).eps)
    _check_eps("rms_norm", eps)
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    return normalize(
        input, weight, None, view=input.shape, axes=axes, param_shape=shape, eps=eps, center=False
    )


# --------------------------------------------------------------------------- the references


def _reference_of(public, body):
    """The twin of a public norm that takes the same arguments (and checks them the same way)
    and computes with normalize_reference: the oracle its fast path is tested against."""
    signature = inspect.signature(public)

    def reference(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return body(normalize_reference, *bound.args)

    reference.__name__ = f"{public.__name__}_reference"
    reference.__doc__ = f"F.{public.__name__} computed by normalize_reference (its oracle)."
    return reference


batch_norm_reference = _reference_of(batch_norm, _batch_norm)
instance_norm_reference = _reference_of(instance_norm, _instance_norm)
layer_norm_reference = _reference_of(layer_norm, _layer_norm)
group_norm_reference = _reference_of(group_norm, _group_norm)
rms_norm_reference = _reference_of(rms_norm, _rms_norm)
