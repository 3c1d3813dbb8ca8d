"""Saving and loading parameters: ``.npz`` files read with ``allow_pickle=False`` and written atomically (to a
temporary file in the same directory, flushed to disk, then renamed over the target), so a crash mid-save leaves
the previous file intact.

The first book's Trainer checkpoint is such a file too (:func:`save_checkpoint`, :func:`load_checkpoint`): the
arrays under names like ``params/0``, ``optimizer/m/1``, ``history/test_acc``, and one JSON ``meta`` entry that
describes them (no pickle; the schema and its checks are in fastnn/_checkpoint.py).

Reading also takes the pickles the book ships its trained weights in (``ch03/sample_weight.pkl``, ...):
:func:`load_pickle` reads a pickled dict of numeric arrays through a restricted unpickler that runs no code from
the file (fastnn/_pickle.py), and :func:`load_arrays` and :func:`load_into` tell the two formats apart by content.
Writing is .npz only.

Loading takes regular files only (a FIFO would block), allocates nothing from a size a file merely declares (.npz
members are checked against the bytes the file holds before they are read, fastnn/_npz.py; a pickle may build at
most a few times its own size), and checks a whole file against what it is loaded into before changing anything.
"""
import os
import re
import secrets
import stat
import time
import zlib

from collections.abc import Mapping

import numpy as np

from . import _checkpoint, _checks, _npz, _pickle, _wordvecs
from ._checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, batchnorm_layers, fingerprint  # noqa: F401
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
    file_name = _checks.path(file_name, "file_name")
    save_arrays(file_name, _wordvecs.entries(word_vecs, word_to_id, id_to_word))


def load_word_vectors(file_name):
    """The dict {'word_vecs': array, 'word_to_id': {str: int}, 'id_to_word': {int: str}} of a file that
    :func:`save_word_vectors` wrote (the keys of the book's ``cbow_params.pkl``), read with the bounded .npz reader
    and checked: one distinct word per row; ValueError naming the file otherwise."""
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


# --- the Trainer's checkpoint file (its schema: fastnn/_checkpoint.py) -------------------------------------------
def save_checkpoint(path, state):
    """Write a trainer's ``state`` to ``path`` atomically (see :func:`save_arrays`); returns None.

    ``state`` holds: 'config' and 'counters' (JSON values), 'data' ({name: :func:`fingerprint`}), 'params'
    ({key: array}), 'lists' ({name: sequence of numbers}), 'callbacks' ({'History': its ``state_dict()``,
    'EarlyStopping': its ``state_dict()`` or None}), 'optimizer' (the optimizer, whose ``state_dict()`` is saved),
    'batchnorm' (:func:`batchnorm_layers`) and 'generator' (the trainer's ``np.random.Generator`` or None).
    NumPy's global MT19937 state is saved too."""
    path = _checks.path(path, "path")
    save_arrays(path, _checkpoint.arrays_of(state))


def load_checkpoint(path, like):
    """Read the checkpoint at ``path`` and check it against ``like``, the state (as for :func:`save_checkpoint`)
    of the trainer that will load it: same config and data fingerprints, parameters and optimizer state of the
    same keys, shapes and dtypes, the same batch-norm layers, a generator state exactly when ``like`` has a
    generator. Returns the saved values, changing nothing: {'params', 'counters': dict, 'lists': {name: 1-D
    array}, 'callbacks': {'History': a state dict, 'EarlyStopping': a state dict (a fresh one's when the saving
    trainer had none)}, 'optimizer': a state dict, 'batchnorm': [(layer, {stat: array or None})], 'global_rng': a
    state for np.random.set_state, 'generator': None or (generator, its state)}. A file that does not fit raises
    ValueError naming the file and what differs."""
    return _checkpoint.read(_checks.path(path, "path"), like)
