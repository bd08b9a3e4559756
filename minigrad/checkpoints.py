"""What a run leaves on disk: resumable checkpoints (model, optimizer, scheduler, every rank's
RNG states) and the training log (CSV + JSON lines). Read train.py before this
file; diagnostics.py next.

Both are multi-process aware (distributed.py): every rank calls save_checkpoint, rank 0 writes
the file and each rank restores its own RNG state from it; a TrainingLog writes on rank 0 only.
"""

import csv
import json
import os

import numpy as np

from minigrad import backend, distributed

# --------------------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = "minigrad-checkpoint-1"


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch=None, loader=None, **extra):
    """Write model, optimizer, scheduler and RNG state, epoch and `extra` to one .npz file.

    The write is atomic (minigrad.save), so a crash mid-save keeps the previous checkpoint.
    RNG states hold 128-bit ints: they are stored as JSON text, which keeps every digit.
    `loader`: a DataLoader built with its own seed, whose generator is saved too.
    With several ranks, call it on every rank: each rank's RNG states are gathered and rank 0
    writes the file; every rank returns once it is written."""
    from minigrad import serialization

    rng = _every_rank(backend.get_rng_state())
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "rng": json.dumps(rng[0]),
        "extra": extra,
    }
    if len(rng) > 1:
        checkpoint["rng_per_rank"] = json.dumps(rng)
    if optimizer is not None:
        checkpoint["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        checkpoint["scheduler"] = scheduler.state_dict()
    if getattr(loader, "rng", None) is not None:
        loader_rng = _every_rank(loader.rng.bit_generator.state)
        checkpoint["loader_rng"] = json.dumps(loader_rng[0])
        if len(loader_rng) > 1:
            checkpoint["loader_rng_per_rank"] = json.dumps(loader_rng)
    if distributed.get_rank() == 0:
        serialization.save(checkpoint, path)
    distributed.barrier()


def _every_rank(state):
    """[rank 0's state, rank 1's, ...]: a JSON-able value gathered from every rank."""
    states = [None] * distributed.get_world_size()
    distributed.all_gather_object(states, state)
    return states


def _this_ranks(checkpoint, key):
    """The state saved under `key` for this rank (its own when the checkpoint has one per
    rank of a group of the same size, else rank 0's)."""
    per_rank = checkpoint.get(key + "_per_rank")
    if per_rank is not None:
        states = json.loads(per_rank)
        if len(states) == distributed.get_world_size():
            return states[distributed.get_rank()]
    return json.loads(checkpoint[key])


def load_checkpoint(path, model, optimizer=None, scheduler=None, device=None, loader=None):
    """Restore what save_checkpoint wrote into the given objects (and the global RNG).

    device: move the model there first (the optimizer state follows its parameters).
    Returns the checkpoint dict: its "epoch" and "extra" say where training stopped."""
    from minigrad import serialization

    checkpoint = serialization.load(path)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load_checkpoint: {path} is not a {CHECKPOINT_FORMAT} file")
    if device is not None:
        model.to(device)
    model.load_state_dict(checkpoint["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if name not in checkpoint:
            raise KeyError(f"load_checkpoint: {path} holds no {name} state")
        target.load_state_dict(checkpoint[name])
    backend.set_rng_state(_this_ranks(checkpoint, "rng"))
    if getattr(loader, "rng", None) is not None and "loader_rng" in checkpoint:
        loader.rng.bit_generator.state = _this_ranks(checkpoint, "loader_rng")
    return checkpoint


# --------------------------------------------------------------------------- training log


def _existing_log_file(stem):
    """stem.jsonl (every column) or else stem.csv; a clear error when neither is there."""
    for candidate in (stem + ".jsonl", stem + ".csv"):
        if os.path.isfile(candidate):
            return candidate
    if os.path.isfile(stem):
        raise ValueError(
            f"TrainingLog.read: {stem!r} is not a training log: expected a .csv or .jsonl "
            "file written by TrainingLog, or their common stem"
        )
    raise FileNotFoundError(f"TrainingLog.read: found neither {stem}.jsonl nor {stem}.csv")


def _read_json_rows(path):
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"TrainingLog.read: line {number} of {path} is not a JSON row ({e.msg})"
                ) from None
            if not isinstance(row, dict):
                raise ValueError(f"TrainingLog.read: line {number} of {path} is not a JSON object")
            rows.append(row)
    return rows


def _csv_value(text):
    """A CSV cell as TrainingLog wrote it: an int, a float, or else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _read_csv_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if "epoch" not in (reader.fieldnames or ()):
            raise ValueError(f"TrainingLog.read: {path} is not a TrainingLog CSV (no epoch column)")
        rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():  # DictReader's marks of a ragged line
            raise ValueError(f"TrainingLog.read: line {number} of {path} does not fit the header")
    return [{k: _csv_value(v) for k, v in row.items() if v != ""} for row in rows]


class TrainingLog:
    """One row per epoch, kept in memory and appended (flushed) to PATH.csv and PATH.jsonl.

    The CSV has fixed columns (others go to the JSON lines only); resume=True appends to
    existing files instead of starting them afresh. path=None keeps the rows in memory, as
    every rank but rank 0 does when several processes train together (distributed.py)."""

    COLUMNS = ("epoch", "train_loss", "test_loss", "test_acc", "lr", "seconds")

    def __init__(self, path=None, columns=COLUMNS, resume=False):
        self.rows = []
        self.columns = tuple(columns)
        self.csv_path = self.json_path = None
        if path is None:
            return
        stem = os.fspath(path)
        for suffix in (".csv", ".jsonl"):
            stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
        self.csv_path = stem + ".csv"
        self.json_path = stem + ".jsonl"
        if resume and os.path.exists(self.json_path):
            self.rows = TrainingLog.read(self.json_path).rows
        if distributed.get_rank() != 0:
            self.csv_path = self.json_path = None
        elif not (resume and os.path.exists(self.json_path)):
            os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
            open(self.json_path, "w").close()

    def log(self, **row):
        """Append one row, e.g. log(epoch=3, train_loss=0.21, lr=0.01)."""
        row = {k: float(v) if isinstance(v, np.generic) else v for k, v in row.items()}
        self.rows.append(row)
        if self.csv_path is None:
            return
        with open(self.csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, self.columns, restval="", extrasaction="ignore")
            writer.writerow(row)
        with open(self.json_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def __getitem__(self, column):
        """The values of one column across epochs (None where a row lacks it)."""
        return [row.get(column) for row in self.rows]

    def __len__(self):
        return len(self.rows)

    @classmethod
    def read(cls, path):
        """A log (in memory) holding the rows TrainingLog wrote: give the .jsonl file, the .csv
        file (its fixed columns only) or their common stem (the .jsonl, else the .csv)."""
        path = os.fspath(path)
        if not path.endswith((".csv", ".jsonl")):
            path = _existing_log_file(path)
        log = cls()
        log.rows = _read_csv_rows(path) if path.endswith(".csv") else _read_json_rows(path)
        return log
