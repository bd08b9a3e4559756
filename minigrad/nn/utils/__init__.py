"""nn.utils: helpers that act on a model's parameters rather than compute a layer: clip.py
(clipping, max-norm, penalties), prune.py, parametrize.py + parametrizations.py (weight_norm),
fusion.py (BatchNorm folded into the layer before it). Read clip.py first.
"""

from minigrad.nn.utils import fusion, parametrizations, parametrize, prune  # noqa: F401
from minigrad.nn.utils.clip import (  # noqa: F401
    GradientNoise,
    clip_grad_norm_,
    clip_grad_value_,
    l1_penalty,
    max_norm_,
)
