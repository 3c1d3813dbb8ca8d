"""fastnn.gradient: the book's examples, agreement with the reference and the plain loop, and the contract the
book's networks rely on: h = 1e-4, C order, x perturbed in place while f runs, x restored bit for bit (also when
f raises), the compiled path for jitted f and its fallback, numerical_gradient_2d's rows, gradient_descent in place."""
import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import naive
from fastnn import gradient as G
from fastnn import reference as R
from naive import H, arrays, assert_close, dtypes, floats

JIT = not numba.config.DISABLE_JIT
needs_jit = pytest.mark.skipif(not JIT, reason="the compiled path does not exist under NUMBA_DISABLE_JIT=1")


def function_1(x):
    return 0.01 * x ** 2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def python_sum_of_squares(x):
    """A plain-Python callable around the jitted f: same arithmetic, but numerical_gradient takes its Python loop."""
    return naive.sum_of_squares(x)


def python_weighted_cubes(x):
    return naive.weighted_cubes(x)


def bits(x):
    """The bit patterns of x (so -0.0 and NaN payloads count), as an unsigned-integer copy."""
    return x.copy().view(f"u{x.dtype.itemsize}")


# --- the book's examples -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, expected", [(5, 0.1999999999990898), (10, 0.2999999999986347)])
def test_numerical_diff_book_example(x, expected):
    got = G.numerical_diff(function_1, x)
    assert got == R.numerical_diff(function_1, x)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    np.testing.assert_allclose(got, 0.02 * x + 0.1, rtol=1e-10)


@pytest.mark.parametrize("f", [function_2, naive.sum_of_squares], ids=["python", "jitted"])
@pytest.mark.parametrize("point, expected", [((3.0, 4.0), (6, 8)), ((0.0, 2.0), (0, 4)), ((3.0, 0.0), (6, 0))])
def test_numerical_gradient_book_example(f, point, expected):
    x = np.array(point)
    got = G.numerical_gradient(f, x)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got, R.numerical_gradient(f, np.array(point)))
    np.testing.assert_array_equal(x, point)


@pytest.mark.parametrize("f", [function_2, naive.sum_of_squares], ids=["python", "jitted"])
def test_gradient_descent_book_example(f):
    init_x = np.array([-3.0, 4.0])
    got = G.gradient_descent(f, init_x, lr=0.1, step_num=100)
    np.testing.assert_allclose(got, [-6.11110793e-10, 8.14814391e-10], rtol=1e-6)
    np.testing.assert_array_equal(got, R.gradient_descent(f, np.array([-3.0, 4.0]), lr=0.1, step_num=100))


# --- agreement with the reference over random shapes and layouts ---------------------------------------------------
def _points(dtype, min_dims=0):
    shapes = hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4)
    return arrays(dtype, shapes, floats(dtype, 3.0))


@given(data=st.data(), dtype=dtypes)
def test_numerical_gradient_python_f_matches_reference(data, dtype):
    x = data.draw(_points(dtype), label="x")
    before = bits(x)
    got = G.numerical_gradient(python_weighted_cubes, x)
    assert got.shape == x.shape and got.dtype == dtype
    np.testing.assert_array_equal(bits(x), before)
    np.testing.assert_array_equal(got, R.numerical_gradient(python_weighted_cubes, x.copy()))  # same arithmetic
    if dtype == np.float64:
        assert_close(got, naive.numerical_gradient(python_weighted_cubes, x), dtype)


@given(data=st.data(), dtype=dtypes)
def test_numerical_gradient_jitted_f_matches_reference_and_python_path(data, dtype):
    """Any layout: C-contiguous x takes the compiled loop, other layouts the Python loop; values agree."""
    x = data.draw(_points(dtype), label="x")
    before = bits(x)
    got = G.numerical_gradient(naive.weighted_cubes, x)
    assert got.shape == x.shape and got.dtype == dtype
    np.testing.assert_array_equal(bits(x), before)
    assert_close(got, R.numerical_gradient(naive.weighted_cubes, x.copy()), dtype)
    python_path = G.numerical_gradient(python_weighted_cubes, x)
    if dtype == np.float64:  # the compiled loop does the Python loop's arithmetic exactly
        np.testing.assert_array_equal(got, python_path)
    else:  # it divides by 2 * float32(h) where the Python loop divides by the float 2e-4: 1 ulp apart at most
        np.testing.assert_allclose(got, python_path, rtol=2 * np.finfo(np.float32).eps)
    if dtype == np.float64:
        np.testing.assert_allclose(got, naive.weighted_cubes_gradient(x), rtol=1e-6, atol=x.size * 1e-7)


@needs_jit
def test_jitted_f_with_c_contiguous_x_runs_compiled(monkeypatch):
    def no_python_loop(*args):
        raise AssertionError("took the Python loop")

    monkeypatch.setattr(G, "_python_loop", no_python_loop)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(G.numerical_gradient(naive.sum_of_squares, x), 2 * x, rtol=1e-9)
    init_x = np.array([-3.0, 4.0])
    G.gradient_descent(naive.sum_of_squares, init_x, lr=0.1, step_num=100)
    np.testing.assert_allclose(init_x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-6)


def test_python_f_or_non_contiguous_x_takes_the_python_loop(monkeypatch):
    calls = []
    real_loop = G._python_loop
    monkeypatch.setattr(G, "_python_loop", lambda *args: calls.append(1) or real_loop(*args))
    G.numerical_gradient(function_2, np.array([1.0, 2.0]))
    G.numerical_gradient(naive.sum_of_squares, np.arange(12.0).reshape(3, 4)[:, ::2])
    assert len(calls) == 2


@numba.jit(forceobj=True)
def object_mode_f(x):
    return (x * x).sum()


@needs_jit
def test_jitted_f_that_cannot_compile_inside_the_kernel_falls_back():
    """An object-mode dispatcher is a numba dispatcher that nopython code cannot call (numba refuses it with a
    TypingError): the Python loop runs it, and no numba error escapes."""
    x = np.array([[3.0, 4.0], [0.5, -1.0]])
    got = G.numerical_gradient(object_mode_f, x)
    np.testing.assert_array_equal(got, R.numerical_gradient(object_mode_f, x.copy()))
    np.testing.assert_array_equal(x, [[3.0, 4.0], [0.5, -1.0]])
    init_x = np.array([-3.0, 4.0])
    assert G.gradient_descent(object_mode_f, init_x, lr=0.1, step_num=10) is init_x
    np.testing.assert_allclose(init_x, [-3 * 0.8 ** 10, 4 * 0.8 ** 10], rtol=1e-6)


# --- the in-place contract -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", naive.LAYOUTS)
def test_x_is_perturbed_in_place_in_c_order(layout):
    """The book's nets pass ``lambda W: net.loss(x, t)``, which ignores its argument and reads the parameters that x
    is: f must see each element moved by +h then -h, one element at a time, in C order of the indices."""
    x = naive.relayout(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), layout)
    original = x.copy()
    seen = []
    grad = G.numerical_gradient(lambda _ignored: seen.append(x.copy()) or float(np.sum(x)), x)
    assert len(seen) == 2 * x.size
    for k, snapshot in enumerate(seen):
        expected = original.copy()
        idx = np.unravel_index(k // 2, x.shape)  # C order
        expected[idx] += H if k % 2 == 0 else -H
        np.testing.assert_array_equal(snapshot, expected)
    np.testing.assert_allclose(grad, np.ones_like(x), rtol=1e-9)
    np.testing.assert_array_equal(x, original)


@numba.njit
def raises_naming_the_order(x):
    """Raises at the first element above 10, saying whether it is C-order position 1."""
    i = 0
    for idx in np.ndindex(x.shape):
        if x[idx] > 10.0:
            if i == 1:
                raise ValueError("C order")
            raise ValueError("not C order")
        i += 1
    return 0.0


@pytest.mark.parametrize("f", [raises_naming_the_order, lambda x: raises_naming_the_order(x)],
                         ids=["jitted", "python"])
def test_elements_are_visited_in_c_order(f):
    """Every element but (0, 0) is pushed above 10 by its +h: the first to trip f is the second one visited,
    which is (0, 1) in C order and (1, 0) in Fortran order; the compiled loop visits in C order too."""
    x = np.full((2, 3), 10 - H / 2)
    x[0, 0] = 0.0
    with pytest.raises(ValueError, match="^C order"):
        G.numerical_gradient(f, x)


@pytest.mark.parametrize("f", [python_sum_of_squares, naive.sum_of_squares], ids=["python", "jitted"])
def test_x_is_restored_bit_for_bit(f, dtype):
    # x + h - h != x for most of these, and -0.0 / NaN would be lost by arithmetic restoration
    x = np.array([0.1, -0.0, 1e-20, 3.3333333, -7.77, 1e30, np.nan, np.finfo(dtype).smallest_subnormal],
                 dtype=dtype)
    before = bits(x)
    with np.errstate(invalid="ignore", over="ignore"):
        G.numerical_gradient(f, x)
    np.testing.assert_array_equal(bits(x), before)


@pytest.mark.parametrize("f", [naive.raises_above_ten, lambda x: naive.raises_above_ten(x)], ids=["jitted", "python"])
@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_x_is_restored_when_f_raises_midway(f, shape, dtype):
    x = np.full(shape, 0.1, dtype=dtype)
    x.reshape(-1)[2] = dtype.type(10.0) - dtype.type(H) / 2  # the +h perturbation of element 2 pushes it above 10
    x.reshape(-1)[0] = dtype.type(1) / 3
    before = bits(x)
    with pytest.raises(ValueError, match="above 10"):
        G.numerical_gradient(f, x)
    np.testing.assert_array_equal(bits(x), before)


def test_x_is_restored_when_a_python_f_raises_on_a_later_call():
    x = np.array([0.3, 0.7, 1.1])
    before = bits(x)
    calls = []

    def f(x):
        calls.append(1)
        if len(calls) == 4:  # the -h call of element 1
            raise KeyboardInterrupt
        return float(np.sum(x))

    with pytest.raises(KeyboardInterrupt):
        G.numerical_gradient(f, x)
    np.testing.assert_array_equal(bits(x), before)


def test_returns_a_new_c_contiguous_array_of_x_dtype(dtype):
    x = np.asfortranarray(np.arange(6, dtype=dtype).reshape(2, 3))
    grad = G.numerical_gradient(python_sum_of_squares, x)
    assert grad.dtype == dtype and grad.shape == x.shape and grad.flags.c_contiguous
    assert not np.shares_memory(grad, x)


def test_zero_size_x():
    for f in (python_sum_of_squares, naive.sum_of_squares):
        got = G.numerical_gradient(f, np.zeros((0, 3)))
        assert got.shape == (0, 3)


# --- numerical_gradient_2d -----------------------------------------------------------------------------------------
@given(data=st.data(), dtype=dtypes, n=st.integers(1, 5))
def test_numerical_gradient_2d_rows_are_separate_points(data, dtype, n):
    X = data.draw(arrays(dtype, (n, 2), floats(dtype, 3.0)), label="X")
    before = bits(X)
    rows_seen = []

    def f(x):
        rows_seen.append(x.shape)
        return function_2(x)

    got = G.numerical_gradient_2d(f, X)
    assert set(rows_seen) == {(2,)}  # f is called on one row at a time
    np.testing.assert_array_equal(got, R.numerical_gradient_2d(function_2, X.copy()))
    np.testing.assert_allclose(got, 2 * X.astype(np.float64), rtol=1e-2 if dtype == np.float32 else 1e-9,
                               atol=1e-2 if dtype == np.float32 else 1e-9)
    np.testing.assert_array_equal(bits(X), before)


def test_numerical_gradient_2d_of_a_1d_point_is_the_gradient():
    x = np.array([3.0, 4.0])
    np.testing.assert_array_equal(G.numerical_gradient_2d(function_2, x), G.numerical_gradient(function_2, x))


def test_numerical_gradient_2d_book_plot_grid():
    """Chapter 4's arrow plot: a 2 x N stack of grid points, transposed so each row is a point."""
    x0, x1 = np.meshgrid(np.arange(-2, 2.5, 0.25), np.arange(-2, 2.5, 0.25))
    X = np.array([x0.flatten(), x1.flatten()]).T  # a Fortran-ordered (non-contiguous rows) view
    got = G.numerical_gradient_2d(function_2, X)
    np.testing.assert_allclose(got, 2 * X, atol=1e-8)
    np.testing.assert_array_equal(got, R.numerical_gradient_2d(function_2, X.copy()))


# --- gradient_descent ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", [python_sum_of_squares, naive.sum_of_squares], ids=["python", "jitted"])
def test_gradient_descent_updates_init_x_in_place_and_returns_it(f, dtype):
    init_x = np.array([[-3.0, 4.0], [1.0, 2.0]], dtype=dtype)
    got = G.gradient_descent(f, init_x, lr=0.1, step_num=10)
    assert got is init_x
    assert got.dtype == dtype
    np.testing.assert_allclose(got, np.array([[-3.0, 4.0], [1.0, 2.0]]) * 0.8 ** 10,
                               rtol=1e-2 if dtype == np.float32 else 1e-8)


@given(data=st.data(), lr=st.sampled_from([0.01, 0.1, 0.3, 1]), step_num=st.integers(0, 15))
def test_gradient_descent_matches_reference(data, lr, step_num):
    x = data.draw(_points(np.float64, min_dims=1), label="init_x")
    want = R.gradient_descent(python_sum_of_squares, x.copy(), lr, step_num)
    np.testing.assert_array_equal(G.gradient_descent(python_sum_of_squares, x.copy(), lr, step_num), want)
    np.testing.assert_array_equal(G.gradient_descent(naive.sum_of_squares, x.copy(), lr, step_num), want)


def test_gradient_descent_zero_steps_leaves_x_alone():
    x = np.array([1.5, -2.5])
    assert G.gradient_descent(function_2, x, lr=0.1, step_num=0) is x
    np.testing.assert_array_equal(x, [1.5, -2.5])


@pytest.mark.parametrize("f", [python_sum_of_squares, naive.sum_of_squares], ids=["python", "jitted"])
def test_gradient_descent_history(f):
    init_x = np.array([-3.0, 4.0])
    x, history = G.gradient_descent(f, init_x, lr=0.1, step_num=20, return_history=True)
    assert x is init_x
    assert history.shape == (20, 2)
    np.testing.assert_array_equal(history[0], [-3.0, 4.0])  # x before each step
    for before, after in zip(history, list(history[1:]) + [x]):
        np.testing.assert_array_equal(after, before - 0.1 * R.numerical_gradient(f, before.copy()))
    np.testing.assert_array_equal(x, R.gradient_descent(f, np.array([-3.0, 4.0]), lr=0.1, step_num=20))


def test_gradient_descent_keyword_defaults_are_the_books():
    x = np.array([-3.0, 4.0])
    G.gradient_descent(function_2, x)  # lr=0.01, step_num=100
    np.testing.assert_allclose(x, np.array([-3.0, 4.0]) * 0.98 ** 100, rtol=1e-8)
