"""nn: layers that own parameters and state. Each file adds its import here."""

from minigrad.nn import utils  # noqa: F401
from minigrad.nn.module import Module, ModuleDict, ModuleList, Parameter, Sequential  # noqa: F401
