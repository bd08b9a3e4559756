"""Normalisation layers: BatchNorm1d/2d (running statistics), InstanceNorm1d/2d, LayerNorm,
GroupNorm and RMSNorm. The math is in functional/normalization.py; read nn/dropout.py next.

State-dict keys follow PyTorch: weight, bias, running_mean, running_var, num_batches_tracked.
"""

import warnings

from minigrad import backend, creation
from minigrad import functional as F
from minigrad.nn.module import Module, Parameter

# --------------------------------------------------------------------------- helpers


def _param(fill, shape, device, dtype):
    return Parameter(creation.full(tuple(shape), fill, dtype=dtype, device=device or "cpu"))


def _register_affine(module, shape, weight, bias, device, dtype):
    """weight = ones(shape) and bias = zeros(shape) as parameters, or None where switched off."""
    module.register_parameter("weight", _param(1.0, shape, device, dtype) if weight else None)
    module.register_parameter("bias", _param(0.0, shape, device, dtype) if bias else None)


def _as_shape(normalized_shape):
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(normalized_shape)


def _check_features(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


# --------------------------------------------------------------------------- batch and instance


class _NormBase(Module):
    """Per-channel weight/bias and (optionally) running statistics, shared by Batch/InstanceNorm.

    momentum=None makes the running statistics a cumulative average over all batches seen."""

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__()
        _check_features("num_features", num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _register_affine(self, (num_features,), affine, affine and bias, device, dtype)
        self._register_running_stats(device, dtype)

    def _register_running_stats(self, device, dtype):
        if not self.track_running_stats:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
            return
        device = device or "cpu"
        self.register_buffer(
            "running_mean", creation.zeros(self.num_features, dtype=dtype, device=device)
        )
        self.register_buffer(
            "running_var", creation.ones(self.num_features, dtype=dtype, device=device)
        )
        self.register_buffer(
            "num_batches_tracked", creation.zeros((), dtype="int64", device=device)
        )

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data = self.running_mean.data * 0
            self.running_var.data = self.running_var.data * 0 + 1
            self.num_batches_tracked.data = self.num_batches_tracked.data * 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data = self.weight.data * 0 + 1
        if self.bias is not None:
            self.bias.data = self.bias.data * 0

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """Batch statistics in training (and without running stats), running statistics in eval."""

    dims = ()

    def _check_input_dim(self, x):
        if x.ndim not in self.dims:
            wanted = " or ".join(f"{d}D" for d in self.dims)
            raise ValueError(f"expected {wanted} input (got {x.ndim}D input)")

    def _momentum(self):
        """This step's blend factor; counts the batch. No host sync: 1/n stays on the device."""
        if not (self.training and self.track_running_stats):
            return 0.0 if self.momentum is None else self.momentum
        self.num_batches_tracked.data += 1
        if self.momentum is not None:
            return self.momentum
        xp = backend.xp_of(self.running_mean.data)
        return 1.0 / xp.astype(self.num_batches_tracked.data, self.running_mean.data.dtype)

    def forward(self, x):
        self._check_input_dim(x)
        momentum = self._momentum()
        use_batch_stats = self.training or not self.track_running_stats
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) input, per channel C."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) input, per channel C (statistics over N, H, W)."""

    dims = (4,)


class _InstanceNorm(_NormBase):
    """Per-sample, per-channel statistics; affine=False, track_running_stats=False by default."""

    spatial_dims = 1

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=False,
        track_running_stats=False,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def forward(self, x):
        batched = self.spatial_dims + 2
        if x.ndim not in (batched - 1, batched):
            raise ValueError(f"expected {batched - 1}D or {batched}D input (got {x.ndim}D input)")
        self._check_channels(x.shape[x.ndim - self.spatial_dims - 1])
        if x.ndim == batched - 1:
            return self._normalize(x.unsqueeze(0)).squeeze(0)
        return self._normalize(x)

    def _check_channels(self, channels):
        if channels == self.num_features:
            return
        message = (
            f"input has {channels} channels, the layer expects num_features={self.num_features}"
        )
        if self.affine or self.track_running_stats:
            raise ValueError(message)
        warnings.warn(message + " (unused: affine=False and no running statistics)", stacklevel=3)

    def _normalize(self, x):
        # like PyTorch, instance norm does not count batches; momentum=None blends nothing in
        return F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            0.0 if self.momentum is None else self.momentum,
            self.eps,
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or (C, L) input: statistics over L per sample and channel."""

    spatial_dims = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or (C, H, W) input: statistics over H, W."""

    spatial_dims = 2


# --------------------------------------------------------------------------- per-sample layers


class LayerNorm(Module):
    """Normalise over the trailing `normalized_shape` dims; weight/bias have that shape."""

    def __init__(
        self,
        normalized_shape,
        eps=1e-5,
        elementwise_affine=True,
        bias=True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        affine = elementwise_affine
        _register_affine(self, self.normalized_shape, affine, affine and bias, device, dtype)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Normalise (N, C, *) over groups of C/num_groups channels; per-channel weight and bias."""

    def __init__(
        self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True
    ):
        super().__init__()
        _check_features("num_groups", num_groups)
        _check_features("num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, (num_channels,), affine, affine and bias, device, dtype)

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """y = x / sqrt(mean(x²) + eps)·weight over the trailing dims; eps=None: the dtype's eps."""

    def __init__(
        self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None
    ):
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        weight = _param(1.0, self.normalized_shape, device, dtype) if elementwise_affine else None
        self.register_parameter("weight", weight)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
