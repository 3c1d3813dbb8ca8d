"""The second book's non-recurrent time layers (common/time_layers.py): the affine map over all N*T rows with a
transposed (weight-tied) W, and the softmax + cross-entropy over all rows with the ignore label, fused.

Rows are C-contiguous 2-D arrays (N*T, V); labels are an intp vector the caller has range-checked (-1 marks an
ignored row). The softmax keeps ``e = exp(x - max)`` and the per-row ``1 / sum(e)``: backward scales e once, so the
forward never makes a normalising pass over the 10,000-wide rows. Sums accumulate in float64.
"""
import math

import numpy as np

from .._jit import kernel
from .affine import affine_backward_input, affine_backward_params, affine_forward
from .fastexp import vexp

@kernel
def time_affine_forward(x, W, b, out):
    """out = x @ W + b (W C-contiguous)."""
    affine_forward(x, W, b, out)


@kernel
def time_affine_backward(x, dout, W, dW, db, dx):
    """dW = x.T @ dout, db = column sums of dout, dx = dout @ W.T (W C-contiguous)."""
    affine_backward_params(x, dout, dW, db)
    affine_backward_input(dout, W, dx)


@kernel
def time_affine_forward_t(x, Wt, b, out):
    """out = x @ Wt.T + b for a weight stored transposed (the book's tied ``TimeAffine(embed_W.T, b)``)."""
    np.dot(x, Wt.T, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += b[j]


@kernel
def time_affine_backward_t(x, dout, Wt, dWt, db, dx):
    """dWt = dout.T @ x (the transposed weight gradient), db = column sums of dout, dx = dout @ Wt."""
    np.dot(dout.T, x, dWt)
    db[:] = 0
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            db[j] += dout[i, j]
    np.dot(dout, Wt, dx)


@kernel(internal=True)
def _row_max(x, i):
    """max(x[i]) in eight running maxima (a single running one would not vectorise, see _exp_row). A NaN in the
    row may be skipped here; it still makes the row's sum, loss and gradient NaN."""
    width = x.shape[1]
    whole = width - width % 8
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = x[i, 0]
    for j in range(0, whole, 8):
        m0, m1, m2, m3 = max(m0, x[i, j]), max(m1, x[i, j + 1]), max(m2, x[i, j + 2]), max(m3, x[i, j + 3])
        m4, m5, m6, m7 = max(m4, x[i, j + 4]), max(m5, x[i, j + 5]), max(m6, x[i, j + 6]), max(m7, x[i, j + 7])
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    for j in range(whole, width):
        m = max(m, x[i, j])
    return m


@kernel(internal=True)
def _exp_row(x, e, i, m):
    """e[i] = exp(x[i] - m); returns sum(e[i]) in float64: blocks of 64 summed in eight partial sums of e's dtype
    (a single running sum is a chain LLVM will not vectorise without fastmath), the blocks added in float64. The
    exp loop stays apart from the sums: fused, it no longer vectorises (6x slower)."""
    width = x.shape[1]
    for j in range(width):
        e[i, j] = vexp(x[i, j] - m)
    whole = width - width % 64
    zero = e.dtype.type(0)
    s = 0.0
    for block in range(0, whole, 64):
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
        for j in range(block, block + 64, 8):
            s0, s1, s2, s3 = s0 + e[i, j], s1 + e[i, j + 1], s2 + e[i, j + 2], s3 + e[i, j + 3]
            s4, s5, s6, s7 = s4 + e[i, j + 4], s5 + e[i, j + 5], s6 + e[i, j + 6], s7 + e[i, j + 7]
        s += ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for j in range(whole, width):
        s += e[i, j]
    return s


@kernel
def time_softmax_loss_forward(x, t, delta, e, inv_sum):
    """e[i] = exp(x[i] - max x[i]) and inv_sum[i] = 1 / sum(e[i]) for every row; returns the summed
    cross-entropy over the rows with t[i] >= 0: -log(p + delta) of the picked probability p when delta > 0 (the
    book's per-step SoftmaxWithLoss), else log(sum) - (x[i, t] - max), the exact log of the probability."""
    total = 0.0
    for i in range(x.shape[0]):
        m = _row_max(x, i)
        s = _exp_row(x, e, i, m)
        inv_sum[i] = 1.0 / s
        label = t[i]
        if label < 0:
            continue
        if delta > 0:
            total -= math.log(e[i, label] * inv_sum[i] + delta)
        else:
            total += math.log(s) - (np.float64(x[i, label]) - np.float64(m))  # float64: no overflow
    return total


@kernel
def time_softmax_loss_backward(e, inv_sum, t, scale, dx):
    """dx[i] = (softmax(x[i]) - onehot(t[i])) * scale for rows with t[i] >= 0, zeros for ignored rows."""
    for i in range(e.shape[0]):
        label = t[i]
        if label < 0:
            dx[i, :] = 0
            continue
        f = e.dtype.type(inv_sum[i] * scale)
        for j in range(e.shape[1]):
            dx[i, j] = e[i, j] * f
        dx[i, label] -= e.dtype.type(scale)
