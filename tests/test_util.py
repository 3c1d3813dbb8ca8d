"""fastnn.util against the books' helpers (fastnn.reference.trainer holds them) and hand computations."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnn import util
from fastnn.reference import trainer as ref

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-12}


# --- smooth_curve --------------------------------------------------------------------------------------------------
@given(n=st.integers(11, 120), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
def test_smooth_curve_matches_book(n, dtype, seed):
    x = np.random.default_rng(seed).normal(size=n).astype(dtype)
    y = util.smooth_curve(x)
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_allclose(y, ref.smooth_curve(x), rtol=TOL[dtype], atol=TOL[dtype])


def test_smooth_curve_by_hand():
    """Each output is the normalised Kaiser(11, 2) window applied to the 11 points centred on it, with the ends
    mirrored the book's way: x[10..1] before the start and x[-1..-10] after the end."""
    x = np.arange(15, dtype=float) ** 2
    w = np.kaiser(11, 2)
    w /= w.sum()
    padded = list(x[10:0:-1]) + list(x) + list(x[::-1][:10])
    expected = [sum(w[k] * padded[i + k] for k in range(11)) for i in range(5, 5 + len(x))]
    np.testing.assert_allclose(util.smooth_curve(x), expected, rtol=1e-12)
    np.testing.assert_allclose(util.smooth_curve(np.full(20, 3.0)), 3.0, rtol=1e-12)
    np.testing.assert_allclose(util.smooth_curve(list(range(11))), ref.smooth_curve(np.arange(11.0)))


@pytest.mark.parametrize("x, exc, message", [
    (np.ones(10), ValueError, "at least 11"),
    (np.ones((12, 2)), ValueError, "x must be 1-D"),
    (np.array(["a"] * 12), TypeError, "x must hold real numbers"),
])
def test_smooth_curve_bad_input(x, exc, message):
    with pytest.raises(exc, match=message):
        util.smooth_curve(x)


# --- shuffle_dataset -----------------------------------------------------------------------------------------------
@given(n=st.integers(1, 30), ndim=st.sampled_from([2, 4]), seed=st.integers(0, 2 ** 16))
def test_shuffle_dataset_matches_book(n, ndim, seed):
    x = np.arange(n * 6, dtype=float).reshape((n, 6) if ndim == 2 else (n, 1, 2, 3))
    t = np.arange(n) * 10
    np.random.seed(seed)
    xs, ts = util.shuffle_dataset(x, t)
    after_fast = np.random.rand()
    np.random.seed(seed)
    xr, tr = ref.shuffle_dataset(x, t)
    np.testing.assert_array_equal(xs, xr)
    np.testing.assert_array_equal(ts, tr)
    assert after_fast == np.random.rand()  # the same draws from the global stream


def test_shuffle_dataset_keeps_pairs_and_inputs():
    x = np.arange(24.0).reshape(8, 3)
    t = np.arange(8)
    x0 = x.copy()
    np.random.seed(1)
    xs, ts = util.shuffle_dataset(x, t)
    np.testing.assert_array_equal(xs, x[ts])  # row i of x went wherever label i went
    assert sorted(ts) == list(range(8)) and list(ts) != list(range(8))
    np.testing.assert_array_equal(x, x0)
    x1, t1 = util.shuffle_dataset(np.arange(5.0), np.arange(5))  # 1-D x (the book needs 2-D or 4-D)
    np.testing.assert_array_equal(x1, t1)


@pytest.mark.parametrize("x, t, message", [
    (np.zeros((3, 2)), np.zeros(4), "same number of rows"),
    (np.float64(1.0), np.zeros(1), "at least one dimension"),
])
def test_shuffle_dataset_bad_input(x, t, message):
    with pytest.raises(ValueError, match=message):
        util.shuffle_dataset(x, t)


# --- clip_grads ----------------------------------------------------------------------------------------------------
def test_clip_grads_by_hand():
    g1, g2 = np.array([3.0]), np.array([[4.0, 0.0]])  # total norm 5
    util.clip_grads([g1, g2], 1.0)
    rate = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(g1, [3.0 * rate], rtol=1e-15)
    np.testing.assert_allclose(g2, [[4.0 * rate, 0.0]], rtol=1e-15)
    g = [np.array([3.0, 4.0])]
    util.clip_grads(g, 5.0)  # rate = 5 / (5 + 1e-6) < 1: still scaled, as in the book
    np.testing.assert_allclose(g[0], np.array([3.0, 4.0]) * 5.0 / (5.0 + 1e-6), rtol=1e-15)
    g = [np.array([3.0, 4.0])]
    util.clip_grads(g, 5.1)  # rate > 1: untouched
    np.testing.assert_array_equal(g[0], [3.0, 4.0])


@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4), scale=st.floats(0.01, 10.0),
       max_norm=st.floats(0.0, 5.0), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
def test_clip_grads_matches_book(sizes, scale, max_norm, dtype, seed):
    r = np.random.default_rng(seed)
    grads = [(scale * r.normal(size=(s, 2))).astype(dtype) for s in sizes]
    expected = [g.copy() for g in grads]
    ref.clip_grads(expected, max_norm)
    arrays = list(grads)
    util.clip_grads(grads, max_norm)
    assert all(a is b for a, b in zip(arrays, grads))  # in place
    for g, e in zip(grads, expected):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, e, rtol=TOL[dtype], atol=TOL[dtype])


def test_clip_grads_accepts_a_dict():
    grads = {"W": np.array([6.0, 8.0])}
    util.clip_grads(grads, 1.0)
    np.testing.assert_allclose(grads["W"], np.array([6.0, 8.0]) / (10.0 + 1e-6), rtol=1e-15)


@pytest.mark.parametrize("grads, max_norm, exc, message", [
    ([np.ones(2)], -1.0, ValueError, "max_norm"),
    ([np.ones(2)], "1", TypeError, "max_norm"),
    (np.ones(2), 1.0, TypeError, "grads must be a list"),
    ([np.ones(2, dtype=int)], 1.0, TypeError, r"grads\[0\]"),
    ([[1.0, 2.0]], 1.0, TypeError, r"grads\[0\]"),
])
def test_clip_grads_bad_input(grads, max_norm, exc, message):
    with pytest.raises(exc, match=message):
        util.clip_grads(grads, max_norm)


# --- remove_duplicate ----------------------------------------------------------------------------------------------
def test_remove_duplicate_by_hand():
    W = np.arange(6.0).reshape(2, 3)
    b = np.zeros(3)
    V = np.arange(6.0).reshape(3, 2) + 100  # same shape as W.T, different values: kept
    params = [W, b, W, V, W.T, b]
    grads = [np.full(p.shape, float(i + 1)) for i, p in enumerate(params)]
    g0, g1 = grads[0], grads[1]
    out_params, out_grads = util.remove_duplicate(params, grads)
    assert [id(p) for p in out_params] == [id(W), id(b), id(V)]
    assert out_grads[0] is g0 and out_grads[1] is g1  # summed in place into the first occurrence
    np.testing.assert_array_equal(g0, np.full((2, 3), 1.0 + 3.0 + 5.0))  # W, W again, W.T (transposed back)
    np.testing.assert_array_equal(g1, np.full(3, 2.0 + 6.0))
    assert len(params) == 6 and len(grads) == 6  # the caller's lists are not changed


def test_remove_duplicate_transposed_values_not_view():
    """The book's rule compares values: an equal transposed copy is merged, its gradient transposed back."""
    W = np.arange(6.0).reshape(2, 3)
    gW, gT = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    params, grads = util.remove_duplicate([W, W.T.copy()], [gW, gT])
    assert len(params) == 1 and params[0] is W
    np.testing.assert_array_equal(grads[0], 1.0 + np.arange(6.0).reshape(3, 2).T)


@given(picks=st.lists(st.integers(0, 6), min_size=0, max_size=9), seed=st.integers(0, 2 ** 16))
def test_remove_duplicate_matches_book(picks, seed):
    r = np.random.default_rng(seed)
    A = r.normal(size=(2, 3))
    pool = [A, A.T, r.normal(size=3), r.normal(size=(3, 2)), np.zeros((2, 2)), A.T.copy(), np.zeros((2, 2))]
    params = [pool[i] for i in picks]
    grads = [r.normal(size=p.shape) for p in params]
    ref_grads = [g.copy() for g in grads]
    p_fast, g_fast = util.remove_duplicate(params, grads)
    p_ref, g_ref = ref.remove_duplicate(params, ref_grads)
    assert [id(p) for p in p_fast] == [id(p) for p in p_ref]
    for a, b in zip(g_fast, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, ref_grads):  # the same in-place additions on the caller's gradient arrays
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("params, grads, exc, message", [
    ((np.ones(2) for _ in range(1)), [np.ones(2)], TypeError, "params must be a list"),
    ([np.ones(2)], np.ones((1, 2)), TypeError, "grads must be a list"),
    ([np.ones(2)], [np.ones(2), np.ones(2)], ValueError, "same length"),
    ([np.ones(2)], [np.ones(3)], ValueError, r"params\[0\] and grads\[0\]"),
    ([[1.0, 2.0]], [np.ones(2)], TypeError, r"params\[0\]"),
])
def test_remove_duplicate_bad_input(params, grads, exc, message):
    with pytest.raises(exc, match=message):
        util.remove_duplicate(params, grads)


@given(rows=st.integers(0, 40), cols=st.integers(0, 40), changed=st.integers(0, 10 ** 6),
       how=st.sampled_from(["equal", "one differs", "one NaN", "all differ"]), seed=st.integers(0, 2 ** 16))
def test_remove_duplicate_tied_copies_match_book(rows, cols, changed, how, seed):
    """Transposed copies that differ nowhere, in one element anywhere (sampled or not by the cheap pre-check), by a
    NaN, or everywhere: merged exactly when the book's full comparison merges them."""
    r = np.random.default_rng(seed)
    W = r.normal(size=(rows, cols)).astype(np.float32)
    T = W.T.copy()
    if T.size and how != "equal":
        k = np.unravel_index(changed % T.size, T.shape)
        T[k] = np.nan if how == "one NaN" else T[k] + 1
        if how == "all differ":
            T += 1
    params = [W, np.zeros(3), T]
    grads = [r.normal(size=p.shape) for p in params]
    ref_grads = [g.copy() for g in grads]
    p_fast, g_fast = util.remove_duplicate(params, grads)
    p_ref, g_ref = ref.remove_duplicate(params, ref_grads)
    assert [id(p) for p in p_fast] == [id(p) for p in p_ref]
    for a, b in zip(g_fast, g_ref):
        np.testing.assert_array_equal(a, b)


def test_remove_duplicate_rejects_untied_matrices_without_a_full_comparison(monkeypatch):
    """The book's Rnnlm: embed_W (V, D) and affine_W (D, V) have transposed shapes but are not tied; a sampled
    element tells them apart, so the full-matrix comparison (the book's 2.3 ms per iteration) never runs."""
    r = np.random.default_rng(0)
    embed_W, affine_W = r.normal(size=(50, 4)), r.normal(size=(4, 50))
    full = []
    real = util.np.array_equal
    monkeypatch.setattr(util.np, "array_equal", lambda a, b: (full.append(a.size), real(a, b))[1])
    params, _ = util.remove_duplicate([embed_W, affine_W], [np.zeros((50, 4)), np.zeros((4, 50))])
    assert len(params) == 2
    assert full and max(full) < embed_W.size  # only the sample was compared
