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

Activations: IDENTITY, LOGISTIC (1 / (1 + exp(-z))), TANH, RELU (max(z, 0)), SOFTMAX (rows; z - max, exp, divided
by the row's sum, summed as NumPy sums a row), EXP. Losses: SQUARED (0.5 * mean over outputs of the mean squared
error), LOG_LOSS (softmax cross-entropy), BINARY_LOG_LOSS (logistic outputs, one column per label), POISSON; each
a weighted mean when ``use_sw``, plus ``0.5 * alpha * sum(W**2) / sum(weights)``.
"""
import math

import numpy as np

from .._jit import kernel

IDENTITY, LOGISTIC, TANH, RELU, SOFTMAX, EXP = 0, 1, 2, 3, 4, 5
SQUARED, LOG_LOSS, BINARY_LOG_LOSS, POISSON = 0, 1, 2, 3
ADAM, SGD = 0, 1


# --- views ---------------------------------------------------------------------------------------------------
@kernel
def _coef(theta, coef_at, units, i):
    return theta[coef_at[i]:coef_at[i + 1]].reshape(units[i], units[i + 1])


@kernel
def _icpt(theta, icpt_at, i):
    return theta[icpt_at[i]:icpt_at[i + 1]]


@kernel
def _block(flat, at, units, j, n):
    """Layer j's (n, units[j]) block of a workspace."""
    return flat[n * at[j]:n * at[j + 1]].reshape(n, units[j])


# --- sums as NumPy makes them ----------------------------------------------------------------------------------
@kernel
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


@kernel
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
@kernel
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
                z[c] = math.tanh(z[c])
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


@kernel
def forward(theta, coef_at, icpt_at, units, X, hidden, out_act, acts):
    """Fill the activations of every layer for the rows of X; returns the output block (n, n_outputs)."""
    n = X.shape[0]
    L = units.size - 1
    at = _act_at(units)
    a = X
    for i in range(L):
        z = _block(acts, at, units, i + 1, n)
        np.dot(a, _coef(theta, coef_at, units, i), z)
        b = _icpt(theta, icpt_at, i)
        for r in range(n):
            zr = z[r]
            for c in range(zr.size):
                zr[c] += b[c]
        _activate(z, hidden if i < L - 1 else out_act)
        a = z
    return _block(acts, at, units, L, n)


@kernel
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
@kernel
def _xlogy(x, y):
    return x * 0 if x == 0 else x * math.log(y)


@kernel
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


@kernel
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
@kernel
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
                d[c] = d[c] * (1 - z[c] ** 2)
            elif kind == RELU:
                if z[c] == 0:
                    d[c] = 0


@kernel
def _layer_grads(A, D, W, alpha, sw_sum, gW, gb, finish):
    """gW = (A.T @ D + alpha * W) / sw_sum, gb = the column sums of D / sw_sum (rows added in order); without
    ``finish`` only A.T @ D and the column sums (the optimizers finish them as they read them: _finished)."""
    np.dot(A.T, D, gW)
    gb[:] = D[0]
    for r in range(1, D.shape[0]):
        d = D[r]
        for c in range(gb.size):
            gb[c] += d[c]
    if finish:
        for r in range(gW.shape[0]):
            g, w = gW[r], W[r]
            for c in range(g.size):
                g[c] = (g[c] + alpha * w[c]) / sw_sum
        for c in range(gb.size):
            gb[c] = gb[c] / sw_sum


@kernel
def _finished(raw, w, is_coef, alpha, sw_sum):
    """A gradient entry from _layer_grads(finish=False): scikit-learn's (raw + alpha * w) / sw_sum for a
    coefficient, raw / sw_sum for an intercept."""
    return (raw + alpha * w) / sw_sum if is_coef else raw / sw_sum


@kernel
def weight_sum(sw, use_sw, n, dtype_of):
    """scikit-learn's sw_sum: the rows' weights summed as np.sum does, else the row count (in dtype_of's type)."""
    return _pairwise(sw, 0, n) if use_sw else dtype_of.dtype.type(n)


@kernel
def backprop(theta, coef_at, icpt_at, units, X, Y, sw, use_sw, hidden, out_act, loss_kind, alpha, acts, deltas,
             grad, finish=True):
    """scikit-learn's _backprop on the rows of X: returns the loss (with the L2 term) and fills grad (theta's
    packing) with its gradient (without ``finish``: the raw sums that _finished completes)."""
    n = X.shape[0]
    L = units.size - 1
    at = _act_at(units)
    out = forward(theta, coef_at, icpt_at, units, X, hidden, out_act, acts)
    loss = _data_loss(Y, out, sw, use_sw, loss_kind)
    sw_sum = weight_sum(sw, use_sw, n, theta)
    loss += _l2_term(theta, coef_at, alpha, sw_sum)
    d = _block(deltas, at, units, L, n)
    for r in range(n):
        for c in range(d.shape[1]):
            d[r, c] = out[r, c] - Y[r, c]
            if use_sw:
                d[r, c] *= sw[r]
    for i in range(L - 1, -1, -1):
        d = _block(deltas, at, units, i + 1, n)
        W = _coef(theta, coef_at, units, i)
        A = X if i == 0 else _block(acts, at, units, i, n)
        _layer_grads(A, d, W, alpha, sw_sum, _coef(grad, coef_at, units, i), _icpt(grad, icpt_at, i), finish)
        if i > 0:
            below = _block(deltas, at, units, i, n)
            np.dot(d, W.T, below)
            _derivative(A, below, hidden)
    return loss


# --- one epoch of minibatches ----------------------------------------------------------------------------------
@kernel
def _adam_update(theta, raw, n_coef, alpha, sw_sum, m, v, t, lr_init, beta_1, beta_2, epsilon):
    """scikit-learn's AdamOptimizer step t (1-based) on every parameter, the gradient finished from the raw sums
    of backprop(finish=False) in the same pass (one pass over the parameters instead of two)."""
    lr = lr_init * math.sqrt(1 - math.pow(beta_2, t)) / (1 - math.pow(beta_1, t))
    b1, c1 = theta.dtype.type(beta_1), theta.dtype.type(1 - beta_1)
    b2, c2 = theta.dtype.type(beta_2), theta.dtype.type(1 - beta_2)
    eps = theta.dtype.type(epsilon)
    for i in range(theta.size):
        g = _finished(raw[i], theta[i], i < n_coef, alpha, sw_sum)
        m[i] = b1 * m[i] + c1 * g
        v[i] = b2 * v[i] + c2 * (g * g)
        theta[i] += -lr * m[i] / (math.sqrt(v[i]) + eps)


@kernel
def _sgd_update(theta, raw, n_coef, alpha, sw_sum, velocity, lr, momentum, nesterov):
    """scikit-learn's SGDOptimizer step: velocity = momentum * velocity - lr * grad, then theta += velocity
    (Nesterov: += momentum * velocity - lr * grad with the new velocity); the gradient finished as in Adam."""
    mu, eta = theta.dtype.type(momentum), theta.dtype.type(lr)
    for i in range(theta.size):
        g = _finished(raw[i], theta[i], i < n_coef, alpha, sw_sum)
        u = mu * velocity[i] - eta * g
        velocity[i] = u
        if nesterov:
            u = mu * u - eta * g
        theta[i] += u


@kernel
def _gather(src, idx, start, stop, dst):
    """dst[:stop - start] = the rows idx[start:stop] of src."""
    for r in range(stop - start):
        s, d = src[idx[start + r]], dst[r]
        for c in range(d.size):
            d[c] = s[c]


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
    accumulated = theta.dtype.type(0)
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        n = stop - start
        _gather(X, idx, start, stop, Xb)
        _gather(Y, idx, start, stop, Yb)
        for r in range(n if use_sw else 0):
            swb[r] = sw[idx[start + r]]
        loss = backprop(theta, coef_at, icpt_at, units, Xb[:n], Yb[:n], swb[:n], use_sw, hidden, out_act,
                        loss_kind, alpha, acts, deltas, grad, False)
        accumulated += loss * n
        sw_sum = weight_sum(swb[:n], use_sw, n, theta)
        if solver == ADAM:
            t += 1
            _adam_update(theta, grad, coef_at[-1], alpha, sw_sum, state1, state2, t, lr, beta_1, beta_2, epsilon)
        else:
            _sgd_update(theta, grad, coef_at[-1], alpha, sw_sum, state1, lr, momentum, nesterov)
    return accumulated, t


@kernel
def predict(theta, coef_at, icpt_at, units, X, hidden, out_act, out):
    """out (n, n_outputs) = the network's output for the rows of X, 1024 rows at a time."""
    chunk = min(1024, X.shape[0])
    acts = np.empty(workspace_size(units, chunk), theta.dtype)
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        res = forward(theta, coef_at, icpt_at, units, X[start:stop], hidden, out_act, acts)
        out[start:stop] = res
