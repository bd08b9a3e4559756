"""The smooth activations: GELU (exact and tanh), SiLU / Swish, Mish, Softplus, LogSigmoid,
Softsign, Tanhshrink. Read activations.py first; losses.py next.

Each is one Function whose backward reuses what its forward computed (Phi(x), tanh, sigmoid,
...). Such a saved intermediate cannot be differentiated again, so each also names a
`reference`, written right above it: the same formula on Tensors, which
backward(create_graph=True) differentiates instead (autograd/graph.py).
"""

import math

from minigrad import ops
from minigrad.functional.special import erfc, erfc_array
from minigrad.ops import sigmoid, sigmoid_array, tanh
from minigrad.tensor import Function, Tensor

SQRT1_2 = 1 / math.sqrt(2)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)

# --------------------------------------------------------------------------- helpers


def _log1p_exp(xp, x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): never overflows, and is cheaper than
    NumPy's logaddexp(x, 0) (which handles two general arguments)."""
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def log1p_exp(x):
    """log(1 + exp(x)) of a Tensor from primitives, never overflowing: x + log(1 + exp(-x))
    for x > 0, log(1 + exp(x)) elsewhere (the twice-differentiable twin of _log1p_exp).

    Each branch is smooth, so every derivative is right at x = 0 too, where the kinks of
    max(x, 0) and |x| would cancel in value but not in the second derivative."""
    positive = x.data > 0
    return ops.where(positive, x, 0.0) + ops.log(1 + ops.exp(ops.where(positive, -x, x)))


# --------------------------------------------------------------------------- smooth activations


def _gelu_reference(x):
    return x * (0.5 * erfc(-x * SQRT1_2))


class GELU(Function):
    """y = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2;  dx = dout * (Phi(x) + x phi(x)),
    phi(x) = exp(-x^2 / 2) / sqrt(2 pi) (the normal cdf and pdf; Hendrycks & Gimpel 2016)"""

    reference = _gelu_reference

    def forward(self, x):
        cdf = 0.5 * erfc_array(-x * SQRT1_2)
        self.x, self.cdf = x, cdf
        return x * cdf

    def backward(self, dout):
        x = self.x
        pdf = INV_SQRT_2PI * self.xp.exp(-0.5 * x * x)
        return (dout * (self.cdf + x * pdf),)


def _gelu_tanh_reference(x):
    return 0.5 * x * (1 + ops.tanh(GELUTanh.K * (x + 0.044715 * x * x * x)))


class GELUTanh(Function):
    """y = x (1 + t) / 2, t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3);
    dx = dout * ((1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 x^2))"""

    K = math.sqrt(2 / math.pi)
    reference = _gelu_tanh_reference

    def forward(self, x):
        t = self.xp.tanh(self.K * (x + 0.044715 * x * x * x))
        self.x, self.t = x, t
        return 0.5 * x * (1 + t)

    def backward(self, dout):
        x, t = self.x, self.t
        du = self.K * (1 + 3 * 0.044715 * x * x)
        return (dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du),)


def _silu_reference(x):
    return x * ops.sigmoid(x)


class SiLU(Function):
    """y = x s, s = sigmoid(x);  dx = dout * s (1 + x (1 - s))   (Elfwing et al. 2017)"""

    reference = _silu_reference

    def forward(self, x):
        s = sigmoid_array(x)
        self.x, self.s = x, s
        return x * s

    def backward(self, dout):
        s = self.s
        return (dout * s * (1 + self.x * (1 - s)),)


def _mish_reference(x):
    return x * ops.tanh(log1p_exp(x))


class Mish(Function):
    """y = x tanh(softplus(x));  dx = dout * (t + x (1 - t^2) sigmoid(x)), t = tanh(softplus(x))
    (Misra 2019)"""

    reference = _mish_reference

    def forward(self, x):
        xp = self.xp
        t = xp.tanh(_log1p_exp(xp, x))
        self.x, self.t = x, t
        return x * t

    def backward(self, dout):
        x, t = self.x, self.t
        return (dout * (t + x * (1 - t * t) * sigmoid_array(x)),)


def _softplus_reference(x, *, beta, threshold):
    return ops.where(x.data * beta > threshold, x, log1p_exp(x * beta) / beta)


class Softplus(Function):
    """y = log(1 + exp(b x)) / b, or x where b x > threshold;  dx = dout * sigmoid(b x) (or 1)"""

    reference = _softplus_reference

    def forward(self, x, *, beta, threshold):
        xp = self.xp
        bx = x * beta
        linear = bx > threshold
        if self.needs_input_grad[0]:
            self.slope = xp.where(linear, xp.ones_like(x), sigmoid_array(bx))
        return xp.where(linear, x, _log1p_exp(xp, bx) / beta)

    def backward(self, dout):
        return (dout * self.slope,)


def _logsigmoid_reference(x):
    return -log1p_exp(-x)


class LogSigmoid(Function):
    """y = log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|));  dx = dout * sigmoid(-x)"""

    reference = _logsigmoid_reference  # its backward's sigmoid works on arrays only

    def forward(self, x):
        xp = self.xp
        self.x = x
        return xp.minimum(x, 0.0) - xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, dout):
        return (dout * sigmoid_array(-self.x),)


def _softsign_reference(x):
    return x / (1 + ops.abs(x))


class Softsign(Function):
    """y = x / (1 + |x|);  dx = dout / (1 + |x|)^2"""

    reference = _softsign_reference

    def forward(self, x):
        self.d = 1 + self.xp.abs(x)
        return x / self.d

    def backward(self, dout):
        return (dout / (self.d * self.d),)


def gelu(input, approximate="none"):
    if approximate == "none":
        return GELU.apply(input)
    if approximate == "tanh":
        return GELUTanh.apply(input)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input):
    return SiLU.apply(input)


def swish(input, beta=1.0):
    """x sigmoid(beta x) (Ramachandran et al. 2017); `beta` may be a learnable Tensor."""
    if isinstance(beta, Tensor):
        return input * sigmoid(input * beta)
    if beta == 1.0:
        return SiLU.apply(input)
    return input * sigmoid(input * float(beta))


def mish(input):
    return Mish.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero (it divides the result)")
    return Softplus.apply(input, beta=float(beta), threshold=float(threshold))


def logsigmoid(input):
    return LogSigmoid.apply(input)


def softsign(input):
    return Softsign.apply(input)


def tanhshrink(input):
    """x - tanh(x);  the composite's gradient is 1 - (1 - tanh^2) = tanh^2"""
    return input - tanh(input)
