"""minigrad/progress.py: the plain progress line, wrapping an iterable or counted by hand."""

import io

from minigrad.progress import progress


def test_plain_progress_counted_by_hand_shows_units_and_ends_the_line():
    out = io.StringIO()
    bar = progress(total=100, desc="file.gz", unit="B", file=out, use_tqdm=False)
    bar.update(40)
    bar.update(60)
    bar.close()
    text = out.getvalue()
    assert "file.gz: 100/100" in text and "B/s" in text
    assert text.endswith("\n")


def test_plain_progress_without_a_total_shows_the_count():
    out = io.StringIO()
    assert list(progress(iter("abc"), file=out, use_tqdm=False)) == ["a", "b", "c"]
    assert "\r3 [" in out.getvalue()
