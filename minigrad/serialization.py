"""save/load of state dicts, optimizer state and nested containers as one .npz file: no pickle.
Read nn/module.py (state_dict) and optim/ (their state_dict) for what usually goes in.

Format. Every array becomes its own npz entry ("a0", "a1", ...). The structure around them
is one JSON string in the entry "__structure__", where
  dict   -> {"dict": [[key, value], ...]}   (pairs, so int keys stay ints)
  tuple  -> {"tuple": [...]}
  array  -> {"array": "a3"}                 Tensor -> {"tensor": "a3"}
and lists, str, int, float, bool and None are JSON themselves. Loading needs no pickle, so a
file from a stranger cannot run code (np.load(path, allow_pickle=False) reads it too).
"""

import contextlib
import json
import os
import re
import tempfile

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

STRUCTURE_KEY = "__structure__"

# --------------------------------------------------------------------------- encoding


def _encode_key(key, where):
    if key is None or isinstance(key, (str, int, float, bool)):
        return key
    raise TypeError(f"save: dict key {key!r} at {where} must be a str, int, float, bool or None")


def _encode(obj, arrays, where):
    """obj as JSON-ready data; arrays are appended to `arrays` and referenced by name."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Tensor) or backend.is_array(obj):
        host = backend.to_host(obj.data if isinstance(obj, Tensor) else obj)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"save: array of dtype {host.dtype} at {where} is not supported")
        name = f"a{len(arrays)}"
        arrays[name] = host
        return {"tensor" if isinstance(obj, Tensor) else "array": name}
    if isinstance(obj, dict):
        pairs = []
        for key, value in obj.items():
            pairs.append([_encode_key(key, where), _encode(value, arrays, f"{where}[{key!r}]")])
        return {"dict": pairs}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {"tuple": items}
    raise TypeError(
        f"save: cannot store {type(obj).__name__} at {where}; supported are arrays, Tensors, "
        "dicts, lists, tuples, str, int, float, bool and None"
    )


def _decode(node, arrays, device):
    if isinstance(node, list):
        return [_decode(v, arrays, device) for v in node]
    if not isinstance(node, dict):
        return node
    if "dict" in node:
        return {key: _decode(value, arrays, device) for key, value in node["dict"]}
    if "tuple" in node:
        return tuple(_decode(v, arrays, device) for v in node["tuple"])
    if "array" in node:
        return backend.to_device(arrays[node["array"]], device)
    if "tensor" in node:
        return Tensor(backend.to_device(arrays[node["tensor"]], device))
    raise ValueError(f"load: unknown node {sorted(node)} in the file's structure")


# --------------------------------------------------------------------------- files


def _running(pid):
    """Whether process `pid` exists on this machine (assumed so where it cannot be told)."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) would end the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    return True


def _remove_leftovers(path):
    """Delete the temp files of saves of `path` that were killed mid-write.

    Temp files are named .NAME.PID.XXXXXXXX.tmp; one whose process still runs may be a save
    in progress and is kept. Names without a PID come from older versions and are removed."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = re.escape(f".{os.path.basename(path)}.")
    pattern = re.compile(prefix + r"(?:(\d+)\.)?[a-z0-9_]{8}\.tmp")
    for name in os.listdir(folder):
        match = pattern.fullmatch(name)
        if match is None or (match[1] is not None and _running(int(match[1]))):
            continue
        with contextlib.suppress(FileNotFoundError):  # another save may clean it too
            os.remove(os.path.join(folder, name))


def _write_atomically(path, arrays):
    """Write to a temp file in the same directory, fsync, then rename over `path`.

    A crash mid-write leaves the old file intact: os.replace is atomic on one filesystem;
    the temp file it leaves is removed by the next save of the same path."""
    folder = os.path.dirname(os.path.abspath(path))
    _remove_leftovers(path)
    prefix = f".{os.path.basename(path)}.{os.getpid()}."
    handle, temp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def save(obj, path):
    """Save a state dict or any nesting of dicts/lists/tuples of arrays, Tensors, numbers,
    strings, bools and None to `path` (written exactly there, atomically, as .npz)."""
    path = os.fspath(path)
    arrays = {}
    structure = _encode(obj, arrays, "obj")
    arrays[STRUCTURE_KEY] = np.asarray(json.dumps(structure))
    _write_atomically(path, arrays)


def load(path, device="cpu"):
    """Read what save() wrote; arrays (and Tensors) land on `device`. Never unpickles."""
    device = backend.normalize_device(device)
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        if STRUCTURE_KEY not in archive.files:
            raise ValueError(f"load: {path} was not written by minigrad.save (no {STRUCTURE_KEY})")
        arrays = {name: archive[name] for name in archive.files}
    structure = json.loads(str(arrays.pop(STRUCTURE_KEY)))
    return _decode(structure, arrays, device)
