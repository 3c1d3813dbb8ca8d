"""The restricted unpickler behind fastnn.io.load_pickle, in the manner of ``torch.load(weights_only=True)``: it
reads a pickled dict of numeric NumPy arrays (the book's weight files), or with :func:`read_list` a pickled list of
them (the second book's ``BaseModel.save_params`` files), and runs no code from the file.

How: the file is first scanned opcode by opcode with pickletools (which only parses): an opcode outside _OPCODES, or a
GLOBAL outside _ADMITTED, is refused before the unpickler starts. While unpickling, find_class admits only the names
of _ADMITTED, and these resolve to fastnn's own stand-ins, never to NumPy's functions: the stand-ins check their
arguments and collect each array's shape, dtype and bytes in inert records (_Dtype, _Array). No NumPy object and no
class is ever on the unpickler's stack, so REDUCE, BUILD and the container opcodes reach only the stand-ins (which
refuse BUILD, or check its state). The arrays are made afterwards, by np.frombuffer on checked bytes of a checked
bool/int/uint/float/complex dtype.

Besides arrays, load_pickle (not load_arrays) reads vocabularies, as the second book's ``cbow_params.pkl`` holds
them: a top-level entry that is a dict whose keys and values are all str or int (int64's range), such as
{word: id} and {id: word}. These are plain data, built by the unpickler's own opcodes from no global; anything else
in such a dict (an array, a float, a container, an object a stand-in made) is refused.

What a pickle builds is bounded by its size: memo references (GET, DUP) let a small file name one large object many
times, and each use through a stand-in that copies (``_codecs.encode``, an array's data given as bytearray or str,
and each dict entry's final array or vocabulary copy) is charged to a budget of _BUDGET_FACTOR times the file's
size. A vocabulary's copy is charged _ENTRY_BYTES per entry plus the characters of its strings. An honest file is
charged each array's bytes twice at most (its bytes, then the final copy) and each vocabulary about once, which
leaves room for an array saved under two keys; a file over budget is refused before the copy that would exceed it.
"""
import collections
import contextvars
import math
import pickle
import pickletools
import re
import reprlib
from io import BytesIO

import numpy as np

from . import _checks


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle that fastnn.io.load_pickle refuses to read: it names a global, an opcode or a dtype that a dict of
    numeric NumPy arrays does not need. Both a ValueError and a pickle.UnpicklingError."""


_OPCODES = frozenset("""PROTO FRAME STOP MARK POP POP_MARK DUP PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET
    NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT STRING BINSTRING SHORT_BINSTRING
    UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8 BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 EMPTY_TUPLE TUPLE
    TUPLE1 TUPLE2 TUPLE3 EMPTY_LIST LIST APPEND APPENDS EMPTY_DICT DICT SETITEM SETITEMS GLOBAL STACK_GLOBAL REDUCE
    BUILD""".split())
# the first byte of a protocol 0/1 pickle: an opcode that pushes a value onto the empty stack (protocols 2-5 start
# with PROTO, b"\x80")
_STARTS = frozenset(op.code.encode("latin-1") for op in pickletools.opcodes
                    if op.proto <= 1 and not op.stack_before and op.stack_after)
_NUMERIC_CODE = re.compile(r"[biufc][0-9]{1,2}")  # numpy.dtype's first argument for a numeric dtype: 'f8', 'b1', ...


def is_pickle(head):
    """Whether ``head``, a file's first bytes, starts a pickle (protocol 2+: PROTO; protocol 0/1: an opcode that
    pushes a value). Callers check for zip's b"PK\\x03\\x04" first: b"P" is also protocol 0's PERSID."""
    return head[:1] == b"\x80" or head[:1] in _STARTS


class _Repr(reprlib.Repr):
    """reprlib's short repr, bytes included (an array's data can be large)."""

    def repr_bytes(self, x, level):
        return repr(x[:self.maxstring]) + ("..." if len(x) > self.maxstring else "")

    repr_bytearray = repr_bytes

    def repr_int(self, x, level):
        # (repr of an int of more than 4300 digits raises ValueError; a pickle can hold one)
        return f"<an int of {x.bit_length()} bits>" if x.bit_length() > 64 else repr(x)


_REPR = _Repr()
_REPR.maxstring = _REPR.maxother = 60


_BUDGET_FACTOR = 4
_ENTRY_BYTES = 16  # what a vocabulary entry's copy is charged besides its strings (an honest file spends 4-8)
_INT64 = 2 ** 63


class _Budget:
    """The bytes the stand-ins of one read may still copy (see the module docstring)."""
    __slots__ = ("limit", "left")

    def __init__(self, limit):
        self.limit = self.left = limit

    def charge(self, n, what):
        """Take ``n`` bytes for ``what``, or raise UnsafePickleError when the budget is spent."""
        self.left -= n
        if self.left < 0:
            raise UnsafePickleError(f"the pickle builds more than {self.limit} bytes of arrays and vocabularies "
                                    f"({what}), {_BUDGET_FACTOR} times its size: one object referenced many times "
                                    f"(memo references are counted)")


_BUDGET = contextvars.ContextVar("fastnn_pickle_budget")


def _what(value):
    """A short description of a value the pickle passed, for error messages."""
    if isinstance(value, _Admitted):
        return f"the global {value!r}"
    if isinstance(value, (_Array, _Dtype)):
        return f"an object the pickle built ({value!r})"
    return f"{type(value).__name__} {_REPR.repr(value)}"


class _Admitted:
    """What find_class returns for an admitted global: a callable stand-in (for numpy.ndarray, a token that only
    _reconstruct accepts), which refuses BUILD so that no pickle can change it."""
    __slots__ = ("name", "function")

    def __init__(self, name, function=None):
        self.name, self.function = name, function

    def __repr__(self):
        return self.name

    def __call__(self, *args):
        if self.function is None:
            raise UnsafePickleError(f"the pickle calls {self.name}, which is admitted only as the class argument of "
                                    f"numpy.core.multiarray._reconstruct")
        return self.function(*args)

    def __setstate__(self, state):
        raise UnsafePickleError(f"the pickle sets state on {self.name} (BUILD)")


class _Dtype:
    """A numeric dtype: numpy.dtype's arguments (checked by _dtype) and optional state (checked here)."""
    __slots__ = ("dtype", "has_state")

    def __init__(self, dtype):
        self.dtype, self.has_state = dtype, False

    def __repr__(self):
        return f"dtype {self.dtype}"

    def __setstate__(self, state):
        if self.has_state:
            raise UnsafePickleError(f"the pickle sets the state of a {self!r} twice")
        self.has_state = True
        # NumPy writes (3, byte order, subarray, names, fields, elsize, alignment, flags) for a numeric dtype
        if (not isinstance(state, tuple) or len(state) != 8 or type(state[0]) is not int or state[0] != 3
                or state[1] not in ("<", ">", "|", "=") or state[2:5] != (None, None, None)
                or not all(type(v) is int for v in state[5:]) or state[5:] != (-1, -1, 0)):
            raise UnsafePickleError(f"the state of a {self!r} is {_what(state)}, not that of a numeric dtype "
                                    f"(subarray, structured and object dtypes are refused)")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


class _Array:
    """An array's shape, dtype, memory order and bytes, from _reconstruct and the state BUILD gives it (or from
    _frombuffer), made into an ndarray by :meth:`array` once unpickling is over."""
    __slots__ = ("shape", "dtype", "order", "axes", "data")

    def __init__(self):
        self.shape = self.dtype = self.order = self.axes = self.data = None

    def __repr__(self):
        return "array without data" if self.data is None else f"array {self.dtype} {self.shape}"

    def fill(self, shape, dtype, order, data, axes=None):
        """Check and keep the array's description (``order`` 'C' or 'F', or 'K' with ``axes``); returns self."""
        if self.data is not None:
            raise UnsafePickleError(f"the pickle sets the contents of an {self!r} twice")
        if (not isinstance(shape, tuple) or len(shape) > 64
                or not all(type(n) is int and 0 <= n < 2 ** 62 for n in shape)):
            raise UnsafePickleError(f"an array's shape is {_what(shape)}, not a tuple of sizes")
        if not isinstance(dtype, _Dtype):
            raise UnsafePickleError(f"an array's dtype is {_what(dtype)}, not a numpy.dtype of this pickle")
        if order == "K" and not (isinstance(axes, tuple) and all(type(i) is int for i in axes)
                                 and sorted(axes) == list(range(len(shape)))):
            raise UnsafePickleError(f"an array's axis order is {_what(axes)}, not a permutation of its axes")
        if not isinstance(data, (bytes, bytearray, str)):
            raise UnsafePickleError(f"an array's data is {_what(data)}, not bytes (object arrays are refused)")
        if len(data) != math.prod(shape) * dtype.dtype.itemsize:
            raise UnsafePickleError(f"an array of shape {shape} and dtype {dtype.dtype} has {len(data)} bytes of "
                                    f"data")
        if type(data) is not bytes:  # copied below
            _BUDGET.get().charge(len(data), f"an array's data, {len(data)} bytes")
        if isinstance(data, str):  # Python 2's str, unpickled as latin-1
            try:
                data = data.encode("latin-1")
            except UnicodeEncodeError:
                raise UnsafePickleError(f"an array's data is {_what(data)}, not bytes") from None
        # bytes(): a copy, since the pickle could still change a bytearray
        self.shape, self.dtype, self.order, self.axes, self.data = shape, dtype.dtype, order, axes, bytes(data)
        return self

    def __setstate__(self, state):
        # ndarray.__reduce__'s state: (1, shape, dtype, is_fortran, data); NumPy < 1.0: without the version
        if isinstance(state, tuple) and len(state) == 5 and type(state[0]) is int and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4 and type(state[2]) in (bool, int)
                and state[2] in (0, 1)):
            raise UnsafePickleError(f"the pickle sets the state of an {self!r} to {_what(state)}")
        shape, dtype, fortran, data = state
        self.fill(shape, dtype, "F" if fortran else "C", data)

    def array(self):
        """The ndarray: writable, a copy of the pickle's bytes."""
        a = np.frombuffer(self.data, self.dtype).reshape(self.shape, order="C" if self.order == "K" else self.order)
        return (a if self.axes is None else a.transpose(self.axes)).copy(order="K")


def _reconstruct(cls, shape, typecode):
    """numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'), as ndarray.__reduce__ writes it: an _Array
    that BUILD fills."""
    if cls is not _NDARRAY:
        raise UnsafePickleError(f"the pickle calls numpy.core.multiarray._reconstruct with class {_what(cls)}; only "
                                f"numpy.ndarray is admitted")
    if shape != (0,) or type(shape[0]) is not int or typecode not in (b"b", "b"):
        raise UnsafePickleError(f"the pickle calls numpy.core.multiarray._reconstruct with {_what(shape)}, "
                                f"{_what(typecode)}; NumPy writes (0,), b'b'")
    return _Array()


def _frombuffer(buf, dtype, shape, order, axes=None):
    """numpy.core.numeric._frombuffer(data, dtype, shape, order[, axis order]), as protocol 5 writes an array: an
    _Array."""
    if order not in ("C", "F", "K") or (order != "K" and axes is not None):
        raise UnsafePickleError(f"the pickle calls numpy.core.numeric._frombuffer with order {_what(order)}, axis "
                                f"order {_what(axes)}")
    return _Array().fill(shape, dtype, order, buf, axes)


def _dtype(code, align=False, copy=True):
    """numpy.dtype(code, align, copy) for a numeric code: a _Dtype; anything else is refused."""
    if not (isinstance(code, str) and _NUMERIC_CODE.fullmatch(code)
            and all(type(v) in (bool, int) and v in (0, 1) for v in (align, copy))):
        raise UnsafePickleError(f"the pickle calls numpy.dtype with {_what(code)}: only bool, integer, float and "
                                f"complex dtypes are read (object, structured and other dtypes are refused)")
    try:
        dtype = np.dtype(code)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biufc":
        raise UnsafePickleError(f"the pickle calls numpy.dtype with {code!r}, not a numeric dtype of this platform")
    return _Dtype(dtype)


def _latin1(text, encoding):
    """_codecs.encode(text, 'latin1'), as protocols 0-2 write bytes: the bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError(f"the pickle calls _codecs.encode with {_what(text)}, {_what(encoding)}; only "
                                f"(str, 'latin1') is admitted")
    _BUDGET.get().charge(len(text), f"_codecs.encode of {len(text)} characters")
    return text.encode("latin-1")


def _ordered_dict(*args):
    """collections.OrderedDict(), as a pickle of one calls it: an empty OrderedDict (SETITEMS fills it)."""
    if args:
        raise UnsafePickleError(f"the pickle calls collections.OrderedDict with {_what(args)}; only () is admitted")
    return collections.OrderedDict()


_NDARRAY = _Admitted("numpy.ndarray")
_ADMITTED = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _Admitted("numpy.dtype", _dtype),
             ("_codecs", "encode"): _Admitted("_codecs.encode", _latin1),
             ("collections", "OrderedDict"): _Admitted("collections.OrderedDict", _ordered_dict)}
for _core in ("numpy.core", "numpy._core"):  # NumPy 1's and NumPy 2's spellings (nothing is imported from them)
    _ADMITTED[f"{_core}.multiarray", "_reconstruct"] = _Admitted(f"{_core}.multiarray._reconstruct", _reconstruct)
    _ADMITTED[f"{_core}.numeric", "_frombuffer"] = _Admitted(f"{_core}.numeric._frombuffer", _frombuffer)
ADMITTED = tuple(sorted(f"{module}.{name}" for module, name in _ADMITTED))


def _refused_global(name):
    return f"the pickle references {name[:200]}, which is refused (admitted: {', '.join(ADMITTED)})"


class _Unpickler(pickle.Unpickler):
    """pickle.Unpickler whose only globals are the stand-ins of _ADMITTED, and which refuses persistent ids."""

    def find_class(self, module, name):
        """The stand-in for module.name, or UnsafePickleError."""
        try:
            return _ADMITTED[module, name]
        except KeyError:
            raise UnsafePickleError(_refused_global(f"{module}.{name}")) from None

    def persistent_load(self, pid):
        """Refuses every persistent id (UnsafePickleError)."""
        raise UnsafePickleError(f"the pickle holds a persistent id ({_what(pid)}), which is refused")


def _scan(data):
    """Refuse (UnsafePickleError) an opcode outside _OPCODES or a GLOBAL outside _ADMITTED; a pickle that does not
    parse (truncated, say) raises pickletools' ValueError."""
    for op, arg, pos in pickletools.genops(data):
        if op.name not in _OPCODES:
            detail = f" {arg.replace(' ', '.', 1)}" if op.name == "INST" else ""
            raise UnsafePickleError(f"the pickle holds opcode {op.name}{detail} at byte {pos}, which is refused (class "
                                    f"instances, persistent ids, extension codes, sets and out-of-band buffers are "
                                    f"never needed for arrays)")
        if op.name == "GLOBAL" and tuple(arg.split(" ", 1)) not in _ADMITTED:
            raise UnsafePickleError(_refused_global(arg.replace(" ", ".", 1)))


def _unpickle(file_name):
    """(what the pickle in ``file_name`` built, with stand-in records for arrays, and the read's budget), or
    UnsafePickleError / ValueError naming the file."""
    with _checks.open_regular_file(file_name, "file_name") as f:
        data = f.read()
    budget = _Budget(_BUDGET_FACTOR * len(data))
    token = _BUDGET.set(budget)
    try:
        _scan(data)
        return _Unpickler(BytesIO(data), encoding="latin1").load(), budget
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"file_name {file_name!r}: {exc}") from None
    except Exception as exc:  # only the stand-ins ran: any other error is a damaged file
        raise ValueError(f"file_name {file_name!r} is not a readable pickle of arrays ({type(exc).__name__}: "
                         f"{exc})") from None
    finally:
        _BUDGET.reset(token)


def _charge_copies(budget, entries, costs, file_name):
    """Charge every array's and vocabulary's final copy, before any is made."""
    try:
        for key, value in entries:
            cost = costs[id(value)] if isinstance(value, dict) else len(value.data)
            budget.charge(cost, f"entry {_REPR.repr(key)}")
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"file_name {file_name!r}: {exc}") from None


def _made(value, key, file_name):
    """The ndarray of an _Array record (a dict: a plain copy), or ValueError naming the file and entry."""
    if isinstance(value, dict):
        return dict(value)  # a plain dict (an OrderedDict too)
    try:
        return value.array()
    except ValueError as exc:  # a shape NumPy cannot make (a dimension too large)
        raise ValueError(f"file_name {file_name!r}: entry {_REPR.repr(key)}: {exc}") from None


def read(file_name, vocabularies=False):
    """The dict {str: ndarray} pickled in ``file_name`` (a str path to a regular file), with ``vocabularies`` also
    {str: dict of str/int} entries (returned as plain dicts), or UnsafePickleError / ValueError (see
    fastnn.io.load_pickle)."""
    result, budget = _unpickle(file_name)
    entries, costs = _entries(result, file_name, vocabularies)
    _charge_copies(budget, entries, costs, file_name)
    return {key: _made(value, key, file_name) for key, value in entries}


def read_list(file_name):
    """The list of ndarrays pickled in ``file_name`` as a list (or tuple) of numeric NumPy arrays, the second
    book's ``BaseModel.save_params`` format (``pickle.dump([float16 arrays], f)``), read with the same restricted
    unpickler as :func:`read` (no code from the file runs); UnsafePickleError / ValueError naming the file."""
    result, budget = _unpickle(file_name)
    if not isinstance(result, (list, tuple)):
        raise ValueError(f"file_name {file_name!r} holds {_what(result)}, not a list of arrays")
    for i, value in enumerate(result):
        if not (isinstance(value, _Array) and value.data is not None):
            raise ValueError(f"file_name {file_name!r}: item {i} is {_what(value)}, not a NumPy array of numbers")
    entries = list(enumerate(result))
    _charge_copies(budget, entries, {}, file_name)
    return [_made(value, i, file_name) for i, value in entries]


def _entries(result, file_name, vocabularies):
    """([(key, _Array or dict)] of the unpickled dict, {id of each vocabulary dict: what its copy costs}), or
    ValueError naming the file. Each distinct vocabulary is checked once (a pickle can reference one many times)."""
    if not isinstance(result, dict):
        raise ValueError(f"file_name {file_name!r} holds {_what(result)}, not a dict of arrays")
    wanted = "a NumPy array of numbers" + (" or a dict of str and int (a vocabulary)" if vocabularies else "")
    costs = {}
    for key, value in result.items():
        if isinstance(key, str) and isinstance(value, _Array) and value.data is not None:
            continue
        if isinstance(key, str) and vocabularies and isinstance(value, dict):
            if id(value) not in costs:
                costs[id(value)] = _vocabulary_cost(value, f"file_name {file_name!r}: entry {_REPR.repr(key)}",
                                                    wanted)
            continue
        hint = "; fastnn.io.load_pickle reads vocabularies" if isinstance(value, dict) and not vocabularies else ""
        raise ValueError(f"file_name {file_name!r}: entry {_REPR.repr(key)} is {_what(value)}, not {wanted} "
                         f"under a str key{hint}")
    return list(result.items()), costs


def _plain(value):
    """Whether ``value`` is what a vocabulary holds: a str, or an int in int64's range (not a bool)."""
    return type(value) is str or (type(value) is int and -_INT64 <= value < _INT64)


def _vocabulary_cost(vocabulary, where, wanted):
    """The bytes a copy of ``vocabulary`` (a dict) is charged: _ENTRY_BYTES per entry and each string's
    characters; ValueError (starting with ``where``) when a key or value is not plain data."""
    cost = 0
    for key, value in vocabulary.items():
        if not (_plain(key) and _plain(value)):
            bad = key if not _plain(key) else value
            raise ValueError(f"{where} is a dict holding {_what(bad)} (under the key {_REPR.repr(key)}), not "
                             f"{wanted}: keys and values must be str or int (int64)")
        cost += _ENTRY_BYTES + (len(key) if type(key) is str else 0) + (len(value) if type(value) is str else 0)
    return cost
