"""Kernels that have no public function of their own (layer backward passes, fused softmax + cross-entropy with its
softmax output, affine, the compiled numerical-gradient loops), called directly the way the layers call them:
C-contiguous float32/float64 inputs, preallocated outputs, constants in the input dtype.
The kernels with a public function are tested through it in test_functions.py and test_gradient.py."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import naive
from fastnn import reference as R
from fastnn.kernels import activations, affine, numgrad
from fastnn.kernels import softmax as sm
from naive import H, arrays, assert_close, dtypes, floats

C_ONLY = ["C"]  # the kernel contract: callers pass C-contiguous arrays


def c_arrays(dtype, shape, elements=None):
    return arrays(dtype, shape, elements if elements is not None else floats(dtype), layouts=C_ONLY)


def frozen(*arrays_):
    """Copies to check afterwards that a kernel left its inputs alone."""
    return [a.copy() for a in arrays_]


def assert_unchanged(arrays_, copies):
    for a, c in zip(arrays_, copies):
        np.testing.assert_array_equal(a, c)


# --- activation backward passes ----------------------------------------------------------------------------------
@given(data=st.data(), dtype=dtypes, n=st.integers(0, 64))
def test_sigmoid_backward(data, dtype, n):
    dout = data.draw(c_arrays(dtype, n), label="dout")
    y = data.draw(c_arrays(dtype, n, st.floats(0, 1, width=np.finfo(dtype).bits)), label="y")
    before = frozen(dout, y)
    dx = np.empty_like(y)
    activations.sigmoid_backward(dout, y, dx)
    assert_close(dx, R.sigmoid_backward(dout, y), dtype)
    assert_unchanged((dout, y), before)


@given(data=st.data(), dtype=dtypes, n=st.integers(0, 64))
def test_relu_backward(data, dtype, n):
    dout = data.draw(c_arrays(dtype, n), label="dout")
    x = data.draw(c_arrays(dtype, n), label="x")
    before = frozen(dout, x)
    out, mask, dx = np.empty_like(x), np.empty(x.shape, np.bool_), np.empty_like(x)
    activations.relu_forward_mask(x, out, mask)  # the ReLU layer: the mask from forward, then backward
    np.testing.assert_array_equal(mask, x <= 0)
    np.testing.assert_array_equal(out, R.relu(x))
    activations.relu_backward_mask(dout, mask, dx)
    np.testing.assert_array_equal(dx, R.relu_backward(dout, x))
    assert_unchanged((dout, x), before)


def test_relu_backward_mask_is_x_le_zero(dtype):
    x = np.array([-1.0, -0.0, 0.0, 1e-30, np.nan, np.inf, -np.inf], dtype=dtype)
    dout = np.arange(1, 8, dtype=dtype)
    out, mask, dx = np.empty_like(x), np.empty(x.shape, np.bool_), np.empty_like(x)
    activations.relu_forward_mask(x, out, mask)
    activations.relu_backward_mask(dout, mask, dx)
    np.testing.assert_array_equal(dx, [0, 0, 0, 4, 5, 6, 0])  # NaN <= 0 is False: the gradient passes
    np.testing.assert_array_equal(dx, R.relu_backward(dout, x))


# --- fused softmax + cross-entropy ---------------------------------------------------------------------------------
@st.composite
def logits_and_targets(draw):
    """(x, labels, onehot, soft): a C-contiguous (N, C) batch and three kinds of targets for it."""
    dtype = draw(dtypes)
    n, c = draw(naive.batch_shapes())
    bound = draw(st.sampled_from([1.0, 30.0, 1e4]))
    x = draw(c_arrays(dtype, (n, c), floats(dtype, bound)))
    labels = draw(hnp.arrays(np.intp, n, elements=st.integers(0, c - 1)))
    onehot = np.eye(c, dtype=dtype)[labels]
    soft = draw(c_arrays(dtype, (n, c), st.floats(0, 1, width=32)))
    return x, labels, onehot, soft


@given(logits_and_targets(), st.sampled_from(["labels", "onehot", "soft"]))
def test_softmax_cross_entropy_forward(case, kind):
    x, labels, onehot, soft = case
    dtype = x.dtype
    delta = dtype.type(naive.CE_DELTA)
    y = np.empty_like(x)
    before = frozen(x, labels, onehot, soft)
    if kind == "labels":
        loss, t_ref = sm.softmax_cross_entropy_labels(x, labels, delta, y), onehot
    else:
        t_ref = onehot if kind == "onehot" else soft
        loss = sm.softmax_cross_entropy_onehot(x, t_ref, delta, y)
    assert_close(y, R.softmax(x), dtype)
    assert_close(y, naive.softmax(x), dtype)
    assert_close(loss, R.softmax_loss(x, t_ref), dtype, scale=1.0)
    assert_close(loss, naive.softmax_cross_entropy(x, t_ref), dtype, scale=1.0)
    assert_unchanged((x, labels, onehot, soft), before)


@given(logits_and_targets(), st.sampled_from(["labels", "onehot", "soft"]),
       st.sampled_from([1.0, 0.5, -2.0, 3.7, 1e-3]))
def test_softmax_cross_entropy_backward(case, kind, dout):
    x, labels, onehot, soft = case
    dtype = x.dtype
    y = R.softmax(x).astype(dtype)
    dout = dtype.type(dout)
    dx = np.empty_like(y)
    before = frozen(y, labels, onehot, soft)
    if kind == "labels":
        sm.softmax_cross_entropy_backward_labels(y, labels, dout, dx)
        t_ref, t_naive = onehot, labels  # (the book's backward takes same-size labels for one-hot: pass one-hot)
    else:
        t_ref = t_naive = onehot if kind == "onehot" else soft
        sm.softmax_cross_entropy_backward_onehot(y, t_ref, dout, dx)
    assert_close(dx, R.softmax_cross_entropy_backward(y, t_ref, dout), dtype, scale=abs(dout) / len(y))
    assert_close(dx, naive.softmax_cross_entropy_backward(y, t_naive, float(dout)), dtype, scale=abs(dout) / len(y))
    assert_unchanged((y, labels, onehot, soft), before)


def test_softmax_rows_kernel_all_equal_and_huge_rows(dtype):
    x = np.array([[3.0] * 4, [-1e4, 1e4, 0.0, 1e4], [1e4] * 4, [-1e4] * 4], dtype=dtype)
    out = np.empty_like(x)
    sm.softmax_rows(x, out)
    assert_close(out, [[0.25] * 4, [0, 0.5, 0, 0.5], [0.25] * 4, [0.25] * 4], dtype)


# --- affine --------------------------------------------------------------------------------------------------------
@st.composite
def affine_case(draw):
    dtype = draw(dtypes)
    n = draw(st.one_of(st.just(1), st.integers(1, 32)))
    d = draw(st.integers(1, 12))
    m = draw(st.integers(1, 12))
    x = draw(c_arrays(dtype, (n, d)))
    W = draw(c_arrays(dtype, (d, m), floats(dtype, 3.0)))
    b = draw(c_arrays(dtype, m))
    dout = draw(c_arrays(dtype, (n, m)))
    return x, W, b, dout


@given(affine_case())
def test_affine_forward(case):
    x, W, b, _ = case
    dtype = x.dtype
    before = frozen(x, W, b)
    out = np.empty((x.shape[0], W.shape[1]), dtype=dtype)
    affine.affine_forward(x, W, b, out)
    scale = np.max(np.abs(x) @ np.abs(W) + np.abs(b), initial=0.0)  # dot products cancel: bound by |x| |W|
    assert_close(out, R.affine_forward(x, W, b), dtype, scale)
    assert_close(out, naive.affine_forward(x, W, b), dtype, scale)
    assert_unchanged((x, W, b), before)


@given(affine_case())
def test_affine_backward(case):
    x, W, _, dout = case
    dtype = x.dtype
    before = frozen(x, W, dout)
    dx, dW, db = np.empty_like(x), np.full_like(W, np.nan), np.full(W.shape[1], np.nan, dtype=dtype)
    affine.affine_backward_input(dout, W, dx)
    affine.affine_backward_params(x, dout, dW, db)
    want = R.affine_backward(x, W, dout)
    loops = naive.affine_backward(x, W, dout)
    scales = [np.max(np.abs(dout) @ np.abs(W.T)), np.max(np.abs(x.T) @ np.abs(dout)), np.max(np.abs(dout).sum(0))]
    for got, ref, loop, scale in zip((dx, dW, db), want, loops, scales):
        assert got.dtype == dtype
        assert_close(got, ref, dtype, scale)
        assert_close(got, loop, dtype, scale)
    assert_unchanged((x, W, dout), before)


def test_affine_backward_params_overwrites_db(dtype):
    """db is set, not accumulated into: a layer reuses its db buffer between batches."""
    x, dout = np.ones((2, 3), dtype=dtype), np.ones((2, 4), dtype=dtype)
    dW, db = np.full((3, 4), 99, dtype=dtype), np.full(4, 99, dtype=dtype)
    affine.affine_backward_params(x, dout, dW, db)
    np.testing.assert_array_equal(dW, np.full((3, 4), 2))
    np.testing.assert_array_equal(db, np.full(4, 2))


# --- compiled numerical gradient and gradient descent --------------------------------------------------------------
@given(data=st.data(), dtype=dtypes, shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=6))
def test_numerical_gradient_kernel(data, dtype, shape):
    x = data.draw(c_arrays(dtype, shape, floats(dtype, 3.0)), label="x")
    before = frozen(x)
    grad = np.full_like(x, np.nan)
    numgrad.numerical_gradient(naive.weighted_cubes, x, x.reshape(-1), dtype.type(H), grad.reshape(-1))
    np.testing.assert_array_equal(x.view(np.uint8), before[0].view(np.uint8))  # restored bit for bit
    assert_close(grad, R.numerical_gradient(naive.weighted_cubes, x.copy()), dtype)
    if dtype == np.float64:
        assert_close(grad, naive.numerical_gradient(naive.weighted_cubes, x), dtype)
        # central differences are exact for a cubic up to the h**2 term (i + 1) h**2 / 3 and rounding
        np.testing.assert_allclose(grad, naive.weighted_cubes_gradient(x), rtol=1e-6, atol=x.size * 1e-7)


@given(data=st.data(), n=st.integers(1, 6), lr=st.sampled_from([0.01, 0.1, 0.4]), step_num=st.integers(0, 20))
def test_gradient_descent_kernel(data, n, lr, step_num):
    x = data.draw(c_arrays(np.float64, n, floats(np.float64, 5.0)), label="x")
    x32 = x.astype(np.float32)
    want = R.gradient_descent(naive.sum_of_squares, x.copy(), lr, step_num)
    grad = np.empty_like(x)
    numgrad.gradient_descent(naive.sum_of_squares, x, x, H, lr, step_num, grad)
    assert_close(x, want, np.float64)
    # float32 central differences carry an error of about eps32 * |x|**2 / h (~1e-3 relative here), which the
    # descent carries along: hold the float32 run to the float64 one at that level
    grad32 = np.empty_like(x32)
    numgrad.gradient_descent(naive.sum_of_squares, x32, x32, np.float32(H), np.float32(lr), step_num, grad32)
    assert x32.dtype == np.float32
    np.testing.assert_allclose(x32, want, rtol=0, atol=0.02 * np.max(np.abs(want), initial=0) + 1e-6)


def test_numgrad_kernels_on_the_book_function(dtype):
    """The book's function_2 = x0**2 + x1**2: gradient (6, 8) at (3, 4); 100 steps of lr 0.1 from (-3, 4)."""
    rtol = 2e-3 if dtype == np.float32 else 1e-9  # float32 central differences: eps32 * 25 / 2e-4 ~ 1e-2
    x = np.array([3.0, 4.0], dtype=dtype)
    grad = np.empty_like(x)
    numgrad.numerical_gradient(naive.sum_of_squares, x, x, dtype.type(H), grad)
    np.testing.assert_allclose(grad, [6.0, 8.0], rtol=rtol)
    assert grad.dtype == dtype
    x = np.array([-3.0, 4.0], dtype=dtype)
    numgrad.gradient_descent(naive.sum_of_squares, x, x, dtype.type(H), dtype.type(0.1), 100, grad)
    np.testing.assert_allclose(x, [-3 * 0.8 ** 100, 4 * 0.8 ** 100], rtol=1e-2 if dtype == np.float32 else 1e-6)
    assert x.dtype == dtype
