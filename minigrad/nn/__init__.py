"""nn: layers that own parameters and state. Each file adds its import here."""

from minigrad.nn import init, parallel, utils  # noqa: F401
from minigrad.nn.activations import (  # noqa: F401
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Swish,
    Tanh,
    Tanhshrink,
    Threshold,
)
from minigrad.nn.containers import ModuleDict, ModuleList, Sequential  # noqa: F401
from minigrad.nn.distillation import DistillationLoss  # noqa: F401
from minigrad.nn.dropout import (  # noqa: F401
    AlphaDropout,
    DropConnect,
    Dropout,
    Dropout1d,
    Dropout2d,
    FeatureAlphaDropout,
    GaussianNoise,
)
from minigrad.nn.ensemble import Ensemble  # noqa: F401
from minigrad.nn.layers import (  # noqa: F401
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Embedding,
    Flatten,
    Identity,
    Linear,
    Maxout,
    MaxPool1d,
    MaxPool2d,
    Unflatten,
)
from minigrad.nn.losses import (  # noqa: F401
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from minigrad.nn.module import Module, Parameter  # noqa: F401
from minigrad.nn.normalization import (  # noqa: F401
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    RMSNorm,
)
from minigrad.nn.padding import (  # noqa: F401
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from minigrad.nn.recurrent import (  # noqa: F401
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNBase,
    RNNCell,
    RNNCellBase,
)
from minigrad.nn.sync_batchnorm import SyncBatchNorm  # noqa: F401
from minigrad.nn.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: F401
