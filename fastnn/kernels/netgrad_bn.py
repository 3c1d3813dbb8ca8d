"""The numerical gradient of the books' nets with batch normalisation (MultiLayerNetExtend(use_batchnorm=True)):
the BN part of fastnn/kernels/netgrad.py, whose docstring describes the method and the layout. Batch normalisation
couples the rows, so every evaluation recomputes the forward pass from the perturbed layer on, over all rows, and
applies the running-statistics update of every BN layer in the book's order."""
import numpy as np

from .._jit import kernel
from .netgrad import (ONE, ZERO, _act, _affine_rows, _copy, _decay_difference, _layout, _locate, _n_units, _row_ce,
                      _widest)


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


@kernel(internal=True)
def _normalise(M, m0, n, d, mu, var, s0, eps, XN, x0):
    """XN[x0:] = (M[m0:] - mu) / sqrt(var + eps), column statistics at mu[s0:], var[s0:]."""
    for k in range(d):
        std = np.sqrt(var[s0 + k] + eps)
        for r in range(n):
            XN[x0 + r * d + k] = (M[m0 + r * d + k] - mu[s0 + k]) / std


@kernel(internal=True)
def _scale_shift_act(XN, x0, n, d, P, g0, act, Z, z0):
    """Z[z0:] = act(gamma * XN[x0:] + beta), gamma at P[g0:], beta right after."""
    for r in range(n):
        for k in range(d):
            Z[z0 + r * d + k] = _act(P[g0 + k] * XN[x0 + r * d + k] + P[g0 + d + k], act)


@kernel(internal=True)
def _running_update(RM, RV, s0, d, mom, cmom, mu, var, m0):
    """One training-mode forward's update of a BN layer's running statistics RM[s0:], RV[s0:] (the book's
    momentum recurrence, same operations) from the batch statistics mu[m0:], var[m0:]."""
    for k in range(d):
        RM[s0 + k] = mom * RM[s0 + k] + cmom * mu[m0 + k]
        RV[s0 + k] = mom * RV[s0 + k] + cmom * var[m0 + k]


@kernel(internal=True)
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


@kernel(internal=True)
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
