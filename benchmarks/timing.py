"""Timing helpers shared by the benchmarks: warm-up, then alternate the contenders round by round
and report medians, so that the noise of a shared machine hits every contender alike."""

import statistics
import time


def rounds(contenders, repeats=7, warmup=2, inner=1, settle=0):
    """Seconds per call of each zero-argument callable in `contenders` (a dict), one sample
    per round.

    Every round runs each contender `inner` times, in turn, so a slow spell of the machine
    is shared; the first `warmup` rounds are discarded. `settle` untimed calls open each
    contender's turn: right after another library ran, its idle threads still spin and the
    caches hold its data (measured: PyTorch's CNN step 2.5x slower on the first call after a
    NumPy one on 2 cores), which is a cost of switching, not of either library."""
    samples = {name: [] for name in contenders}
    for round_index in range(warmup + repeats):
        for name, fn in contenders.items():
            for _ in range(settle):
                fn()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            elapsed = (time.perf_counter() - start) / inner
            if round_index >= warmup:
                samples[name].append(elapsed)
    return samples


def alternate(contenders, repeats=7, warmup=2, inner=1, settle=0, stat=statistics.median):
    """Median (or `stat`: min is the least-disturbed round on a busy machine) seconds per call
    of each contender, measured round-robin by rounds()."""
    samples = rounds(contenders, repeats, warmup, inner, settle)
    return {name: stat(values) for name, values in samples.items()}


def compare_pair(name, ours, theirs, repeats, warmup):
    """Alternate minigrad's and PyTorch's callables (theirs may be None); print the median and
    best ms of each and their ratios."""
    contenders = {"minigrad": ours} if theirs is None else {"minigrad": ours, "pytorch": theirs}
    samples = rounds(contenders, repeats, warmup)
    mine = samples["minigrad"]
    line = f"{name:<34} minigrad {statistics.median(mine) * 1e3:8.2f} ms"
    if theirs is None:
        print(f"{line} (best {min(mine) * 1e3:6.2f})   (PyTorch not installed)")
        return
    other = samples["pytorch"]
    ratio = statistics.median(mine) / statistics.median(other)
    print(
        f"{line}   PyTorch {statistics.median(other) * 1e3:8.2f} ms   ratio {ratio:5.2f}x"
        f"   (best {min(mine) * 1e3:6.2f} / {min(other) * 1e3:6.2f} = "
        f"{min(mine) / min(other):5.2f}x)"
    )


def repeats_from_cli(doc, quick=(5, 1), full=(25, 3)):
    """(repeats, warmup) of a standalone benchmark script: `full`, or `quick` with --quick."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    return quick if parser.parse_args().quick else full


def torch_or_none(threads=2):
    """PyTorch with `threads` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def report(title, seconds, reference, unit_items=None, unit="img/s"):
    """Print one table: time per step, throughput and the ratio against `reference`."""
    print(f"\n{title}")
    print(f"  {'':24s} {'ms/step':>10s} {unit:>12s} {'vs ' + reference:>12s}")
    base = seconds.get(reference)
    for name, t in seconds.items():
        rate = f"{unit_items / t:12.0f}" if unit_items else f"{'':12s}"
        ratio = f"{base / t:11.2f}x" if base else f"{'':12s}"
        print(f"  {name:24s} {t * 1000:10.2f} {rate} {ratio}")
