"""Dropout and noise layers: Dropout, Dropout1d/2d, AlphaDropout, FeatureAlphaDropout, DropConnect
(wraps a Linear) and GaussianNoise. The math is in functional/dropout.py; read recurrent.py next.

Each is the identity in eval mode (model.eval()) and random in training (model.train()).
forward takes an optional mask= (noise= for GaussianNoise) to fix the randomness in tests.
"""

from minigrad import functional as F
from minigrad.nn.module import Module

# --------------------------------------------------------------------------- helpers


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")


class _DropoutNd(Module):
    """Holds p (checked here, at construction, as in PyTorch)."""

    def __init__(self, p=0.5):
        super().__init__()
        _check_p(p)
        self.p = p

    def extra_repr(self):
        return f"p={self.p}"


# --------------------------------------------------------------------------- inverted dropout


class Dropout(_DropoutNd):
    """Zero each entry with probability p, scale the rest by 1/(1 - p)."""

    def forward(self, x, mask=None):
        return F.dropout(x, self.p, self.training, mask)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) input."""

    def forward(self, x, mask=None):
        return F.dropout1d(x, self.p, self.training, mask)


class Dropout2d(_DropoutNd):
    """Zero whole channels (feature maps) of (N, C, H, W) or (C, H, W) input."""

    def forward(self, x, mask=None):
        return F.dropout2d(x, self.p, self.training, mask)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: keeps mean 0 and variance 1 (Klambauer et al. 2017)."""

    def forward(self, x, mask=None):
        return F.alpha_dropout(x, self.p, self.training, mask)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels of (N, C, *) input."""

    def forward(self, x, mask=None):
        return F.feature_alpha_dropout(x, self.p, self.training, mask)


# --------------------------------------------------------------------------- weights and noise


class DropConnect(Module):
    """Wraps a Linear and drops its individual weights in training (Wan et al. 2013).

    Its parameters are the wrapped layer's (keys "linear.weight", "linear.bias"); eval uses
    the full weights. DropConnect(nn.Linear(784, 256), p=0.5)."""

    def __init__(self, linear, p=0.5):
        super().__init__()
        weight = getattr(linear, "weight", None)
        if not isinstance(linear, Module) or weight is None or weight.ndim != 2:
            raise TypeError(
                f"DropConnect wraps a Linear layer (a Module with a 2-D weight), "
                f"got {type(linear).__name__}"
            )
        _check_p(p)
        self.linear = linear
        self.p = p

    @property
    def weight(self):
        return self.linear.weight

    @property
    def bias(self):
        return self.linear.bias

    def forward(self, x, mask=None):
        return F.drop_connect(x, self.linear.weight, self.linear.bias, self.p, self.training, mask)

    def extra_repr(self):
        return f"p={self.p}"


class GaussianNoise(Module):
    """Add std·N(0, 1) noise in training; the identity in eval."""

    def __init__(self, std=0.1):
        super().__init__()
        if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
            raise ValueError(f"GaussianNoise: std must be a number >= 0, got {std!r}")
        self.std = std

    def forward(self, x, noise=None):
        return F.gaussian_noise(x, self.std, self.training, noise)

    def extra_repr(self):
        return f"std={self.std}"
