"""Every activation function but the smooth ones (smooth.py): the ReLU family, hard ones and
shrinks, then the normalised ones (softmax, log_softmax). Read smooth.py next, then losses.py;
nn/activations.py wraps these.

Each piecewise activation is one small Function with its derivative right under it; ReLU-like
backward passes are `dout * mask`, the mask cast to the input dtype (the array API does not
multiply bool by float). Branches that np.where would evaluate everywhere are computed on
clamped inputs, so logits of +-1e4 give no overflow, no NaN and no warning.

Second derivatives (backward(create_graph=True), autograd/graph.py): a mask is `constant`
(it does not change where the activation is differentiable); a Function that saves another
intermediate names a `reference`, the same activation composed of primitives.
"""

from minigrad import backend, ops
from minigrad.ops import relu, sigmoid, tanh  # noqa: F401  (Functions in ops.py)
from minigrad.tensor import Function, Tensor

# SELU constants, Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. (14)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _mask(xp, condition, like):
    """A boolean condition as 0/1 in the dtype of `like`."""
    return xp.astype(condition, like.dtype)


def _dim(name, dim, ndim):
    """Check a PyTorch-style dim (negatives count from the end) and make it non-negative."""
    if dim is None:
        raise TypeError(f"{name}: pass dim= explicitly (the axis that sums to one)")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor with {ndim} dims")
    return dim % max(ndim, 1)


# --------------------------------------------------------------------------- ReLU family


class LeakyReLU(Function):
    """y = x if x > 0 else a * x;  dx = dout * (1 if x > 0 else a)

    `a` is a number (leaky_relu) or an array of per-element slopes (rrelu's noise)."""

    constant = ("scale",)  # 1 or a: constant wherever x != 0

    def forward(self, x, *, slope):
        positive = _mask(self.xp, x > 0, x)
        scale = positive + (1 - positive) * slope  # exactly 1 or a: no where() on a random mask
        self.scale = scale if self.needs_input_grad[0] else None
        return x * scale

    def backward(self, dout):
        return (dout * self.scale,)


def _prelu_reference(x, w):
    """x where x > 0, else w_c x, w (C,) broadcast along dim 1 (or one slope for all)"""
    shape = (w.shape[0],) + (1,) * (x.ndim - 2) if w.shape[0] > 1 else ()
    return ops.where(x.data > 0, x, ops.reshape(w, shape) * x)


class PReLU(Function):
    """y = max(0, x) + w_c min(0, x), one slope per channel c (dim 1);
    dx = dout * (1 if x > 0 else w_c),  dw_c = sum of dout * min(0, x) over all but dim 1"""

    reference = _prelu_reference  # dx depends on w, dw on x: its saved scale is no constant

    def forward(self, x, w):
        xp = self.xp
        self.w_shape = w.shape
        if w.shape[0] > 1:
            # (C,) -> (C, 1, ..., 1): broadcasts along dim 1 of x (N, C, *)
            w = xp.reshape(w, (w.shape[0],) + (1,) * (x.ndim - 2))
        else:
            w = xp.reshape(w, ())
        positive = _mask(xp, x > 0, x)
        self.negative_part = (1 - positive) * x
        self.scale = positive + (1 - positive) * w
        return positive * x + w * self.negative_part

    def backward(self, dout):
        xp = self.xp
        dx = dout * self.scale if self.needs_input_grad[0] else None
        dw = None
        if self.needs_input_grad[1]:
            prod = dout * self.negative_part
            if self.w_shape[0] > 1:
                axes = tuple(i for i in range(prod.ndim) if i != 1)
                dw = xp.sum(prod, axis=axes)
            else:
                dw = xp.reshape(xp.sum(prod), self.w_shape)
        return dx, dw


def _elu_reference(x, *, alpha, scale, input_scale):
    """s x where x > 0, else s a (exp(k x) - 1), exp taken of min(x, 0) (no overflow)"""
    positive = x.data > 0
    negative = ops.where(positive, 0.0, x)
    return scale * ops.where(positive, x, alpha * (ops.exp(negative * input_scale) - 1))


class ELU(Function):
    """y = s x if x > 0 else s a (exp(k x) - 1);  dx = dout * (s if x > 0 else s a k exp(k x))

    One Function for three activations: elu (s = k = 1), selu (s, a of Klambauer et al.)
    and celu (k = 1/a). As y = s (max(x, 0) + a (exp(k min(x, 0)) - 1)), exp never overflows
    and each branch adds an exact 0 to the other, for every x including +-inf."""

    reference = _elu_reference

    def forward(self, x, *, alpha, scale, input_scale):
        xp = self.xp
        em1 = xp.expm1(xp.minimum(x, 0.0) * input_scale)
        if self.needs_input_grad[0]:
            positive = _mask(xp, x > 0, x)
            negative_slope = (alpha * input_scale) * (em1 + 1)
            self.slope = scale * (positive + (1 - positive) * negative_slope)
        return scale * (xp.maximum(x, 0.0) + alpha * em1)

    def backward(self, dout):
        return (dout * self.slope,)


class Hardtanh(Function):
    """y = clip(x, lo, hi);  dx = dout * (lo < x < hi)"""

    constant = ("inside",)  # the mask is constant away from lo and hi

    def forward(self, x, *, lo, hi):
        xp = self.xp
        self.inside = _mask(xp, (x > lo) & (x < hi), x)
        return xp.clip(x, lo, hi)

    def backward(self, dout):
        return (dout * self.inside,)


class Threshold(Function):
    """y = x if x > t else v;  dx = dout * (x > t)"""

    constant = ("keep",)

    def forward(self, x, *, threshold, value):
        xp = self.xp
        keep = x > threshold
        self.keep = _mask(xp, keep, x)
        return xp.where(keep, x, xp.full_like(x, value))

    def backward(self, dout):
        return (dout * self.keep,)


def leaky_relu(input, negative_slope=0.01):
    return LeakyReLU.apply(input, slope=float(negative_slope))


def prelu(input, weight):
    """PReLU with learnable slopes `weight` of shape (1,) or (C,), C = input.shape[1]
    (an input of fewer than 2 dims has no channel dim: C = 1, as in PyTorch)."""
    channels = input.shape[1] if input.ndim > 1 else 1
    if weight.ndim != 1 or weight.shape[0] not in (1, channels):
        raise ValueError(
            f"prelu: weight has shape {weight.shape}, expected (1,) or ({channels},) "
            f"for an input of shape {input.shape}"
        )
    return PReLU.apply(input, weight)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, noise=None):
    """Randomized leaky ReLU (Xu et al. 2015): in training each negative element gets a slope
    drawn from U(lower, upper) (or the given `noise` array of slopes); in eval the mean slope."""
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: need 0 <= lower <= upper, got lower={lower}, upper={upper}")
    if not training:
        return LeakyReLU.apply(input, slope=(lower + upper) / 2)
    if noise is None:
        u = backend.rand(input.shape, input.device, input.dtype)
        noise = lower + (upper - lower) * u
    else:
        noise = noise.data if isinstance(noise, Tensor) else noise
        noise = backend.to_device(noise, input.device, dtype=input.dtype)
    if tuple(noise.shape) != input.shape:
        raise ValueError(f"rrelu: noise has shape {tuple(noise.shape)}, expected {input.shape}")
    return LeakyReLU.apply(input, slope=noise)


def elu(input, alpha=1.0):
    return ELU.apply(input, alpha=float(alpha), scale=1.0, input_scale=1.0)


def selu(input):
    return ELU.apply(input, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0)


def celu(input, alpha=1.0):
    if alpha == 0:
        raise ValueError("celu: alpha must be non-zero (it divides x)")
    return ELU.apply(input, alpha=float(alpha), scale=1.0, input_scale=1.0 / alpha)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is greater than max_val {max_val}")
    return Hardtanh.apply(input, lo=float(min_val), hi=float(max_val))


def relu6(input):
    return Hardtanh.apply(input, lo=0.0, hi=6.0)


def threshold(input, threshold, value):
    return Threshold.apply(input, threshold=float(threshold), value=float(value))


# --------------------------------------------------------------------------- hard activations


class Hardsigmoid(Function):
    """y = clip(x / 6 + 1/2, 0, 1);  dx = dout / 6 * (-3 < x < 3)"""

    constant = ("inside",)

    def forward(self, x):
        xp = self.xp
        self.inside = _mask(xp, (x > -3) & (x < 3), x) / 6
        return xp.clip(x / 6 + 0.5, 0.0, 1.0)

    def backward(self, dout):
        return (dout * self.inside,)


def _hardswish_reference(x):
    """x (x + 3) / 6 on [-3, 3], x above it, 0 below"""
    middle = ops.where(x.data >= -3, x * (x + 3) / 6, 0.0)
    return ops.where(x.data > 3, x, middle)


class Hardswish(Function):
    """y = x clip(x + 3, 0, 6) / 6 (Howard et al. 2019, MobileNetV3);
    dx = dout * (0 if x < -3, x / 3 + 1/2 if x <= 3, else 1)"""

    reference = _hardswish_reference  # the slope x / 3 + 1/2 depends on x

    def forward(self, x):
        xp = self.xp
        if self.needs_input_grad[0]:
            middle = _mask(xp, (x >= -3) & (x <= 3), x)
            above = _mask(xp, x > 3, x)
            self.slope = middle * (xp.clip(x, -3.0, 3.0) / 3 + 0.5) + above
        return x * xp.clip(x + 3, 0.0, 6.0) / 6

    def backward(self, dout):
        return (dout * self.slope,)


class Softshrink(Function):
    """y = x - clip(x, -l, l)  (x - l above l, x + l below -l, else 0);  dx = dout * (|x| > l)"""

    constant = ("outside",)

    def forward(self, x, *, lambd):
        xp = self.xp
        self.outside = _mask(xp, xp.abs(x) > lambd, x)
        return x - xp.clip(x, -lambd, lambd)

    def backward(self, dout):
        return (dout * self.outside,)


class Hardshrink(Function):
    """y = x if |x| > l else 0;  dx = dout * (|x| > l)"""

    constant = ("outside",)

    def forward(self, x, *, lambd):
        self.outside = _mask(self.xp, self.xp.abs(x) > lambd, x)
        return x * self.outside

    def backward(self, dout):
        return (dout * self.outside,)


def hardsigmoid(input):
    return Hardsigmoid.apply(input)


def hardswish(input):
    return Hardswish.apply(input)


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    return Softshrink.apply(input, lambd=float(lambd))


def hardshrink(input, lambd=0.5):
    return Hardshrink.apply(input, lambd=float(lambd))


def glu(input, dim=-1):
    """Gated linear unit (Dauphin et al. 2017): a * sigmoid(b), a and b the halves along dim."""
    if input.ndim == 0:
        raise ValueError("glu: needs at least one dimension, got a 0-d tensor")
    axis = _dim("glu", dim, input.ndim)
    size = input.shape[axis]
    if size % 2:
        raise ValueError(f"glu: dim {dim} has size {size}, which must be even to halve it")
    before = (slice(None),) * axis
    a = input[before + (slice(0, size // 2),)]
    b = input[before + (slice(size // 2, size),)]
    return a * sigmoid(b)


# --------------------------------------------------------------------------- softmax family


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max)) along dim;  dx = y * (dout - sum(dout * y))

    Fused for stability: subtracting the max keeps exp() from overflowing (softmax is
    shift-invariant); the backward is the Jacobian-vector product written out."""

    def forward(self, x, *, dim):
        xp = self.xp
        self.dim = dim
        e = xp.exp(x - xp.max(x, axis=dim, keepdims=True))
        self.y = e / xp.sum(e, axis=dim, keepdims=True)
        return self.y

    def backward(self, dout):
        y = self.y
        return (y * (dout - self.xp.sum(dout * y, axis=self.dim, keepdims=True)),)


class LogSoftmax(Function):
    """y = x - max - log(sum(exp(x - max))) along dim;  dx = dout - softmax(x) * sum(dout)

    Fused for stability: log(softmax) would take log(0) = -inf for very negative logits."""

    def forward(self, x, *, dim):
        xp = self.xp
        self.dim = dim
        shifted = x - xp.max(x, axis=dim, keepdims=True)
        self.y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))
        return self.y

    def backward(self, dout):
        xp = self.xp
        return (dout - xp.exp(self.y) * xp.sum(dout, axis=self.dim, keepdims=True),)


def _softmax_like(cls, name, input, dim):
    if input.ndim == 0:  # a single logit: treat it as a vector of one
        return ops.reshape(cls.apply(ops.reshape(input, (1,)), dim=0), ())
    return cls.apply(input, dim=_dim(name, dim, input.ndim))


def softmax(input, dim=None):
    return _softmax_like(Softmax, "softmax", input, dim)


def log_softmax(input, dim=None):
    return _softmax_like(LogSoftmax, "log_softmax", input, dim)


def softmin(input, dim=None):
    """softmax(-x): the smallest input gets the largest weight."""
    return _softmax_like(Softmax, "softmin", -input, dim)
