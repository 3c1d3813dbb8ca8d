"""The non-recurrent time layers (fastnn/_time_wise.py, kernels/time_wise.py): against the plain-loop oracles of
tests/naive.py, central differences in float64, the reference twins (fastnn/reference/time_wise.py) over random
shapes, both dtypes and non-contiguous input, and the book's own classes (common/time_layers.py)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from fastnn import time_layers as TL
from fastnn.reference import time_wise as R
from naive import DTYPES, LAYOUTS, assert_close, relayout

sizes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 23))  # (N, T, V or D)


def _case(seed, shape, dtype, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng, (rng.standard_normal(shape) * scale).astype(dtype)


def _book():
    from book2_modules import book_module
    return book_module("common/time_layers.py")


# --- TimeSoftmaxWithLoss and Simple_TimeSoftmaxWithLoss -------------------------------------------------------
@settings(max_examples=60)
@given(sizes, st.sampled_from(DTYPES), st.sampled_from(LAYOUTS), st.integers(0, 2**32 - 1), st.floats(0.1, 4))
def test_softmax_loss_is_the_oracle_and_the_reference(shape, dtype, layout, seed, dout):
    rng, xs = _case(seed, shape, dtype)
    ts = rng.integers(-1, shape[2], shape[:2])
    ts.flat[0] = rng.integers(0, shape[2])  # at least one label counted
    layer, ref = TL.TimeSoftmaxWithLoss(), R.TimeSoftmaxWithLoss()
    loss = layer.forward(relayout(xs, layout), relayout(ts, layout))
    expected, dx = naive.time_softmax_loss(xs, ts, dout)
    assert type(loss) is np.float64
    np.testing.assert_allclose(loss, expected, rtol=naive.RTOL[dtype] * 10, atol=naive.RTOL[dtype])
    np.testing.assert_allclose(loss, ref.forward(xs, ts), rtol=naive.RTOL[dtype] * 10)
    got = layer.backward(dout)
    assert got.dtype == dtype and got.shape == shape
    assert_close(got, dx, dtype, scale=dout)
    assert_close(got, ref.backward(dout), dtype, scale=dout)
    assert_close(layer.backward(dout), got, dtype)  # a second backward gives the same (the book's would not)


@settings(max_examples=40)
@given(sizes, st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_simple_softmax_loss_has_the_books_delta_and_one_hot_targets(shape, dtype, seed):
    rng, xs = _case(seed, shape, dtype)
    ts = rng.integers(0, shape[2], shape[:2])
    onehot = np.eye(shape[2], dtype=np.int32)[ts]
    expected, dx = naive.time_softmax_loss(xs, ts, 1.0, ignore=None, delta=naive.CE_DELTA)
    for targets in (ts, onehot):
        layer = TL.Simple_TimeSoftmaxWithLoss()
        loss = layer.forward(xs, targets)
        assert type(loss) is dtype.type
        np.testing.assert_allclose(loss, expected, rtol=naive.RTOL[dtype] * 10)
        assert_close(layer.backward(), dx, dtype, scale=1.0)


@pytest.mark.parametrize("width", [7, 8, 63, 64, 65, 129, 1000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_rows_take_every_path_of_the_row_passes(width, dtype):
    rng, xs = _case(width, (2, 2, width), dtype, 5.0)  # widths around the 8-wide and 64-wide blocks
    ts = rng.integers(0, width, (2, 2))
    layer = TL.TimeSoftmaxWithLoss()
    expected, dx = naive.time_softmax_loss(xs, ts, 0.3)
    np.testing.assert_allclose(layer.forward(xs, ts), expected, rtol=naive.RTOL[dtype] * 10)
    assert_close(layer.backward(0.3), dx, dtype, scale=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_nan_score_makes_its_row_nan_and_warns(dtype):
    xs = np.zeros((1, 2, 70), dtype)
    xs[0, 1, 40] = np.nan
    layer = TL.TimeSoftmaxWithLoss()
    with pytest.warns(RuntimeWarning, match="NaN or inf in the scores"):
        assert np.isnan(layer.forward(xs, np.array([[3, 5]])))
    dx = layer.backward()
    assert np.isfinite(dx[0, 0]).all() and np.isnan(dx[0, 1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_neither_overflow_nor_lose_the_loss(dtype):
    big = 3e38 if dtype == np.float32 else 1e300
    xs = np.array([[[big, -big, 0.0], [-big, big / 2, big]], [[1e4, -1e4, 5e3], [0.0, 0.0, 0.0]]], dtype)
    ts = np.array([[1, 0], [1, 2]])
    layer = TL.TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    expected, dx = naive.time_softmax_loss(xs, ts)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    assert np.isfinite(loss) and loss > 1e30  # the book's log(0) would be inf
    assert_close(layer.backward(), dx, dtype, scale=1.0)


def test_the_ignore_label_drops_rows_from_the_mean_and_the_gradient(rng):
    xs = rng.standard_normal((2, 3, 5))
    ts = np.array([[1, -1, 4], [-1, -1, 0]])
    layer = TL.TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    kept = xs[ts != -1]
    assert loss == pytest.approx(naive.time_softmax_loss(kept[None], ts[ts != -1][None])[0], rel=1e-12)
    dx = layer.backward()
    assert not dx[ts == -1].any()
    assert_close(dx[ts != -1], naive.time_softmax_loss(kept[None], ts[ts != -1][None])[1][0], np.float64)
    layer.ignore_label = 4  # the attribute is honoured, as the book's
    assert layer.forward(xs, np.where(ts == -1, 4, ts)) == pytest.approx(
        naive.time_softmax_loss(xs, np.where(ts == -1, 4, ts), ignore=4)[0], rel=1e-12)


def test_softmax_loss_gradient_is_central_differences(rng):
    xs, ts = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, (2, 3))
    ts[0, 1] = -1

    def loss(x):
        return TL.TimeSoftmaxWithLoss().forward(x, ts) * 1.7
    layer = TL.TimeSoftmaxWithLoss()
    layer.forward(xs, ts)
    np.testing.assert_allclose(layer.backward(1.7), naive.numerical_gradient(loss, xs), atol=1e-8)


# --- TimeAffine, Simple_TimeAffine ----------------------------------------------------------------------------
@settings(max_examples=40)
@given(sizes, st.integers(1, 9), st.sampled_from(DTYPES), st.sampled_from(LAYOUTS), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_affine_is_the_oracle_and_the_reference(shape, width, dtype, layout, tied, seed):
    rng, x = _case(seed, shape, dtype, 1.0)
    N, T, D = shape
    W = rng.standard_normal((D, width)).astype(dtype)
    W = np.ascontiguousarray(W.T).T if tied else W  # the book's weight tying passes embed_W.T
    b = rng.standard_normal(width).astype(dtype)
    layer, ref = TL.TimeAffine(W, b), R.TimeAffine(W.copy(), b.copy())
    grads = [g for g in layer.grads]
    out = layer.forward(relayout(x, layout))
    rows = x.reshape(N * T, D)
    assert_close(out.reshape(N * T, -1), naive.affine_forward(rows, W, b), dtype, scale=D * 10)
    assert_close(out, ref.forward(x), dtype, scale=D * 10)
    dout = rng.standard_normal((N, T, width)).astype(dtype)
    dx = layer.backward(relayout(dout, layout))
    ndx, ndW, ndb = naive.affine_backward(rows, W, dout.reshape(N * T, -1))
    assert_close(dx.reshape(N * T, D), ndx, dtype, scale=width * 10)
    assert_close(layer.grads[0], ndW, dtype, scale=N * T * 10)
    assert_close(layer.grads[1], ndb, dtype, scale=N * T * 10)
    assert all(g is h for g, h in zip(layer.grads, grads))  # written in place, never rebound
    simple = TL.Simple_TimeAffine(W, b)
    assert_close(simple.forward(x), out, dtype)
    assert_close(simple.backward(dout), dx, dtype)
    assert_close(simple.dW, ndW, dtype, scale=N * T * 10)
    assert_close(simple.db, ndb, dtype, scale=N * T * 10)


def test_affine_gradients_are_central_differences(rng):
    x, W, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    weights = rng.standard_normal((2, 3, 5))
    layer = TL.TimeAffine(W, b)
    layer.forward(x)
    dx = layer.backward(weights)

    def objective(x_, W_=W, b_=b):
        return float(np.sum(TL.TimeAffine(W_, b_).forward(x_) * weights))
    np.testing.assert_allclose(dx, naive.numerical_gradient(objective, x), atol=1e-7)
    np.testing.assert_allclose(layer.grads[0], naive.numerical_gradient(lambda w: objective(x, w), W), atol=1e-7)
    np.testing.assert_allclose(layer.grads[1], naive.numerical_gradient(lambda c: objective(x, W, c), b), atol=1e-7)


# --- TimeEmbedding --------------------------------------------------------------------------------------------
@settings(max_examples=40)
@given(sizes, st.integers(1, 6), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_embedding_gathers_and_scatters_like_np_add_at(shape, width, dtype, seed):
    rng, W = _case(seed, (shape[2], width), dtype)
    xs = rng.integers(0, rng.integers(1, shape[2] + 1), shape[:2]).astype(rng.choice([np.int32, np.int64]))
    layer, ref = TL.TimeEmbedding(W), R.TimeEmbedding(W)
    grad = layer.grads[0]
    grad[...] = np.nan  # stale values must not survive
    np.testing.assert_array_equal(layer.forward(xs), W[xs])
    ref.forward(xs)
    dout = rng.standard_normal(shape[:2] + (width,)).astype(dtype)
    assert layer.backward(relayout(dout, "strided")) is None
    ref.backward(dout)
    assert layer.grads[0] is grad
    np.testing.assert_array_equal(grad, ref.grads[0])  # np.add.at's order, bit for bit
    assert_close(grad, naive.embedding_backward(xs, dout, shape[2]), dtype, scale=10 * xs.size)


# --- TimeSigmoidWithLoss, TimeDropout -------------------------------------------------------------------------
@settings(max_examples=30)
@given(sizes, st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_sigmoid_loss_is_the_oracle_and_the_reference(shape, dtype, seed):
    rng, xs = _case(seed, shape[:2], dtype)
    ts = rng.integers(0, 2, shape[:2])
    layer, ref = TL.TimeSigmoidWithLoss(), R.TimeSigmoidWithLoss()
    expected, dx = naive.time_sigmoid_loss(xs, ts, 0.5)
    loss = layer.forward(xs, ts)
    np.testing.assert_allclose(loss, expected, rtol=naive.RTOL[dtype] * 10)
    np.testing.assert_allclose(loss, ref.forward(xs, ts), rtol=naive.RTOL[dtype] * 10)
    assert_close(layer.backward(0.5), dx, dtype, scale=1.0)
    assert_close(layer.backward(0.5), ref.backward(0.5), dtype, scale=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_draws_the_references_masks(dtype, rng):
    xs = rng.standard_normal((3, 4, 5)).astype(dtype)
    layer, ref = TL.TimeDropout(0.3), R.TimeDropout(0.3)
    for _ in range(2):
        np.random.seed(7)
        out = layer.forward(xs)
        np.random.seed(7)
        np.testing.assert_array_equal(out, ref.forward(xs))
        assert out.dtype == dtype and layer.mask.dtype == np.float32
        np.testing.assert_array_equal(layer.backward(xs), ref.backward(xs))
    layer.train_flg = False
    state = np.random.get_state()[1].copy()
    assert layer.forward(xs) is xs
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # nothing drawn at test time


# --- the book's classes ---------------------------------------------------------------------------------------
@pytest.mark.books
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_layer_gives_the_books_results(dtype, rng):
    book = _book()
    N, T, V, D = 3, 5, 13, 4
    W = rng.standard_normal((V, D)).astype(dtype)
    xs = rng.integers(0, V, (N, T)).astype(np.int32)
    xs[0, :3] = 2
    pairs = [(TL.TimeEmbedding(W.copy()), book.TimeEmbedding(W.copy()))]
    ours, theirs = pairs[0]
    assert_close(ours.forward(xs), theirs.forward(xs), np.float32)  # the book's output is float32
    dout = rng.standard_normal((N, T, D)).astype(dtype)
    ours.backward(dout), theirs.backward(dout)
    assert_close(ours.grads[0], theirs.grads[0], dtype, scale=10)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    Wa, b = rng.standard_normal((D, V)).astype(dtype), rng.standard_normal(V).astype(dtype)
    for ours, theirs in [(TL.TimeAffine(Wa, b), book.TimeAffine(Wa, b)),
                         (TL.TimeAffine(W.T, b), book.TimeAffine(W.T, b))]:
        assert_close(ours.forward(x), theirs.forward(x), dtype, scale=10)
        d = rng.standard_normal((N, T, V)).astype(dtype)
        assert_close(ours.backward(d), theirs.backward(d), dtype, scale=30)
        for g, h in zip(ours.grads, theirs.grads):
            assert_close(g, h, dtype, scale=30)
    scores = rng.standard_normal((N, T, V)).astype(dtype) * 4
    ts = rng.integers(0, V, (N, T))
    ts[1, 1] = -1
    for ours, theirs, targets in [(TL.TimeSoftmaxWithLoss(), book.TimeSoftmaxWithLoss(), ts),
                                  (TL.TimeSoftmaxWithLoss(), book.TimeSoftmaxWithLoss(), np.eye(V)[abs(ts)]),
                                  (TL.Simple_TimeSoftmaxWithLoss(), book.Simple_TimeSoftmaxWithLoss(), abs(ts))]:
        loss = ours.forward(scores, targets)
        expected = theirs.forward(scores, targets)
        assert type(loss) is type(expected)
        np.testing.assert_allclose(loss, expected, rtol=naive.RTOL[np.dtype(np.float32)] * 10)
        assert_close(ours.backward(0.7), theirs.backward(0.7), np.float32, scale=1)
    ours, theirs = TL.TimeSigmoidWithLoss(), book.TimeSigmoidWithLoss()
    binary = rng.integers(0, 2, (N, T))
    np.testing.assert_allclose(ours.forward(scores[..., 0], binary), theirs.forward(scores[..., 0], binary),
                               rtol=1e-5)
    assert_close(ours.backward(), theirs.backward(), np.float32, scale=1)


@pytest.mark.books
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_masks_are_the_books_under_the_same_seed(dtype, rng):
    book = _book()
    xs = rng.standard_normal((4, 6, 7)).astype(dtype)
    ours, theirs = TL.TimeDropout(0.5), book.TimeDropout(0.5)
    np.random.seed(1234)
    expected = [theirs.forward(xs) for _ in range(3)]
    np.random.seed(1234)
    got = [ours.forward(xs) for _ in range(3)]
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    np.testing.assert_array_equal(ours.mask, theirs.mask)
    np.testing.assert_array_equal(ours.backward(xs), theirs.backward(xs))


@pytest.mark.books
def test_weight_tying_through_the_books_remove_duplicate(rng):
    from book2_modules import book_module
    remove_duplicate = book_module("common/trainer.py").remove_duplicate
    V, D = 9, 4
    embed_W = rng.standard_normal((V, D)).astype(np.float32)
    b = np.zeros(V, np.float32)
    embed, affine = TL.TimeEmbedding(embed_W), TL.TimeAffine(embed_W.T, b)
    xs = rng.integers(0, V, (2, 3))
    out = affine.forward(embed.forward(xs))
    embed.backward(affine.backward(np.ones_like(out)))
    expected_dW = embed.grads[0] + affine.grads[0].T
    params, grads = remove_duplicate(embed.params + affine.params, embed.grads + affine.grads)
    assert len(params) == 2 and params[0] is embed_W
    np.testing.assert_allclose(grads[0], expected_dW, rtol=1e-6)
