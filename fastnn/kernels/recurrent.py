"""The recurrent layers (RNN, LSTM, GRU) over all time steps, one call per forward and one per backward.

Shapes: xs (N, T, D), h/c (N, H), hs/cs (N, T, H); gate blocks in the book's order (LSTM f, g, i, o; GRU z, r, h).
Every array is C-contiguous and of one float dtype. Forward multiplies all inputs by Wx in one BLAS product, then
loops over t with one ``h @ Wh`` per step and the gates elementwise, keeping the activated gates for backward.
Backward runs the reverse loop (one ``dA_t @ Wh.T`` per step, dA of every step kept) and then gets the weight
gradients as one product each: dWx = X^T dA, dWh = Hprev^T dA, db = column sums of dA, dxs = dA Wx^T. Results
differ from the book's per-step sums by float rounding only.
"""
import math

import numpy as np
from numba import types
from numba.extending import overload

from .._jit import ARITHMETIC_OPTIONS, kernel
from .arrays import copy_row, copy_rows
from .fastexp import vexp


def sigmoid_inplace(a):
    """a[:] = 1 / (1 + exp(-a)) without overflow: exp(-|v|) never overflows, each branch is used where it is exact.
    Kernels get the overload below, in a's dtype. The gate loops are split into such one-array loops: LLVM
    vectorises them, where one loop over all gates and states (eight arrays that might overlap) ran scalar, 3.6x
    slower (the book's seq2seq encoder forward took 10 ms against 2.8)."""
    for k in range(a.size):
        v = np.float64(a[k])
        e = vexp(-abs(v))
        a[k] = 1 / (1 + e) if v >= 0 else e / (1 + e)


# tanh's Taylor series beyond v: the coefficients of v**3, v**5, ..., v**11
_TANH_SERIES = (-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925)
# below these |v|, 1 - exp(-2|v|) would lose digits to cancellation and the series is used instead (relative
# truncation error < 3e-10 at float32's bound, < 1e-20 at float64's); above them (1 - e) / (1 + e) is within 2 ulp
# (float32) and 2e-15 (float64)
_TANH_SERIES_BELOW = {np.float32: 0.25, np.float64: 0.03}


def tanh_inplace(a):
    """a[:] = tanh(a) from the vectorisable exp (np.tanh, a libm call in kernels, is 15x slower): (1 - e) / (1 + e)
    with e = exp(-2|v|) and v's sign (tanh(-0.0) is -0.0), or the Taylor series near 0. Kernels get the overload
    below, in a's dtype."""
    c3, c5, c7, c9, c11 = _TANH_SERIES
    for k in range(a.size):
        v = np.float64(a[k])
        m = abs(v)
        e = vexp(-(m + m))
        m2 = m * m
        series = m * (1 + m2 * (c3 + m2 * (c5 + m2 * (c7 + m2 * (c9 + m2 * c11)))))
        a[k] = math.copysign(series if m < _TANH_SERIES_BELOW[np.float64] else (1 - e) / (1 + e), v)


_SCALAR_TYPE = {types.float32: np.float32, types.float64: np.float64}  # numba's dtype -> the NumPy scalar type


@overload(sigmoid_inplace, jit_options=ARITHMETIC_OPTIONS)
def _sigmoid_inplace_jit(a):
    one = _SCALAR_TYPE[a.dtype](1)  # typed constants: float32 stays float32 (a Python 1 would widen it to float64)

    def sigmoid_rows(a):
        for k in range(a.size):
            v = a[k]
            e = vexp(-abs(v))
            a[k] = (one if v >= 0 else e) / (one + e)
    return sigmoid_rows


@overload(tanh_inplace, jit_options=ARITHMETIC_OPTIONS)
def _tanh_inplace_jit(a):
    cast = _SCALAR_TYPE[a.dtype]
    one, below = cast(1), cast(_TANH_SERIES_BELOW[cast])
    c3, c5, c7, c9, c11 = (cast(c) for c in _TANH_SERIES)

    def tanh_rows(a):
        for k in range(a.size):
            v = a[k]
            m = abs(v)
            e = vexp(-(m + m))
            t = (one - e) / (one + e)
            m2 = m * m
            series = m * (one + m2 * (c3 + m2 * (c5 + m2 * (c7 + m2 * (c9 + m2 * c11)))))
            a[k] = math.copysign(series if m < below else t, v)
    return tanh_rows


@kernel(internal=True)
def _add_bias(a, step, b):
    """a += step + b (a pre-activation row: the input product, the recurrent product, the bias)."""
    for k in range(a.size):
        a[k] += step[k] + b[k]


@kernel(internal=True)
def _input_product(xs, Wx, out):
    """out (N, T, G) = xs (N, T, D) @ Wx (D, G), as one product over all N*T rows."""
    N, T, D = xs.shape
    np.dot(xs.reshape(N * T, D), Wx, out.reshape(N * T, out.shape[2]))


@kernel(internal=True)
def _previous_states(h0, hs, out):
    """out[:, 0] = h0, out[:, t] = hs[:, t - 1]: the state each step started from, row-aligned with dA."""
    N, T, H = hs.shape
    for n in range(N):
        for j in range(H):
            out[n, 0, j] = h0[n, j]
        for t in range(1, T):
            for j in range(H):
                out[n, t, j] = hs[n, t - 1, j]


@kernel(internal=True)
def _weight_gradients(xs, Wx, hprev, dA, dxs, dWx, dWh, db):
    """dWx = X^T dA, dWh = Hprev^T dA, db = sum of dA's rows, dxs = dA Wx^T (rows over all N*T)."""
    N, T, H = hprev.shape
    _weight_gradients_x(xs, Wx, dA, dxs, dWx, db)
    np.dot(hprev.reshape(N * T, H).T, dA.reshape(N * T, dA.shape[2]), dWh)


# _transposed_for_steps: the backward loops multiply by Wh.T once per step; a C-contiguous copy of Wh.T, made once
# per call, makes those products faster than on the transposed view (128x256 by 256x1024, float32: 0.66 against
# 0.85 ms a step, measured; the copy costs one pass over Wh).


# --- RNN: h' = tanh(x Wx + h Wh + b) ------------------------------------------------------------------------------
@kernel
def rnn_forward(xs, Wx, Wh, b, h, hs):
    """hs[:, t] = h_t for every step from the initial state in h; h ends as the last state."""
    N, T, H = hs.shape
    _input_product(xs, Wx, hs)
    step = np.empty((N, H), h.dtype)
    for t in range(T):
        np.dot(h, Wh, step)
        for n in range(N):
            a = hs[n, t]
            _add_bias(a, step[n], b)
            tanh_inplace(a)
            copy_row(h[n], a)


@kernel
def rnn_backward(xs, Wx, Wh, h0, hs, dhs, dh, dA, dxs, dWx, dWh, db):
    """Back through all steps: dh holds the gradient arriving from after the last step and ends as the gradient
    wrt h0; dA (N, T, H) receives every step's pre-activation gradient; writes dxs, dWx, dWh, db."""
    N, T, H = hs.shape
    dt = np.empty((N, H), dh.dtype)
    WhT = np.ascontiguousarray(Wh.T)  # see _transposed_for_steps
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                y = hs[n, t, j]
                v = (dhs[n, t, j] + dh[n, j]) * (1 - y * y)
                dt[n, j] = v
                dA[n, t, j] = v
        np.dot(dt, WhT, dh)
    hprev = np.empty_like(hs)
    _previous_states(h0, hs, hprev)
    _weight_gradients(xs, Wx, hprev, dA, dxs, dWx, dWh, db)


# --- LSTM: A = x Wx + h Wh + b; f, g, i, o = sig, tanh, sig, sig; c' = f c + g i; h' = o tanh(c') -----------------
@kernel
def lstm_forward(xs, Wx, Wh, b, h, c, gates, cs, tcs, hs):
    """gates (N, T, 4H) receives the activated f, g, i, o of every step, cs the cells, tcs tanh of the cells, hs
    the states; h and c hold the initial state and end as the last one."""
    N, T, H = hs.shape
    _input_product(xs, Wx, gates)
    step = np.empty((N, 4 * H), h.dtype)
    for t in range(T):
        np.dot(h, Wh, step)
        for n in range(N):
            a = gates[n, t]
            _add_bias(a, step[n], b)
            sigmoid_inplace(a[:H])
            tanh_inplace(a[H:2 * H])
            sigmoid_inplace(a[2 * H:])
            _lstm_cell(a, c[n], cs[n, t], tcs[n, t], hs[n, t])
            copy_row(h[n], hs[n, t])


@kernel(internal=True)
def _lstm_cell(a, c, cell, tanh_cell, h):
    """One row's cell update from its activated gates a = (f, g, i, o): c = f c + g i (also into cell),
    tanh_cell = tanh(c), h = o tanh(c)."""
    H = c.size
    for j in range(H):
        c[j] = a[j] * c[j] + a[H + j] * a[2 * H + j]
    copy_row(cell, c)
    copy_row(tanh_cell, c)
    tanh_inplace(tanh_cell)
    for j in range(H):
        h[j] = a[3 * H + j] * tanh_cell[j]


@kernel
def lstm_backward(xs, Wx, Wh, h0, c0, gates, cs, tcs, hs, dhs, dh, dc, dA, dxs, dWx, dWh, db):
    """Back through all steps: dh and dc hold the gradients arriving from after the last step and end as those
    wrt h0 and c0; dA (N, T, 4H) receives every step's gate gradient; writes dxs, dWx, dWh, db."""
    N, T, H = hs.shape
    dt = np.empty((N, 4 * H), dh.dtype)
    WhT = np.ascontiguousarray(Wh.T)  # see _transposed_for_steps
    one = np.ones(1, dh.dtype)[0]  # 1 in the arrays' dtype: a literal 1 would widen float32 arithmetic to float64
    for t in range(T - 1, -1, -1):
        for n in range(N):
            dht = dh[n]  # the step's whole gradient wrt h: from its output and from the step after it
            dht += dhs[n, t]
            _lstm_cell_backward(gates[n, t], tcs[n, t], c0[n] if t == 0 else cs[n, t - 1], dht, dc[n], dt[n], one)
            copy_row(dA[n, t], dt[n])
        np.dot(dt, WhT, dh)
    hprev = np.empty_like(hs)
    _previous_states(h0, hs, hprev)
    _weight_gradients(xs, Wx, hprev, dA, dxs, dWx, dWh, db)


@kernel(internal=True)
def _lstm_cell_backward(a, tanh_cell, c_prev, dh, dc, d, one):
    """One row back through a cell: from the activated gates a = (f, g, i, o), tanh of the cell, the previous cell
    and the gradients dh, dc arriving at h and c, d receives the gates' pre-activation gradients and dc becomes the
    gradient wrt the previous cell (``one``: 1 in the arrays' dtype). One loop per output array, as in forward:
    LLVM vectorises loops that write one array."""
    H = dc.size
    f, g, i, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
    ds, dg, di, do = d[:H], d[H:2 * H], d[2 * H:3 * H], d[3 * H:]
    for j in range(H):  # the cell's whole gradient, kept in d's f block until that block's turn comes last
        tc = tanh_cell[j]
        ds[j] = dc[j] + dh[j] * o[j] * (one - tc * tc)
    for j in range(H):
        dg[j] = ds[j] * i[j] * (one - g[j] * g[j])
    for j in range(H):
        di[j] = ds[j] * g[j] * (i[j] * (one - i[j]))
    for j in range(H):
        dc[j] = ds[j] * f[j]  # now the gradient wrt the previous cell
    for j in range(H):
        do[j] = dh[j] * tanh_cell[j] * (o[j] * (one - o[j]))
    for j in range(H):
        ds[j] *= c_prev[j] * (f[j] * (one - f[j]))  # the f gate's gradient, in place


# --- GRU: z, r = sig(x Wx + h Wh + b); hh = tanh(x Wxh + (r h) Whh + bh); h' = (1 - z) h + z hh -------------------
@kernel
def gru_forward(xs, Wx, Wh, b, h, gates, hprev, rh, hs):
    """gates (N, T, 3H) receives z, r, hh of every step; hprev and rh (T, N, H), time-major, the state each step
    started from and r * that state; hs the states; h holds the initial state and ends as the last one."""
    N, T, H = hs.shape
    _input_product(xs, Wx, gates)
    Wzr, Whh = np.ascontiguousarray(Wh[:, :2 * H]), np.ascontiguousarray(Wh[:, 2 * H:])
    zr, candidate = np.empty((N, 2 * H), h.dtype), np.empty((N, H), h.dtype)
    for t in range(T):
        copy_rows(hprev[t], h)
        np.dot(h, Wzr, zr)
        for n in range(N):
            a = gates[n, t]
            _add_bias(a[:2 * H], zr[n], b[:2 * H])
            sigmoid_inplace(a[:2 * H])
            for j in range(H):
                rh[t, n, j] = a[H + j] * h[n, j]
        np.dot(rh[t], Whh, candidate)
        for n in range(N):
            a = gates[n, t]
            _add_bias(a[2 * H:], candidate[n], b[2 * H:])
            tanh_inplace(a[2 * H:])
            for j in range(H):
                z = a[j]
                h[n, j] = (1 - z) * h[n, j] + z * a[2 * H + j]
            copy_row(hs[n, t], h[n])


@kernel
def gru_backward(xs, Wx, Wh, gates, hprev, rh, dhs, dh, dA, dxs, dWx, dWh, db):
    """Back through all steps (hprev, rh as gru_forward left them): dh holds the gradient arriving from after the
    last step and ends as the gradient wrt h0; dA (N, T, 3H) receives every step's pre-activation gradient;
    writes dxs, dWx, dWh, db."""
    N, T, H = dhs.shape
    WzrT, WhhT = np.ascontiguousarray(Wh[:, :2 * H].T), np.ascontiguousarray(Wh[:, 2 * H:].T)  # see
    # _transposed_for_steps
    dzr, dhh = np.empty((T, N, 2 * H), dh.dtype), np.empty((T, N, H), dh.dtype)
    dhr, direct = np.empty((N, H), dh.dtype), np.empty((N, H), dh.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                z, hh = gates[n, t, j], gates[n, t, 2 * H + j]
                dhh[t, n, j] = dA[n, t, 2 * H + j] = (dhs[n, t, j] + dh[n, j]) * z * (1 - hh * hh)
        np.dot(dhh[t], WhhT, dhr)  # the gradient wrt r * h
        for n in range(N):
            for j in range(H):
                z, r, hh = gates[n, t, j], gates[n, t, H + j], gates[n, t, 2 * H + j]
                hp, dht = hprev[t, n, j], dhs[n, t, j] + dh[n, j]
                dzr[t, n, j] = dA[n, t, j] = dht * (hh - hp) * (z * (1 - z))
                dzr[t, n, H + j] = dA[n, t, H + j] = dhr[n, j] * hp * (r * (1 - r))
                direct[n, j] = dht * (1 - z) + r * dhr[n, j]
        np.dot(dzr[t], WzrT, dh)
        for n in range(N):
            for j in range(H):
                dh[n, j] += direct[n, j]
    _gru_weight_gradients(xs, Wx, hprev, rh, dA, dzr, dhh, dxs, dWx, dWh, db)


@kernel(internal=True)
def _gru_weight_gradients(xs, Wx, hprev, rh, dA, dzr, dhh, dxs, dWx, dWh, db):
    """As _weight_gradients, but dWh's z and r blocks come from Hprev and its h block from r * Hprev (both
    time-major, as dzr and dhh)."""
    T, N, H = hprev.shape
    _weight_gradients_x(xs, Wx, dA, dxs, dWx, db)
    zr_part, h_part = np.empty((H, 2 * H), dWh.dtype), np.empty((H, H), dWh.dtype)
    np.dot(hprev.reshape(T * N, H).T, dzr.reshape(T * N, 2 * H), zr_part)
    np.dot(rh.reshape(T * N, H).T, dhh.reshape(T * N, H), h_part)
    copy_rows(dWh[:, :2 * H], zr_part)
    copy_rows(dWh[:, 2 * H:], h_part)


@kernel(internal=True)
def _weight_gradients_x(xs, Wx, dA, dxs, dWx, db):
    """dWx = X^T dA, db = sum of dA's rows, dxs = dA Wx^T."""
    N, T, D = xs.shape
    G = dA.shape[2]
    x2, d2 = xs.reshape(N * T, D), dA.reshape(N * T, G)
    np.dot(x2.T, d2, dWx)
    db[:] = 0
    for r in range(N * T):
        for k in range(G):
            db[k] += d2[r, k]
    np.dot(d2, Wx.T, dxs.reshape(N * T, D))
