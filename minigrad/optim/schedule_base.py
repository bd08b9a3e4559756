"""The base of every learning-rate schedule: LRScheduler (step(), state_dict()) and the
per-param-group argument helper. Read optimizers.py before this file and lr_scheduler.py next.
"""

from minigrad.optim.optimizer_base import Optimizer

# --------------------------------------------------------------------------- helpers


def per_group(name, optimizer, value):
    """One value per param group: a list of the right length, or one value for all."""
    groups = optimizer.param_groups
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(f"expected {len(groups)} values for {name}, got {len(value)}")
        return list(value)
    return [value] * len(groups)


def check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"expected an Optimizer, got {type(optimizer).__name__}")


# --------------------------------------------------------------------------- base


class LRScheduler:
    """Base class. last_epoch counts step() calls (-1 before the first, which __init__ makes).

    base_lrs are the groups' "initial_lr" (set from "lr" on first use). Subclasses implement
    get_lr() -> the list of new lrs; _closed_form_lr(), where defined, gives lr(last_epoch)
    directly (SequentialLR uses it to restart a schedule at a milestone)."""

    _not_saved = ("optimizer",)

    def __init__(self, optimizer, last_epoch=-1):
        check_optimizer(optimizer)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param_groups[{i}] has no 'initial_lr': resuming a scheduler with "
                    f"last_epoch={last_epoch} needs the optimizer state it was saved with"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """Step once from last_epoch -1 to 0 so that the groups hold the schedule's first lr."""
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def _group_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def _set_lrs(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = self._group_lrs()

    def get_lr(self):
        raise NotImplementedError

    def get_last_lr(self):
        """The lrs the last step() set, one per param group."""
        return list(self._last_lr)

    def step(self):
        self._step_count += 1
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _jump_to(self, epoch):
        """Set last_epoch = epoch and the lrs it gives (closed form where there is one)."""
        self.last_epoch = epoch
        closed_form = getattr(self, "_closed_form_lr", None)
        self._set_lrs(closed_form() if closed_form is not None else self.get_lr())

    def state_dict(self):
        """Every attribute except the optimizer (and functions, which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._not_saved}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
