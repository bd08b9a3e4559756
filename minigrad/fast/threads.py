"""BLAS threads: how many threads NumPy's OpenBLAS runs a GEMM on. Processes that share the
cores (DDP ranks, search trials) each take their share; distributed.py and tune.py set it.
Read memory.py first; arrays.py next.

Measured gain: 2 ranks x 1 thread = 1.49x one process x 2 threads on the main example's model
(benchmarks/ddp.py; benchmarks/README.md, data parallelism).
"""

import ctypes


def _openblas_call(names, *args):
    """Call the first of `names` found in the OpenBLAS that NumPy loaded; None if none is."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        for name in names:
            if hasattr(library, name):
                return getattr(library, name)(*args)
    return None


def set_blas_threads(n):
    """Set the thread count of the OpenBLAS that NumPy loaded; False where none is found.

    The environment variables (OPENBLAS_NUM_THREADS) act only before NumPy is imported; this
    calls the library's own setter, found among the process's loaded libraries."""
    names = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads")
    return _openblas_call(names, int(n)) is not None


def blas_threads():
    """The thread count of NumPy's OpenBLAS, or None where it cannot be asked."""
    return _openblas_call(("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"))
