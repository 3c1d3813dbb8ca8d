"""Saving and loading parameters: ``.npz`` files read with ``allow_pickle=False`` and written atomically (to a
temporary file in the same directory, flushed to disk, then renamed over the target), so a crash mid-save leaves
the previous file intact.

The first book's Trainer checkpoint is such a file too (:func:`save_checkpoint`, :func:`load_checkpoint`): the
arrays under names like ``params/0``, ``optimizer/m/1``, ``history/test_acc``, and one JSON ``meta`` entry that
describes them (no pickle).

Reading also takes the pickles the book ships its trained weights in (``ch03/sample_weight.pkl``, ...):
:func:`load_pickle` reads a pickled dict of numeric arrays through a restricted unpickler that runs no code from
the file (fastnn/_pickle.py), and :func:`load_arrays` and :func:`load_into` tell the two formats apart by content.
Writing is .npz only.
"""
import json
import os
import secrets
import zipfile
import zlib

from collections.abc import Mapping

import numpy as np

from . import _checks, _pickle
from ._pickle import UnsafePickleError

__all__ = ["save_arrays", "load_arrays", "load_into", "load_pickle", "UnsafePickleError", "save_checkpoint",
           "load_checkpoint"]


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
    """Write a dict of arrays to ``file_name`` (.npz content, whatever the name) atomically; returns None."""
    file_name = _checks.path(file_name, "file_name")
    arrays = _saveable(arrays)
    write_atomically(file_name, lambda f: np.savez(f, **arrays))


def existing_directory(file_name, name="file_name"):
    """The absolute directory ``file_name`` is to be written in, or FileNotFoundError naming the argument."""
    directory = os.path.dirname(os.path.abspath(file_name))
    if not os.path.isdir(directory):  # else the error would name the temporary file
        raise FileNotFoundError(f"{name} {file_name!r}: directory {directory!r} does not exist")
    return directory


def write_atomically(file_name, write, text=False, name="file_name"):
    """Write ``file_name`` so that it is never seen half-written; returns None. ``write(f)`` fills a temporary file
    in the same directory (opened in text mode, UTF-8, when ``text``), created with an ordinary new file's
    permissions, flushed to disk and renamed over the target; the directory is flushed too, so the rename survives
    a crash. On any error the temporary file goes and the old file stays. ``name`` is the argument that error
    messages name."""
    directory = existing_directory(file_name, name)
    tmp = os.path.join(directory, f".tmp-{secrets.token_hex(8)}{os.path.splitext(file_name)[1]}")
    # created like any new file (mode 0666, which the kernel reduces by the umask); O_EXCL: never another's file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w" if text else "wb", encoding="utf-8" if text else None) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file_name)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_pickle(file_name):
    """Returns the arrays of a pickle file holding a dict of NumPy arrays (the book's weight files, or
    ``pickle.dump(params, f)`` of numeric arrays at any protocol; empty arrays at protocols 0-2 are not read, as
    their pickle calls ``builtins.bytes``) as a plain dict {str: ndarray}, with the file's shapes and dtypes
    (writable copies), read without running any code from the file.

    The unpickler admits only NumPy's array reconstruction, through fastnn's own checked stand-ins (NumPy's
    reconstruction functions are never called; the arrays are np.frombuffer copies of checked bytes):
    ``numpy.core.multiarray._reconstruct`` with class ``numpy.ndarray`` only, ``numpy.core.numeric._frombuffer``
    (protocol 5), both also as ``numpy._core``; ``numpy.dtype`` of bool, integer, float and complex codes;
    ``_codecs.encode(str, 'latin1')`` (bytes at protocols 0-2); ``collections.OrderedDict()``. Refused with
    :class:`UnsafePickleError` (a ValueError and a pickle.UnpicklingError) before any of it runs: every other
    global (``os.system``, ``builtins.eval``, an ndarray subclass, NumPy scalars, ...); object, structured and
    subarray dtypes; the opcodes INST, OBJ, NEWOBJ, NEWOBJ_EX, persistent ids, extension codes, sets and
    out-of-band buffers. A top level that is not a dict of str -> array, and a truncated or damaged file, raise
    ValueError; every error names the file."""
    return _pickle.read(_checks.path(file_name, "file_name"))


def load_arrays(file_name):
    """Returns the dict of arrays in ``file_name``: saved by :func:`save_arrays` (.npz; object arrays are refused,
    never unpickled), or a pickle of a dict of arrays such as the book's weight files, read by :func:`load_pickle`
    (no code from the file runs). The format is told by the content (zip or pickle), not by the name."""
    path = _checks.path(file_name, "file_name")
    # a truncated or damaged zip raises BadZipFile/zlib.error, which are not ValueErrors
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        pickled = head != b"PK\x03\x04" and _pickle.is_pickle(head)  # b"P" is also a protocol-0 opcode
        if not pickled:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):  # a single .npy array
                raise ValueError(f"it holds one {type(data).__name__}, not a set of named arrays")
            with data:
                arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"file_name {file_name!r} is not a readable fastnn parameter file (.npz): {exc}") from None
    if pickled:
        return load_pickle(path)
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # NpzFile returns raw bytes for a member that is not .npy
            raise ValueError(f"file_name {file_name!r}: entry {key!r} is not a saved array")
    return arrays


def load_into(params, file_name):
    """Copy saved arrays (a .npz file or a pickle, as for :func:`load_arrays`) into the existing ``params`` arrays in
    place, after checking that the file holds exactly the same keys with the same shapes and dtypes; returns None."""
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


# --- the Trainer's checkpoint file ----------------------------------------------------------------------------------
# A trainer describes its state as a dict (see save_checkpoint); load_checkpoint checks a file against the state of
# the trainer that will load it and returns the saved values without changing anything.
CHECKPOINT_FORMAT = "fastnn.trainer.Trainer checkpoint"
CHECKPOINT_VERSION = 1
_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_BATCHNORM_STATS = ("running_mean", "running_var")
_STATE_KEYS = ("config", "data", "params", "best", "counters", "lists", "history", "optimizer", "batchnorm",
               "generator")


def fingerprint(a):
    """Returns [shape, dtype, CRC-32 of the bytes] of an array: enough to tell that a resumed run got other
    data."""
    return [list(a.shape), str(a.dtype), zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1))]


def batchnorm_layers(network):
    """Returns {layer name: layer} of a network's layers that keep running statistics (BatchNormalization), in
    order."""
    layers = getattr(network, "layers", None)
    items = layers.items() if isinstance(layers, Mapping) else enumerate(layers) if isinstance(layers, list) else ()
    return {key: layer for key, layer in items if all(hasattr(layer, stat) for stat in _BATCHNORM_STATS)}


def _param_dict(params):
    """The network's parameters as {key: array}; a checkpoint stores arrays under str or int keys only."""
    out = {}
    for key, value in (params.items() if isinstance(params, Mapping) else enumerate(params)):
        if not isinstance(key, (str, int)) or not isinstance(value, np.ndarray):
            raise TypeError(f"network.params[{key!r}] must be a NumPy array under a str or int key to be saved "
                            f"in a checkpoint; got {type(value).__name__}")
        out[key] = value
    return out


def _trainer_state(state, name):
    """``state`` checked to be a trainer's state (a dict with the keys of _STATE_KEYS)."""
    if not isinstance(state, Mapping) or not set(_STATE_KEYS) <= set(state):
        raise TypeError(f"{name} must be a trainer state: a dict with the keys {', '.join(_STATE_KEYS)}")
    return state


def _json_default(value):
    """json.dumps hook for the few non-JSON values in a state: NumPy scalars and arrays (MT19937's key)."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


def _json_hook(obj):
    return np.array(obj["__ndarray__"], dtype=obj["dtype"]) if "__ndarray__" in obj else obj


def _store(arrays, prefix, items):
    """Put a dict (or list) of arrays into ``arrays`` as prefix/0, prefix/1, ...; returns the keys in order."""
    keys = list(items.keys()) if isinstance(items, Mapping) else list(range(len(items)))
    for i, key in enumerate(keys):
        arrays[f"{prefix}/{i}"] = np.asarray(items[key])
    return keys


def save_checkpoint(path, state):
    """Write a trainer's ``state`` to ``path`` atomically (see :func:`save_arrays`); returns None.

    ``state`` holds: 'config' and 'counters' (JSON values), 'data' ({name: :func:`fingerprint`}), 'params' and
    'best' ({key: array}), 'lists' and 'history' ({name: sequence of numbers}), 'optimizer' (the optimizer, whose
    ``state_dict()`` is saved), 'batchnorm' (:func:`batchnorm_layers`) and 'generator' (the trainer's
    ``np.random.Generator`` or None). NumPy's global MT19937 state is saved too."""
    path = _checks.path(path, "path")
    state = _trainer_state(state, "state")
    arrays = {}
    meta = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": state["config"],
            "data": state["data"], "params": _store(arrays, "params", _param_dict(state["params"])),
            "best": _store(arrays, "best", state["best"]), "counters": state["counters"]}
    for name, values in state["lists"].items():
        arrays[f"lists/{name}"] = np.asarray(values)
    for key, values in state["history"].items():
        arrays[f"history/{key}"] = np.asarray(values, dtype=np.float64)
    optimizer, meta["optimizer"] = state["optimizer"], {}
    for name, value in optimizer.state_dict().items():
        if name in optimizer._state_names and value is not None:
            value = {"kind": "dict" if isinstance(value, Mapping) else "list",
                     "keys": _store(arrays, f"optimizer/{name}", value)}
        meta["optimizer"][name] = value
    meta["batchnorm"] = []
    for i, (name, layer) in enumerate(state["batchnorm"].items()):
        entry = {"layer": name}
        for stat in _BATCHNORM_STATS:
            value = getattr(layer, stat)
            entry[stat] = value is not None
            if value is not None:
                arrays[f"batchnorm/{i}/{stat}"] = np.asarray(value)
        meta["batchnorm"].append(entry)
    _, key, pos, has_gauss, cached = np.random.get_state(legacy=True)  # ('MT19937', key, pos, ...)
    arrays["rng/global_key"] = key
    generator = state["generator"]
    meta["rng"] = {"global": {"pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
                   "generator": None if generator is None else generator.bit_generator.state}
    arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
    save_arrays(path, arrays)


def load_checkpoint(path, like):
    """Read the checkpoint at ``path`` and check it against ``like``, the state (as for :func:`save_checkpoint`)
    of the trainer that will load it: same config and data fingerprints, parameters and optimizer state of the
    same keys, shapes and dtypes, the same batch-norm layers, a generator state exactly when ``like`` has a
    generator. Returns the saved values, changing nothing: {'params', 'best': {key: array}, 'counters': dict,
    'lists', 'history': {name: 1-D array}, 'optimizer': a state dict, 'batchnorm': [(layer, {stat: array or
    None})], 'global_rng': a state for np.random.set_state, 'generator': None or (generator, its state)}. A file
    that does not fit raises ValueError naming the file and what differs."""
    path = _checks.path(path, "path")
    like = _trainer_state(like, "like")
    ck = _CheckpointFile(path)
    saved = ck.get("config")
    diffs = [f"{k}: checkpoint {saved.get(k)!r}, this trainer {v!r}" for k, v in like["config"].items()
             if not isinstance(saved, dict) or k not in saved or saved[k] != v]
    if diffs:
        ck.fail(f"it was saved by a trainer with other settings ({'; '.join(diffs)}); build the trainer with "
                f"the same arguments to resume")
    data = ck.get("data")
    diffs = [name for name, fp in like["data"].items() if not isinstance(data, dict) or data.get(name) != fp]
    if diffs or set(data) != set(like["data"]):
        ck.fail(f"it was saved while training on other data (differs: {', '.join(diffs) or 'the data sets'}): "
                f"resume with the same data")
    params = _param_dict(like["params"])
    values = {"params": ck.arrays_for("params", ck.get("params"), params, every=True)}
    for key, p in params.items():
        if not p.flags.writeable:
            raise ValueError(f"network.params[{key!r}] is read-only, but loading a checkpoint writes into it")
    values["best"] = ck.arrays_for("best", ck.get("best"), params)
    values["counters"] = _read_counters(ck)
    values["lists"] = {name: ck.array(f"lists/{name}", ndim=1) for name in like["lists"]}
    stored = {key[len("history/"):] for key in ck.arrays if key.startswith("history/")}
    if stored != set(like["history"]):
        ck.fail(f"its history holds {sorted(stored)}; expected {sorted(like['history'])}")
    values["history"] = {key: ck.array(f"history/{key}", ndim=1) for key in like["history"]}
    values["optimizer"] = _read_optimizer(ck, like["optimizer"], params)
    values["batchnorm"] = _read_batchnorm(ck, like["batchnorm"])
    values["global_rng"] = _read_global_rng(ck)
    values["generator"] = _read_generator(ck, like["generator"])
    return values


class _CheckpointFile:
    """The arrays of a checkpoint file and its parsed meta data, with accessors that refuse what does not fit."""

    def __init__(self, path):
        self.path = path
        self.arrays = load_arrays(path)
        meta = self.arrays.get("meta")
        if meta is None or meta.shape != () or meta.dtype.kind != "U":
            self.fail("it has no 'meta' entry: not a fastnn Trainer checkpoint")
        try:
            self.meta = json.loads(str(meta), object_hook=_json_hook)
        except ValueError as exc:
            self.fail(f"its meta data is not valid JSON ({exc})")
        if not isinstance(self.meta, dict) or self.meta.get("format") != CHECKPOINT_FORMAT:
            self.fail("not a fastnn Trainer checkpoint")
        if self.meta.get("version") != CHECKPOINT_VERSION:
            self.fail(f"checkpoint format version {self.meta.get('version')!r}; this fastnn reads version "
                      f"{CHECKPOINT_VERSION}")

    def fail(self, why):
        """Raise the ValueError that names this file and ``why``."""
        raise ValueError(f"checkpoint file {self.path!r}: {why}")

    def get(self, *keys):
        """meta[keys[0]][keys[1]]..., or a ValueError naming the missing entry."""
        value = self.meta
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                self.fail(f"meta data has no entry {'/'.join(keys)!r}")
            value = value[key]
        return value

    def array(self, key, like=None, ndim=None):
        """Entry ``key``; with ``like``, checked to have its shape and dtype."""
        a = self.arrays.get(key)
        if a is None:
            self.fail(f"entry {key!r} is missing")
        if like is not None and (a.shape != like.shape or a.dtype != like.dtype):
            self.fail(f"entry {key!r} has shape {a.shape} and dtype {a.dtype}, but this trainer's network "
                      f"needs {like.shape} {like.dtype} there")
        if ndim is not None and a.ndim != ndim:
            self.fail(f"entry {key!r} must be {ndim}-D; got shape {a.shape}")
        return a

    def integer(self, *keys, optional=False):
        """The meta entry as an int >= 0 (None allowed when ``optional``)."""
        value = self.get(*keys)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(f"meta entry {'/'.join(keys)!r} must be an integer >= 0; got {value!r}")
        return value

    def number(self, *keys):
        """The meta entry as a float."""
        value = self.get(*keys)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"meta entry {'/'.join(keys)!r} must be a number; got {value!r}")
        return float(value)

    def arrays_for(self, prefix, keys, like, *, every=False):
        """{key: entry prefix/i} for the listed keys (all keys of ``like`` when ``every``), each checked against
        like[key]."""
        if not isinstance(keys, list):
            self.fail(f"meta entry {prefix!r} must list parameter keys; got {keys!r}")
        unknown = [k for k in keys if not isinstance(k, (str, int)) or k not in like]
        if unknown or len(set(keys)) != len(keys) or (every and len(keys) != len(like)):
            self.fail(f"it holds {prefix} for the parameters {keys}, but this trainer's network has {list(like)}")
        return {key: self.array(f"{prefix}/{i}", like[key]) for i, key in enumerate(keys)}


def _read_counters(ck):
    c = {name: ck.integer("counters", name) for name in ("current_iter", "current_epoch", "target_iter",
                                                          "epochs_without_improvement")}
    c["best_epoch"] = ck.integer("counters", "best_epoch", optional=True)
    c["best_loss"] = ck.number("counters", "best_loss")
    c["stop_training"] = ck.get("counters", "stop_training")
    if not isinstance(c["stop_training"], bool):
        ck.fail(f"meta entry 'counters/stop_training' must be true or false; got {c['stop_training']!r}")
    if c["target_iter"] < c["current_iter"]:
        ck.fail(f"its target iteration {c['target_iter']} is before its current one {c['current_iter']}")
    return c


def _read_optimizer(ck, optimizer, params):
    saved = ck.get("optimizer")
    if not isinstance(saved, dict):
        ck.fail(f"meta entry 'optimizer' must be a dict; got {saved!r}")
    state = {}
    for name, value in saved.items():
        if name in optimizer._state_names and value is not None:
            if not isinstance(value, dict) or value.get("kind") not in ("dict", "list"):
                ck.fail(f"meta entry 'optimizer/{name}' must describe a dict or list of arrays; got {value!r}")
            value = ck.arrays_for(f"optimizer/{name}", value.get("keys"), params, every=True)
            if saved[name]["kind"] == "list":
                value = list(value.values())
        state[name] = value
    try:
        optimizer._checked_state_dict(state)
    except (TypeError, ValueError) as exc:
        ck.fail(f"its optimizer state does not fit this trainer's {type(optimizer).__name__}: {exc}")
    return state


def _read_batchnorm(ck, layers):
    """[(layer, {stat: array or None})] for the network's batch-norm layers."""
    saved = ck.get("batchnorm")
    if not isinstance(saved, list) or not all(isinstance(entry, dict) for entry in saved):
        ck.fail(f"meta entry 'batchnorm' must be a list of layer entries; got {saved!r}")
    names = [entry.get("layer") for entry in saved]
    if names != list(layers):
        ck.fail(f"it holds running statistics for the layers {names}, but this trainer's network has batch-norm "
                f"layers {list(layers)}")
    out = []
    for i, (entry, layer) in enumerate(zip(saved, layers.values())):
        size = np.size(layer.gamma) if hasattr(layer, "gamma") else None
        stats = {}
        for stat in _BATCHNORM_STATS:
            if entry.get(stat) is not True:
                stats[stat] = None
                continue
            a = ck.array(f"batchnorm/{i}/{stat}", ndim=1)
            if a.dtype not in _checks.FLOAT_DTYPES or (size is not None and a.shape != (size,)):
                ck.fail(f"entry 'batchnorm/{i}/{stat}' must be a float array of shape ({size},); got "
                        f"{a.dtype} {a.shape}")
            stats[stat] = a.copy()
        out.append((layer, stats))
    return out


def _read_global_rng(ck):
    key = ck.array("rng/global_key")
    pos, has_gauss = ck.integer("rng", "global", "pos"), ck.integer("rng", "global", "has_gauss")
    if key.shape != (624,) or key.dtype != np.uint32 or pos > 624 or has_gauss > 1:
        ck.fail(f"its global random state is not a valid MT19937 state (key {key.dtype} {key.shape}, "
                f"pos {pos}, has_gauss {has_gauss})")
    return "MT19937", key, pos, has_gauss, ck.number("rng", "global", "cached_gaussian")


def _read_generator(ck, generator):
    """(generator, saved state) for a trainer with a ``seed`` generator (that one, or a new one of the saved bit
    generator's type), None for a trainer without."""
    state = ck.get("rng", "generator")
    if (state is None) != (generator is None):
        ck.fail("seed: the checkpoint and this trainer disagree on whether batches come from a seeded generator")
    if state is None:
        return None
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _GENERATORS:
        ck.fail(f"its generator state names bit generator {name!r}; expected one of {_GENERATORS}")
    try:
        getattr(np.random, name)().state = state  # NumPy's own checks, on a throwaway bit generator
    except (TypeError, ValueError, KeyError) as exc:
        ck.fail(f"its generator state is not a valid {name} state: {exc}")
    if type(generator.bit_generator).__name__ != name:
        generator = np.random.Generator(getattr(np.random, name)())
    return generator, state
