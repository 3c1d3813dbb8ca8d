"""Row-wise stable softmax, cross-entropy (the book's ``-log(y[t] + delta)``, mean over rows) and the fused
softmax + cross-entropy forward/backward, on C-contiguous 2-D arrays (N, C). Labels are intp vectors that the
caller has range-checked; ``delta`` is the book's 1e-7 in the scores' dtype. Sums accumulate in float64.
"""
import math

from .._jit import kernel
from .fastexp import vexp


@kernel(internal=True)
def _softmax_row(x, out, i):
    """out[i] = softmax(x[i]); max subtraction keeps exp from overflowing. Rows are indexed in place (no row
    views: a view per row costs more than the row itself at 10 classes)."""
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[i, j])
    for j in range(x.shape[1]):
        out[i, j] = vexp(x[i, j] - m)
    s = 0.0
    for j in range(x.shape[1]):
        s += out[i, j]
    inv = 1.0 / s
    for j in range(x.shape[1]):
        out[i, j] = out[i, j] * inv


@kernel
def softmax_rows(x, out):
    for i in range(x.shape[0]):
        _softmax_row(x, out, i)


@kernel(internal=True)
def _argmax(row):
    """First index of the maximum, like np.argmax (a NaN counts as the maximum)."""
    best = 0
    for j in range(1, row.size):
        if row[j] > row[best] or (row[j] != row[j] and row[best] == row[best]):
            best = j
    return best


@kernel
def cross_entropy_labels(y, t, delta):
    total = 0.0
    for i in range(y.shape[0]):
        total -= math.log(y[i, t[i]] + delta)
    return total / y.shape[0]


@kernel
def softmax_cross_entropy_labels(x, t, delta, y):
    """Fused forward: y = softmax(x) row by row, returns the mean cross-entropy."""
    total = 0.0
    for i in range(x.shape[0]):
        _softmax_row(x, y, i)
        total -= math.log(y[i, t[i]] + delta)
    return total / x.shape[0]


@kernel
def softmax_cross_entropy_onehot(x, t, delta, y):
    total = 0.0
    for i in range(x.shape[0]):
        _softmax_row(x, y, i)
        total -= math.log(y[i, _argmax(t[i])] + delta)
    return total / x.shape[0]


@kernel
def softmax_cross_entropy_backward_labels(y, t, dout, dx):
    """dx = (y - onehot(t)) * dout / N."""
    scale = y.dtype.type(dout / y.shape[0])  # one division, in y's dtype
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            dx[i, j] = y[i, j] * scale
        dx[i, t[i]] = (y[i, t[i]] - 1) * scale


@kernel
def softmax_cross_entropy_backward_onehot(y, t, dout, dx):
    """dx = (y - t) * dout / N (soft targets are used as given, as in the book's backward)."""
    scale = y.dtype.type(dout / y.shape[0])
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            dx[i, j] = (y[i, j] - t[i, j]) * scale


@kernel
def softmax_backward(y, dout, dx):
    """Softmax layer backward: dx = y*dout - y*sum(y*dout) row by row."""
    for i in range(y.shape[0]):
        s = 0.0
        for j in range(y.shape[1]):
            dx[i, j] = y[i, j] * dout[i, j]
            s += dx[i, j]
        for j in range(y.shape[1]):
            dx[i, j] -= y[i, j] * s
