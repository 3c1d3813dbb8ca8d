"""fastnn.functions against fastnn.reference (the book's NumPy code) and the plain-loop oracles in naive.py:
the book's worked examples, random shapes/values/layouts in both dtypes, special values, and the dtype rules."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import naive
from fastnn import functions as F
from fastnn import reference as R
from naive import arrays, assert_close, dtypes, floats

BOOK_Y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
BOOK_Y_WRONG = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
BOOK_T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def reference(fn, *args):
    """The reference, with NumPy's overflow warnings silenced (sigmoid's exp(-x) overflows for x < -709)."""
    with np.errstate(over="ignore", under="ignore"):
        return fn(*args)


# --- the books' worked examples --------------------------------------------------------------------------------
def test_softmax_book_example():
    assert_close(F.softmax(np.array([0.3, 2.9, 4.0])), [0.01821127, 0.24519181, 0.73659691], np.float32)


def test_sigmoid_book_example():
    assert_close(F.sigmoid(np.array([-1.0, 1.0])), [0.26894142, 0.73105858], np.float32)


@pytest.mark.parametrize("y, expected", [(BOOK_Y, 0.510825457099338), (BOOK_Y_WRONG, 2.302584092994546)])
@pytest.mark.parametrize("t", [np.array(BOOK_T), np.array([2]), 2], ids=["one-hot", "label", "scalar label"])
def test_cross_entropy_book_example(y, expected, t):
    got = F.cross_entropy_error(np.array(y), t)
    assert isinstance(got, np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    np.testing.assert_allclose(F.cross_entropy_error(np.array([y, y]), [2, 2]), expected, rtol=1e-15)


@pytest.mark.parametrize("y, expected", [(BOOK_Y, 0.09750000000000003), (BOOK_Y_WRONG, 0.5975)])
def test_mean_squared_error_book_example(y, expected):
    np.testing.assert_allclose(F.mean_squared_error(np.array(y), np.array(BOOK_T)), expected, rtol=1e-15)
    np.testing.assert_allclose(F.sum_squared_error(y, BOOK_T), expected, rtol=1e-15)


def test_identity_function_returns_its_argument():
    x = np.arange(3.0)
    assert F.identity_function(x) is x


# --- elementwise functions against the reference -----------------------------------------------------------------
# (name, bound of the random values, cancellation scale for the tolerance: sigmoid_grad computes 1 - s near s = 1)
ELEMENTWISE = [("sigmoid", 800.0, 0.0), ("sigmoid_grad", 800.0, 1.0), ("relu", 30.0, 0.0), ("relu_grad", 30.0, 0.0)]


@pytest.mark.parametrize("name, bound, scale", ELEMENTWISE)
@given(data=st.data(), dtype=dtypes)
def test_elementwise_matches_reference(name, bound, scale, data, dtype):
    x = data.draw(arrays(dtype, naive.any_shapes(), floats(dtype, bound)), label="x")
    x_before = x.copy()
    got = getattr(F, name)(x)
    want = reference(getattr(R, name), x)
    assert np.shape(got) == x.shape
    assert np.result_type(got) == dtype
    assert_close(got, want, dtype, scale)
    np.testing.assert_array_equal(x, x_before)  # the input is never written


@given(data=st.data(), dtype=dtypes)
def test_step_function_matches_reference(data, dtype):
    x = data.draw(arrays(dtype, naive.any_shapes(), floats(dtype)), label="x")
    got = F.step_function(x)
    want = R.step_function(x)
    assert np.result_type(got) == np.result_type(want) == np.int_
    np.testing.assert_array_equal(got, want)
    assert np.shape(got) == x.shape


@pytest.mark.parametrize("name", ["sigmoid", "sigmoid_grad", "relu", "relu_grad", "step_function"])
def test_elementwise_special_values(name, dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(dtype).max, -np.finfo(dtype).max,
                  np.finfo(dtype).smallest_subnormal, -np.finfo(dtype).tiny], dtype=dtype)
    np.testing.assert_array_equal(getattr(F, name)(x), reference(getattr(R, name), x))


def test_sigmoid_extremes_do_not_overflow(dtype):
    x = np.array([-1e4, -800.0, -740.0, 740.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):  # no overflow inside fastnn
        got = F.sigmoid(x)
    np.testing.assert_array_equal(got[[0, 1, 3, 4]], [0, 0, 1, 1])
    assert 0 <= got[2] < np.finfo(dtype).tiny  # exp(-740) underflows to a subnormal (float64) or 0 (float32)


# --- softmax -----------------------------------------------------------------------------------------------------
@given(data=st.data(), dtype=dtypes)
def test_softmax_matches_reference_and_loop(data, dtype):
    bound = data.draw(st.sampled_from([1.0, 30.0, 1e4]), label="bound")
    x = data.draw(arrays(dtype, naive.score_shapes(), floats(dtype, bound)), label="x")
    if data.draw(st.booleans(), label="all-equal rows"):
        x[...] = x[..., :1]
    got = F.softmax(x)
    assert got.shape == x.shape and got.dtype == dtype
    assert_close(got, reference(R.softmax, x), dtype)
    assert_close(got, naive.softmax(x), dtype)
    assert_close(got.sum(axis=-1), 1.0, dtype, scale=x.shape[-1])


@given(data=st.data(), dtype=dtypes)
def test_softmax_is_over_the_last_axis_of_nd_input(data, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), label="shape")
    x = data.draw(arrays(dtype, shape, floats(dtype, 50.0)), label="x")
    got = F.softmax(x)
    assert got.shape == x.shape
    assert_close(got, reference(R.softmax, x), dtype)
    assert_close(got, naive.softmax(x), dtype)


def test_softmax_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [-1e4, 1e4 - 1, 1e4]], dtype=dtype)
    got = F.softmax(x)
    assert np.all(np.isfinite(got))
    assert_close(got, R.softmax(x), dtype)
    assert_close(got, naive.softmax(x), dtype)
    assert got[0, 0] == 1 and got[0, 1] == 0


@pytest.mark.parametrize("width", [1, 2, 3, 7, 100])
def test_softmax_all_equal_rows(width, dtype):
    x = np.repeat(np.array([[-1e4], [-2.5], [0.0], [7.0], [1e4]], dtype=dtype), width, axis=1)
    got = F.softmax(x)
    assert_close(got, R.softmax(x), dtype)
    assert_close(got, np.full(x.shape, 1 / width), dtype)


def test_softmax_special_values(dtype):
    x = np.array([[np.nan, 0, 1], [np.inf, 0, 1], [-np.inf, 0, 1], [-np.inf, -np.inf, -np.inf], [1, 2, np.nan]],
                 dtype=dtype)
    with np.errstate(invalid="ignore"):  # inf - inf (also inside kernels run as Python under NUMBA_DISABLE_JIT)
        want = R.softmax(x)
        got = F.softmax(x)
    assert_close(got, want, dtype)  # NaN where the reference has NaN


# --- squared error -----------------------------------------------------------------------------------------------
@given(data=st.data(), dtype_y=dtypes, dtype_t=dtypes)
def test_sum_squared_error_matches_reference_and_exact_sum(data, dtype_y, dtype_t):
    shape = data.draw(naive.any_shapes(), label="shape")
    y = data.draw(arrays(dtype_y, shape), label="y")
    t = data.draw(arrays(dtype_t, shape), label="t")
    got = F.sum_squared_error(y, t)
    dtype = np.result_type(dtype_y, dtype_t)
    assert isinstance(got, dtype.type)
    assert_close(got, R.sum_squared_error(y, t), dtype)
    if dtype == np.float64:
        assert_close(got, naive.sum_squared_error(y, t), dtype)
    else:  # the reference differences are rounded to float32 first; compare with the same differences
        assert_close(got, naive.sum_squared_error(y - t, np.zeros_like(y)), dtype)


def test_mean_squared_error_is_the_book_alias():
    y, t = np.array([[0.5, 1.5], [2.0, -1.0]]), np.array([[0.0, 1.0], [2.0, 1.0]])
    assert F.mean_squared_error(y, t) == F.sum_squared_error(y, t) == R.mean_squared_error(y, t)


# --- cross-entropy and the fused softmax + cross-entropy -----------------------------------------------------------
TARGET_KINDS = ["int64", "int32", "uint8", "whole floats", "list", "one-hot", "one-hot int", "soft"]


@st.composite
def scores_and_targets(draw, values):
    """(y, t, labels): scores of a random shape and layout, targets of a random kind, the labels they mean."""
    dtype = draw(dtypes)
    shape = draw(naive.score_shapes())
    y = draw(arrays(dtype, shape, values(dtype)))
    n, c = (1, shape[0]) if len(shape) == 1 else shape
    labels = draw(hnp.arrays(np.intp, n, elements=st.integers(0, c - 1)))
    kind = draw(st.sampled_from(TARGET_KINDS))
    onehot = np.eye(c, dtype=dtype)[labels].reshape(shape)
    if kind == "one-hot":
        t = onehot
    elif kind == "one-hot int":
        t = onehot.astype(np.int8)
    elif kind == "soft":  # soft targets: the book reduces them to their argmax (first index on ties)
        t = draw(arrays(dtype, shape, st.floats(0, 1, width=32)))
        labels = np.array([naive.argmax(row) for row in t.reshape(n, c).tolist()], dtype=np.intp)
    elif kind == "list":
        t = labels.tolist()
    elif kind == "whole floats":
        t = labels.astype(np.float64)
    else:
        t = labels.astype(kind)
    return y, t, labels


def _probabilities(dtype):
    return st.floats(0, 1, width=np.finfo(dtype).bits)


def _logits(dtype):
    return st.sampled_from([1.0, 30.0, 1e4]).flatmap(lambda bound: floats(dtype, bound))


def reference_targets(y, labels):
    """Labels in a form the book's code reads unambiguously: with one class, integer labels have the size of y and
    the book takes them for one-hot rows (then fails on argmax(axis=1) of a 1-D array), so pass real one-hot."""
    return np.ones(y.shape) if y.shape[-1] == 1 else labels


@given(scores_and_targets(_probabilities))
def test_cross_entropy_error_matches_reference_and_loop(case):
    y, t, labels = case
    got = F.cross_entropy_error(y, t)
    assert isinstance(got, y.dtype.type)
    assert_close(got, R.cross_entropy_error(y, reference_targets(y, labels)), y.dtype, scale=1.0)
    assert_close(got, naive.cross_entropy(y, t), y.dtype, scale=1.0)


@given(scores_and_targets(_logits))
def test_softmax_loss_matches_reference_and_loop(case):
    x, t, labels = case
    got = F.softmax_loss(x, t)
    assert isinstance(got, x.dtype.type)
    assert_close(got, R.softmax_loss(x, reference_targets(x, labels)), x.dtype, scale=1.0)
    assert_close(got, naive.softmax_cross_entropy(x, t), x.dtype, scale=1.0)
    assert_close(got, F.cross_entropy_error(F.softmax(x), t), x.dtype, scale=1.0)


def test_cross_entropy_of_zero_probability_is_finite(dtype):
    y = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)
    got = F.cross_entropy_error(y, [0, 0])
    assert_close(got, -0.5 * (np.log(dtype.type(1e-7)) + np.log(dtype.type(1) + dtype.type(1e-7))), dtype)


def test_softmax_loss_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [-1e4, 1e4, 1e4]], dtype=dtype)
    for t in ([0, 1, 2], [1, 0, 0]):
        got = F.softmax_loss(x, t)
        assert np.isfinite(got)
        assert_close(got, R.softmax_loss(x, np.array(t)), dtype, scale=1.0)


@pytest.mark.parametrize("width", [2, 10, 1000])
def test_softmax_loss_all_equal_rows(width, dtype):
    x = np.full((3, width), 2.5, dtype=dtype)
    got = F.softmax_loss(x, [0, width - 1, width // 2])
    assert_close(got, -np.log(1 / width + 1e-7), dtype, scale=1.0)
    assert_close(got, R.softmax_loss(x, np.array([0, width - 1, width // 2])), dtype, scale=1.0)


@pytest.mark.parametrize("fn", ["cross_entropy_error", "softmax_loss"])
def test_soft_target_ties_take_the_first_index(fn, dtype):
    y = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.6, 0.3, 0.1]], dtype=dtype)
    t = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 1.0], [0.2, 0.2, 0.2]], dtype=dtype)  # argmax: 0, 1, 0
    got = getattr(F, fn)(y, t)
    assert_close(got, getattr(F, fn)(y, [0, 1, 0]), dtype)
    assert_close(got, getattr(R, fn)(y, t), dtype, scale=1.0)


def test_cross_entropy_refuses_nan_in_one_hot_rows_like_nan_labels():
    """The book's argmax would take the NaN as the class (issue #25, D): refused, as NaN class labels are."""
    y = np.array([[0.2, 0.3, 0.5]])
    t = np.array([[0.0, np.nan, 1.0]])
    with pytest.raises(ValueError, match="t must hold finite numbers"):
        F.cross_entropy_error(y, t)


# --- dtype rules ---------------------------------------------------------------------------------------------------
FLOAT_OUT = ["sigmoid", "sigmoid_grad", "relu", "relu_grad", "softmax"]
CASTS = [(np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32), (np.int8, np.float64),
         (np.int32, np.float64), (np.int64, np.float64), (np.uint8, np.float64), (np.bool_, np.float64)]


@pytest.mark.parametrize("name", FLOAT_OUT)
@pytest.mark.parametrize("dtype_in, dtype_out", CASTS, ids=lambda d: np.dtype(d).name)
def test_elementwise_dtype_rules(name, dtype_in, dtype_out):
    x = np.array([[-2, 0, 1], [3, 1, 0]]).astype(dtype_in)
    got = getattr(F, name)(x)
    assert got.dtype == dtype_out
    assert_close(got, reference(getattr(R, name), x.astype(dtype_out)), dtype_out)
    assert F.step_function(x).dtype == np.int_


@pytest.mark.parametrize("dtype_y, dtype_t, dtype_out", [
    (np.float32, np.float32, np.float32), (np.float64, np.float64, np.float64), (np.float32, np.float64, np.float64),
    (np.float64, np.float32, np.float64), (np.float16, np.float16, np.float32), (np.float16, np.float32, np.float32),
    (np.int64, np.int64, np.float64), (np.float32, np.int32, np.float64), (np.bool_, np.float32, np.float64)])
def test_sum_squared_error_dtype_rules(dtype_y, dtype_t, dtype_out):
    y, t = np.array([1, 0, 1]).astype(dtype_y), np.array([0, 0, 0]).astype(dtype_t)
    got = F.sum_squared_error(y, t)
    assert type(got) is np.dtype(dtype_out).type
    assert got == 1.0


@pytest.mark.parametrize("dtype_in, dtype_out", CASTS[:3], ids=lambda d: np.dtype(d).name)
def test_loss_dtype_rules(dtype_in, dtype_out):
    y = np.array([[0.25, 0.75], [0.5, 0.5]]).astype(dtype_in)
    assert type(F.cross_entropy_error(y, [1, 0])) is np.dtype(dtype_out).type
    assert type(F.softmax_loss(y, [1, 0])) is np.dtype(dtype_out).type


@pytest.mark.parametrize("name", ["sigmoid", "sigmoid_grad", "relu", "relu_grad", "step_function"])
@pytest.mark.parametrize("x, dtype_out", [(np.float32(-0.5), np.float32), (np.float64(2.0), np.float64),
                                          (3, np.float64), (-1.5, np.float64), (True, np.float64),
                                          (np.array(0.25), np.float64)],
                         ids=["float32", "float64", "int", "float", "bool", "0-d array"])
def test_zero_dim_input_gives_a_numpy_scalar_like_numpy(name, x, dtype_out):
    got = getattr(F, name)(x)
    assert isinstance(got, np.generic) and not isinstance(got, np.ndarray)
    assert type(got) is (np.int_ if name == "step_function" else dtype_out)
    assert_close(got, getattr(R, name)(np.asarray(x, dtype=dtype_out)), dtype_out)


@pytest.mark.parametrize("name", ["sigmoid", "sigmoid_grad", "relu", "relu_grad", "step_function"])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (1,), (2, 3), (2, 1, 3), (2, 3, 1, 2), (1, 1, 1, 1, 1)])
def test_elementwise_output_shape_equals_input_shape(name, shape):
    x = np.linspace(-3, 3, int(np.prod(shape))).reshape(shape)
    got = getattr(F, name)(x)
    assert got.shape == shape
    np.testing.assert_allclose(got, getattr(R, name)(x), rtol=1e-12)


def test_lists_and_nested_lists_are_accepted():
    np.testing.assert_allclose(F.sigmoid([[0, 1], [2, 3]]), R.sigmoid(np.array([[0.0, 1], [2, 3]])), rtol=1e-12)
    np.testing.assert_allclose(F.softmax([[1, 2], [3, 5]]), R.softmax(np.array([[1.0, 2], [3, 5]])), rtol=1e-12)
    assert F.relu([-1, 2]).dtype == np.float64


def test_softmax_empty_batch_like_numpy(dtype):
    x = np.zeros((0, 4), dtype=dtype)
    got = F.softmax(x)
    assert got.shape == (0, 4) and got.dtype == dtype
