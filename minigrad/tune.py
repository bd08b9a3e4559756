"""Hyperparameter search: random sampling of a search space, successive halving of the trials,
and a results table. Read plots.py before this file; fast/ comes last.

    space = {"lr": tune.loguniform(1e-4, 1e-1), "width": tune.randint(16, 129),
             "optimizer": tune.choice(["adam", "sgd"])}

    def objective(config, budget, seed):      # train for `budget` epochs, return the score
        ...
        return validation_accuracy

    result = tune.random_search(objective, space, num_trials=27, min_budget=1, max_budget=9)
    result.best["config"]; result.to_csv("search.csv"); result.plot("search.png")

Random search (Bergstra & Bengio 2012) samples every trial independently, so it explores each
hyperparameter at num_trials values. Successive halving (Jamieson & Talwalkar 2016) spends
little on bad trials: every trial runs with min_budget, the best 1/eta of them run again with
eta times the budget, and so on up to max_budget. A run at a larger budget starts afresh, so a
trial only needs to be a function of (config, budget, seed).

Trials run in parallel through any concurrent.futures.Executor: local processes by default,
mpi4py.futures.MPIPoolExecutor on a cluster (`mpiexec -n 9 python -m mpi4py.futures
search.py`), or a dask.distributed Client. Each trial gets its own seed, derived from the
search's seed, so a search is reproducible. A trial that raises is recorded with its error and
the search goes on without it.
"""

import concurrent.futures
import csv
import json
import math
import os
import time
import traceback

import numpy as np

from minigrad.fast import threads

# --------------------------------------------------------------------------- search space


class Domain:
    """One hyperparameter's values: sample(rng) draws one; `log` says to plot it on a log axis."""

    log = False

    def sample(self, rng):
        raise NotImplementedError


class uniform(Domain):  # noqa: N801  (lowercase, like the functions of other search libraries)
    """A float uniformly in [low, high)."""

    def __init__(self, low, high):
        _check_range("uniform", low, high)
        self.low, self.high = float(low), float(high)

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))


class loguniform(Domain):  # noqa: N801
    """A float whose logarithm is uniform: as many draws in [1e-4, 1e-3) as in [1e-2, 1e-1)."""

    log = True

    def __init__(self, low, high):
        _check_range("loguniform", low, high)
        if low <= 0:
            raise ValueError(f"loguniform: low must be > 0, got {low!r}")
        self.low, self.high = float(low), float(high)

    def sample(self, rng):
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


class randint(Domain):  # noqa: N801
    """An int uniformly in [low, high) (high excluded, as in Python's range)."""

    def __init__(self, low, high):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            raise TypeError(f"randint: low and high must be ints, got {low!r} and {high!r}")
        _check_range("randint", low, high)
        self.low, self.high = low, high

    def sample(self, rng):
        return int(rng.integers(self.low, self.high))


class choice(Domain):  # noqa: N801
    """One of `options`, each equally likely."""

    def __init__(self, options):
        self.options = list(options)
        if not self.options:
            raise ValueError("choice: options must not be empty")

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]


def _check_range(name, low, high):
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or low >= high:
        raise ValueError(f"{name}: need numbers low < high, got {low!r} and {high!r}")


def sample(space, rng):
    """One configuration: each Domain of `space` sampled, other values passed as they are."""
    return {k: v.sample(rng) if isinstance(v, Domain) else v for k, v in space.items()}


# --------------------------------------------------------------------------- running trials


def _run_trial(objective, config, budget, seed):
    """(score, error text, seconds) of objective(config, budget, seed); never raises."""
    start = time.perf_counter()
    try:
        score = float(objective(config, budget, seed))
        error = None
    except Exception:
        score, error = None, traceback.format_exc(limit=-3)
    return score, error, time.perf_counter() - start


def default_executor(max_workers=None):
    """Local worker processes, one per core, each with a single BLAS thread."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max_workers or cores or 1
    per_worker = max(1, (cores or 1) // workers)
    # each worker's BLAS gets its share of the cores
    return concurrent.futures.ProcessPoolExecutor(
        workers, initializer=threads.set_blas_threads, initargs=(per_worker,)
    )


def _budgets(min_budget, max_budget, eta):
    """min_budget, min_budget·eta, ... up to max_budget (the last rung runs max_budget)."""
    if not 0 < min_budget <= max_budget:
        raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget}, {max_budget}")
    if not eta > 1:
        raise ValueError(f"eta must be > 1, got {eta!r}")
    budgets = [min_budget]
    while budgets[-1] * eta <= max_budget * (1 + 1e-9):
        budgets.append(budgets[-1] * eta)
    if budgets[-1] < max_budget and len(budgets) > 1:
        budgets[-1] = max_budget  # 1, 3, 9 -> 1, 3, 10 for max_budget=10
    elif budgets[-1] < max_budget:
        budgets.append(max_budget)
    return [int(b) if float(b).is_integer() else b for b in budgets]


def _survivors(rows, count, mode):
    """The trial ids of the `count` best finished rows (failed trials never survive)."""
    finished = [r for r in rows if r["score"] is not None and math.isfinite(r["score"])]
    finished.sort(key=lambda r: r["score"], reverse=mode == "max")
    return [r["trial"] for r in finished[:count]]


def random_search(
    objective,
    space,
    num_trials=16,
    *,
    mode="max",
    min_budget=1,
    max_budget=1,
    eta=3,
    seed=0,
    executor=None,
    max_workers=None,
):
    """Sample num_trials configurations of `space`; run them with successive halving.

    objective(config, budget, seed) -> score trains one configuration with `budget` (epochs,
    steps, samples: whatever it means to the objective) and returns a number to maximise
    (mode="max") or minimise ("min"). executor: any concurrent.futures.Executor (None: local
    processes, see default_executor); objective must then be importable by the workers (a
    module-level function). Returns a SearchResult."""
    if mode not in ("max", "min"):
        raise ValueError(f"random_search: mode must be 'max' or 'min', got {mode!r}")
    if isinstance(num_trials, bool) or not isinstance(num_trials, int) or num_trials < 1:
        raise ValueError(f"random_search: num_trials must be an int >= 1, got {num_trials!r}")
    reserved = {"trial", "rung", "budget", "seed", "score", "error", "seconds"} & set(space)
    if reserved:
        raise ValueError(f"random_search: {sorted(reserved)} name columns of the results table")
    rng = np.random.default_rng(seed)
    configs = [sample(space, rng) for _ in range(num_trials)]
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=num_trials)]
    own = executor is None
    executor = default_executor(max_workers) if own else executor
    rows, alive = [], list(range(num_trials))
    try:
        for rung, budget in enumerate(_budgets(min_budget, max_budget, eta)):
            futures = {
                t: executor.submit(_run_trial, objective, configs[t], budget, seeds[t])
                for t in alive
            }
            rung_rows = [_row(t, rung, budget, configs[t], seeds[t], futures[t]) for t in alive]
            rows += rung_rows
            alive = _survivors(rung_rows, max(1, len(alive) // eta), mode)
            if not alive:
                break
    finally:
        if own:
            executor.shutdown()
    return SearchResult(rows, list(space), mode, space)


def _row(trial, rung, budget, config, seed, future):
    score, error, seconds = future.result()
    row = {"trial": trial, "rung": rung, "budget": budget, "seed": seed}
    row.update(config)
    row.update(score=score, error=error, seconds=seconds)
    return row


# --------------------------------------------------------------------------- results


class SearchResult:
    """Every run of every trial as a row: trial, rung, budget, seed, the hyperparameters,
    score, error (None, or the end of the traceback) and seconds."""

    def __init__(self, rows, names, mode, space):
        self.rows = rows
        self.names = names
        self.mode = mode
        self.space = space

    @property
    def best(self):
        """The best row among those run with the largest budget any trial reached."""
        finished = [r for r in self.rows if r["score"] is not None]
        if not finished:
            raise RuntimeError("no trial finished: see the error column of .rows")
        top = max(r["rung"] for r in finished)
        last = [r for r in finished if r["rung"] == top]
        pick = max if self.mode == "max" else min
        best = pick(last, key=lambda r: r["score"])
        return {"config": {k: best[k] for k in self.names}, "score": best["score"], "row": best}

    def failed(self):
        return [r for r in self.rows if r["error"] is not None]

    def columns(self):
        return ["trial", "rung", "budget", "seed", *self.names, "score", "error", "seconds"]

    def to_csv(self, path):
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns())
            writer.writeheader()
            writer.writerows(self.rows)

    def to_json(self, path):
        with open(path, "w") as f:
            json.dump({"mode": self.mode, "rows": self.rows}, f, indent=1)

    def plot(self, path):
        """score against each hyperparameter (one panel each; log axes for loguniform), every
        run coloured by its budget; needs matplotlib (`pip install -e ".[plots]"`)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [r for r in self.rows if r["score"] is not None]
        fig, axes = plt.subplots(1, len(self.names), figsize=(4 * len(self.names), 3.2))
        for ax, name in zip(np.atleast_1d(axes), self.names):
            values = [r[name] for r in rows]
            numeric = all(isinstance(v, (int, float)) for v in values)
            xs = values if numeric else [str(v) for v in values]
            points = ax.scatter(xs, [r["score"] for r in rows], c=[r["budget"] for r in rows])
            if getattr(self.space.get(name), "log", False):
                ax.set_xscale("log")
            ax.set_xlabel(name)
            ax.set_ylabel("score")
        fig.colorbar(points, ax=axes, label="budget")
        fig.savefig(path, dpi=100)
        plt.close(fig)
