"""Test helpers shared by the test modules.

1. Plain-loop oracles: obviously-correct, slow versions of the computations whose NumPy reference
   (fastnn.reference) is itself clever (max subtraction with keepdims, fancy indexing, nditer, BLAS). They work on
   Python floats (float64), one element at a time. Beside them, the jitted scalar functions f(x) that the
   numerical-gradient tests differentiate.
2. Tolerances: one place that says how close fastnn must be to an oracle, per dtype.
3. hypothesis strategies for the arrays the tests feed in: both dtypes, any ndim, batch 1, 1-D, wide and tall 2-D
   shapes, and C-ordered, Fortran-ordered, strided and negatively strided layouts.
"""
import math

import numba
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

CE_DELTA = 1e-7
H = 1e-4


# --- 1. plain-loop oracles ----------------------------------------------------------------------------------------
def _rows(x):
    """x as a list of rows of Python floats (a 1-D x is one row)."""
    x = np.asarray(x, dtype=np.float64)
    return [list(map(float, row)) for row in x.reshape(-1, x.shape[-1])]


def argmax(row):
    """First index of the largest value (NaN counts as largest, like np.argmax)."""
    best = 0
    for j, v in enumerate(row):
        if math.isnan(v):
            return j if not math.isnan(row[best]) else best
        if v > row[best]:
            best = j
    return best


def softmax_row(row):
    m = max(row)
    exps = [math.exp(v - m) for v in row]
    total = math.fsum(exps)
    return [e / total for e in exps]


def softmax(x):
    """Softmax over the last axis, row by row, in float64."""
    x = np.asarray(x)
    return np.array([softmax_row(r) for r in _rows(x)]).reshape(x.shape)


def _labels(y_rows, t):
    """The book's rule: t of the same size as y is one-hot (reduced to argmax), else integer labels."""
    t = np.asarray(t)
    n = len(y_rows)
    if t.size == n * len(y_rows[0]):
        return [argmax(r) for r in _rows(t.reshape(n, -1))]
    return [int(v) for v in t.reshape(-1)]


def cross_entropy(y, t):
    """mean_i -log(y[i, t_i] + 1e-7), one row at a time."""
    rows = _rows(y)
    labels = _labels(rows, t)
    return math.fsum(-math.log(row[k] + CE_DELTA) for row, k in zip(rows, labels)) / len(rows)


def softmax_cross_entropy(x, t):
    return cross_entropy(softmax(x), t)


def softmax_cross_entropy_backward(y, t, dout=1.0):
    """(y - t) * dout / N with t one-hot (used as given) or integer labels."""
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t)
    n, c = y.shape
    dx = np.empty((n, c))
    for i in range(n):
        for j in range(c):
            target = t[i, j] if t.shape == y.shape else float(j == t[i])
            dx[i, j] = (y[i, j] - target) * dout / n
    return dx


def sum_squared_error(y, t):
    """0.5 * sum of squared differences, summed exactly (math.fsum) in float64."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    return 0.5 * math.fsum((a - b) ** 2 for a, b in zip(y, t))


def affine_forward(x, W, b):
    n, d = x.shape
    m = W.shape[1]
    out = np.empty((n, m))
    for i in range(n):
        for j in range(m):
            out[i, j] = math.fsum(float(x[i, k]) * float(W[k, j]) for k in range(d)) + float(b[j])
    return out


def affine_backward(x, W, dout):
    """(dx, dW, db) by triple loops: dx = dout W^T, dW = x^T dout, db = column sums of dout."""
    n, d = x.shape
    m = W.shape[1]
    dx = np.array([[math.fsum(float(dout[i, j]) * float(W[k, j]) for j in range(m)) for k in range(d)]
                   for i in range(n)]).reshape(n, d)
    dW = np.array([[math.fsum(float(x[i, k]) * float(dout[i, j]) for i in range(n)) for j in range(m)]
                   for k in range(d)]).reshape(d, m)
    db = np.array([math.fsum(float(dout[i, j]) for i in range(n)) for j in range(m)])
    return dx, dW, db


def numerical_gradient(f, x):
    """Central differences element by element in C order, perturbing a copy of x (f must use its argument)."""
    x = np.array(x, dtype=np.float64, order="C")
    flat = x.reshape(-1)  # a view: writing flat[i] moves x
    grad = np.empty(flat.size)
    for i in range(flat.size):
        tmp = flat[i]
        flat[i] = tmp + H
        fxh1 = f(x)
        flat[i] = tmp - H
        fxh2 = f(x)
        flat[i] = tmp
        grad[i] = (fxh1 - fxh2) / (2 * H)
    return grad.reshape(x.shape)


BN_EPS = 10e-7  # the book's batch-normalisation eps, as it writes it (= 1e-6)


def _feature_rows(x):
    """x (N, ...) as N rows of Python floats, one per feature of the flattened (N, D) view."""
    x = np.asarray(x, dtype=np.float64)
    return [list(map(float, row)) for row in x.reshape(x.shape[0], -1)]


def _batch_stats(rows):
    """Per feature: the batch mean and the mean squared deviation from it (the biased variance), summed exactly."""
    n, d = len(rows), len(rows[0])
    mu = [math.fsum(r[j] for r in rows) / n for j in range(d)]
    var = [math.fsum((r[j] - mu[j]) ** 2 for r in rows) / n for j in range(d)]
    return mu, var


def batchnorm_forward(x, gamma, beta, running_mean=None, running_var=None, momentum=0.9, train_flg=True):
    """The first book's batch normalisation one element at a time: returns (out, running_mean, running_var).

    Training: per feature j, mu_j and var_j over the batch, out = gamma_j * (x - mu_j) / sqrt(var_j + 10e-7) +
    beta_j, and running = momentum * running + (1 - momentum) * batch statistic (running statistics start at 0).
    Test: the same normalisation with the running statistics, which stay as they are."""
    rows = _feature_rows(x)
    d = len(rows[0])
    g, b = [float(v) for v in gamma], [float(v) for v in beta]
    rm = [0.0] * d if running_mean is None else [float(v) for v in running_mean]
    rv = [0.0] * d if running_var is None else [float(v) for v in running_var]
    if train_flg:
        mu, var = _batch_stats(rows)
        rm = [momentum * m + (1 - momentum) * s for m, s in zip(rm, mu)]
        rv = [momentum * v + (1 - momentum) * s for v, s in zip(rv, var)]
        centre, spread = mu, var
    else:
        centre, spread = rm, rv
    std = [math.sqrt(v + BN_EPS) for v in spread]
    out = [[g[j] * (r[j] - centre[j]) / std[j] + b[j] for j in range(d)] for r in rows]
    return np.array(out).reshape(np.shape(x)), np.array(rm), np.array(rv)


def batchnorm_backward(x, gamma, dout):
    """Gradients of sum(dout * out) for the training forward on x: returns (dx, dgamma, dbeta).

    Per feature, with xn_i = (x_i - mu) / std and dy_i = dout_i: dbeta = sum dy_i, dgamma = sum dy_i xn_i and
    dx_i = gamma / std * (dy_i - mean(dy) - xn_i * mean(dy xn)) (mu and std depend on every x_i: the two means)."""
    rows, drows = _feature_rows(x), _feature_rows(dout)
    n, d = len(rows), len(rows[0])
    mu, var = _batch_stats(rows)
    dx = [[0.0] * d for _ in range(n)]
    dgamma, dbeta = [], []
    for j in range(d):
        std = math.sqrt(var[j] + BN_EPS)
        xn = [(r[j] - mu[j]) / std for r in rows]
        dy = [r[j] for r in drows]
        dbeta.append(math.fsum(dy))
        dgamma.append(math.fsum(a * c for a, c in zip(dy, xn)))
        mean_dy, mean_dy_xn = dbeta[-1] / n, dgamma[-1] / n
        for i in range(n):
            dx[i][j] = float(gamma[j]) / std * (dy[i] - mean_dy - xn[i] * mean_dy_xn)
    return np.array(dx).reshape(np.shape(x)), np.array(dgamma), np.array(dbeta)


# scalar functions for the numerical-gradient tests, jitted once here so that every test module shares their
# compiled specialisations (under NUMBA_DISABLE_JIT=1 they are the plain Python functions)
@numba.njit
def sum_of_squares(x):
    """f(x) = sum x_i**2, gradient 2x: the book's function_2 for 2 elements."""
    total = 0.0
    for idx in np.ndindex(x.shape):
        total += x[idx] * x[idx]
    return total


@numba.njit
def weighted_cubes(x):
    """f(x) = sum_i (i + 1) * x_i**3 / 3 with i the C-order position, gradient (i + 1) * x_i**2: a gradient
    entry in the wrong place, or from the wrong perturbation, shows."""
    total = 0.0
    i = 0
    for idx in np.ndindex(x.shape):
        i += 1
        total += i * x[idx] ** 3 / 3
    return total


@numba.njit
def raises_above_ten(x):
    """sum of x, but raises as soon as an element exceeds 10 (to interrupt numerical_gradient midway)."""
    total = 0.0
    for idx in np.ndindex(x.shape):
        if x[idx] > 10.0:
            raise ValueError("f saw an element above 10")
        total += x[idx]
    return total


def weighted_cubes_gradient(x):
    x = np.asarray(x, dtype=np.float64)
    return np.arange(1, x.size + 1).reshape(x.shape) * x ** 2


# --- 2. tolerances --------------------------------------------------------------------------------------------------
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def tol(dtype, scale=0.0):
    """assert_allclose keywords for results in ``dtype``.

    atol is the smallest normal number: results that underflow may be subnormal in fastnn where NumPy's formula
    gives 0 (e.g. sigmoid(-740) = 1/(1 + exp(740)) = 1/inf). ``scale`` adds rtol * scale to atol where cancellation
    makes a relative bound meaningless (a dot product against the sum of the absolute products, 1 - s near s = 1).
    """
    dtype = np.dtype(dtype)
    rtol = RTOL[dtype]
    return dict(rtol=rtol, atol=float(np.finfo(dtype).tiny) + rtol * float(scale))


def assert_close(actual, desired, dtype=None, scale=0.0):
    dtype = np.result_type(actual) if dtype is None else dtype
    np.testing.assert_allclose(actual, desired, **tol(dtype, scale))


# --- 3. hypothesis strategies ---------------------------------------------------------------------------------------
DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]
LAYOUTS = ["C", "F", "strided", "reversed"]
dtypes = st.sampled_from(DTYPES)


def floats(dtype, bound=30.0):
    """Finite elements of ``dtype`` in [-bound, bound] (subnormals included)."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False)


def batch_shapes(max_side=12, max_long=48):
    """2-D (batch, classes) shapes: batch 1, tall (many rows, few columns), wide (few rows, many columns), any."""
    side = st.integers(1, max_side)
    return st.one_of(
        st.tuples(st.just(1), st.integers(1, max_long)),  # batch of one
        st.tuples(st.integers(1, max_long), st.integers(1, 3)),  # tall
        st.tuples(st.integers(1, 3), st.integers(1, max_long)),  # wide
        st.tuples(side, side),
    )


def score_shapes():
    """Shapes the book's 2-D functions take: a 1-D vector or a 2-D batch."""
    return st.one_of(st.tuples(st.integers(1, 48)), batch_shapes())


def any_shapes(min_dims=0, max_dims=4, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)


def relayout(base, layout):
    """A view of ``base``'s data in the given layout, as the test's input.

    C and F are plain copies; 'strided' takes every other element of the last axis of a base twice as long;
    'reversed' walks the first axis backwards (negative stride)."""
    if base.ndim == 0:
        return base
    if layout == "F":
        return np.asfortranarray(base)
    if layout == "strided":
        wide = np.zeros(base.shape[:-1] + (2 * base.shape[-1],), dtype=base.dtype)
        wide[..., ::2] = base
        return wide[..., ::2]
    if layout == "reversed":
        return np.ascontiguousarray(base[::-1])[::-1]
    return base


@st.composite
def arrays(draw, dtype, shape, elements=None, layouts=LAYOUTS):
    """An array of the given dtype and shape (or shape strategy), in a random memory layout."""
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    base = draw(hnp.arrays(dtype, shape, elements=elements if elements is not None else floats(dtype)))
    out = relayout(base, draw(st.sampled_from(layouts)))
    assert out.shape == base.shape
    np.testing.assert_array_equal(out, base)
    return out
