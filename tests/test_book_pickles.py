"""fastnn.io.load_pickle and the pickle side of load_arrays/load_into (issue #13): the book's shipped weight pickles
load exactly as plain pickle.load gives them, and hand-made malicious pickles are refused with an error that says
why, without running anything (each payload leaves a canary file that the test checks for)."""
import collections
import hashlib
import io as stdio
import os
import pickle
import pickletools
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import book_scripts
from fastnn import _pickle
from hostile import peak_memory
from fastnn import io
from fastnn import nets as fn

BOOK = book_scripts.shared_dir() / "book1"
BOOK_PICKLES = ["ch03/sample_weight.pkl", "ch07/params.pkl", "ch08/deep_convnet_params.pkl"]
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
needs_book = pytest.mark.books  # skipped without the books' files, failed under CI (tests/conftest.py)


def _raises(exc, texts, fn_, *args):
    """Call fn_(*args), expecting ``exc`` whose message holds each of ``texts``; returns the exception."""
    with pytest.raises(exc) as info:
        fn_(*args)
    for text in ([texts] if isinstance(texts, str) else texts):
        assert text in str(info.value), str(info.value)
    return info.value


def _write(tmp_path, data, name="evil.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the book's files ----------------------------------------------------------------------------------------------
def _published_sha256():
    rows = re.findall(r"^\| (ch0\d/\S+\.pkl) \| ([0-9a-f]{64}) \|$", (BOOK / "SOURCE.md").read_text(), re.M)
    return dict(rows)


@needs_book
@pytest.mark.parametrize("name", BOOK_PICKLES)
def test_book_pickle_loads_as_plain_pickle_does(name):
    path = BOOK / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == _published_sha256()[name]  # the genuine file
    with open(path, "rb") as f:
        expected = pickle.load(f)  # a known file, checked above: plain pickle is the reference
    for loaded in (io.load_pickle(path), io.load_arrays(path), io.load_arrays(str(path))):
        assert type(loaded) is dict and list(loaded) == list(expected)
        for key, value in expected.items():
            got = loaded[key]
            assert type(got) is np.ndarray and got.dtype == value.dtype and got.shape == value.shape, key
            np.testing.assert_array_equal(got, value)
            assert got.flags.writeable and got.flags.c_contiguous == value.flags.c_contiguous


@needs_book
def test_book_pickles_reference_only_reconstruct_ndarray_and_dtype():
    """The globals the book's files name: _reconstruct, ndarray and dtype (what load_pickle admits, plus the
    NumPy 2 spelling, protocol 5's _frombuffer, protocols 0-2's _codecs.encode and OrderedDict)."""
    for name in BOOK_PICKLES:
        data = (BOOK / name).read_bytes()
        strings = [arg for op, arg, _ in pickletools.genops(data) if "UNICODE" in op.name or op.name == "GLOBAL"]
        names = {s for s in strings if s.startswith("numpy")}
        assert names <= {"numpy.core.multiarray", "numpy.core.multiarray _reconstruct", "numpy", "numpy ndarray",
                         "numpy dtype"}, (name, names)


@needs_book
def test_book_sample_weight_into_a_fastnn_net():
    """ch03's weights in MultiLayerNet(784, [50, 100], 10, sigmoid, float32): the scores of the book's predict."""
    path = BOOK / "ch03/sample_weight.pkl"
    net = fn.MultiLayerNet(784, [50, 100], 10, activation="sigmoid", dtype=np.float32)
    net.load_params(str(path))
    with open(path, "rb") as f:
        w = pickle.load(f)
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))
    scores = sigmoid(sigmoid(x @ w["W1"] + w["b1"]) @ w["W2"] + w["b2"]) @ w["W3"] + w["b3"]
    np.testing.assert_allclose(net.predict(x), scores, rtol=1e-4, atol=1e-5)


@needs_book
@pytest.mark.parametrize("name", BOOK_PICKLES)
def test_truncated_book_pickle_is_a_value_error(tmp_path, name):
    data = (BOOK / name).read_bytes()
    for cut in (1, 2, 40, 200, len(data) // 2, len(data) - 1):
        path = _write(tmp_path, data[:cut], "cut.pkl")
        exc = _raises(ValueError, ["cut.pkl", "not a readable pickle"], io.load_arrays, path)
        assert not isinstance(exc, io.UnsafePickleError)  # damaged, not malicious
    _raises(ValueError, "not a readable pickle", io.load_pickle, _write(tmp_path, b"\x80\x04", "cut.pkl"))
    _raises(ValueError, "not a readable pickle", io.load_pickle, _write(tmp_path, b"", "cut.pkl"))


# --- pickles that fastnn itself writes with plain pickle ---------------------------------------------------------
ARRAYS = {"f8": np.arange(6.0).reshape(2, 3), "f4 F-order": np.asfortranarray(np.ones((2, 3), np.float32)),
          "permuted": np.arange(24).reshape(2, 3, 4).transpose(1, 0, 2), "bool": np.array([True, False]),
          "c16": np.array([1 + 2j]), "big-endian i4": np.arange(4, dtype=">i4"), "u1": np.arange(5, dtype=np.uint8),
          "0-d": np.array(3.5), "f2": np.ones(3, np.float16)}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_pickles_of_numeric_arrays_load(tmp_path, protocol):
    for container in (dict, collections.OrderedDict):
        path = _write(tmp_path, pickle.dumps(container(ARRAYS), protocol=protocol), "p.pkl")
        loaded = io.load_arrays(path)
        assert type(loaded) is dict and list(loaded) == list(ARRAYS)
        for key, value in ARRAYS.items():
            assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape, key
            np.testing.assert_array_equal(loaded[key], value)


@pytest.mark.parametrize("protocol", [3, 4, 5])  # protocols 0-2 write empty bytes as __builtin__.bytes(): refused
def test_empty_arrays_load(tmp_path, protocol):
    arrays = {"W": np.zeros((2, 0)), "b": np.zeros(0, np.float32)}
    loaded = io.load_pickle(_write(tmp_path, pickle.dumps(arrays, protocol=protocol)))
    assert {k: (v.shape, v.dtype) for k, v in loaded.items()} == {k: (v.shape, v.dtype) for k, v in arrays.items()}


def test_format_is_told_by_content_not_name(tmp_path, rng):
    arrays = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}
    io.save_arrays(tmp_path / "saved.pkl", arrays)  # .npz content under a .pkl name
    _write(tmp_path, pickle.dumps(arrays), "pickled.npz")  # pickle content under a .npz name
    for name in ("saved.pkl", "pickled.npz"):
        loaded = io.load_arrays(tmp_path / name)
        for key in arrays:
            np.testing.assert_array_equal(loaded[key], arrays[key])
    # a file that is neither still gets the .npz message, as before
    _raises(ValueError, ["neither.pkl", ".npz"], io.load_arrays, _write(tmp_path, b"W1 = [1, 2]\n", "neither.pkl"))


# --- load_into / load_params with a pickle ---------------------------------------------------------------------------
def test_load_into_reads_a_pickle_in_place_and_checks_it(tmp_path, rng):
    saved = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal(3)}
    path = _write(tmp_path, pickle.dumps(saved), "params.pkl")
    target = {key: np.zeros_like(value) for key, value in saved.items()}
    before = {key: value for key, value in target.items()}
    io.load_into(target, path)
    for key in saved:
        assert target[key] is before[key]
        np.testing.assert_array_equal(target[key], saved[key])
    untouched = {"W1": np.zeros((4, 3)), "b1": np.zeros(3)}
    cases = [({"W1": np.zeros((4, 3))}, "['W1', 'b1']"),  # keys differ
             ({"W1": np.zeros((3, 4)), "b1": np.zeros(3)}, "'W1'"),  # shape differs
             ({"W1": np.zeros((4, 3), np.float32), "b1": np.zeros(3, np.float32)}, "float32")]  # dtype differs
    for params, text in cases:
        _raises(ValueError, ["params.pkl", text], io.load_into, params, path)
    io.load_into(untouched, path)
    evil = _write(tmp_path, b"cos\nsystem\n(S'true'\ntR.", "evil.pkl")
    target = {"W1": np.zeros((4, 3))}
    _raises(io.UnsafePickleError, ["evil.pkl", "os.system"], io.load_into, target, evil)
    assert not target["W1"].any()


def test_network_load_params_reads_the_books_pickle_format(tmp_path, rng):
    net = fn.TwoLayerNet(5, 4, 3)
    other = fn.TwoLayerNet(5, 4, 3)
    with open(tmp_path / "params.pkl", "wb") as f:
        pickle.dump(net.params, f)  # what the book's save_params writes
    other.load_params(str(tmp_path / "params.pkl"))
    for key in net.params:
        np.testing.assert_array_equal(other.params[key], net.params[key])


# --- malicious pickles -------------------------------------------------------------------------------------------
class _Reduce:
    """Pickles as ``function(*args)``: what a malicious pickle calls on plain pickle.load."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


class ArraySubclass(np.ndarray):
    """A subclass of ndarray defined here: its pickle names it as _reconstruct's class."""


def _payloads(canary):
    """name -> (function, args) that create ``canary`` when plain pickle.load calls them."""
    return {"os.system": (os.system, (f"touch {canary}",)),
            "builtins.eval": (eval, (f"open({str(canary)!r}, 'w').close()",)),
            "builtins.exec": (exec, (f"open({str(canary)!r}, 'w').close()",)),
            "subprocess.Popen": (subprocess.Popen, (["touch", str(canary)],)),
            "pathlib.Path.touch": (Path.touch, (canary,)),
            "builtins.open": (open, (str(canary), "w"))}


# the global each payload's pickle names (protocols 0-2 spell builtins __builtin__ and subprocess commands; before
# protocol 4 a method is pickled as getattr(class, name))
PAYLOAD_GLOBALS = {"os.system": r"(posix|nt)\.system", "builtins.eval": r"(__builtin__|builtins)\.eval",
                   "builtins.exec": r"(__builtin__|builtins)\.exec",
                   "subprocess.Popen": r"(subprocess|commands)\.Popen",
                   "pathlib.Path.touch": r"pathlib\.Path\.touch|(__builtin__|builtins)\.getattr",
                   "builtins.open": r"(__builtin__|builtins|io)\.open"}


def test_the_canaries_work(tmp_path):
    """Plain pickle.load of the payloads does run them (so the canary would show it if load_pickle did)."""
    for i, (name, (function, args)) in enumerate(_payloads(tmp_path / "canary").items()):
        canary = tmp_path / f"canary{i}"
        _, args = _payloads(canary)[name]
        result = pickle.loads(pickle.dumps(_Reduce(function, *args)))
        if isinstance(result, subprocess.Popen):
            result.wait()
        elif hasattr(result, "close"):
            result.close()
        assert canary.exists(), name


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_globals_that_run_code_are_refused_and_run_nothing(tmp_path, protocol):
    canary = tmp_path / "canary"
    for name, (function, args) in _payloads(canary).items():
        for top in (lambda evil: evil, lambda evil: {"W1": np.ones(2), "b1": evil}, lambda evil: [evil]):
            path = _write(tmp_path, pickle.dumps(top(_Reduce(function, *args)), protocol=protocol))
            exc = _raises(io.UnsafePickleError, ["evil.pkl", "refused"], io.load_pickle, path)
            assert isinstance(exc, ValueError) and isinstance(exc, pickle.UnpicklingError)
            assert re.search(f"references ({PAYLOAD_GLOBALS[name]}),", str(exc)), str(exc)  # names the global
            _raises(ValueError, "evil.pkl", io.load_arrays, path)
            _raises(ValueError, "evil.pkl", fn.TwoLayerNet(5, 4, 3).load_params, path)
    assert not canary.exists()


def _s4(text):
    """SHORT_BINUNICODE ``text`` (protocol 4)."""
    return b"\x8c" + bytes([len(text)]) + text.encode()


HANDMADE = {  # protocol 0/2/4 pickles written out by hand: name -> (bytes, words the error must hold)
    "os.system GLOBAL": (b"cos\nsystem\n(S'touch {canary}'\ntR.", "os.system"),
    "posix.system GLOBAL": (b"cposix\nsystem\n(S'touch {canary}'\ntR.", "posix.system"),
    "nt.system GLOBAL": (b"cnt\nsystem\n(S'touch {canary}'\ntR.", "nt.system"),
    "__builtin__.eval": (b"c__builtin__\neval\n(S'open(\"{canary}\", \"w\")'\ntR.", "__builtin__.eval"),
    "__builtin__.exec": (b"c__builtin__\nexec\n(S'open(\"{canary}\", \"w\")'\ntR.", "__builtin__.exec"),
    "builtins.eval STACK_GLOBAL": (b"\x80\x04" + _s4("builtins") + _s4("eval") + b"\x93" + _s4("print(1)")
                                   + b"\x85R.", "builtins.eval"),
    "os.system STACK_GLOBAL": (b"\x80\x04" + _s4("os") + _s4("system") + b"\x93" + b"Vtouch {canary}\n"
                               + b"\x85R.", "os.system"),
    "subprocess.Popen": (b"csubprocess\nPopen\n((S'touch'\nS'{canary}'\nltR.", "subprocess.Popen"),
    "copyreg._reconstructor": (b"ccopyreg\n_reconstructor\n(cnumpy\nndarray\ncnumpy\nndarray\n(I0\ntI0\nttR.",
                               "copyreg._reconstructor"),
    "copy_reg._reconstructor": (b"ccopy_reg\n_reconstructor\n(c__builtin__\nobject\nNNtR.", "copy_reg"),
    "numpy.load": (b"cnumpy\nload\n(S'{canary}'\ntR.", "numpy.load"),
    "numpy.frombuffer": (b"cnumpy\nfrombuffer\n(S'abcdefgh'\ntR.", "numpy.frombuffer"),
    "numpy.fromfile": (b"cnumpy\nfromfile\n(S'{canary}'\ntR.", "numpy.fromfile"),
    "numpy.core.multiarray.scalar": (b"cnumpy.core.multiarray\nscalar\n(cnumpy\ndtype\n(S'O8'\nI0\nI1\ntR"
                                     b"(S'touch'\nltR.", "numpy.core.multiarray.scalar"),
    "numpy.ma.core._mareconstruct": (b"cnumpy.ma.core\n_mareconstruct\n(cnumpy.ma.core\nMaskedArray\n"
                                     b"cnumpy\nndarray\n(I0\ntS'b'\ntR.", "numpy.ma.core._mareconstruct"),
    "numpy.testing runstring": (b"cnumpy.testing._private.utils\nrunstring\n(S'open(\"{canary}\",\"w\")'\n"
                                b"(dtR.", "runstring"),
    "dotted STACK_GLOBAL name": (b"\x80\x04" + _s4("numpy.core.multiarray") + _s4("_reconstruct.__globals__")
                                 + b"\x93.", "numpy.core.multiarray._reconstruct.__globals__"),
    "getattr from numpy": (b"\x80\x04" + _s4("numpy") + _s4("core.sys.os") + b"\x93.", "numpy.core.sys.os"),
    "INST os.system": (b"(S'touch {canary}'\nios\nsystem\n.", ["opcode INST", "os.system"]),
    "INST numpy.dtype": (b"(S'f8'\ninumpy\ndtype\n.", "opcode INST"),
    "OBJ": (b"(cos\nsystem\nS'touch {canary}'\no.", "os.system"),
    "OBJ of an admitted global": (b"\x80\x02(cnumpy\ndtype\nX\x02\x00\x00\x00f8o.", "opcode OBJ"),
    "NEWOBJ of numpy.ndarray": (b"\x80\x02cnumpy\nndarray\nK\x03\x85\x81.", "opcode NEWOBJ"),
    "NEWOBJ_EX": (b"\x80\x04cnumpy\nndarray\n)}\x92.", "opcode NEWOBJ_EX"),
    "PERSID": (b"Ptouch {canary}\n.", "opcode PERSID"),
    "BINPERSID": (b"\x80\x02X\x05\x00\x00\x00touchQ.", "opcode BINPERSID"),
    "EXT1": (b"\x80\x02\x82\x01.", "opcode EXT1"),
    "set": (b"\x80\x04\x8f.", "opcode EMPTY_SET"),
    "out-of-band buffer": (b"\x80\x05\x97.", "opcode NEXT_BUFFER"),
}


@pytest.mark.parametrize("name", sorted(HANDMADE))
def test_handmade_malicious_pickles_are_refused(tmp_path, name):
    canary = tmp_path / "canary"
    data, words = HANDMADE[name]
    path = _write(tmp_path, data.replace(b"{canary}", str(canary).encode()))
    _raises(io.UnsafePickleError, ["evil.pkl", *([words] if isinstance(words, str) else words)], io.load_pickle, path)
    _raises(ValueError, "evil.pkl", io.load_arrays, path)
    assert not canary.exists()


def test_refused_global_is_refused_before_the_unpickler_runs(tmp_path, monkeypatch):
    """A GLOBAL is refused by the opcode scan, before any unpickling (even after a valid array)."""
    def no_unpickling(*args, **kwargs):
        raise AssertionError("the unpickler ran")
    monkeypatch.setattr(_pickle, "_Unpickler", no_unpickling)
    data = pickle.dumps({"W1": np.ones(3)}, protocol=2)[:-1] + b"cos\nsystem\n(S'true'\ntR0."
    _raises(io.UnsafePickleError, "os.system", io.load_pickle, _write(tmp_path, data))


# reconstruction called with something other than numpy.ndarray
_RECONSTRUCT_GLOBAL = b"cnumpy.core.multiarray\n_reconstruct\n"  # as the book's ch03 file spells it
_RECONSTRUCT = b"\x80\x02" + _RECONSTRUCT_GLOBAL
_ND_ARGS = b"K\x00\x85C\x01b\x87R"  # ((0,), b'b') as the rest of _reconstruct's arguments, then REDUCE


@pytest.mark.parametrize("cls, words", [
    (b"cnumpy\ndtype\n", "the global numpy.dtype"),
    (_RECONSTRUCT_GLOBAL, "the global numpy.core.multiarray._reconstruct"),
    (b"X\x0d\x00\x00\x00numpy.ndarray", "str 'numpy.ndarray'"),
    (_RECONSTRUCT_GLOBAL + b"cnumpy\nndarray\n" + _ND_ARGS, "an object the pickle built (array without data)"),
    (b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85R", "an object the pickle built (dtype float64)"),
    (b"N", "NoneType None"),
])
def test_reconstruct_with_another_class_is_refused(tmp_path, cls, words):
    data = _RECONSTRUCT + cls + _ND_ARGS + b"."
    _raises(io.UnsafePickleError, ["calls numpy.core.multiarray._reconstruct with class", words,
                                   "only numpy.ndarray"], io.load_pickle, _write(tmp_path, data))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_subclass_and_masked_array_pickles_are_refused(tmp_path):
    for value, words in [(np.ones(3).view(ArraySubclass), "test_book_pickles.ArraySubclass"),
                         (np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "numpy.ma.core._mareconstruct"),
                         (np.matrix([[1.0]]), "numpy.matrix"), (np.float64(1.0), "scalar"),
                         (np.random.default_rng(0), "numpy.random")]:
        for protocol in PROTOCOLS:
            path = _write(tmp_path, pickle.dumps({"W1": value}, protocol=protocol))
            _raises(io.UnsafePickleError, ["evil.pkl", words, "refused"], io.load_pickle, path)


def test_reconstruct_arguments_other_than_numpys_are_refused(tmp_path):
    data = _RECONSTRUCT + b"cnumpy\nndarray\nJ\x00\x00\x00\x10\x85C\x01b\x87R."  # shape (2**28,): a big allocation
    _raises(io.UnsafePickleError, ["(268435456,)", "NumPy writes (0,), b'b'"], io.load_pickle, _write(tmp_path, data))
    data = b"\x80\x02cnumpy\nndarray\n)R."  # numpy.ndarray called directly
    _raises(io.UnsafePickleError, "admitted only as the class argument", io.load_pickle, _write(tmp_path, data))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_object_and_structured_dtypes_are_refused(tmp_path, protocol):
    canary = tmp_path / "canary"
    evil = np.empty(2, dtype=object)
    evil[0], evil[1] = _Reduce(os.system, f"touch {canary}"), print
    structured = np.zeros(2, dtype=[("a", "f8"), ("b", "O")])
    for value, words in [(evil, "'O8'" if protocol >= 4 else "posix.system"),  # the first refused: items or dtype
                         (np.array([print, len], dtype=object), "'O8'" if protocol >= 4 else "print"),
                         (structured, "'V16'"), (np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]), "'V12'"),
                         (np.array(["ab"]), "'U2'"),
                         (np.array([b"ab"]), "'S2'"), (np.array(["2024-01-01"], dtype="M8[D]"), "'M8'")]:
        path = _write(tmp_path, pickle.dumps({"W1": value}, protocol=protocol))
        _raises(io.UnsafePickleError, ["evil.pkl", words], io.load_pickle, path)
    assert not canary.exists()


_DTYPE_STATE = b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"  # NumPy's, for '<f8'


def _dtype(code="f8", state=_DTYPE_STATE):
    """Protocol-2 opcodes that push numpy.dtype(code, False, True) with BUILD ``state``."""
    return (b"cnumpy\ndtype\nX" + len(code).to_bytes(4, "little") + code.encode() + b"\x89\x88\x87R" + state
            + b"b")


def _bytes(data):
    """SHORT_BINBYTES ``data``."""
    return b"C" + bytes([len(data)]) + data


def _array_state(data=_bytes(b"\x00" * 8), shape=b"K\x01\x85", dtype=None):
    """Protocol-2 opcodes that push an ndarray state (1, shape, dtype, False, data), each given as opcodes."""
    return b"(K\x01" + shape + (dtype or _dtype()) + b"\x89" + data + b"t"


def _array_pickle(*states):
    """A protocol-2 pickle {'W': _reconstruct(numpy.ndarray, (0,), b'b')} with a BUILD of each of ``states``."""
    return (b"\x80\x02}X\x01\x00\x00\x00W" + _RECONSTRUCT_GLOBAL + b"cnumpy\nndarray\n" + _ND_ARGS
            + b"".join(state + b"b" for state in states) + b"s.")


def test_crafted_dtype_states_are_refused(tmp_path):
    assert io.load_pickle(_write(tmp_path, _array_pickle(_array_state())))["W"].tolist() == [0.0]
    fields = b"(K\x03X\x01\x00\x00\x00|N(X\x01\x00\x00\x00at}J\x08\x00\x00\x00J\x01\x00\x00\x00K\x00t"
    object_flags = b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t"  # flags 63: has objects
    for state in (fields, object_flags, b"N", b"(t"):
        _raises(io.UnsafePickleError, ["not that of a numeric dtype"], io.load_pickle,
                _write(tmp_path, _array_pickle(_array_state(dtype=_dtype("f8", state)))))
    twice = _dtype("f8", _DTYPE_STATE + b"b" + _DTYPE_STATE)
    _raises(io.UnsafePickleError, ["state of a dtype float64 twice"], io.load_pickle,
            _write(tmp_path, _array_pickle(_array_state(dtype=twice))))
    for code, words in [("O8", "'O8'"), ("f3", "not a numeric dtype"), ("V8", "'V8'"), ("f8,O", "'f8,O'")]:
        _raises(io.UnsafePickleError, ["evil.pkl", words], io.load_pickle,
                _write(tmp_path, _array_pickle(_array_state(dtype=_dtype(code)))))


def test_array_states_that_do_not_fit_are_refused(tmp_path):
    for state, words in [(_array_state(_bytes(b"\x00" * 7)), "has 7 bytes"),  # short data
                         (_array_state(shape=b"K\x02\x85"), "shape (2,) and dtype float64 has 8 bytes"),
                         (_array_state(shape=b"J\xff\xff\xff\xff\x85"), "not a tuple of sizes"),  # shape (-1,)
                         (_array_state(b"]K\x01a"), "list [1]"),  # an object array's items
                         (_array_state(dtype=b"X\x02\x00\x00\x00f8"), "dtype is str 'f8'"),
                         (b"(K\x01t", "state of an array without data to tuple (1,)")]:
        _raises(io.UnsafePickleError, ["evil.pkl", words], io.load_pickle, _write(tmp_path, _array_pickle(state)))
    _raises(io.UnsafePickleError, "contents of an array float64 (1,) twice", io.load_pickle,
            _write(tmp_path, _array_pickle(_array_state(), _array_state())))
    _raises(ValueError, ["'W'", "array without data", "not a NumPy array"], io.load_pickle,
            _write(tmp_path, _array_pickle()))  # reconstructed, never filled


def test_build_on_an_admitted_global_is_refused_and_changes_nothing(tmp_path):
    """BUILD with slot state on a stand-in would setattr on it; every stand-in refuses BUILD."""
    for glob in (b"cnumpy\ndtype\n", b"cnumpy\nndarray\n", b"cnumpy.core.multiarray\n_reconstruct\n"):
        data = b"\x80\x02" + glob + b"N}X\x08\x00\x00\x00function]s\x86b."  # state (None, {'function': []})
        _raises(io.UnsafePickleError, ["sets state on numpy."], io.load_pickle, _write(tmp_path, data))
    assert io.load_pickle(_write(tmp_path, pickle.dumps({"W": np.ones(2)})))["W"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_top_level_must_be_a_dict_of_str_to_arrays(tmp_path, protocol):
    for value, words in [([np.ones(2)], "list"), ((np.ones(2),), "tuple"), (np.ones(2), "array"), (3, "int 3"),
                         ("W1", "str"), (None, "NoneType")]:
        path = _write(tmp_path, pickle.dumps(value, protocol=protocol), "top.pkl")
        exc = _raises(ValueError, ["top.pkl", words, "not a dict of arrays"], io.load_pickle, path)
        assert not isinstance(exc, io.UnsafePickleError)
    for value, words in [({"W1": 1.5}, "float 1.5"), ({"W1": [1.0, 2.0]}, "list"), ({1: np.ones(2)}, "1"),
                         ({"W1": {"a": np.ones(2)}}, "dict"), ({"W1": np.ones(2), "b": b"xx"}, "'b'"),
                         ({("W", 1): np.ones(2)}, "('W', 1)")]:
        path = _write(tmp_path, pickle.dumps(value, protocol=protocol), "top.pkl")
        _raises(ValueError, ["top.pkl", words, "not a NumPy array"], io.load_pickle, path)
        _raises(ValueError, "top.pkl", io.load_arrays, path)


def test_persistent_ids_are_refused(tmp_path):
    class WithIds(pickle.Pickler):
        def persistent_id(self, obj):
            return "an id" if isinstance(obj, np.ndarray) else None
    for protocol in PROTOCOLS:
        buffer = stdio.BytesIO()
        WithIds(buffer, protocol=protocol).dump({"W1": np.ones(2)})
        _raises(io.UnsafePickleError, ["evil.pkl", "PERSID"], io.load_pickle, _write(tmp_path, buffer.getvalue()))
    # the unpickler refuses them too, if the scan were bypassed
    unpickler = _pickle._Unpickler(stdio.BytesIO(b"Pid\n."))
    with pytest.raises(io.UnsafePickleError, match="persistent id"):
        unpickler.load()


def test_unpickler_refuses_globals_itself(tmp_path):
    """find_class refuses what the scan could not see (STACK_GLOBAL's names come from the stack)."""
    unpickler = _pickle._Unpickler(stdio.BytesIO(pickle.dumps(_Reduce(os.system, "true"), protocol=0)))
    with pytest.raises(io.UnsafePickleError, match="posix.system|nt.system"):
        unpickler.load()
    for module, name in [("os", "system"), ("builtins", "getattr"), ("numpy", "load"), ("numpy", "ndarray.view")]:
        with pytest.raises(io.UnsafePickleError, match=re.escape(f"{module}.{name}")):
            _pickle._Unpickler(stdio.BytesIO(b".")).find_class(module, name)


def test_python2_numpy_pickle_loads_as_with_latin1(tmp_path):
    """Python 2's NumPy wrote str data and typecodes (SHORT_BINSTRING) and 0/1 for numpy.dtype's flags."""
    data = np.arange(3.0).tobytes()  # holds non-ASCII bytes (1.0 is 00..f0 3f): latin-1 str round trip
    dtype = b"cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R" + _DTYPE_STATE.replace(b"X\x01\x00\x00\x00<", b"U\x01<") + b"b"
    pickled = (b"\x80\x02}U\x01W" + _RECONSTRUCT_GLOBAL + b"cnumpy\nndarray\nK\x00\x85U\x01b\x87R"
               + b"(K\x01K\x03\x85" + dtype + b"\x89U\x18" + data + b"tbs.")
    expected = pickle.loads(pickled, encoding="latin1")  # hand-made, only numpy globals: plain pickle is safe here
    loaded = io.load_pickle(_write(tmp_path, pickled, "py2.pkl"))
    assert list(loaded) == ["W"] and loaded["W"].dtype == expected["W"].dtype
    np.testing.assert_array_equal(loaded["W"], expected["W"])
    np.testing.assert_array_equal(loaded["W"], [0.0, 1.0, 2.0])


# --- vocabularies: the second book's cbow_params.pkl (issue #26) -----------------------------------------------------
BOOK2 = book_scripts.shared_dir() / "book2"
VOCAB = {"word_vecs": np.arange(6, dtype=np.float16).reshape(3, 2), "word_to_id": {"you": 0, "say": 1, "<eos>": 2},
         "id_to_word": {0: "you", 1: "say", 2: "<eos>"}}


@needs_book
def test_the_second_books_word_vectors_load_as_plain_pickle_does():
    path = BOOK2 / "ch04/cbow_params.pkl"
    rows = re.findall(r"^\| (ch0\d/\S+\.pkl) \| ([0-9a-f]{64}) \|$", (BOOK2 / "SOURCE.md").read_text(), re.M)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dict(rows)["ch04/cbow_params.pkl"]  # the genuine file
    with open(path, "rb") as f:
        expected = pickle.load(f)  # a known file, checked above: plain pickle is the reference
    loaded = io.load_pickle(path)
    assert type(loaded) is dict and list(loaded) == list(expected) == ["id_to_word", "word_vecs", "word_to_id"]
    for key in ("word_to_id", "id_to_word"):
        assert type(loaded[key]) is dict and loaded[key] == expected[key] and list(loaded[key]) == list(expected[key])
    assert len(loaded["word_to_id"]) == 10_000 and loaded["word_to_id"]["you"] == 316
    got, want = loaded["word_vecs"], expected["word_vecs"]
    assert got.dtype == want.dtype == np.float16 and got.shape == (10_000, 100) and got.flags.writeable
    np.testing.assert_array_equal(got, want)
    _raises(ValueError, ["cbow_params.pkl", "'id_to_word' is dict", "load_pickle reads vocabularies"],
            io.load_arrays, path)  # arrays only: what load_arrays and load_into promise


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_vocabularies_load_at_every_protocol(tmp_path, protocol):
    for container in (dict, collections.OrderedDict):
        pickled = {"word_vecs": VOCAB["word_vecs"], "word_to_id": container(VOCAB["word_to_id"]),
                   "id_to_word": container(VOCAB["id_to_word"]), "empty": {},
                   "big ids": {-2 ** 63: "a", 2 ** 63 - 1: "b"}}
        loaded = io.load_pickle(_write(tmp_path, pickle.dumps(pickled, protocol=protocol), "v.pkl"))
        assert list(loaded) == list(pickled)
        for key in ("word_to_id", "id_to_word", "empty", "big ids"):
            assert type(loaded[key]) is dict and loaded[key] == pickled[key], key
        np.testing.assert_array_equal(loaded["word_vecs"], VOCAB["word_vecs"])


# what a vocabulary may not hold: each newly admitted container (str -> int, int -> str) carrying anything else
NOT_PLAIN = [(1.5, "float 1.5"), (True, "bool True"), (None, "NoneType"), ([1], "list"), ((1,), "tuple"),
             (b"you", "bytes"), ({"a": 1}, "dict"), (np.ones(2), "array float64 (2,)"),
             (2 ** 63, "int 9223372036854775808"), (-2 ** 63 - 1, "int -9223372036854775809"),
             (10 ** 5000, "an int of 16610 bits")]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_only_plain_data_gets_through_a_vocabulary(tmp_path, protocol):
    for bad, words in NOT_PLAIN:
        for vocabulary in ({"you": 0, "say": bad}, {0: "you", 1: bad}, {bad: 0} if _hashable(bad) else None):
            if vocabulary is None:
                continue
            try:
                data = pickle.dumps({"word_vecs": np.ones(2), "vocab": vocabulary}, protocol=protocol)
            except ValueError:  # (protocols 0-1 write ints in decimal: not 5000 digits)
                continue
            exc = _raises(ValueError, ["v.pkl", "'vocab' is a dict holding", words, "must be str or int"],
                          io.load_pickle, _write(tmp_path, data, "v.pkl"))
            assert not isinstance(exc, io.UnsafePickleError)  # plain Python values: refused as not plain data
    # a NumPy scalar needs a global that is not admitted
    data = pickle.dumps({"vocab": {"you": np.int64(0)}}, protocol=protocol)
    _raises(io.UnsafePickleError, ["v.pkl", "multiarray.scalar, which is refused"], io.load_pickle,
            _write(tmp_path, data, "v.pkl"))


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return True


def test_a_vocabulary_holding_code_or_stand_ins_runs_nothing(tmp_path):
    """Inside a vocabulary too, a global that runs code is refused before unpickling, and what an admitted global
    builds (a dtype, an array) is refused as not plain data."""
    canary = tmp_path / "canary"
    for protocol in PROTOCOLS:
        for name, (function, args) in _payloads(canary).items():
            for vocabulary in ({"you": _Reduce(function, *args)}, {0: "you", 1: _Reduce(function, *args)}):
                data = pickle.dumps({"word_to_id": vocabulary}, protocol=protocol)
                exc = _raises(io.UnsafePickleError, ["evil.pkl", "refused"], io.load_pickle, _write(tmp_path, data))
                assert re.search(f"references ({PAYLOAD_GLOBALS[name]}),", str(exc)), str(exc)
    assert not canary.exists()
    dtype = pickle.dumps({"word_to_id": {"you": np.dtype("f8")}}, protocol=2)
    _raises(ValueError, ["'word_to_id' is a dict holding an object the pickle built (dtype float64)"],
            io.load_pickle, _write(tmp_path, dtype))


def test_vocabularies_are_bounded_by_the_files_size(tmp_path):
    """Memo references let a small file name one vocabulary (or one long string) many times; each use is charged,
    entries and characters, to the same budget as arrays: refused, not built. An honest vocabulary (each entry
    written once, each word shared by the two dictionaries, as in the book's file) passes."""
    vocabulary = {f"w{i}": i for i in range(2000)}
    many_uses = pickle.dumps({f"copy{k}": vocabulary for k in range(500)}, protocol=4)
    assert len(many_uses) < 40_000  # (the dict itself is written once)
    _raises(io.UnsafePickleError, ["many.pkl", "more than", "entry 'copy"], io.load_pickle,
            _write(tmp_path, many_uses, "many.pkl"))
    long_word = "x" * 100_000
    repeated = pickle.dumps({"id_to_word": {i: long_word for i in range(200)}}, protocol=4)
    assert len(repeated) < 102_000
    _raises(io.UnsafePickleError, ["long.pkl", "more than", "'id_to_word'"], io.load_pickle,
            _write(tmp_path, repeated, "long.pkl"))
    words = [f"word{i:05d}" for i in range(20_000)]
    honest = {"word_vecs": np.ones((20_000, 2), np.float16), "word_to_id": {w: i for i, w in enumerate(words)},
              "id_to_word": dict(enumerate(words))}
    loaded = io.load_pickle(_write(tmp_path, pickle.dumps(honest, protocol=pickle.HIGHEST_PROTOCOL), "ok.pkl"))
    assert loaded["id_to_word"] == honest["id_to_word"] and loaded["word_to_id"] == honest["word_to_id"]
    peak, error = peak_memory(lambda: io.load_pickle(_write(tmp_path, many_uses, "many.pkl")))
    assert isinstance(error, io.UnsafePickleError) and peak < 100 * len(many_uses)
