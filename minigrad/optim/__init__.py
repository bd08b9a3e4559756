"""optim: optimizers (optimizer_base.py, then optimizers.py) and learning-rate schedules
(schedule_base.py, then lr_scheduler.py and cyclic_lr.py)."""

from minigrad.optim import lr_finder, lr_scheduler, swa_utils  # noqa: F401
from minigrad.optim.lr_finder import lr_range_test  # noqa: F401
from minigrad.optim.optimizers import (  # noqa: F401
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    Optimizer,
    RAdam,
    RMSprop,
)
