"""Saving and loading parameters: ``.npz`` files read with ``allow_pickle=False`` and written atomically (to a
temporary file in the same directory, flushed to disk, then renamed over the target), so a crash mid-save leaves
the previous file intact."""
import os
import tempfile

import numpy as np

from . import _checks


def save_arrays(file_name, arrays):
    """Write a dict of arrays to ``file_name`` (.npz content, whatever the name) atomically."""
    file_name = os.fspath(file_name)
    directory = os.path.dirname(os.path.abspath(file_name))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file_name)
    except BaseException:
        os.unlink(tmp)
        raise


def load_arrays(file_name):
    """Read a dict of arrays saved by :func:`save_arrays` (object arrays are refused, never unpickled)."""
    try:
        with np.load(os.fspath(file_name), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"file_name {file_name!r} is not a readable fastnn parameter file (.npz): {exc}") from None


def load_into(params, file_name):
    """Copy saved arrays into the existing ``params`` arrays in place, after checking that the file holds exactly
    the same keys with the same shapes and dtypes."""
    saved = load_arrays(file_name)
    if set(saved) != set(params):
        raise ValueError(f"file_name {file_name!r} holds parameters {sorted(saved)}, but the network has "
                         f"{sorted(params)}")
    for key, value in saved.items():
        target = params[key]
        if value.shape != target.shape or value.dtype != target.dtype:
            raise ValueError(f"file_name {file_name!r}: parameter {key!r} has shape {value.shape} and dtype "
                             f"{value.dtype}, but the network expects {target.shape} {target.dtype}")
    for key, value in saved.items():
        _checks.writable_float_array(params[key], f"params[{key!r}]")[...] = value
