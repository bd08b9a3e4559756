"""SyncBatchNorm: batch norm whose batch is the global batch of all ranks, not each rank's share.
Read nn/parallel.py before this file; gradcheck.py comes next.

With 4 ranks of 32 images, plain BatchNorm normalises each rank's 32 images by their own
mean and variance; SyncBatchNorm sums the per-channel statistics over the ranks first, so
it computes exactly what BatchNorm computes on the 128 images in one process. It costs two
small all_reduce calls in forward (the mean, then the variance) and one in backward.

SyncBatchNormFunction below is the formula, term by term. The layer runs batch norm's fused
Normalize (fast/normalization.py) instead, handing it _sum_over_ranks for the same three
reductions; the two are tested equal on 2 ranks.
"""

import functools

from minigrad import backend, distributed
from minigrad.fast.normalization import Normalize
from minigrad.functional.normalization import _per_channel, update_running
from minigrad.nn.module import Module
from minigrad.nn.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
from minigrad.tensor import Function


def _channel_sums(xp, a, axes):
    """Σ a over every axis but the channel axis 1, as a (C,) float64 array."""
    return xp.astype(xp.reshape(xp.sum(a, axis=axes), (-1,)), xp.float64)


class SyncBatchNormFunction(Function):
    """Batch norm over the batches of all ranks. With M values per channel on all ranks,
    x̂ = (x - mean)·r, r = 1/sqrt(var + eps), y = x̂·w + b, ĝ = dout·w:
      dx = r·(ĝ - Σĝ/M - x̂·Σ(ĝ·x̂)/M)   (both Σ summed over all ranks)
      dw = Σ dout·x̂,  db = Σ dout        (this rank's share: DDP averages them later)"""

    def forward(self, x, w, b, *, eps, running=None):
        xp = self.xp
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        # 1st reduction: per-channel sums and the value count -> the global mean
        local_count = x.size // x.shape[1]
        stats = xp.concat(
            [
                _channel_sums(xp, x, axes),
                xp.asarray([local_count], dtype=xp.float64, device=x.device),
            ]
        )
        distributed.all_reduce(stats, "sum")
        count = stats[-1]
        mean = xp.astype(stats[:-1] / count, x.dtype)
        xc = x - xp.reshape(mean, shape)
        # 2nd reduction: Σ (x - mean)² -> the global (biased) variance
        squares = _channel_sums(xp, xc * xc, axes)
        distributed.all_reduce(squares, "sum")
        var = xp.astype(squares / count, x.dtype)
        r = xp.reshape(1.0 / xp.sqrt(var + eps), shape)
        xhat = xc * r
        if running is not None:  # the same blend as batch_norm's, with the global count
            update_running(running, mean[None], var[None], count)
        self.axes, self.shape, self.count = axes, shape, count
        self.r, self.xhat, self.w = r, xhat, w
        y = xhat if w is None else xhat * xp.reshape(w, shape)
        return y if b is None else y + xp.reshape(b, shape)

    def backward(self, dout):
        xp = self.xp
        g = dout if self.w is None else dout * xp.reshape(self.w, self.shape)  # ĝ
        channels = self.shape[1]
        sums = xp.concat(
            [_channel_sums(xp, g, self.axes), _channel_sums(xp, g * self.xhat, self.axes)]
        )
        distributed.all_reduce(sums, "sum")
        mean_g = xp.reshape(xp.astype(sums[:channels] / self.count, g.dtype), self.shape)
        mean_gx = xp.reshape(xp.astype(sums[channels:] / self.count, g.dtype), self.shape)
        dx = self.r * (g - mean_g - self.xhat * mean_gx)
        dw = None if self.w is None else xp.sum(dout * self.xhat, axis=self.axes)
        db = xp.sum(dout, axis=self.axes)
        return dx, dw, db


def _sum_over_ranks(*values):
    """The arrays (or Python numbers) in `values`, each summed element-wise over every rank,
    in one all_reduce of a float64 buffer; each comes back in the first array's dtype."""
    like = values[0]
    xp = backend.xp_of(like)
    parts = [xp.reshape(xp.asarray(v, dtype=xp.float64, device=like.device), (-1,)) for v in values]
    flat = xp.concat(parts)
    distributed.all_reduce(flat, "sum")
    out, start = [], 0
    for v, part in zip(values, parts):
        shape = getattr(v, "shape", ())
        out.append(xp.astype(xp.reshape(flat[start : start + part.shape[0]], shape), like.dtype))
        start += part.shape[0]
    return out


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, *) input whose statistics span every rank's batch (PyTorch's
    SyncBatchNorm). In eval mode, or in a world of one process, it is plain batch norm.
    process_group is accepted for PyTorch's signature; the world group is used."""

    dims = None

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        process_group=None,
        device=None,
        dtype=None,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _check_input_dim(self, x):
        if x.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {x.ndim}D input)")

    def forward(self, x):
        if not self.training or distributed.get_world_size() == 1:
            return super().forward(x)
        self._check_input_dim(x)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"SyncBatchNorm: expected {self.num_features} channels, got input {x.shape}"
            )
        stats = (self.running_mean, self.running_var) if self.track_running_stats else (None,) * 2
        normalize = functools.partial(Normalize.apply, reduce=_sum_over_ranks)
        args = (self.weight, self.bias, True, self._momentum(), self.eps)
        axes = (0,) + tuple(range(2, x.ndim))
        # batch_norm's "more than 1 value per channel" holds for the global batch: Normalize
        # checks the summed count (a rank may hold a single value per channel)
        return _per_channel("SyncBatchNorm", "eval mode", normalize, axes, x, *stats, *args)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """`module` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same
        parameters and running statistics (the same Parameter objects)."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            return cls._from_batch_norm(module)
        if not isinstance(module, Module):
            raise TypeError(f"convert_sync_batchnorm: expected a Module, got {module!r}")
        for name, child in list(module._modules.items()):
            if child is not None:
                setattr(module, name, cls.convert_sync_batchnorm(child, process_group))
        return module

    @classmethod
    def _from_batch_norm(cls, bn):
        sync = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        for name in ("weight", "bias"):
            sync.register_parameter(name, getattr(bn, name))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            sync.register_buffer(name, getattr(bn, name))
        sync.training = bn.training
        return sync
