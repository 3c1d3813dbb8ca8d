"""fastnn.sklearn on SciPy sparse X. The sparse kernels (fastnn/kernels/sk_mlp.py, ``*_sparse``) against their
twins in NumPy/SciPy written here: the first layer's products equal scipy's to the bit, the loss and gradient,
a whole epoch of Adam or SGD and the prediction agree with scikit-learn's formulas computed by NumPy on the SciPy
matrix, over random shapes, both float dtypes and extreme values. The estimators against scikit-learn's own on
the same sparse matrices (the same coefficients to 1e-8: every solver, early stopping, shuffling, sample weights,
partial_fit, warm_start), every sparse format, and the refusal of malformed matrices before any compiled code."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import xlogy
from sklearn import neural_network as sk
from sklearn.exceptions import ConvergenceWarning

from fastnn import bench, bench_sklearn
from fastnn import sklearn as fsk
from fastnn.kernels import sk_mlp as K
from test_sklearn import RTOL, assert_same_fit

DTYPES = [np.float64, np.float32]


def random_csr(rng, n_rows, n_features, density, dtype, scale=1.0, canonical=True):
    """A random CSR matrix; not ``canonical``: its rows' entries shuffled and some repeated (valid CSR, which
    scipy computes entry by entry)."""
    X = sp.random(n_rows, n_features, density=density, format="csr", dtype=np.float64, random_state=rng)
    X.data = (rng.standard_normal(X.nnz) * scale).astype(dtype)
    X = X.astype(dtype)
    if canonical:
        return X
    data, indices, indptr = [], [], [0]
    for r in range(n_rows):
        lo, hi = X.indptr[r], X.indptr[r + 1]
        order = rng.permutation(hi - lo)
        extra = rng.integers(0, hi - lo, size=rng.integers(0, 3)) if hi > lo else np.array([], int)
        picks = np.concatenate([order, extra]).astype(int)
        data.append(X.data[lo:hi][picks])
        indices.append(X.indices[lo:hi][picks])
        indptr.append(indptr[-1] + picks.size)
    return sp.csr_matrix((np.concatenate(data).astype(dtype), np.concatenate(indices), np.array(indptr)),
                         shape=X.shape)


def kernel_arrays(X):
    """A CSR matrix as the sparse kernels take it: (data, int64 indices, int64 indptr)."""
    return X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)


# --- the first layer's products: scipy's, to the bit ---------------------------------------------------------------
@given(st.integers(1, 25), st.integers(1, 40), st.integers(1, 9), st.floats(0.0, 0.6), st.sampled_from(DTYPES),
       st.sampled_from([1e-30, 1.0, 1e30, 1e200]), st.booleans(), st.integers(0, 2**32 - 1))
def test_csr_products_are_scipys_to_the_bit(n_rows, n_features, k, density, dtype, scale, canonical, seed):
    """X[rows] @ W and X[rows].T @ D (rows: any order, repeats; the latter row by row from X laid out by column)
    equal scipy's bit for bit (inf and NaN where scipy's overflow to them: 1e200 overflows float32 data to inf,
    and products to inf in float64); a row of X.T @ D that no entry reaches is reported so and left as it was."""
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        X = random_csr(rng, n_rows, n_features, density, dtype, scale, canonical)
        W = (rng.standard_normal((n_features, k)) * scale).astype(dtype)
    rows = rng.integers(0, n_rows, size=rng.integers(1, 2 * n_rows + 1)).astype(np.int64)
    D = rng.standard_normal((rows.size, k)).astype(dtype)
    data, indices, indptr = kernel_arrays(X)
    out = np.full((rows.size, k), np.nan, dtype)
    nnz = K._batch_nnz(indptr, rows, rows.size)
    assert nnz == X[rows].nnz
    cols = (np.full(n_features + 1, -1, np.int64), np.full(nnz, -1, np.int64), np.full(nnz, np.nan, dtype), D)
    with np.errstate(over="ignore", invalid="ignore"):
        K._csr_rows_dot(data, indices, indptr, rows, W, out)
        np.testing.assert_array_equal(out, X[rows] @ W)
        K._columns(data, indices, indptr, rows, *cols[:3])
        G = np.full((n_features, k), 7.0, dtype)
        reached = np.array([K._column_grad(cols, j, G[j]) for j in range(n_features)])
        want = X[rows].T @ D
    np.testing.assert_array_equal(cols[0], np.concatenate([[0], np.cumsum(np.bincount(X[rows].indices,
                                                                                        minlength=n_features))]))
    np.testing.assert_array_equal(reached, np.isin(np.arange(n_features), X[rows].indices))
    np.testing.assert_array_equal(G[reached], want[reached])
    assert (G[~reached] == 7.0).all()


# --- the NumPy/SciPy twin of scikit-learn's forward pass, loss and gradient ----------------------------------------
def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATE = {K.IDENTITY: lambda z: z, K.LOGISTIC: lambda z: 1 / (1 + np.exp(-z)), K.TANH: np.tanh,
            K.RELU: lambda z: np.maximum(z, 0), K.SOFTMAX: _softmax, K.EXP: np.exp}
DERIVATIVE = {K.IDENTITY: lambda a: 1, K.LOGISTIC: lambda a: a * (1 - a), K.TANH: lambda a: 1 - a ** 2,
              K.RELU: lambda a: (a != 0).astype(a.dtype)}
OUTPUTS = {K.LOG_LOSS: K.SOFTMAX, K.BINARY_LOG_LOSS: K.LOGISTIC, K.SQUARED: K.IDENTITY, K.POISSON: K.EXP}


def twin_forward(Ws, bs, X, hidden, out_act):
    """Every layer's activations for X (a SciPy sparse matrix or an array): z = a @ W + b, then f(z)."""
    acts = [X]
    for i, (W, b) in enumerate(zip(Ws, bs)):
        acts.append(ACTIVATE[hidden if i < len(Ws) - 1 else out_act](acts[-1] @ W + b))
    return acts


def twin_loss_and_grads(Ws, bs, X, Y, sw, hidden, loss_kind, alpha):
    """scikit-learn's MLP loss (with the L2 term) and its gradients by each W and b, from its formulas, in
    float64 (log-losses clip the probabilities at the input dtype's eps, as scikit-learn does)."""
    eps = np.finfo(X.dtype).eps
    Ws, bs = [W.astype(np.float64) for W in Ws], [b.astype(np.float64) for b in bs]
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    acts = twin_forward(Ws, bs, X, hidden, OUTPUTS[loss_kind])
    P, n = acts[-1], X.shape[0]
    w = np.ones(n) if sw is None else sw.astype(np.float64)
    if loss_kind == K.SQUARED:
        loss = 0.5 * np.average((Y - P) ** 2, weights=w, axis=0).mean()
    elif loss_kind == K.POISSON:
        loss = np.average(xlogy(Y, Y / P) - Y + P, weights=w, axis=0).sum()
    else:
        p = np.clip(P, eps, 1 - eps)
        terms = xlogy(Y, p) + (xlogy(1 - Y, 1 - p) if loss_kind == K.BINARY_LOG_LOSS else 0)
        loss = -np.average(terms.sum(axis=1), weights=w)
    loss += 0.5 * alpha * sum((W ** 2).sum() for W in Ws) / w.sum()
    delta = (P - Y) * w[:, None]
    gWs, gbs = [None] * len(Ws), [None] * len(Ws)
    for i in range(len(Ws) - 1, -1, -1):
        gWs[i] = (acts[i].T @ delta + alpha * Ws[i]) / w.sum()
        gbs[i] = delta.sum(axis=0) / w.sum()
        if i:
            delta = (delta @ Ws[i].T) * DERIVATIVE[hidden](acts[i])
    return loss, gWs, gbs


def random_net(rng, n_features, hidden_sizes, n_out, dtype, scale=1.0):
    """(theta packed as fastnn packs it, coef_at, icpt_at, units, Ws, bs): Ws and bs are views of theta."""
    units = np.array([n_features, *hidden_sizes, n_out], np.int64)
    sizes = [units[i] * units[i + 1] for i in range(len(units) - 1)] + list(units[1:])
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    L = len(units) - 1
    theta = (rng.uniform(-1, 1, starts[-1]) * scale).astype(dtype)
    coef_at, icpt_at = starts[:L + 1].copy(), starts[L:].copy()
    Ws = [theta[coef_at[i]:coef_at[i + 1]].reshape(units[i], units[i + 1]) for i in range(L)]
    bs = [theta[icpt_at[i]:icpt_at[i + 1]] for i in range(L)]
    return theta, coef_at, icpt_at, units, Ws, bs


def random_targets(rng, n, n_out, loss_kind, dtype):
    if loss_kind == K.LOG_LOSS:
        return np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, n)]
    if loss_kind == K.BINARY_LOG_LOSS:
        return rng.integers(0, 2, (n, n_out)).astype(dtype)
    if loss_kind == K.POISSON:
        return rng.poisson(2.0, (n, n_out)).astype(dtype)
    return rng.standard_normal((n, n_out)).astype(dtype)


def tolerance(dtype):
    return dict(rtol=1e-9, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-3, atol=2e-4)


def assert_close_scaled(got, want, dtype, atol32=None):
    """Equal to the dtype's rounding, relative to the largest entry of want (or 1); ``atol32``: another absolute
    bound for float32."""
    scale = max(1.0, float(np.max(np.abs(want)))) if np.size(want) else 1.0
    kw = tolerance(dtype)
    atol = kw["atol"] * scale if atol32 is None or dtype == np.float64 else atol32
    np.testing.assert_allclose(got, want, rtol=kw["rtol"], atol=atol)


net_settings = st.tuples(
    st.integers(2, 30), st.integers(1, 50), st.lists(st.integers(1, 9), min_size=0, max_size=2),
    st.integers(1, 4), st.sampled_from([K.IDENTITY, K.LOGISTIC, K.TANH, K.RELU]),
    st.sampled_from([K.LOG_LOSS, K.BINARY_LOG_LOSS, K.SQUARED, K.POISSON]), st.sampled_from(DTYPES),
    st.sampled_from([1e-3, 1.0, 30.0]), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))


@given(net_settings)
def test_sparse_backprop_is_the_twins_and_the_dense_kernels(settings):
    """backprop_sparse's loss and finished gradient (L-BFGS's evaluation) on the CSR rows ``rows`` (a shuffled
    selection): the twin's on the SciPy matrix and the dense kernel's on the same rows densified. Inputs up to
    30x, where tanh and the logistic saturate and relu cuts most units."""
    n_rows, n_features, hidden_sizes, n_out, hidden, loss_kind, dtype, scale, weighted, canonical, seed = settings
    rng = np.random.default_rng(seed)
    n_out = max(n_out, 2) if loss_kind == K.LOG_LOSS else n_out
    X = random_csr(rng, n_rows, n_features, 0.3, dtype, scale, canonical)
    theta, coef_at, icpt_at, units, Ws, bs = random_net(rng, n_features, hidden_sizes, n_out, dtype,
                                                        0.1 if loss_kind == K.POISSON else 1.0)
    rows = rng.permutation(n_rows)[:rng.integers(1, n_rows + 1)].astype(np.int64)
    Y = random_targets(rng, rows.size, n_out, loss_kind, dtype)
    sw = rng.uniform(0.1, 3.0, rows.size).astype(dtype) if weighted else None
    alpha = float(rng.choice([0.0, 1e-4, 0.5]))
    size = K.workspace_size(units, rows.size)
    acts, deltas, grad = np.empty(size, dtype), np.empty(size, dtype), np.full(theta.size, np.nan, dtype)
    sw_arg, use_sw = (sw, True) if weighted else (np.empty(0, dtype), False)
    out_act = OUTPUTS[loss_kind]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        loss = K.backprop_sparse(theta, coef_at, icpt_at, units, *kernel_arrays(X), rows, Y, sw_arg, use_sw,
                                 hidden, out_act, loss_kind, alpha, acts, deltas, grad)
        want_loss, gWs, gbs = twin_loss_and_grads(Ws, bs, X[rows], Y, sw, hidden, loss_kind, alpha)
        dense_grad = np.empty_like(grad)
        dense_loss = K.backprop(theta, coef_at, icpt_at, units, X[rows].toarray(), Y, sw_arg, use_sw, hidden,
                                out_act, loss_kind, alpha, np.empty(size, dtype), np.empty(size, dtype), dense_grad)
    want = np.concatenate([np.ravel(g) for g in gWs + gbs])
    assert_close_scaled(loss, want_loss, dtype)
    assert_close_scaled(grad, want, dtype)
    assert_close_scaled(loss, dense_loss, dtype)
    assert_close_scaled(grad, dense_grad, dtype)


def twin_epoch(Ws, bs, X, Y, sw, idx, batch_size, hidden, loss_kind, alpha, solver, state, lr, opts):
    """One epoch of scikit-learn's minibatch loop on the twin (Ws, bs updated in place); returns the summed batch
    losses. Adam: state = (ms, vs, t); SGD: state = velocities."""
    total = 0.0
    params = Ws + bs
    for start in range(0, idx.size, batch_size):
        rows = idx[start:start + batch_size]
        batch_sw = None if sw is None else sw[rows]
        loss, gWs, gbs = twin_loss_and_grads(Ws, bs, X[rows], Y[rows], batch_sw, hidden, loss_kind, alpha)
        total += loss * rows.size
        grads = gWs + gbs
        if solver == K.ADAM:
            ms, vs, t = state
            t[0] += 1
            step = lr * np.sqrt(1 - opts["beta_2"] ** t[0]) / (1 - opts["beta_1"] ** t[0])
            for p, g, m, v in zip(params, grads, ms, vs):
                m[...] = opts["beta_1"] * m + (1 - opts["beta_1"]) * g
                v[...] = opts["beta_2"] * v + (1 - opts["beta_2"]) * g ** 2
                p += -step * m / (np.sqrt(v) + opts["epsilon"])
        else:
            for p, g, u in zip(params, grads, state):
                u[...] = opts["momentum"] * u - lr * g
                p += opts["momentum"] * u - lr * g if opts["nesterov"] else u
    return total


@given(st.integers(3, 40), st.integers(1, 30), st.integers(1, 8), st.sampled_from([K.ADAM, K.SGD]),
       st.booleans(), st.sampled_from(DTYPES), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_sparse_epoch_is_the_twins(n_rows, n_features, batch_size, solver, nesterov, dtype, weighted, canonical,
                                   seed):
    """Two calls of stochastic_epoch_sparse (the second starts from the first's optimizer state) take the twin's
    steps, batches of 1 to 8 rows leaving most rows of W0 with a zero data gradient: the same parameters,
    optimizer state and summed losses. (In float32 the parameters are held to a tenth of one step: Adam divides
    by sqrt(v), so a gradient near zero, computed in float32 here and float64 by the twin, may step either way:
    0.007 of a step after 16 steps in one example.)"""
    rng = np.random.default_rng(seed)
    X = random_csr(rng, n_rows, n_features, 0.2, dtype, 1.0, canonical)
    theta, coef_at, icpt_at, units, Ws, bs = random_net(rng, n_features, [int(rng.integers(1, 7))], 3, dtype)
    Y = random_targets(rng, n_rows, 3, K.LOG_LOSS, dtype)
    sw = rng.uniform(0.1, 3.0, n_rows).astype(dtype) if weighted else None
    sw_arg, use_sw = (sw, True) if weighted else (np.empty(0, dtype), False)
    hidden = int(rng.choice([K.RELU, K.TANH, K.LOGISTIC]))
    alpha, lr = 1e-3, 0.05
    opts = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8, momentum=0.9, nesterov=nesterov)
    twin_Ws, twin_bs = [W.astype(np.float64) for W in Ws], [b.astype(np.float64) for b in bs]
    state1, state2 = np.zeros_like(theta), np.zeros_like(theta)
    twin_state = (([np.zeros_like(p) for p in twin_Ws + twin_bs], [np.zeros_like(p) for p in twin_Ws + twin_bs],
                   [0]) if solver == K.ADAM else [np.zeros_like(p) for p in twin_Ws + twin_bs])
    t = 0
    for epoch in range(2):
        idx = rng.permutation(n_rows).astype(np.int64)
        total, t = K.stochastic_epoch_sparse(theta, coef_at, icpt_at, units, *kernel_arrays(X), Y, sw_arg, use_sw,
                                             idx, batch_size, hidden, K.SOFTMAX, K.LOG_LOSS, alpha, solver, state1,
                                             state2, t, lr, opts["beta_1"], opts["beta_2"], opts["epsilon"],
                                             opts["momentum"], nesterov)
        want = twin_epoch(twin_Ws, twin_bs, X, Y, sw, idx, batch_size, hidden, K.LOG_LOSS, alpha, solver,
                          twin_state, lr, opts)
        assert_close_scaled(total, want, dtype)
        for got, ref in zip(Ws + bs, twin_Ws + twin_bs):
            assert_close_scaled(got, ref, dtype, atol32=0.1 * lr)
    assert t == (2 * -(-n_rows // batch_size) if solver == K.ADAM else 0)
    moments = twin_state[0] if solver == K.ADAM else twin_state
    assert_close_scaled(state1, np.concatenate([np.ravel(m) for m in moments]), dtype, atol32=0.1 * lr)


@given(st.integers(1, 2100), st.integers(1, 20), st.sampled_from(DTYPES), st.sampled_from([1e-3, 1.0, 1e3]),
       st.integers(0, 2**32 - 1))
def test_sparse_predict_is_the_twins(n_rows, n_features, dtype, scale, seed):
    """predict_sparse (1024 rows at a time) on a selection of rows: the twin's output, rows past a chunk too."""
    rng = np.random.default_rng(seed)
    X = random_csr(rng, n_rows, n_features, 0.3, dtype, scale)
    theta, coef_at, icpt_at, units, Ws, bs = random_net(rng, n_features, [5, 4], 3, dtype)
    rows = rng.integers(0, n_rows, size=n_rows).astype(np.int64)
    out = np.empty((rows.size, 3), dtype)
    with np.errstate(over="ignore"):
        K.predict_sparse(theta, coef_at, icpt_at, units, *kernel_arrays(X), rows, K.TANH, K.SOFTMAX, out)
    want = twin_forward([W.astype(np.float64) for W in Ws], [b.astype(np.float64) for b in bs],
                        X[rows].astype(np.float64), K.TANH, K.SOFTMAX)[-1]
    assert_close_scaled(out, want, dtype)


# --- the estimators against scikit-learn's on sparse X --------------------------------------------------------------
def sparse_data(n_rows=500, n_features=300, density=0.03, dtype=np.float64):
    """A small TF-IDF-like matrix (the benchmark's generator) and its labels, 5 classes."""
    return bench_sklearn.tfidf_like(n_rows, n_features, density, n_classes=5, seed=1, dtype=dtype)


def fit_pair_on(kind, X, y, sample_weight=None, **params):
    ref, ours = getattr(sk, kind)(**params), getattr(fsk, kind)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y, sample_weight=sample_weight)
        ours.fit(X, y, sample_weight=sample_weight)
    return ref, ours


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_sparse_fits_match_sklearn(solver, early_stopping):
    X, y = sparse_data()
    params = dict(hidden_layer_sizes=(16,), max_iter=8, random_state=3, solver=solver, early_stopping=early_stopping,
                  n_iter_no_change=3, learning_rate_init=0.01)
    assert_same_fit(*fit_pair_on("MLPClassifier", X, y, **params), X)
    assert_same_fit(*fit_pair_on("MLPRegressor", X, y / 4.0, **params), X)


SPARSE_SETTINGS = [
    dict(shuffle=False, batch_size=64),
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5, learning_rate="invscaling", learning_rate_init=0.1),
    dict(hidden_layer_sizes=(12, 9), activation="tanh", batch_size=50),
    dict(hidden_layer_sizes=(), max_iter=4),  # no hidden layer: the sparse product feeds the output
    dict(activation="logistic", alpha=0.5, batch_size=7),  # batches of 7: rows of W0 that no batch reaches
    dict(early_stopping=True, validation_fraction=0.3, n_iter_no_change=2, tol=1e-2, max_iter=40),
]


@pytest.mark.parametrize("settings", SPARSE_SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_sparse_settings_match_sklearn(settings):
    X, y = sparse_data()
    params = dict(hidden_layer_sizes=(10,), max_iter=6, random_state=0, learning_rate_init=0.01)
    params.update(settings)
    assert_same_fit(*fit_pair_on("MLPClassifier", X, y, **params), X)
    assert_same_fit(*fit_pair_on("MLPRegressor", X, y / 4.0, **params), X)


def test_sparse_targets_and_weights_match_sklearn():
    """Binary (a stratified validation split), multi-label, Poisson and sample-weighted fits on sparse X."""
    X, y = sparse_data()
    common = dict(hidden_layer_sizes=(8,), max_iter=6, random_state=2, learning_rate_init=0.01)
    assert_same_fit(*fit_pair_on("MLPClassifier", X, y % 2, early_stopping=True, **common), X)
    labels = np.stack([y % 2, y > 2, y == 3], axis=1).astype(int)
    assert_same_fit(*fit_pair_on("MLPClassifier", X, labels, **common), X)
    assert_same_fit(*fit_pair_on("MLPRegressor", X, y.astype(float), loss="poisson", **common), X)
    weights = np.random.default_rng(0).uniform(0.1, 3.0, X.shape[0])
    for solver in ("adam", "sgd", "lbfgs"):
        assert_same_fit(*fit_pair_on("MLPClassifier", X, y, sample_weight=weights, solver=solver, **common), X)
    assert_same_fit(*fit_pair_on("MLPRegressor", X, y / 4.0, sample_weight=weights, early_stopping=True, **common),
                    X)


def test_sparse_partial_fit_and_warm_start_match_sklearn():
    X, y = sparse_data()
    ref, ours = sk.MLPClassifier((12,), random_state=5), fsk.MLPClassifier((12,), random_state=5)
    for start in range(0, 500, 100):
        ref.partial_fit(X[start:start + 100], y[start:start + 100], classes=np.arange(5))
        ours.partial_fit(X[start:start + 100], y[start:start + 100], classes=np.arange(5))
    assert_same_fit(ref, ours, X)
    params = dict(hidden_layer_sizes=(12,), random_state=5, warm_start=True, max_iter=3, solver="sgd")
    ref, ours = sk.MLPRegressor(**params), fsk.MLPRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            ref.fit(X, y / 4.0)
            ours.fit(X, y / 4.0)
    assert_same_fit(ref, ours, X)


def test_sparse_float32_stays_float32_and_close_to_sklearn():
    X, y = sparse_data(dtype=np.float32)
    ref, ours = fit_pair_on("MLPClassifier", X, y, hidden_layer_sizes=(20,), max_iter=5, random_state=0,
                            learning_rate_init=0.01)
    assert X.dtype == np.float32 and all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    assert ours.predict_proba(X).dtype == np.float32
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4 * np.abs(a).max())
    assert np.mean(ours.predict(X) == ref.predict(X)) > 0.99


def test_every_sparse_format_fits_as_its_csr():
    """csr/csc/coo/lil/dok/bsr matrices and arrays, int64 indices and integer data are converted to the same CSR
    (the same fit to the bit); unsorted and repeated entries are computed as scipy sums them (the same fit to
    rounding), and sparse X fits as its dense array does (to rounding: scipy's order against BLAS's)."""
    X, y = sparse_data(n_rows=200, n_features=60, density=0.1)
    params = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=0, learning_rate_init=0.01)

    def fitted(X_in):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fsk.MLPClassifier(**params).fit(X_in, y)

    base = fitted(X)
    as_int64 = X.copy()
    as_int64.indices, as_int64.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    same = [sp.csr_array(X), X.tocsc(), sp.csc_array(X), X.tocoo(), X.tolil(), X.todok(), X.tobsr(), as_int64]
    for variant in same:
        est = fitted(variant)
        for a, b in zip(base.coefs_ + base.intercepts_, est.coefs_ + est.intercepts_):
            np.testing.assert_array_equal(a, b, err_msg=type(variant).__name__)
        np.testing.assert_array_equal(est.predict_proba(variant), base.predict_proba(X))
    counts = sp.csr_matrix((np.arange(1, X.nnz + 1) % 4, X.indices, X.indptr), shape=X.shape)
    np.testing.assert_array_equal(fitted(counts).coefs_[0], fitted(counts.astype(np.float64)).coefs_[0])
    shuffled = random_csr(np.random.default_rng(0), 200, 60, 0.1, np.float64, canonical=False)
    canonical = shuffled.copy()
    canonical.sum_duplicates()
    for a, b in zip(fitted(shuffled).coefs_, fitted(canonical).coefs_):
        np.testing.assert_allclose(a, b, rtol=0, atol=RTOL * np.abs(b).max())
    dense = fitted(X.toarray())
    for a, b in zip(base.coefs_ + base.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=RTOL * np.abs(a).max())
    assert fsk.MLPClassifier().__sklearn_tags__().input_tags.sparse
    assert fsk.MLPRegressor().__sklearn_tags__().input_tags.sparse


def malformed(kind):
    """A 6 x 5 CSR matrix broken in one way (each is reachable: scipy checks little when a matrix is built from
    arrays, nothing when its arrays are changed afterwards)."""
    X = sp.csr_matrix(np.array([[1.0, 0, 2, 0, 0], [0, 0, 0, 3, 0], [4, 5, 0, 0, 6], [0, 0, 0, 0, 0],
                                [7, 0, 0, 0, 8], [0, 9, 0, 0, 0]]))
    if kind == "column index too large":
        X.indices[3] = 5
    elif kind == "negative column index":
        X.indices[0] = -1
    elif kind == "float indices":
        X.indices = X.indices.astype(np.float64)
    elif kind == "indptr decreases":
        X.indptr[2] = 1
    elif kind == "indptr past the entries":
        X.indptr[-1] = X.nnz + 3
    elif kind == "indptr not starting at 0":
        X.indptr[0] = 1
    elif kind == "indptr too short":
        X.indptr = X.indptr[:-1]
    elif kind == "NaN":
        X.data[2] = np.nan
    elif kind == "inf":
        X.data[4] = np.inf
    return X


MALFORMED = {"column index too large": "column indices outside \\[0, 5\\)",
             "negative column index": "column indices outside", "float indices": "must be a 1-d array of integers",
             "indptr decreases": "not a CSR index pointer", "indptr past the entries": "not a CSR index pointer",
             "indptr not starting at 0": "not a CSR index pointer", "indptr too short": "indptr has 6 entries",
             "NaN": "Input X contains NaN", "inf": "Input X contains infinity"}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_sparse_input_is_refused_before_compiled_code(kind, monkeypatch):
    """A clear ValueError from fit, partial_fit and predict, and none of the sparse kernels ever called (a
    malformed matrix would make them read out of bounds)."""
    y = np.array([0, 1, 0, 1, 0, 1])
    fitted = fsk.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(malformed(None), y)

    def forbidden(*args):
        raise AssertionError("a sparse kernel was called on a malformed matrix")
    for name in ("stochastic_epoch_sparse", "backprop_sparse", "predict_sparse"):
        monkeypatch.setattr(K, name, forbidden)
    for solver in ("adam", "lbfgs"):
        with pytest.raises(ValueError, match=MALFORMED[kind]):
            fsk.MLPClassifier(solver=solver, max_iter=2).fit(malformed(kind), y)
    with pytest.raises(ValueError, match=MALFORMED[kind]):
        fsk.MLPRegressor(max_iter=2).partial_fit(malformed(kind), y)
    for method in (fitted.predict, fitted.predict_proba):
        with pytest.raises(ValueError, match=MALFORMED[kind]):
            method(malformed(kind))


# --- the benchmark's row -------------------------------------------------------------------------------------------
def test_benchmark_matrix_is_deterministic_tfidf_like():
    X, y = bench_sklearn.tfidf_like(2000, 5000, 0.002)
    X2, y2 = bench_sklearn.tfidf_like(2000, 5000, 0.002)
    assert sp.issparse(X) and X.format == "csr" and X.has_sorted_indices and X.dtype == np.float64
    np.testing.assert_array_equal(X.indptr, X2.indptr)
    np.testing.assert_array_equal(X.indices, X2.indices)
    np.testing.assert_array_equal(X.data, X2.data)
    np.testing.assert_array_equal(y, y2)
    assert 0.5 * 0.002 < X.nnz / (2000 * 5000) < 1.5 * 0.002 and np.diff(X.indptr).min() >= 1
    np.testing.assert_allclose(np.sqrt(np.asarray(X.multiply(X).sum(axis=1))), 1.0)
    assert (X.data > 0).all() and set(np.unique(y)) == set(range(20))
    assert bench_sklearn.tfidf_like(30, 40, 0.1, seed=1, dtype=np.float32)[0].dtype == np.float32


def test_benchmark_pair_fits_the_same_coefficients(monkeypatch):
    """The sklearn_mlp_sparse row's two callables (its matrix cut to 300 rows, as a smoke run cuts it) return
    the same coefficients."""
    monkeypatch.setattr(bench, "MAX_ROWS", 300)
    fast, ref = bench.CASES["sklearn_mlp_sparse"].make(50, 8, np.dtype("float64"))
    for a, b in zip(ref(), fast()):
        assert a.shape[0] in (bench_sklearn.SPARSE_SHAPE[1], 8)
        np.testing.assert_allclose(b, a, rtol=0, atol=RTOL * np.abs(a).max())


@pytest.mark.slow
def test_benchmark_sized_sparse_fit_matches_sklearn():
    """One adam epoch on the benchmark's whole 20,000 x 50,000 matrix (hidden 100): scikit-learn's coefficients."""
    X, y = bench_sklearn.tfidf_like()
    ref, ours = fit_pair_on("MLPClassifier", X, y, hidden_layer_sizes=(100,), max_iter=1, random_state=0)
    assert_same_fit(ref, ours, X[:2000])
