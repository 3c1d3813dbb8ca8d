"""The book's ``common/functions.py`` on compiled kernels: same names, same results (to rounding).

Inputs may be scalars, lists or arrays of any layout. float32 stays float32, float64 stays float64, integer and
bool input is computed in float64 (as NumPy's math functions do), float16 in float32.
"""
import numpy as np

from . import _checks
from ._constants import CE_DELTA
from ._dispatch import kernels_for as _kernels_for, lazy_kernels

activations, losses, softmax_kernels = map(lazy_kernels, ("activations", "losses", "softmax"))

__all__ = ["identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad", "softmax",
           "sum_squared_error", "mean_squared_error", "cross_entropy_error", "softmax_loss",
           "np"]  # np: the book's star import of this module gives it too, and scripts rely on that


def _elementwise(name, x, out_dtype=None):
    a = _checks.float_array(x, "x")
    out = np.empty(a.shape, dtype=out_dtype or a.dtype)
    getattr(_kernels_for(a.size, activations), name)(a.reshape(-1), out.reshape(-1))
    return out if out.ndim else out[()]


def identity_function(x):
    """Returns x unchanged (the output activation of regression, as in the book)."""
    return x


def step_function(x):
    """Returns 1 where x > 0, else 0, as an integer array (the book's ``np.array(x > 0, dtype=int)``)."""
    return _elementwise("step", x, out_dtype=np.int_)


def sigmoid(x):
    """Returns 1 / (1 + exp(-x)) elementwise, computed without overflow for large |x|."""
    return _elementwise("sigmoid_forward", x)


def sigmoid_grad(x):
    """Returns the sigmoid's derivative at x, (1 - sigmoid(x)) * sigmoid(x), elementwise."""
    return _elementwise("sigmoid_grad", x)


def relu(x):
    """Returns max(0, x) elementwise."""
    return _elementwise("relu_forward", x)


def relu_grad(x):
    """Returns 1 where x >= 0, else 0 (the book's convention at 0), elementwise."""
    return _elementwise("relu_grad", x)


def _last_axis_rows(x, name):
    a = _checks.float_array(x, name, min_ndim=1)
    if a.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one entry along its last axis; got shape {a.shape}")
    return a, a.reshape(-1, a.shape[-1])


def softmax(x):
    """Returns the softmax over the last axis of an array of any ndim (max subtracted first: no overflow)."""
    a, rows = _last_axis_rows(x, "x")
    out = np.empty_like(a)
    _kernels_for(a.size, softmax_kernels).softmax_rows(rows, out.reshape(rows.shape))
    return out


def sum_squared_error(y, t):
    """Returns 0.5 * sum((y - t)**2) over all elements (no mean over the batch, as in the book)."""
    y = _checks.float_array(y, "y")
    t = _checks.float_array(t, "t")
    _checks.same_shape(y, t, "y", "t")
    dtype = _checks.common_float_dtype(y, t)
    y, t = y.astype(dtype, copy=False), t.astype(dtype, copy=False)
    kernels = _kernels_for(y.size, losses)
    return dtype.type(kernels.sum_squared_error(y.reshape(-1), t.reshape(-1)))


mean_squared_error = sum_squared_error  # the book's name for the same function


def _scores_2d(y, name):
    """A 1-D score vector as a batch of one (the book's reshape), a 2-D batch as is; never empty."""
    y = _checks.float_array(y, name, ndim=(1, 2), allow_empty=False)
    y2 = y.reshape(1, -1) if y.ndim == 1 else y
    if y2.shape[1] == 0:
        raise ValueError(f"{name} must have at least one class column; got shape {y.shape}")
    return y2


def cross_entropy_error(y, t):
    """Mean over the batch of -log(y[t] + 1e-7); t holds class labels (any integer dtype) or one-hot rows
    (``t.size == y.size``; one-hot rows are reduced to their argmax, as in the book). NaN and inf in y propagate;
    negative y (raw scores passed as probabilities, where the book returns NaN with a warning) is refused with a
    ValueError."""
    y2 = _scores_2d(y, "y")
    labels = _checks.target_labels(t, *y2.shape, "t", y2.dtype)
    # log(y + 1e-7) of y < -1e-7 is NaN: these are scores, not probabilities (fmin skips NaN, which propagates)
    if np.fmin.reduce(y2, axis=None) < 0:
        raise ValueError(f"y must hold probabilities (>= 0, e.g. softmax output); got values down to "
                         f"{np.nanmin(y2)}. For raw scores use softmax_loss(X, t)")
    loss = _kernels_for(y2.size, softmax_kernels).cross_entropy_labels(y2, labels, y2.dtype.type(CE_DELTA))
    return _checks.warn_if_not_finite(y2.dtype.type(loss), "cross_entropy_error", "NaN or inf in y")


def softmax_loss(X, t):
    """Returns cross_entropy_error(softmax(X), t), fused in one pass (a RuntimeWarning when it is NaN or inf)."""
    x2 = _scores_2d(X, "X")
    labels = _checks.target_labels(t, *x2.shape, "t", x2.dtype)
    y = np.empty_like(x2)
    loss = _kernels_for(x2.size, softmax_kernels).softmax_cross_entropy_labels(x2, labels, x2.dtype.type(CE_DELTA), y)
    return _checks.warn_if_not_finite(x2.dtype.type(loss), "softmax_loss", "NaN or inf in the scores X")
