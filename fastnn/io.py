"""Saving and loading parameters: ``.npz`` files read with ``allow_pickle=False`` and written atomically (to a
temporary file in the same directory, flushed to disk, then renamed over the target), so a crash mid-save leaves
the previous file intact."""
import os
import tempfile
import zipfile
import zlib

from collections.abc import Mapping

import numpy as np

from . import _checks

__all__ = ["save_arrays", "load_arrays", "load_into"]


def _saveable(arrays):
    """The arrays as ndarrays, checked before anything is written so that load_arrays can read them back."""
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a dict of name -> array; got {type(arrays).__name__}")
    out = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or key in ("file", "allow_pickle"):  # np.savez's own parameter names
            raise ValueError(f"arrays key {key!r} cannot be saved: keys must be strings other than 'file' and "
                             f"'allow_pickle'")
        a = np.asarray(value)
        if a.dtype.hasobject:
            raise TypeError(f"arrays[{key!r}] has dtype {a.dtype}: object arrays are saved with pickle, which "
                            f"loading refuses")
        out[key] = a
    return out


def save_arrays(file_name, arrays):
    """Write a dict of arrays to ``file_name`` (.npz content, whatever the name) atomically."""
    file_name = _checks.path(file_name, "file_name")
    arrays = _saveable(arrays)
    directory = os.path.dirname(os.path.abspath(file_name))
    if not os.path.isdir(directory):  # else mkstemp's error would name the temporary file
        raise FileNotFoundError(f"file_name {file_name!r}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file_name)
    except BaseException:
        os.unlink(tmp)
        raise


def load_arrays(file_name):
    """Read a dict of arrays saved by :func:`save_arrays` (object arrays are refused, never unpickled)."""
    # a truncated or damaged zip raises BadZipFile/zlib.error, which are not ValueErrors
    try:
        data = np.load(_checks.path(file_name, "file_name"), allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a single .npy array
            raise ValueError(f"it holds one {type(data).__name__}, not a set of named arrays")
        with data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"file_name {file_name!r} is not a readable fastnn parameter file (.npz): {exc}") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # NpzFile returns raw bytes for a member that is not .npy
            raise ValueError(f"file_name {file_name!r}: entry {key!r} is not a saved array")
    return arrays


def load_into(params, file_name):
    """Copy saved arrays into the existing ``params`` arrays in place, after checking that the file holds exactly
    the same keys with the same shapes and dtypes."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> array; got {type(params).__name__}")
    saved = load_arrays(file_name)
    if set(saved) != set(params):
        raise ValueError(f"file_name {file_name!r} holds parameters {sorted(saved)}, but the network has "
                         f"{sorted(params)}")
    for key, value in saved.items():
        target = params[key]
        if not isinstance(target, np.ndarray):
            raise TypeError(f"params[{key!r}] must be a NumPy array (it is loaded into in place); got "
                            f"{type(target).__name__}")
        if value.shape != target.shape or value.dtype != target.dtype:
            raise ValueError(f"file_name {file_name!r}: parameter {key!r} has shape {value.shape} and dtype "
                             f"{value.dtype}, but the network expects {target.shape} {target.dtype}")
        _checks.writable_float_array(target, f"params[{key!r}]")  # all checked before any is overwritten
    for key, value in saved.items():
        params[key][...] = value
