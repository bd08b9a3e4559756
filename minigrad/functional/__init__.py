"""F: the stateless math of layers, one file per family. Each family adds its import here."""

from minigrad.functional.conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
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
from minigrad.functional.pooling import (  # noqa: F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from minigrad.ops import relu, sigmoid, tanh  # noqa: F401
