"""The benchmark suite's own correctness: the hand-written NumPy CNN that engine overhead is
measured against computes what minigrad (and PyTorch, when installed) compute."""

import shutil

import numpy as np
import pytest

from benchmarks import numpy_cnn
from benchmarks.models import cnn_batch, cnn_weights


def test_numpy_reference_cnn_matches_minigrad_and_pytorch(capsys):
    numpy_cnn.check(batch=4, steps=2)
    assert "agrees to float32 tolerance" in capsys.readouterr().out


def test_numpy_reference_catches_a_wrong_gradient(monkeypatch):
    # the check must be able to fail: a BatchNorm backward off by 1% is reported
    backward = numpy_cnn.BatchNorm.backward

    def off_by_one_percent(self, dout):
        return backward(self, dout) * 1.01

    monkeypatch.setattr(numpy_cnn.BatchNorm, "backward", off_by_one_percent)
    with pytest.raises(AssertionError):
        numpy_cnn.check(batch=4, steps=2)


def test_numpy_reference_trains():
    x, y = cnn_batch(batch=16)
    net = numpy_cnn.NumpyCNN(cnn_weights())
    losses = [net.train_step(x, y) for _ in range(8)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_suite_runs_and_prints_a_table(capsys):
    from benchmarks import run

    run.main(["--quick", "--only", "adam", "--markdown"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| Adam step"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "ms" and float(cells[2]) > 0 and float(cells[4]) > 0  # minigrad, NumPy


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="needs mpiexec (distributed extra)")
def test_ddp_benchmark_worker_reports_times_and_communication():
    from benchmarks import ddp

    result = ddp.run_worker("mnist", "minigrad", steps=2, ranks=2)
    assert len(result["times"]) == 2 and min(result["times"]) > 0
    assert 0 < result["comm"] < 1
    alone = ddp.run_worker("mnist", "minigrad-independent", steps=2, ranks=2)
    assert len(alone["times"]) == 2 and alone["comm"] is None  # no DDP, so nothing to time
    table = ddp.format_results({"mnist": {"minigrad 1 process": (100.0, None)}}, 2)
    assert "| examples/train_mnist.py make_model | 100 | - | - | - | - | - | - | - |" in table
    columns = {"minigrad 1 process": (100.0, None), "2 processes, no communication": (180.0, None)}
    table = ddp.format_results({"mnist": {**columns, "minigrad 2 ranks": (150.0, 0.04)}}, 2)
    assert "| 100 | 150 | - | 1.50 | - | 4.0% | 180 | 1.80 |" in table
