"""fastnn._checks: the casts every public function relies on, and the errors that name the argument."""
import fractions
import decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import naive
from fastnn import _checks as C


# --- float_dtype / float_array -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype_in, dtype_out", [
    (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32), (np.bool_, np.float64),
    (np.int8, np.float64), (np.int16, np.float64), (np.int32, np.float64), (np.int64, np.float64),
    (np.uint8, np.float64), (np.uint16, np.float64), (np.uint32, np.float64), (np.uint64, np.float64)])
def test_float_dtype_policy(dtype_in, dtype_out):
    assert C.float_dtype(dtype_in, "x") == dtype_out


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object, "U3", "S3", "datetime64[s]",
                                   "timedelta64[s]", [("a", "f8")], np.longdouble])
def test_float_dtype_refuses_the_rest(dtype):
    with pytest.raises(TypeError, match=r"^my_arg must hold real numbers.*got dtype"):
        C.float_dtype(dtype, "my_arg")


def test_float_array_returns_c_contiguous_float_input_unchanged(dtype):
    x = np.arange(6, dtype=dtype).reshape(2, 3)
    assert C.float_array(x, "x") is x


@given(data=st.data(), dtype=naive.dtypes)
def test_float_array_copies_other_layouts_to_c_order(data, dtype):
    x = data.draw(naive.arrays(dtype, naive.any_shapes(min_dims=1), layouts=["F", "strided", "reversed"]))
    got = C.float_array(x, "x")
    assert got.flags.c_contiguous and got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("x", [3, 2.5, True, np.float32(1.5), np.array(4.0), [[1, 2], [3, 4]], (1.0, 2.0), []])
def test_float_array_accepts_scalars_and_sequences_and_keeps_0d(x):
    got = C.float_array(x, "x")
    assert isinstance(got, np.ndarray) and got.flags.c_contiguous
    assert got.shape == np.shape(x)
    assert got.dtype == (np.float32 if isinstance(x, np.float32) else np.float64)


def test_float_array_forced_dtype():
    assert C.float_array([1, 2], "x", dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="^x must hold real numbers"):
        C.float_array(np.ones(2, complex), "x", dtype=np.float64)


def test_float_array_ndim_and_emptiness_checks():
    with pytest.raises(ValueError, match=r"^y must be 1-D or 2-D; got a 3-D float64 array of shape \(1, 1, 1\)"):
        C.float_array(np.ones((1, 1, 1)), "y", ndim=(1, 2))
    with pytest.raises(ValueError, match=r"^y must be 2-D; got a 1-D"):
        C.float_array(np.ones(3), "y", ndim=2)
    with pytest.raises(ValueError, match=r"^x must have at least 1 dimension"):
        C.float_array(1.0, "x", min_ndim=1)
    with pytest.raises(ValueError, match=r"^y must not be empty; got float64 array of shape \(0, 3\)"):
        C.float_array(np.ones((0, 3)), "y", allow_empty=False)
    assert C.float_array(np.ones((0, 3)), "y").shape == (0, 3)


def test_as_array_refuses_ragged_input_by_name():
    x = np.ones(2)
    assert C.as_array(x, "x") is x
    with pytest.raises(ValueError, match=r"^scores must be array-like with a regular shape; got list"):
        C.as_array([[1.0, 2.0], [3.0]], "scores")


def test_common_float_dtype():
    f32, f64 = np.ones(1, np.float32), np.ones(1, np.float64)
    assert C.common_float_dtype(f32, f32) == np.float32
    assert C.common_float_dtype(f32, f64) == np.float64


# --- in-place arrays -----------------------------------------------------------------------------------------------
def test_writable_float_array_passes_the_same_object_through(dtype):
    x = np.ones((3, 4), dtype=dtype)[:, ::2]  # non-contiguous views are fine: they are written through
    assert C.writable_float_array(x, "x") is x


@pytest.mark.parametrize("x, exc, message", [
    ([1.0, 2.0], TypeError, r"^W must be a NumPy array \(it is modified in place\); got list"),
    (1.0, TypeError, r"^W must be a NumPy array"),
    (np.ones(2, int), TypeError, r"^W must be a float32 or float64 array .* got dtype int64"),
    (np.ones(2, np.float16), TypeError, r"^W must be a float32 or float64 array .* got dtype float16"),
    (np.ones(2, complex), TypeError, r"^W must be a float32 or float64 array"),
])
def test_writable_float_array_refusals(x, exc, message):
    with pytest.raises(exc, match=message):
        C.writable_float_array(x, "W")


def test_writable_float_array_refuses_read_only():
    x = np.ones(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match=r"^W is read-only"):
        C.writable_float_array(x, "W")
    with pytest.raises(ValueError, match=r"^W is read-only"):
        C.writable_float_array(np.broadcast_to(np.ones(1), (3,)), "W")


# --- class labels --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, np.float32,
                                   np.float64])
def test_class_labels_accepts_integers_and_whole_floats(dtype):
    got = C.class_labels(np.array([2, 0, 1]).astype(dtype), 3, 3)
    assert got.dtype == np.intp and got.flags.c_contiguous
    np.testing.assert_array_equal(got, [2, 0, 1])


@given(hnp.arrays(np.int64, st.integers(0, 20), elements=st.integers(0, 9)), st.integers(10, 12))
def test_class_labels_round_trip(labels, n_classes):
    np.testing.assert_array_equal(C.class_labels(labels, labels.size, n_classes), labels)
    np.testing.assert_array_equal(C.class_labels(labels.tolist(), labels.size, n_classes), labels)


def test_class_labels_column_vector_is_flattened():
    np.testing.assert_array_equal(C.class_labels(np.array([[1], [0]]), 2, 2), [1, 0])


@pytest.mark.parametrize("t, exc, message", [
    (np.array([0, 3]), ValueError, r"^lbl holds labels out of range: expected integers in \[0, 3\), got values "
                                   r"from 0 to 3"),
    (np.array([-1, 2]), ValueError, r"^lbl holds labels out of range"),
    (np.array([0.5, 1.0]), ValueError, r"^lbl holds float labels that are not whole numbers"),
    (np.array([np.nan, 1.0]), ValueError, r"^lbl holds float labels that are not whole numbers"),
    (np.array([np.inf, 1.0]), ValueError, r"^lbl holds float labels that are not whole numbers"),
    (np.array([0, 1, 2]), ValueError, r"^lbl must hold one label per row \(2\)"),
    (np.array([True, False]), TypeError, r"^lbl must hold integer class labels"),
    (np.array(["0", "1"]), TypeError, r"^lbl must hold integer class labels"),
    (np.array([1 + 0j, 0j]), TypeError, r"^lbl must hold integer class labels"),
])
def test_class_labels_refusals(t, exc, message):
    with pytest.raises(exc, match=message):
        C.class_labels(t, 2, 3, "lbl")


def test_labels_or_onehot_uses_the_books_size_rule(dtype):
    y = np.zeros((2, 3), dtype=dtype)
    kind, t = C.labels_or_onehot(np.array([[0, 1, 0], [1, 0, 0]]), y)
    assert kind == "onehot" and t.dtype == dtype and t.flags.c_contiguous and t.shape == (2, 3)
    kind, t = C.labels_or_onehot(np.eye(3)[[1, 0]].ravel(), y)  # flat one-hot of the same size
    assert kind == "onehot" and t.shape == (2, 3)
    kind, t = C.labels_or_onehot([2, 1], y)
    assert kind == "labels" and t.dtype == np.intp
    np.testing.assert_array_equal(t, [2, 1])


# --- other arguments -----------------------------------------------------------------------------------------------
def test_same_shape():
    C.same_shape(np.ones((2, 3)), np.ones((2, 3)), "y", "t")
    with pytest.raises(ValueError, match=r"^y and t must have the same shape; got \(2, 3\) and \(3, 2\)"):
        C.same_shape(np.ones((2, 3)), np.ones((3, 2)), "y", "t")


def test_callable_arg():
    assert C.callable_arg(len, "f") is len
    with pytest.raises(TypeError, match="^f must be callable; got int"):
        C.callable_arg(3, "f")


@pytest.mark.parametrize("v", [0.5, 1, np.float32(0.25), np.int64(2), fractions.Fraction(1, 4)])
def test_real_number_accepts_real_numbers(v):
    got = C.real_number(v, "lr", positive=True)
    assert type(got) is float and got == float(v)


@pytest.mark.parametrize("v, kwargs, exc, message", [
    (True, {}, TypeError, "^lr must be a real number; got bool"),
    (np.bool_(True), {}, TypeError, "^lr must be a real number"),
    ("0.1", {}, TypeError, "^lr must be a real number; got str"),
    (None, {}, TypeError, "^lr must be a real number"),
    (1j, {}, TypeError, "^lr must be a real number"),
    (decimal.Decimal("0.1"), {}, TypeError, "^lr must be a real number"),
    (np.array([0.1]), {}, TypeError, "^lr must be a real number"),
    (float("nan"), {}, ValueError, "^lr must be finite"),
    (float("inf"), {}, ValueError, "^lr must be finite"),
    (0.0, {"positive": True}, ValueError, "^lr must be > 0"),
    (-1e-3, {"positive": True}, ValueError, "^lr must be > 0"),
    (-1e-3, {"nonnegative": True}, ValueError, "^lr must be >= 0"),
])
def test_real_number_refusals(v, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        C.real_number(v, "lr", **kwargs)


def test_integer():
    assert C.integer(np.int32(5), "n", minimum=0) == 5 and type(C.integer(np.int32(5), "n")) is int
    assert C.integer(0, "n", minimum=0) == 0
    for bad in (True, 1.0, "3", None):
        with pytest.raises(TypeError, match="^n must be an integer"):
            C.integer(bad, "n")
    with pytest.raises(ValueError, match="^n must be >= 0; got -1"):
        C.integer(-1, "n", minimum=0)
