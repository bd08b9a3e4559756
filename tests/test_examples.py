"""Smoke tests of examples/: each script runs as a subprocess at tiny sizes and must exit 0 and
print the numbers its docstring promises. Read the examples themselves for what they teach.

No test touches the network: CIFAR-10 runs on --fake-data, the others on synthetic data or the
local Debian copy of Fashion-MNIST (skipped when absent).
"""

import gzip
import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def run_example(name, *args, timeout=120, without_matplotlib=False, cwd=ROOT, ranks=1):
    """stdout of `python examples/<name> args...`; fails with its stderr on a non-zero exit.
    without_matplotlib: run it as if matplotlib were not installed; ranks > 1: under
    `mpiexec -n ranks`."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, os.path.join(EXAMPLES, name), *args]
    if ranks > 1:
        command = [shutil.which("mpiexec"), "-n", str(ranks), *command]
    if without_matplotlib:
        # as `python script.py` would: the script's folder first on sys.path
        hide = "import runpy, sys; sys.modules['matplotlib'] = None; sys.argv = sys.argv[1:]; "
        hide += f"sys.path.insert(0, {EXAMPLES!r}); "
        command[1:1] = ["-c", hide + "runpy.run_path(sys.argv[0], run_name='__main__')"]
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{name} exited with {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def number(pattern, text):
    """The float captured by `pattern` in `text` (the test fails when it is missing)."""
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in:\n{text}"
    return float(found.group(1))


def last_line(text):
    return text.strip().splitlines()[-1]


# --------------------------------------------------------------------------- quick ones


def test_autograd_basics():
    out = run_example("autograd_basics.py")
    assert number(r"line: w = (-?[\d.]+)", out) == pytest.approx(3.0, abs=0.05)
    assert number(r"line: w = .*, b = (-?[\d.]+)", out) == pytest.approx(-1.0, abs=0.05)
    assert number(r"network: final loss ([\d.]+)", out) < 0.01


def test_higher_order():
    args = ["--train-steps", "20", "--power-iterations", "20", "--penalty-steps", "20"]
    out = run_example("higher_order.py", *args)
    # Newton's method reaches Rosenbrock's minimum (1, 1) in six steps from (-1.2, 1)
    assert "newton 0: x = (-1.2000000000, +1.0000000000)  f = 2.420e+01" in out
    assert "newton 6: x = (+1.0000000000, +1.0000000000)" in out
    assert number(r"newton 6: .* f = ([\d.e+-]+)", out) < 1e-15
    # power iteration on HVPs finds the full Hessian's largest eigenvalue
    assert "hessian: 25 parameters" in out
    top = number(r"power iteration \(20 HVPs\) lambda_max = ([\d.-]+)", out)
    assert top == pytest.approx(number(r"25x25 Hessian lambda_max = ([\d.-]+)", out), rel=1e-5)
    # the penalty falls while training, and ends below an unregularised run's
    penalties = [float(p) for p in re.findall(r"step +\d+ .* \|df/dx\|\^2 ([\d.]+)", out)]
    assert len(penalties) == 5 and penalties[-1] < 0.5 * penalties[0]
    final = re.search(r"\|df/dx\|\^2 ([\d.]+) \(mse [\d.]+\) with .*, ([\d.]+) \(mse", out)
    assert float(final.group(1)) < float(final.group(2))


def test_write_your_own_layer():
    out = run_example("write_your_own_layer.py", "--examples", "5", "--steps", "200")
    assert "gradcheck(squareplus): OK" in out
    # the planted bug (backward without the 1/2) is caught, and its table shows analytic = 2x
    assert "gradcheck(buggy) caught the planted bug" in out
    assert re.search(r"input\s+index\s+numeric\s+analytic\s+error", out)
    row = re.search(r"input0\s+\(\d+, \d+\)\s+(-?[\d.e+-]+)\s+(-?[\d.e+-]+)", out)
    assert float(row.group(2)) == pytest.approx(2 * float(row.group(1)), rel=1e-4)
    assert "hypothesis property test (5 examples): OK" in out
    assert "hypothesis on the buggy version: caught" in out
    assert "gradcheck(model with SquarePlusLayer, params): OK" in out
    assert number(r"train accuracy ([\d.]+)", out) >= 0.95


def test_recipe_diagnostics_flags_the_broken_model():
    out = run_example("recipe_diagnostics.py", "--synthetic", "--batch", "32", "--steps", "60")
    assert "SYNTHETIC" in out
    assert "healthy model: 5 of 5 passed" in out
    assert last_line(out) == "broken model: 5 of 5 flagged"
    broken = out.split("=== broken model")[1]
    assert "in eval mode where train was expected" in broken
    assert "too high" in broken  # initial loss well above log(10)
    assert "cannot memorise" in broken or "loss became" in broken
    assert "saturated: gradients vanish" in broken
    assert "too large: lower the learning rate" in broken


def test_lr_range_test(tmp_path):
    plot = str(tmp_path / "lr.png")
    args = ["--synthetic", "--model", "mlp", "--limit", "512", "--num-iter", "40"]
    out = run_example("lr_range_test.py", *args, "--train-steps", "20", "--plot", plot)
    suggestion = number(r"suggested lr: ([\d.e+-]+)", last_line(out))
    assert 1e-4 <= suggestion <= 1.0
    accuracies = [float(a) for a in re.findall(r"test accuracy ([\d.]+)", out)]
    assert len(accuracies) == 2
    assert accuracies[0] > accuracies[1] + 0.2  # the suggestion beats a 100x smaller lr
    if "matplotlib is not installed" not in out:
        assert os.path.getsize(plot) > 0


def test_train_sequence_learns_brackets():
    args = ["--train-size", "2048", "--test-size", "512", "--epochs", "3", "--max-len", "24"]
    out = run_example("train_sequence.py", *args)
    assert out.startswith("balanced brackets: 2048 train / 512 test strings of length 2-24")
    clipped = re.findall(r"clipped (\d+)/32 steps", out)
    assert len(clipped) == 3 and sum(int(c) for c in clipped) > 0  # clipping does happen
    assert number(r"^test accuracy: ([\d.]+)$", last_line(out)) > 0.8  # chance is 0.5


# --------------------------------------------------------------------------- training runs
# The slowest tests (a few seconds each at these sizes): a real CNN forward and backward.


@pytest.mark.parametrize(
    "optimizer, schedule, clip",
    [("adamw", "onecycle", "1.0"), ("sgd", "cosine", "5.0")],
)
def test_train_cifar10_on_fake_data(optimizer, schedule, clip, tmp_path):
    args = ["--fake-data", "--epochs", "1", "--limit", "64", "--batch-size", "32"]
    args += ["--out", str(tmp_path / "run")]
    args += ["--optimizer", optimizer, "--schedule", schedule, "--clip", clip]
    out = run_example("train_cifar10.py", *args)
    assert out.startswith("fake data: 64 train / 64 test images")
    assert math.isfinite(number(r"epoch 1: train loss ([\d.]+)", out))
    assert 0.0 <= number(r"^test accuracy: ([\d.]+)$", last_line(out)) <= 1.0


needs_mpi = pytest.mark.skipif(
    shutil.which("mpiexec") is None or importlib.util.find_spec("mpi4py") is None,
    reason='needs mpi4py and mpiexec: pip install -e ".[distributed]"',
)


@needs_mpi
def test_train_cifar10_under_mpiexec_with_sync_batchnorm(tmp_path):
    """Two ranks of 16 images each: rank 0 alone prints and writes; the metrics and the
    confusion matrix cover both ranks' halves of the test set."""
    args = ["--fake-data", "--epochs", "1", "--limit", "64", "--batch-size", "32", "--sync-bn"]
    out = run_example("train_cifar10.py", *args, "--out", str(tmp_path), ranks=2)
    assert out.startswith("fake data: 64 train / 64 test images")
    assert out.count("test accuracy: ") == 1 and out.count("run folder: ") == 1
    assert 0.0 <= number(r"^test accuracy: ([\d.]+)$", last_line(out)) <= 1.0
    confusion = np.loadtxt(os.path.join(tmp_path, "confusion.csv"), delimiter=",")
    assert confusion.sum() == 64


@needs_mpi
@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST), reason="no local Fashion-MNIST")
def test_train_mnist_under_mpiexec(tmp_path):
    args = ["--epochs", "1", "--limit", "512", "--test-limit", "1000", "--out", str(tmp_path)]
    out = run_example("train_mnist.py", *args, ranks=2)
    assert "512 train / 1000 test images, device cpu, 2 ranks" in out
    assert out.count("epoch 1:") == 1
    assert number(r"^test accuracy: ([\d.]+)$", last_line(out)) > 0.4
    rows = [line for line in open(os.path.join(tmp_path, "log.jsonl")) if line.strip()]
    assert len(rows) == 1  # one writer


def three_block_parameters(widths):
    """train_mnist's net with three conv blocks, counted by hand: 3x3 convs without bias, BN's
    weight and bias, a 3x3 map into fc128, fc10."""
    convs = sum(9 * c * w for c, w in zip((1, *widths), widths))
    return convs + 2 * sum(widths) + widths[-1] * 3 * 3 * 128 + 128 + 128 * 10 + 10


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST), reason="no local Fashion-MNIST")
def test_train_mnist_preset_on_a_held_out_split(tmp_path):
    """--preset fast94 cut to one epoch on 1024 images: it builds the 32-64-128 net, tests once
    after the last epoch (with and without test-time views), and --val 500 evaluates the last 500
    training images, whose classes the confusion matrix must count, in place of the test set."""
    args = ["--preset", "fast94", "--epochs", "1", "--limit", "1024", "--val", "500"]
    out = run_example("train_mnist.py", *args, "--out", str(tmp_path))
    parameters = three_block_parameters((32, 64, 128))
    assert f"1024 train / 500 val images, device cpu, {parameters} parameters" in out
    assert re.search(r"^epoch 1: train loss [\d.]+, [\d.]+ s$", out, re.M)  # no per-epoch test
    assert "epoch 2:" not in out
    assert 0.2 < number(r"val accuracy without test-time views: ([\d.]+)", out) <= 1.0
    assert 0.2 < number(r"^val accuracy: ([\d.]+)$", last_line(out)) <= 1.0
    with gzip.open(os.path.join(DEBIAN_FASHION_MNIST, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    confusion = np.loadtxt(os.path.join(tmp_path, "confusion.csv"), delimiter=",")
    assert list(confusion.sum(axis=1)) == list(np.bincount(labels[-500:], minlength=10))


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST), reason="no local Fashion-MNIST")
def test_train_mnist_wide94_preset_builds_the_lean_48_96_192_net(tmp_path):
    args = ["--preset", "wide94", "--epochs", "1", "--limit", "256", "--test-limit", "256"]
    out = run_example("train_mnist.py", *args, "--out", str(tmp_path))
    parameters = three_block_parameters((48, 96, 192))
    assert f"256 train / 256 test images, device cpu, {parameters} parameters" in out
    assert 0.0 <= number(r"^test accuracy: ([\d.]+)$", last_line(out)) <= 1.0


# --------------------------------------------------------------------------- the run folder

RUN_FILES = {"log.csv", "log.jsonl", "checkpoint.npz", "confusion.csv"}
PICTURES = {"history.png", "filters.png", "confusion.png", "mistakes.png", "batch.png"}


def assert_pictures(folder, names):
    """Each named PNG opens, is at least 150 pixels a side and is not blank."""
    from matplotlib import image

    for name in names:
        pixels = image.imread(os.path.join(folder, name))[..., :3]
        assert min(pixels.shape[:2]) >= 150, (name, pixels.shape)
        assert pixels.std() > 0.05, name  # a blank (or one-colour) picture has std ~0
        assert (pixels < 0.5).mean() > 0.005, name  # and dark ink on the white page


def assert_run_folder(folder, epochs, expected):
    from minigrad.train import TrainingLog

    assert set(os.listdir(folder)) == expected
    rows = TrainingLog.read(os.path.join(folder, "log")).rows
    assert [row["epoch"] for row in rows] == list(range(1, epochs + 1))
    assert all(0 <= row["train_acc"] <= 1 and 0 <= row["test_acc"] <= 1 for row in rows)


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST), reason="no local Fashion-MNIST")
def test_train_mnist_one_epoch_writes_a_run_folder_with_pictures(tmp_path):
    pytest.importorskip("matplotlib")
    folder = str(tmp_path / "run")
    args = ["--epochs", "1", "--limit", "512", "--test-limit", "1000", "--augment"]
    out = run_example("train_mnist.py", *args, "--schedule", "cosine", "--out", folder)
    assert "512 train / 1000 test images" in out
    assert number(r"^test accuracy: ([\d.]+)$", last_line(out)) > 0.4
    assert f"run folder: {folder}" in out
    assert (
        "pictures: history.png, filters.png, confusion.png, mistakes.png, batch.png, lr.png" in out
    )
    assert_run_folder(folder, 1, RUN_FILES | PICTURES | {"lr.png"})
    assert_pictures(folder, PICTURES | {"lr.png"})
    confusion = np.loadtxt(os.path.join(folder, "confusion.csv"), delimiter=",")
    assert confusion.shape == (10, 10) and confusion.sum() == 1000


def test_train_cifar10_writes_a_run_folder_with_pictures(tmp_path):
    pytest.importorskip("matplotlib")
    args = ["--fake-data", "--epochs", "1", "--limit", "64", "--batch-size", "32"]
    out = run_example("train_cifar10.py", *args, "--schedule", "none", "--out", str(tmp_path))
    assert "pictures: history.png, filters.png, confusion.png, mistakes.png, batch.png\n" in out
    assert_run_folder(str(tmp_path), 1, RUN_FILES | PICTURES)  # no schedule: no lr.png
    assert_pictures(str(tmp_path), PICTURES)


def test_without_matplotlib_the_default_run_folder_holds_the_numbers(tmp_path):
    """No --out: the run goes to runs/<name>-<date>-<time> under the working folder."""
    args = ["--fake-data", "--epochs", "1", "--limit", "64", "--batch-size", "32"]
    out = run_example("train_cifar10.py", *args, without_matplotlib=True, cwd=tmp_path)
    assert 'no pictures: matplotlib is not installed (pip install -e ".[plots]"' in out
    folder = re.search(r"^run folder: (runs/cifar10-\d{8}-\d{6})$", out, re.M).group(1)
    assert os.listdir(tmp_path) == ["runs"]
    assert_run_folder(str(tmp_path / folder), 1, RUN_FILES)
    assert last_line(out).startswith("test accuracy: ")


def test_lottery_ticket_prunes_rewinds_and_trains_the_control():
    out = run_example(
        "lottery_ticket.py", "--synthetic", "--train", "600", "--rounds", "2", "--epochs", "1"
    )
    left = [number(rf"round {r}: weights left ([\d.]+)%", out) for r in range(3)]
    assert left[0] == 100.0
    assert left[1] == pytest.approx(80.0, abs=0.1)  # 20% of the hidden, 10% of the output
    assert left[2] == pytest.approx(64.1, abs=0.1)
    assert number(r"random reinit at ([\d.]+)%", out) == left[2]
    for r in range(3):
        assert 0.1 <= number(rf"round {r}: .*test accuracy ([\d.]+)", out) <= 1.0
    assert last_line(out).startswith("winning ticket")


# --------------------------------------------------------------------------- the rest of the recipe

needs_fashion = pytest.mark.skipif(
    not os.path.isdir(DEBIAN_FASHION_MNIST), reason="no local Fashion-MNIST"
)


def import_example(name):
    """examples/<name>.py as a module (its folder on sys.path, as `python script.py` has it)."""
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module(name)


def test_resnet_block_starts_as_the_identity_and_projects_when_the_shape_changes():
    import minigrad as mg

    resnet = import_example("train_resnet")
    x = mg.randn(2, 8, 6, 6)
    same = resnet.BasicBlock(8, 8)
    assert type(same.shortcut).__name__ == "Identity"
    # the last BN's scale starts at 0: the residual branch adds nothing yet
    np.testing.assert_allclose(same(x).numpy(), np.maximum(x.numpy(), 0), rtol=1e-6)
    down = resnet.BasicBlock(8, 16, stride=2)
    assert [type(m).__name__ for m in down.shortcut] == ["Conv2d", "BatchNorm2d"]
    assert down(x).shape == (2, 16, 3, 3)
    wider = resnet.BasicBlock(8, 12)  # more channels at the same size: projected too
    assert [type(m).__name__ for m in wider.shortcut] == ["Conv2d", "BatchNorm2d"]
    assert wider(x).shape == (2, 12, 6, 6)
    model = resnet.make_model(in_channels=1, width=4, blocks=2)
    assert model(mg.randn(3, 1, 28, 28)).shape == (3, 10)
    assert sum(isinstance(m, resnet.BasicBlock) for m in model.modules()) == 6


def test_train_resnet_on_fake_cifar10():
    args = ["--dataset", "cifar10", "--fake-data", "--epochs", "1", "--limit", "64"]
    out = run_example("train_resnet.py", *args, "--batch-size", "32", "--width", "4")
    assert out.startswith("fake data: 64 train / 64 test images, ResNet-8 width 4, ")
    assert math.isfinite(number(r"epoch 1: train loss ([\d.]+)", out))
    assert 0.0 <= number(r"^test accuracy: ([\d.]+)$", last_line(out)) <= 1.0


@needs_fashion
def test_train_resnet_learns_fashion_mnist():
    args = ["--epochs", "2", "--limit", "512", "--test-limit", "300", "--batch-size", "32"]
    out = run_example("train_resnet.py", *args, "--width", "8")
    assert out.startswith("fashion: 512 train / 300 test images, ResNet-8 width 8, 19810 param")
    losses = [float(v) for v in re.findall(r"epoch \d: train loss ([\d.]+)", out)]
    assert len(losses) == 2 and losses[1] < min(losses[0], math.log(10))
    assert number(r"^test accuracy: ([\d.]+)$", last_line(out)) > 0.2  # chance is 0.1


@needs_fashion
def test_transfer_learning_prints_the_three_runs():
    args = ["--limit", "1024", "--pretrain-epochs", "1", "--shots", "5", "--finetune-epochs", "2"]
    out = run_example("transfer_learning.py", *args, "--test-limit", "500")
    assert out.startswith("pretrain: classes 0-4, 1024 train / 500 test images, 1 epochs")
    assert "classes 5-9, 5 labels per class (25 images), 500 test images, 2 epochs" in out
    # the frozen run trains the new head alone: 128 * 5 weights + 5 biases
    assert re.search(r"^frozen backbone, new head\s+645\s+[\d.]+$", out, re.M)
    assert re.search(r"^full fine-tune, backbone lr/10\s+421,093\s+[\d.]+$", out, re.M)
    assert re.search(r"^from scratch, backbone lr/10\s+421,093\s+[\d.]+$", out, re.M)
    for run in ("frozen backbone", "full fine-tune", "from scratch"):
        assert 0.0 <= number(rf"(?m)^{run}.* ([\d.]+)$", out) <= 1.0
    assert "frozen backbone unchanged by its fine-tuning: True" in out


@needs_fashion
def test_distillation_trains_teacher_and_both_students():
    args = ["--limit", "1024", "--teacher-epochs", "1", "--epochs", "1", "--test-limit", "500"]
    out = run_example("distillation.py", *args)
    assert out.startswith("fashion: 1024 train / 500 test images")
    assert number(r"teacher: 421,738 parameters, test accuracy ([\d.]+)", out) > 0.5
    alone = number(r"student alone: 9,098 parameters, test accuracy ([\d.]+)", out)
    kd = number(r"student \+ KD \(T=2, alpha=0.5\): 9,098 parameters, test accuracy ([\d.]+)", out)
    assert 0.0 <= alone <= 1.0 and 0.0 <= kd <= 1.0


def test_train_mnist_tta_views_are_the_image_its_shifts_and_their_mirrors():
    train_mnist = import_example("train_mnist")
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 0] = 1.0  # one lit pixel at row 1, column 0 on a background of -2
    x -= 2 * (x == 0)
    lit = []
    for view in train_mnist.tta_views("shifts", background=-2.0):
        out = view(train_mnist.mg.tensor(x)).numpy()[0, 0]
        assert set(np.unique(out)) <= {1.0, -2.0}  # nothing but pixels and background
        lit.append(tuple(map(tuple, np.argwhere(out == 1.0))))
    # identity, down, up, right, left (the left shift pushes the pixel out), then mirrors
    plain = [((1, 0),), ((2, 0),), ((0, 0),), ((1, 1),), ()]
    assert lit == plain + [tuple((r, 3 - c) for r, c in p) for p in plain]
    assert len(train_mnist.tta_views("flip", background=0.0)) == 2


def test_train_mnist_lean_model_pools_first_and_computes_only_the_kept_outputs():
    train_mnist = import_example("train_mnist")
    mg, nn = train_mnist.mg, train_mnist.nn
    lean = train_mnist.make_model((4, 6, 8), lean=True)
    kinds = [type(layer).__name__ for layer in lean]
    block = ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    assert kinds[:8] == block * 2 and kinds[8:13] == ["ZeroPad2d"] + block  # 28, 14, then 7
    assert lean(mg.tensor(np.zeros((2, 1, 28, 28), np.float32))).shape == (2, 10)
    # the 7x7 block: its 6x6 outputs are the same-padded conv's, less the row and column that
    # the pool drops, with the same weights
    same = nn.Conv2d(6, 8, 3, padding=1, bias=False)
    lean[9].weight.data[...] = same.weight.data
    x = mg.tensor(np.random.default_rng(0).standard_normal((2, 6, 7, 7)).astype(np.float32))
    kept = lean[9](lean[8](x)).numpy()
    assert kept.shape == (2, 8, 6, 6)
    np.testing.assert_allclose(kept, same(x).numpy()[:, :, :6, :6], rtol=1e-5, atol=1e-5)
    plain = [type(layer).__name__ for layer in train_mnist.make_model((4, 6, 8))]
    assert plain[:4] == ["Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU"] and "ZeroPad2d" not in plain
