"""The books' layers (``common/layers.py`` of both books) on compiled kernels.

Each layer has the first book's attributes (``Affine.W/b/dW/db``, ``Relu.mask``, ``SoftmaxWithLoss.y/t/loss``,
...) and the second book's ``params``/``grads`` lists. ``params`` hold the very arrays the layer was given (nets and
optimizers rely on that aliasing) and ``grads`` are buffers that each backward overwrites in place (so an array
taken from ``grads``/``dW`` before the next backward changes with it: copy it to keep it). Forward outputs and
``dx`` are fresh arrays.

Layers with parameters compute in their parameters' dtype (float32 or float64): inputs are cast to it once here.
Dropout, BatchNormalization, MatMul and SigmoidWithLoss have no kernel of their own: after validation
they run whole-array NumPy (their cost is RNG, BLAS or element-wise NumPy, which kernels would not improve);
Embedding's backward is a compiled scatter-add (np.add.at's order).
"""
import warnings

import numpy as np

from . import _checks, _numpy_twins
from ._constants import BN_EPS, CE_DELTA
from ._dispatch import kernels_for as _kernels_for, lazy_kernels, numpy_suffices
from .convolution import Convolution, Pooling
from .functions import cross_entropy_error
from .threads import _one_blas_thread

activations, affine, softmax_kernels = map(lazy_kernels, ("activations", "affine", "softmax"))
embedding_kernels = lazy_kernels("embedding")
_F32, _F64 = _checks.FLOAT_DTYPES

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization", "MatMul", "Softmax",
           "SigmoidWithLoss", "Embedding", "Convolution", "Pooling",
           "np"]  # np: the book's star import of this module gives it too


# Rows of an input in the other float dtype than W that Affine casts at a time (784 float64 columns: 1.6 MB, within
# the L2 cache): the book's float32 images against float64 weights are never copied whole, and a batch of up to
# this many rows stays cast for backward's weight gradient.
CAST_BLOCK_ROWS = 256


def _parameter(p, name, ndim):
    """A parameter array the layer keeps by reference: float32/float64 ndarray of the given ndim."""
    _checks.writable_float_array(p, name)
    if p.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {p.shape}")
    return p


def _grad_input(dout, like, name="dout"):
    """dout cast to the layer's dtype and checked against the shape of the forward output."""
    d = _checks.float_array(dout, name, dtype=like.dtype)
    if d.shape != like.shape:
        raise ValueError(f"{name} must have the shape of the forward output {like.shape}; got {d.shape}")
    return d


def _forward_done(layer, attr):
    if getattr(layer, attr) is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward")


class Relu:
    """The books' ReLU layer: ``mask`` holds where the forward input was <= 0."""

    def __init__(self):
        self.mask = None
        self.params, self.grads = [], []

    @property
    def mask(self):
        """Where the forward input was <= 0 (None before forward). After a convolutional net ran this layer
        fused into the pooling that follows it, the mask is computed from the kept input on first read."""
        if self._mask is None and self._mask_of is not None:
            self._mask = self._mask_of <= 0
        return self._mask

    @mask.setter
    def mask(self, value):
        self._mask, self._mask_of = value, None

    def _defer_mask(self, x):
        """The forward ran elsewhere (fused) on x: keep x, make the mask on first read."""
        self._mask, self._mask_of = None, x

    def forward(self, x):
        """Returns max(0, x) (a new array) and keeps the mask of x <= 0 for backward."""
        return self._forward(_checks.float_array(x, "x"))

    def _forward(self, x):
        out = np.empty_like(x)
        self.mask = np.empty(x.shape, dtype=np.bool_)
        _kernels_for(x.size, activations).relu_forward_mask(x.reshape(-1), out.reshape(-1), self.mask.reshape(-1))
        return out

    def backward(self, dout):
        """Returns dx: dout with the entries where the forward input was <= 0 set to 0."""
        _forward_done(self, "mask")
        dout = _checks.float_array(dout, "dout")
        _checks.same_shape(dout, self.mask, "dout", "the forward input")
        return self._backward(dout)

    def _backward(self, dout):
        dx = np.empty_like(dout)
        _kernels_for(dout.size, activations).relu_backward_mask(dout.reshape(-1), self.mask.reshape(-1),
                                                                 dx.reshape(-1))
        return dx


class Sigmoid:
    """The books' sigmoid layer: ``out`` holds the forward output."""

    def __init__(self):
        self.out = None
        self.params, self.grads = [], []

    def forward(self, x):
        """Returns sigmoid(x), which is also kept as ``out``."""
        return self._forward(_checks.float_array(x, "x"))

    def _forward(self, x):
        self.out = np.empty_like(x)
        _kernels_for(x.size, activations).sigmoid_forward(x.reshape(-1), self.out.reshape(-1))
        return self.out

    def backward(self, dout):
        """Returns dx = dout * (1 - out) * out."""
        y = self.out
        if not (type(dout) is np.ndarray and y is not None and dout.dtype is y.dtype and dout.shape == y.shape
                and dout.flags.c_contiguous):  # else the checks below (the usual call passes in one expression)
            _forward_done(self, "out")
            dout = _grad_input(dout, y)
        return self._backward(dout)

    def _backward(self, dout):
        dx = np.empty_like(dout)
        _kernels_for(dout.size, activations).sigmoid_backward(dout.reshape(-1), self.out.reshape(-1),
                                                               dx.reshape(-1))
        return dx


class Affine:
    """out = x @ W + b for x of shape (N, ...) flattened to (N, -1); dx comes back in x's original shape."""

    def __init__(self, W, b):
        _parameter(W, "W", 2)
        _parameter(b, "b", 1)
        if b.shape[0] != W.shape[1] or b.dtype != W.dtype:
            raise ValueError(f"b must have shape ({W.shape[1]},) and dtype {W.dtype} to match W; "
                             f"got shape {b.shape}, dtype {b.dtype}")
        self.params = [W, b]
        self.grads = [np.zeros_like(W, order="C"), np.zeros_like(b)]
        self.x = self.original_x_shape = None
        self._x_cast = self._cast_rows = None  # x in W's dtype for backward (when x is in the other one)

    # W, b, dW, db are the arrays in params/grads, so both books' views of the layer stay one.
    W = property(lambda self: self.params[0], lambda self, v: self._rebind(0, v))
    b = property(lambda self: self.params[1], lambda self, v: self._rebind(1, v))
    dW = property(lambda self: self.grads[0])
    db = property(lambda self: self.grads[1])

    def _rebind(self, k, value):
        """The book's load_params assigns layer.W = array: keep params and grads in step."""
        _parameter(value, "W" if k == 0 else "b", 2 - k)
        self.params[k] = value
        grad = self.grads[k]
        if grad.shape != value.shape or grad.dtype != value.dtype:  # else keep the buffer others may hold
            self.grads[k] = np.zeros_like(value, order="C")

    def _checked_params(self):
        """W and b as they are now (params entries may have been replaced since __init__): the kernels need
        float arrays of matching shapes and one dtype."""
        W, b = self.params
        if (type(W) is np.ndarray and type(b) is np.ndarray and (W.dtype is _F64 or W.dtype is _F32)
                and b.dtype is W.dtype and W.ndim == 2 and b.shape == W.shape[1:]):
            return W, b  # the usual call, in a fraction of the loop below
        for p, name, ndim in ((W, "W", 2), (b, "b", 1)):
            if not isinstance(p, np.ndarray) or p.dtype not in _checks.FLOAT_DTYPES or p.ndim != ndim:
                raise TypeError(f"{name} (Affine.params) must be a {ndim}-D float32 or float64 array; got "
                                f"{type(p).__name__} {getattr(p, 'dtype', '')} {getattr(p, 'shape', '')}")
        if b.shape != (W.shape[1],) or b.dtype != W.dtype:
            raise ValueError(f"b must have shape ({W.shape[1]},) and dtype {W.dtype} to match W; "
                             f"got shape {b.shape}, dtype {b.dtype}")
        return W, b

    def forward(self, x):
        """Returns x @ W + b for x of shape (N, ...) flattened to (N, D), in W's dtype; keeps x for backward (as
        given, like the book: float32 images against float64 weights are cast a block of rows at a time)."""
        W, b = self._checked_params()
        if (type(x) is np.ndarray and x.ndim == 2 and (x.dtype is _F64 or x.dtype is _F32) and x.flags.c_contiguous
                and x.shape[0] and x.shape[1] == W.shape[0]):
            return self._forward(x.shape, x)  # the usual call, checked in one expression (small batches: ~1 us less)
        x = _checks.float_array(x, "x", min_ndim=2)
        if x.shape[0] == 0:
            raise ValueError(f"x must hold at least one row (sample); got an empty batch of shape {x.shape}")
        self.original_x_shape = x.shape
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        if x.shape[1] != W.shape[0]:
            raise ValueError(f"x must have {W.shape[0]} features per row to match W of shape {W.shape}; "
                             f"got input of shape {self.original_x_shape}")
        return self._forward(self.original_x_shape, x)

    def _forward(self, original_x_shape, x):
        """Forward on checked input: x (N, D) C-contiguous float32 or float64, D matching W."""
        W, b = self.params
        if not W.flags.c_contiguous:
            W = np.ascontiguousarray(W)
        self.original_x_shape, self.x, self._forward_dtype = original_x_shape, x, W.dtype
        out = np.empty((x.shape[0], W.shape[1]), dtype=W.dtype)
        with _one_blas_thread(x.shape[0], W.size):
            if x.dtype == W.dtype:
                self._x_cast = None
                _kernels_for(0, affine).affine_forward(x, W, b, out)  # (0: BLAS does the work either way)
            elif numpy_suffices(x.size):
                self._x_cast = x.astype(W.dtype)
                _numpy_twins.affine_forward(self._x_cast, W, b, out)
            else:
                rows = self._rows(min(x.shape[0], CAST_BLOCK_ROWS), x.shape[1], W.dtype)
                affine.affine_forward_cast(x, W, b, out, rows)
                self._x_cast = rows if rows.shape[0] == x.shape[0] else None  # else cast again in backward
        return out

    def _rows(self, n, d, dtype):
        """The reused buffer of n rows of d values in ``dtype`` that a mixed-dtype forward casts into."""
        rows = self._cast_rows
        if rows is None or rows.shape[0] < n or rows.shape[1] != d or rows.dtype != dtype:
            rows = self._cast_rows = np.empty((max(n, 0 if rows is None else rows.shape[0]), d), dtype)
        return rows[:n]

    def _x_in_W_dtype(self):
        """The forward input in W's dtype: x itself, the rows cast in forward, or (a large batch) a cast now."""
        if self.x.dtype == self.params[0].dtype:
            return self.x
        if self._x_cast is not None:
            return self._x_cast
        return self.x.astype(self.params[0].dtype)

    def backward(self, dout, need_dx=True):
        """Writes dW and db in place; returns dx (None with ``need_dx=False``, which skips its matmul)."""
        _forward_done(self, "x")
        W, b = self._checked_params()
        if W.shape[0] != self.x.shape[1] or W.dtype != self._forward_dtype:
            raise ValueError(f"W was replaced since forward: it has shape {W.shape} and dtype {W.dtype}, but the "
                             f"forward ran with {self.x.shape[1]} features in {self._forward_dtype}; run forward "
                             f"again")
        if not (self._grads_usable(W, b) and type(dout) is np.ndarray and dout.dtype is W.dtype
                and dout.flags.c_contiguous and dout.shape == (self.x.shape[0], W.shape[1])):
            dout = self._checked_backward_input(W, b, dout)
        return self._backward(dout, need_dx)

    def _grads_usable(self, W, b):
        """dW and db are writable ndarrays of their parameters' shapes and dtype (the usual call, no error)."""
        dW, db = self.grads
        return (type(dW) is np.ndarray and type(db) is np.ndarray and dW.dtype is W.dtype and db.dtype is W.dtype
                and dW.shape == W.shape and db.shape == b.shape and dW.flags.writeable and db.flags.writeable)

    def _checked_backward_input(self, W, b, dout):
        """dout checked (cast to W's dtype, C-contiguous) after the gradient buffers, or the error naming either."""
        for grad, p, name in zip(self.grads, (W, b), ("dW", "db")):
            _checks.writable_float_array(grad, name)
            if grad.shape != p.shape or grad.dtype != p.dtype:
                raise ValueError(f"{name} must have the shape and dtype of its parameter, {p.shape} {p.dtype}; "
                                 f"got {grad.shape} {grad.dtype}")
        dout = _checks.float_array(dout, "dout", dtype=W.dtype)
        if dout.shape != (self.x.shape[0], W.shape[1]):
            raise ValueError(f"dout must have shape {(self.x.shape[0], W.shape[1])}; got {dout.shape}")
        return dout

    def _backward(self, dout, need_dx=True):
        """Backward on checked dout (C-contiguous, the forward output's shape and dtype)."""
        kernels = _kernels_for(0, affine)  # products: BLAS either way, so only the call is charged
        W = self.params[0]
        with _one_blas_thread(self.x.shape[0], W.size):
            self._backward_params(dout, kernels)
            if not need_dx:
                return None
            dx = np.empty(self.x.shape, W.dtype)
            kernels.affine_backward_input(dout, np.ascontiguousarray(W), dx)
        return dx.reshape(self.original_x_shape)

    def _backward_params(self, dout, kernels):
        dW, db = self.grads
        x = self._x_in_W_dtype()
        if dW.flags.c_contiguous and db.flags.c_contiguous:
            kernels.affine_backward_params(x, dout, dW, db)
        else:  # a user replaced a gradient buffer by a view: compute aside, write back in place
            tmp_W, tmp_b = np.empty(dW.shape, dW.dtype), np.empty(db.shape, db.dtype)
            kernels.affine_backward_params(x, dout, tmp_W, tmp_b)
            dW[...], db[...] = tmp_W, tmp_b


class Softmax:
    """The second book's softmax layer (rows of a 2-D x): ``out`` holds the forward output."""

    def __init__(self):
        self.out = None
        self.params, self.grads = [], []

    def forward(self, x):
        """Returns softmax(x) row by row, which is also kept as ``out``."""
        x = _checks.float_array(x, "x", ndim=2, allow_empty=False)
        self.out = np.empty_like(x)
        _kernels_for(x.size, softmax_kernels).softmax_rows(x, self.out)
        return self.out

    def backward(self, dout):
        """Returns dx = out * dout - out * sum(out * dout) row by row."""
        _forward_done(self, "out")
        dout = _grad_input(dout, self.out)
        dx = np.empty_like(dout)
        _kernels_for(dout.size, softmax_kernels).softmax_backward(self.out, dout, dx)
        return dx


class SoftmaxWithLoss:
    """Softmax + cross-entropy in one fused pass; t holds class labels or one-hot rows (soft targets are kept as
    given for backward, as in the first book). ``backward(dout=1)`` returns (y - t) * dout / N."""

    def __init__(self):
        self.loss = self.y = self.t = None
        self.params, self.grads = [], []
        self._kind = self._targets = None

    def forward(self, x, t):
        """Returns the mean cross-entropy of softmax(x) against t (kept as ``loss``; ``y`` = softmax(x))."""
        x = _checks.float_array(x, "x", ndim=(1, 2), allow_empty=False)
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        kind, targets = _checks.labels_or_onehot(t, x2, "t")
        return self._forward(x, t, kind, targets)

    def _forward(self, x, t, kind, targets):
        """Forward on checked scores x (1-D or 2-D, C-contiguous) and targets classified by labels_or_onehot."""
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        self._kind, self._targets, self.t = kind, targets, t
        y = np.empty_like(x2)
        delta = x2.dtype.type(CE_DELTA)
        kernels = _kernels_for(x2.size, softmax_kernels)
        if self._kind == "onehot":
            loss = kernels.softmax_cross_entropy_onehot(x2, self._targets, delta, y)
        else:
            loss = kernels.softmax_cross_entropy_labels(x2, self._targets, delta, y)
        self.y = y.reshape(x.shape)
        self.loss = _checks.warn_if_not_finite(x2.dtype.type(loss), "SoftmaxWithLoss's loss",
                                               "NaN or inf in the scores x")
        return self.loss

    def backward(self, dout=1):
        """Returns dx = (y - t) * dout / N."""
        _forward_done(self, "y")
        return self._backward(_checks.real_number(dout, "dout"))

    def _backward(self, dout=1):
        y2 = self.y.reshape(self._targets.shape[0], -1)
        dx = np.empty_like(y2)
        scale = y2.dtype.type(dout)
        kernels = _kernels_for(y2.size, softmax_kernels)
        if self._kind == "onehot":
            kernels.softmax_cross_entropy_backward_onehot(y2, self._targets, scale, dx)
        else:
            kernels.softmax_cross_entropy_backward_labels(y2, self._targets, scale, dx)
        return dx.reshape(self.y.shape)


def _dout_of_shape(dout, shape, dtype, name="dout"):
    """dout cast to ``dtype`` and checked against ``shape``, the forward output's (same message as _grad_input)."""
    d = _checks.float_array(dout, name, dtype=dtype)
    if d.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of the forward output {tuple(shape)}; got {d.shape}")
    return d


class Dropout:
    """The first book's non-inverted dropout: training multiplies by a fresh mask ``np.random.rand(*x.shape) >
    dropout_ratio`` (the book's RNG draw), test time scales by ``1 - dropout_ratio`` and draws nothing."""

    def __init__(self, dropout_ratio=0.5):
        ratio = _checks.real_number(dropout_ratio, "dropout_ratio")
        if not 0 <= ratio < 1:
            raise ValueError(f"dropout_ratio must be in [0, 1); got {ratio}")
        self.dropout_ratio = ratio
        self.mask = None
        self.params, self.grads = [], []

    def forward(self, x, train_flg=True):
        """Returns x * mask in training (a new mask each call), x * (1 - dropout_ratio) otherwise; x's dtype."""
        x = _checks.float_array(x, "x")
        if train_flg:
            # asarray: for 0-d x, rand() returns a Python float and the mask would have no shape
            self.mask = np.asarray(np.random.rand(*x.shape) > self.dropout_ratio)
            return x * self.mask
        return x * x.dtype.type(1.0 - self.dropout_ratio)

    def backward(self, dout):
        """Returns dx = dout * mask: the gradient flows only through the units kept in the last training forward."""
        _forward_done(self, "mask")
        dout = _checks.float_array(dout, "dout")
        _checks.same_shape(dout, self.mask, "dout", "the forward input")
        return dout * self.mask


class BatchNormalization:
    """The first book's batch normalisation over the batch axis of x (N, ...) flattened to (N, D).

    Training: normalise by the batch mean and variance (eps 10e-7, as the book writes it) and move
    ``running_mean``/``running_var`` one ``momentum`` step towards them; test: normalise by the running statistics.
    Computes in gamma's dtype; ``dgamma``/``dbeta`` (= ``grads``) are overwritten in place by each backward.
    """

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        _parameter(gamma, "gamma", 1)
        _parameter(beta, "beta", 1)
        _checks.same_shape(gamma, beta, "gamma", "beta")
        if beta.dtype != gamma.dtype:
            raise TypeError(f"beta must have gamma's dtype {gamma.dtype}; got {beta.dtype}")
        momentum = _checks.real_number(momentum, "momentum")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1]; got {momentum}")
        self.gamma, self.beta = gamma, beta
        self.momentum = momentum
        self.running_mean, self.running_var = running_mean, running_var
        self.input_shape = None
        self.batch_size = self.xc = self.xn = self.std = None  # the training forward's cache for backward
        self.dgamma, self.dbeta = np.zeros_like(gamma), np.zeros_like(beta)
        self.params, self.grads = [gamma, beta], [self.dgamma, self.dbeta]

    def forward(self, x, train_flg=True):
        """Returns gamma * xn + beta in x's shape, xn normalised by batch (train_flg) or running statistics."""
        x = _checks.float_array(x, "x", dtype=self.gamma.dtype, min_ndim=2, allow_empty=False)
        if x[0].size != self.gamma.size:
            raise ValueError(f"x must have {self.gamma.size} features per row to match gamma; got shape {x.shape}")
        self._check_running_stats()
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        xn = self._train_forward(x) if train_flg else self._test_forward(x)
        return (self.gamma * xn + self.beta).reshape(self.input_shape)

    def _check_running_stats(self):
        """Zeros in the parameters' dtype on first use; given or assigned ones are checked (any layout)."""
        for name in ("running_mean", "running_var"):
            stat = getattr(self, name)
            if stat is None:
                stat = np.zeros(self.gamma.size, dtype=self.gamma.dtype)
            stat = _checks.float_array(stat, name, dtype=self.gamma.dtype)
            if stat.shape != (self.gamma.size,):
                raise ValueError(f"{name} must have shape ({self.gamma.size},) to match gamma; got {stat.shape}")
            setattr(self, name, stat)

    def _train_forward(self, x):
        mu = x.mean(axis=0)
        xc = x - mu
        var = np.mean(xc * xc, axis=0)
        std = np.sqrt(var + BN_EPS)  # Python float: float32 stays float32
        xn = xc / std
        self.batch_size, self.xc, self.xn, self.std = x.shape[0], xc, xn, std
        # new arrays, as in the book (a caller holding the old running_mean keeps its values)
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        return xn

    def _test_forward(self, x):
        return (x - self.running_mean) / np.sqrt(self.running_var + BN_EPS)

    def backward(self, dout):
        """dx in the forward input's shape; writes dgamma and dbeta in place."""
        _forward_done(self, "xn")
        dout = _dout_of_shape(dout, self.input_shape, self.gamma.dtype)
        dout = dout.reshape(dout.shape[0], -1)
        self.dbeta[...] = dout.sum(axis=0)
        self.dgamma[...] = np.sum(self.xn * dout, axis=0)
        return self._dx(self.gamma * dout).reshape(self.input_shape)

    def _dx(self, dxn):
        """Back through xn = xc / std, std = sqrt(var + eps), var = mean(xc**2), xc = x - mu, one node at a
        time in the book's order: dx is a difference of nearly equal terms, and this order gives the book's
        float32 rounding, not just its value."""
        n, xc, std = self.batch_size, self.xc, self.std
        dxc = dxn / std  # the direct path xc -> xn
        dstd = -np.sum((dxn * xc) / (std * std), axis=0)
        dvar = 0.5 * dstd / std
        dxc += (2.0 / n) * xc * dvar  # the path xc -> var -> std -> xn
        dmu = np.sum(dxc, axis=0)  # every row's xc depends on mu
        return dxc - dmu / n


class MatMul:
    """The second book's bias-free affine layer: out = x @ W for 2-D x; ``grads[0]`` (dW) written in place."""

    def __init__(self, W):
        _parameter(W, "W", 2)
        self.params, self.grads = [W], [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        """Returns x @ W, computed in W's dtype."""
        W = self.params[0]
        x = _checks.float_array(x, "x", dtype=W.dtype, ndim=2)
        if x.shape[1] != W.shape[0]:
            raise ValueError(f"x must have {W.shape[0]} columns to match W of shape {W.shape}; got {x.shape}")
        self.x = x
        return np.dot(x, W)

    def backward(self, dout):
        """Returns dx = dout @ W.T; writes dW = x.T @ dout into grads[0]."""
        _forward_done(self, "x")
        W = self.params[0]
        dout = _dout_of_shape(dout, (self.x.shape[0], W.shape[1]), W.dtype)
        self.grads[0][...] = np.dot(self.x.T, dout)
        return np.dot(dout, W.T)


class SigmoidWithLoss:
    """Binary logistic loss; t holds 0/1 labels, one per element of x."""

    def __init__(self):
        self.loss = self.y = self.t = None
        self.params, self.grads = [], []

    def forward(self, x, t):
        """The cross-entropy of sigmoid(x) against t, as the book's ``cross_entropy_error(np.c_[1 - y, y], t)``."""
        x = _checks.float_array(x, "x", ndim=(1, 2), allow_empty=False)
        t = _checks.class_labels(t, x.size, 2, "t").reshape(x.shape)
        self.t = t
        self.y = np.empty_like(x)
        _kernels_for(x.size, activations).sigmoid_forward(x.reshape(-1), self.y.reshape(-1))
        with warnings.catch_warnings():  # one warning, this layer's, not cross_entropy_error's
            warnings.simplefilter("ignore", RuntimeWarning)
            loss = cross_entropy_error(np.c_[1 - self.y.reshape(-1), self.y.reshape(-1)], t.reshape(-1))
        self.loss = _checks.warn_if_not_finite(loss, "SigmoidWithLoss's loss", "NaN or inf in the scores x")
        return self.loss

    def backward(self, dout=1):
        """(y - t) * dout / N, N the number of rows."""
        _forward_done(self, "y")
        dout = _checks.real_number(dout, "dout")
        # labels cast to y's dtype: float32 - intp would give float64
        return (self.y - self.t.astype(self.y.dtype)) * dout / self.t.shape[0]


class Embedding:
    """The second book's embedding: forward gathers rows ``W[idx]``; backward adds dout into those rows of
    ``grads[0]`` (zeroed first), repeated indices adding up (a compiled scatter-add, in np.add.at's order)."""

    def __init__(self, W):
        _parameter(W, "W", 2)
        self.params, self.grads = [W], [np.zeros_like(W)]
        self.idx = None

    def forward(self, idx):
        """Returns W[idx] for integer indices of any shape, each in [0, len(W))."""
        idx = _checks.as_array(idx, "idx")
        self.idx = _checks.class_labels(idx, idx.size, self.params[0].shape[0], "idx").reshape(idx.shape)
        return self.params[0][self.idx]

    def backward(self, dout):
        """Writes dW in place and returns None (indices have no gradient)."""
        _forward_done(self, "idx")
        W, dW = self.params[0], self.grads[0]
        _parameter(W, "W", 2)
        _checks.writable_float_array(dW, "dW (grads[0])")
        if dW.shape != W.shape or dW.dtype != W.dtype:
            raise ValueError(f"dW (grads[0]) must have W's shape {W.shape} and dtype {W.dtype}; got {dW.shape} "
                             f"{dW.dtype}")
        if self.idx.size and self.idx.max() >= W.shape[0]:  # W replaced by a smaller one since forward
            raise ValueError(f"W has {W.shape[0]} rows, fewer than the forward's indices need; run forward again")
        dout = _dout_of_shape(dout, self.idx.shape + (W.shape[1],), W.dtype)
        self._backward(dout.reshape(-1, W.shape[1]))
        return None

    def _backward(self, dout2d):
        """The scatter-add on checked input: dout2d (idx.size, D) C-contiguous in W's dtype."""
        dW = self.grads[0]
        kernels = _kernels_for(dout2d.size, embedding_kernels)
        if dW.flags.c_contiguous:
            kernels.embedding_backward(self.idx.reshape(-1), dout2d, dW)
        else:  # a user replaced the buffer by a view: compute aside, write back in place
            tmp = np.empty(dW.shape, dW.dtype)
            kernels.embedding_backward(self.idx.reshape(-1), dout2d, tmp)
            dW[...] = tmp
