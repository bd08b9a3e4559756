"""Host-memory tuning in backend.py: freed big arrays are reused instead of page-faulted anew."""

import platform
import resource
import subprocess
import sys

import numpy as np
import pytest

from minigrad import backend

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc's mallopt")

FAULTS_OF_A_FRESH_64_MIB_ARRAY = """
import resource, numpy as np, minigrad
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(2**24, dtype=np.float32); del a
before = faults(); a = np.ones(2**24, dtype=np.float32); del a
print(faults() - before)
"""


def _refill_faults(env_value):
    """Minor page faults of filling a 64 MiB array right after an equal one was freed, in a
    fresh process that imports minigrad with $MINIGRAD_KEEP_FREED_MEMORY = env_value."""
    env = {"MINIGRAD_KEEP_FREED_MEMORY": env_value, "PATH": ""}
    command = [sys.executable, "-c", FAULTS_OF_A_FRESH_64_MIB_ARRAY]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return int(done.stdout)


@glibc_only
def test_freed_arrays_are_reused_without_page_faults():
    # 64 MiB is above glibc's largest automatic mmap threshold (32 MiB): by default such a
    # block is unmapped on free and the refill faults every page (or every 2 MiB huge page)
    assert _refill_faults("1") <= 4
    assert _refill_faults("0") >= 16


@glibc_only
def test_keep_freed_memory_reports_success_and_applies_in_this_process():
    assert backend.keep_freed_memory() is True
    a = np.ones(2**24, dtype=np.float32)
    del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(2**24, dtype=np.float32)
    del a
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before <= 4
