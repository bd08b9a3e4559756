"""F: the stateless math of layers, one file per family. Each family adds its import here."""

from minigrad.functional.linear import embedding, linear  # noqa: F401
from minigrad.ops import relu, sigmoid, tanh  # noqa: F401
