"""Layers that own weights or reshape: Identity, Flatten, Unflatten, Linear, Embedding, Maxout,
Conv1d/Conv2d/ConvTranspose2d and the pools, with PyTorch's arguments, layouts and default init.
Read containers.py first; activations.py next.
"""

import math

from minigrad import backend
from minigrad import functional as F  # noqa: N812
from minigrad.functional.windows import ntuple
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor, no_grad

# --------------------------------------------------------------------------- helpers


def _positive_int(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


def _empty(shape, device, dtype):
    """A zero Parameter of `shape` on `device`; reset_parameters() fills it."""
    device = backend.normalize_device(device)
    xp = backend.namespace(device)
    dtype = backend._dtype(xp, dtype or backend.DEFAULT_DTYPE)
    return Parameter(xp.zeros(shape, dtype=dtype, device=backend.native_device(device)))


def _set_bias(module, bias, features, device, dtype):
    """module.bias = a zero (features,) Parameter, or a registered None when bias is False."""
    if bias:
        module.bias = _empty((features,), device, dtype)
    else:
        module.register_parameter("bias", None)


def _default_init(weight, bias):
    """PyTorch's Linear/Conv default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) for the
    weight, and U(+-1/sqrt(fan_in)) for the bias too."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


# --------------------------------------------------------------------------- shape layers


class Identity(Module):
    """y = x (a placeholder; takes and ignores any constructor arguments, like PyTorch's)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge dims start_dim..end_dim: (B, C, H, W) -> (B, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim into unflattened_size: Unflatten(1, (C, H, W)) turns (B, C*H*W) into an image."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim % x.ndim
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1 :])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# --------------------------------------------------------------------------- dense layers


class Linear(Module):
    """y = x @ weight^T + bias; weight (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        self.weight = _empty((out_features, in_features), device, dtype)
        _set_bias(self, bias, out_features, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _default_init(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A lookup table: integer ids (any shape) -> rows of weight (num_embeddings, dim).

    Initialised N(0, 1); the padding_idx row starts at zero and never receives a gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} is out of range for "
                    f"{num_embeddings} embeddings"
                )
            padding_idx = padding_idx % num_embeddings
        self.padding_idx = padding_idx
        self.weight = _empty((num_embeddings, embedding_dim), device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx, ...] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding a copy of `embeddings` (num, dim); frozen by default."""
        data = embeddings.data if isinstance(embeddings, Tensor) else embeddings
        if not backend.is_array(data):
            data = backend.to_device(data, "cpu", dtype=backend.DEFAULT_DTYPE)
        if data.ndim != 2:
            raise ValueError(f"from_pretrained: embeddings must be 2-D, got {tuple(data.shape)}")
        num, dim = tuple(data.shape)
        device, dtype = backend.device_of(data), backend.dtype_name(data.dtype)
        layer = cls(num, dim, padding_idx, device=device, dtype=dtype)
        layer.weight.data = backend.xp_of(data).asarray(data, copy=True)
        layer.weight.requires_grad = not freeze
        return layer

    def forward(self, ids):
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else f"{text}, padding_idx={self.padding_idx}"


class Maxout(Module):
    """y_j = max over k of (x @ W^T + b)_{j*pool_size + k}  (Goodfellow et al., 2013).

    One Linear to out_features * pool_size units, then the max of each group of pool_size:
    a learned piecewise-linear convex activation. weight is (out_features * pool_size, in)."""

    def __init__(self, in_features, out_features, pool_size, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Maxout")
        self.out_features = _positive_int(out_features, "out_features", "Maxout")
        self.pool_size = _positive_int(pool_size, "pool_size", "Maxout")
        units = out_features * pool_size
        self.weight = _empty((units, in_features), device, dtype)
        _set_bias(self, bias, units, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _default_init(self.weight, self.bias)

    def forward(self, x):
        z = F.linear(x, self.weight, self.bias)  # (..., out * pool)
        z = z.reshape(z.shape[:-1] + (self.out_features, self.pool_size))
        return z.amax(dim=-1)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"pool_size={self.pool_size}"
        )


# --------------------------------------------------------------------------- convolutions


class _ConvNd(Module):
    """What Conv1d, Conv2d and ConvTranspose2d share: arguments, weight layout, init, repr.

    The arguments are Conv1d's and Conv2d's, in PyTorch's order; output_padding is used only by
    ConvTranspose2d, whose own signature orders them as PyTorch does."""

    n = 2
    transposed = False

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
        *,
        output_padding=0,
    ):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = _positive_int(in_channels, "in_channels", owner)
        self.out_channels = _positive_int(out_channels, "out_channels", owner)
        self.groups = _positive_int(groups, "groups", owner)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{owner}: in_channels {in_channels} and out_channels {out_channels} must both "
                f"be divisible by groups {groups}"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"{owner}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        self.kernel_size = ntuple(kernel_size, self.n, "kernel_size", owner, 1)
        self.stride = ntuple(stride, self.n, "stride", owner, 1)
        self.dilation = ntuple(dilation, self.n, "dilation", owner, 1)
        self.output_padding = ntuple(output_padding, self.n, "output_padding", owner, 0)
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self.transposed:
                raise ValueError(f"{owner}: unsupported padding {padding!r}")
            self.padding = padding
        else:
            self.padding = ntuple(padding, self.n, "padding", owner, 0)
        self.padding_mode = padding_mode
        # (out, in/groups, *k) for a conv; (in, out/groups, *k) for a transposed conv
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = _empty(shape, device, dtype)
        _set_bias(self, bias, out_channels, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _default_init(self.weight, self.bias)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        text += f", stride={self.stride}"
        if self.padding != (0,) * self.n:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.n:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.n:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation) over (B, C, L); weight (out, in/groups, K).

    Takes PyTorch's Conv1d arguments, as listed in _ConvNd.__init__."""

    n = 1

    def forward(self, x):
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(
            x, self.weight, self.bias, self.stride[0], padding, self.dilation[0], self.groups
        )


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over (B, C, H, W); weight (out, in/groups, KH, KW).

    Takes PyTorch's Conv2d arguments, as listed in _ConvNd.__init__."""

    def forward(self, x):
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class ConvTranspose2d(_ConvNd):
    """The gradient of Conv2d with respect to its input, used as a layer (upsampling).

    weight is (in, out/groups, KH, KW), as in PyTorch; output size per axis is
    (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""

    transposed = True

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
            output_padding=output_padding,
        )

    def forward(self, x):
        return F.conv_transpose2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )


# --------------------------------------------------------------------------- pooling


class _Pool(Module):
    """Keeps PyTorch's pooling arguments; stride defaults to the kernel size."""

    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding


class MaxPool2d(_Pool):
    """Max over each KH x KW window of (B, C, H, W)."""

    _pool = staticmethod(F.max_pool2d)  # MaxPool1d swaps in the 1-D function

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ):
        super().__init__(kernel_size, stride, padding)
        if return_indices:
            raise ValueError("MaxPool2d: return_indices=True is not supported")
        self.dilation = dilation
        self.ceil_mode = ceil_mode

    def forward(self, x):
        return self._pool(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode
        )

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(MaxPool2d):
    """Max over each window of length K of (B, C, L)."""

    _pool = staticmethod(F.max_pool1d)


class AvgPool2d(_Pool):
    """Mean over each KH x KW window; count_include_pad counts the zero padding in the mean."""

    _pool = staticmethod(F.avg_pool2d)  # AvgPool1d swaps in the 1-D function

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ):
        super().__init__(kernel_size, stride, padding)
        if divisor_override is not None:
            raise ValueError("AvgPool2d: divisor_override is not supported")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return self._pool(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad
        )

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(AvgPool2d):
    """Mean over each window of length K of (B, C, L)."""

    _pool = staticmethod(F.avg_pool1d)

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed (OH, OW) whatever the input size; 1 gives global pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
