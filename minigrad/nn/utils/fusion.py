"""Folding an inference-mode BatchNorm into the conv or linear layer before it (PyTorch's
torch.nn.utils.fusion names). Read nn/distillation.py next.

In eval mode BatchNorm is an affine map per channel c with frozen statistics:

    bn(z) = γ (z − μ) / √(σ² + ε) + β = s·z + (β − s·μ),   s = γ / √(σ² + ε)

and z = W x + b is linear, so bn(z) = (s·W) x + (s·(b − μ) + β): one layer, one pass less.
"""

import copy

from minigrad import backend
from minigrad.nn.module import Parameter
from minigrad.tensor import no_grad

# --------------------------------------------------------------------------- helpers


def _check_eval(layer, bn):
    if layer.training or bn.training:
        raise ValueError(
            "Fusion only for eval! call .eval() on both the layer and the BatchNorm "
            f"(training: {type(layer).__name__}={layer.training}, "
            f"{type(bn).__name__}={bn.training})"
        )
    if bn.running_mean is None:
        raise ValueError("fusion needs a BatchNorm with running statistics (track_running_stats)")


def _bn_scale_shift(bn, dtype):
    """(s, β − s·μ) as arrays: the BatchNorm in eval mode is y = s·z + shift per channel."""
    mean = bn.running_mean.data
    xp = backend.xp_of(mean)
    s = 1.0 / xp.sqrt(bn.running_var.data + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight.data
    shift = -s * mean
    if bn.bias is not None:
        shift = shift + bn.bias.data
    return xp.astype(s, dtype), xp.astype(shift, dtype)


def _fuse_weights(weight, bias, bn, axis):
    """(s·W, s·(b − μ) + β) as new Parameters; s scales W along its output axis `axis`."""
    w = weight.data
    xp = backend.xp_of(w)
    s, shift = _bn_scale_shift(bn, w.dtype)
    shape = [1] * w.ndim
    shape[axis] = s.shape[0]
    fused_w = w * xp.reshape(s, tuple(shape))
    fused_b = shift if bias is None else bias.data * s + shift
    if fused_b.shape != (w.shape[axis],):
        fused_b = xp.broadcast_to(fused_b, (w.shape[axis],))
    return Parameter(fused_w, weight.requires_grad), Parameter(fused_b, weight.requires_grad)


# --------------------------------------------------------------------------- public


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A new conv layer computing bn(conv(x)) of the eval-mode pair in one conv (conv and bn
    are left unchanged). transpose=True for a ConvTranspose (its weight is (in, out, ...))."""
    _check_eval(conv, bn)
    if transpose and conv.groups != 1:
        raise ValueError(
            f"fusing a grouped transposed conv is not supported (groups={conv.groups})"
        )
    fused = copy.deepcopy(conv)
    with no_grad():
        fused.weight, fused.bias = _fuse_weights(conv.weight, conv.bias, bn, 1 if transpose else 0)
    return fused


def fuse_linear_bn_eval(linear, bn):
    """A new Linear computing bn(linear(x)) of the eval-mode pair (BatchNorm1d after it)."""
    _check_eval(linear, bn)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise ValueError(
            "To fuse, linear.out_features must equal bn.num_features or bn.num_features "
            f"must be 1 (got {linear.out_features} and {bn.num_features})"
        )
    fused = copy.deepcopy(linear)
    with no_grad():
        fused.weight, fused.bias = _fuse_weights(linear.weight, linear.bias, bn, 0)
    return fused


def _fusable(layer, bn):
    from minigrad.nn.layers import Conv1d, Conv2d, ConvTranspose2d, Linear
    from minigrad.nn.normalization import _BatchNorm

    return (
        isinstance(layer, (Conv1d, Conv2d, ConvTranspose2d, Linear))
        and isinstance(bn, _BatchNorm)
        and bn.track_running_stats
    )


def _fuse_pair(layer, bn):
    from minigrad.nn.layers import ConvTranspose2d, Linear

    if isinstance(layer, Linear):
        return fuse_linear_bn_eval(layer, bn)
    return fuse_conv_bn_eval(layer, bn, transpose=isinstance(layer, ConvTranspose2d))


def fuse_batchnorm(model):
    """A copy of an eval-mode `model` with every conv/linear -> BatchNorm pair that sits next to
    each other in a Sequential (at any depth) fused into the layer, the BatchNorm replaced by
    Identity (so the other layers keep their indices and state-dict keys). For inference."""
    from minigrad.nn.containers import Sequential
    from minigrad.nn.layers import Identity

    fused = copy.deepcopy(model)
    for sequential in [m for m in fused.modules() if isinstance(m, Sequential)]:
        names = list(sequential._modules)
        for first, second in zip(names, names[1:]):
            layer, bn = sequential._modules[first], sequential._modules[second]
            if _fusable(layer, bn):
                sequential._modules[first] = _fuse_pair(layer, bn)
                sequential._modules[second] = Identity()
    return fused
