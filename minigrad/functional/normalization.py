"""Normalisation: batch_norm, layer_norm, group_norm, instance_norm and rms_norm, all on one fused
core that standardises x over some axes. Read dropout.py next; nn/normalization.py wraps these.

Every layer here computes x̂ = (x - mean) / sqrt(var + eps) over a group of values, then
y = x̂·w + b. Only which values form a group differs:
  batch_norm     (N, C, *)  one group per channel: axes (0, 2, 3, ...)
  instance_norm  (N, C, *)  one group per sample and channel: axes (2, 3, ...)
  group_norm     (N, C, *)  viewed as (N, G, C/G, *): axes (2, 3, ...)
  layer_norm     (*, D...)  the trailing normalized_shape axes
  rms_norm       like layer_norm, without subtracting the mean
"""

import math

from minigrad import backend, ops
from minigrad.tensor import Function, Tensor

# --------------------------------------------------------------------------- helpers


def _sum(xp, a, axes):
    """Sum over `axes` keeping them as size-1 axes (nothing to do when axes is empty).
    backend.sum_over is the NumPy fast path for channels-last memory."""
    if not axes:
        return a
    fast = backend.sum_over(a, axes)
    return xp.sum(a, axis=axes, keepdims=True) if fast is None else fast


def _channel_affine(xp, a, scale, shift, axes):
    """a·scale + shift, scale and shift (either may be None) constant along `axes`;
    backend.channel_affine is the NumPy fast path for channels-last memory."""
    fast = backend.channel_affine(a, scale, shift, axes) if axes else None
    if fast is not None:
        return fast
    out = a if scale is None else a * scale
    return out if shift is None else out + shift


def _sum_of_products(xp, a, b, axes):
    """_sum(a * b), without the temporary when backend.sum_of_products applies."""
    fast = backend.sum_of_products(a, b, axes) if axes else None
    return _sum(xp, a * b, axes) if fast is None else fast


def _padded(param_shape, ndim):
    """param_shape with leading 1s up to `ndim` dims, as broadcasting lines it up."""
    return (1,) * (ndim - len(param_shape)) + tuple(param_shape)


def _update_running(xp, running, mean, var, count):
    """running <- (1 - m)·running + m·batch, in place on the buffers (no host sync).

    mean, var: (N or 1, C, 1, ...) batch statistics; averaged over axis 0 (instance norm has
    one per sample). The variance stored is unbiased, count/(count - 1), as in PyTorch.
    m may be a Python float or a 0-d device array (the cumulative average 1/num_batches)."""
    running_mean, running_var, momentum = running
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


# --------------------------------------------------------------------------- the fused core


class Normalize(Function):
    """y = x̂·w + b, x̂ = (x - mean)·r, r = 1/sqrt(var + eps), statistics over `axes` of x
    viewed as `view` (var biased). Fused for speed and memory; with ĝ = dout·w, M values a group:
      dx = r·(ĝ - Σĝ/M - x̂·Σ(ĝ·x̂)/M),   dw = Σ dout·x̂,   db = Σ dout
    (dw, db summed over the axes w broadcasts along). center=False is RMS norm: mean = 0 and
    the Σĝ term drops. `running` = (running_mean, running_var, momentum) updates those buffers."""

    def forward(self, x, w, b, *, view, axes, param_shape, eps, center=True, running=None):
        xp = self.xp
        xv = x if view == x.shape else xp.reshape(x, view)
        self.count = math.prod(view[a] for a in axes)
        mean = _sum(xp, xv, axes) / self.count if center else None
        xc = _channel_affine(xp, xv, None, -mean, axes) if center else xv  # x centred
        var = _sum_of_products(xp, xc, xc, axes) / self.count
        r = 1.0 / xp.sqrt(var + eps)
        if running is not None:
            _update_running(xp, running, mean, var, self.count)
        padded = _padded(param_shape, len(view))
        if center and all(padded[a] == 1 for a in axes):
            # batch / instance norm: w is constant within a group, so y = xc·(r·w) + b is two
            # passes, and backward works from xc (x̂ = xc·r is never stored)
            k = r if w is None else r * xp.reshape(w, param_shape)
            shift = None if b is None else xp.reshape(b, param_shape)
            y = _channel_affine(xp, xc, k, shift, axes)
            self._save(x.shape, view, axes, padded, w, b, r, xc=xc, k=k)
        else:
            xhat = xc * r
            y = _affine(xp, xhat, w, b, param_shape)
            self._save(x.shape, view, axes, padded, w, b, r, xhat=xhat, center=center)
        return y if view == x.shape else xp.reshape(y, x.shape)

    def _save(self, shape, view, axes, padded, w, b, r, xc=None, k=None, xhat=None, center=True):
        if not any(self.needs_input_grad):
            return
        self.shape, self.view, self.axes, self.center = shape, view, axes, center
        self.w, self.b, self.r, self.xc, self.k, self.xhat = w, b, r, xc, k, xhat
        self.param_shape = padded
        self.param_axes = tuple(i for i, n in enumerate(padded) if n == 1)

    def backward(self, dout):
        xp = self.xp
        dout = dout if self.view == self.shape else xp.reshape(dout, self.view)
        if self.xc is not None:
            dx, dw, db = self._backward_constant_w(dout)
        else:
            dx, dw, db = self._backward_general(dout)
        if dx is not None and self.view != self.shape:
            dx = xp.reshape(dx, self.shape)
        return dx, dw, db

    def _backward_constant_w(self, dout):
        """BatchNorm and InstanceNorm: with k = r·w constant in a group, Σĝ = w·Σdout and
        Σĝx̂ = w·r·Σdout·xc, so dx = k·dout - xc·(k·r·Σdout·x̂/M) - k·Σdout/M."""
        xp, axes, m, r, k = self.xp, self.axes, self.count, self.r, self.k
        sum_dout = _sum(xp, dout, axes)
        sum_dout_xhat = r * _sum_of_products(xp, dout, self.xc, axes)
        other_axes = tuple(a for a in self.param_axes if a not in axes)
        dw = self._param_grad(_sum(xp, sum_dout_xhat, other_axes), self.w, 1)
        db = self._param_grad(_sum(xp, sum_dout, other_axes), self.b, 2)
        if not self.needs_input_grad[0]:
            return None, dw, db
        dx = _channel_affine(xp, dout, k, None, axes)
        dx -= _channel_affine(xp, self.xc, k * r * sum_dout_xhat / m, k * sum_dout / m, axes)
        return dx, dw, db

    def _backward_general(self, dout):
        """LayerNorm, GroupNorm, RMSNorm: w varies inside a group, so reduce ĝ = dout·w."""
        xp, axes, m = self.xp, self.axes, self.count
        dw = self._param_grad(_sum_of_products(xp, dout, self.xhat, self.param_axes), self.w, 1)
        db = self._param_grad(_sum(xp, dout, self.param_axes), self.b, 2)
        if not self.needs_input_grad[0]:
            return None, dw, db
        g = dout if self.w is None else dout * xp.reshape(self.w, self.param_shape)
        dx = g - self.xhat * (_sum_of_products(xp, g, self.xhat, axes) / m)
        if self.center:
            dx -= _sum(xp, g, axes) / m
        dx *= self.r
        return dx, dw, db

    def _param_grad(self, summed, param, index):
        """A reduced gradient reshaped to the parameter's own shape (None if not wanted)."""
        if param is None or not self.needs_input_grad[index]:
            return None
        return self.xp.reshape(summed, param.shape)


def _affine(xp, xhat, w, b, param_shape):
    """y = x̂·w + b, with w and b (either may be None) broadcast as `param_shape`."""
    if w is None:
        return xhat if b is None else xhat + xp.reshape(b, param_shape)
    y = xhat * xp.reshape(w, param_shape)
    if b is not None:
        y += xp.reshape(b, param_shape)
    return y


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


# --------------------------------------------------------------------------- public functions


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
    _check_input("batch_norm", input, 2)
    _check_eps("batch_norm", eps)
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        _check_param(name, "batch_norm", t, (channels,))
    _check_param("weight", "batch_norm", weight, (channels,))
    _check_param("bias", "batch_norm", bias, (channels,))
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed in eval mode")
        return _normalize_with_stats(input, running_mean, running_var, weight, bias, eps)
    if input.numel() // channels <= 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {input.shape}"
        )
    axes = (0,) + tuple(range(2, input.ndim))
    return Normalize.apply(
        input,
        weight,
        bias,
        view=input.shape,
        axes=axes,
        param_shape=_channel_shape(input),
        eps=eps,
        running=_running(running_mean, running_var, momentum),
    )


def _running(running_mean, running_var, momentum):
    """The buffers' arrays and momentum for Normalize, or None when nothing is tracked."""
    if running_mean is None and running_var is None:
        return None
    if isinstance(momentum, Tensor):
        momentum = momentum.data
    mean = None if running_mean is None else running_mean.data
    var = None if running_var is None else running_var.data
    return mean, var, momentum


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
    _check_input("instance_norm", input, 3)
    _check_eps("instance_norm", eps)
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        _check_param(name, "instance_norm", t, (channels,))
    _check_param("weight", "instance_norm", weight, (channels,))
    _check_param("bias", "instance_norm", bias, (channels,))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean/running_var")
        return _normalize_with_stats(input, running_mean, running_var, weight, bias, eps)
    if math.prod(input.shape[2:]) <= 1:
        raise ValueError(
            f"Expected more than 1 spatial element when training, got input size {input.shape}"
        )
    return Normalize.apply(
        input,
        weight,
        bias,
        view=input.shape,
        axes=tuple(range(2, input.ndim)),
        param_shape=_channel_shape(input),
        eps=eps,
        running=_running(running_mean, running_var, momentum),
    )


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` dims of each sample (Ba et al. 2016)."""
    _check_input("layer_norm", input, 1)
    _check_eps("layer_norm", eps)
    shape = _normalized_shape("layer_norm", normalized_shape, input)
    _check_param("weight", "layer_norm", weight, shape)
    _check_param("bias", "layer_norm", bias, shape)
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    return Normalize.apply(
        input, weight, bias, view=input.shape, axes=axes, param_shape=shape, eps=eps
    )


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise (N, C, *) over groups of C/num_groups channels of each sample (Wu & He 2018)."""
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
    return Normalize.apply(
        input, weight, bias, view=view, axes=axes, param_shape=param_shape, eps=eps
    )


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """y = x / sqrt(mean(x²) + eps)·w over the trailing dims (Zhang & Sennrich 2019).

    eps=None uses the machine epsilon of the input's dtype, as PyTorch does."""
    _check_input("rms_norm", input, 1)
    shape = _normalized_shape("rms_norm", normalized_shape, input)
    _check_param("weight", "rms_norm", weight, shape)
    if eps is None:
        eps = float(backend.xp_of(input.data).finfo(input.data.dtype).eps)
    _check_eps("rms_norm", eps)
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    return Normalize.apply(
        input, weight, None, view=input.shape, axes=axes, param_shape=shape, eps=eps, center=False
    )
