"""optim: optimizers (optimizers.py) and learning-rate schedules (lr_scheduler.py)."""
