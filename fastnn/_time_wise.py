"""The non-recurrent layers of the second book's ``common/time_layers.py``, each forward and backward over all N*T
rows in one call (fastnn.time_layers re-exports them beside the recurrent layers).

As in the book, ``params`` hold the arrays given and ``grads`` are allocated once and overwritten in place by each
backward (the book's optimizers and ``remove_duplicate`` weight tying rely on both). Layers with parameters compute
in their parameters' dtype; the loss layers in their scores' dtype. TimeEmbedding gathers every row at once and
scatters its backward straight into its one gradient (no per-step Embedding layers, no per-step gradient matrices);
TimeSoftmaxWithLoss runs the softmax, the log of the picked probability, the ignore label and the mean in one
compiled pass over the rows. TimeDropout draws ``np.random.rand(*xs.shape)`` like the book, so a seeded script
draws the same masks.
"""
import numpy as np

from . import _checks
from ._constants import CE_DELTA
from ._dispatch import lazy_kernels
from .layers import SigmoidWithLoss, _forward_done, _parameter
from .threads import _one_blas_thread

embedding_kernels, kernels = lazy_kernels("embedding"), lazy_kernels("time_wise")
_F32, _F64 = _checks.FLOAT_DTYPES

__all__ = ["TimeEmbedding", "TimeAffine", "TimeSoftmaxWithLoss", "TimeSigmoidWithLoss", "TimeDropout",
           "Simple_TimeAffine", "Simple_TimeSoftmaxWithLoss"]


# --- checks at the door ---------------------------------------------------------------------------------------
def _sequences(x, name, ndim, dtype=None):
    """x as a C-contiguous float array of ``ndim`` dimensions (N, T, ...), none of them 0."""
    x = _checks.float_array(x, name, ndim=ndim, dtype=dtype)
    if not x.size:
        raise ValueError(f"{name} must not have a dimension of 0 (batch, time size or width); got shape {x.shape}")
    return x


def _ids(xs, name, shape, limit, ignore=None):
    """Integer ids of the given shape as a flat intp vector, each in [0, limit) or equal to ``ignore`` (returned
    as -1)."""
    xs = _checks.as_array(xs, name)
    if xs.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {xs.dtype} array of shape {xs.shape}")
    if xs.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids; got dtype {xs.dtype}")
    flat = xs.reshape(-1).astype(np.intp, copy=False)
    if ignore is None or ignore == -1:  # the usual call, in one unsigned max: ids - low must lie in [0, limit - low)
        low = 0 if ignore is None else -1
        if int((flat - low).view(np.uintp).max()) < limit - low:
            return flat
    valid = (flat >= 0) & (flat < limit)
    if ignore is not None:
        valid |= flat == ignore
    if not valid.all():
        bad = flat[~valid][0]
        allowed = f"[0, {limit})" + ("" if ignore is None else f" or the ignore label {ignore}")
        raise ValueError(f"{name} holds an id out of range: {bad} (ids must be in {allowed})")
    return np.where(flat == ignore, -1, flat) if ignore is not None else flat


def _labels(ts, shape, name, ignore):
    """Targets for scores of ``shape`` (N, T, V): (N, T) label ids, or one-hot (N, T, V) rows reduced to their
    argmax as the book does. Returns a flat intp vector, -1 where the label is ``ignore``."""
    ts = _checks.as_array(ts, name)
    if ts.ndim == 3:
        if ts.shape != shape:
            raise ValueError(f"{name} as one-hot rows must have the scores' shape {shape}; got {ts.shape}")
        if ts.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold label ids or one-hot rows; got dtype {ts.dtype}")
        return ts.reshape(-1, shape[2]).argmax(axis=1)
    return _ids(ts, name, shape[:2], shape[2], ignore)


def _dout(dout, shape, dtype, name="dout"):
    d = _checks.float_array(dout, name, dtype=dtype)
    if d.shape != shape:
        raise ValueError(f"{name} must have the shape of the forward output {shape}; got {d.shape}")
    return d


def _grad_buffer(grad, param, name):
    """The layer's gradient array, checked to match its parameter (it is written in place)."""
    if not (type(grad) is np.ndarray and grad.dtype is param.dtype and grad.shape == param.shape
            and grad.flags.writeable):
        _checks.writable_float_array(grad, name)
        if grad.shape != param.shape or grad.dtype != param.dtype:
            raise ValueError(f"{name} must have the shape and dtype of its parameter, {param.shape} {param.dtype}; "
                             f"got {grad.shape} {grad.dtype}")
    return grad


# --- embedding ------------------------------------------------------------------------------------------------
class TimeEmbedding:
    """Word vectors of (N, T) word ids: forward returns W's rows (N, T, D); backward adds dout into those rows of
    ``grads[0]`` (zeroed first, repeated ids adding up as np.add.at does)."""

    def __init__(self, W):
        _parameter(W, "W", 2)
        self.params, self.grads = [W], [np.zeros_like(W)]
        self.W = W
        self.layers = None  # the book keeps one Embedding per step here; this layer needs none
        self._idx = None

    def forward(self, xs):
        """Returns W[xs] of shape (N, T, D) in W's dtype, for integer ids xs (N, T) in [0, len(W))."""
        W = self.W
        if type(xs) is not np.ndarray or xs.ndim != 2:
            xs = _checks.as_array(xs, "xs")
            if xs.ndim != 2:
                raise ValueError(f"xs must be 2-D (N, T) word ids; got shape {xs.shape}")
        if not xs.size:
            raise ValueError(f"xs must not be empty (batch or time size 0); got shape {xs.shape}")
        self._idx = _ids(xs, "xs", xs.shape, W.shape[0])
        self._shape = xs.shape + (W.shape[1],)
        return W.take(self._idx, axis=0).reshape(self._shape)

    def backward(self, dout):
        """Writes dW (grads[0]) in place: zeros, then dout's rows added at the forward's ids; returns None."""
        _forward_done(self, "_idx")
        W = self.W
        dW = _grad_buffer(self.grads[0], W, "dW (grads[0])")
        if self._shape[2] != W.shape[1] or self._idx.max() >= W.shape[0]:
            raise ValueError(f"W was replaced since forward (now {W.shape}); run forward again")
        d = _dout(dout, self._shape, W.dtype).reshape(-1, W.shape[1])
        if dW.flags.c_contiguous:
            embedding_kernels.embedding_backward(self._idx, d, dW)
        else:  # a view put in grads: compute aside, write back in place
            tmp = np.empty(dW.shape, dW.dtype)
            embedding_kernels.embedding_backward(self._idx, d, tmp)
            dW[...] = tmp
        return None


# --- affine ---------------------------------------------------------------------------------------------------
def _affine_parameters(W, b):
    _parameter(W, "W", 2)
    _parameter(b, "b", 1)
    if b.shape != (W.shape[1],) or b.dtype != W.dtype:
        raise ValueError(f"b must have shape ({W.shape[1]},) and dtype {W.dtype} to match W; got shape {b.shape}, "
                         f"dtype {b.dtype}")


def _transposed(W):
    """True when W is stored transposed (C-contiguous W.T, as the book's tied ``TimeAffine(embed_W.T, b)``)."""
    return not W.flags.c_contiguous and W.T.flags.c_contiguous


def _affine_forward(x, W, b):
    """x (N, T, D) checked and cast to W's dtype, and x @ W + b as an (N, T, M) array."""
    x = _sequences(x, "x", 3, W.dtype)
    N, T, D = x.shape
    if D != W.shape[0]:
        raise ValueError(f"x must have {W.shape[0]} features (its last axis) to match W of shape {W.shape}; "
                         f"got shape {x.shape}")
    rows = x.reshape(N * T, D)
    out = np.empty((N * T, W.shape[1]), W.dtype)
    b = np.ascontiguousarray(b)
    with _one_blas_thread(N * T, W.size):
        if _transposed(W):
            kernels.time_affine_forward_t(rows, W.T, b, out)
        else:
            kernels.time_affine_forward(rows, np.ascontiguousarray(W), b, out)
    return x, out.reshape(N, T, -1)


def _affine_backward(x, dout, W, dW, db):
    """Writes dW and db in place; returns dx (x's shape)."""
    N, T, D = x.shape
    d = _dout(dout, (N, T, W.shape[1]), W.dtype).reshape(N * T, -1)
    dx = np.empty(x.shape, W.dtype)
    if _transposed(W):
        run, weight, grad = kernels.time_affine_backward_t, W.T, dW.T
    else:
        run, weight, grad = kernels.time_affine_backward, np.ascontiguousarray(W), dW
    grad_out = grad if grad.flags.c_contiguous else np.empty(grad.shape, grad.dtype)
    db_out = db if db.flags.c_contiguous else np.empty(db.shape, db.dtype)
    with _one_blas_thread(N * T, W.size):
        run(x.reshape(N * T, D), d, weight, grad_out, db_out, dx.reshape(N * T, D))
    if grad_out is not grad:
        grad[...] = grad_out
    if db_out is not db:
        db[...] = db_out
    return dx


class TimeAffine:
    """x @ W + b over all N*T rows of x (N, T, D) in one product; backward writes grads [dW, db] in place."""

    def __init__(self, W, b):
        _affine_parameters(W, b)
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        """Returns x @ W + b of shape (N, T, M) in W's dtype; keeps x (cast to W's dtype) for backward."""
        W, b = self.params
        if not (type(W) is np.ndarray and type(b) is np.ndarray and b.dtype is W.dtype
                and (W.dtype is _F32 or W.dtype is _F64) and W.ndim == 2 and b.shape == W.shape[1:]):
            _affine_parameters(W, b)  # params replaced since __init__
        self.x, out = _affine_forward(x, W, b)
        return out

    def backward(self, dout):
        """Writes dW and db (grads) in place; returns dx of x's shape."""
        _forward_done(self, "x")
        W, b = self.params
        if W.shape[0] != self.x.shape[2] or W.dtype != self.x.dtype:
            raise ValueError(f"W was replaced since forward (now {W.shape} {W.dtype}); run forward again")
        dW = _grad_buffer(self.grads[0], W, "dW (grads[0])")
        db = _grad_buffer(self.grads[1], b, "db (grads[1])")
        return _affine_backward(self.x, dout, W, dW, db)


class Simple_TimeAffine:
    """The book's per-step variant of TimeAffine with the attributes W, b, dW, db (no params/grads): the same
    results in one product; each backward binds fresh dW, db arrays."""

    def __init__(self, W, b):
        _affine_parameters(W, b)
        self.W, self.b = W, b
        self.dW, self.db = None, None
        self.layers = None  # the book keeps one Affine per step here; this layer needs none
        self._x = None

    def forward(self, xs):
        """Returns xs @ W + b of shape (N, T, M) in W's dtype."""
        _affine_parameters(self.W, self.b)
        self._x, out = _affine_forward(xs, self.W, self.b)
        return out

    def backward(self, dout):
        """Binds dW (the summed weight gradient) and db; returns dxs of the input's shape."""
        _forward_done(self, "_x")
        W = self.W
        if W.shape[0] != self._x.shape[2] or W.dtype != self._x.dtype:
            raise ValueError(f"W was replaced since forward (now {W.shape} {W.dtype}); run forward again")
        dW, db = np.empty_like(W), np.empty(W.shape[1], W.dtype)
        dx = _affine_backward(self._x, dout, W, dW, db)
        self.dW, self.db = dW, db
        return dx


# --- softmax with loss ----------------------------------------------------------------------------------------
class _SoftmaxRows:
    """The fused softmax + cross-entropy over the N*T rows shared by the two time softmax layers. ``cache`` holds
    (labels, e, inv_sum, count, shape): e = exp(x - row max), inv_sum = 1 / row sums, so softmax = e * inv_sum."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None
        self._e = None  # the buffer for e, reused while the shape and dtype stay

    def _run(self, xs, labels, count, delta):
        N, T, V = xs.shape
        e = self._e
        if e is None or e.shape != (N * T, V) or e.dtype != xs.dtype:
            e = self._e = np.empty((N * T, V), xs.dtype)
        inv_sum = np.empty(N * T)
        total = kernels.time_softmax_loss_forward(xs.reshape(N * T, V), labels, delta, e, inv_sum)
        self.cache = (labels, e, inv_sum, count, xs.shape)
        return _checks.warn_if_not_finite(total / count, f"{type(self).__name__}'s loss",
                                          "NaN or inf in the scores xs")

    def backward(self, dout=1):
        """Returns dxs (N, T, V) = (softmax(xs) - onehot(ts)) * dout / (the number of rows counted), zero on the
        ignored rows."""
        _forward_done(self, "cache")
        dout = _checks.real_number(dout, "dout")
        labels, e, inv_sum, count, shape = self.cache
        dx = np.empty(e.shape, e.dtype)
        kernels.time_softmax_loss_backward(e, inv_sum, labels, dout / count, dx)
        return dx.reshape(shape)


class TimeSoftmaxWithLoss(_SoftmaxRows):
    """Softmax over the last axis of xs (N, T, V) and the mean cross-entropy over the rows whose label is not
    ``ignore_label`` (-1); ts holds (N, T) label ids or one-hot (N, T, V) rows."""

    def __init__(self):
        super().__init__()
        self.ignore_label = -1

    def forward(self, xs, ts):
        """Returns the mean of -log softmax(xs)[label] over the rows not ignored, as a float64 (the book's type)."""
        xs = _sequences(xs, "xs", 3)
        labels = _labels(ts, xs.shape, "ts", self.ignore_label)
        count = labels.size - int(np.count_nonzero(labels < 0))
        if not count:
            raise ValueError(f"ts holds no label to learn from: every one is the ignore label {self.ignore_label}")
        return np.float64(self._run(xs, labels, count, 0.0))


class Simple_TimeSoftmaxWithLoss(_SoftmaxRows):
    """The book's per-step variant: the mean over all N*T rows of -log(softmax(xs)[label] + 1e-7), no ignore
    label; ts holds (N, T) label ids or one-hot (N, T, V) rows."""

    def forward(self, xs, ts):
        """Returns the mean cross-entropy (with the book's 1e-7 inside the log) in xs's dtype."""
        xs = _sequences(xs, "xs", 3)
        labels = _labels(ts, xs.shape, "ts", None)
        return xs.dtype.type(self._run(xs, labels, labels.size, CE_DELTA))


# --- sigmoid with loss, dropout -------------------------------------------------------------------------------
class TimeSigmoidWithLoss:
    """Binary logistic loss over scores xs (N, T) against 0/1 labels ts (N, T): the mean over the steps of each
    step's mean over the batch, as the book."""

    def __init__(self):
        self.params, self.grads = [], []
        self.xs_shape = None
        self.layers = None  # the book keeps one SigmoidWithLoss per step here; this layer needs none
        self._loss = SigmoidWithLoss()

    def forward(self, xs, ts):
        """Returns the mean binary cross-entropy (the book's 1e-7 inside the log)."""
        xs = _sequences(xs, "xs", 2)
        labels = _ids(ts, "ts", xs.shape, 2).reshape(xs.shape)
        self.xs_shape = xs.shape
        return self._loss.forward(xs, labels)

    def backward(self, dout=1):
        """Returns dxs (N, T) = (sigmoid(xs) - ts) * dout / (N * T)."""
        _forward_done(self, "xs_shape")
        return self._loss.backward(_checks.real_number(dout, "dout") / self.xs_shape[1])


class TimeDropout:
    """Inverted dropout over any shape: in training (``train_flg``) a fresh mask ``(np.random.rand(*xs.shape) >
    dropout_ratio) / (1 - dropout_ratio)`` (float32, as the book's); otherwise xs passes unchanged."""

    def __init__(self, dropout_ratio=0.5):
        ratio = _checks.real_number(dropout_ratio, "dropout_ratio")
        if not 0 <= ratio < 1:
            raise ValueError(f"dropout_ratio must be in [0, 1); got {ratio}")
        self.params, self.grads = [], []
        self.dropout_ratio = ratio
        self.mask = None
        self.train_flg = True

    def forward(self, xs):
        """Returns xs * mask in training (a new mask each call), xs itself otherwise."""
        xs = _checks.float_array(xs, "xs")
        if not self.train_flg:
            return xs
        keep = np.asarray(np.random.rand(*xs.shape) > self.dropout_ratio)
        self.mask = keep.astype(np.float32) * np.float32(1 / (1.0 - self.dropout_ratio))
        return xs * self.mask

    def backward(self, dout):
        """Returns dout * mask (the last training forward's mask)."""
        _forward_done(self, "mask")
        dout = _checks.float_array(dout, "dout")
        _checks.same_shape(dout, self.mask, "dout", "the forward input")
        return dout * self.mask
