"""Kernels for Raschka's ``NeuralNetMLP`` (fastnn/mlp.py): sigmoid hidden and output layers, logistic cost,
minibatch gradient descent with L2 on the weights.

All arrays share one float dtype (float32 or float64) and are C-contiguous; labels are intp vectors the caller has
range-checked. Every elementwise pass repeats the book's formula with the same association, so results match the
NumPy code to rounding: only the summation order inside dot products and sums differs.

``sgd_epoch`` runs a whole epoch of minibatches in compiled code: with the book's default ``minibatch_size=1`` the
per-minibatch work is tiny and NumPy's per-call overhead is what the book code spends its time on. Single-row
minibatches take a fused loop path (``row_step``: no BLAS calls, no gradient buffers, each weight read and
written once); larger ones use BLAS for the five matrix products.
"""
import numpy as np

from .._jit import kernel
from .fastexp import vexp

SIGMOID_CLIP = 250.0  # the book's sigmoid clips its input to [-250, 250]


@kernel
def _sigmoid(z, lim, one):
    """The book's 1 / (1 + exp(-clip(z, -lim, lim))) for one scalar; NaN passes through the clip."""
    zc = -lim if z < -lim else (lim if z > lim else z)
    return one / (one + vexp(-zc))


@kernel(internal=True)
def _add_bias_sigmoid(z, b, a):
    """z += b (row-wise), a = sigmoid(z); ``a`` may be ``z`` itself when z is not needed afterwards."""
    lim, one = z.dtype.type(SIGMOID_CLIP), z.dtype.type(1.0)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + b[j]
            z[i, j] = v
            a[i, j] = _sigmoid(v, lim, one)


@kernel
def sigmoid(z, out):
    """Elementwise clipped sigmoid of a 1-D array."""
    lim, one = z.dtype.type(SIGMOID_CLIP), z.dtype.type(1.0)
    for i in range(z.size):
        out[i] = _sigmoid(z[i], lim, one)


@kernel
def forward(X, w_h, b_h, w_out, b_out, z_h, a_h, z_out, a_out):
    """The book's ``_forward``: z_h = X w_h + b_h, a_h = sigmoid(z_h), z_out = a_h w_out + b_out, a_out."""
    np.dot(X, w_h, z_h)
    _add_bias_sigmoid(z_h, b_h, a_h)
    np.dot(a_h, w_out, z_out)
    _add_bias_sigmoid(z_out, b_out, a_out)


@kernel
def logistic_cost(a_out, y):
    """sum(-y_enc * log(a_out) - (1 - y_enc) * log(1 - a_out)) with y_enc the one-hot rows of labels y.

    Written term by term as the book does so that a saturated output (a_out == 1) gives the same inf/nan.
    Accumulates in float64."""
    one = a_out.dtype.type(1.0)
    zero = a_out.dtype.type(0.0)
    total = 0.0
    for i in range(a_out.shape[0]):
        for k in range(a_out.shape[1]):
            t = one if k == y[i] else zero
            a = a_out[i, k]
            total += (-t) * np.log(a) - (one - t) * np.log(one - a)
    return total


@kernel
def argmax_rows(z, out):
    """out[i] = np.argmax(z[i]): first index of the maximum, a NaN counting as the maximum."""
    for i in range(z.shape[0]):
        best = 0
        for j in range(1, z.shape[1]):
            v, m = z[i, j], z[i, best]
            if v > m or (v != v and m == m):
                best = j
        out[i] = best


# ------------------------------------------------------------------------------------------------- training
@kernel
def _update(w, g, eta, l2):
    """The book's ``w -= eta * (grad + l2 * w)``, elementwise on 2-D arrays."""
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            w[i, j] = w[i, j] - eta * (g[i, j] + l2 * w[i, j])


@kernel(internal=True)
def _update_bias(b, delta, eta):
    """The book's ``b -= eta * np.sum(delta, axis=0)`` (biases are not regularised)."""
    for j in range(b.size):
        s = delta[0, j]
        for i in range(1, delta.shape[0]):
            s += delta[i, j]
        b[j] = b[j] - eta * s


@kernel(internal=True)
def _hidden_delta(d_h, a_h):
    """delta_h = (delta_out w_out^T) * (a_h * (1 - a_h)), with the product already in d_h."""
    one = a_h.dtype.type(1.0)
    for i in range(d_h.shape[0]):
        for j in range(d_h.shape[1]):
            a = a_h[i, j]
            d_h[i, j] = d_h[i, j] * (a * (one - a))


@kernel(internal=True)
def _output_delta(a_out, y):
    """delta_out = a_out - y_enc, in place: only each row's label column changes."""
    one = a_out.dtype.type(1.0)
    for i in range(a_out.shape[0]):
        a_out[i, y[i]] = a_out[i, y[i]] - one


@kernel(internal=True)
def minibatch_step(xb, yb, eta, l2, w_h, b_h, w_out, b_out, a_h, d_out, d_h, g_w_h, g_w_out):
    """One gradient step of the book's fit loop on the minibatch (xb, yb); the other arrays are buffers of
    the minibatch's shapes: a_h and d_h (rows, n_hidden), d_out (rows, n_output), gradients as the weights."""
    # forward (z_h and z_out are not needed: the sigmoids overwrite them)
    np.dot(xb, w_h, a_h)
    _add_bias_sigmoid(a_h, b_h, a_h)
    np.dot(a_h, w_out, d_out)
    _add_bias_sigmoid(d_out, b_out, d_out)
    # backpropagation: every gradient from the weights before this step's update, as in the book
    _output_delta(d_out, yb)
    np.dot(d_out, w_out.T, d_h)
    _hidden_delta(d_h, a_h)
    np.dot(xb.T, d_h, g_w_h)
    np.dot(a_h.T, d_out, g_w_out)
    _update(w_h, g_w_h, eta, l2)
    _update_bias(b_h, d_h, eta)
    _update(w_out, g_w_out, eta, l2)
    _update_bias(b_out, d_out, eta)


@kernel(internal=True)
def _vec_mat(v, m, out):
    """out = v @ m, accumulated over v's entries so the inner loop runs along m's rows."""
    out[:] = 0
    for i in range(v.size):
        vi = v[i]
        for j in range(out.size):
            out[j] += vi * m[i, j]


@kernel(internal=True)
def _outer_update(u, v, w, eta, l2):
    """w -= eta * (outer(u, v) + l2 * w)."""
    for i in range(u.size):
        ui = u[i]
        for j in range(v.size):
            w[i, j] = w[i, j] - eta * (ui * v[j] + l2 * w[i, j])


@kernel(internal=True)
def row_step(x, y, eta, l2, w_h, b_h, w_out, b_out, a_h, d_out, d_h):
    """minibatch_step for a single example (x, label y), fused into loops: for one row the gradient
    x.T @ delta_h is an outer product, so each weight update computes its gradient entry in place."""
    one, lim = x.dtype.type(1.0), x.dtype.type(SIGMOID_CLIP)
    # forward: a_h = sigmoid(x w_h + b_h), d_out = sigmoid(a_h w_out + b_out)
    _vec_mat(x, w_h, a_h)
    for j in range(a_h.size):
        a_h[j] = _sigmoid(a_h[j] + b_h[j], lim, one)
    _vec_mat(a_h, w_out, d_out)
    for k in range(d_out.size):
        d_out[k] = _sigmoid(d_out[k] + b_out[k], lim, one)
    # backpropagation
    d_out[y] = d_out[y] - one
    for j in range(d_h.size):
        s = d_out[0] * w_out[j, 0]
        for k in range(1, d_out.size):
            s += d_out[k] * w_out[j, k]
        a = a_h[j]
        d_h[j] = s * (a * (one - a))
    # updates w -= eta * (grad + l2 * w), b -= eta * delta
    _outer_update(x, d_h, w_h, eta, l2)
    _outer_update(a_h, d_out, w_out, eta, l2)
    for j in range(b_h.size):
        b_h[j] = b_h[j] - eta * d_h[j]
    for k in range(b_out.size):
        b_out[k] = b_out[k] - eta * d_out[k]


@kernel
def sgd_epoch(X, y, indices, eta, l2, w_h, b_h, w_out, b_out, xb, yb, a_h, d_out, d_h, g_w_h, g_w_out):
    """One epoch of the book's minibatch loop: consecutive slices of ``indices`` (already shuffled or not) of
    xb.shape[0] rows each; a trailing partial minibatch is skipped, as in the book."""
    rows = xb.shape[0]
    if rows == 1:
        for i in indices:
            row_step(X[i], y[i], eta, l2, w_h, b_h, w_out, b_out, a_h[0], d_out[0], d_h[0])
        return
    for start in range(0, indices.size - rows + 1, rows):
        for r in range(rows):
            i = indices[start + r]
            yb[r] = y[i]
            for f in range(X.shape[1]):
                xb[r, f] = X[i, f]
        minibatch_step(xb, yb, eta, l2, w_h, b_h, w_out, b_out, a_h, d_out, d_h, g_w_h, g_w_out)
