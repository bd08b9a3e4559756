"""Host memory: keep freed blocks in the C allocator for reuse. minigrad/__init__.py applies it
on import (unless $MINIGRAD_KEEP_FREED_MEMORY is 0). Read threads.py next.
"""

import ctypes
import os

KEEP_FREED_BYTES = 256 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameter numbers


def wanted():
    """Whether the environment asks for the setting: $MINIGRAD_KEEP_FREED_MEMORY is not 0."""
    return os.environ.get("MINIGRAD_KEEP_FREED_MEMORY", "1") != "0"


def keep_freed_memory(limit=KEEP_FREED_BYTES):
    """Ask the C allocator to keep freed host memory for reuse; True if it was applied.
    Measured gain: the benchmark CNN's train step 76.1 -> 45.9 ms (benchmarks/README.md).

    A training step allocates and frees the same big arrays (activations, masks, im2col
    buffers, gradients) every step. glibc's malloc serves blocks of a few MiB and more with a
    fresh mmap and hands them back to the OS on free (and trims its heap's free top), so every
    step the kernel page-faults and zeroes that memory again, 4 KiB at a time. Raising both
    thresholds to `limit` bytes makes blocks up to that size come from the heap and stay there
    once freed: the next step reuses them; peak memory is unchanged.

    It is process-wide, so other libraries' allocations are kept too, and memory freed after a
    peak stays with the process. Only glibc (Linux) has these knobs; elsewhere it returns False.
    Measure it with `python -m benchmarks.ab . --other-env MINIGRAD_KEEP_FREED_MEMORY=0`."""
    try:  # the C library this process runs on ("glibc 2.36"); an error where there is none
        running = os.confstr("CS_GNU_LIBC_VERSION") or ""
        libc = ctypes.CDLL("libc.so.6") if running.startswith("glibc") else None
    except (AttributeError, ValueError, OSError):
        libc = None
    if libc is None:
        return False
    return all(
        libc.mallopt(option, int(limit)) == 1 for option in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD)
    )
