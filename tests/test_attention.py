"""fastnn.attention_layer (kernels/attention.py): WeightSum, AttentionWeight, Attention and TimeAttention against
the plain-loop oracle of tests/naive.py, central differences in float64, the reference twins
(fastnn/reference/attention.py) over random shapes, both dtypes and non-contiguous input, and the book's own
ch08/attention_layer.py."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from fastnn import attention_layer as A
from fastnn.reference import attention as R
from naive import DTYPES, LAYOUTS, assert_close, relayout

shapes = st.tuples(st.integers(1, 4), st.integers(1, 7), st.integers(1, 5), st.integers(1, 9))  # N, T_enc, T_dec, H


def _states(seed, shape, dtype, scale=1.0):
    rng = np.random.default_rng(seed)
    N, S, T, H = shape
    return rng, *(rng.standard_normal(s).astype(dtype) * scale for s in ((N, S, H), (N, T, H), (N, T, H)))


@settings(max_examples=60)
@given(shapes, st.sampled_from(DTYPES), st.sampled_from(LAYOUTS), st.integers(0, 2**32 - 1))
def test_time_attention_is_the_oracle_and_the_reference(shape, dtype, layout, seed):
    _, enc, dec, dout = _states(seed, shape, dtype)
    layer, ref = A.TimeAttention(), R.TimeAttention()
    out = layer.forward(relayout(enc, layout), relayout(dec, layout))
    expected, weights = naive.attention_forward(enc, dec)
    H = shape[3]
    assert out.dtype == dtype and out.shape == dec.shape
    assert_close(out, expected, dtype, scale=H)
    assert_close(out, ref.forward(enc, dec), dtype, scale=H)
    assert len(layer.attention_weights) == shape[2]
    for t, a in enumerate(layer.attention_weights):
        assert a.shape == (shape[0], shape[1])
        assert_close(a, weights[:, t], dtype, scale=H)
    denc, ddec = layer.backward(relayout(dout, layout))
    nenc, ndec = naive.attention_backward(enc, dec, dout)
    renc, rdec = ref.backward(dout)
    for got, want, other in ((denc, nenc, renc), (ddec, ndec, rdec)):
        assert got.dtype == dtype
        assert_close(got, want, dtype, scale=10 * H * shape[2])
        assert_close(got, other, dtype, scale=10 * H * shape[2])


@settings(max_examples=40)
@given(shapes, st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_one_step_layers_are_the_time_layer_at_one_step(shape, dtype, seed):
    rng, enc, dec, dout = _states(seed, shape, dtype)
    N, S, _, H = shape
    h, dc = dec[:, 0], dout[:, 0]
    full = A.TimeAttention()
    expected = full.forward(enc, dec[:, :1])
    denc, ddec = full.backward(dout[:, :1])
    layer = A.Attention()
    assert_close(layer.forward(enc, h), expected[:, 0], dtype, scale=H)
    assert_close(layer.attention_weight, full.attention_weights[0], dtype, scale=H)
    dhs, dh = layer.backward(dc)
    assert_close(dhs, denc, dtype, scale=10 * H)
    assert_close(dh, ddec[:, 0], dtype, scale=10 * H)
    steps = A.TimeAttention()
    steps.forward(enc, dec)
    assert len(steps.layers) == shape[2]  # the book's per-step layers, in their forward state
    total = steps.backward(dout)
    parts = [layer.backward(dout[:, t]) for t, layer in enumerate(steps.layers)]
    assert_close(sum(p[0] for p in parts), total[0], dtype, scale=10 * H * shape[2])
    assert_close(np.stack([p[1] for p in parts], axis=1), total[1], dtype, scale=10 * H)
    a = rng.random((N, S)).astype(dtype)
    ours, ref = A.WeightSum(), R.WeightSum()
    assert_close(ours.forward(enc, a), ref.forward(enc, a), dtype, scale=S)
    for got, want in zip(ours.backward(dc), ref.backward(dc)):
        assert_close(got, want, dtype, scale=H)
    ours, ref = A.AttentionWeight(), R.AttentionWeight()
    assert_close(ours.forward(enc, h), ref.forward(enc, h), dtype, scale=H)
    for got, want in zip(ours.backward(a), ref.backward(a)):
        assert_close(got, want, dtype, scale=10 * H)


def test_gradients_are_central_differences(rng):
    enc, dec = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 3, 3))
    weights = rng.standard_normal((2, 3, 3))
    layer = A.TimeAttention()
    layer.forward(enc, dec)
    denc, ddec = layer.backward(weights)

    def objective(e, d):
        return float(np.sum(A.TimeAttention().forward(e, d) * weights))
    np.testing.assert_allclose(denc, naive.numerical_gradient(lambda e: objective(e, dec), enc), atol=1e-7)
    np.testing.assert_allclose(ddec, naive.numerical_gradient(lambda d: objective(enc, d), dec), atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_scores_do_not_overflow_the_softmax(dtype, rng):
    enc, dec = rng.standard_normal((2, 5, 4)) * 40, rng.standard_normal((2, 3, 4)) * 40  # scores in the thousands
    out = A.TimeAttention().forward(enc.astype(dtype), dec.astype(dtype))
    assert np.isfinite(out).all()
    assert_close(out, naive.attention_forward(enc.astype(dtype), dec.astype(dtype))[0], dtype, scale=1e3)


@pytest.mark.books
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_layer_gives_the_books_results(dtype, rng):
    from book2_modules import book_module
    book = book_module("ch08/attention_layer.py")
    enc, dec = rng.standard_normal((3, 6, 5)).astype(dtype), rng.standard_normal((3, 4, 5)).astype(dtype)
    dout = rng.standard_normal((3, 4, 5)).astype(dtype)
    ours, theirs = A.TimeAttention(), book.TimeAttention()
    assert_close(ours.forward(enc, dec), theirs.forward(enc, dec), dtype, scale=10)
    assert_close(np.array(ours.attention_weights), np.array(theirs.attention_weights), dtype, scale=10)
    for got, want in zip(ours.backward(dout), theirs.backward(dout)):
        assert_close(got, want, dtype, scale=100)
    ours, theirs = A.Attention(), book.Attention()
    assert_close(ours.forward(enc, dec[:, 1]), theirs.forward(enc, dec[:, 1]), dtype, scale=10)
    assert_close(ours.attention_weight, theirs.attention_weight, dtype, scale=10)
    for got, want in zip(ours.backward(dout[:, 1]), theirs.backward(dout[:, 1])):
        assert_close(got, want, dtype, scale=100)
    for cls in ("WeightSum", "AttentionWeight"):
        ours, theirs = getattr(A, cls)(), getattr(book, cls)()
        second = rng.random((3, 6)).astype(dtype) if cls == "WeightSum" else dec[:, 2]
        assert_close(ours.forward(enc, second), theirs.forward(enc, second), dtype, scale=10)
        for mine, book_cache in zip(ours.cache, theirs.cache):
            assert mine.shape == book_cache.shape
        up = dout[:, 0] if cls == "WeightSum" else rng.standard_normal((3, 6)).astype(dtype)
        for got, want in zip(ours.backward(up), theirs.backward(up)):
            assert_close(got, want, dtype, scale=100)
