"""Ready-made parametrizations (torch.nn.utils.parametrizations): weight_norm. The machinery
is in parametrize.py; read prune.py next.
"""

from minigrad.nn.module import Module
from minigrad.nn.utils import parametrize

# --------------------------------------------------------------------------- weight norm


def _norm_except_dim(v, dim):
    """‖v‖₂ over every axis but `dim`, kept as size-1 axes; dim=-1: over the whole tensor."""
    if dim == -1:
        return (v * v).sum().sqrt()
    axes = tuple(a for a in range(v.ndim) if a != dim)
    return (v * v).sum(dim=axes, keepdim=True).sqrt()


class _WeightNorm(Module):
    """w = g · v / ‖v‖ (Salimans & Kingma 2016): the direction v and the length g train apart."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        """(g, v) with g = ‖w‖ and v = w, so that forward(g, v) = w."""
        return _norm_except_dim(weight, self.dim).detach(), weight.detach()


def weight_norm(module, name="weight", dim=0):
    """Reparametrize module.<name> as g · v / ‖v‖ with the norm taken per slice along `dim`
    (dim=0: per output unit of a Linear or Conv weight; dim=None: over the whole tensor).

    g is parametrizations.<name>.original0 (shaped like the norm, e.g. (out, 1) for Linear),
    v is parametrizations.<name>.original1 (the weight's shape), as in PyTorch."""
    if dim is None:
        dim = -1
    weight = getattr(module, name, None)
    ndim = getattr(weight, "ndim", 0)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -ndim <= dim < max(ndim, 1):
        raise ValueError(f"weight_norm: dim must be None or an axis of {name}, got {dim!r}")
    if dim < -1:
        dim += ndim
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module
