"""The one place that knows NumPy from CuPy: devices, array namespaces, host transfer, RNG.
Everything else writes array-API code against `xp_of(array)`. Read tensor.py next.

Devices are plain strings:
  "cpu"              NumPy (its 2.x main namespace follows the array API standard)
  "cuda", "cuda:N"   CuPy, through array-api-compat
  "strict"           array-api-strict's non-default device: a stand-in GPU for the tests that
                     raises on stray NumPy calls, arrays created without device= and device mixes
"""

import contextlib
import os
import threading

import numpy as np

DEFAULT_DTYPE = "float32"
CUDA_HINT = "install the GPU extra with `pip install minigrad[cuda]` (CuPy for CUDA 12/13)"

_rngs = {}
_seed = None
_local = threading.local()  # .scope: a generator_scope's (seed, generators) in this thread


# --------------------------------------------------------------------------- devices


def _strict():
    import array_api_strict

    return array_api_strict


def _strict_device():
    return _strict().Device("device1")


def _cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"device 'cuda' needs CuPy, which is not installed: {CUDA_HINT}") from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy raises its own CUDARuntimeError without a driver
        raise RuntimeError(
            f"device 'cuda': CuPy is installed but no CUDA GPU is usable ({e})"
        ) from e
    if count == 0:
        raise RuntimeError("device 'cuda': CuPy is installed but no CUDA GPU was found")
    return cupy


def _cupy_namespace():
    import array_api_compat.cupy

    return array_api_compat.cupy


def normalize_device(device):
    """Return the canonical device string for 'cpu', 'strict', 'cuda', 'cuda:N' (None: 'cpu')."""
    if device is None:
        return "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {device!r}")
    if device in ("cpu", "strict"):
        return device
    if device == "cuda":
        return "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise ValueError(f"unknown device {device!r}; expected 'cpu', 'cuda', 'cuda:N' or 'strict'")


def namespace(device):
    """The array namespace (xp) that computes on `device`."""
    device = normalize_device(device)
    if device == "cpu":
        return np
    if device == "strict":
        return _strict()
    _cupy()
    return _cupy_namespace()


def native_device(device):
    """The object to pass as `device=` to the namespace of `device`."""
    device = normalize_device(device)
    if device == "cpu":
        return "cpu"
    if device == "strict":
        return _strict_device()
    return _cupy().cuda.Device(int(device[5:]))


def cuda_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        _cupy()
    except RuntimeError:
        return False
    return True


def test_devices():
    """Devices the test-suite runs on: $MINIGRAD_TEST_DEVICES (comma separated), else cpu,strict."""
    names = os.environ.get("MINIGRAD_TEST_DEVICES", "cpu,strict")
    return [normalize_device(name.strip()) for name in names.split(",") if name.strip()]


# --------------------------------------------------------------------------- arrays


def is_array(a):
    """True for a NumPy, CuPy or array-api-strict array."""
    if isinstance(a, np.ndarray):
        return True
    import array_api_compat

    return array_api_compat.is_array_api_obj(a) and not isinstance(a, (int, float, bool))


def xp_of(a):
    """The array namespace of `a`. NumPy arrays get NumPy itself: no wrapper on the hot path."""
    if type(a) is np.ndarray:
        return np
    import array_api_compat

    return array_api_compat.array_namespace(a)


def device_of(a):
    """The device string of array `a`."""
    if type(a) is np.ndarray:
        return "cpu"
    dev = a.device
    if type(dev).__module__.startswith("array_api_strict"):
        if dev == _strict().Device("CPU_DEVICE"):
            raise ValueError("array-api-strict arrays on CPU_DEVICE are not a minigrad device")
        return "strict"
    if hasattr(dev, "id"):
        return f"cuda:{dev.id}"
    return "cpu"


def to_host(a):
    """Copy array `a` to a NumPy array: THE single host-synchronising point of minigrad. A
    device read first settles the checks that waited for it (check_when_read)."""
    if isinstance(a, np.ndarray):
        return a
    _settle_checks()
    return _copy_to_host(a)


def _copy_to_host(a):
    if hasattr(a, "get"):
        return a.get()
    if type(a).__module__.startswith("array_api_strict"):
        return np.asarray(a.to_device(_strict().Device("CPU_DEVICE")))
    return np.asarray(a)


# A check of device data (e.g. class ids in range) would stall the device if it read its
# answer at once; it waits instead for the next device read, which a training loop makes anyway
# (the loss), and raises there. At most this many wait before they are read on their own.
_WAITING_CHECKS_LIMIT = 256
_waiting_checks = []


def in_host_memory(a):
    """True for an array that the host reads without waiting for a device (cpu, strict)."""
    return device_of(a) in ("cpu", "strict")


def check_when_read(failed, error):
    """Raise `error` if the 0-d boolean array `failed` holds True: at once when it lives in host
    memory, else at the next to_host() of a device array."""
    if in_host_memory(failed):
        if bool(_copy_to_host(failed)):
            raise error
        return
    _waiting_checks.append((failed, error))
    if len(_waiting_checks) >= _WAITING_CHECKS_LIMIT:
        _settle_checks()


def _settle_checks():
    """Read every waiting check (one transfer for all) and raise the first that failed."""
    if not _waiting_checks:
        return
    checks = list(_waiting_checks)
    _waiting_checks.clear()
    xp = xp_of(checks[0][0])
    failed = _copy_to_host(xp.stack([xp.reshape(f, ()) for f, _ in checks]))
    for hit, (_, error) in zip(failed, checks):
        if hit:
            raise error


def to_device(a, device, dtype=None):
    """Array `a` (NumPy, CuPy, strict, list or scalar) as an array on `device`."""
    device = normalize_device(device)
    if is_array(a) and device_of(a) != device:
        a = to_host(a)
    xp = namespace(device)
    if device.startswith("cuda"):
        with native_device(device):
            return xp.asarray(a, dtype=_dtype(xp, dtype))
    return xp.asarray(a, dtype=_dtype(xp, dtype), device=native_device(device))


def new_array(data, device, dtype=None):
    """A fresh array on `device` that shares no memory with `data` (for minigrad.tensor).

    Python data without a dtype: floats become DEFAULT_DTYPE, integers int64. NumPy arrays keep
    their dtype and memory layout (a channels-last view stays channels-last)."""
    if dtype is None and not is_array(data):
        host = np.asarray(data)
        if host.dtype.kind == "f":
            dtype = DEFAULT_DTYPE
        elif host.dtype.kind in "iu":
            dtype = "int64"
        data = host
    if isinstance(data, np.ndarray):
        data = data.copy(order="K")  # own it: some devices (strict) would wrap the caller's
        return to_device(data, device, dtype=dtype)
    array = to_device(data, device, dtype=dtype)
    if array is data:
        array = xp_of(array).asarray(array, copy=True)
    return array


def as_array(out):
    """`out` as an array: NumPy reductions return scalars (np.float32), not 0-d arrays."""
    return np.asarray(out) if isinstance(out, np.generic) else out


def format_host(host, prefix=""):
    """A host array as text for a repr, aligned after `prefix`."""
    return np.array2string(host, separator=", ", prefix=prefix)


def _dtype(xp, dtype):
    """Resolve a dtype name ('float32') or object into `xp`'s dtype object; None stays None."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        return getattr(xp, dtype)
    return getattr(xp, np.dtype(dtype).name) if xp is not np else dtype


def dtype_name(dtype):
    """'float32', 'int64', ... for any namespace's dtype object."""
    return str(dtype).rsplit(".", 1)[-1].replace("'>", "").replace(">", "")


def index_arrays(item, device):
    """An index (list, host or device array) as a tuple of int64 arrays on `device`.

    A boolean mask becomes its nonzero positions: allowed on host data only, since on a
    device it would need a sync to learn how many entries are True."""
    if isinstance(item, (list, np.ndarray)):
        host = np.asarray(item)
        if host.dtype == bool:
            return tuple(to_device(i, device) for i in np.nonzero(host))
        if host.dtype.kind not in "iu":
            raise TypeError(f"index arrays must be integer or boolean, got {host.dtype}")
        return (to_device(host.astype(np.int64), device),)
    xp = xp_of(item)
    if not xp.isdtype(item.dtype, "integral"):
        raise TypeError(f"index arrays must be integer, got {dtype_name(item.dtype)}")
    return (to_device(item, device),)


def scatter_add(target, index, values):
    """target[index] += values, with repeated indices adding up (in place)."""
    xp = xp_of(target)
    if xp is np:
        np.add.at(target, index, values)
        return target
    if device_of(target).startswith("cuda"):
        import cupyx

        cupyx.scatter_add(target, index, values)
        return target
    return _portable_scatter_add(xp, target, index, values)


def _portable_scatter_add(xp, target, index, values):
    """scatter_add for namespaces without add.at: flatten to one axis, add a one-hot GEMM."""
    if not isinstance(index, tuple):
        index = (index,)
    assert all(is_array(i) for i in index), "portable scatter_add takes integer arrays only"
    ndim = len(index)
    lead = target.shape[:ndim]
    rows = 1
    for n in lead:
        rows *= n
    flat = xp.zeros(index[0].shape, dtype=xp.int64, device=target.device)
    for i, n in zip(index, lead):
        flat = flat * n + xp.astype(i, xp.int64)
    flat = xp.reshape(flat, (-1,))
    vals = xp.broadcast_to(values, flat.shape + target.shape[ndim:])
    vals = xp.reshape(vals, (flat.shape[0], -1))
    onehot = flat[:, None] == xp.arange(rows, device=target.device)[None, :]
    added = xp.matmul(xp.matrix_transpose(xp.astype(onehot, target.dtype)), vals)
    target += xp.reshape(added, target.shape)
    return target


# --------------------------------------------------------------------------- random numbers


def seed(n):
    """Seed every device's generator (and those created later) with `n`."""
    global _seed
    _seed = int(n)
    _rngs.clear()


def _generators():
    """(seed, {device: generator}) this thread draws from: its generator_scope's, else global."""
    scope = getattr(_local, "scope", None)
    return scope if scope is not None else (_seed, _rngs)


@contextlib.contextmanager
def generator_scope(seed):
    """Inside the block, this thread draws all randomness from fresh generators seeded with
    `seed`, leaving the global ones untouched (DataLoader's workers augment with these)."""
    previous = getattr(_local, "scope", None)
    _local.scope = (int(seed), {})
    try:
        yield
    finally:
        _local.scope = previous


def host_rng():
    """The seeded NumPy generator; device randomness is drawn from it on non-CuPy devices."""
    seed_, rngs = _generators()
    if "host" not in rngs:
        rngs["host"] = np.random.default_rng(seed_)
    return rngs["host"]


def _cuda_rng(device):
    seed_, rngs = _generators()
    if device not in rngs:
        cupy = _cupy()
        with native_device(device):
            rngs[device] = cupy.random.default_rng(seed_)
    return rngs[device]


def _sample(method, shape, device, dtype):
    """Samples from generator method `method` ("random", "standard_normal") on `device`.

    NumPy's and CuPy's Generators share these method names and their dtype argument."""
    device = normalize_device(device)
    dtype = dtype or DEFAULT_DTYPE
    if device.startswith("cuda"):
        with native_device(device):
            return getattr(_cuda_rng(device), method)(shape, dtype=dtype)
    sample = getattr(host_rng(), method)(shape, dtype=np.dtype(dtype))
    return sample if device == "cpu" else to_device(sample, device)


def rand(shape, device="cpu", dtype=None):
    """Uniform [0, 1) samples on `device`, drawn from that device's seeded generator."""
    return _sample("random", shape, device, dtype)


def randn(shape, device="cpu", dtype=None):
    """Standard normal samples on `device`, drawn from that device's seeded generator."""
    return _sample("standard_normal", shape, device, dtype)


def get_rng_state():
    """The host generator's state as a dict of plain values (for checkpoints)."""
    return {"seed": _seed, "host": host_rng().bit_generator.state}


def set_rng_state(state):
    """Restore what get_rng_state() returned."""
    global _seed
    _seed = state["seed"]
    host_rng().bit_generator.state = state["host"]


# --------------------------------------------------------------------------- GPU measurements
# benchmarks/gpu_steps.py reads these; nothing in the engine calls them.


def cuda_synchronize(device="cuda"):
    """Wait until every kernel queued on GPU `device` has finished (before reading a clock)."""
    device = normalize_device(device)
    _cupy().cuda.Device(int(device[5:])).synchronize()


def cuda_memory_used():
    """Bytes CuPy's default memory pool has handed out and not had back (live arrays)."""
    return _cupy().get_default_memory_pool().used_bytes()


def cuda_versions(device="cuda"):
    """{"device", "cupy", "driver", "runtime"} of GPU `device`: its name and the versions that
    CuPy sees (CUDA versions as integers, e.g. 13000 for 13.0)."""
    device = normalize_device(device)
    cupy = _cupy()
    properties = cupy.cuda.runtime.getDeviceProperties(int(device[5:]))
    name = properties["name"]
    return {
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "cupy": cupy.__version__,
        "driver": cupy.cuda.runtime.driverGetVersion(),
        "runtime": cupy.cuda.runtime.runtimeGetVersion(),
    }


# --------------------------------------------------------------------------- several processes
# distributed.py runs one process per core or GPU; NCCL's collectives for CuPy arrays are the
# part that depends on the array library (BLAS threads per process: fast/threads.py).


def nccl_eligible(a):
    """True for a CuPy array: NCCL can reduce it on the GPU."""
    return device_of(a).startswith("cuda")


def nccl_communicator(broadcast_bytes, rank, size):
    """An NCCL communicator over `size` ranks; broadcast_bytes shares rank 0's unique id."""
    nccl = _cupy().cuda.nccl
    uid = nccl.get_unique_id() if rank == 0 else (0,) * 128  # ncclUniqueId: 128 bytes
    raw = bytes(b % 256 for b in uid)
    uid = tuple(int(b) - 256 if b > 127 else int(b) for b in broadcast_bytes(raw))
    return nccl.NcclCommunicator(size, uid, rank)


def nccl_all_reduce(communicator, a, op, size):
    """In-place allreduce of contiguous CuPy array `a` ("avg" = sum, then / size)."""
    cupy = _cupy()
    nccl = cupy.cuda.nccl
    types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64, "int64": nccl.NCCL_INT64}
    ops = {"sum": nccl.NCCL_SUM, "avg": nccl.NCCL_SUM, "max": nccl.NCCL_MAX}
    ops.update(min=nccl.NCCL_MIN, product=nccl.NCCL_PROD)
    if not a.flags.c_contiguous:
        raise ValueError("nccl_all_reduce: pack the array first (it is not contiguous)")
    stream = cupy.cuda.get_current_stream().ptr
    communicator.allReduce(
        a.data.ptr, a.data.ptr, a.size, types[dtype_name(a.dtype)], ops[op], stream
    )
    if op == "avg":
        a /= size
