"""The GPU check (benchmarks/gpu_check.sh, gpu_steps.py) without a GPU: every GPU part says
"skipped: no CUDA GPU", the report is written, and the host-read counter counts."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from benchmarks import gpu_steps
from minigrad import backend

ROOT = Path(__file__).resolve().parents[1]
no_gpu_only = pytest.mark.skipif(
    backend.cuda_available(), reason="with a GPU the check runs for real (minutes)"
)


def test_count_host_reads_counts_each_transfer_and_its_caller():
    x = mg.tensor(np.arange(4.0), requires_grad=True)

    def step():
        loss = (x * x).sum()
        backend.to_host(x.data)  # one hidden read on top of the loss read
        return loss

    counts, callers, used = gpu_steps.count_host_reads(step, 3, memory=lambda: 7)
    assert counts == [2, 2, 2]
    assert used == [7, 7, 7]
    assert sum(callers.values()) == 6
    assert any("test_gpu_check.py" in where and "step" in where for where in callers)


@no_gpu_only
@pytest.mark.parametrize("step", ["syncs", "throughput", "nccl"])
def test_gpu_steps_skip_without_a_gpu(tmp_path, step):
    with pytest.raises(SystemExit) as exit_:
        gpu_steps.main([step, str(tmp_path)])
    assert exit_.value.code == gpu_steps.SKIP
    assert (tmp_path / f"{step}.md").read_text() == "skipped: no CUDA GPU\n"


@no_gpu_only
def test_cuda_helpers_raise_a_clear_error_without_a_gpu():
    for helper in (backend.cuda_synchronize, backend.cuda_memory_used, backend.cuda_versions):
        with pytest.raises(RuntimeError, match="cuda"):
            helper()


def test_report_lists_steps_in_order_and_quotes_fragments(tmp_path):
    rows = ["4\tthroughput\tskip\t0\t-\tskipped: no CUDA GPU", "0b\tversions\tpass\t3\tinfo.log\t"]
    (tmp_path / "steps.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "info.json").write_text('{"device": "none"}')
    (tmp_path / "syncs.md").write_text("- 1 call a step\n")
    gpu_steps.main(["report", str(tmp_path)])
    report = (tmp_path / "report.md").read_text()
    assert "| device | none |" in report
    assert report.index("| 0b. versions | pass |") < report.index("| 4. throughput | skip |")
    assert "## 3. Host reads and memory\n\n- 1 call a step" in report


@no_gpu_only
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_script_dry_run_skips_every_gpu_part(tmp_path):
    """The script itself, without its CPU parts (they have their own tests): ~10 s."""
    env = dict(os.environ, GPU_CHECK_CPU_PARTS="0", GPU_CHECK_WHEELS=str(tmp_path / "none"))
    env["PYTHON"] = sys.executable
    out = tmp_path / "out"
    script = ROOT / "benchmarks" / "gpu_check.sh"
    done = subprocess.run(
        ["bash", str(script), str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = (out / "report.md").read_text()
    for step in ("1. test suite on cuda", "4. throughput", "5. NCCL"):
        line = next(line for line in report.splitlines() if line.startswith(f"| {step}"))
        assert "| skip |" in line and "skipped: no CUDA GPU" in line
    assert "| 0b. versions | pass |" in report


NCCL_WITH_HOST_FAKES = """
import sys
import numpy as np
from minigrad import backend
from benchmarks import gpu_steps
calls = []

def all_reduce(communicator, a, op, size):
    calls.append(op)
    if op == "avg":
        a /= size

backend.nccl_communicator = lambda broadcast_bytes, rank, size: object()
backend.nccl_all_reduce = all_reduce
backend.cuda_synchronize = lambda device: None
code = gpu_steps.nccl(sys.argv[1], device="cpu")
print(code, len(calls))
"""


def test_nccl_step_logic_runs_on_the_host_with_fake_collectives(tmp_path):
    """The NCCL step's own code (buckets, the process group alone, DDP) on cpu, with the two
    NCCL calls replaced by host fakes; in a subprocess, as MPI may start in it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", NCCL_WITH_HOST_FAKES, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    code, calls = done.stdout.split()[-2:]
    assert code == "0" and int(calls) >= 4, done.stdout  # sum, avg, max, one per bucket
    report = (tmp_path / "nccl.md").read_text()
    assert report.count("= True") == 4 and "FAILED" not in report, report


def test_throughput_table_and_targets():
    from benchmarks import gpu_throughput as gt

    results = [("mnist", 128, 6000.0, 10000.0, None), ("cifar", 128, 3000.0, 4000.0, 250.0)]
    table = gt.markdown(results)
    assert "| examples/train_mnist.py make_model | 128 | 6,000 | 10,000 | 0.60 | - | - |" in table
    assert (
        "| examples/train_cifar10.py make_model | 128 | 3,000 | 4,000 | 0.75 | 250 | 12.0 |"
        in table
    )
    assert gt.targets_met(results)
    assert not gt.targets_met([("mlp", 128, 4000.0, 10000.0, None)])  # 0.4x PyTorch
    assert not gt.targets_met([("cifar", 128, 3000.0, None, 400.0)])  # 7.5x its CPU
    assert gt.targets_met([("mlp", 128, 4000.0, None, None)])  # nothing to compare with
