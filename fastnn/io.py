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

Loading takes regular files only (a FIFO would block), allocates nothing from a size a file merely declares (.npz
members are checked against the bytes the file holds before they are read, fastnn/_npz.py; a pickle may build at
most a few times its own size), and checks a whole file against what it is loaded into before changing anything.
"""
import json
import os
import re
import reprlib
import secrets
import stat
import time
import zlib

from collections.abc import Mapping

import numpy as np

from . import _checks, _npz, _pickle
from ._pickle import UnsafePickleError

__all__ = ["save_arrays", "load_arrays", "load_into", "load_pickle", "UnsafePickleError", "save_checkpoint",
           "load_checkpoint", "save_word_vectors", "load_word_vectors"]


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


# A save's temporary file: .tmp-<CRC-32 of the target's name>-<pid>-<random><target's extension>, in the target's
# directory. A save killed mid-write leaves it behind; the next save of the same target removes such leftovers.
STALE_AFTER = 60.0  # seconds without a write before a dead process's temporary file counts as abandoned


def _target_tag(file_name):
    """(CRC-32 of the target's name as 8 hex digits, the target's extension): what its temporary files share."""
    tag = zlib.crc32(os.path.basename(file_name).encode("utf-8", "surrogateescape"))
    return f"{tag:08x}", os.path.splitext(file_name)[1][:16]


def _temporary_name(file_name, pid=None):
    """The name of a temporary file for saving ``file_name`` (by process ``pid``, this one by default)."""
    tag, ext = _target_tag(file_name)
    return f".tmp-{tag}-{os.getpid() if pid is None else pid}-{secrets.token_hex(8)}{ext}"


def _process_exists(pid):
    """Whether process ``pid`` exists on this machine; True when that cannot be told (then nothing is removed)."""
    if os.name != "posix" or pid <= 0:  # (on Windows os.kill would end the process)
        return True
    try:
        os.kill(pid, 0)  # signal 0: only the existence check
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: it exists, owned by another user
        return True
    return True


def _remove_stale_temporaries(directory, file_name):
    """Remove what saves of ``file_name`` killed mid-write left in ``directory``: regular files named with fastnn's
    pattern for this target only, whose writer (the pid in the name) is not running here and which nobody has
    written for STALE_AFTER seconds. Both conditions, so that a live save is never disturbed: not this process's
    own (another thread may be saving), nor another machine's or container's on a shared directory, where the pid
    means nothing (its file is being written, so it is recent). Best effort: an error only leaves a file."""
    tag, ext = _target_tag(file_name)
    pattern = re.compile(rf"\.tmp-{tag}-([0-9]{{1,10}})-[0-9a-f]{{16}}{re.escape(ext)}")
    now = time.time()
    try:
        with os.scandir(directory) as listing:
            entries = list(listing)
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if (stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_AFTER
                    and not _process_exists(int(match.group(1)))):
                os.unlink(entry.path)
        except OSError:
            pass


def write_atomically(file_name, write, text=False, name="file_name"):
    """Write ``file_name`` so that it is never seen half-written; returns None. ``write(f)`` fills a temporary file
    in the same directory (opened in text mode, UTF-8, when ``text``), created with an ordinary new file's
    permissions, flushed to disk and renamed over the target; the directory is flushed too, so the rename survives
    a crash. On any error the temporary file goes and the old file stays. Temporary files that earlier saves of
    the same target left when they were killed are removed first (see _remove_stale_temporaries). ``name`` is the
    argument that error messages name."""
    directory = existing_directory(file_name, name)
    _remove_stale_temporaries(directory, file_name)
    tmp = os.path.join(directory, _temporary_name(file_name))
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
    """Returns the arrays of a pickle file holding a dict of NumPy arrays (the books' weight files, or
    ``pickle.dump(params, f)`` of numeric arrays at any protocol; empty arrays at protocols 0-2 are not read, as
    their pickle calls ``builtins.bytes``) as a plain dict {str: ndarray}, with the file's shapes and dtypes
    (writable copies), read without running any code from the file. Entries may also be vocabularies, dicts whose
    keys and values are str or int (the second book's ``cbow_params.pkl``: {'word_vecs': float16 array,
    'word_to_id': {str: int}, 'id_to_word': {int: str}}), returned as plain dicts.

    The unpickler admits only NumPy's array reconstruction, through fastnn's own checked stand-ins (NumPy's
    reconstruction functions are never called; the arrays are np.frombuffer copies of checked bytes):
    ``numpy.core.multiarray._reconstruct`` with class ``numpy.ndarray`` only, ``numpy.core.numeric._frombuffer``
    (protocol 5), both also as ``numpy._core``; ``numpy.dtype`` of bool, integer, float and complex codes;
    ``_codecs.encode(str, 'latin1')`` (bytes at protocols 0-2); ``collections.OrderedDict()``. Refused with
    :class:`UnsafePickleError` (a ValueError and a pickle.UnpicklingError) before any of it runs: every other
    global (``os.system``, ``builtins.eval``, an ndarray subclass, NumPy scalars, ...); object, structured and
    subarray dtypes; the opcodes INST, OBJ, NEWOBJ, NEWOBJ_EX, persistent ids, extension codes, sets and
    out-of-band buffers. A top level that is not a dict of str -> array, and a truncated or damaged file, raise
    ValueError, as does anything but str and int in a vocabulary; every error names the file. What a file builds
    (arrays and vocabularies, counting entries referenced twice) is bounded by a few times its size."""
    return _pickle.read(_checks.path(file_name, "file_name"), vocabularies=True)


def save_word_vectors(file_name, word_vecs, word_to_id, id_to_word):
    """Write word vectors and their vocabulary (what the second book pickles as ``cbow_params.pkl``) to one .npz
    file, atomically and without pickle: the 2-D float array ``word_vecs`` as it is (float16 stays float16), and
    the words in id order as a JSON text entry; returns None. ``word_to_id`` and ``id_to_word`` must be each
    other's inverse over the ids 0..len(word_vecs)-1 (checked before anything is written)."""
    from . import _wordvecs

    _wordvecs.save(file_name, word_vecs, word_to_id, id_to_word)


def load_word_vectors(file_name):
    """The dict {'word_vecs': array, 'word_to_id': {str: int}, 'id_to_word': {int: str}} of a file that
    :func:`save_word_vectors` wrote (the keys of the book's ``cbow_params.pkl``), read with the bounded .npz reader
    and checked: one distinct word per row; ValueError naming the file otherwise."""
    from . import _wordvecs

    return _wordvecs.load(file_name)


def _unreadable(file_name, name="file_name", what="fastnn parameter file"):
    """The start of the error for a file that is not a readable .npz."""
    return f"{name} {file_name!r} is not a readable {what} (.npz)"


def _is_zip(head):
    return head in (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty zip's directory


def load_arrays(file_name, *, like=None):
    """Returns the dict of arrays in ``file_name``: saved by :func:`save_arrays` (.npz, stored or deflated; object
    arrays are refused, never unpickled), or a pickle of a dict of arrays such as the book's weight files, read by
    :func:`load_pickle` (no code from the file runs). The format is told by the content (zip or pickle), not by the
    name; the file must be a regular file.

    Nothing is allocated from a size the file only declares: each .npz member's header is checked against the
    member's size, and that against the bytes the file holds. With ``like`` (a dict of arrays, e.g. a network's
    params), the file must hold exactly its keys with the same shapes and real-number dtypes; for a .npz this is
    checked from the zip directory and the members' headers before any array data is read."""
    return _read_arrays(_checks.path(file_name, "file_name"), file_name, like)


def _read_arrays(path, file_name, like, exact_dtype=False):
    """load_arrays, with ``exact_dtype``: the dtypes of ``like`` too (see _fits)."""
    with _checks.open_regular_file(path, "file_name") as f:
        head = f.read(4)
        if _is_zip(head) or not _pickle.is_pickle(head):  # b"P" is also a protocol-0 opcode
            npz = _npz.Npz(f, _unreadable(file_name))
            try:
                if like is not None:
                    _same_keys(npz.keys, like, file_name)
                    for key in npz.keys:
                        m = npz.member(key)
                        _fits(key, m.shape, m.dtype, like[key], file_name, exact_dtype)
                return {key: npz.read(key) for key in npz.keys}
            finally:
                npz.close()
    arrays = _pickle.read(path)  # arrays only
    if like is not None:
        _same_keys(list(arrays), like, file_name)
        for key, value in arrays.items():
            _fits(key, value.shape, value.dtype, like[key], file_name, exact_dtype)
    return arrays


def _same_keys(keys, like, file_name):
    if set(keys) != set(like):
        raise ValueError(f"file_name {file_name!r} holds parameters {sorted(keys)}, but the network has "
                         f"{sorted(like)}")


def _fits(key, shape, dtype, target, file_name, exact_dtype):
    """Refuse a saved shape and dtype that ``target`` cannot take: another shape, or another dtype when
    ``exact_dtype`` (else anything but real numbers)."""
    if shape != np.shape(target) or (dtype != target.dtype if exact_dtype else dtype.kind not in "biuf"):
        raise ValueError(f"file_name {file_name!r}: parameter {key!r} has shape {shape} and dtype {dtype}, but the "
                         f"network expects {np.shape(target)} "
                         f"{target.dtype if exact_dtype else 'real numbers'}")


def load_into(params, file_name):
    """Copy saved arrays (a .npz file or a pickle, as for :func:`load_arrays`) into the existing ``params`` arrays in
    place, after checking that the file holds exactly the same keys with the same shapes and dtypes (for a .npz,
    from its directory and headers before reading any data) and that every target is writable; returns None. A
    refused file changes nothing."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> array; got {type(params).__name__}")
    for key, target in params.items():
        if not isinstance(target, np.ndarray):
            raise TypeError(f"params[{key!r}] must be a NumPy array (it is loaded into in place); got "
                            f"{type(target).__name__}")
    saved = _read_arrays(_checks.path(file_name, "file_name"), file_name, params, exact_dtype=True)
    for key in saved:
        _checks.writable_float_array(params[key], f"params[{key!r}]")  # all checked before any is overwritten
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


# the dtypes _json_default writes (MT19937's key is uint32); others, e.g. "U500000000", would allocate from the file
_JSON_DTYPES = frozenset(f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)) | {"float32",
                                                                                                     "float64"}
_MAX_META_CHARS = 1 << 24  # a checkpoint's meta data is a few KB; this bounds what parsing it may take
_MAX_META_DEPTH = 32  # the format nests 6 deep; deeper JSON would exhaust the parser's recursion
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _short(value):
    """A value from the meta data, shortened for an error message."""
    return reprlib.repr(value)


def _json_array(obj, ck):
    """{'__ndarray__': [numbers], 'dtype': name}, as _json_default writes an array, as that array (checked before
    NumPy sees it: numbers of the dtype's range only)."""
    values, name = obj.get("__ndarray__"), obj.get("dtype")
    if set(obj) != {"__ndarray__", "dtype"} or name not in _JSON_DTYPES or not isinstance(values, list):
        ck.fail(f"an array in its generator state must be {{'__ndarray__': [numbers], 'dtype': one of "
                f"{sorted(_JSON_DTYPES)}}}; got {_short(obj)}")
    dtype = np.dtype(name)
    if dtype.kind == "f":
        fits = all(type(v) in (int, float) and abs(v) <= np.finfo(dtype).max for v in values)
    else:
        fits = all(type(v) is int and np.iinfo(dtype).min <= v <= np.iinfo(dtype).max for v in values)
    if not fits:
        ck.fail(f"an array in its generator state holds values that are not {dtype} numbers: {_short(values)}")
    return np.array(values, dtype=dtype)


def _with_arrays(value, ck):
    """A generator state from the meta data with its arrays (MT19937's key, ...) made ndarrays."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _json_array(value, ck)
        return {key: _with_arrays(item, ck) for key, item in value.items()}
    return value


def _json_depth(text):
    """The deepest nesting of JSON arrays and objects in ``text`` (brackets inside strings not counted), counted
    without recursion."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii")
    steps = np.frombuffer(brackets, np.uint8)
    depth = np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1))
    return int(depth.max(initial=0))


def _parse_meta(text):
    """The checkpoint's meta data: JSON, checked to be shallow first; ValueError if not. Arrays stay in their JSON
    form here (_with_arrays makes them where the format has them)."""
    depth = _json_depth(text)
    if depth > _MAX_META_DEPTH:
        raise ValueError(f"its meta data nests {depth} deep (the format needs far less than {_MAX_META_DEPTH})")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # (too many digits in an integer is a ValueError too)
        raise ValueError(f"its meta data is not valid JSON ({type(exc).__name__}: {exc})") from None


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
    with _CheckpointFile(path) as ck:
        return _read_checkpoint(ck, like)


def _read_checkpoint(ck, like):
    """load_checkpoint's values from the open file ``ck``."""
    saved = ck.get("config")
    if not isinstance(saved, dict):
        ck.fail(f"meta entry 'config' must be a dict; got {_short(saved)}")
    diffs = [f"{k}: checkpoint {_short(saved.get(k))}, this trainer {v!r}" for k, v in like["config"].items()
             if k not in saved or saved[k] != v]
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
    values["counters"] = c = _read_counters(ck, like["config"])
    # at most one entry per iteration (losses) or per epoch evaluation (history), of real numbers
    values["lists"] = {name: ck.array(f"lists/{name}", ndim=1, kinds="iuf", longest=c["current_iter"])
                       for name in like["lists"]}
    stored = {key[len("history/"):] for key in ck.keys if key.startswith("history/")}
    if stored != set(like["history"]):
        ck.fail(f"its history holds {sorted(stored)}; expected {sorted(like['history'])}")
    values["history"] = {key: ck.array(f"history/{key}", ndim=1, kinds="iuf", longest=c["current_epoch"])
                         for key in like["history"]}
    values["optimizer"] = _read_optimizer(ck, like["optimizer"], params)
    values["batchnorm"] = _read_batchnorm(ck, like["batchnorm"])
    values["global_rng"] = _read_global_rng(ck)
    values["generator"] = _read_generator(ck, like["generator"])
    return values


class _CheckpointFile:
    """An open checkpoint file: its parsed meta data, and accessors that read an array only after its header fits
    what is expected there, and that refuse what does not fit. A context manager (closes the file)."""

    def __init__(self, path):
        self.path = path
        f = _checks.open_regular_file(path, "path")
        try:
            # stored members only (save_arrays writes no others): an entry's size is then bytes the file holds
            self._npz = _npz.Npz(f, _unreadable(path, "path", "fastnn checkpoint"), stored_only=True)
            self.keys = self._npz.keys
            self.meta = self._read_meta()
        except BaseException:
            f.close()
            raise
        self._file = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._npz.close()
        self._file.close()

    def _read_meta(self):
        m = self._npz.member("meta") if "meta" in self.keys else None
        if m is None or m.shape != () or m.dtype.kind != "U":
            self.fail("it has no 'meta' entry: not a fastnn Trainer checkpoint")
        if m.dtype.itemsize > 4 * _MAX_META_CHARS:
            self.fail(f"its meta data has {m.dtype.itemsize // 4} characters (at most {_MAX_META_CHARS})")
        try:
            meta = _parse_meta(str(self._npz.read("meta")))
        except ValueError as exc:
            self.fail(str(exc))
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            self.fail("not a fastnn Trainer checkpoint")
        if meta.get("version") != CHECKPOINT_VERSION:
            self.fail(f"checkpoint format version {_short(meta.get('version'))}; this fastnn reads version "
                      f"{CHECKPOINT_VERSION}")
        return meta

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

    def array(self, key, like=None, ndim=None, kinds=None, longest=None):
        """Entry ``key``, read once its header fits: with ``like``, its shape and dtype; ``ndim`` dimensions, a
        dtype kind in ``kinds``, at most ``longest`` entries."""
        if key not in self.keys:
            self.fail(f"entry {key!r} is missing")
        m = self._npz.member(key)
        if like is not None and (m.shape != like.shape or m.dtype != like.dtype):
            self.fail(f"entry {key!r} has shape {m.shape} and dtype {m.dtype}, but this trainer's network "
                      f"needs {like.shape} {like.dtype} there")
        if ndim is not None and len(m.shape) != ndim:
            self.fail(f"entry {key!r} must be {ndim}-D; got shape {m.shape}")
        if kinds is not None and m.dtype.kind not in kinds:
            self.fail(f"entry {key!r} must hold real numbers; got dtype {m.dtype}")
        if longest is not None and m.shape[0] > longest:
            self.fail(f"entry {key!r} holds {m.shape[0]} values; its counters allow at most {longest}")
        return self._npz.read(key)

    def integer(self, *keys, optional=False):
        """The meta entry as an int >= 0 (None allowed when ``optional``)."""
        value = self.get(*keys)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(f"meta entry {'/'.join(keys)!r} must be an integer >= 0; got {_short(value)}")
        return value

    def number(self, *keys):
        """The meta entry as a float."""
        value = self.get(*keys)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"meta entry {'/'.join(keys)!r} must be a number; got {_short(value)}")
        return float(value)

    def arrays_for(self, prefix, keys, like, *, every=False):
        """{key: entry prefix/i} for the listed keys (all keys of ``like`` when ``every``), each checked against
        like[key]."""
        if not isinstance(keys, list):
            self.fail(f"meta entry {prefix!r} must list parameter keys; got {_short(keys)}")
        unknown = [k for k in keys if isinstance(k, bool) or not isinstance(k, (str, int)) or k not in like]
        if unknown or len(set(keys)) != len(keys) or (every and len(keys) != len(like)):
            self.fail(f"it holds {prefix} for the parameters {_short(keys)}, but this trainer's network has "
                      f"{list(like)}")
        return {key: self.array(f"{prefix}/{i}", like[key]) for i, key in enumerate(keys)}


def _schedule(config):
    """(iterations per epoch, iterations per train() call) of the first book's Trainer with ``config``."""
    per_epoch = max(config["train_size"] / config["mini_batch_size"], 1)  # as Trainer.__init__ computes them
    return per_epoch, int(config["epochs"] * per_epoch)


def _evaluations(iterations, per_epoch):
    """How many epoch evaluations the Trainer has made after ``iterations`` iterations: one after each iteration i
    with i % per_epoch == 0, i.e. (per_epoch a float: p / 2**k in lowest terms) each multiple of p."""
    step = per_epoch.as_integer_ratio()[0]
    return -(-iterations // step)


def _read_counters(ck, config):
    """The counters, checked against each other and the trainer's settings (a resumed train() runs at most the
    iterations one train() call runs)."""
    c = {name: ck.integer("counters", name) for name in ("current_iter", "current_epoch", "target_iter",
                                                          "epochs_without_improvement")}
    c["best_epoch"] = ck.integer("counters", "best_epoch", optional=True)
    c["best_loss"] = ck.number("counters", "best_loss")
    c["stop_training"] = ck.get("counters", "stop_training")
    if not isinstance(c["stop_training"], bool):
        ck.fail(f"meta entry 'counters/stop_training' must be true or false; got {_short(c['stop_training'])}")
    if c["target_iter"] < c["current_iter"]:
        ck.fail(f"its target iteration {c['target_iter']} is before its current one {c['current_iter']}")
    per_epoch, run = _schedule(config)
    if c["target_iter"] - c["current_iter"] > run:
        ck.fail(f"its target iteration {c['target_iter']} is more than one run ({run} iterations: epochs x "
                f"iterations per epoch) after its current one {c['current_iter']}")
    evaluations = _evaluations(c["current_iter"], per_epoch)
    if c["current_epoch"] != evaluations:
        ck.fail(f"its counters say epoch {c['current_epoch']} after {c['current_iter']} iterations; with "
                f"{per_epoch:g} iterations per epoch that is epoch {evaluations}")
    for name in ("best_epoch", "epochs_without_improvement"):
        if (c[name] or 0) > evaluations:
            ck.fail(f"meta entry 'counters/{name}' is {c[name]}, after only {evaluations} epochs")
    return c


def _read_optimizer(ck, optimizer, params):
    saved = ck.get("optimizer")
    if not isinstance(saved, dict):
        ck.fail(f"meta entry 'optimizer' must be a dict; got {_short(saved)}")
    state = {}
    for name, value in saved.items():
        if name in optimizer._state_names and value is not None:
            if not isinstance(value, dict) or value.get("kind") not in ("dict", "list"):
                ck.fail(f"meta entry 'optimizer/{name}' must describe a dict or list of arrays; got {_short(value)}")
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
        ck.fail(f"meta entry 'batchnorm' must be a list of layer entries; got {_short(saved)}")
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
        ck.fail(f"its generator state names bit generator {_short(name)}; expected one of {_GENERATORS}")
    state = _with_arrays(state, ck)
    try:
        getattr(np.random, name)().state = state  # NumPy's own checks, on a throwaway bit generator
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        ck.fail(f"its generator state is not a valid {name} state: {exc}")
    if type(generator.bit_generator).__name__ != name:
        generator = np.random.Generator(getattr(np.random, name)())
    return generator, state
