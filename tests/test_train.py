"""Tests of minigrad/train.py: metrics against NumPy, progress, early stopping, the training
log, fit/evaluate, and checkpoints that resume training bit for bit."""

import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend, nn, optim, plots, train
from minigrad import functional as F
from minigrad import testing as mt
from minigrad.data import DataLoader, TensorDataset

# --------------------------------------------------------------------------- helpers


def mlp(device, p=0.25):
    """A tiny classifier with dropout: 4 -> 8 -> 3."""
    return nn.Sequential(
        nn.Linear(4, 8, device=device),
        nn.Dropout(p),
        nn.Linear(8, 3, device=device),
    )


def toy_data(n=40, seed=0):
    """Features (n, 4) and labels (n,) from a fixed generator (not minigrad's)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y


def loader(device, batch_size=8, shuffle=True, seed=None):
    x, y = toy_data()
    return DataLoader(TensorDataset(x, y), batch_size, shuffle=shuffle, seed=seed, device=device)


def host_state(model):
    return {k: backend.to_host(v).copy() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- metrics


@given(logits=mt.distinct_arrays((6, 5)), data=st.data())
def test_accuracy_matches_numpy(logits, data, device):
    targets = np.asarray(data.draw(st.lists(st.integers(0, 4), min_size=6, max_size=6)))
    acc = train.accuracy(mg.tensor(logits, device=device), mg.tensor(targets, device=device))
    assert acc.device == device
    assert acc.shape == ()
    np.testing.assert_allclose(acc.item(), np.mean(logits.argmax(1) == targets), atol=1e-12)


@given(logits=mt.distinct_arrays((7, 5)), k=st.integers(1, 5), data=st.data())
def test_topk_accuracy_matches_numpy(logits, k, data, device):
    targets = np.asarray(data.draw(st.lists(st.integers(0, 4), min_size=7, max_size=7)))
    topk = np.argsort(-logits, axis=1)[:, :k]
    expected = np.mean([t in row for t, row in zip(targets, topk)])
    acc = train.topk_accuracy(
        mg.tensor(logits, device=device), mg.tensor(targets, device=device), k
    )
    np.testing.assert_allclose(acc.item(), expected, atol=1e-12)


def test_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="targets must have shape"):
        train.accuracy(mg.zeros((4, 3)), mg.tensor([0, 1]))
    with pytest.raises(ValueError, match="k must be"):
        train.topk_accuracy(mg.zeros((4, 3)), mg.tensor([0, 1, 2, 0]), 4)


@given(data=st.data())
def test_confusion_matrix_counts_pairs(data):
    n = data.draw(st.integers(0, 20))
    preds = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    targets = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    expected = np.zeros((4, 4), dtype=np.int64)
    for p, t in zip(preds, targets):
        expected[t, p] += 1
    cm = train.confusion_matrix(np.array(preds, dtype=np.int64), mg.tensor(targets), 4)
    np.testing.assert_array_equal(cm, expected)


def test_confusion_matrix_takes_logits_and_checks_range():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    cm = train.confusion_matrix(logits, np.array([1, 1, 0]), 2)
    np.testing.assert_array_equal(cm, [[0, 1], [1, 1]])
    with pytest.raises(ValueError, match="targets: class id 2, but there are 2 classes"):
        train.confusion_matrix(np.array([0]), np.array([2]), 2)


def test_running_average_is_weighted_and_syncs_once(device, monkeypatch):
    values = [(0.5, 8), (2.0, 8), (1.25, 4)]
    tensors = [mg.tensor(value, device=device) for value, _ in values]
    average = train.RunningAverage()
    calls = []
    real = backend.to_host
    monkeypatch.setattr(backend, "to_host", lambda a: calls.append(1) or real(a))
    for t, (_, n) in zip(tensors, values):
        average.update(t, n=n)
    assert calls == []  # accumulating never waited for the device
    expected = sum(v * n for v, n in values) / sum(n for _, n in values)
    assert average.value() == pytest.approx(expected, rel=1e-12)
    assert len(calls) <= 1  # one read at the end (none at all for NumPy scalars)


def test_metric_tracker_reports_each_metric():
    tracker = train.MetricTracker()
    tracker.update(n=2, loss=1.0, acc=0.5)
    tracker.update(n=6, loss=3.0, acc=1.0)
    assert tracker.compute() == pytest.approx({"loss": 2.5, "acc": 0.875})
    assert "loss 2.5000" in str(tracker)
    assert math.isnan(train.RunningAverage().value())


# --------------------------------------------------------------------------- progress


def test_plain_progress_writes_count_rate_and_eta():
    out = io.StringIO()
    items = list(train.progress(range(3), desc="epoch 1", file=out, use_tqdm=False))
    assert items == [0, 1, 2]
    text = out.getvalue()
    assert "epoch 1: 3/3" in text
    assert "it/s" in text
    assert text.endswith("\n")


def test_progress_disabled_is_silent_and_tqdm_yields_everything():
    data = [1, 2, 3]
    assert train.progress(data, disable=True) is data
    assert list(train.progress(data, file=io.StringIO())) == data


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_waits_patience_then_restores_best():
    model = nn.Linear(2, 1)
    stopper = train.EarlyStopping(patience=2, min_delta=0.1)
    decisions = []
    for epoch, loss in enumerate([1.0, 0.5, 0.45, 0.6, 0.3]):
        model.weight.data[...] = epoch
        decisions.append(stopper.step(loss, model))
    # 0.45 is no improvement on 0.5 with min_delta 0.1; the third bad epoch stops
    assert decisions == [False, False, False, False, False]
    assert stopper.best == 0.3
    stopper = train.EarlyStopping(patience=1, mode="max")
    for epoch, acc in enumerate([0.5, 0.7, 0.6, 0.65]):
        model.weight.data[...] = epoch
        stop = stopper.step(acc, model)
    assert stop and stopper.best_epoch == 1
    stopper.restore(model)
    np.testing.assert_array_equal(model.weight.numpy(), np.ones((1, 2)))


def test_early_stopping_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        train.EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience"):
        train.EarlyStopping(patience=-1)


# --------------------------------------------------------------------------- training log


def test_training_log_writes_csv_and_json_lines(tmp_path):
    log = train.TrainingLog(tmp_path / "run")
    log.log(epoch=1, train_loss=0.9, lr=0.1, seconds=1.5, note="warmup")
    log.log(epoch=2, train_loss=0.4, test_loss=0.5, test_acc=0.8, lr=0.05, seconds=1.4)
    lines = (tmp_path / "run.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,test_loss,test_acc,lr,seconds"
    assert lines[1] == "1,0.9,,,0.1,1.5"
    assert lines[2] == "2,0.4,0.5,0.8,0.05,1.4"
    rows = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert rows[0]["note"] == "warmup"
    assert train.TrainingLog.read(tmp_path / "run.jsonl")["train_loss"] == [0.9, 0.4]
    resumed = train.TrainingLog(tmp_path / "run.csv", resume=True)
    resumed.log(epoch=3, train_loss=0.3)
    assert resumed["epoch"] == [1, 2, 3]
    assert len((tmp_path / "run.csv").read_text().splitlines()) == 4


def test_training_log_read_takes_the_csv_the_json_lines_or_the_stem(tmp_path):
    log = train.TrainingLog(tmp_path / "run")
    log.log(epoch=1, train_loss=0.9, lr=0.1, seconds=1.5, note="warmup")
    log.log(epoch=2, train_loss=0.4, test_loss=0.5, test_acc=0.8, lr=0.05, seconds=1.4)
    from_json = train.TrainingLog.read(tmp_path / "run.jsonl").rows
    assert from_json == log.rows
    assert train.TrainingLog.read(tmp_path / "run").rows == log.rows  # the stem: the .jsonl
    from_csv = train.TrainingLog.read(str(tmp_path / "run.csv")).rows
    assert from_csv == [{k: v for k, v in row.items() if k != "note"} for row in log.rows]
    assert type(from_csv[0]["epoch"]) is int and type(from_csv[0]["lr"]) is float
    (tmp_path / "run.jsonl").unlink()
    assert train.TrainingLog.read(tmp_path / "run").rows == from_csv  # the stem: the .csv


def test_training_log_read_explains_what_it_cannot_read(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ValueError, match=r"notes.txt.*not a training log.*\.csv or \.jsonl"):
        train.TrainingLog.read(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match=r"neither .*missing\.jsonl nor .*missing\.csv"):
        train.TrainingLog.read(tmp_path / "missing")
    (tmp_path / "bad.jsonl").write_text('{"epoch": 1}\nepoch,train_loss\n')
    with pytest.raises(ValueError, match=r"line 2 of .*bad\.jsonl is not a JSON row"):
        train.TrainingLog.read(tmp_path / "bad.jsonl")
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="not a JSON object"):
        train.TrainingLog.read(tmp_path / "list.jsonl")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv is not a TrainingLog CSV"):
        train.TrainingLog.read(tmp_path / "other.csv")
    (tmp_path / "ragged.csv").write_text("epoch,train_loss\n1,0.5\n2\n")
    with pytest.raises(ValueError, match="line 3 of .*ragged.csv does not fit the header"):
        train.TrainingLog.read(tmp_path / "ragged.csv")


# --------------------------------------------------------------------------- fit and evaluate


def test_evaluate_matches_a_manual_pass_and_restores_modes(device):
    mg.seed(1)
    model = mlp(device)
    model[1].train()
    model[2].eval()
    data = loader(device, batch_size=16, shuffle=False)
    metrics = train.evaluate(model, data, F.cross_entropy)
    assert [m.training for m in model.modules()] == [True, True, True, False]
    x, y = toy_data()
    w1, b1, w2, b2 = (backend.to_host(v) for v in model.state_dict().values())
    logits = (x @ w1.T + b1) @ w2.T + b2  # eval mode: dropout is the identity
    shifted = logits - logits.max(1, keepdims=True)
    nll = np.log(np.exp(shifted).sum(1)) - shifted[np.arange(len(y)), y]
    assert metrics["loss"] == pytest.approx(nll.mean(), rel=1e-5)
    assert metrics["acc"] == pytest.approx(np.mean(logits.argmax(1) == y))


def test_fit_learns_logs_and_stops_early(tmp_path):
    mg.seed(2)
    model = mlp("cpu", p=0.0)
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    log = train.TrainingLog(tmp_path / "log")
    seen = []
    rows = train.fit(
        model, opt, F.cross_entropy, loader("cpu"), epochs=6, val_loader=loader("cpu"),
        scheduler=sched, clip_grad_norm=1.0, callbacks=[lambda row, m: seen.append(row)],
        early_stopping=train.EarlyStopping(patience=10), log=log, progress=False,
    )  # fmt: skip
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [row["lr"] for row in rows] == pytest.approx([0.2 * 0.5**i for i in range(6)])
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["test_acc"] > 0.6
    assert log["epoch"] == [1, 2, 3, 4, 5, 6] and len(seen) == 6
    stopper = train.EarlyStopping(patience=0)
    rows = train.fit(
        model, optim.SGD(model.parameters(), lr=0.0), F.cross_entropy, loader("cpu"),
        epochs=5, val_loader=loader("cpu", shuffle=False), early_stopping=stopper,
        progress=False,
    )  # fmt: skip
    assert len(rows) == 2  # lr 0: the loss cannot improve after the first epoch


class BreaksAt:
    """cross_entropy, times `bad` (nan or inf) from training step `step` on (counting from 1)."""

    def __init__(self, step, bad=math.nan):
        self.step = step
        self.bad = bad
        self.calls = 0

    def __call__(self, out, y):
        self.calls += 1
        loss = F.cross_entropy(out, y)
        return loss * self.bad if self.calls >= self.step else loss


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_fit_stops_when_the_loss_diverges(bad):
    model = mlp("cpu", p=0.0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = BreaksAt(5 + 3, bad)  # 5 steps an epoch: epoch 2, step 3
    with pytest.raises(FloatingPointError) as error:
        train.fit(model, opt, loss_fn, loader("cpu"), epochs=4, progress=False)
    message = str(error.value)
    assert f"became {bad} at epoch 2, step 3 of 5" in message
    for hint in ("lower learning rate (lr=0.1 now)", "clip_grad_norm", "detect_anomaly"):
        assert hint in message
    assert "stop_on_nan=False" in message
    assert loss_fn.calls == 10  # found at the end of epoch 2, before epoch 3


def test_fit_checks_every_few_steps_within_an_epoch(monkeypatch):
    monkeypatch.setattr(train, "NAN_CHECK_EVERY", 4)
    loss_fn = BreaksAt(6)
    model = mlp("cpu", p=0.0)
    with pytest.raises(FloatingPointError, match="epoch 1, step 6 of 10"):
        train.fit(
            model, optim.SGD(model.parameters(), lr=0.1), loss_fn, loader("cpu", batch_size=4),
            epochs=1, progress=False,
        )  # fmt: skip
    assert loss_fn.calls == 8  # read back after steps 4 and 8: stopped two steps later


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_fit_trains_on_when_told():
    model = mlp("cpu")
    rows = train.fit(
        model, optim.SGD(model.parameters(), lr=0.1), BreaksAt(2), loader("cpu"),
        epochs=2, progress=False, stop_on_nan=False,
    )  # fmt: skip
    assert len(rows) == 2 and math.isnan(rows[1]["train_loss"])


def test_the_nan_check_reads_the_device_once_per_window(monkeypatch):
    monkeypatch.setattr(train, "NAN_CHECK_EVERY", 4)
    reads = []
    to_host = backend.to_host
    monkeypatch.setattr(backend, "to_host", lambda a: reads.append(1) or to_host(a))

    def count(stop_on_nan):
        reads.clear()
        model = mlp("cpu")
        opt = optim.SGD(model.parameters(), lr=0.1)
        data = loader("cpu", batch_size=4)  # 10 steps
        train.fit(model, opt, F.cross_entropy, data, 1, progress=False, stop_on_nan=stop_on_nan)
        return len(reads)

    assert count(True) - count(False) == 3  # after steps 4 and 8, then the epoch's last 2


# --------------------------------------------------------------------------- checkpoints


def make_run(device, seed):
    """Model, optimizer (momentum state), scheduler and a shuffling loader, seeded."""
    mg.seed(seed)
    model = mlp(device)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    return model, opt, sched, loader(device)


def run_epochs(model, opt, sched, data, epochs, start_epoch=0):
    return train.fit(
        model, opt, F.cross_entropy, data, epochs, scheduler=sched, progress=False,
        start_epoch=start_epoch,
    )  # fmt: skip


def test_resume_from_checkpoint_is_bit_exact(tmp_path, device):
    model, opt, sched, data = make_run(device, seed=0)
    run_epochs(model, opt, sched, data, 2)
    straight = host_state(model)

    model, opt, sched, data = make_run(device, seed=0)
    run_epochs(model, opt, sched, data, 1)
    train.save_checkpoint(tmp_path / "ckpt.npz", model, opt, sched, epoch=1, note="half")
    mg.rand(100)  # disturb the generator: the checkpoint must bring it back
    model, opt, sched, data = make_run(device, seed=123)  # different init and RNG
    checkpoint = train.load_checkpoint(tmp_path / "ckpt.npz", model, opt, sched)
    assert checkpoint["epoch"] == 1
    assert checkpoint["extra"] == {"note": "half"}
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.7)
    rows = run_epochs(model, opt, sched, data, 2, start_epoch=checkpoint["epoch"])
    assert [row["epoch"] for row in rows] == [2]
    resumed = host_state(model)

    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)


def test_checkpoint_keeps_big_rng_ints_and_a_seeded_loaders_generator(tmp_path):
    mg.seed(2**40 + 7)
    data = loader("cpu", seed=5)
    list(data)
    model = nn.Linear(2, 2)
    before = backend.get_rng_state()
    assert before["host"]["state"]["state"] > 2**64  # PCG64 holds 128-bit integers
    train.save_checkpoint(tmp_path / "c.npz", model, loader=data)
    expected_order = [backend.to_host(y.data).tolist() for _, y in data]
    mg.seed(0)
    train.load_checkpoint(tmp_path / "c.npz", model, loader=data)
    assert backend.get_rng_state() == before
    assert [backend.to_host(y.data).tolist() for _, y in data] == expected_order


def test_load_checkpoint_rejects_other_files_and_missing_parts(tmp_path):
    model = nn.Linear(2, 2)
    mg.save({"weight": np.zeros(2)}, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="not a minigrad-checkpoint"):
        train.load_checkpoint(tmp_path / "plain.npz", model)
    train.save_checkpoint(tmp_path / "c.npz", model, epoch=0)
    with pytest.raises(KeyError, match="no optimizer state"):
        train.load_checkpoint(tmp_path / "c.npz", model, optim.SGD(model.parameters(), lr=1))


@settings(max_examples=5)
@given(epochs=st.integers(1, 3))
def test_save_checkpoint_is_atomic_and_overwrites(tmp_path_factory, epochs):
    path = tmp_path_factory.mktemp("ckpt") / "last.npz"
    model = nn.Linear(3, 2)
    for epoch in range(epochs):
        train.save_checkpoint(path, model, epoch=epoch)
    assert train.load_checkpoint(path, model)["epoch"] == epochs - 1
    assert [p.name for p in path.parent.iterdir()] == ["last.npz"]


# --------------------------------------------------------------------------- plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_importing_train_tools_loads_neither_matplotlib_nor_tqdm():
    code = (
        "import sys; import minigrad.train, minigrad.diagnostics, minigrad.plots; "
        "print(sorted(m for m in ('matplotlib', 'tqdm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plots_explain_a_missing_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plots.plot_lr_schedule([0.1, 0.01], tmp_path / "lr.png")


def test_plots_write_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    log = train.TrainingLog(tmp_path / "run")
    for epoch, loss in enumerate([1.0, 0.6, 0.4], start=1):
        log.log(epoch=epoch, train_loss=loss, test_loss=loss + 0.1, test_acc=1 - loss, lr=0.1)
    rng = np.random.default_rng(0)
    written = [
        plots.plot_history(log, tmp_path / "curves.png"),
        plots.plot_history(tmp_path / "run.jsonl", tmp_path / "from_file.png", title="run"),
        plots.plot_lr_schedule([0.1 * 0.9**i for i in range(20)], tmp_path / "lr.png"),
        plots.plot_lr_schedule(log, tmp_path / "lr_log.png", log_scale=True),
        plots.plot_filters(nn.Conv2d(3, 10, 5), tmp_path / "rgb_filters.png"),
        plots.plot_filters(rng.standard_normal((4, 1, 3, 3)), tmp_path / "grey.png"),
        plots.plot_confusion_matrix(
            train.confusion_matrix(rng.integers(0, 3, 50), rng.integers(0, 3, 50), 3),
            tmp_path / "sub" / "cm.png", class_names=["a", "b", "c"], normalize=True,
        ),
    ]  # fmt: skip
    from matplotlib import image

    for path in written:
        with open(path, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, path
        pixels = image.imread(path)[..., :3]
        assert min(pixels.shape[:2]) >= 100 and pixels.std() > 0.02, path  # something drawn
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\(F, C, kh, kw\)"):
        plots.plot_filters(np.zeros((3, 3)), tmp_path / "bad.png")


def test_image_grids_check_their_input(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=r"non-empty \(N, C, H, W\) batch, got \(3, 4\)"):
        plots.plot_images(np.zeros((3, 4)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="2 true, 1 predicted"):
        plots.plot_mistakes(np.zeros((2, 1, 4, 4)), [0, 1], [1], [0.5, 0.6], tmp_path / "m.png")
    empty = plots.plot_mistakes(np.zeros((0, 1, 4, 4)), [], [], [], tmp_path / "none.png")
    assert os.path.getsize(empty) > 0


def test_run_folder_without_a_conv_layer_or_matplotlib(tmp_path, monkeypatch, capsys):
    """An MLP run: no filters.png; with matplotlib hidden, the numbers and one hint line."""
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    mg.seed(4)
    model = mlp("cpu")
    opt = optim.SGD(model.parameters(), lr=0.1)
    run = plots.RunFolder(tmp_path / "run", model, opt, loader("cpu"), loader("cpu"), name="x")
    train.fit(model, opt, F.cross_entropy, loader("cpu"), 2, val_loader=loader("cpu"),
              callbacks=[run.end_epoch], progress=False)  # fmt: skip
    assert run.finish() == []
    out = capsys.readouterr().out
    assert out.splitlines() == [f"run folder: {tmp_path / 'run'}", plots.PICTURES_HINT]
    assert sorted(os.listdir(tmp_path / "run")) == sorted(
        ["log.csv", "log.jsonl", "checkpoint.npz", "confusion.csv"]
    )
    assert len(run.lrs) == 2 * len(loader("cpu")) and run.first_batch.shape == (8, 4)
    assert train.TrainingLog.read(tmp_path / "run" / "log.csv")["epoch"] == [1, 2]
    assert np.loadtxt(tmp_path / "run" / "confusion.csv", delimiter=",").sum() == 40
    assert model.training and not model._forward_hooks  # modes restored, the hook removed


def test_fit_passes_the_monitored_loss_to_reduce_lr_on_plateau():
    mg.seed(3)
    model = mlp("cpu", p=0.0)
    opt = optim.SGD(model.parameters(), lr=0.2)
    # mode="max" on a falling loss: every epoch after the first is "no improvement"
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0)
    val = loader("cpu", shuffle=False)
    rows = train.fit(
        model, opt, F.cross_entropy, loader("cpu"), 4, val_loader=val, scheduler=sched,
        progress=False,
    )  # fmt: skip
    losses = [row["test_loss"] for row in rows]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert [row["lr"] for row in rows] == [0.2, 0.2, 0.1, 0.05]


def test_load_checkpoint_onto_another_device(tmp_path, device):
    mg.seed(4)
    model = mlp("cpu")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt)
    run_epochs(model, opt, None, loader("cpu"), 1)
    sched.step(1.5)
    train.save_checkpoint(tmp_path / "c.npz", model, opt, sched, epoch=1)
    twin = mlp("cpu")
    twin_opt = optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    twin_sched = optim.lr_scheduler.ReduceLROnPlateau(twin_opt)
    train.load_checkpoint(tmp_path / "c.npz", twin, twin_opt, twin_sched, device=device)
    assert {p.device for p in twin.parameters()} == {device}
    for (key, a), b in zip(host_state(model).items(), host_state(twin).values()):
        np.testing.assert_array_equal(a, b, err_msg=key)
    for p, q in zip(model.parameters(), twin.parameters()):
        buffer = twin_opt.state[q]["momentum_buffer"]
        assert backend.device_of(buffer) == device
        np.testing.assert_array_equal(backend.to_host(buffer), opt.state[p]["momentum_buffer"])
    assert twin_sched.best == 1.5


def test_fit_prints_one_summary_line_per_epoch(capsys):
    mg.seed(5)
    model = mlp("cpu")
    train.fit(model, optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, loader("cpu"), 2)
    lines = [line for line in capsys.readouterr().err.splitlines() if "train_loss" in line]
    assert [line.split("  ")[0] for line in lines] == ["epoch 1", "epoch 2"]


@pytest.mark.parametrize("per_batch", [False, True])
def test_fit_steps_the_scheduler_per_epoch_or_per_batch(per_batch):
    mg.seed(4)
    model = mlp("cpu", p=0.0)
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    data = loader("cpu")
    train.fit(model, opt, F.cross_entropy, data, 2, scheduler=sched, progress=False,
              scheduler_per_batch=per_batch)  # fmt: skip
    steps = 2 * len(data) if per_batch else 2
    assert sched.last_epoch == steps
    assert opt.param_groups[0]["lr"] == 0.5**steps
