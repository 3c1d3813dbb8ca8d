"""The first book's ``Convolution`` and ``Pooling`` layers (chapter 7, ``common/layers.py``) on compiled kernels.

Same constructors (``Pooling``'s stride defaults to 2, as in the book), attributes and results (to rounding):

* ``Convolution``: ``W``, ``b``, ``stride``, ``pad``; after forward ``x``, ``col`` (the book's im2col of x, shape
  (N*OH*OW, C*FH*FW)) and ``col_W`` (``W.reshape(FN, -1).T``); after backward ``dW``, ``db``. Like fastnn's Affine
  it also has the second book's ``params = [W, b]`` (the very arrays given) and ``grads = [dW, db]``, buffers each
  backward overwrites in place; ``layer.W = array`` (the book's ``load_params``) rebinds both.
* ``Pooling`` (max pooling): ``pool_h``, ``pool_w``, ``stride``, ``pad``; after forward ``x`` and ``arg_max`` (for
  each window in (n, oy, ox, c) order, the flat index ky*pool_w + kx of its first maximum; the kernels keep it in
  (n, c, oy, ox) order and the book's array is made on first read).

Output sizes are the book's, ``OH = (H + 2*pad - FH) // stride + 1`` (likewise OW; FH, FW the pool size for
Pooling), rounded down when the stride does not divide ``H + 2*pad - FH``: the input rows and columns past the last
window are then read by no window, and backward gives them zero gradient, as the book's col2im does. Only a window
larger than the padded input (an output size below 1, where the book fails too) is a ValueError.

Differences from the book, all deliberate: computation is in W's dtype (float32 stays float32; the book's im2col
makes everything float64) and Pooling's in x's; forward returns a C-contiguous (N, FN, OH, OW) array (the book's is
a transposed view); Pooling honours ``pad`` (the book's Pooling computes its output size without the pad and so
fails for pad > 0 unless the pad changes no output size); ``col`` is computed on first read when the forward did
not need it, and its buffer is reused by the next forward of the same shape (copy it to keep it).

Two ways to compute a convolution, chosen per shape (``_plan``)
----------------------------------------------------------------
(a) im2col + BLAS: the book's method, one sample at a time inside one compiled call (im2col of the sample, a GEMM
with the filters, the transposing copy into NCHW with the bias), ``dW`` as per-sample GEMMs ``dout[n] @ col[n]``,
``dx`` as per-sample GEMMs then col2im; (b) direct loops (fastnn.kernels.conv) that never build ``col``.

Measured on AMD EPYC (2 cores, 1 used), numba 0.68, OpenBLAS 0.3.30 (SciPy's) single-threaded,
``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1``, OPENBLAS_CORETYPE/L2_SIZE unset; medians of interleaved repeats,
milliseconds per call, stride 1. "book" is the book's Convolution forward + backward (float64 always):

================================  =====  ======  =============  =============  =============  =====
shape (batch 100 unless noted)    dtype  im2col  forward        weight grad    input grad     book
                                                 BLAS   direct  BLAS   direct  BLAS   direct  f+b
================================  =====  ======  =============  =============  =============  =====
Simple 1->30, 5x5, 28x28          f32      1.08   4.37    4.04   5.18   13.57   3.91    4.19   53.0
Simple 1->30, 5x5, 28x28          f64      3.01   8.26    7.85   8.48   26.56   8.28    7.88   55.5
Deep 1->16, 3x3 pad 1, 28x28      f32      0.55   2.39    1.40   2.50    4.78   1.58    1.30   21.4
Deep 1->16, 3x3 pad 1, 28x28      f64      0.97   3.99    2.80   4.40   10.38   3.19    2.67   22.0
Deep 16->16, 3x3 pad 1, 28x28     f32     16.55  26.93   17.97  26.93   62.57  22.17   19.70  423.8
Deep 16->16, 3x3 pad 1, 28x28     f64     25.14  47.36   33.73  34.05   96.93  29.91   34.53  536.5
Deep 16->32, 3x3 pad 1, 14x14     f32      5.33   9.88   15.44   8.98   24.01   9.72   14.35  111.0
Deep 16->32, 3x3 pad 1, 14x14     f64      6.79  15.34   23.10  13.74   56.62  12.78   24.42  101.8
Deep 32->32, 3x3 pad 2, 14x14     f32     10.92  19.60   24.75  18.65   63.82  15.54   26.92  270.0
Deep 32->32, 3x3 pad 2, 14x14     f64     15.53  36.03   52.68  27.70  151.68  28.27   55.02  338.4
Deep 32->64, 3x3 pad 1, 8x8       f32      2.46   6.98   17.21   6.14   30.56   6.83   23.90   70.4
Deep 32->64, 3x3 pad 1, 8x8       f64      3.02  10.88   22.40  10.18   49.82   9.76   26.77   63.4
Deep 64->64, 3x3 pad 1, 8x8       f32      4.47  13.64   45.66  11.29   63.55  13.31   45.54  160.8
Deep 64->64, 3x3 pad 1, 8x8       f64      6.42  23.99   72.18  23.82  160.73  22.48   71.71  175.9
digits 1->16, 3x3, 8x8, batch 32  f32     0.012  0.035   0.043  0.029   0.062  0.035   0.053   0.38
digits 1->16, 3x3, 8x8, batch 32  f64     0.015  0.046   0.051  0.034   0.087  0.051   0.059   0.40
digits 1->16, 3x3 pad 1, batch 32 f32     0.014  0.051   0.049  0.044   0.082  0.052   0.057   0.53
digits 1->16, 3x3 pad 1, batch 32 f64     0.017  0.065   0.067  0.057   0.138  0.076   0.068   0.56
================================  =====  ======  =============  =============  =============  =====

("forward BLAS" includes its im2col; the weight gradient through BLAS needs ``col``, so after a direct forward
it costs the im2col column more.) Repeated runs of the whole table differ by up to ~20%: closer figures are ties.
Whole layer, forward + backward with dx (the rule / all BLAS / all direct / fastnn.reference / the book), ms:
Simple f32 13.6 / 13.3 / 21.7 / 22.4 / 60.7, f64 30.2 / 29.6 / 47.1 / 57.3 / 51.9; Deep 16->16 f32
80.6 / 80.3 / 96.4 / 220 / 450; Deep 64->64 f64 64.7 / 65.5 / 263 / 160 / 152. Forward alone without col
(``_forward(x, train_flg=False)``, the rule / all BLAS / the book): Deep 1->16 f64 3.3 / 4.9 / 10.7, Deep 16->16
f32 20.1 / 28.2 / 113; Simple f64 11.3 / 10.4 / 25.0 (a tie). Pooling 2x2 stride 2 (forward + backward, batch
100, fastnn / book): 30 x 24x24 f32 3.6 / 90.0 (f64 4.3), 64 x 8x8 f64 2.0 / 18.1.

The weight gradient as one GEMM over the batch (dout copied into (FN, N*OH*OW) order, times the whole col; or in
groups of 4 or 16 samples) was measured against the per-sample GEMMs at every Simple and Deep shape above: never
clearly faster (within ~10% either way at 8x8, up to 3.8x slower for Simple f64 with the whole batch), so not kept.

Rule: im2col + BLAS everywhere except, for stride 1 and output planes of at least 576 pixels (24 x 24,
``BIG_PLANE``): the forward uses direct loops when no backward follows (``_forward(x, train_flg=False)``: in
training, the weight gradient needs ``col`` anyway and its BLAS product beats the direct loops 2-7x at every
shape, so the forward might as well build ``col`` with BLAS), and the input gradient uses direct loops when the
layer has one input channel. The direct weight gradient is never chosen (kept for the tests and for measuring).

Inside the convolutional nets a convolution followed by ReLU and 2 x 2 max pooling has a third backward,
``_backward_pooled``: from the pooled gradient, only the one pixel per window that the pooling and ReLU let
through enters the products (fastnn.convnets explains and measures it).
"""
import numpy as np

from . import _checks
from ._dispatch import lazy_kernels
from .util import _window_geometry

conv = lazy_kernels("conv")

__all__ = ["Convolution", "Pooling"]

GEMM, DIRECT = "gemm", "direct"


BIG_PLANE = 576  # output pixels per plane (24 x 24) from which the direct loops win, stride 1 (table above)


def _plan(C, out_pixels, stride, train_flg):
    """(forward, weight gradient, input gradient) methods, GEMM or DIRECT, for a convolution of C input channels
    with output planes of out_pixels pixels: the module docstring's rule."""
    big = stride == 1 and out_pixels >= BIG_PLANE
    forward = DIRECT if big and not train_flg else GEMM
    return forward, GEMM, DIRECT if big and C == 1 else GEMM


# --- helpers (fastnn.layers has the same; this module must not import it) -------------------------------------
def _parameter(p, name, ndim):
    """A parameter array kept by reference: a writable float32/float64 ndarray of the given ndim, no empty axis."""
    _checks.writable_float_array(p, name)
    if p.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {p.shape}")
    if p.size == 0:
        raise ValueError(f"{name} must not have an axis of length 0; got shape {p.shape}")
    return p


def _forward_done(layer, attr):
    if getattr(layer, attr) is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward")


def _batch(x, dtype):
    """x as a C-contiguous 4-D (N, C, H, W) array in dtype (None: x's float dtype), at least one sample."""
    x = _checks.float_array(x, "x", dtype=dtype, ndim=4)
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one sample; got an empty batch of shape {x.shape}")
    return x


def _dout(dout, shape, dtype):
    d = _checks.float_array(dout, "dout", dtype=dtype)
    if d.shape != shape:
        raise ValueError(f"dout must have the shape of the forward output {shape}; got {d.shape}")
    return d


class Convolution:
    """The book's convolution layer: out[n, f] = b[f] + sum over c of x[n, c] cross-correlated with W[f, c],
    x zero-padded by ``pad`` and the filters moved ``stride`` pixels at a time. W: (FN, C, FH, FW), b: (FN,) or
    one real number for every filter (kept as a new (FN,) array in W's dtype)."""

    def __init__(self, W, b, stride=1, pad=0):
        W = self._checked_W(W)
        if not isinstance(b, np.ndarray) or b.ndim == 0:  # chapter 7's apply_filter.py passes b = 0: one bias
            one = b[()] if isinstance(b, np.ndarray) else b  # for every filter
            b = np.full(W.shape[0], _checks.real_number(one, "b"), dtype=W.dtype)
        self.params = [W, b]
        self._check_b(b, W)
        self.stride = _checks.integer(stride, "stride", minimum=1)
        self.pad = _checks.integer(pad, "pad", minimum=0)
        self.grads = [np.zeros_like(W, order="C"), np.zeros_like(b)]
        self.x = self.col_W = None
        self._col = self._col_buffer = None
        self._geometry = self._forward_W_shape = None  # (stride, pad, OH, OW) and W's shape of the last forward
        self._method = None  # None: _plan decides; GEMM or DIRECT force one method (tests)

    # W, b, dW, db are the arrays in params/grads, so both books' views of the layer stay one.
    W = property(lambda self: self.params[0], lambda self, v: self._rebind(0, v))
    b = property(lambda self: self.params[1], lambda self, v: self._rebind(1, v))
    dW = property(lambda self: self.grads[0])
    db = property(lambda self: self.grads[1])

    @staticmethod
    def _checked_W(W):
        return _parameter(W, "W", 4)

    @staticmethod
    def _check_b(b, W):
        _checks.writable_float_array(b, "b")
        if b.shape != (W.shape[0],) or b.dtype != W.dtype:
            raise ValueError(f"b must have shape ({W.shape[0]},) and dtype {W.dtype} to match W of shape "
                             f"{W.shape}; got shape {b.shape}, dtype {b.dtype}")

    def _rebind(self, k, value):
        """The book's load_params assigns layer.W = array: keep params and grads in step."""
        if k == 0:
            self._checked_W(value)
        else:
            _parameter(value, "b", 1)
        self.params[k] = value
        grad = self.grads[k]
        if grad.shape != value.shape or grad.dtype != value.dtype:  # else keep the buffer others may hold
            self.grads[k] = np.zeros_like(value, order="C")

    def _checked_params(self):
        """W and b as they are now (params entries may have been replaced since __init__)."""
        W, b = self.params
        if not isinstance(W, np.ndarray) or W.dtype not in _checks.FLOAT_DTYPES or W.ndim != 4 or W.size == 0:
            raise TypeError(f"W (Convolution.params[0]) must be a non-empty 4-D float32 or float64 array; got "
                            f"{type(W).__name__} {getattr(W, 'dtype', '')} {getattr(W, 'shape', '')}")
        if not isinstance(b, np.ndarray):
            raise TypeError(f"b (Convolution.params[1]) must be a NumPy array; got {type(b).__name__}")
        self._check_b(b, W)
        return W, b

    def _check_x(self, x):
        """x checked against the current W, stride and pad: (x as computed on, stride, pad)."""
        W, _ = self._checked_params()
        x = _batch(x, W.dtype)
        if x.shape[1] != W.shape[1]:
            raise ValueError(f"x must have {W.shape[1]} channels to match W of shape {W.shape}; got input of "
                             f"shape {x.shape}")
        _window_geometry(x.shape, W.shape[2], W.shape[3], self.stride, self.pad, "x",
                         ("W's filter height", "W's filter width"))
        return x

    # --- public, checked -------------------------------------------------------------------------------------
    def forward(self, x):
        """Returns the convolution of x (N, C, H, W) with W plus b, a new (N, FN, OH, OW) array in W's dtype;
        keeps x, col_W and (now or on first read) col for backward."""
        return self._forward(self._check_x(x))

    def backward(self, dout, need_dx=True):
        """Writes dW and db in place; returns dx in the forward input's shape (None with ``need_dx=False``)."""
        _forward_done(self, "x")
        W, _ = self._checked_params()
        if W.shape != self._forward_W_shape or W.dtype != self.x.dtype:
            raise ValueError(f"W was replaced since forward: it has shape {W.shape} and dtype {W.dtype}, but the "
                             f"forward ran with {self._forward_W_shape} in {self.x.dtype}; run forward again")
        for grad, p, name in zip(self.grads, self.params, ("dW", "db")):
            _checks.writable_float_array(grad, name)
            if grad.shape != p.shape or grad.dtype != p.dtype:
                raise ValueError(f"{name} must have the shape and dtype of its parameter, {p.shape} {p.dtype}; "
                                 f"got {grad.shape} {grad.dtype}")
        _, _, oh, ow = self._geometry
        dout = _dout(dout, (self.x.shape[0], W.shape[0], oh, ow), W.dtype)
        return self._backward(dout, need_dx)

    # --- private, on checked arrays (the nets call these) ----------------------------------------------------
    def _methods(self, C, out_pixels, stride, train_flg=True):
        if self._method is not None:
            return (self._method,) * 3
        return _plan(C, out_pixels, stride, train_flg)

    def _forward(self, x, train_flg=True):
        """Forward on checked x: C-contiguous (N, C, H, W) in W's dtype, the channels and window fitting.
        ``train_flg=False`` says no backward will follow (predict), so the layer may skip building col (it is
        then computed on first read of ``col`` or in a backward after all)."""
        W, b = self.params
        FN, C, FH, FW = W.shape
        N, _, H, Wd = x.shape
        stride, pad = self.stride, self.pad
        oh, ow = (H + 2 * pad - FH) // stride + 1, (Wd + 2 * pad - FW) // stride + 1
        self.x, self.col_W = x, W.reshape(FN, -1).T
        self._geometry, self._forward_W_shape = (stride, pad, oh, ow), W.shape
        Wc = np.ascontiguousarray(W)
        out = np.empty((N, FN, oh, ow), dtype=W.dtype)
        if self._methods(C, oh * ow, stride, train_flg)[0] == GEMM:
            col = self._col_array(N * oh * ow, C * FH * FW, W.dtype)
            conv.conv_forward_gemm(x, Wc.reshape(FN, -1), b, FH, FW, stride, pad, col.reshape(N, oh * ow, -1),
                                   out.reshape(N, FN, oh * ow))
            self._col = col
        else:
            conv.conv_forward_direct(x, Wc, b, stride, pad, out)
            self._col = None
        return out

    def _col_array(self, rows, cols, dtype):
        """The col buffer: the last one when it has this shape and dtype (saves the page faults of a fresh one)."""
        buf = self._col_buffer
        if buf is None or buf.shape != (rows, cols) or buf.dtype != dtype:
            buf = self._col_buffer = np.empty((rows, cols), dtype=dtype)
        return buf

    @property
    def col(self):
        """The book's im2col of the forward input x, (N*OH*OW, C*FH*FW) (None before forward); computed on first
        read when the forward used direct loops."""
        if self._col is None and self.x is not None:
            stride, pad, oh, ow = self._geometry
            N, C = self.x.shape[:2]
            FH, FW = self._forward_W_shape[2:]
            col = self._col_array(N * oh * ow, C * FH * FW, self.x.dtype)
            conv.im2col(self.x, FH, FW, stride, pad, col.reshape(N, oh * ow, -1))
            self._col = col
        return self._col

    def _backward(self, dout, need_dx=True):
        """Backward on checked dout: C-contiguous (N, FN, OH, OW) in W's dtype. Writes dW, db; returns dx or
        None."""
        W = self.params[0]
        FN, C, FH, FW = W.shape
        stride, pad, oh, ow = self._geometry
        N = dout.shape[0]
        methods = self._methods(C, oh * ow, stride)
        dW, db = self.grads
        aside = not (dW.flags.c_contiguous and db.flags.c_contiguous)
        gW, gb = (np.empty(dW.shape, dW.dtype), np.empty(db.shape, db.dtype)) if aside else (dW, db)
        if methods[1] == GEMM:
            conv.conv_backward_params_gemm(self.col.reshape(N, oh * ow, -1), dout.reshape(N, FN, oh * ow),
                                           gW.reshape(FN, -1), gb)
        else:
            conv.conv_backward_params_direct(self.x, dout, stride, pad, gW, gb)
        if aside:  # a user replaced a gradient buffer by a view: computed aside, written back in place
            dW[...], db[...] = gW, gb
        if not need_dx:
            return None
        Wc = np.ascontiguousarray(W)
        dx = np.empty_like(self.x)
        if methods[2] == GEMM:
            conv.conv_backward_input_gemm(dout.reshape(N, FN, oh * ow), Wc.reshape(FN, -1), FH, FW, stride, pad,
                                          dx)
        else:
            conv.conv_backward_input_direct(dout, Wc, stride, pad, dx)
        return dx


    def _backward_pooled(self, dpool, pool, need_dx=True):
        """Backward (dW, db written; dx returned, or None) when this layer's output went through the fused relu -
        pooling ``pool`` (2 x 2 windows, stride 2, no pad; an odd output's last row or column is in no window) and
        dpool is that pooling's output gradient: this layer's dout is nonzero at one pixel per window at most, so
        only those pixels' rows of the products are computed."""
        W = self.params[0]
        FN, C, FH, FW = W.shape
        stride, pad, oh, ow = self._geometry
        N = dpool.shape[0]
        dW, db = self.grads
        aside = not (dW.flags.c_contiguous and db.flags.c_contiguous)
        gW, gb = (np.empty(dW.shape, dW.dtype), np.empty(db.shape, db.dtype)) if aside else (dW, db)
        dx = np.empty_like(self.x) if need_dx else np.empty((0, 0, 0, 0), W.dtype)
        conv.conv_backward_pooled(self.col.reshape(N, oh * ow, -1), dpool, pool._relu_out, pool._where, ow,
                                  np.ascontiguousarray(W).reshape(FN, -1), FH, FW, stride, pad, gW.reshape(FN, -1),
                                  gb, dx)
        if aside:
            dW[...], db[...] = gW, gb
        return dx if need_dx else None


class Pooling:
    """The book's max pooling: each pool_h x pool_w window of x (zero-padded by ``pad``; windows ``stride`` apart)
    gives its maximum; backward passes dout to the window's first maximum. Computes in x's float dtype."""

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = _checks.integer(pool_h, "pool_h", minimum=1)
        self.pool_w = _checks.integer(pool_w, "pool_w", minimum=1)
        self.stride = _checks.integer(stride, "stride", minimum=1)
        self.pad = _checks.integer(pad, "pad", minimum=0)
        self.x = self._where = self._arg_max = None
        self.params, self.grads = [], []
        self._geometry = None  # (pool_h, pool_w, stride, pad, OH, OW) of the last forward
        self._relu_out = None  # after _forward_relu: its output, which tells the backward where relu let through

    @property
    def x(self):
        """The forward input (None before forward); after _forward_relu, relu of the kept input, made on first
        read."""
        if self._x is None and self._x_before_relu is not None:
            self._x = np.where(self._x_before_relu <= 0, self._x_before_relu.dtype.type(0), self._x_before_relu)
        return self._x

    @x.setter
    def x(self, value):
        self._x, self._x_before_relu = value, None

    def forward(self, x):
        """Returns the window maxima, a new (N, C, OH, OW) array in x's float dtype; keeps x and arg_max."""
        x = _batch(x, None)
        _window_geometry(x.shape, self.pool_h, self.pool_w, self.stride, self.pad, "x", ("pool_h", "pool_w"))
        return self._forward(x)

    def _forward(self, x, train_flg=True):
        """Forward on checked x: C-contiguous 4-D float32/float64, the window fitting (``train_flg`` is accepted
        for a call like Convolution's and changes nothing)."""
        out = self._pool(x, conv.maxpool_forward)
        self.x, self._relu_out = x, None
        return out

    def _pool(self, x, kernel):
        """Run the pooling ``kernel`` (maxpool_forward or relu_maxpool_forward) on checked x; keeps where and the
        geometry, returns the new (N, C, OH, OW) output."""
        ph, pw, stride, pad = self.pool_h, self.pool_w, self.stride, self.pad
        N, C, H, W = x.shape
        oh, ow = (H + 2 * pad - ph) // stride + 1, (W + 2 * pad - pw) // stride + 1
        out = np.empty((N, C, oh, ow), dtype=x.dtype)
        where = np.empty((N, C, oh, ow), dtype=np.intp)
        kernel(x, ph, pw, stride, pad, out, where)
        self._where, self._arg_max, self._geometry = where, None, (ph, pw, stride, pad, oh, ow)
        return out

    def _forward_relu(self, x, relu):
        """The Relu layer ``relu`` then this pooling on checked x, in one pass that never makes relu(x) (the
        convolutional nets' relu - pool); both layers then show the book's state (relu.mask, self.x and arg_max),
        made from x on first read."""
        out = self._pool(x, conv.relu_maxpool_forward)
        relu._defer_mask(x)
        self._x, self._x_before_relu = None, x
        self._relu_out = out
        return out

    @property
    def arg_max(self):
        """The book's arg_max: int (N*OH*OW*C,), for each window in (n, oy, ox, c) order the flat index
        ky*pool_w + kx of its first maximum (None before forward). The kernels keep it in (n, c, oy, ox) order;
        this transposed copy is made on first read."""
        if self._arg_max is None and self._where is not None:
            N, C, oh, ow = self._where.shape
            self._arg_max = np.ascontiguousarray(self._where.reshape(N, C, oh * ow).transpose(0, 2, 1)).reshape(-1)
        return self._arg_max

    def backward(self, dout):
        """Returns dx in the forward input's shape: dout added at each window's arg_max pixel."""
        _forward_done(self, "_where")
        oh, ow = self._geometry[4:]
        N, C = self.x.shape[:2]
        return self._backward(_dout(dout, (N, C, oh, ow), self.x.dtype))

    def _backward(self, dout, need_dx=True):
        """Backward on checked dout (C-contiguous, the forward output's shape and dtype): dx, or None."""
        if not need_dx:
            return None
        ph, pw, stride, pad = self._geometry[:4]
        dx = np.empty_like(self.x)
        conv.maxpool_backward(dout, self._where, ph, pw, stride, pad, dx)
        return dx
