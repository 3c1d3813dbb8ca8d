"""The Embedding layer's compiled backward (fastnn/kernels/embedding.py): a scatter-add into a zeroed dW that
accumulates repeated indices in np.add.at's order, so float32 and float64 results equal the reference's bit for
bit; held against the plain-loop oracle too, with random shapes, duplicate-heavy indices and non-contiguous dout."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from fastnn import _numpy_twins
from fastnn import layers as fl
from fastnn.kernels import embedding as kernels
from fastnn.reference import layers as rl
from naive import DTYPES, LAYOUTS, assert_close, relayout

shapes = st.tuples(st.integers(1, 40), st.integers(1, 17))  # (vocab, width)


@st.composite
def scatter_case(draw):
    """(idx of any shape, dout, vocab): indices from a few rows only (repeats are the point) or from all."""
    vocab, width = draw(shapes)
    idx_shape = draw(st.lists(st.integers(0, 6), min_size=1, max_size=3).map(tuple))
    rows = draw(st.integers(1, vocab))  # rows=1: every index the same
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows, idx_shape)
    dout = rng.standard_normal(idx_shape + (width,)) * 10.0 ** rng.integers(-30, 30, idx_shape + (width,))
    return idx, dout, vocab


@given(scatter_case(), st.sampled_from(DTYPES), st.sampled_from(LAYOUTS))
def test_backward_is_np_add_at_bit_for_bit_and_the_oracle(case, dtype, layout):
    idx, dout, vocab = case
    W = np.random.default_rng(0).standard_normal((vocab, dout.shape[-1])).astype(dtype)
    fast, ref = fl.Embedding(W), rl.Embedding(W)
    fast.forward(idx)
    ref.forward(idx)
    fast.grads[0][...] = np.nan  # stale values must not survive: backward zeroes first
    d = relayout(dout.astype(dtype), layout)  # C, Fortran, strided, reversed
    assert fast.backward(d) is None
    ref.backward(dout.astype(dtype))
    np.testing.assert_array_equal(fast.grads[0], ref.grads[0])
    assert_close(fast.grads[0], naive.embedding_backward(idx, dout.astype(dtype), vocab), dtype,
                 scale=np.abs(dout).max(initial=0) * max(idx.size, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_kernel_and_its_numpy_twin_write_the_same(dtype):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 7, 500)  # 500 rows into 7: heavy accumulation
    dout = rng.standard_normal((500, 9)).astype(dtype)
    outs = [np.full((30, 9), np.inf, dtype) for _ in range(2)]
    kernels.embedding_backward(idx, dout, outs[0])
    _numpy_twins.embedding_backward(idx, dout, outs[1])
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not outs[0][7:].any()


def test_a_grads_buffer_replaced_by_a_view_is_written_in_place():
    W = np.ones((6, 4))
    layer = fl.Embedding(W)
    wide = np.full((6, 8), 5.0)
    layer.grads[0] = wide[:, ::2]  # not C-contiguous
    layer.forward(np.array([1, 1, 3]))
    layer.backward(np.arange(12.0).reshape(3, 4))
    expected = np.zeros((6, 4))
    expected[1] = [4, 6, 8, 10]
    expected[3] = [8, 9, 10, 11]
    np.testing.assert_array_equal(wide[:, ::2], expected)
    np.testing.assert_array_equal(wide[:, 1::2], 5.0)


def test_backward_refuses_a_W_replaced_by_a_smaller_one():
    layer = fl.Embedding(np.ones((6, 4)))
    layer.forward(np.array([5]))
    layer.params[0] = np.ones((3, 4))
    layer.grads[0] = np.zeros((3, 4))
    with pytest.raises(ValueError, match="W has 3 rows"):
        layer.backward(np.ones((1, 4)))
