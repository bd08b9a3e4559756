"""F: the stateless math of layers, one file per family. Each family adds its import here."""

from minigrad.functional.dropout import (  # noqa: F401
    alpha_dropout,
    drop_connect,
    dropout,
    dropout1d,
    dropout2d,
    feature_alpha_dropout,
    gaussian_noise,
)
from minigrad.functional.linear import embedding, linear  # noqa: F401
from minigrad.functional.normalization import (  # noqa: F401
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    rms_norm,
)
from minigrad.ops import relu, sigmoid, tanh  # noqa: F401
