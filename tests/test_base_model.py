"""fastnn.base_model.BaseModel (issue #27): the book's file names, .npz written atomically (never pickle), the
book's float16 list pickles read through the restricted unpickler as the book's own BaseModel reads them, and
refused files (wrong count or shape, hostile pickles, other formats) that change nothing."""
import os
import pickle
import zipfile

import numpy as np
import pytest

import book_scripts
from fastnn import _pickle
from fastnn import io as fio
from fastnn.base_model import BaseModel

BOOK2 = book_scripts.shared_dir() / "book2"
# the shapes of the book's shipped pickles: ch06 Rnnlm (V=10000, D=100, H=100), ch08 AttentionSeq2seq (V=59, D=16,
# H=256)
RNNLM_SHAPES = [(10000, 100), (100, 400), (100, 400), (400,), (100, 10000), (10000,)]
ATTENTION_SHAPES = [(59, 16), (16, 1024), (256, 1024), (1024,)] * 2 + [(512, 59), (59,)]


class TinyModel(BaseModel):
    """A stand-in with the book's interface: an embedding and an affine layer's weights, one tied transposed."""

    def __init__(self, shapes=((7, 3), (3,)), dtype=np.float32, seed=0, tie=False):
        r = np.random.default_rng(seed)
        self.params = [r.normal(size=s).astype(dtype) for s in shapes]
        if tie:
            self.params.append(self.params[0].T)  # BetterRnnlm's TimeAffine(embed_W.T, ...)
        self.grads = [np.zeros_like(p) for p in self.params]


class Rnnlm(TinyModel):
    """Named as the book's model, so that the default file name is Rnnlm.pkl."""


def _snapshot(model):
    return [p.copy() for p in model.params]


def _unchanged(model, before):
    for p, q in zip(model.params, before):
        np.testing.assert_array_equal(p, q)


# --- the book's interface -------------------------------------------------------------------------------------------
def test_base_model_is_abstract_as_the_books():
    model = BaseModel()
    assert model.params is None and model.grads is None
    with pytest.raises(NotImplementedError):
        model.forward(1, 2)
    with pytest.raises(NotImplementedError):
        model.backward()


def test_default_name_save_then_load_round_trips_as_float16(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = Rnnlm()
    model.save_params()
    assert sorted(os.listdir(tmp_path)) == ["Rnnlm.pkl"]  # the book's name, no temporary file left
    assert zipfile.is_zipfile(tmp_path / "Rnnlm.pkl")  # .npz content, not a pickle
    other = Rnnlm(seed=1)
    other.load_params()
    for p, q in zip(other.params, model.params):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, q.astype(np.float16).astype(np.float32))  # the book's rounding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_none_keeps_full_precision(tmp_path, dtype):
    model, other = TinyModel(dtype=dtype), TinyModel(dtype=dtype, seed=1)
    path = tmp_path / "full.npz"
    model.save_params(str(path), dtype=None)
    other.load_params(str(path))
    for p, q in zip(other.params, model.params):
        assert p.dtype == dtype
        np.testing.assert_array_equal(p, q)


def test_tied_weights_save_and_load(tmp_path):
    model, other = TinyModel(tie=True), TinyModel(seed=1, tie=True)
    model.save_params(str(tmp_path / "tied.pkl"), dtype=None)
    other.load_params(str(tmp_path / "tied.pkl"))
    np.testing.assert_array_equal(other.params[0], model.params[0])
    assert np.shares_memory(other.params[0], other.params[2])  # still tied: loaded in place


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "Rnnlm.pkl"
    TinyModel().save_params(str(path))
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        TinyModel(seed=5).save_params(str(path))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["Rnnlm.pkl"]


# --- the book's files ----------------------------------------------------------------------------------------------
def _book_list(path):
    with open(path, "rb") as f:
        return pickle.load(f)  # the book's shipped file (checked by sha256 in test_book_pickles): the reference


@pytest.mark.books
@pytest.mark.parametrize("name, shapes", [("ch06/Rnnlm.pkl", RNNLM_SHAPES),
                                          ("ch08/AttentionSeq2seq.pkl", ATTENTION_SHAPES)])
def test_the_books_pickles_load_as_the_books_base_model_loads_them(name, shapes):
    from book2_modules import book_module

    book_base = book_module("common/base_model.py").BaseModel

    class BookTiny(book_base):
        def __init__(self):
            self.params = [np.zeros(s, dtype=np.float32) for s in shapes]

    book, ours = BookTiny(), TinyModel(shapes=shapes)
    book.load_params(str(BOOK2 / name))
    ours.load_params(str(BOOK2 / name))
    for p, q, stored in zip(ours.params, book.params, _book_list(BOOK2 / name)):
        assert stored.dtype == np.float16 and p.dtype == np.float32
        np.testing.assert_array_equal(p, q)


@pytest.mark.books
def test_a_file_the_books_save_params_writes_loads(tmp_path):
    from book2_modules import book_module

    book_base = book_module("common/base_model.py").BaseModel

    class BookTiny(book_base):
        def __init__(self):
            self.params = TinyModel(seed=3).params

    path = str(tmp_path / "BookTiny.pkl")
    BookTiny().save_params(path)
    ours = TinyModel(dtype=np.float64)
    ours.load_params(path)
    for p, q in zip(ours.params, BookTiny().params):
        np.testing.assert_array_equal(p, q.astype(np.float16).astype(np.float64))


def test_a_pickled_list_of_float16_arrays_loads(tmp_path):
    """The book's format written here (no ../shared needed): pickle.dump of a list of float16 arrays."""
    model = TinyModel(seed=2)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps([p.astype(np.float16) for p in model.params], protocol=protocol))
        other = TinyModel(seed=9)
        other.load_params(str(path))
        for p, q in zip(other.params, model.params):
            np.testing.assert_array_equal(p, q.astype(np.float16).astype(np.float32))


# --- refused files change nothing ---------------------------------------------------------------------------------
def test_missing_file_is_the_books_io_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(IOError, match="^No file: Rnnlm.pkl$") as info:
        Rnnlm().load_params()
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("saved_shapes, message", [
    (((7, 3),), "holds 1 parameter arrays, but the model has 2"),
    (((7, 3), (3,), (3,)), "holds 3 parameter arrays, but the model has 2"),
    (((7, 3), (4,)), r"parameter 1 has shape \(4,\)"),
    (((3, 7), (3,)), r"parameter 0 has shape \(3, 7\)"),
])
@pytest.mark.parametrize("fmt", ["npz", "pickle"])
def test_wrong_count_or_shape_is_refused_before_any_change(tmp_path, saved_shapes, message, fmt):
    path = tmp_path / "bad.pkl"
    arrays = [np.ones(s, dtype=np.float16) for s in saved_shapes]
    if fmt == "npz":
        fio.save_arrays(str(path), {str(i): a for i, a in enumerate(arrays)})
    else:
        path.write_bytes(pickle.dumps(arrays))
    model = TinyModel()
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.load_params(str(path))
    _unchanged(model, before)


class _Reduce:
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_hostile_pickles_are_refused_and_run_nothing(tmp_path, protocol):
    canary = tmp_path / "canary"
    evil = _Reduce(os.system, f"touch {canary}")
    model = TinyModel()
    before = _snapshot(model)
    for top in ([np.ones((7, 3), np.float16), evil], [evil, np.ones(3, np.float16)], evil):
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps(top, protocol=protocol))
        with pytest.raises(_pickle.UnsafePickleError, match="refused"):
            model.load_params(str(path))
    assert not canary.exists()
    _unchanged(model, before)


@pytest.mark.parametrize("content, message", [
    ({"W1": np.ones((7, 3)), "b1": np.ones(3)}, "not a list of arrays"),  # the first book's dict pickle
    ([np.ones((7, 3)), "text"], "item 1 is str"),
    ([np.ones((7, 3)), np.array(["a", "b", "c"])], "refused"),  # a string array: no numeric dtype
    (np.ones(3), "not a list of arrays"),
])
def test_pickles_of_other_content_are_refused(tmp_path, content, message):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps(content))
    model = TinyModel()
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.load_params(str(path))
    _unchanged(model, before)


def test_npz_of_other_names_and_damaged_files_are_refused(tmp_path):
    model = TinyModel()
    before = _snapshot(model)
    fio.save_arrays(str(tmp_path / "dict.npz"), {"W1": np.ones((7, 3)), "b1": np.ones(3)})
    with pytest.raises(ValueError, match="not a model's parameter list"):
        model.load_params(str(tmp_path / "dict.npz"))
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04junk")
    with pytest.raises(ValueError, match="junk.pkl"):
        model.load_params(str(tmp_path / "junk.pkl"))
    (tmp_path / "text.pkl").write_bytes(b"hello")
    with pytest.raises(ValueError, match="text.pkl"):
        model.load_params(str(tmp_path / "text.pkl"))
    _unchanged(model, before)


def test_bad_arguments_name_themselves(tmp_path):
    model = TinyModel()
    with pytest.raises(TypeError, match="dtype must be a float dtype"):
        model.save_params(str(tmp_path / "x.pkl"), dtype=np.int32)
    with pytest.raises(TypeError, match="file_name must be a path"):
        model.save_params(3)
    model.params[1].flags.writeable = False
    TinyModel().save_params(str(tmp_path / "ok.pkl"))
    before = _snapshot(model)
    with pytest.raises(ValueError, match=r"params\[1\] is read-only"):
        model.load_params(str(tmp_path / "ok.pkl"))
    _unchanged(model, before)
    model.params = {"W": np.ones(2)}
    with pytest.raises(TypeError, match="params must be a list"):
        model.save_params(str(tmp_path / "y.pkl"))
    with pytest.raises(FileNotFoundError, match="directory"):
        TinyModel().save_params(str(tmp_path / "missing" / "z.pkl"))
