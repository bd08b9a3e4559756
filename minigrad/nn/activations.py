"""Activation layers: one-line Module wrappers of functional/activations.py and smooth.py, PyTorch's
arguments; PReLU and a learnable Swish own a Parameter. Read losses.py next.

`inplace=True` is accepted for code ported from PyTorch; the result is always a new tensor
(autograd here never overwrites an input), which computes the same values.
"""

from minigrad import backend
from minigrad import functional as F  # noqa: N812
from minigrad.nn.module import Module, Parameter


class _Activation(Module):
    """Base of the stateless activations that PyTorch gives an `inplace` flag."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


# --------------------------------------------------------------------------- ReLU family


class ReLU(_Activation):
    def forward(self, input):
        return F.relu(input)


class ReLU6(_Activation):
    def forward(self, input):
        return F.relu6(input)


class LeakyReLU(_Activation):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class PReLU(Module):
    """Leaky ReLU with a learned slope: one for all channels, or one per channel (dim 1)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        if not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters}")
        self.num_parameters = num_parameters
        self.init = init
        device = backend.normalize_device(device)
        data = backend.to_device([float(init)] * num_parameters, device, dtype or "float32")
        self.weight = Parameter(data)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class RReLU(_Activation):
    """Random negative slope ~ U(lower, upper) per element in training, the mean in eval."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__(inplace)
        self.lower = lower
        self.upper = upper

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}"


class ELU(_Activation):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SELU(_Activation):
    def forward(self, input):
        return F.selu(input)


class CELU(ELU):
    def forward(self, input):
        return F.celu(input, self.alpha)


class Hardtanh(_Activation):
    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(inplace)
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Threshold(_Activation):
    def __init__(self, threshold, value, inplace=False):
        super().__init__(inplace)
        self.threshold = threshold
        self.value = value

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}"


# --------------------------------------------------------------------------- smooth activations


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    def forward(self, input):
        return F.silu(input)


class Swish(Module):
    """y = x sigmoid(beta x) (Ramachandran et al. 2017); learnable=True trains beta."""

    def __init__(self, beta=1.0, learnable=False, device=None, dtype=None):
        super().__init__()
        self.learnable = learnable
        if learnable:
            device = backend.normalize_device(device)
            self.beta = Parameter(backend.to_device(float(beta), device, dtype or "float32"))
        else:
            self.beta = float(beta)

    def forward(self, input):
        return F.swish(input, self.beta)

    def extra_repr(self):
        return "learnable=True" if self.learnable else f"beta={self.beta}"


class Mish(_Activation):
    def forward(self, input):
        return F.mish(input)


class Softplus(Module):
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(Module):
    def forward(self, input):
        return F.softsign(input)


class LogSigmoid(Module):
    def forward(self, input):
        return F.logsigmoid(input)


class Tanhshrink(Module):
    def forward(self, input):
        return F.tanhshrink(input)


# --------------------------------------------------------------------------- hard activations


class Hardsigmoid(_Activation):
    def forward(self, input):
        return F.hardsigmoid(input)


class Hardswish(_Activation):
    def forward(self, input):
        return F.hardswish(input)


class Softshrink(Module):
    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.softshrink(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Hardshrink(Softshrink):
    def forward(self, input):
        return F.hardshrink(input, self.lambd)


class GLU(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


# --------------------------------------------------------------------------- softmax family


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input):
        return F.log_softmax(input, self.dim)


class Softmin(Softmax):
    def forward(self, input):
        return F.softmin(input, self.dim)
