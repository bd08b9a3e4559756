"""F: the stateless math of layers, one file per family. Each family adds its import here."""

from minigrad.ops import relu, sigmoid, tanh  # noqa: F401
