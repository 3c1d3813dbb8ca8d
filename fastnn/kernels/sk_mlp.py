"""scikit-learn's multi-layer perceptron (``MLPClassifier``/``MLPRegressor``) on arrays: forward, loss, backprop
and the Adam/SGD updates of a whole epoch of minibatches in one call, with scikit-learn's formulas in its order
of operations, so that float64 results agree with its estimator to rounding (fastnn.sklearn).

Layouts (C-contiguous, one float dtype throughout, the caller checked everything):

* ``theta``: every parameter in scikit-learn's packing order: the coefficient matrices (fan_in, fan_out) of layers
  0..L-1 row-major, then their intercept vectors; ``coef_at``/``icpt_at`` (L + 1,): where each layer's block starts
  (the last entry: where the next block would). ``units`` (L + 1,): n_features, the hidden sizes, n_outputs.
* ``X`` (n, n_features), ``Y`` (n, n_outputs) the targets (0/1 indicator columns for classifiers), ``sw`` (n,)
  sample weights when ``use_sw``.
* Workspace ``acts``/``deltas`` (flat): layer j's activations (j = 1..L) are the block ``[n*at[j], n*at[j+1])``
  viewed as (n, units[j]), ``at`` the cumulative hidden-and-output units; ``deltas`` has the same blocks, delta i
  (scikit-learn's ``deltas[i]``, the gradient by layer i's pre-activation) in block i + 1.
* Sparse X (the ``*_sparse`` kernels): a CSR matrix as ``data`` (the float dtype), ``indices`` and ``indptr``
  (int64; checked by the caller: indptr from 0 never decreasing, indices in [0, n_features), any order, repeats
  allowed) and ``rows`` (int64): the rows of the matrix that make up X, in order. Only the first layer's products
  see X: ``X @ W0`` row by row, and ``X.T @ delta`` one row at a time from X laid out by column (_columns), each
  in scipy's order (csr_matvecs and csc_matvecs, which scikit-learn's products on a CSR batch call), so they equal
  scipy's to the bit.

Activations (codes of fastnn.kernels.codes): IDENTITY, LOGISTIC (1 / (1 + exp(-z))), TANH, RELU (max(z, 0)),
SOFTMAX (rows; z - max, exp, divided by the row's sum, summed as NumPy sums a row), EXP. Losses: SQUARED (0.5 *
mean over outputs of the mean squared error), LOG_LOSS (softmax cross-entropy), BINARY_LOG_LOSS (logistic outputs,
one column per label), POISSON; each a weighted mean when ``use_sw``, plus ``0.5 * alpha * sum(W**2) / sum(weights)``.
"""
import math

import numpy as np

from .._jit import kernel
from .activations import tanh_backward_scalar, tanh_scalar
from .arrays import copy_row, copy_rows
from .codes import EXP, IDENTITY, LOGISTIC, RELU, SOFTMAX, TANH  # noqa: F401 - fastnn.sklearn reads them here

SQUARED, LOG_LOSS, BINARY_LOG_LOSS, POISSON = 0, 1, 2, 3
ADAM, SGD = 0, 1


# --- views ---------------------------------------------------------------------------------------------------
@kernel(internal=True)
def _coef(theta, coef_at, units, i):
    return theta[coef_at[i]:coef_at[i + 1]].reshape(units[i], units[i + 1])


@kernel(internal=True)
def _icpt(theta, icpt_at, i):
    return theta[icpt_at[i]:icpt_at[i + 1]]


@kernel(internal=True)
def _block(flat, at, units, j, n):
    """Layer j's (n, units[j]) block of a workspace."""
    return flat[n * at[j]:n * at[j + 1]].reshape(n, units[j])


# --- sums as NumPy makes them ----------------------------------------------------------------------------------
@kernel(internal=True)
def _block_sum(a, lo, n):
    """NumPy's pairwise sum of n <= 128 values a[lo:lo+n]: eight accumulators, combined as a tree."""
    if n < 8:
        s = a[lo] - a[lo]
        for i in range(n):
            s += a[lo + i]
        return s
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        s += a[lo + i]
        i += 1
    return s


@kernel(internal=True)
def _pairwise(a, lo, n):
    """NumPy's pairwise sum of a[lo:lo+n]: above 128 values it halves (the halves' sizes multiples of 8) and adds
    the two sums. Its recursion runs here on explicit stacks (numba cannot cache recursive kernels)."""
    if n <= 128:
        return _block_sum(a, lo, n)
    # each level down the tree leaves at most two entries behind: 64 entries hold any n below 2**38
    starts, sizes, opened = np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64, np.bool_)
    sums = np.empty(64, a.dtype)
    top, done = 0, 0
    starts[0], sizes[0], opened[0] = lo, n, False
    while top >= 0:
        l, m, o = starts[top], sizes[top], opened[top]
        top -= 1
        if m <= 128:
            sums[done] = _block_sum(a, l, m)
            done += 1
        elif o:  # both halves are summed: combine them
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
        else:  # revisit after the halves; the left half goes on top, so it is summed first
            half = m // 2
            half -= half % 8
            starts[top + 1], sizes[top + 1], opened[top + 1] = l, m, True
            starts[top + 2], sizes[top + 2], opened[top + 2] = l + half, m - half, False
            starts[top + 3], sizes[top + 3], opened[top + 3] = l, half, False
            top += 3
    return sums[0]


@kernel
def _row_sum(row):
    """np.sum of a contiguous row (and each row's value in X.sum(axis=1)): the pairwise sum."""
    return _pairwise(row, 0, row.size)


# --- forward -----------------------------------------------------------------------------------------------------
@kernel(internal=True)
def _activate(Z, kind):
    """scikit-learn's in-place activation of Z (n, k)."""
    n, k = Z.shape
    for r in range(n):
        z = Z[r]
        if kind == LOGISTIC:
            for c in range(k):
                z[c] = 1.0 / (1.0 + math.exp(-z[c]))
        elif kind == TANH:
            for c in range(k):
                z[c] = tanh_scalar(z[c])
        elif kind == RELU:
            for c in range(k):
                if z[c] < 0:
                    z[c] = 0
        elif kind == EXP:
            for c in range(k):
                z[c] = math.exp(z[c])
        elif kind == SOFTMAX:
            top = z[0]
            for c in range(1, k):
                if z[c] > top or z[c] != z[c]:
                    top = z[c]
            for c in range(k):
                z[c] = math.exp(z[c] - top)
            s = _row_sum(z)
            for c in range(k):
                z[c] = z[c] / s


@kernel(internal=True)
def _onward(theta, coef_at, icpt_at, units, hidden, out_act, acts, n):
    """The forward pass once block 1 holds X @ W0: its intercept and activation, then layers 1..L-1; returns the
    output block (n, n_outputs)."""
    L = units.size - 1
    at = _act_at(units)
    for i in range(L):
        z = _block(acts, at, units, i + 1, n)
        if i > 0:
            np.dot(_block(acts, at, units, i, n), _coef(theta, coef_at, units, i), z)
        b = _icpt(theta, icpt_at, i)
        for r in range(n):
            zr = z[r]
            for c in range(zr.size):
                zr[c] += b[c]
        _activate(z, hidden if i < L - 1 else out_act)
    return _block(acts, at, units, L, n)


@kernel
def forward(theta, coef_at, icpt_at, units, X, hidden, out_act, acts):
    """Fill the activations of every layer for the rows of X; returns the output block (n, n_outputs)."""
    n = X.shape[0]
    np.dot(X, _coef(theta, coef_at, units, 0), _block(acts, _act_at(units), units, 1, n))
    return _onward(theta, coef_at, icpt_at, units, hidden, out_act, acts, n)


@kernel
def _csr_rows_dot(data, indices, indptr, rows, W, out):
    """out (rows.size, k) = X @ W (W: (n_features, k)) for X the CSR rows ``rows``: each row of out starts at zero
    and adds data * W[column] for the row's stored entries in their stored order (scipy's csr_matvecs)."""
    for r in range(rows.size):
        o = out[r]
        for c in range(o.size):
            o[c] = 0
        row = rows[r]
        for jj in range(indptr[row], indptr[row + 1]):
            a, w = data[jj], W[indices[jj]]
            for c in range(o.size):
                o[c] += a * w[c]


@kernel(internal=True)
def forward_sparse(theta, coef_at, icpt_at, units, data, indices, indptr, rows, hidden, out_act, acts):
    """forward for X the CSR rows ``rows``; returns the output block (rows.size, n_outputs)."""
    n = rows.size
    _csr_rows_dot(data, indices, indptr, rows, _coef(theta, coef_at, units, 0),
                  _block(acts, _act_at(units), units, 1, n))
    return _onward(theta, coef_at, icpt_at, units, hidden, out_act, acts, n)


@kernel(internal=True)
def _act_at(units):
    at = np.zeros(units.size + 1, np.int64)
    for j in range(1, units.size):
        at[j + 1] = at[j] + units[j]
    return at


@kernel
def workspace_size(units, n):
    """Elements of one flat workspace (acts or deltas) for n rows."""
    total = 0
    for j in range(1, units.size):
        total += units[j]
    return n * total


# --- loss ----------------------------------------------------------------------------------------------------
@kernel(internal=True)
def _xlogy(x, y):
    return x * 0 if x == 0 else x * math.log(y)


@kernel(internal=True)
def _data_loss(Y, P, sw, use_sw, kind):
    """scikit-learn's loss of outputs P against targets Y (rows weighted by sw when use_sw)."""
    n, k = P.shape
    eps = np.finfo(P.dtype).eps
    total = P.dtype.type(0)
    wsum = P.dtype.type(0)
    if use_sw:
        for r in range(n):
            wsum += sw[r]
    for c in range(k):
        s = P.dtype.type(0)
        for r in range(n):
            y, p = Y[r, c], P[r, c]
            if kind == SQUARED:
                term = (y - p) ** 2
            elif kind == POISSON:
                term = _xlogy(y, y / p) - y + p
            else:
                p = min(max(p, eps), 1 - eps)
                term = _xlogy(y, p)
                if kind == BINARY_LOG_LOSS:
                    term += _xlogy(1 - y, 1 - p)
            s += term * sw[r] if use_sw else term
        total += s / wsum if use_sw else s / n
    if kind == SQUARED:
        return 0.5 * (total / k)
    if kind == POISSON:
        return total
    return -total


@kernel(internal=True)
def _l2_term(theta, coef_at, alpha, sw_sum):
    """0.5 * alpha * (the sum of every coefficient squared) / sw_sum: the loss's L2 term (only the loss reads it,
    so the squares add in eight running sums, which LLVM vectorises; scikit-learn uses BLAS dot products)."""
    acc = np.zeros(8, theta.dtype)
    n = coef_at[-1]
    for i0 in range(0, n - n % 8, 8):
        for k in range(8):
            acc[k] += theta[i0 + k] * theta[i0 + k]
    for i in range(n - n % 8, n):
        acc[0] += theta[i] * theta[i]
    return (0.5 * alpha) * _block_sum(acc, 0, 8) / sw_sum


# --- backprop ------------------------------------------------------------------------------------------------
@kernel(internal=True)
def _derivative(Z, delta, kind):
    """scikit-learn's in-place hidden-layer derivative: delta *= f'(z), from the activations Z = f(z)."""
    n, k = Z.shape
    for r in range(n):
        z, d = Z[r], delta[r]
        for c in range(k):
            if kind == LOGISTIC:
                d[c] = d[c] * z[c]
                d[c] = d[c] * (1 - z[c])
            elif kind == TANH:
                d[c] = tanh_backward_scalar(d[c], z[c])
            elif kind == RELU:
                if z[c] == 0:
                    d[c] = 0


@kernel(internal=True)
def _column_sums(D, out):
    """out = D's column sums, the rows added in order (np.sum(D, axis=0) on a C-contiguous D)."""
    copy_row(out, D[0])
    for r in range(1, D.shape[0]):
        d = D[r]
        for c in range(out.size):
            out[c] += d[c]


@kernel
def _columns(data, indices, indptr, rows, starts, entry_row, entry_x):
    """X.T by column, X the CSR rows ``rows``: column j's entries are entry_row[k] (a row of X, 0..rows.size-1)
    and entry_x[k] for k in starts[j]..starts[j+1]-1 (starts: n_features + 1), in the order scipy's csc_matvecs
    meets them in X.T @ D: the rows in order, each row's entries in stored order (a stable counting sort)."""
    starts[:] = 0
    for r in range(rows.size):
        for jj in range(indptr[rows[r]], indptr[rows[r] + 1]):
            starts[indices[jj] + 1] += 1
    for j in range(1, starts.size):
        starts[j] += starts[j - 1]
    for r in range(rows.size):  # starts[j] walks through column j, ending where column j + 1 begins
        for jj in range(indptr[rows[r]], indptr[rows[r] + 1]):
            k = starts[indices[jj]]
            entry_row[k], entry_x[k] = r, data[jj]
            starts[indices[jj]] = k + 1
    for j in range(starts.size - 1, 0, -1):
        starts[j] = starts[j - 1]
    starts[0] = 0


@kernel
def _column_grad(cols, j, out):
    """out = row j of X.T @ D (``cols``: (starts, entry_row, entry_x, D), X.T by column from _columns): zero, then
    + x * D[r] over column j's entries in order, as scipy sums it. Returns whether column j has entries (else out
    is left as it was: the row is zero)."""
    starts, entry_row, entry_x, D = cols
    if starts[j] == starts[j + 1]:
        return False
    for c in range(out.size):
        out[c] = 0
    for k in range(starts[j], starts[j + 1]):
        x, d = entry_x[k], D[entry_row[k]]
        for c in range(out.size):
            out[c] += x * d[c]
    return True


@kernel(internal=True)
def _layer_grads(A, D, W, alpha, sw_sum, gW, gb, finish):
    """gW = (A.T @ D + alpha * W) / sw_sum, gb = the column sums of D / sw_sum (rows added in order); without
    ``finish`` only A.T @ D and the column sums (the optimizers finish them as they read them: _finished)."""
    np.dot(A.T, D, gW)
    _column_sums(D, gb)
    if finish:
        for r in range(gW.shape[0]):
            g, w = gW[r], W[r]
            for c in range(g.size):
                g[c] = (g[c] + alpha * w[c]) / sw_sum
        for c in range(gb.size):
            gb[c] = gb[c] / sw_sum


@kernel(internal=True)
def _finished(raw, w, is_coef, alpha, sw_sum):
    """A gradient entry from _layer_grads(finish=False): scikit-learn's (raw + alpha * w) / sw_sum for a
    coefficient, raw / sw_sum for an intercept."""
    return (raw + alpha * w) / sw_sum if is_coef else raw / sw_sum


@kernel(internal=True)
def weight_sum(sw, use_sw, n, dtype_of):
    """scikit-learn's sw_sum: the rows' weights summed as np.sum does, else the row count (in dtype_of's type)."""
    return _pairwise(sw, 0, n) if use_sw else dtype_of.dtype.type(n)


@kernel
def backprop(theta, coef_at, icpt_at, units, X, Y, sw, use_sw, hidden, out_act, loss_kind, alpha, acts, deltas,
             grad, finish=True):
    """scikit-learn's _backprop on the rows of X: returns the loss (with the L2 term) and fills grad (theta's
    packing) with its gradient (without ``finish``: the raw sums that _finished completes)."""
    out = forward(theta, coef_at, icpt_at, units, X, hidden, out_act, acts)
    loss, sw_sum = _backward(theta, coef_at, icpt_at, units, out, Y, sw, use_sw, hidden, loss_kind, alpha, acts,
                             deltas, grad, finish)
    _layer_grads(X, _block(deltas, _act_at(units), units, 1, X.shape[0]), _coef(theta, coef_at, units, 0), alpha,
                 sw_sum, _coef(grad, coef_at, units, 0), _icpt(grad, icpt_at, 0), finish)
    return loss


@kernel
def _backward(theta, coef_at, icpt_at, units, out, Y, sw, use_sw, hidden, loss_kind, alpha, acts, deltas, grad,
              finish):
    """backprop after the forward pass (``out`` its output block) down to the first layer: the loss, the
    gradients of layers L-1..1 and the first layer's delta (block 1 of deltas). Returns (loss, sw_sum)."""
    n = out.shape[0]
    L = units.size - 1
    at = _act_at(units)
    loss = _data_loss(Y, out, sw, use_sw, loss_kind)
    sw_sum = weight_sum(sw, use_sw, n, theta)
    loss += _l2_term(theta, coef_at, alpha, sw_sum)
    d = _block(deltas, at, units, L, n)
    for r in range(n):
        for c in range(d.shape[1]):
            d[r, c] = out[r, c] - Y[r, c]
            if use_sw:
                d[r, c] *= sw[r]
    for i in range(L - 1, 0, -1):
        d = _block(deltas, at, units, i + 1, n)
        W = _coef(theta, coef_at, units, i)
        A = _block(acts, at, units, i, n)
        _layer_grads(A, d, W, alpha, sw_sum, _coef(grad, coef_at, units, i), _icpt(grad, icpt_at, i), finish)
        below = _block(deltas, at, units, i, n)
        np.dot(d, W.T, below)
        _derivative(A, below, hidden)
    return loss, sw_sum


@kernel
def _batch_nnz(indptr, idx, batch_size):
    """The most stored entries in one batch: idx[0:batch_size], idx[batch_size:2 * batch_size], ..."""
    most = 0
    for start in range(0, idx.size, batch_size):
        total = 0
        for r in range(start, min(start + batch_size, idx.size)):
            total += indptr[idx[r] + 1] - indptr[idx[r]]
        most = max(most, total)
    return most


@kernel
def backprop_sparse(theta, coef_at, icpt_at, units, data, indices, indptr, rows, Y, sw, use_sw, hidden, out_act,
                    loss_kind, alpha, acts, deltas, grad):
    """backprop (finished: L-BFGS's evaluation) for X the CSR rows ``rows``: returns the loss and fills grad."""
    out = forward_sparse(theta, coef_at, icpt_at, units, data, indices, indptr, rows, hidden, out_act, acts)
    loss, sw_sum = _backward(theta, coef_at, icpt_at, units, out, Y, sw, use_sw, hidden, loss_kind, alpha, acts,
                             deltas, grad, True)
    D = _block(deltas, _act_at(units), units, 1, rows.size)
    nnz = _batch_nnz(indptr, rows, max(rows.size, 1))
    cols = (np.empty(units[0] + 1, np.int64), np.empty(nnz, np.int64), np.empty(nnz, data.dtype), D)
    _columns(data, indices, indptr, rows, cols[0], cols[1], cols[2])
    W, G, gb = _coef(theta, coef_at, units, 0), _coef(grad, coef_at, units, 0), _icpt(grad, icpt_at, 0)
    for j in range(G.shape[0]):
        g, w = G[j], W[j]
        if not _column_grad(cols, j, g):
            g[:] = 0
        for c in range(g.size):
            g[c] = _finished(g[c], w[c], True, alpha, sw_sum)
    _column_sums(D, gb)
    for c in range(gb.size):
        gb[c] = gb[c] / sw_sum
    return loss


# --- one epoch of minibatches ----------------------------------------------------------------------------------
@kernel(internal=True)
def _adam_slice(w, raw, m, v, is_coef, read_raw, alpha, sw_sum, lr, b1, c1, b2, c2, eps):
    """Adam on the parameters w (all coefficients or all intercepts) and their moments, their raw gradient read
    from raw (``read_raw``) or zero. The loops run over slices from 0: indexing from an offset kept LLVM from
    vectorising them (3.8x slower here)."""
    zero = w.dtype.type(0)
    for i in range(w.size):
        g = _finished(raw[i] if read_raw else zero, w[i], is_coef, alpha, sw_sum)
        m[i] = b1 * m[i] + c1 * g
        v[i] = b2 * v[i] + c2 * (g * g)
        w[i] += -lr * m[i] / (math.sqrt(v[i]) + eps)


@kernel(internal=True)
def _adam_update(theta, raw, n_coef, cols, alpha, sw_sum, m, v, t, lr_init, beta_1, beta_2, epsilon):
    """scikit-learn's AdamOptimizer step t (1-based) on every parameter, the gradient finished from the raw sums
    of backprop(finish=False) in the same pass (one pass over the parameters instead of two). For sparse X,
    ``cols`` (from _columns; its starts empty for dense X) gives W0's raw gradient, made row by row here as the
    pass reaches it (a row no column entry reaches is zero)."""
    lr = lr_init * math.sqrt(1 - math.pow(beta_2, t)) / (1 - math.pow(beta_1, t))
    b1, c1 = theta.dtype.type(beta_1), theta.dtype.type(1 - beta_1)
    b2, c2 = theta.dtype.type(beta_2), theta.dtype.type(1 - beta_2)
    eps = theta.dtype.type(epsilon)
    lo, width = 0, cols[3].shape[1]
    row = np.empty(width, theta.dtype)
    for j in range(cols[0].size - 1):
        hi = lo + width
        _adam_slice(theta[lo:hi], row, m[lo:hi], v[lo:hi], True, _column_grad(cols, j, row), alpha, sw_sum, lr, b1,
                    c1, b2, c2, eps)
        lo = hi
    _adam_slice(theta[lo:n_coef], raw[lo:n_coef], m[lo:n_coef], v[lo:n_coef], True, True, alpha, sw_sum, lr, b1,
                c1, b2, c2, eps)
    _adam_slice(theta[n_coef:], raw[n_coef:], m[n_coef:], v[n_coef:], False, True, alpha, sw_sum, lr, b1, c1, b2,
                c2, eps)


@kernel(internal=True)
def _sgd_slice(w, raw, velocity, is_coef, read_raw, alpha, sw_sum, mu, eta, nesterov):
    """SGD on the parameters w and their velocities, their raw gradient read from raw (``read_raw``) or zero
    (loops from 0, as _adam_slice)."""
    zero = w.dtype.type(0)
    for i in range(w.size):
        g = _finished(raw[i] if read_raw else zero, w[i], is_coef, alpha, sw_sum)
        u = mu * velocity[i] - eta * g
        velocity[i] = u
        if nesterov:
            u = mu * u - eta * g
        w[i] += u


@kernel(internal=True)
def _sgd_update(theta, raw, n_coef, cols, alpha, sw_sum, velocity, lr, momentum, nesterov):
    """scikit-learn's SGDOptimizer step: velocity = momentum * velocity - lr * grad, then theta += velocity
    (Nesterov: += momentum * velocity - lr * grad with the new velocity); the gradient finished, and W0's made
    from ``cols``, as in Adam."""
    mu, eta = theta.dtype.type(momentum), theta.dtype.type(lr)
    lo, width = 0, cols[3].shape[1]
    row = np.empty(width, theta.dtype)
    for j in range(cols[0].size - 1):
        hi = lo + width
        _sgd_slice(theta[lo:hi], row, velocity[lo:hi], True, _column_grad(cols, j, row), alpha, sw_sum, mu, eta,
                   nesterov)
        lo = hi
    _sgd_slice(theta[lo:n_coef], raw[lo:n_coef], velocity[lo:n_coef], True, True, alpha, sw_sum, mu, eta, nesterov)
    _sgd_slice(theta[n_coef:], raw[n_coef:], velocity[n_coef:], False, True, alpha, sw_sum, mu, eta, nesterov)


@kernel(internal=True)
def _gather(src, idx, start, stop, dst):
    """dst[:stop - start] = the rows idx[start:stop] of src."""
    for r in range(stop - start):
        s, d = src[idx[start + r]], dst[r]
        for c in range(d.size):
            d[c] = s[c]


@kernel(internal=True)
def _batch_targets(Y, sw, use_sw, idx, start, stop, Yb, swb):
    """Yb, swb = the targets and (when use_sw) weights of the rows idx[start:stop]."""
    _gather(Y, idx, start, stop, Yb)
    for r in range(stop - start if use_sw else 0):
        swb[r] = sw[idx[start + r]]


@kernel
def _step(theta, grad, n_coef, cols, alpha, sw_sum, solver, state1, state2, t, lr, beta_1, beta_2, epsilon, momentum,
          nesterov):
    """The optimizer's update from the raw gradient sums (and ``cols``, see _adam_update); returns Adam's step count
    after it (t for SGD)."""
    if solver == ADAM:
        t += 1
        _adam_update(theta, grad, n_coef, cols, alpha, sw_sum, state1, state2, t, lr, beta_1, beta_2, epsilon)
    else:
        _sgd_update(theta, grad, n_coef, cols, alpha, sw_sum, state1, lr, momentum, nesterov)
    return t


@kernel
def stochastic_epoch(theta, coef_at, icpt_at, units, X, Y, sw, use_sw, idx, batch_size, hidden, out_act,
                     loss_kind, alpha, solver, state1, state2, t, lr, beta_1, beta_2, epsilon, momentum, nesterov):
    """One epoch: the rows idx in minibatches of batch_size (the last one shorter), each backprop then an Adam
    (state1, state2 = its m, v; t its step count before the epoch) or SGD (state1 = velocity; lr the current
    learning rate) update. Returns (sum over batches of batch loss * batch rows, t after the epoch)."""
    n_rows = idx.size
    acts = np.empty(workspace_size(units, batch_size), theta.dtype)
    deltas = np.empty_like(acts)
    grad = np.empty_like(theta)
    Xb = np.empty((batch_size, X.shape[1]), X.dtype)
    Yb = np.empty((batch_size, Y.shape[1]), Y.dtype)
    swb = np.empty(batch_size if use_sw else 0, sw.dtype)
    dense = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, X.dtype), np.empty((0, 0), X.dtype))  # no cols
    accumulated = theta.dtype.type(0)
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        n = stop - start
        _gather(X, idx, start, stop, Xb)
        _batch_targets(Y, sw, use_sw, idx, start, stop, Yb, swb)
        loss = backprop(theta, coef_at, icpt_at, units, Xb[:n], Yb[:n], swb[:n], use_sw, hidden, out_act,
                        loss_kind, alpha, acts, deltas, grad, False)
        accumulated += loss * n
        t = _step(theta, grad, coef_at[-1], dense, alpha, weight_sum(swb[:n], use_sw, n, theta), solver, state1, state2,
                  t, lr, beta_1, beta_2, epsilon, momentum, nesterov)
    return accumulated, t


@kernel
def stochastic_epoch_sparse(theta, coef_at, icpt_at, units, data, indices, indptr, Y, sw, use_sw, idx, batch_size,
                            hidden, out_act, loss_kind, alpha, solver, state1, state2, t, lr, beta_1, beta_2,
                            epsilon, momentum, nesterov):
    """stochastic_epoch for X a CSR matrix (idx: its rows, and Y's and sw's, in the epoch's order). Nothing
    gathers X's rows: the forward product reads them in place, and W0's gradient is never stored: each batch's
    X.T is laid out by column (_columns) and the update makes W0's gradient row by row from it as it reaches the
    row. Returns what stochastic_epoch returns."""
    n_rows = idx.size
    acts = np.empty(workspace_size(units, batch_size), theta.dtype)
    deltas = np.empty_like(acts)
    grad = np.empty_like(theta)
    most = _batch_nnz(indptr, idx, batch_size)
    starts, entry_row, entry_x = np.empty(units[0] + 1, np.int64), np.empty(most, np.int64), np.empty(most, data.dtype)
    Yb = np.empty((batch_size, Y.shape[1]), Y.dtype)
    swb = np.empty(batch_size if use_sw else 0, sw.dtype)
    accumulated = theta.dtype.type(0)
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        n = stop - start
        rows = idx[start:stop]
        _batch_targets(Y, sw, use_sw, idx, start, stop, Yb, swb)
        out = forward_sparse(theta, coef_at, icpt_at, units, data, indices, indptr, rows, hidden, out_act, acts)
        loss, sw_sum = _backward(theta, coef_at, icpt_at, units, out, Yb[:n], swb[:n], use_sw, hidden, loss_kind,
                                 alpha, acts, deltas, grad, False)
        D = _block(deltas, _act_at(units), units, 1, n)
        _column_sums(D, _icpt(grad, icpt_at, 0))
        _columns(data, indices, indptr, rows, starts, entry_row, entry_x)
        accumulated += loss * n
        t = _step(theta, grad, coef_at[-1], (starts, entry_row, entry_x, D), alpha, sw_sum, solver, state1, state2,
                  t, lr, beta_1, beta_2, epsilon, momentum, nesterov)
    return accumulated, t


@kernel
def predict(theta, coef_at, icpt_at, units, X, hidden, out_act, out):
    """out (n, n_outputs) = the network's output for the rows of X, 1024 rows at a time."""
    chunk = min(1024, X.shape[0])
    acts = np.empty(workspace_size(units, chunk), theta.dtype)
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        res = forward(theta, coef_at, icpt_at, units, X[start:stop], hidden, out_act, acts)
        copy_rows(out[start:stop], res)


@kernel
def predict_sparse(theta, coef_at, icpt_at, units, data, indices, indptr, rows, hidden, out_act, out):
    """out (rows.size, n_outputs) = the network's output for X the CSR rows ``rows``, 1024 rows at a time."""
    chunk = max(1, min(1024, rows.size))
    acts = np.empty(workspace_size(units, chunk), theta.dtype)
    for start in range(0, rows.size, chunk):
        stop = min(start + chunk, rows.size)
        res = forward_sparse(theta, coef_at, icpt_at, units, data, indices, indptr, rows[start:stop], hidden,
                             out_act, acts)
        copy_rows(out[start:stop], res)
