"""fastnn.mlp.NeuralNetMLP against the book's class (fastnn.reference.mlp): same weights, eval_, RandomState draws,
predictions and progress line for many configurations, on random and real data; the book's helper methods; input
validation. Data stay small so the suite also runs with NUMBA_DISABLE_JIT=1."""
import contextlib
import io
import re

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnn import datasets
from fastnn.mlp import NeuralNetMLP, NotFittedError
from fastnn.reference.mlp import NeuralNetMLP as BookMLP

TIGHT = dict(rtol=1e-10, atol=1e-10)  # float64 against the book: only summation order differs
FAST = not numba.config.DISABLE_JIT  # kernels run as Python with NUMBA_DISABLE_JIT=1: keep data tiny there


def classification_data(rng, n, n_features, n_classes, n_valid=None, scale=1.0):
    """Features and labels 0..n_classes-1, every class present in the training labels (as the book assumes)."""
    n_valid = n if n_valid is None else n_valid
    y = rng.permutation(np.arange(n) % n_classes)
    X = rng.normal(size=(n, n_features)) * scale + y[:, None] * 0.5
    yv = rng.integers(0, n_classes, n_valid)
    Xv = rng.normal(size=(n_valid, n_features)) * scale + yv[:, None] * 0.5
    return X, y, Xv, yv


def fit_book(data, **kw):
    """The book's class fitted on data, its progress line captured; returns (model, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        model = BookMLP(**kw).fit(*data)
    return model, err.getvalue()


def fit_fast(data, **kw):
    err = io.StringIO()  # (errstate: with NUMBA_DISABLE_JIT=1 the kernels' NumPy scalar math warns like the book)
    with contextlib.redirect_stderr(err), np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        model = NeuralNetMLP(**kw).fit(*data)
    return model, err.getvalue()


def assert_same_model(fast, book, tol=TIGHT):
    for name in ("w_h", "b_h", "w_out", "b_out"):
        np.testing.assert_allclose(getattr(fast, name), getattr(book, name), **tol, err_msg=name)
    assert fast.eval_.keys() == book.eval_.keys()
    np.testing.assert_allclose(fast.eval_["cost"], book.eval_["cost"], **tol, err_msg="cost")
    for key in ("train_acc", "valid_acc"):
        assert fast.eval_[key] == book.eval_[key], key
    # the same number of draws from the same stream: the generators end in the same state
    assert fast.random.get_state()[2] == book.random.get_state()[2]
    np.testing.assert_array_equal(fast.random.get_state()[1], book.random.get_state()[1])


# --- against the book ---------------------------------------------------------------------------------------------
CONFIGS = [
    dict(minibatch_size=1, shuffle=True, l2=0.0, seed=1),
    dict(minibatch_size=1, shuffle=False, l2=0.05, seed=2),
    dict(minibatch_size=4, shuffle=True, l2=0.05, seed=3),
    dict(minibatch_size=7, shuffle=False, l2=0.0, seed=4),  # 40 rows: a partial last minibatch is dropped
    dict(minibatch_size=40, shuffle=True, l2=0.01, seed=5),  # one minibatch per epoch
    dict(minibatch_size=41, shuffle=True, l2=0.0, seed=6),  # more than the data: the book trains nothing
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "mb{minibatch_size}-shuffle{shuffle}-l2{l2}".format(**c))
def test_matches_book(config, rng):
    data = classification_data(rng, 40, 5, 3, n_valid=15)
    kw = dict(n_hidden=6, epochs=4, eta=0.05, **config)
    fast, fast_err = fit_fast(data, **kw)
    book, book_err = fit_book(data, **kw)
    assert_same_model(fast, book)
    assert fast_err == book_err
    X, Xv = data[0], data[2]
    np.testing.assert_array_equal(fast.predict(Xv), book.predict(Xv))
    np.testing.assert_array_equal(fast.predict(X), book.predict(X))


@given(n=st.integers(1, 24), n_features=st.integers(1, 5), n_hidden=st.integers(1, 5), n_classes=st.integers(1, 4),
       minibatch_size=st.integers(1, 26), epochs=st.integers(0, 3), shuffle=st.booleans(),
       l2=st.sampled_from([0.0, 0.1]), eta=st.sampled_from([0.001, 0.3]), seed=st.integers(0, 2**32 - 1))
def test_matches_book_random_shapes(n, n_features, n_hidden, n_classes, minibatch_size, epochs, shuffle, l2, eta,
                                    seed):
    n_classes = min(n_classes, n)
    data = classification_data(np.random.default_rng(seed), n, n_features, n_classes)
    kw = dict(n_hidden=n_hidden, epochs=epochs, eta=eta, shuffle=shuffle, minibatch_size=minibatch_size, l2=l2,
              seed=seed)
    fast, fast_err = fit_fast(data, **kw)
    book, book_err = fit_book(data, **kw)
    assert_same_model(fast, book)
    assert fast_err == book_err


@pytest.mark.parametrize("minibatch_size", [1, 3])
def test_saturated_sigmoids_match_book(minibatch_size, rng):
    """Inputs of size 1e3 push the net inputs past the book's clip at +-250: outputs of exactly 1 make the cost
    inf or nan in the book, and fastnn must give the same."""
    data = classification_data(rng, 12, 4, 3, scale=1e3)
    kw = dict(n_hidden=4, epochs=3, eta=100.0, minibatch_size=minibatch_size, seed=7)
    fast, _ = fit_fast(data, **kw)
    book, _ = fit_book(data, **kw)
    assert not np.all(np.isfinite(book.eval_["cost"]))  # the data do reach saturation
    assert_same_model(fast, book)


def test_refit_continues_the_random_stream(rng):
    """A second fit draws new weights from the same RandomState, as in the book."""
    data = classification_data(rng, 20, 3, 2)
    kw = dict(n_hidden=3, epochs=2, eta=0.1, seed=11, verbose=False)
    fast = NeuralNetMLP(**kw)
    book = BookMLP(**{k: v for k, v in kw.items() if k != "verbose"})
    for _ in range(2):
        fast.fit(*data)
        with contextlib.redirect_stderr(io.StringIO()):
            book.fit(*data)
        assert_same_model(fast, book)


def test_seedless_models_differ(rng):
    data = classification_data(rng, 10, 3, 2)
    a = NeuralNetMLP(epochs=1, verbose=False).fit(*data)
    b = NeuralNetMLP(epochs=1, verbose=False).fit(*data)
    assert not np.array_equal(a.w_h, b.w_h)


def test_integer_features_train_in_float64_like_the_book(rng):
    X, y, Xv, yv = classification_data(rng, 20, 4, 3)
    data = ((X * 3).astype(np.int32), y.astype(np.uint8), (Xv * 3).astype(np.int64), yv.astype(np.int16))
    fast, _ = fit_fast(data, n_hidden=5, epochs=2, eta=0.01, seed=3)
    book, _ = fit_book(data, n_hidden=5, epochs=2, eta=0.01, seed=3)
    assert fast.w_h.dtype == np.float64
    assert_same_model(fast, book)


def test_float32_features_train_in_float64_like_the_book(rng):
    X, y, Xv, yv = classification_data(rng, 20, 4, 3)
    data = (X.astype(np.float32), y, Xv.astype(np.float32), yv)
    fast, _ = fit_fast(data, n_hidden=5, epochs=2, eta=0.05, minibatch_size=3, seed=3)
    book, _ = fit_book(data, n_hidden=5, epochs=2, eta=0.05, minibatch_size=3, seed=3)
    assert fast.w_h.dtype == np.float64
    assert_same_model(fast, book)


@pytest.mark.parametrize("minibatch_size", [1, 5])
def test_float32_opt_in_trains_in_float32(minibatch_size, rng):
    """dtype=np.float32 trains in float32 (the book always computes in float64): close to the book, not equal."""
    X, y, Xv, yv = classification_data(rng, 30, 4, 3)
    data = (X.astype(np.float32), y, Xv.astype(np.float32), yv)
    kw = dict(n_hidden=5, epochs=3, eta=0.05, minibatch_size=minibatch_size, l2=0.01, seed=3)
    fast, _ = fit_fast(data, **kw, dtype=np.float32)
    book, _ = fit_book(data, **kw)
    for name in ("w_h", "b_h", "w_out", "b_out"):
        assert getattr(fast, name).dtype == np.float32
        np.testing.assert_allclose(getattr(fast, name), getattr(book, name), rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(fast.eval_["cost"], book.eval_["cost"], rtol=1e-5)
    assert fast.predict(Xv).dtype == np.intp


# --- real data ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("minibatch_size", [1, 50])
def test_digits_match_book(minibatch_size):
    """The bundled optdigits set (float32 pixels: by default trained in float64 like the book), 30 hidden units,
    a few epochs."""
    (X, y), (Xv, yv) = datasets.load_digits()
    rows = None if FAST else 60
    data = (X[:rows], y[:rows], Xv[:rows], yv[:rows])
    kw = dict(n_hidden=30, l2=0.01, epochs=3 if FAST else 1, eta=0.001, minibatch_size=minibatch_size, seed=1)
    fast, fast_err = fit_fast(data, **kw)
    book, book_err = fit_book(data, **kw)
    assert_same_model(fast, book)
    assert fast_err == book_err


def test_digits_float32_close_to_book():
    (X, y), (Xv, yv) = datasets.load_digits()  # float32 pixels in [0, 1]
    rows = None if FAST else 60
    data = (X[:rows], y[:rows], Xv[:rows], yv[:rows])
    kw = dict(n_hidden=30, l2=0.01, epochs=2 if FAST else 1, eta=0.001, seed=1)
    fast, _ = fit_fast(data, **kw, dtype=np.float32)
    book, _ = fit_book(data, **kw)
    assert fast.w_h.dtype == np.float32
    np.testing.assert_allclose(fast.w_h, book.w_h, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fast.eval_["cost"], book.eval_["cost"], rtol=1e-5)


# --- the book's helpers -------------------------------------------------------------------------------------------
@pytest.fixture
def fitted_pair(rng):
    data = classification_data(rng, 16, 4, 3)
    fast, _ = fit_fast(data, n_hidden=5, epochs=2, eta=0.1, seed=5)
    book, _ = fit_book(data, n_hidden=5, epochs=2, eta=0.1, seed=5)
    return fast, book, data


def test_forward_matches_book(fitted_pair):
    fast, book, (X, *_) = fitted_pair
    for got, expected in zip(fast._forward(X), book._forward(X)):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_compute_cost_and_onehot_match_book(fitted_pair):
    fast, book, (X, y, *_) = fitted_pair
    np.testing.assert_array_equal(fast._onehot(y, 3), book._onehot(y, 3))
    output = book._forward(X)[3]
    y_enc = book._onehot(y, 3)
    np.testing.assert_allclose(fast._compute_cost(y_enc, output), book._compute_cost(y_enc, output), rtol=1e-14)


def test_sigmoid_clips_like_book():
    z = np.array([-1e4, -745.0, -250.5, -250.0, -36.0, -1.0, 0.0, 0.5, 36.0, 250.0, 1e4, np.nan])
    with np.errstate(over="ignore"):
        expected = BookMLP()._sigmoid(z)
    np.testing.assert_allclose(NeuralNetMLP()._sigmoid(z), expected, rtol=1e-15, atol=0)
    assert NeuralNetMLP()._sigmoid(np.float32(1.0)).dtype == np.float32


# --- progress line ---------------------------------------------------------------------------------------------
def test_progress_line_format(rng):
    data = classification_data(rng, 12, 3, 2)
    _, err = fit_fast(data, n_hidden=3, epochs=10, eta=0.1, seed=0)
    lines = err.split("\r")
    assert lines[0] == "" and len(lines) == 11
    pattern = r"(\d\d)/10 \| Cost: \d+\.\d\d \| Train/Valid Acc\.: \d+\.\d\d%/\d+\.\d\d% "
    for epoch, line in enumerate(lines[1:], start=1):
        match = re.fullmatch(pattern, line)
        assert match and int(match.group(1)) == epoch, line
    assert lines[1].startswith("01/10")  # zero-padded to the width of `epochs`


def test_verbose_false_is_silent(rng):
    data = classification_data(rng, 12, 3, 2)
    model, err = fit_fast(data, n_hidden=3, epochs=2, eta=0.1, seed=0, verbose=False)
    assert err == "" and len(model.eval_["cost"]) == 2


def test_zero_epochs_initialises_only(rng):
    data = classification_data(rng, 12, 3, 2)
    fast, err = fit_fast(data, n_hidden=3, epochs=0, seed=0)
    book, _ = fit_book(data, n_hidden=3, epochs=0, seed=0)
    assert err == "" and fast.eval_ == {"cost": [], "train_acc": [], "valid_acc": []}
    assert_same_model(fast, book, tol=dict(rtol=0, atol=0))


# --- validation ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, error, name", [
    (dict(n_hidden=0), ValueError, "n_hidden"),
    (dict(n_hidden=2.5), TypeError, "n_hidden"),
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(epochs=None), TypeError, "epochs"),
    (dict(eta=0), ValueError, "eta"),
    (dict(eta=-0.1), ValueError, "eta"),
    (dict(eta="0.1"), TypeError, "eta"),
    (dict(eta=np.inf), ValueError, "eta"),
    (dict(l2=-1e-3), ValueError, "l2"),
    (dict(l2=np.nan), ValueError, "l2"),
    (dict(minibatch_size=0), ValueError, "minibatch_size"),
    (dict(minibatch_size=True), TypeError, "minibatch_size"),
    (dict(dtype=np.float16), TypeError, "dtype"),
    (dict(dtype="not a dtype"), TypeError, "dtype"),
    (dict(dtype=np.complex128), TypeError, "dtype"),
])
def test_bad_hyperparameters(kw, error, name, rng):
    with pytest.raises(error, match=name):
        NeuralNetMLP(**kw)
    # the book's attributes can be reassigned after construction: fit checks them again
    model = NeuralNetMLP(verbose=False)
    setattr(model, name, kw[name])
    with pytest.raises(error, match=name):
        model.fit(*classification_data(rng, 6, 2, 2))


def _bad_inputs(rng):
    """(id, fit arguments, expected exception, argument named in the message)."""
    X, y, Xv, yv = classification_data(rng, 8, 3, 2, n_valid=5)
    nan_X = X.copy()
    nan_X[1, 2] = np.nan
    return [
        ("X_train 1-D", (X[:, 0], y, Xv, yv), ValueError, "X_train"),
        ("X_train strings", (X.astype(str), y, Xv, yv), TypeError, "X_train"),
        ("X_train empty", (X[:0], y[:0], Xv, yv), ValueError, "X_train"),
        ("X_train NaN", (nan_X, y, Xv, yv), ValueError, "X_train"),
        ("X_valid columns", (X, y, Xv[:, :2], yv), ValueError, "X_valid"),
        ("X_valid 3-D", (X, y, Xv[None], yv), ValueError, "X_valid"),
        ("y_train length", (X, y[:-1], Xv, yv), ValueError, "y_train"),
        ("y_train 2-D", (X, y[:, None], Xv, yv), ValueError, "y_train"),
        ("y_train fractional", (X, y + 0.5, Xv, yv), ValueError, "y_train"),
        ("y_train strings", (X, y.astype(str), Xv, yv), TypeError, "y_train"),
        ("y_train gap in labels", (X, y * 2, Xv, yv), ValueError, "y_train"),
        ("y_train negative", (X, y - 1, Xv, yv), ValueError, "y_train"),
        ("y_valid length", (X, y, Xv, yv[:-1]), ValueError, "y_valid"),
        ("y_valid unseen class", (X, y, Xv, yv + 2), ValueError, "y_valid"),
    ]


BAD_INPUTS = _bad_inputs(np.random.default_rng(0))


@pytest.mark.parametrize("label, args, error, name", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_fit_inputs(label, args, error, name):
    model = NeuralNetMLP(epochs=1, seed=0, verbose=False)
    with pytest.raises(error, match=name):
        model.fit(*args)
    assert not hasattr(model, "eval_"), label  # refused before anything was set


def test_predict_before_fit():
    model = NeuralNetMLP()
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(AttributeError):  # the book's class raises AttributeError here
        model.predict(np.zeros((2, 3)))


def test_predict_checks_features(fitted_pair):
    fast, _, (X, *_) = fitted_pair
    with pytest.raises(ValueError, match="X"):
        fast.predict(X[:, :2])
    with pytest.raises(ValueError, match="X"):
        fast.predict(X[0])
    np.testing.assert_array_equal(fast.predict(X.tolist()), fast.predict(X))
