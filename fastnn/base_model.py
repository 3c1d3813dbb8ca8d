"""The second book's ``common/base_model.py``: ``BaseModel``, the base of its chapter models (``Rnnlm``,
``BetterRnnlm``, ``Seq2seq``, ``AttentionSeq2seq``...), with ``params``/``grads`` lists and
``save_params``/``load_params``.

File names are the book's: ``file_name=None`` means the class name + ``'.pkl'`` (``Rnnlm.pkl``), in the working
directory. What is written differs: fastnn never writes pickle. ``save_params`` writes ``.npz`` content under the
name given (``Rnnlm.pkl`` holds a zip of arrays ``'0'``, ``'1'``, ... in ``params`` order), atomically (a temporary
file renamed over the target, fastnn.io.write_atomically), so a crash never leaves a half-written file and a
script that saves and later loads with the default name works unchanged. Values are stored as float16, as the
book stores them (so a model saved by fastnn and reloaded predicts what the book's reloaded model predicts);
``save_params(dtype=None)`` keeps the parameters' own dtype.

``load_params`` tells the format by content: fastnn's ``.npz`` or the book's pickle (a pickled list of float16
arrays: ``ch06/Rnnlm.pkl``, ``ch08/AttentionSeq2seq.pkl``), read through fastnn's restricted unpickler (no code
from the file runs; fastnn/_pickle.py). The values are cast to each parameter's dtype and copied into the existing
arrays in place, after the count and every shape have been checked: a refused file changes nothing.
"""
import os

import numpy as np

from . import _checks
from ._dispatch import lazy_module

# loaded on the first save or load: a model's import does not pay for them
io, _pickle = lazy_module("fastnn.io"), lazy_module("fastnn._pickle")

__all__ = ["BaseModel", "read_params"]

SAVED_DTYPE = np.float16  # what the book's save_params stores


def _default_name(model, file_name):
    """The book's file name: the class name + '.pkl' by default, '/' read as the OS's separator."""
    if file_name is None:
        return type(model).__name__ + ".pkl"
    file_name = _checks.path(file_name, "file_name")
    return file_name.replace("/", os.sep) if "/" in file_name else file_name


def _param_list(params, writable=False):
    """``params`` checked to be a list (or tuple) of arrays (float arrays that can be written in place, when
    ``writable``)."""
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"the model's params must be a list of NumPy arrays; got {type(params).__name__}")
    for i, p in enumerate(params):
        if writable:
            _checks.writable_float_array(p, f"params[{i}]")
        elif not isinstance(p, np.ndarray):
            raise TypeError(f"params[{i}] must be a NumPy array; got {type(p).__name__}")
    return list(params)


def _saved_list(file_name):
    """The arrays of a parameter file in order: fastnn's .npz (arrays '0', '1', ...) or the book's pickled list."""
    with _checks.open_regular_file(file_name, "file_name") as f:
        head = f.read(4)
    if not io._is_zip(head) and _pickle.is_pickle(head):
        return _pickle.read_list(file_name)
    arrays = io.load_arrays(file_name)  # .npz (load_arrays refuses a pickle of a dict here, as it is no list)
    expected = [str(i) for i in range(len(arrays))]
    if sorted(arrays) != sorted(expected):
        raise ValueError(f"file_name {file_name!r} holds arrays named {sorted(arrays)[:10]}, not a model's "
                         f"parameter list (arrays '0' to '{len(arrays) - 1}', as save_params writes)")
    return [arrays[key] for key in expected]


def read_params(file_name, params):
    """The arrays saved in ``file_name`` (see the module docstring), checked against ``params`` (a model's list of
    arrays): the same count, each with the same shape and real numbers; returns them as a list in ``params``
    order, as stored (not yet cast). ValueError naming the file otherwise."""
    saved = _saved_list(file_name)
    if len(saved) != len(params):
        raise ValueError(f"file_name {file_name!r} holds {len(saved)} parameter arrays, but the model has "
                         f"{len(params)}")
    for i, (value, target) in enumerate(zip(saved, params)):
        if value.shape != target.shape or value.dtype.kind not in "biuf":
            raise ValueError(f"file_name {file_name!r}: parameter {i} has shape {value.shape} and dtype "
                             f"{value.dtype}, but the model's params[{i}] is a {target.shape} array of real numbers")
    return saved


class BaseModel:
    """The book's base model: ``params`` and ``grads`` (lists of arrays, set by the subclass), ``forward`` and
    ``backward`` for the subclass to define, and ``save_params``/``load_params`` (see the module docstring)."""

    def __init__(self):
        self.params, self.grads = None, None

    def forward(self, *args):
        """Defined by the subclass (the loss); here NotImplementedError."""
        raise NotImplementedError

    def backward(self, *args):
        """Defined by the subclass (the gradients into ``grads``); here NotImplementedError."""
        raise NotImplementedError

    def save_params(self, file_name=None, *, dtype=SAVED_DTYPE):
        """Write ``params`` to ``file_name`` (default: class name + '.pkl') as .npz content, atomically, each array
        cast to ``dtype`` (float16 as the book; None keeps each parameter's dtype); returns None."""
        file_name = _default_name(self, file_name)
        params = _param_list(self.params)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"dtype must be a float dtype (float16 as the book, float32, float64) or None; "
                                f"got {dtype}")
        io.save_arrays(file_name, {str(i): p if dtype is None else p.astype(dtype) for i, p in enumerate(params)})

    def load_params(self, file_name=None):
        """Copy the parameters saved in ``file_name`` (default: class name + '.pkl'; fastnn's .npz or the book's
        pickle) into ``params`` in place, cast to each array's dtype; returns None. A missing file is the book's
        ``IOError('No file: ' + file_name)`` (a FileNotFoundError); a file whose count or shapes do not fit, or a
        pickle holding anything but arrays, is refused (ValueError) before any parameter changes."""
        file_name = _default_name(self, file_name)
        if not os.path.exists(file_name):
            raise FileNotFoundError("No file: " + file_name)
        params = _param_list(self.params, writable=True)
        saved = read_params(file_name, params)
        for target, value in zip(params, saved):
            target[...] = value
