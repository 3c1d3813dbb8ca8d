"""fastnn's chapter-7 code (fastnn.util.im2col/col2im/conv_output_size, fastnn.convolution.Convolution/Pooling)
against the plain-loop oracles in tests/naive.py, the NumPy reference (fastnn.reference) and central differences.

Shapes come from hypothesis: batch 1-3, 1-4 channels and filters, filters 1-4 wide, stride 1-3, pad 0-2, any input
size from the smallest the filter fits up to 9, so the output sizes ``(size + 2*pad - filter) // stride + 1`` are
whole or floored as in the book (then the last rows or columns are in no window and get zero gradient),
C-ordered, Fortran-ordered, transposed and sliced views, both dtypes. Convolution runs through each of its two
methods (im2col + BLAS and direct loops) and through the per-shape rule; floored geometries also run through
every path by name (test_floored_geometries_on_every_path) and against the book's own code.
"""
import math
import re
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba.core.errors import NumbaError

import book_scripts
import naive
from fastnn import convolution, layers, util
from fastnn.kernels import conv as conv_kernels
from fastnn.reference import layers as rl
from fastnn.reference import util as ru
from fastnn.reference.functions import numerical_gradient

DTYPES = [np.dtype(np.float64), np.dtype(np.float32)]
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
NUM_TOL = dict(rtol=1e-6, atol=1e-7)  # backward vs central differences (h = 1e-4, float64)
METHODS = [None, convolution.GEMM, convolution.DIRECT]  # None: the per-shape rule
BOOK = book_scripts.shared_dir() / "book1"


# --- helpers ----------------------------------------------------------------------------------------------------
def close(actual, expected, dtype, scale=None):
    """actual is in dtype and within the dtype's rounding of expected: |a - e| <= rtol * (|e| + scale), scale the
    same computation on absolute values (the size of the terms that cancelled); NaN where expected is NaN."""
    actual = np.asarray(actual)
    assert actual.dtype == np.dtype(dtype)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    a = actual.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(expected))
    scale = np.abs(expected) if scale is None else np.abs(expected) + np.abs(scale)
    ok = np.isnan(expected) | (np.abs(a - expected) <= RTOL[np.dtype(dtype)] * scale + np.finfo(dtype).tiny)
    assert ok.all(), f"max error {np.nanmax(np.abs(a - expected))} at {np.argwhere(~ok)[0]}"


def values(bound=3.0):
    """Floats exactly representable in float32, so both dtypes see the same input."""
    return st.floats(-bound, bound, width=32)


def relayout(base, layout):
    """base's values in another memory layout: a copy (C, F), a transposed view or a sliced view."""
    if layout == "F":
        return np.asfortranarray(base)
    if layout == "transposed":  # NCHW view of an NHWC array
        return np.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    if layout == "sliced":  # every other column of an array twice as wide
        wide = np.zeros(base.shape[:-1] + (2 * base.shape[-1],), dtype=base.dtype)
        wide[..., ::2] = base
        return wide[..., ::2]
    return base


@st.composite
def images(draw, shape, dtype, elements=None):
    base = draw(hnp.arrays(dtype, shape, elements=elements if elements is not None else values()))
    out = relayout(base, draw(st.sampled_from(["C", "F", "transposed", "sliced"])))
    np.testing.assert_array_equal(out, base)
    return out


def fitting_size(draw, filter_size, pad):
    """An input size >= 1 that the filter fits with the padding (an output size >= 1, whole or floored)."""
    return draw(st.integers(max(1, filter_size - 2 * pad), 9))


@st.composite
def geometries(draw, max_channels=4):
    """(N, C, H, W, FH, FW, stride, pad) with output sizes >= 1; with stride > 1, often floored ones."""
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h, w = fitting_size(draw, fh, pad), fitting_size(draw, fw, pad)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, max_channels))
    return n, c, h, w, fh, fw, stride, pad


def out_size(size, filter_size, stride, pad):
    return (size + 2 * pad - filter_size) // stride + 1


def abs_conv(x, W, b, stride, pad):
    """The scale of the forward sums: the convolution of |x| with |W| plus |b|."""
    return naive.conv_forward(np.abs(x), np.abs(W), np.abs(b), stride, pad)


# --- conv_output_size, im2col, col2im ---------------------------------------------------------------------------
@given(st.integers(0, 40), st.integers(1, 9), st.integers(1, 4), st.integers(0, 3))
def test_conv_output_size_is_the_books_float(size, filter_size, stride, pad):
    value = util.conv_output_size(size, filter_size, stride, pad)
    assert type(value) is float
    assert value == ru.conv_output_size(size, filter_size, stride, pad) == (size + 2 * pad - filter_size) / stride + 1


def test_conv_output_size_by_hand():
    assert util.conv_output_size(28, 5) == 24.0
    assert util.conv_output_size(28, 3, 1, 1) == 28.0
    assert util.conv_output_size(24, 2, 2) == 12.0
    assert util.conv_output_size(7, 2, 2) == 3.5  # returned as the book computes it; im2col floors it to 3
    assert util.conv_output_size(9, 2, 2, 1) == 5.5
    assert util.im2col(np.ones((1, 1, 7, 9)), 2, 2, 2).shape == (3 * 4, 4)
    assert util.conv_output_size(1, 3, 2) == 0.0 and util.conv_output_size(1, 4) == -2.0  # im2col refuses these
    assert util.conv_output_size(np.int64(8), 3, stride=np.int32(1)) == 6.0


@given(st.data(), geometries(), st.sampled_from(DTYPES))
def test_im2col_matches_naive_and_reference(data, geometry, dtype):
    n, c, h, w, fh, fw, stride, pad = geometry
    x = data.draw(images((n, c, h, w), dtype))
    col = util.im2col(x, fh, fw, stride, pad)
    expected = naive.im2col(x, fh, fw, stride, pad)
    assert col.dtype == dtype and col.flags.c_contiguous
    assert col.shape == (n * out_size(h, fh, stride, pad) * out_size(w, fw, stride, pad), c * fh * fw)
    np.testing.assert_array_equal(col, expected)  # a copy: exact
    ref = ru.im2col(x, fh, fw, stride, pad)
    assert ref.dtype == dtype
    np.testing.assert_array_equal(ref, expected)


@given(st.data(), geometries(), st.sampled_from(DTYPES))
def test_col2im_matches_naive_and_reference(data, geometry, dtype):
    n, c, h, w, fh, fw, stride, pad = geometry
    shape = (n * out_size(h, fh, stride, pad) * out_size(w, fw, stride, pad), c * fh * fw)
    col = data.draw(hnp.arrays(dtype, shape, elements=values()))
    if data.draw(st.booleans()):
        col = np.asfortranarray(col)
    img = util.col2im(col, (n, c, h, w), fh, fw, stride, pad)
    assert img.shape == (n, c, h, w) and img.flags.c_contiguous
    expected = naive.col2im(col, (n, c, h, w), fh, fw, stride, pad)
    scale = naive.col2im(np.abs(col), (n, c, h, w), fh, fw, stride, pad)
    close(img, expected, dtype, scale)
    close(ru.col2im(col, (n, c, h, w), fh, fw, stride, pad), expected, dtype, scale)


def test_im2col_and_col2im_by_hand():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(util.im2col(x, 2, 2), [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]])
    np.testing.assert_array_equal(util.im2col(x, 3, 3, stride=2, pad=1)[0], [0, 0, 0, 0, 1, 2, 0, 4, 5])
    # every pixel gets one 1 per window that covers it: the corner 1, the edges 2, the centre 4
    np.testing.assert_array_equal(util.col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)[0, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # what lands in the padding is dropped: one 3x3 window over a 1x1 image padded by 1 keeps its centre only
    np.testing.assert_array_equal(util.col2im(np.arange(9.0).reshape(1, 9), (1, 1, 1, 1), 3, 3, pad=1), [[[[4]]]])


def test_im2col_dtypes_and_extreme_values():
    x = np.array([[[[1e30, -1e30, np.nan], [np.inf, 0.0, -0.0]]]])
    for dtype in (np.float64, np.float32):
        col = util.im2col(x.astype(dtype), 1, 2, pad=1)
        assert col.dtype == dtype
        np.testing.assert_array_equal(col, naive.im2col(x.astype(dtype), 1, 2, 1, 1))
    assert util.im2col(np.ones((1, 1, 2, 2), dtype=np.int32), 2, 2).dtype == np.float64  # integers: float64
    assert util.im2col([[[[1, 2], [3, 4]]]], 2, 2).tolist() == [[1.0, 2.0, 3.0, 4.0]]  # nested lists
    summed = util.col2im(np.array([[1e30, 1e30, -1e30, np.nan]]), (1, 1, 2, 2), 2, 2)
    np.testing.assert_array_equal(summed, [[[[1e30, 1e30], [-1e30, np.nan]]]])


def _books_common():
    """The book's own common.layers and common.util (from ../shared/book1; its tests are marked ``books``)."""
    sys.path.insert(0, str(BOOK))
    try:
        from common import layers as book_layers
        from common import util as book_util
    finally:
        sys.path.remove(str(BOOK))
    return book_layers, book_util


# (x shape, filter or pool size, stride, pad): whole output sizes, then floored ones (the last row/column dropped)
BOOK_CONV_GEOMETRIES = [((2, 3, 7, 9), 3, 2, 1), ((2, 3, 8, 9), 3, 2, 1), ((2, 3, 9, 9), 2, 2, 1),
                        ((1, 2, 10, 7), 3, 3, 0), ((2, 1, 9, 11), 2, 2, 0)]
BOOK_POOL_GEOMETRIES = [((2, 3, 6, 8), 2, 2), ((2, 3, 9, 9), 2, 2), ((1, 2, 7, 10), 3, 2), ((2, 2, 8, 5), 3, 3)]


@pytest.mark.books
@pytest.mark.parametrize("shape, f, stride, pad", BOOK_CONV_GEOMETRIES)
def test_im2col_col2im_and_convolution_equal_the_books_own_code(shape, f, stride, pad):
    book_layers, book_util = _books_common()
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    col = util.im2col(x, f, f, stride, pad)
    np.testing.assert_array_equal(col, book_util.im2col(x, f, f, stride, pad))
    np.testing.assert_allclose(util.col2im(col, x.shape, f, f, stride, pad),
                               book_util.col2im(col, x.shape, f, f, stride, pad), rtol=1e-12)
    W, b = rng.standard_normal((4, shape[1], f, f)), rng.standard_normal(4)
    ours, book = convolution.Convolution(W, b, stride, pad), book_layers.Convolution(W, b, stride, pad)
    out = ours.forward(x)
    np.testing.assert_allclose(out, book.forward(x), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(ours.backward(dout), book.backward(dout), rtol=1e-12, atol=1e-12)
    for name in ("col", "col_W", "dW", "db"):
        np.testing.assert_allclose(getattr(ours, name), getattr(book, name), rtol=1e-12, atol=1e-12)


@pytest.mark.books
@pytest.mark.parametrize("shape, size, stride", BOOK_POOL_GEOMETRIES)
def test_pooling_equals_the_books_own_code(shape, size, stride):
    book_layers, _ = _books_common()
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    pool, book_pool = convolution.Pooling(size, size, stride), book_layers.Pooling(size, size, stride)
    out = pool.forward(x)
    np.testing.assert_array_equal(out, book_pool.forward(x))
    np.testing.assert_array_equal(pool.arg_max, book_pool.arg_max)
    dout = rng.standard_normal(out.shape)
    # overlapping windows add up in another order than the book's col2im: equal to rounding
    np.testing.assert_allclose(pool.backward(dout), book_pool.backward(dout), rtol=1e-12, atol=1e-14)


def test_the_books_9x9_input_2x2_filter_stride_2_pad_1():
    """The geometry of issue #24, values worked out by hand: (9 + 2*1 - 2) / 2 + 1 = 5.5 windows a side, floored
    to 5 as the book's integer division does; x[i, j] = 9i + j, W = [[1, 2], [3, 4]], window (oy, ox) on input
    rows 2oy - 1, 2oy and columns 2ox - 1, 2ox (row and column -1 are padding)."""
    x = np.arange(81.0).reshape(1, 1, 9, 9)
    W = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    for dtype in DTYPES:
        for method in METHODS:
            layer = convolution.Convolution(W.astype(dtype), np.zeros(1, dtype), stride=2, pad=1)
            layer._method = method
            out = layer.forward(x)
            assert out.shape == (1, 1, 5, 5) and out.dtype == dtype
            assert out[0, 0, 0, 0] == 4 * 0  # the corner window holds x[0, 0] at W's tap (1, 1)
            assert out[0, 0, 0, 1] == 3 * 1 + 4 * 2  # x[0, 1], x[0, 2] at taps (1, 0), (1, 1)
            assert out[0, 0, 4, 4] == 1 * 70 + 2 * 71 + 3 * 79 + 4 * 80  # x[7:9, 7:9]: 769
            # inside: sum W[ky, kx] * (9 (i0 + ky) + j0 + kx) = 10 (9 i0 + j0) + 69 with i0 = 2oy - 1, j0 = 2ox - 1
            i0, j0 = np.meshgrid(2 * np.arange(1, 5) - 1, 2 * np.arange(1, 5) - 1, indexing="ij")
            np.testing.assert_array_equal(out[0, 0, 1:, 1:], 10 * (9 * i0 + j0) + 69)
            dx = layer.backward(np.ones_like(out))
            # the windows tile the padded image without overlap: pixel (i, j) meets tap ((i+1) % 2, (j+1) % 2) once
            np.testing.assert_array_equal(dx[0, 0, ::2], np.tile([4.0, 3.0], 5)[:9].reshape(1, 9).repeat(5, 0))
            np.testing.assert_array_equal(dx[0, 0, 1::2], np.tile([2.0, 1.0], 5)[:9].reshape(1, 9).repeat(4, 0))
            # dW[ky, kx] sums x over rows {1, 3, 5, 7} (ky 0) or {0, 2, 4, 6, 8} (ky 1), columns likewise
            np.testing.assert_array_equal(layer.dW, [[[[640.0, 800.0], [800.0, 1000.0]]]])
            assert layer.db.tolist() == [25.0]
            np.testing.assert_array_equal(out, naive.conv_forward(x, W, np.zeros(1), 2, 1))

        # the book's Pooling of the same input, 2 x 2 windows with stride 2 (no pad: the book's Pooling leaves the
        # pad out of its output size): 4.5 floored to 4 a side, row 8 and column 8 in no window
        pool = convolution.Pooling(2, 2, stride=2)
        out = pool.forward(x.astype(dtype))
        assert out.shape == (1, 1, 4, 4)
        rows = 2 * np.arange(4) + 1  # each window's maximum is its bottom-right pixel x[2oy + 1, 2ox + 1]
        np.testing.assert_array_equal(out[0, 0], 9 * rows[:, None] + rows[None, :])
        assert pool.arg_max.tolist() == [3] * 16
        dx = pool.backward(np.ones_like(out))
        expected = np.zeros((9, 9))
        expected[1:8:2, 1:8:2] = 1.0
        np.testing.assert_array_equal(dx[0, 0], expected)  # row 8 and column 8: zero gradient
        # fastnn's Pooling honours the pad (the book's fails here): 5.5 windows a side, floored to 5
        padded = convolution.Pooling(2, 2, stride=2, pad=1)
        out = padded.forward(x.astype(dtype))
        expected, arg_max = naive.maxpool_forward(x, 2, 2, 2, 1)
        np.testing.assert_array_equal(out, expected)
        assert out.shape == (1, 1, 5, 5) and out[0, 0, 0, 0] == 0.0 and out[0, 0, 4, 4] == 80.0


# --- Convolution --------------------------------------------------------------------------------------------------
@given(st.data(), geometries(), st.integers(1, 4), st.sampled_from(DTYPES), st.sampled_from(METHODS))
def test_convolution_matches_naive_and_reference(data, geometry, n_filters, dtype, method):
    n, c, h, w, fh, fw, stride, pad = geometry
    x = data.draw(images((n, c, h, w), dtype))
    W = data.draw(hnp.arrays(dtype, (n_filters, c, fh, fw), elements=values()))
    b = data.draw(hnp.arrays(dtype, (n_filters,), elements=values()))
    layer = convolution.Convolution(W, b, stride, pad)
    layer._method = method
    out = layer.forward(x)
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    assert out.shape == (n, n_filters, oh, ow) and out.flags.c_contiguous
    close(out, naive.conv_forward(x, W, b, stride, pad), dtype, abs_conv(x, W, b, stride, pad))
    ref = rl.Convolution(W, b, stride, pad)
    close(ref.forward(x), naive.conv_forward(x, W, b, stride, pad), dtype, abs_conv(x, W, b, stride, pad))

    assert layer.x.dtype == dtype and layer.x.shape == x.shape
    np.testing.assert_array_equal(layer.col, naive.im2col(x, fh, fw, stride, pad))
    np.testing.assert_array_equal(layer.col, ref.col)
    np.testing.assert_array_equal(layer.col_W, W.reshape(n_filters, -1).T)
    assert layer.col.dtype == layer.col_W.dtype == dtype

    dout = data.draw(images((n, n_filters, oh, ow), dtype))
    dx = layer.backward(dout)
    ndx, ndW, ndb = naive.conv_backward(x, W, dout, stride, pad)
    sdx, sdW, sdb = naive.conv_backward(np.abs(x), np.abs(W), np.abs(dout), stride, pad)
    close(dx, ndx, dtype, sdx)
    close(layer.dW, ndW, dtype, sdW)
    close(layer.db, ndb, dtype, sdb)
    close(ref.backward(dout), ndx, dtype, sdx)
    close(ref.dW, ndW, dtype, sdW)
    close(ref.db, ndb, dtype, sdb)


@given(st.data(), geometries(max_channels=2), st.integers(1, 3), st.sampled_from(METHODS))
def test_convolution_gradients_match_central_differences(data, geometry, n_filters, method):
    n, c, h, w, fh, fw, stride, pad = geometry
    x = data.draw(hnp.arrays(np.float64, (n, c, h, w), elements=values()))
    W = data.draw(hnp.arrays(np.float64, (n_filters, c, fh, fw), elements=values()))
    b = data.draw(hnp.arrays(np.float64, (n_filters,), elements=values()))
    layer = convolution.Convolution(W, b, stride, pad)
    layer._method = method
    weights = data.draw(hnp.arrays(np.float64, (n, n_filters, out_size(h, fh, stride, pad),
                                                out_size(w, fw, stride, pad)), elements=values()))
    f = lambda _: float(np.sum(layer.forward(x) * weights))  # noqa: E731  (W and b are perturbed in place)
    layer.forward(x)
    dx = layer.backward(weights)
    np.testing.assert_allclose(dx, numerical_gradient(f, x), **NUM_TOL)
    np.testing.assert_allclose(layer.dW, numerical_gradient(f, W), **NUM_TOL)
    np.testing.assert_allclose(layer.db, numerical_gradient(f, b), **NUM_TOL)


# (x shape, (filter height, width), stride, pad) whose output sizes are floored in at least one direction
FLOORED = [((2, 2, 9, 9), (2, 2), 2, 0), ((2, 3, 10, 7), (3, 2), 3, 0), ((1, 2, 8, 11), (3, 3), 2, 1),
           ((2, 1, 7, 6), (2, 3), 3, 2), ((1, 1, 1, 5), (1, 2), 2, 0)]


def uncovered(size, filter_size, stride, pad):
    """The input indices along one axis that no window reaches (left out by the floored output size)."""
    covered = {o * stride + k - pad for o in range(out_size(size, filter_size, stride, pad))
               for k in range(filter_size)}
    return [i for i in range(size) if i not in covered]


@pytest.mark.parametrize("shape, fsize, stride, pad", FLOORED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "transposed", "sliced"])
def test_floored_geometries_on_every_path(shape, fsize, stride, pad, dtype, layout, rng):
    """Output sizes that the book floors, on every path by name: im2col/col2im, the convolution through the rule,
    im2col + BLAS and direct loops, max pooling, and the nets' fused relu - pooling forward and conv - relu - pool
    backward; outputs and gradients equal the plain-loop oracles and the reference, and the input rows and
    columns no window reaches get exactly zero gradient."""
    n, c, h, w = shape
    fh, fw = fsize
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    assert (h + 2 * pad - fh) % stride or (w + 2 * pad - fw) % stride  # really a floored geometry
    drop_rows, drop_cols = uncovered(h, fh, stride, pad), uncovered(w, fw, stride, pad)
    x = relayout(rng.standard_normal(shape).astype(dtype), layout)
    W, b = rng.standard_normal((3, c, fh, fw)).astype(dtype), rng.standard_normal(3).astype(dtype)

    col = util.im2col(x, fh, fw, stride, pad)
    assert col.shape == (n * oh * ow, c * fh * fw)
    np.testing.assert_array_equal(col, naive.im2col(x, fh, fw, stride, pad))
    img = util.col2im(col, shape, fh, fw, stride, pad)
    close(img, naive.col2im(col, shape, fh, fw, stride, pad), dtype, naive.col2im(np.abs(col), shape, fh, fw,
                                                                                   stride, pad))
    assert not img[:, :, drop_rows].any() and not img[:, :, :, drop_cols].any()

    ndx, ndW, ndb = naive.conv_backward(x, W, np.ones((n, 3, oh, ow)), stride, pad)
    for method in METHODS:
        layer = convolution.Convolution(W, b, stride, pad)
        layer._method = method
        out = layer.forward(x)
        assert out.shape == (n, 3, oh, ow)
        close(out, naive.conv_forward(x, W, b, stride, pad), dtype, abs_conv(x, W, b, stride, pad))
        dx = layer.backward(np.ones_like(out))
        sdx, sdW, _ = naive.conv_backward(np.abs(x), np.abs(W), np.ones((n, 3, oh, ow)), stride, pad)
        close(dx, ndx, dtype, sdx)
        close(layer.dW, ndW, dtype, sdW)
        close(layer.db, ndb, dtype)
        assert not dx[:, :, drop_rows].any() and not dx[:, :, :, drop_cols].any()
    ref = rl.Convolution(W, b, stride, pad)
    close(ref.forward(x), naive.conv_forward(x, W, b, stride, pad), dtype, abs_conv(x, W, b, stride, pad))
    close(ref.backward(np.ones((n, 3, oh, ow), dtype)), ndx, dtype, sdx)

    pool = convolution.Pooling(fh, fw, stride, pad)
    out = pool.forward(x)
    expected, arg_max = naive.maxpool_forward(x, fh, fw, stride, pad)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(pool.arg_max, arg_max)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = pool.backward(dout)
    close(dx, naive.maxpool_backward(dout, arg_max, shape, fh, fw, stride, pad), dtype,
          naive.maxpool_backward(np.abs(dout), arg_max, shape, fh, fw, stride, pad))
    assert not dx[:, :, drop_rows].any() and not dx[:, :, :, drop_cols].any()

    if min(oh, ow) < 2:  # no 2 x 2 pooling window fits the convolution's output
        return
    # the nets' conv - relu - 2 x 2 pool: forward fused relu - pool, backward in one pass from the pooled gradient
    conv_layer, relu, pool = convolution.Convolution(W, b, stride, pad), layers.Relu(), convolution.Pooling(2, 2)
    conv_out = conv_layer._forward(np.ascontiguousarray(x))
    pooled = pool._forward_relu(conv_out, relu)
    after_relu = np.where(conv_out <= 0, dtype.type(0), conv_out)
    expected, arg_max = naive.maxpool_forward(after_relu, 2, 2, 2, 0)
    np.testing.assert_array_equal(pooled, expected)
    dpool = rng.standard_normal(pooled.shape).astype(dtype)
    dx = conv_layer._backward_pooled(dpool, pool)
    dconv = naive.maxpool_backward(dpool, arg_max, conv_out.shape, 2, 2, 2, 0) * (conv_out > 0)
    ndx, ndW, ndb = naive.conv_backward(x, W, dconv, stride, pad)
    sdx, sdW, sdb = naive.conv_backward(np.abs(x), np.abs(W), np.abs(dconv), stride, pad)
    close(dx, ndx, dtype, sdx)
    close(conv_layer.dW, ndW, dtype, sdW)
    close(conv_layer.db, ndb, dtype, sdb)
    assert not dx[:, :, drop_rows].any() and not dx[:, :, :, drop_cols].any()


def test_convolution_extreme_values():
    rng = np.random.default_rng(5)
    x = rng.choice([1e30, -1e30, 1.0, -2.0], size=(2, 2, 6, 5))
    W, b = rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    dout = rng.choice([1e30, -1e30, 0.5], size=(2, 3, 6, 6))
    for dtype in DTYPES:
        xd, Wd, bd, dd = (a.astype(dtype) for a in (x, W, b, dout))
        for method in METHODS:
            layer = convolution.Convolution(Wd, bd, 1, 1)
            layer._method = method
            close(layer.forward(xd), naive.conv_forward(xd, Wd, bd, 1, 1), dtype, abs_conv(xd, Wd, bd, 1, 1))
            ndx, ndW, ndb = naive.conv_backward(xd, Wd, dd, 1, 1)
            sdx, sdW, sdb = naive.conv_backward(np.abs(xd), np.abs(Wd), np.abs(dd), 1, 1)
            close(layer.backward(dd), ndx, dtype, sdx)
            close(layer.db, ndb, dtype, sdb)
            # dW's products reach 1e60: finite in float64, inf in float32 as in any float32 code
            if dtype == np.float64:
                close(layer.dW, ndW, dtype, sdW)


def test_convolution_params_are_kept_by_reference_and_grads_overwritten_in_place(rng):
    W, b = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    layer = convolution.Convolution(W, b, pad=1)
    assert layer.params[0] is W and layer.params[1] is b and layer.W is W and layer.b is b
    dW, db = layer.grads
    assert layer.dW is dW and layer.db is db
    x = rng.standard_normal((2, 3, 5, 5))
    out = layer.forward(x)
    layer.backward(np.ones_like(out))
    first = dW.copy()
    assert layer.grads[0] is dW and layer.grads[1] is db and not np.all(dW == 0)
    layer.forward(2 * x)
    layer.backward(np.ones_like(out))
    assert layer.grads[0] is dW and layer.dW is dW
    np.testing.assert_allclose(dW, 2 * first, rtol=1e-12)  # overwritten (not accumulated) in place

    W -= 0.5  # an optimizer's in-place step is seen by the next forward
    np.testing.assert_allclose(layer.forward(x), naive.conv_forward(x, W, b, 1, 1), rtol=1e-12, atol=1e-12)

    new_W = rng.standard_normal((2, 3, 3, 3))
    layer.W = new_W  # the book's load_params
    assert layer.params[0] is new_W and layer.grads[0] is dW  # same shape and dtype: the buffer is kept
    np.testing.assert_allclose(layer.forward(x), naive.conv_forward(x, new_W, b, 1, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.col_W, new_W.reshape(2, -1).T)

    wider, wider_b = rng.standard_normal((4, 3, 1, 1)), np.zeros(4)
    layer.W, layer.b = wider, wider_b
    assert layer.params == [wider, wider_b] and layer.dW.shape == (4, 3, 1, 1) and layer.db.shape == (4,)
    assert layer.forward(x).shape == (2, 4, 7, 7)


def test_convolution_takes_parameters_in_any_memory_layout(rng):
    W = np.asfortranarray(rng.standard_normal((3, 2, 2, 2)))
    b = rng.standard_normal(6)[::2]  # a strided view
    layer = convolution.Convolution(W, b)
    x = rng.standard_normal((2, 2, 4, 5))
    np.testing.assert_allclose(layer.forward(x), naive.conv_forward(x, W, b), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal((2, 3, 3, 4))
    ndx, ndW, ndb = naive.conv_backward(x, W, dout)
    np.testing.assert_allclose(layer.backward(dout), ndx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.dW, ndW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.db, ndb, rtol=1e-12, atol=1e-12)
    assert layer.params[0] is W and layer.params[1] is b
    np.testing.assert_array_equal(layer.col_W, W.reshape(3, -1).T)


def test_convolution_computes_in_W_dtype(rng):
    W32, b32 = rng.standard_normal((2, 1, 2, 2)).astype(np.float32), np.zeros(2, np.float32)
    layer = convolution.Convolution(W32, b32)
    out = layer.forward(rng.standard_normal((1, 1, 4, 4)))  # float64 input: cast once to W's dtype
    assert out.dtype == layer.x.dtype == layer.col.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert convolution.Convolution(W32.astype(np.float64), b32.astype(np.float64)).forward(
        np.ones((1, 1, 4, 4), dtype=np.int64)).dtype == np.float64


def test_convolution_need_dx_false_skips_dx_only(rng):
    W, b = rng.standard_normal((3, 2, 2, 2)), rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 5, 5))
    full, first = convolution.Convolution(W, b), convolution.Convolution(W, b)
    dout = rng.standard_normal(full.forward(x).shape)
    first.forward(x)
    assert full.backward(dout) is not None
    assert first.backward(dout, need_dx=False) is None
    np.testing.assert_array_equal(first.dW, full.dW)
    np.testing.assert_array_equal(first.db, full.db)
    assert first._backward(dout, need_dx=False) is None


def test_convolution_col_is_computed_on_first_read_after_a_direct_forward(rng):
    W, b = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)
    x = rng.standard_normal((2, 1, 26, 26))  # one channel, a 24 x 24 output: the rule's direct forward
    layer = convolution.Convolution(W, b)
    out = layer._forward(np.ascontiguousarray(x), train_flg=False)
    assert layer._col is None  # not built
    np.testing.assert_allclose(out, naive.conv_forward(x, W, b), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.col, util.im2col(x, 3, 3))
    dout = rng.standard_normal(out.shape)
    layer.forward(x)  # a training forward builds it; backward after a direct forward builds it too
    reference = convolution.Convolution(W, b)
    reference._method = convolution.GEMM
    reference.forward(x)
    layer._forward(np.ascontiguousarray(x), train_flg=False)
    np.testing.assert_allclose(layer.backward(dout), reference.backward(dout), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.dW, reference.dW, rtol=1e-12, atol=1e-12)


def test_convolution_col_buffer_is_reused_by_the_next_forward_of_the_same_shape(rng):
    layer = convolution.Convolution(rng.standard_normal((2, 1, 2, 2)), np.zeros(2))
    layer._method = convolution.GEMM
    x1, x2 = rng.standard_normal((1, 1, 3, 3)), rng.standard_normal((1, 1, 3, 3))
    layer.forward(x1)
    kept = layer.col
    layer.forward(x2)
    assert layer.col is kept  # documented: copy col to keep it
    np.testing.assert_array_equal(kept, util.im2col(x2, 2, 2))
    layer.forward(rng.standard_normal((2, 1, 3, 3)))
    assert layer.col is not kept and layer.col.shape == (8, 4)


def test_the_rule():
    """The module docstring's rule, written out."""
    G, D = convolution.GEMM, convolution.DIRECT
    assert convolution._plan(1, 576, 1, True) == (G, G, D)  # SimpleConvNet's conv on MNIST, training
    assert convolution._plan(1, 576, 1, False) == (D, G, D)  # ... predicting
    assert convolution._plan(16, 784, 1, True) == (G, G, G)  # DeepConvNet's second conv
    assert convolution._plan(16, 784, 1, False) == (D, G, G)
    assert convolution._plan(1, 575, 1, False) == (G, G, G)  # small planes (the digits' 6 x 6) stay on BLAS
    assert convolution._plan(1, 900, 2, False) == (G, G, G)  # so does any stride > 1


# --- Pooling ------------------------------------------------------------------------------------------------------
SPECIAL = st.sampled_from([1e30, -1e30, np.nan, 0.0, -0.0, -1.0])


def pool_values():
    """Elements with repeats (ties), negatives (so padding zeros can win), 1e30, -1e30 and NaN."""
    return st.one_of(st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0]), values(), SPECIAL)


@given(st.data(), geometries(), st.sampled_from(DTYPES))
def test_pooling_matches_naive_and_reference(data, geometry, dtype):
    n, c, h, w, ph, pw, stride, pad = geometry
    x = data.draw(images((n, c, h, w), dtype, elements=pool_values() if data.draw(st.booleans()) else None))
    layer = convolution.Pooling(ph, pw, stride, pad)
    out = layer.forward(x)
    expected, arg_max = naive.maxpool_forward(x, ph, pw, stride, pad)
    assert out.dtype == dtype and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(layer.arg_max, arg_max)
    assert layer.arg_max.dtype == np.intp and layer.x.dtype == dtype
    ref = rl.Pooling(ph, pw, stride, pad)
    np.testing.assert_array_equal(ref.forward(x), expected)
    np.testing.assert_array_equal(ref.arg_max, arg_max)

    dout = data.draw(images(out.shape, dtype))
    dx = layer.backward(dout)
    ndx = naive.maxpool_backward(dout, arg_max, x.shape, ph, pw, stride, pad)
    sdx = naive.maxpool_backward(np.abs(dout), arg_max, x.shape, ph, pw, stride, pad)
    close(dx, ndx, dtype, sdx)
    close(ref.backward(dout), ndx, dtype, sdx)


def test_pooling_by_hand():
    x = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, np.nan], [-1.0, -2.0, 5.0, 5.0], [-3.0, -4.0, 5.0, 1.0]]]])
    layer = convolution.Pooling(2, 2)
    np.testing.assert_array_equal(layer.forward(x), [[[[3.0, np.nan], [-1.0, 5.0]]]])
    assert layer.arg_max.tolist() == [1, 3, 0, 0]  # the first 3; the NaN; the first 5
    np.testing.assert_array_equal(layer.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]])),
                                  [[[[0, 10, 0, 0], [0, 0, 0, 20], [30, 0, 40, 0], [0, 0, 0, 0]]]])
    padded = convolution.Pooling(2, 2, stride=2, pad=1)  # all negative: the padding zeros are the maxima
    out = padded.forward(-np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(out, np.zeros((1, 1, 2, 2)))
    assert padded.arg_max.tolist() == [0, 0, 0, 1]  # each window's first padding zero
    np.testing.assert_array_equal(padded.backward(np.ones((1, 1, 2, 2))), np.zeros((1, 1, 2, 2)))  # dropped
    overlapping = convolution.Pooling(2, 2, stride=1)  # one maximum in four windows gets all four
    overlapping.forward(np.array([[[[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]]))
    assert overlapping.backward(np.ones((1, 1, 2, 2)))[0, 0, 1, 1] == 4.0


@pytest.mark.parametrize("ph, pw, stride, pad", [(2, 2, 2, 0), (2, 2, 2, 1), (3, 3, 3, 0), (3, 3, 1, 1),
                                                   (2, 3, 2, 0), (1, 1, 1, 0)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_special_values_on_every_kernel_path(ph, pw, stride, pad, dtype):
    """The 2 x 2 stride-2 path, the general path and the tiling backward, with NaN, inf and -inf sprinkled over
    ties and negatives (the windows the running sum flags are redone exactly)."""
    rng = np.random.default_rng(7)
    h, w = (6 * stride + (k - stride) - 2 * pad if stride > 1 else 7 for k in (ph, pw))
    x = rng.choice([-2.0, -1.0, 0.0, 1.0, 1.0, np.nan, np.inf, -np.inf], size=(2, 3, h, w)).astype(dtype)
    x[0, 0] = rng.standard_normal((h, w))  # one plane with nothing special: no window is redone
    layer = convolution.Pooling(ph, pw, stride, pad)
    out = layer.forward(x)
    expected, arg_max = naive.maxpool_forward(x, ph, pw, stride, pad)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(layer.arg_max, arg_max)
    assert layer.arg_max is layer.arg_max  # the book's layout is made once per forward
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(layer.backward(dout), naive.maxpool_backward(dout, arg_max, x.shape, ph, pw,
                                                                            stride, pad), rtol=1e-5, atol=1e-6)
    assert convolution.Pooling(ph, pw).arg_max is None


@given(st.data(), geometries(), st.sampled_from(DTYPES))
def test_fused_relu_pooling_forward_is_relu_then_pooling(data, geometry, dtype):
    """The convolutional nets' relu - pool in one pass: the same output and book state of both layers as the
    book's Relu then Pooling (plain loops), with ties, zeros, windows all <= 0, NaN and +-1e30."""
    n, c, h, w, ph, pw, stride, pad = geometry
    x = data.draw(images((n, c, h, w), dtype, elements=pool_values() if data.draw(st.booleans()) else None))
    relu, layer = layers.Relu(), convolution.Pooling(ph, pw, stride, pad)
    out = layer._forward_relu(np.ascontiguousarray(x), relu)  # the nets' unchecked path takes checked arrays
    after_relu = np.where(x <= 0, dtype.type(0), x)  # the book's Relu: out[x <= 0] = 0
    expected, arg_max = naive.maxpool_forward(after_relu, ph, pw, stride, pad)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(layer.arg_max, arg_max)
    np.testing.assert_array_equal(layer.x, after_relu)
    np.testing.assert_array_equal(relu.mask, x <= 0)
    dout = data.draw(images(out.shape, dtype))
    np.testing.assert_allclose(layer.backward(dout), naive.maxpool_backward(dout, arg_max, x.shape, ph, pw, stride,
                                                                            pad), rtol=1e-6)  # Pooling alone


@given(st.data(), st.sampled_from(DTYPES), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 3), st.integers(0, 2), st.booleans())
def test_fused_conv_relu_pooling_backward_is_the_chain(data, dtype, n, c, fn, stride, pad, integers):
    """Convolution._backward_pooled (conv - relu - 2 x 2 pool backward in one pass) against the reference's
    Convolution, Relu and Pooling backward in turn; small integers make ties, zeros and all-negative windows.
    Odd convolution outputs (the pooling floors: the last row or column is in no window) and floored convolution
    geometries (up to stride - 1 input rows or columns past the last window) included."""
    f = data.draw(st.integers(1, 3))
    oh, ow = data.draw(st.integers(2, 7)), data.draw(st.integers(2, 7))
    h, w = ((size - 1) * stride + f - 2 * pad + data.draw(st.integers(0, stride - 1)) for size in (oh, ow))
    if min(h, w) < 1:
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    draw = (lambda shape: rng.integers(-2, 3, shape).astype(dtype)) if integers else \
        (lambda shape: rng.standard_normal(shape).astype(dtype))
    x, W, b = draw((n, c, h, w)), draw((fn, c, f, f)), draw(fn)
    conv_layer, relu, pool = convolution.Convolution(W.copy(), b.copy(), stride, pad), layers.Relu(), \
        convolution.Pooling(2, 2, 2)
    pool._forward_relu(conv_layer._forward(x), relu)
    dpool = draw(pool._relu_out.shape)
    dx = conv_layer._backward_pooled(dpool, pool, need_dx=True)

    refs = [rl.Convolution(W.astype(np.float64), b.astype(np.float64), stride, pad), rl.Relu(), rl.Pooling(2, 2, 2)]
    h_ = x.astype(np.float64)
    for layer in refs:
        h_ = layer.forward(h_)
    np.testing.assert_allclose(pool._relu_out, h_, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10)
    d = dpool.astype(np.float64)
    for layer in reversed(refs):
        d = layer.backward(d)
    tol = dict(rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10 * (1 + np.abs(d).max()))
    np.testing.assert_allclose(dx, d, **tol)
    np.testing.assert_allclose(conv_layer.dW, refs[0].dW, **tol)
    np.testing.assert_allclose(conv_layer.db, refs[0].db, **tol)
    conv_layer.grads[0][...] = 0
    assert conv_layer._backward_pooled(dpool, pool, need_dx=False) is None
    np.testing.assert_allclose(conv_layer.dW, refs[0].dW, **tol)


@given(st.data(), geometries(max_channels=2))
def test_pooling_gradient_matches_central_differences(data, geometry):
    n, c, h, w, ph, pw, stride, pad = geometry
    count = n * c * h * w
    # distinct values at least 0.01 apart and away from the padding's 0: no maximum changes within h = 1e-4
    steps = data.draw(st.permutations(range(count)))
    sign = data.draw(st.sampled_from([1.0, -1.0]))
    x = sign * (np.array(steps, dtype=np.float64) * 0.01 + 0.005).reshape(n, c, h, w)
    layer = convolution.Pooling(ph, pw, stride, pad)
    out = layer.forward(x)
    weights = data.draw(hnp.arrays(np.float64, out.shape, elements=values()))
    dx = layer.backward(weights)
    np.testing.assert_allclose(dx, numerical_gradient(lambda _: float(np.sum(layer.forward(x) * weights)), x),
                               **NUM_TOL)


def test_pooling_keeps_float32_and_casts_integers():
    assert convolution.Pooling(2, 2).forward(np.ones((1, 1, 2, 2), np.float32)).dtype == np.float32
    layer = convolution.Pooling(2, 2)
    assert layer.forward(np.arange(4).reshape(1, 1, 2, 2)).tolist() == [[[[3.0]]]]
    assert layer.x.dtype == np.float64 and layer.params == [] and layer.grads == []
    assert convolution.Pooling(2, 2)._backward(np.ones((1, 1, 1, 1)), need_dx=False) is None
    assert convolution.Pooling(3, 3).stride == 2  # the book's default


# --- bad input --------------------------------------------------------------------------------------------------
def _conv(W_shape=(2, 3, 3, 3), b_shape=(2,), **kw):
    return convolution.Convolution(np.ones(W_shape), np.ones(b_shape), **kw)


def _forwarded(layer, x):
    """A layer after one forward (built before the kernels are replaced)."""
    layer.forward(x)
    return layer


def _set(obj, name, value):
    setattr(obj, name, value)
    return obj


X = np.ones((2, 3, 5, 5))
CONV_AFTER_FORWARD = lambda: _forwarded(_conv(), X)  # noqa: E731  (its output: (2, 2, 3, 3))
POOL_AFTER_FORWARD = lambda: _forwarded(convolution.Pooling(2, 2), np.ones((1, 1, 4, 4)))  # noqa: E731
# (id, make: builds the object with the real kernels or None, act: the call that must be refused, type, argument)
BAD = [
    # conv_output_size, im2col, col2im
    ("conv_output_size stride 0", None, lambda _: util.conv_output_size(5, 3, 0), ValueError, "stride"),
    ("conv_output_size float size", None, lambda _: util.conv_output_size(5.0, 3), TypeError, "input_size"),
    ("conv_output_size pad -1", None, lambda _: util.conv_output_size(5, 3, 1, -1), ValueError, "pad"),
    ("im2col 3-D", None, lambda _: util.im2col(np.ones((3, 5, 5)), 3, 3), ValueError, "input_data"),
    ("im2col 5-D", None, lambda _: util.im2col(np.ones((1, 1, 3, 5, 5)), 3, 3), ValueError, "input_data"),
    ("im2col strings", None, lambda _: util.im2col(np.full((1, 1, 3, 3), "a"), 3, 3), TypeError, "input_data"),
    ("im2col complex", None, lambda _: util.im2col(np.ones((1, 1, 3, 3), complex), 3, 3), TypeError,
     "input_data"),
    ("im2col ragged", None, lambda _: util.im2col([[[[1, 2], [3]]]], 1, 1), ValueError, "input_data"),
    ("im2col filter too high", None, lambda _: util.im2col(X, 6, 3), ValueError, "filter_h"),
    ("im2col filter too wide", None, lambda _: util.im2col(X, 3, 8, pad=1), ValueError, "filter_w"),
    ("im2col filter 0", None, lambda _: util.im2col(X, 0, 3), ValueError, "filter_h"),
    ("im2col filter float", None, lambda _: util.im2col(X, 3, 2.0), TypeError, "filter_w"),
    ("im2col stride 0", None, lambda _: util.im2col(X, 3, 3, stride=0), ValueError, "stride"),
    ("im2col pad -1", None, lambda _: util.im2col(X, 3, 3, pad=-1), ValueError, "pad"),
    ("im2col output height 0 with stride 2", None, lambda _: util.im2col(X, 6, 3, stride=2), ValueError,
     "filter_h"),
    ("col2im col shape", None, lambda _: util.col2im(np.ones((9, 26)), (1, 3, 5, 5), 3, 3), ValueError, "col"),
    ("col2im col 1-D", None, lambda _: util.col2im(np.ones(243), (1, 3, 5, 5), 3, 3), ValueError, "col"),
    ("col2im col strings", None, lambda _: util.col2im(np.full((9, 27), "a"), (1, 3, 5, 5), 3, 3), TypeError,
     "col"),
    ("col2im input_shape 3-D", None, lambda _: util.col2im(np.ones((9, 27)), (3, 5, 5), 3, 3), ValueError,
     "input_shape"),
    ("col2im input_shape float", None, lambda _: util.col2im(np.ones((9, 27)), (1, 3, 5.0, 5), 3, 3), TypeError,
     "input_shape"),
    ("col2im input_shape negative", None, lambda _: util.col2im(np.ones((9, 27)), (1, 3, -5, 5), 3, 3),
     ValueError, "input_shape"),
    ("col2im filter too large", None, lambda _: util.col2im(np.ones((9, 27)), (1, 3, 5, 5), 7, 3), ValueError,
     "filter_h"),
    ("col2im stride 0", None, lambda _: util.col2im(np.ones((9, 27)), (1, 3, 5, 5), 3, 3, 0), ValueError,
     "stride"),
    ("col2im output width 0 with stride 3", None, lambda _: util.col2im(np.ones((0, 21)), (1, 3, 5, 1), 1, 7, 3,
                                                                         2), ValueError, "filter_w"),
    # Convolution
    ("Convolution W 3-D", None, lambda _: _conv(W_shape=(2, 3, 3)), ValueError, "W"),
    ("Convolution W empty", None, lambda _: _conv(W_shape=(2, 0, 3, 3)), ValueError, "W"),
    ("Convolution W int", None, lambda _: convolution.Convolution(np.ones((2, 1, 2, 2), int), np.ones(2, int)),
     TypeError, "W"),
    ("Convolution W list", None, lambda _: convolution.Convolution([[[[1.0]]]], np.ones(1)), TypeError, "W"),
    ("Convolution b shape", None, lambda _: _conv(b_shape=(3,)), ValueError, "b"),
    ("Convolution b dtype", None, lambda _: convolution.Convolution(np.ones((2, 1, 2, 2)), np.ones(2, np.float32)),
     ValueError, "b"),
    ("Convolution stride 0", None, lambda _: _conv(stride=0), ValueError, "stride"),
    ("Convolution stride float", None, lambda _: _conv(stride=1.5), TypeError, "stride"),
    ("Convolution pad -1", None, lambda _: _conv(pad=-1), ValueError, "pad"),
    ("Convolution.forward x 3-D", _conv, lambda c: c.forward(np.ones((3, 5, 5))), ValueError, "x"),
    ("Convolution.forward x channels", _conv, lambda c: c.forward(np.ones((2, 2, 5, 5))), ValueError, "x"),
    ("Convolution.forward x empty batch", _conv, lambda c: c.forward(np.ones((0, 3, 5, 5))), ValueError, "x"),
    ("Convolution.forward x strings", _conv, lambda c: c.forward(np.full((1, 3, 5, 5), "a")), TypeError, "x"),
    ("Convolution.forward filter larger than padded x", lambda: _conv(pad=1),
     lambda c: c.forward(np.ones((1, 3, 5, 0))), ValueError, "W"),
    ("Convolution.forward output height 0 with stride 2", lambda: _conv(stride=2),
     lambda c: c.forward(np.ones((1, 3, 2, 5))), ValueError, "W"),
    ("Convolution.forward stride set to 0", _conv, lambda c: _set(c, "stride", 0).forward(X), ValueError, "stride"),
    ("Convolution W rebound to 3-D", _conv, lambda c: _set(c, "W", np.ones((2, 3, 3))), ValueError, "W"),
    ("Convolution.forward b no longer matching", _conv, lambda c: _set(c, "b", np.ones(5)).forward(X), ValueError,
     "b"),
    ("Convolution.backward before forward", _conv, lambda c: c.backward(np.ones((2, 2, 3, 3))), RuntimeError,
     "forward"),
    ("Convolution.backward dout shape", CONV_AFTER_FORWARD, lambda c: c.backward(np.ones((2, 2, 3, 4))),
     ValueError, "dout"),
    ("Convolution.backward dout strings", CONV_AFTER_FORWARD, lambda c: c.backward(np.full((2, 2, 3, 3), "a")),
     TypeError, "dout"),
    ("Convolution.backward W replaced", CONV_AFTER_FORWARD,
     lambda c: _set(c, "W", np.ones((3, 3, 3, 3))).backward(np.ones((2, 2, 3, 3))), ValueError, "W"),
    # Pooling
    ("Pooling pool_h 0", None, lambda _: convolution.Pooling(0, 2), ValueError, "pool_h"),
    ("Pooling pool_w float", None, lambda _: convolution.Pooling(2, 2.0), TypeError, "pool_w"),
    ("Pooling stride 0", None, lambda _: convolution.Pooling(2, 2, 0), ValueError, "stride"),
    ("Pooling pad -1", None, lambda _: convolution.Pooling(2, 2, 2, -1), ValueError, "pad"),
    ("Pooling.forward x 2-D", None, lambda _: convolution.Pooling(2, 2).forward(np.ones((4, 4))), ValueError, "x"),
    ("Pooling.forward x empty batch", None, lambda _: convolution.Pooling(2, 2).forward(np.ones((0, 1, 4, 4))),
     ValueError, "x"),
    ("Pooling.forward x object", None, lambda _: convolution.Pooling(2, 2).forward(np.array([[[[None]]]])),
     TypeError, "x"),
    ("Pooling.forward window larger than padded x", None,
     lambda _: convolution.Pooling(3, 3).forward(np.ones((1, 1, 2, 4))), ValueError, "pool_h"),
    ("Pooling.forward output width 0 with stride 3", None,
     lambda _: convolution.Pooling(3, 3, stride=3).forward(np.ones((1, 1, 5, 2))), ValueError, "pool_w"),
    ("Pooling.backward before forward", None, lambda _: convolution.Pooling(2, 2).backward(np.ones((1, 1, 2, 2))),
     RuntimeError, "forward"),
    ("Pooling.backward dout shape", POOL_AFTER_FORWARD, lambda p: p.backward(np.ones((1, 1, 2, 3))), ValueError,
     "dout"),
]


@pytest.mark.parametrize("make, act, exc, name", [pytest.param(*row[1:], id=row[0]) for row in BAD])
def test_bad_input_is_refused_before_any_kernel(make, act, exc, name, monkeypatch):
    obj = make() if make is not None else None

    def ran(*args):
        raise AssertionError("a compiled kernel ran before the input was refused")
    for kernel_name in dir(conv_kernels):  # from here on, every kernel of fastnn.kernels.conv fails the test
        if kernel_name in {"im2col", "col2im"} or kernel_name.startswith(("conv_", "maxpool_")):
            monkeypatch.setattr(conv_kernels, kernel_name, ran)
    with pytest.raises(Exception) as info:
        act(obj)
    error = info.value
    assert not isinstance(error, NumbaError), f"a numba error escaped: {error!r}"
    assert type(error) is exc, f"expected {exc.__name__}, got {type(error).__name__}: {error}"
    assert re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", str(error)), f"{name!r} not named in: {error}"


def test_output_sizes_the_book_floors_are_accepted():
    """What fastnn refused before issue #24 (the former bad-input rows "non-integer output size"): the book's
    integer division floors these, so they run, with the floored shapes."""
    assert util.im2col(X, 2, 2, stride=2).shape == (2 * 2 * 2, 3 * 2 * 2)  # 5 = 2*2 + 1: row and column 4 dropped
    img = util.col2im(np.ones((4, 12)), (1, 3, 5, 5), 2, 2, 2)
    assert img.shape == (1, 3, 5, 5) and img[:, :, :4, :4].all() and not img[:, :, 4].any() and not img[..., 4].any()
    layer = _conv(stride=2)
    assert layer.forward(np.ones((1, 3, 6, 5))).shape == (1, 2, 2, 2)
    assert layer.backward(np.ones((1, 2, 2, 2)))[:, :, 5].tolist() == [[[0.0] * 5] * 3]
    pool = convolution.Pooling(2, 2)
    assert pool.forward(np.ones((1, 1, 5, 4))).shape == (1, 1, 2, 2)
    assert not pool.backward(np.ones((1, 1, 2, 2)))[0, 0, 4].any()


def test_an_output_size_below_1_is_refused_with_the_arithmetic():
    with pytest.raises(ValueError, match=re.escape("filter_h (6) must not exceed the padded height of input_data "
                                                   "(5 + 2*pad = 5, pad=0): the output height (height + 2*pad - "
                                                   "filter_h) // stride + 1 = (5 + 0 - 6) // 2 + 1 = 0 would be "
                                                   "below 1")):
        util.im2col(X, 6, 3, stride=2)
    with pytest.raises(ValueError, match=r"^pool_w \(3\) must not exceed the padded width of x .* = -1 would be "):
        convolution.Pooling(1, 3, 1).forward(np.ones((1, 1, 2, 1)))


def test_star_import_exports_the_layers():
    namespace = {}
    exec("from fastnn.layers import *", namespace)  # the book's ch07 scripts import this way
    assert namespace["Convolution"] is convolution.Convolution
    assert namespace["Pooling"] is convolution.Pooling
    namespace = {}
    exec("from fastnn.util import *", namespace)
    assert {"im2col", "col2im", "conv_output_size"} <= set(namespace)
    assert math.isclose(namespace["conv_output_size"](28, 5), 24.0)
