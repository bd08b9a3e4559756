"""A progress line: tqdm when it is installed, else a plain line on stderr with count, rate and
ETA. Used by train.fit (batches) and the dataset downloads (bytes). Read train.py next.
"""

import sys
import time


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class TextProgress:
    """tqdm's look without tqdm: 'desc: 37/100 [00:04<00:07, 8.90 it/s]' redrawn on stderr.

    Iterate over it (it wraps `iterable`), or count by hand with update(n) and close()."""

    def __init__(self, iterable=None, total=None, desc=None, file=None, unit="it", interval=0.5):
        self.iterable = iterable
        self.total = total
        self.desc = f"{desc}: " if desc else ""
        self.file = file if file is not None else sys.stderr
        self.unit = unit
        self.interval = interval
        self.done = 0
        self.start = self.shown = time.perf_counter()

    def _line(self, elapsed):
        rate = self.done / elapsed if elapsed > 0 else 0.0
        speed = f"{rate:.2f} {self.unit}/s"
        if not self.total:
            return f"{self.desc}{self.done} [{_clock(elapsed)}, {speed}]"
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        return f"{self.desc}{self.done}/{self.total} [{_clock(elapsed)}<{_clock(eta)}, {speed}]"

    def update(self, n=1):
        """Count n more units; redraw at most every `interval` seconds, and at the total."""
        self.done += n
        now = time.perf_counter()
        if now - self.shown >= self.interval or self.done == self.total:
            self.file.write("\r" + self._line(now - self.start))
            self.file.flush()
            self.shown = now

    def close(self):
        """Draw the final count and end the line."""
        self.file.write("\r" + self._line(time.perf_counter() - self.start) + "\n")
        self.file.flush()

    def __iter__(self):
        self.start = self.shown = time.perf_counter()
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __len__(self):
        if self.total is None:
            raise TypeError("len() of a progress bar over an iterable without a length")
        return self.total


def progress(
    iterable=None, total=None, desc=None, disable=False, file=None, use_tqdm=None, unit="it"
):
    """Wrap `iterable` in a progress bar (or, with iterable=None, return one to update(n) and
    close() by hand): tqdm when installed (use_tqdm=None or True), otherwise a TextProgress;
    the iterable itself when disable=True."""
    if disable:
        return iterable
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if use_tqdm is not False:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if use_tqdm:
                raise
        else:
            scale = unit == "B"  # bytes read as kB, MB, ...
            return tqdm(
                iterable, total=total, desc=desc, file=file, leave=False, unit=unit,
                unit_scale=scale,
            )  # fmt: skip
    return TextProgress(iterable, total, desc, file, unit)
