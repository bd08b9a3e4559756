"""The fast normalisation behind F.batch_norm, F.instance_norm, F.layer_norm, F.group_norm and
F.rms_norm: one fused Function with per-channel passes over channels-last memory. Read
pooling.py first; recurrent.py, the last file, next.

The math is functional/normalization.py's normalize_reference: x̂ = (x - mean)·r,
r = 1/sqrt(var + eps), y = x̂·w + b, with the textbook backward (ĝ = dout·w, M values a group)
  dx = r·(ĝ - Σĝ/M - x̂·Σ(ĝ·x̂)/M),   dw = Σ dout·x̂,   db = Σ dout.
Here it is one node instead of a dozen, and its sums and scale/shift passes take the NumPy
shortcuts of arrays.py on channels-last activations (measured gain for all three together:
the CNN+BatchNorm train step 91.5 -> 60.4 ms).
"""

import math

from minigrad import backend
from minigrad.fast.arrays import channel_affine, sum_of_products, sum_over
from minigrad.tensor import Function

# --------------------------------------------------------------------------- per-channel passes


def sum_keep(xp, a, axes):
    """Sum over `axes` keeping them as size-1 axes (nothing to do when axes is empty), as a GEMV
    (arrays.sum_over) where the memory allows."""
    if not axes:
        return a
    fast = sum_over(a, axes)
    return xp.sum(a, axis=axes, keepdims=True) if fast is None else fast


def _scale_shift(xp, a, scale, shift, axes):
    """a·scale + shift, scale and shift (either may be None) constant along `axes`, with long
    inner loops (arrays.channel_affine) where the memory allows."""
    fast = channel_affine(a, scale, shift, axes) if axes else None
    if fast is not None:
        return fast
    out = a if scale is None else a * scale
    return out if shift is None else out + shift


def _sum_of_products(xp, a, b, axes):
    """sum_keep(a * b), without the temporary where arrays.sum_of_products applies."""
    fast = sum_of_products(a, b, axes) if axes else None
    return sum_keep(xp, a * b, axes) if fast is None else fast


def _padded(param_shape, ndim):
    """param_shape with leading 1s up to `ndim` dims, as broadcasting lines it up."""
    return (1,) * (ndim - len(param_shape)) + tuple(param_shape)


def _affine(xp, xhat, w, b, param_shape):
    """y = x̂·w + b, with w and b (either may be None) broadcast as `param_shape`."""
    if w is None:
        return xhat if b is None else xhat + xp.reshape(b, param_shape)
    y = xhat * xp.reshape(w, param_shape)
    if b is not None:
        y += xp.reshape(b, param_shape)
    return y


# --------------------------------------------------------------------------- the fused core


class Normalize(Function):
    """y = x̂·w + b, x̂ = (x - mean)·r, r = 1/sqrt(var + eps), statistics over `axes` of x
    viewed as `view` (var biased);  dx = r·(ĝ - Σĝ/M - x̂·Σ(ĝ·x̂)/M), dw = Σ dout·x̂,
    db = Σ dout (ĝ = dout·w; dw, db summed over the axes w broadcasts along). center=False is
    RMS norm: mean = 0 and the Σĝ term drops. on_stats(mean, var, M) sees the batch statistics
    (the running-average update). reduce(*arrays), where given, returns the arrays summed over
    every rank (SyncBatchNorm): the statistics and dx's sums then span the global batch, while
    dw and db stay this rank's (DistributedDataParallel averages them). Fused for speed and
    memory."""

    def forward(
        self, x, w, b, *, view, axes, param_shape, eps, center=True, on_stats=None, reduce=None
    ):
        xp = self.xp
        padded = _padded(param_shape, len(view))
        per_channel = center and all(padded[a] == 1 for a in axes)  # batch / instance norm
        if reduce is not None and not per_channel:
            raise ValueError("Normalize: reduce needs per-channel statistics (batch norm)")
        xv = x if view == x.shape else xp.reshape(x, view)
        self.count, self.reduce = math.prod(view[a] for a in axes), reduce
        mean = self._mean(xv, axes) if center else None
        xc = _scale_shift(xp, xv, None, -mean, axes) if center else xv  # x centred
        squares = _sum_of_products(xp, xc, xc, axes)
        var = (squares if reduce is None else reduce(squares)[0]) / self.count
        r = 1.0 / xp.sqrt(var + eps)
        if on_stats is not None:
            on_stats(mean, var, self.count)
        self.shape, self.view, self.axes, self.center = x.shape, view, axes, center
        self.w, self.b, self.r = w, b, r
        self.param_shape = padded
        self.param_axes = tuple(i for i, n in enumerate(self.param_shape) if n == 1)
        if per_channel:
            y = self._forward_per_channel(xc, param_shape)
        else:
            self.xc = None
            self.xhat = xc * r
            y = _affine(xp, self.xhat, w, b, param_shape)
        return y if view == x.shape else xp.reshape(y, x.shape)

    def _mean(self, xv, axes):
        """Σx / M over the axes; with `reduce` (SyncBatchNorm), the sums and the counts of every
        rank, in one call, so M becomes the global count."""
        total = sum_keep(self.xp, xv, axes)
        if self.reduce is not None:
            total, self.count = self.reduce(total, self.count)
            error = ValueError("Expected more than 1 value per channel when training (all ranks)")
            backend.check_when_read(self.count <= 1, error)
        return total / self.count

    def _forward_per_channel(self, xc, param_shape):
        """Batch / instance norm: w is constant within a group, so y = xc·(r·w) + b is one
        scale-shift pass, and backward works from xc (x̂ = xc·r is never stored)."""
        xp = self.xp
        self.k = self.r if self.w is None else self.r * xp.reshape(self.w, param_shape)
        self.xc = xc
        shift = None if self.b is None else xp.reshape(self.b, param_shape)
        return _scale_shift(xp, xc, self.k, shift, self.axes)

    def backward(self, dout):
        xp = self.xp
        dout = dout if self.view == self.shape else xp.reshape(dout, self.view)
        if self.xc is not None:
            dx, dw, db = self._backward_per_channel(dout)
        else:
            dx, dw, db = self._backward_general(dout)
        if dx is not None and self.view != self.shape:
            dx = xp.reshape(dx, self.shape)
        return dx, dw, db

    def _backward_per_channel(self, dout):
        """BatchNorm and InstanceNorm: with k = r·w constant in a group, Σĝ = w·Σdout and
        Σĝx̂ = w·r·Σdout·xc, so dx = k·dout - xc·(k·r·Σdout·x̂/M) - k·Σdout/M."""
        xp, axes, m, r, k = self.xp, self.axes, self.count, self.r, self.k
        sum_dout = sum_keep(xp, dout, axes)
        sum_dout_xhat = r * _sum_of_products(xp, dout, self.xc, axes)
        other_axes = tuple(a for a in self.param_axes if a not in axes)
        dw = self._param_grad(sum_keep(xp, sum_dout_xhat, other_axes), self.w, 1)
        db = self._param_grad(sum_keep(xp, sum_dout, other_axes), self.b, 2)
        if not self.needs_input_grad[0]:
            return None, dw, db
        if self.reduce is not None:  # dx needs the sums over every rank's batch
            sum_dout, sum_dout_xhat = self.reduce(sum_dout, sum_dout_xhat)
        dx = _scale_shift(xp, dout, k, None, axes)
        dx -= _scale_shift(xp, self.xc, k * r * sum_dout_xhat / m, k * sum_dout / m, axes)
        return dx, dw, db

    def _backward_general(self, dout):
        """LayerNorm, GroupNorm, RMSNorm: w varies inside a group, so reduce ĝ = dout·w."""
        xp, axes, m = self.xp, self.axes, self.count
        dw = self._param_grad(_sum_of_products(xp, dout, self.xhat, self.param_axes), self.w, 1)
        db = self._param_grad(sum_keep(xp, dout, self.param_axes), self.b, 2)
        if not self.needs_input_grad[0]:
            return None, dw, db
        g = dout if self.w is None else dout * xp.reshape(self.w, self.param_shape)
        dx = g - self.xhat * (_sum_of_products(xp, g, self.xhat, axes) / m)
        if self.center:
            dx -= sum_keep(xp, g, axes) / m
        dx *= self.r
        return dx, dw, db

    def _param_grad(self, summed, param, index):
        """A reduced gradient reshaped to the parameter's own shape (None if not wanted)."""
        if param is None or not self.needs_input_grad[index]:
            return None
        return backend.xp_of(summed).reshape(summed, param.shape)
