"""The process group: ranks, world size and the collectives that data parallelism needs, on MPI.
Read nn/parallel.py (DistributedDataParallel) and nn/sync_batchnorm.py next.

Start one process per core (or per GPU) with `mpiexec -n 4 python train.py`; each calls
init_process_group() and learns its rank (0 .. world_size - 1). This is the only file that
imports mpi4py (`pip install -e ".[distributed]"` brings it and MPICH's mpiexec). Without
mpi4py, or started without mpiexec, a program runs as a world of one process: every
collective then returns its input unchanged, so the same script works alone.

Collectives work in place on a Tensor or a backend array, as in PyTorch:
  all_reduce(x, op)   every rank ends with op(x of rank 0, x of rank 1, ...)
  broadcast(x, src)   every rank ends with rank src's x
  all_gather(list, x) list[r] = x of rank r
NumPy arrays go to MPI directly (packed first when not contiguous); CuPy arrays go through
NCCL (backend.nccl_*), other devices through the host.
"""

import json
import os
import sys

import numpy as np

from minigrad import backend
from minigrad.fast import threads
from minigrad.tensor import Tensor

_group = {"comm": None, "rank": 0, "size": 1, "initialized": False, "nccl": None}

# environment variables that launchers set; any of them > 1 means "started by mpiexec / srun"
_LAUNCHER_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS")
_BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ReduceOp:
    """PyTorch's reduction names; plain strings work too: all_reduce(x, op="avg")."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


_OPS = ("sum", "avg", "max", "min", "product")


# --------------------------------------------------------------------------- the group


def is_available():
    """True when mpi4py can be imported (the `distributed` extra is installed)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def _launched_size():
    """The world size a launcher announced in the environment (1 when started alone)."""
    for name in _LAUNCHER_SIZES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return int(value)
    return 1


def init_process_group(backend="mpi", init_method=None, world_size=-1, rank=-1, timeout=None):
    """Join the group of processes that mpiexec (or srun) started; a world of one without MPI.

    backend: "mpi" (every device; CuPy arrays travel through the host) or "nccl" (CuPy arrays
    reduced by NCCL on the GPUs, MPI for the rest). world_size and rank, if given, must agree
    with what MPI says. The other arguments exist for PyTorch's signature and are ignored.
    Also: an uncaught exception on any rank aborts the whole job (see _abort_on_error), and
    BLAS threads are set to cores / ranks-on-this-machine unless OMP_NUM_THREADS or
    OPENBLAS_NUM_THREADS is set."""
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: backend must be 'mpi' or 'nccl', got {backend!r}")
    if _group["initialized"]:
        raise RuntimeError("init_process_group: the process group is already initialized")
    comm = _world_communicator()
    size = 1 if comm is None else comm.Get_size()
    this = 0 if comm is None else comm.Get_rank()
    for name, given, actual in (("world_size", world_size, size), ("rank", rank, this)):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {name}={given} but MPI says {actual}")
    _group.update(comm=comm, rank=this, size=size, initialized=True, backend=backend)
    if comm is not None and size > 1:
        _abort_on_error()
        _limit_blas_threads(_ranks_on_this_machine(comm))


def _world_communicator():
    """MPI's COMM_WORLD, or None when mpi4py is missing and we were started alone."""
    if not is_available():
        if _launched_size() > 1:
            raise RuntimeError(
                f"init_process_group: started as one of {_launched_size()} processes, but "
                'mpi4py is not installed: pip install -e ".[distributed]"'
            )
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD


def is_initialized():
    return _group["initialized"]


def get_rank():
    """This process's rank in [0, world size); 0 when no group is initialized."""
    return _group["rank"]


def get_world_size():
    """The number of processes in the group; 1 when no group is initialized."""
    return _group["size"]


def get_backend():
    return _group.get("backend") if _group["initialized"] else None


def destroy_process_group():
    """Leave the group; collectives become no-ops again. MPI itself finalizes at exit."""
    _group.update(comm=None, rank=0, size=1, initialized=False, nccl=None)


def barrier():
    """Wait until every rank has reached this call."""
    if _active():
        _group["comm"].Barrier()


def _active():
    return _group["comm"] is not None and _group["size"] > 1


# --------------------------------------------------------------------------- process settings


def _abort_on_error():
    """An uncaught exception prints its traceback, then MPI_Abort ends EVERY rank.

    Without this, the other ranks would wait forever in their next collective for a peer
    that died (MPI cannot tell a slow rank from a dead one)."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.write(f"rank {get_rank()}: aborting all ranks after {kind.__name__}\n")
        sys.stderr.flush()
        _group["comm"].Abort(1)

    sys.excepthook = hook


def _ranks_on_this_machine(comm):
    from mpi4py import MPI

    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    count = local.Get_size()
    local.Free()
    return count


def _limit_blas_threads(ranks_here):
    """BLAS threads = cores / ranks on this machine, unless the user chose a number.

    Two ranks each running a 2-thread GEMM on 2 cores would oversubscribe the cores."""
    if any(name in os.environ for name in _BLAS_THREAD_VARIABLES):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads.set_blas_threads(max(1, (cores or 1) // ranks_here))


# --------------------------------------------------------------------------- collectives


def _check_op(op):
    op = getattr(op, "value", op)
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {_OPS} (or ReduceOp.*), got {op!r}")
    return op


def _mpi_op(op):
    from mpi4py import MPI

    return {"sum": MPI.SUM, "avg": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "product": MPI.PROD}[op]


def _array_of(x, name):
    if isinstance(x, Tensor):
        return x.data
    if backend.is_array(x):
        return x
    raise TypeError(f"{name}: expected a Tensor or a backend array, got {type(x).__name__}")


def _store(x, result):
    """Write `result` into x's memory, keeping its layout; only a Tensor's read-only NumPy
    array (one that wraps memory it may not write) is replaced by a new one."""
    target = _array_of(x, "store")
    if isinstance(target, np.ndarray) and target.flags.writeable:
        np.copyto(target, result)
    elif isinstance(target, np.ndarray) and isinstance(x, Tensor):
        x.data = backend.to_device(result, x.device, dtype=x.dtype)
    else:
        target[...] = backend.to_device(result, backend.device_of(target))


class Work:
    """The handle of a collective started with async_op=True: wait() finishes it."""

    def __init__(self, request=None, finish=None):
        self._request = request
        self._finish = finish

    def wait(self):
        if self._request is not None:
            self._request.Wait()
            self._request = None
        if self._finish is not None:
            self._finish()
            self._finish = None
        return True

    def is_completed(self):
        return self._request is None or self._request.Test()


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """In place: every rank's `tensor` becomes op over all ranks' values ("avg" = sum / size).

    async_op=True starts a non-blocking reduction and returns a Work; call .wait() before
    reading the result."""
    op = _check_op(op)
    array = _array_of(tensor, "all_reduce")
    if op == "avg" and np.dtype(backend.dtype_name(array.dtype)).kind != "f":
        raise TypeError(f"all_reduce: op='avg' needs a float tensor, got {array.dtype}")
    if not _active():
        return Work() if async_op else None
    if backend.nccl_eligible(array) and _group["backend"] == "nccl":
        _nccl_all_reduce(array, op)
        return Work() if async_op else None
    buffer = _contiguous_host(array)
    finish = _finisher(tensor, array, buffer, op)
    if async_op:
        request = _group["comm"].Iallreduce(_in_place(), buffer, op=_mpi_op(op))
        return Work(request, finish)
    _group["comm"].Allreduce(_in_place(), buffer, op=_mpi_op(op))
    finish()
    return None


def _in_place():
    from mpi4py import MPI

    return MPI.IN_PLACE


def _contiguous_host(array):
    """The host buffer MPI reduces: `array` itself when it is a contiguous writeable NumPy
    array, else a packed copy (a channels-last conv weight, a strict or CuPy array)."""
    if isinstance(array, np.ndarray) and array.flags.c_contiguous and array.flags.writeable:
        return array
    return np.array(backend.to_host(array), order="C", copy=True)


def _finisher(tensor, array, buffer, op):
    """What must happen after MPI is done: divide for "avg", copy a packed buffer back."""

    def finish():
        if op == "avg":
            np.divide(buffer, _group["size"], out=buffer)
        if buffer is not array:
            _store(tensor, buffer)

    return finish


def _nccl_all_reduce(array, op):
    if _group["nccl"] is None:
        _group["nccl"] = backend.nccl_communicator(_broadcast_bytes, get_rank(), get_world_size())
    backend.nccl_all_reduce(_group["nccl"], array, op, get_world_size())


def _broadcast_bytes(data):
    """Rank 0's bytes on every rank (NCCL's unique id travels this way)."""
    buffer = np.frombuffer(bytes(data), dtype=np.uint8).copy()
    _group["comm"].Bcast(buffer, root=0)
    return buffer.tobytes()


def broadcast(tensor, src=0, group=None, async_op=False):
    """In place: every rank's `tensor` becomes rank `src`'s (same shape and dtype everywhere)."""
    if not 0 <= src < get_world_size():
        raise ValueError(f"broadcast: src must be a rank in [0, {get_world_size()}), got {src}")
    array = _array_of(tensor, "broadcast")
    if _active():
        buffer = _contiguous_host(array)
        _group["comm"].Bcast(buffer, root=src)
        if buffer is not array:
            _store(tensor, buffer)
    return Work() if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] <- rank r's `tensor`, on every rank (tensor_list holds world-size
    Tensors or arrays shaped like `tensor`, written in place)."""
    array = _array_of(tensor, "all_gather")
    if len(tensor_list) != get_world_size():
        raise ValueError(
            f"all_gather: tensor_list must hold {get_world_size()} tensors, one per rank, "
            f"got {len(tensor_list)}"
        )
    send = np.ascontiguousarray(backend.to_host(array))
    if _active():
        gathered = np.empty((get_world_size(),) + send.shape, dtype=send.dtype)
        _group["comm"].Allgather(send, gathered)
    else:
        gathered = send[None]
    for target, value in zip(tensor_list, gathered):
        if tuple(_array_of(target, "all_gather").shape) != send.shape:
            raise ValueError(
                f"all_gather: every tensor in tensor_list must have shape {send.shape}"
            )
        _store(target, value)
    return Work() if async_op else None


def all_gather_object(object_list, obj, group=None):
    """object_list[r] <- rank r's `obj`. Objects travel as JSON text (never pickle), so they
    must be JSON-serialisable: numbers, strings, lists, dicts (tuples come back as lists)."""
    if len(object_list) != get_world_size():
        raise ValueError(
            f"all_gather_object: object_list must have {get_world_size()} slots, "
            f"got {len(object_list)}"
        )
    data = np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)
    if not _active():
        object_list[0] = json.loads(data.tobytes())
        return
    comm = _group["comm"]
    sizes = np.empty(get_world_size(), dtype=np.int64)
    comm.Allgather(np.array([data.size], dtype=np.int64), sizes)
    gathered = np.empty(int(sizes.sum()), dtype=np.uint8)
    comm.Allgatherv(data, [gathered, sizes])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    for r in range(get_world_size()):
        object_list[r] = json.loads(gathered[offsets[r] : offsets[r + 1]].tobytes())
