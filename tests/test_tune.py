"""Tests for tune.py: the search space's distributions, successive halving's budgets and
eliminations, reproducibility, failed trials, executors, and the results table."""

import concurrent.futures
import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import tune

# --------------------------------------------------------------------------- objectives
# module level, so that worker processes can import them


def fit_a_line(config, budget, seed):
    """Minus the final MSE of y = 3x - 1 fitted by SGD for `budget` x 10 steps at config's lr:
    too small a learning rate does not get there, too large diverges (a NaN score)."""
    mg.seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
    y = 3 * x - 1
    w = mg.zeros(1, 1, requires_grad=True)
    b = mg.zeros(1, requires_grad=True)
    opt = mg.optim.SGD([w, b], lr=config["lr"])
    xt, yt = mg.tensor(x), mg.tensor(y)
    for _ in range(int(budget) * 10):
        opt.zero_grad()
        loss = ((xt @ w + b - yt) ** 2).mean()
        loss.backward()
        opt.step()
    return -loss.item()


def quadratic(config, budget, seed):
    """A noise-free score peaked at x = 0.3, y = "b"; the budget makes later rungs better."""
    if config["y"] == "boom":
        raise ValueError("planted failure")
    return -((config["x"] - 0.3) ** 2) - (config["y"] != "b") + 0.01 * budget


# --------------------------------------------------------------------------- tests


def test_domains_sample_their_ranges_and_shapes():
    rng = np.random.default_rng(0)
    lr = [tune.loguniform(1e-4, 1e-1).sample(rng) for _ in range(4000)]
    assert 1e-4 <= min(lr) and max(lr) < 1e-1
    # log-uniform: each decade holds about a third of the draws
    decades = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1])[0] / len(lr)
    np.testing.assert_allclose(decades, 1 / 3, atol=0.03)
    ints = [tune.randint(2, 5).sample(rng) for _ in range(300)]
    assert set(ints) == {2, 3, 4} and all(type(i) is int for i in ints)
    assert {tune.choice("ab").sample(rng) for _ in range(100)} == {"a", "b"}
    u = [tune.uniform(-1, 1).sample(rng) for _ in range(2000)]
    assert -1 <= min(u) < -0.9 and 0.9 < max(u) < 1 and abs(np.mean(u)) < 0.05


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: tune.uniform(1, 1), "low < high"),
        (lambda: tune.loguniform(0, 1), "must be > 0"),
        (lambda: tune.randint(0, 2.5), "must be ints"),
        (lambda: tune.choice([]), "must not be empty"),
        (lambda: tune.random_search(quadratic, {}, 0), "num_trials"),
        (lambda: tune.random_search(quadratic, {}, 2, mode="best"), "mode"),
        (lambda: tune.random_search(quadratic, {"score": 1}, 2), "columns of the results"),
        (lambda: tune.random_search(quadratic, {}, 2, min_budget=3, max_budget=1), "budget"),
        (lambda: tune.random_search(quadratic, {}, 2, max_budget=3, eta=1), "eta"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_budgets_grow_by_eta_up_to_the_maximum():
    assert tune._budgets(1, 9, 3) == [1, 3, 9]
    assert tune._budgets(1, 10, 3) == [1, 3, 10]
    assert tune._budgets(2, 2, 3) == [2]
    assert tune._budgets(1, 2, 3) == [1, 2]


def test_successive_halving_keeps_the_best_third_and_survives_failures():
    space = {"x": tune.uniform(-1, 1), "y": tune.choice(["a", "b", "boom"]), "fixed": 7}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        result = tune.random_search(
            quadratic, space, 27, min_budget=1, max_budget=9, eta=3, seed=1, executor=pool
        )
    rungs = [[r for r in result.rows if r["rung"] == k] for k in range(3)]
    assert [len(r) for r in rungs] == [27, 9, 3]
    assert [r[0]["budget"] for r in rungs] == [1, 3, 9]
    failed = result.failed()
    assert failed and all("planted failure" in r["error"] and r["score"] is None for r in failed)
    first = {r["trial"]: r["score"] for r in rungs[0] if r["score"] is not None}
    promoted = {r["trial"] for r in rungs[1]}
    cutoff = sorted(first.values(), reverse=True)[8]
    assert promoted == {t for t, s in first.items() if s >= cutoff}
    assert all(r["fixed"] == 7 for r in result.rows)
    best = result.best
    assert best["row"]["rung"] == 2 and best["config"]["y"] == "b"
    assert best["score"] == pytest.approx(max(first.values()) + 0.08)  # same trial, budget 9


def test_the_search_finds_the_good_learning_rates_in_worker_processes():
    space = {"lr": tune.loguniform(1e-4, 10.0)}
    result = tune.random_search(
        fit_a_line, space, 9, min_budget=1, max_budget=3, seed=0, max_workers=2
    )
    assert 0.05 < result.best["config"]["lr"] < 1.5  # slow below, diverging above
    assert result.best["score"] > -0.05
    # reproducible: the same seed gives the same trials and scores (NaN for diverged ones)
    again = tune.random_search(fit_a_line, space, 9, min_budget=1, max_budget=3, seed=0)
    for a, b in zip(result.rows, again.rows):
        assert a["lr"] == b["lr"] and a["seed"] == b["seed"]
        assert a["score"] == b["score"] or (math.isnan(a["score"]) and math.isnan(b["score"]))


def test_results_table_as_csv_json_and_a_plot(tmp_path):
    space = {"x": tune.uniform(-1, 1), "lr": tune.loguniform(1e-3, 1), "y": tune.choice("ab")}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = tune.random_search(quadratic, space, 6, max_budget=3, executor=pool)
    result.to_csv(tmp_path / "search.csv")
    with open(tmp_path / "search.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.rows)
    assert list(rows[0]) == [
        "trial",
        "rung",
        "budget",
        "seed",
        "x",
        "lr",
        "y",
        "score",
        "error",
        "seconds",
    ]
    assert float(rows[0]["x"]) == result.rows[0]["x"]
    result.to_json(tmp_path / "search.json")
    saved = json.loads((tmp_path / "search.json").read_text())
    assert saved["mode"] == "max" and saved["rows"][0]["x"] == result.rows[0]["x"]
    pytest.importorskip("matplotlib")
    result.plot(tmp_path / "search.png")
    import matplotlib.pyplot as plt

    image = plt.imread(tmp_path / "search.png")
    assert image.shape[1] > 600 and image[..., :3].std() > 0.05  # three panels, drawn


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="needs mpiexec (distributed extra)")
def test_trials_run_on_mpi_workers_through_mpi4py_futures():
    pytest.importorskip("mpi4py")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{root / 'tests'}")
    command = ["mpiexec", "-n", "3", sys.executable, "-m", "mpi4py.futures"]
    command.append(str(root / "tests" / "tune_mpi_check.py"))
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and "ok 12 runs" in done.stdout, done.stdout + done.stderr
