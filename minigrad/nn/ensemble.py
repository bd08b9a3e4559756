"""Ensemble: the averaged prediction of separately trained models. Read nn/distillation.py
before it; optim/optimizer_base.py comes next (swa_utils.py holds the one-run variants:
SWA, snapshots).
"""

from minigrad.functional.activations import softmax
from minigrad.nn.containers import ModuleList
from minigrad.nn.module import Module


class Ensemble(Module):
    """ensemble(x) = mean over models of softmax(model(x), dim): models trained apart (other
    seeds, data orders, architectures) make partly independent errors, so the mean of their
    class probabilities is usually more accurate than each (and better calibrated).

    The models are registered (state_dict keys "models.0.weight", ...); eval() reaches them.
    Average logits instead with average="logits"."""

    def __init__(self, models, dim=-1, average="probs"):
        super().__init__()
        models = list(models)
        if not models or not all(isinstance(m, Module) for m in models):
            raise ValueError(
                f"Ensemble: models must be a non-empty list of Modules, got {models!r}"
            )
        if average not in ("probs", "logits"):
            raise ValueError(f"Ensemble: average must be 'probs' or 'logits', got {average!r}")
        self.models = ModuleList(models)
        self.dim = dim
        self.average = average

    def forward(self, x):
        total = None
        for model in self.models:
            y = model(x)
            if self.average == "probs":
                y = softmax(y, dim=self.dim)
            total = y if total is None else total + y
        return total / len(self.models)

    def extra_repr(self):
        return f"dim={self.dim}, average={self.average!r}"
