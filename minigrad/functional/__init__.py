"""F: the stateless math of layers, one file per family. Each family adds its import here.
Read special.py, activations.py, smooth.py, losses.py, cross_entropy.py, linear.py, windows.py,
conv.py, pooling.py, normalization.py, dropout.py; the fast paths behind conv, pooling and the
norms are in fast/.
"""

from minigrad.functional.activations import (  # noqa: F401
    celu,
    elu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    prelu,
    relu6,
    rrelu,
    selu,
    softmax,
    softmin,
    softshrink,
    threshold,
)
from minigrad.functional.conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
from minigrad.functional.cross_entropy import cross_entropy, nll_loss  # noqa: F401
from minigrad.functional.distillation import distillation_loss  # noqa: F401
from minigrad.functional.dropout import (  # noqa: F401
    alpha_dropout,
    drop_connect,
    dropout,
    dropout1d,
    dropout2d,
    feature_alpha_dropout,
    gaussian_noise,
)
from minigrad.functional.linear import embedding, linear, one_hot  # noqa: F401
from minigrad.functional.losses import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)
from minigrad.functional.normalization import (  # noqa: F401
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    rms_norm,
)
from minigrad.functional.patches import fold, pad, unfold  # noqa: F401
from minigrad.functional.pooling import (  # noqa: F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from minigrad.functional.resize import interpolate  # noqa: F401
from minigrad.functional.smooth import (  # noqa: F401
    gelu,
    logsigmoid,
    mish,
    silu,
    softplus,
    softsign,
    swish,
    tanhshrink,
)
from minigrad.ops import relu, sigmoid, tanh  # noqa: F401
