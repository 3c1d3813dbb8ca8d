"""Structure-aware central differences for the books' fully connected nets (Affine layers, ReLU or sigmoid
hidden activations, optional batch normalisation, softmax + cross-entropy on the scores).

The book's numerical gradient runs two full loss evaluations per parameter. These kernels produce the same
central difference (f(p + h) - f(p - h)) / 2h from what a perturbation actually changes:

* perturbing W_l[i, j] by d changes only column j of the pre-activation a_l, by d * z_{l-1}[:, i] (z_0 = x);
  b_l[j] changes it by d. d is the *effective* step, fl(w + h) - w, i.e. what the book's in-place write does.
* without batch normalisation rows are independent: only rows whose input is non-zero and whose activation
  changed are propagated (a rank-1 change of the next pre-activation, then row updates), and the loss difference
  is the sum over those rows of ce_plus[r] - ce_minus[r], divided by N, plus the exact weight-decay difference
  0.5 * lambda * (p1^2 - p2^2).
* a row's new cross-entropy comes from the base row's exp(s - max s) (E) and their sum (S): softmax ignores a
  common shift, so a change ds of the scores turns E_k into E_k * (1 + expm1(ds_k)), and for |ds| <= SMALL (the
  usual case: ds ~ h * |x| * |w|) the new denominator is S + sum_k E_k * expm1(ds_k), with expm1 a short
  polynomial: no exp, no max, and no cancellation in ce_plus - ce_minus. Larger changes recompute the row.
* the hot case, a unit of the last hidden layer, runs vectorised over the units j of one row (W_L transposed),
  and takes ce_plus - ce_minus as one log of a ratio.
* batch normalisation couples the rows (batch mean and variance): every evaluation recomputes the forward pass
  from the perturbed layer on, over all rows, and applies the running-statistics update of every BN layer, in
  the book's order (the book runs each evaluation in training mode).

Layout (prepared by fastnn.netgrad): ``sizes`` = layer widths (D_0 = features, ..., D_L = classes);
``P`` = every parameter flattened and concatenated in the book's key order (W1, b1[, gamma1, beta1], W2, ...),
``grad`` the same layout. A layer's block is its W rows, then b (then gamma, beta): one "unit" is one of those
rows of D_l values, so unit i of layer l lives at P[off[l] + i * D_l:][:D_l]. ``X`` is x flattened (N * D_0).
Activations are flat too: block l of ``A`` holds a_l (N x D_l, l = 1..L, a_L = scores), block m of ``Z`` holds
z_m (m = 0..L-1, z_0 = x). Perturbed values are computed in the parameters' dtype; sums (softmax denominators,
loss differences, batch statistics) accumulate in float64. No BLAS: parallel tasks never run it concurrently.
"""
import math

import numpy as np
from numba import prange

from .._jit import kernel
from .fastexp import vexp

RELU = 0
SIGMOID = 1
CHUNK = 8  # units per parallel task: fixed, so a parameter's value never depends on the thread count
ZERO, ONE = np.int64(0), np.int64(1)  # int64 arguments (literal 0 and 1 would compile second versions)


# --- layout ------------------------------------------------------------------------------------------------------
@kernel
def _layout(sizes, n, bn):
    """Offsets of each layer's parameter block (off), of a_l in A (aoff), z_m in Z (zoff) and of the BN
    statistics of hidden layer l (soff); units per layer (units). bn: hidden layers carry gamma and beta."""
    L = sizes.size - 1
    off = np.zeros(L + 2, np.int64)
    aoff = np.zeros(L + 2, np.int64)
    zoff = np.zeros(L + 1, np.int64)
    soff = np.zeros(L + 1, np.int64)
    units = np.zeros(L + 1, np.int64)
    for l in range(1, L + 1):
        units[l] = sizes[l - 1] + 1 + (2 if bn and l < L else 0)
        off[l + 1] = off[l] + units[l] * sizes[l]
        aoff[l + 1] = aoff[l] + n * sizes[l]
        soff[l] = soff[l - 1] + (sizes[l - 1] if l > 1 else 0)
    for m in range(1, L + 1):
        zoff[m] = zoff[m - 1] + n * sizes[m - 1]
    return off, aoff, zoff, soff, units


@kernel
def _n_units(sizes, bn):
    """Rows of all parameter blocks (W rows, b, gamma, beta)."""
    L = sizes.size - 1
    total = 0
    for l in range(1, L + 1):
        total += sizes[l - 1] + 1 + (2 if bn and l < L else 0)
    return total


@kernel
def _widest(sizes):
    width = sizes[0]
    for d in sizes:
        width = max(width, d)
    return width


@kernel
def _copy(src, s0, dst, d0, n):
    """dst[d0:d0+n] = src[s0:s0+n] (a loop: slice assignment would compile numba's generic setitem)."""
    for k in range(n):
        dst[d0 + k] = src[s0 + k]


@kernel
def _locate(unit, units):
    """(layer, row of its parameter block) of a global unit index."""
    l = 1
    while unit >= units[l]:
        unit -= units[l]
        l += 1
    return l, unit


# --- elementwise pieces ------------------------------------------------------------------------------------------
SMALL = 1.0 / 256  # score changes up to this size take the shift formula of _ce_shifted


@kernel
def _act(v, act):
    """The book's ReLU (x <= 0 -> 0, NaN passes) or sigmoid (fastnn's stable form)."""
    if act == RELU:
        return 0.0 if v <= 0 else v
    e = vexp(-abs(v))
    return 1 / (1 + e) if v >= 0 else e / (1 + e)


@kernel
def _expm1_small(y):
    """exp(y) - 1 for |y| <= SMALL, without the cancellation of exp(y) - 1: Taylor polynomial of degree 5, whose
    truncation error (< y^6 / 720 < 5e-18) is far below the float64 rounding of the loss."""
    p = 1.0 / 120.0
    p = p * y + 1.0 / 24.0
    p = p * y + 1.0 / 6.0
    p = p * y + 0.5
    p = p * y + 1.0
    return p * y


@kernel
def _row_exp(s, s0, n, E, e0):
    """E[e0:e0+n] = exp(s[s0:s0+n] - max) in float64; returns their sum (the softmax denominator)."""
    m = np.float64(s[s0])
    for k in range(1, n):
        m = max(m, np.float64(s[s0 + k]))
    for k in range(n):
        E[e0 + k] = vexp(np.float64(s[s0 + k]) - m)
    total = 0.0
    for k in range(n):
        total += E[e0 + k]
    return total


@kernel
def _row_ce(s, s0, n, label, delta, e):
    """-log(softmax(s[s0:s0+n])[label] + delta), the book's per-row cross-entropy; e: float64 scratch."""
    total = _row_exp(s, s0, n, e, ZERO)
    return -math.log(e[label] / total + delta)


@kernel
def _ce_shifted(A, a0, E, e0, S, ds, n, label, delta, v, e):
    """The book's per-row cross-entropy -log(softmax(s')[label] + delta) of the scores s' = s + ds, where
    s = A[a0:a0+n] is a base row with E[e0:e0+n] = exp(s - max s) and S = sum(E); ds are float64 changes.

    Softmax ignores a common shift, so exp(s' - max s) = E * (1 + expm1(ds)): for small ds the new denominator
    is S plus the sum of the changes E * expm1(ds), which keeps the loss difference to the base row free of
    cancellation and costs no exp. Larger changes recompute the row (v: scratch in the scores' dtype)."""
    big = 0.0
    for k in range(n):
        big = max(big, abs(ds[k]))
    if big <= SMALL:
        for k in range(n):
            e[k] = E[e0 + k] * _expm1_small(ds[k])
        total = S
        for k in range(n):
            total += e[k]
        return -math.log((E[e0 + label] + e[label]) / total + delta)
    for k in range(n):
        v[k] = A[a0 + k] + ds[k]
    return _row_ce(v, ZERO, n, label, delta, e)


@kernel
def _affine_rows(src, s0, n, din, P, w0, dout, dst, d0):
    """dst[d0 + r*dout + j] = sum_k src[s0 + r*din + k] * W[k, j] + b[j] for r < n; W at P[w0], b right after."""
    b0 = w0 + din * dout
    for r in range(n):
        o = d0 + r * dout
        for j in range(dout):
            dst[o + j] = 0
        for k in range(din):
            v = src[s0 + r * din + k]
            wk = w0 + k * dout
            for j in range(dout):
                dst[o + j] += v * P[wk + j]
        for j in range(dout):
            dst[o + j] += P[b0 + j]


@kernel
def _decay_difference(w, h, lam):
    """0.5 * lambda * (p1^2 - p2^2) for the two values the book writes into W, p1 = w + h and p2 = w - h."""
    p1 = np.float64(w + h)
    p2 = np.float64(w - h)
    return 0.5 * lam * (p1 * p1 - p2 * p2)


# --- nets without batch normalisation: row-sparse propagation ------------------------------------------------
@kernel
def _dense_forward(X, labels, sizes, act, P, delta, A, Z, E, S, ce):
    """Base pass: a_l, z_l for every layer, exp(scores - row max) (E), their row sums (S) and the per-row
    cross-entropy (ce), all three in float64."""
    n = labels.size
    L = sizes.size - 1
    C = sizes[L]
    off, aoff, zoff, _, _ = _layout(sizes, n, False)
    _copy(X, ZERO, Z, ZERO, X.size)
    for l in range(1, L + 1):
        _affine_rows(Z, zoff[l - 1], n, sizes[l - 1], P, off[l], sizes[l], A, aoff[l])
        if l < L:
            for q in range(n * sizes[l]):
                Z[zoff[l] + q] = _act(A[aoff[l] + q], act)
    for r in range(n):
        S[r] = _row_exp(A, aoff[L] + r * C, C, E, r * C)
        ce[r] = -math.log(E[r * C + labels[r]] / S[r] + delta)


@kernel
def _deep_change(l, j, r, dz, sizes, act, P, A, Z, off, aoff, zoff, v, v2, zb, ds):
    """Score changes ds (float64) of row r when z_l[r, j] moves by dz, for l < L - 1: the next pre-activation
    row moves by dz * W_{l+1}[j, :], and each deeper layer is updated from the activations that changed."""
    L = sizes.size - 1
    dn = sizes[l + 1]
    w0 = off[l + 1] + j * dn
    for k in range(dn):
        v[k] = A[aoff[l + 1] + r * dn + k] + dz * P[w0 + k]
    for m in range(l + 1, L):
        dm, dn = sizes[m], sizes[m + 1]
        for k in range(dm):
            zb[k] = _act(v[k], act)
        if m + 1 < L:
            for k in range(dn):
                v2[k] = A[aoff[m + 1] + r * dn + k]
        else:
            for k in range(dn):
                v2[k] = 0.0  # the last step collects the score changes themselves
        for k in range(dm):
            dzk = zb[k] - Z[zoff[m] + r * dm + k]
            if dzk != 0:
                wk = off[m + 1] + k * dn
                for q in range(dn):
                    v2[q] += dzk * P[wk + q]
        if m + 1 < L:
            for k in range(dn):
                v[k] = v2[k]
    for q in range(sizes[L]):
        ds[q] = v2[q]


@kernel
def _last_hidden_row(r, u, dp, dm, act, A, a0, Z, z0, dout, E, e0, S, label, delta, WT, wmax, C, zb, work, acc):
    """Add ce_plus[r] - ce_minus[r] to acc[j] for every unit j of the last hidden layer (a_{L-1}[r, j] moved by
    dp[j] * u, resp. dm[j] * u): vectorised over j, with the shift formula of _ce_shifted (W_L transposed in WT,
    float64). Returns whether some unit's score change was too large for it (work[6, j] = 1 marks those)."""
    dz_p, dz_m, ds_p, ds_m, dt_p, dt_m, big = work[0], work[1], work[2], work[3], work[4], work[5], work[6]
    zp, zm = zb[0], zb[1]
    for j in range(dout):
        a = A[a0 + j]
        zp[j] = _act(a + dp[j] * u, act)
        zm[j] = _act(a + dm[j] * u, act)
    for j in range(dout):
        dz_p[j] = zp[j] - Z[z0 + j]
        dz_m[j] = zm[j] - Z[z0 + j]
        ds_p[j] = 0.0
        ds_m[j] = 0.0
        big[j] = 1.0 if max(abs(dz_p[j]), abs(dz_m[j])) * wmax[j] > SMALL else 0.0
    # score k moves by dz * W_L[j, k]: the denominators move by sum_k E_k * expm1(dz * W_L[j, k])
    for k in range(C):
        ek = E[e0 + k]
        w0 = k * dout
        for j in range(dout):
            t_p = ek * _expm1_small(dz_p[j] * WT[w0 + j])
            t_m = ek * _expm1_small(dz_m[j] * WT[w0 + j])
            ds_p[j] += t_p
            ds_m[j] += t_m
            if k == label:  # the numerator's own change
                dt_p[j] = t_p
                dt_m[j] = t_m
    some_big = False
    et = E[e0 + label]
    for j in range(dout):
        if big[j] != 0.0:
            some_big = True
        elif dz_p[j] != 0 or dz_m[j] != 0:
            q_p = (et + dt_p[j]) / (S + ds_p[j]) + delta
            q_m = (et + dt_m[j]) / (S + ds_m[j]) + delta
            acc[j] += math.log(q_m / q_p)  # -log(q_p) - (-log(q_m))
    return some_big


@kernel
def _dense_units(start, stop, labels, sizes, act, P, lam, h, delta, A, Z, E, S, ce, WT, wmax, grad):
    """Gradient of the parameters of units [start, stop): a task's whole work, with its own buffers."""
    n = labels.size
    L = sizes.size - 1
    C = sizes[L]
    off, aoff, zoff, _, units = _layout(sizes, n, False)
    width = _widest(sizes)
    rows = np.empty(n, np.int64)
    u = np.empty(n, P.dtype)
    dp = np.empty(width, P.dtype)
    dm = np.empty(width, P.dtype)
    acc = np.empty(width, np.float64)
    zb = np.empty((2, width), P.dtype)
    work = np.empty((7, width), np.float64)
    v = np.empty(width, P.dtype)
    v2 = np.empty(width, np.float64)
    ds = np.empty(C, np.float64)
    e = np.empty(C, np.float64)
    for unit in range(start, stop):
        l, i = _locate(unit, units)
        din, dout = sizes[l - 1], sizes[l]
        base = off[l] + i * dout
        nrows = 0  # rows where the perturbation reaches a_l: input value != 0 (all rows for the bias)
        for r in range(n):
            u[nrows] = Z[zoff[l - 1] + r * din + i] if i < din else 1
            if u[nrows] != 0:
                rows[nrows] = r
                nrows += 1
        for j in range(dout):
            w = P[base + j]
            dp[j] = (w + h) - w  # the effective steps of the book's writes p = w + h, p = w - h
            dm[j] = (w - h) - w
            acc[j] = 0.0
        for q in range(nrows):
            r = rows[q]
            a0 = aoff[L] + r * C
            if l == L:  # an output-layer parameter: score j of row r moves by d * u
                for k in range(C):
                    ds[k] = 0.0
                for j in range(dout):
                    ds[j] = dp[j] * u[q]
                    plus = _ce_shifted(A, a0, E, r * C, S[r], ds, C, labels[r], delta, v, e)
                    ds[j] = dm[j] * u[q]
                    minus = _ce_shifted(A, a0, E, r * C, S[r], ds, C, labels[r], delta, v, e)
                    ds[j] = 0.0
                    acc[j] += plus - minus
                continue
            if l == L - 1 and not _last_hidden_row(r, u[q], dp, dm, act, A, aoff[l] + r * dout, Z,
                                                   zoff[l] + r * dout, dout, E, r * C, S[r], labels[r], delta, WT,
                                                   wmax, C, zb, work, acc):
                continue
            for j in range(dout):  # one unit at a time: deeper nets, or score changes too large for the above
                if l == L - 1 and work[6, j] == 0.0:
                    continue
                a = A[aoff[l] + r * dout + j]
                z = Z[zoff[l] + r * dout + j]
                plus = minus = ce[r]
                for sign in range(2):  # z_l[r, j] moves by dz: the scores move by ds
                    zb[0, 0] = _act(a + (dp[j] if sign == 0 else dm[j]) * u[q], act)
                    dz = zb[0, 0] - z
                    if dz == 0:
                        continue
                    if l == L - 1:
                        w0 = off[L] + j * C
                        for k in range(C):
                            ds[k] = np.float64(dz) * P[w0 + k]
                    else:
                        _deep_change(l, j, r, dz, sizes, act, P, A, Z, off, aoff, zoff, v, v2, zb[1], ds)
                    loss = _ce_shifted(A, a0, E, r * C, S[r], ds, C, labels[r], delta, v, e)
                    if sign == 0:
                        plus = loss
                    else:
                        minus = loss
                acc[j] += plus - minus
        for j in range(dout):
            diff = acc[j] / n
            if i < din:
                diff += _decay_difference(P[base + j], h, lam)
            grad[base + j] = diff / (2 * h)


@kernel
def _dense_base(X, labels, sizes, act, P, delta):
    """Base pass and its arrays: A, Z, E, S, ce (see _dense_forward), W_L transposed (float64) and the largest
    |W_L[j, k]| of each row j, which bounds the score changes of unit j of the last hidden layer."""
    n = labels.size
    L = sizes.size - 1
    off, aoff, zoff, _, _ = _layout(sizes, n, False)
    A = np.empty(aoff[L + 1], P.dtype)
    Z = np.empty(zoff[L], P.dtype)
    E = np.empty(n * sizes[L], np.float64)
    S = np.empty(n, np.float64)
    ce = np.empty(n, np.float64)
    _dense_forward(X, labels, sizes, act, P, delta, A, Z, E, S, ce)
    H, C = sizes[L - 1], sizes[L]
    WT = np.empty(C * H, np.float64)
    wmax = np.empty(H, np.float64)
    for j in range(H):
        wmax[j] = 0.0
        for k in range(C):
            w = P[off[L] + j * C + k]
            WT[k * H + j] = w
            wmax[j] = max(wmax[j], abs(w))
    return A, Z, E, S, ce, WT, wmax


@kernel
def dense_netgrad(X, labels, sizes, act, P, lam, h, delta, grad):
    """Numerical gradient of a net without batch normalisation, one thread."""
    A, Z, E, S, ce, WT, wmax = _dense_base(X, labels, sizes, act, P, delta)
    total = _n_units(sizes, False)
    _dense_units(ZERO, total, labels, sizes, act, P, lam, h, delta, A, Z, E, S, ce, WT, wmax, grad)


@kernel(parallel=True)
def dense_netgrad_parallel(X, labels, sizes, act, P, lam, h, delta, grad):
    """dense_netgrad with fixed-size chunks of units spread over threads: every parameter's value is computed by
    the same code from the same base pass, so the result is identical bit for bit to the serial kernel."""
    A, Z, E, S, ce, WT, wmax = _dense_base(X, labels, sizes, act, P, delta)
    total = _n_units(sizes, False)
    n_chunks = (total + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        _dense_units(c * CHUNK, min(total, (c + 1) * CHUNK), labels, sizes, act, P, lam, h, delta, A, Z, E, S, ce,
                     WT, wmax, grad)


# --- nets with batch normalisation: full forward from the perturbed layer on -------------------------------------
@kernel
def _batch_stats(M, m0, n, d, mu, var, s0, acc):
    """Training-mode batch mean and (biased) variance of the columns of M[m0:] (n x d), as the book computes
    them (sum over rows / n), into mu[s0:], var[s0:]; acc is float64 scratch (d values)."""
    for k in range(d):
        acc[k] = 0.0
    for r in range(n):
        for k in range(d):
            acc[k] += M[m0 + r * d + k]
    for k in range(d):
        mu[s0 + k] = acc[k] / n
    for k in range(d):
        acc[k] = 0.0
    for r in range(n):
        for k in range(d):
            c = M[m0 + r * d + k] - mu[s0 + k]
            acc[k] += c * c
    for k in range(d):
        var[s0 + k] = acc[k] / n


@kernel
def _normalise(M, m0, n, d, mu, var, s0, eps, XN, x0):
    """XN[x0:] = (M[m0:] - mu) / sqrt(var + eps), column statistics at mu[s0:], var[s0:]."""
    for k in range(d):
        std = np.sqrt(var[s0 + k] + eps)
        for r in range(n):
            XN[x0 + r * d + k] = (M[m0 + r * d + k] - mu[s0 + k]) / std


@kernel
def _scale_shift_act(XN, x0, n, d, P, g0, act, Z, z0):
    """Z[z0:] = act(gamma * XN[x0:] + beta), gamma at P[g0:], beta right after."""
    for r in range(n):
        for k in range(d):
            Z[z0 + r * d + k] = _act(P[g0 + k] * XN[x0 + r * d + k] + P[g0 + d + k], act)


@kernel
def _running_update(RM, RV, s0, d, mom, cmom, mu, var, m0):
    """One training-mode forward's update of a BN layer's running statistics RM[s0:], RV[s0:] (the book's
    momentum recurrence, same operations) from the batch statistics mu[m0:], var[m0:]."""
    for k in range(d):
        RM[s0 + k] = mom * RM[s0 + k] + cmom * mu[m0 + k]
        RV[s0 + k] = mom * RV[s0 + k] + cmom * var[m0 + k]


@kernel
def _bn_forward(X, sizes, act, P, eps, A, XN, Z, MU, VAR, acc):
    """Base training-mode pass: a_l, normalised a_l (XN, same layout as A), z_l and batch statistics."""
    n = X.size // sizes[0]
    L = sizes.size - 1
    off, aoff, zoff, soff, _ = _layout(sizes, n, True)
    _copy(X, ZERO, Z, ZERO, X.size)
    for l in range(1, L + 1):
        din, dl = sizes[l - 1], sizes[l]
        _affine_rows(Z, zoff[l - 1], n, din, P, off[l], dl, A, aoff[l])
        if l < L:
            _batch_stats(A, aoff[l], n, dl, MU, VAR, soff[l], acc)
            _normalise(A, aoff[l], n, dl, MU, VAR, soff[l], eps, XN, aoff[l])
            _scale_shift_act(XN, aoff[l], n, dl, P, off[l] + (din + 1) * dl, act, Z, zoff[l])


@kernel
def _bn_eval(l, i, j, p, d, u, labels, sizes, act, P, delta, eps, mom, cmom, RM, RV, A, XN, Z, MU, VAR, lay,
             cur, nxt, col, mu, var, acc, e, ce_out):
    """One loss evaluation, in training mode, with parameter (l, i, j) set to p = w + d: per-row cross-entropy
    into ce_out and every BN layer's running statistics updated once. u: the unit's input column (W rows)."""
    n = labels.size
    L = sizes.size - 1
    off, aoff, zoff, soff = lay
    C = sizes[L]
    for m in range(1, min(l, L)):  # BN layers before l see the base batch
        _running_update(RM, RV, soff[m], sizes[m], mom[m - 1], cmom[m - 1], MU, VAR, soff[m])
    din = sizes[l - 1]
    if l == L:  # output layer: only score column j moves
        for r in range(n):
            for k in range(C):
                cur[k] = A[aoff[L] + r * C + k]
            cur[j] += d * u[r]
            ce_out[r] = _row_ce(cur, ZERO, C, labels[r], delta, e)
        return
    dl = sizes[l]
    g0 = off[l] + (din + 1) * dl  # gamma_l, then beta_l
    if i <= din:  # W_l row i or b_l: column j of a_l moves, and with it that column's batch statistics
        for r in range(n):
            col[r] = A[aoff[l] + r * dl + j] + d * u[r]
        _copy(MU, soff[l], mu, ZERO, dl)
        _copy(VAR, soff[l], var, ZERO, dl)
        _batch_stats(col, ZERO, n, ONE, mu, var, j, acc)
        _normalise(col, ZERO, n, ONE, mu, var, j, eps, col, ZERO)
        for r in range(n):
            col[r] = _act(P[g0 + j] * col[r] + P[g0 + dl + j], act)
        _running_update(RM, RV, soff[l], dl, mom[l - 1], cmom[l - 1], mu, var, ZERO)
    else:  # gamma_l[j] or beta_l[j]: the batch statistics of layer l stay
        _running_update(RM, RV, soff[l], dl, mom[l - 1], cmom[l - 1], MU, VAR, soff[l])
        gamma = p if i == din + 1 else P[g0 + j]
        beta = p if i == din + 2 else P[g0 + dl + j]
        for r in range(n):
            col[r] = _act(gamma * XN[aoff[l] + r * dl + j] + beta, act)
    # z_l[:, j] := col: a_{l+1} moves by (col - z_l[:, j]) outer W_{l+1}[j, :], then full layers on
    dn = sizes[l + 1]
    w0 = off[l + 1] + j * dn
    for r in range(n):
        dz = col[r] - Z[zoff[l] + r * dl + j]
        for k in range(dn):
            cur[r * dn + k] = A[aoff[l + 1] + r * dn + k] + dz * P[w0 + k]
    m = l + 1
    while m < L:
        dm = sizes[m]
        _batch_stats(cur, ZERO, n, dm, mu, var, ZERO, acc)
        _running_update(RM, RV, soff[m], dm, mom[m - 1], cmom[m - 1], mu, var, ZERO)
        _normalise(cur, ZERO, n, dm, mu, var, ZERO, eps, cur, ZERO)
        _scale_shift_act(cur, ZERO, n, dm, P, off[m] + (sizes[m - 1] + 1) * dm, act, cur, ZERO)
        _affine_rows(cur, ZERO, n, dm, P, off[m + 1], sizes[m + 1], nxt, ZERO)
        cur, nxt = nxt, cur
        m += 1
    for r in range(n):
        ce_out[r] = _row_ce(cur, r * C, C, labels[r], delta, e)


@kernel
def batchnorm_netgrad(X, labels, sizes, act, P, lam, h, delta, eps, mom, cmom, RM, RV, grad):
    """Numerical gradient of a net with batch normalisation after every hidden Affine (the book's
    MultiLayerNetExtend), with the book's side effect: RM, RV (running mean and variance of every BN layer,
    flat) receive the momentum update of each of the 2 * len(P) loss evaluations, in the book's order."""
    n = labels.size
    L = sizes.size - 1
    off, aoff, zoff, soff, units = _layout(sizes, n, True)
    lay = (off, aoff, zoff, soff)
    width = _widest(sizes)
    A = np.empty(aoff[L + 1], P.dtype)
    XN = np.empty(aoff[L + 1], P.dtype)
    Z = np.empty(zoff[L], P.dtype)
    MU = np.empty(soff[L], P.dtype)
    VAR = np.empty(soff[L], P.dtype)
    acc = np.empty(width, np.float64)
    _bn_forward(X, sizes, act, P, eps, A, XN, Z, MU, VAR, acc)
    cur = np.empty(n * width, P.dtype)
    nxt = np.empty(n * width, P.dtype)
    col = np.empty(n, P.dtype)
    u = np.empty(n, P.dtype)
    mu = np.empty(width, P.dtype)
    var = np.empty(width, P.dtype)
    e = np.empty(sizes[L], np.float64)
    ce_p = np.empty(n, np.float64)
    ce_m = np.empty(n, np.float64)
    for unit in range(_n_units(sizes, True)):
        l, i = _locate(unit, units)
        din, dout = sizes[l - 1], sizes[l]
        base = off[l] + i * dout
        for r in range(n):
            u[r] = Z[zoff[l - 1] + r * din + i] if i < din else 1
        for j in range(dout):
            w = P[base + j]
            p1 = w + h
            p2 = w - h
            _bn_eval(l, i, j, p1, p1 - w, u, labels, sizes, act, P, delta, eps, mom, cmom, RM, RV, A, XN, Z, MU,
                     VAR, lay, cur, nxt, col, mu, var, acc, e, ce_p)
            _bn_eval(l, i, j, p2, p2 - w, u, labels, sizes, act, P, delta, eps, mom, cmom, RM, RV, A, XN, Z, MU,
                     VAR, lay, cur, nxt, col, mu, var, acc, e, ce_m)
            diff = 0.0
            for r in range(n):
                diff += ce_p[r] - ce_m[r]
            diff /= n
            if i < din:
                diff += _decay_difference(w, h, lam)
            grad[base + j] = diff / (2 * h)
