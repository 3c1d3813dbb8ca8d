"""Structure-aware central differences for the books' fully connected nets (Affine layers, ReLU or sigmoid
hidden activations, optional batch normalisation, softmax + cross-entropy on the scores).

The book's numerical gradient runs two full loss evaluations per parameter. These kernels produce the same
central difference (f(p + h) - f(p - h)) / 2h from what a perturbation actually changes:

* perturbing W_l[i, j] by d changes only column j of the pre-activation a_l, by d * z_{l-1}[:, i] (z_0 = x);
  b_l[j] changes it by d. d is the *effective* step, fl(w + h) - w, i.e. what the book's in-place write does.
* without batch normalisation rows are independent, and the last two layers (where nearly all parameters
  live) need no propagation at all: a parameter of layer l in {L - 1, L} moves the pre-activation a_l[r, j] by
  s = d * u (u its input, z_{l-1}[r, i] or 1), and row r's loss then changes by a function G_rj(s) of that one
  number. The base pass stores G_rj's Taylor series to s^4 (the loss along the direction W_L[j, :], or along
  score j, from the cumulants of that direction under the row's softmax, composed with the activation's own
  series), so a parameter's loss difference is sum_r G_rj(d_plus * u_r) - G_rj(d_minus * u_r)
  = sum_m (d_plus^m - d_minus^m) * sum_r u_r^m * G_rj,m: four multiply-adds per (row, parameter), vectorised,
  no exp, no log, no cancellation. The loss difference divided by N, plus the exact weight-decay difference
  0.5 * lambda * (p1^2 - p2^2), over 2h is the entry.
* the series is used only where its truncation error is provably negligible (SERIES_RANGE) and the activation
  is smooth within reach (no ReLU kink); other (row, unit) pairs, and all parameters of deeper layers, take the
  exact change of the scores (rows whose input is zero skipped) and the row's cross-entropy from the base row's
  exp(s - max s) (E) and their sum (S): softmax ignores a common shift, so a change ds of the scores turns E_k
  into E_k * (1 + expm1(ds_k)), and for |ds| <= SMALL the new denominator is S + sum_k E_k * expm1(ds_k), with
  expm1 a short polynomial: no cancellation in ce_plus - ce_minus. Larger changes recompute the row.
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
from .activations import relu_scalar, sigmoid_scalar, sigmoid_slope
from .codes import RELU, SIGMOID  # noqa: F401 - the hidden activations (fastnn.netgrad reads them here)
from .fastexp import vexp

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


@kernel(internal=True)
def _n_units(sizes, bn):
    """Rows of all parameter blocks (W rows, b, gamma, beta)."""
    L = sizes.size - 1
    total = 0
    for l in range(1, L + 1):
        total += sizes[l - 1] + 1 + (2 if bn and l < L else 0)
    return total


@kernel(internal=True)
def _widest(sizes):
    width = sizes[0]
    for d in sizes:
        width = max(width, d)
    return width


@kernel(internal=True)
def _copy(src, s0, dst, d0, n):
    """dst[d0:d0+n] = src[s0:s0+n] (a loop: slice assignment would compile numba's generic setitem)."""
    for k in range(n):
        dst[d0 + k] = src[s0 + k]


@kernel(internal=True)
def _locate(unit, units):
    """(layer, row of its parameter block) of a global unit index."""
    l = 1
    while unit >= units[l]:
        unit -= units[l]
        l += 1
    return l, unit


# --- elementwise pieces ------------------------------------------------------------------------------------------
SMALL = 1.0 / 256  # score changes up to this size take the shift formula of _ce_shifted
# Range of the loss series (see _layer_series). Along a direction w with spread R = max w - min w, the row loss
# g(t) - g(0) is analytic and at most M ~ 10 in size on the complex disk |t| R <= 1 (the softmax terms turn by at
# most a radian against each other), so by Cauchy's estimate the series cut after t^4 is off by at most
# M y^5 / (1 - y), y = |t| R: below 1e-15 for y <= 2^-11, a gradient error of ~1e-11 at h = 1e-4 and 100 rows,
# against the 1e-9 acceptance bound. Through a sigmoid, |t| <= 0.27 |s| on |s| <= 1/2, hence the factor 2 there.
# Typical y: 1e-4 * max|x| * R ~ 1e-5.
SERIES_RANGE = 2.0 ** -11


@kernel(internal=True)
def _act(v, act):
    """The book's ReLU (x <= 0 -> 0, NaN passes) or sigmoid (fastnn's stable form)."""
    if act == RELU:
        return relu_scalar(v)
    return sigmoid_scalar(v)


@kernel(internal=True)
def _expm1_small(y):
    """exp(y) - 1 for |y| <= SMALL, without the cancellation of exp(y) - 1: Taylor polynomial of degree 5, whose
    truncation error (< y^6 / 720 < 5e-18) is far below the float64 rounding of the loss."""
    p = 1.0 / 120.0
    p = p * y + 1.0 / 24.0
    p = p * y + 1.0 / 6.0
    p = p * y + 0.5
    p = p * y + 1.0
    return p * y


@kernel(internal=True)
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


@kernel(internal=True)
def _row_ce(s, s0, n, label, delta, e):
    """-log(softmax(s[s0:s0+n])[label] + delta), the book's per-row cross-entropy; e: float64 scratch."""
    total = _row_exp(s, s0, n, e, ZERO)
    return -math.log(e[label] / total + delta)


@kernel(internal=True)
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


@kernel(internal=True)
def _affine_rows(src, s0, n, din, P, w0, dout, dst, d0):
    """dst[d0 + r*dout + j] = sum_k src[s0 + r*din + k] * W[k, j] + b[j] for r < n; W at P[w0], b right after.
    Rows are taken as views: indices from 0 let numba skip its negative-index handling, so the loops vectorise."""
    b = P[w0 + din * dout:w0 + din * dout + dout]
    for r in range(n):
        out = dst[d0 + r * dout:d0 + (r + 1) * dout]
        row = src[s0 + r * din:s0 + (r + 1) * din]
        for j in range(dout):
            out[j] = 0
        for k in range(din):
            v = row[k]
            wk = P[w0 + k * dout:w0 + (k + 1) * dout]
            for j in range(dout):
                out[j] += v * wk[j]
        for j in range(dout):
            out[j] += b[j]


@kernel(internal=True)
def _decay_difference(w, h, lam):
    """0.5 * lambda * (p1^2 - p2^2) for the two values the book writes into W, p1 = w + h and p2 = w - h."""
    p1 = np.float64(w + h)
    p2 = np.float64(w - h)
    return 0.5 * lam * (p1 * p1 - p2 * p2)


# --- nets without batch normalisation: row-sparse propagation ------------------------------------------------
@kernel(internal=True)
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


@kernel(internal=True)
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


# --- the last two layers: loss series ------------------------------------------------------------------------
@kernel
def _loss_series(E, e0, S, C, label, delta, w, c):
    """c[0:4] = Taylor coefficients c1..c4 of g(t) = ce(s + t * w) - ce(s), the book's row cross-entropy
    ce(s) = -log(softmax(s)[label] + delta) along the direction w (float64, C values), from the base row's
    E = exp(s - max s) at E[e0:] and S = sum(E).

    With p = E / S: log softmax(s + t w)[label] - log p[label] = t (w_label - mean) - sum_{m>=2} kappa_m t^m / m!
    (kappa_m: the cumulants of w under p), call it D(t); then g(t) = -log(1 + alpha * (exp(D) - 1)) with
    alpha = p[label] / (p[label] + delta). The series of exp and log are composed to degree 4."""
    mean = 0.0
    for k in range(C):
        mean += E[e0 + k] * w[k]
    mean /= S
    m2 = m3 = m4 = 0.0
    for k in range(C):
        d = w[k] - mean
        pd2 = E[e0 + k] / S * d * d
        m2 += pd2
        m3 += pd2 * d
        m4 += pd2 * d * d
    d1 = w[label] - mean
    d2 = -m2 / 2
    d3 = -m3 / 6
    d4 = -(m4 - 3 * m2 * m2) / 24
    p_label = E[e0 + label] / S
    alpha = p_label / (p_label + delta)
    u1 = alpha * d1  # U = alpha * (exp(D) - 1)
    u2 = alpha * (d2 + d1 * d1 / 2)
    u3 = alpha * (d3 + d1 * d2 + d1 * d1 * d1 / 6)
    u4 = alpha * (d4 + d1 * d3 + d2 * d2 / 2 + d1 * d1 * d2 / 2 + d1 * d1 * d1 * d1 / 24)
    c[0] = -u1  # g = -log(1 + U)
    c[1] = -(u2 - u1 * u1 / 2)
    c[2] = -(u3 - u1 * u2 + u1 * u1 * u1 / 3)
    c[3] = -(u4 - u2 * u2 / 2 - u1 * u3 + u1 * u1 * u2 - u1 * u1 * u1 * u1 / 4)


@kernel
def _act_series(a, act, smax, tau):
    """tau[0:4] = Taylor coefficients of act(a + s) - act(a) in s, for |s| <= smax. False where there is no such
    series: ReLU with its kink within reach (|a| <= 2 smax, rounding included), a not finite."""
    a = np.float64(a)
    if act == RELU:
        if not abs(a) > 2 * smax:
            return False
        tau[0] = 1.0 if a > 0 else 0.0
        tau[1] = tau[2] = tau[3] = 0.0
        return True
    if not math.isfinite(a):
        return False
    sg = _act(a, SIGMOID)
    s1 = sigmoid_slope(sg)  # sigmoid' = s(1 - s), then its derivatives / k!
    tau[0] = s1
    tau[1] = s1 * (1 - 2 * sg) / 2
    tau[2] = s1 * (1 - 6 * s1) / 6
    tau[3] = s1 * (1 - 2 * sg) * (1 - 12 * s1) / 24
    return True


@kernel
def _compose(c, tau, out, o0, stride):
    """out[o0 + m * stride], m = 0..3: the coefficients of g(t(s)), g = c (no constant), t = tau (no constant)."""
    t1, t2, t3, t4 = tau[0], tau[1], tau[2], tau[3]
    out[o0] = c[0] * t1
    out[o0 + stride] = c[0] * t2 + c[1] * t1 * t1
    out[o0 + 2 * stride] = c[0] * t3 + 2 * c[1] * t1 * t2 + c[2] * t1 * t1 * t1
    out[o0 + 3 * stride] = (c[0] * t4 + c[1] * (t2 * t2 + 2 * t1 * t3) + 3 * c[2] * t1 * t1 * t2
                            + c[3] * t1 * t1 * t1 * t1)


@kernel(internal=True)
def _finite_block(out, o0, stride):
    ok = True
    for m in range(4):
        ok = ok and math.isfinite(out[o0 + m * stride])
    return ok


@kernel(internal=True)
def _input_bound(Z, z0, n, din):
    """Per row of the layer input (n x din at Z[z0]): max(1, max |value|) (1: the bias' input), inf if any
    value is NaN."""
    bound = np.empty(n, np.float64)
    for r in range(n):
        m = 1.0
        for k in range(din):
            v = abs(np.float64(Z[z0 + r * din + k]))
            m = max(m, v) if v == v else np.inf
        bound[r] = m
    return bound


@kernel(internal=True)
def _largest_step(P, p0, count, h):
    """The largest effective step |fl(w +- h) - w| over the parameters P[p0:p0+count] (NaN/inf: inf)."""
    m = 0.0
    for q in range(count):
        w = P[p0 + q]
        step = max(abs(np.float64((w + h) - w)), abs(np.float64((w - h) - w)))
        m = max(m, step) if step == step else np.inf
    return m


@kernel(internal=True)
def _layer_series(l, labels, sizes, act, P, h, delta, A, Z, E, S):
    """Loss series of layer l (L - 1 or L) for every (row r, unit j of the layer's output): the loss change of
    row r as a function of s, the change of the pre-activation a_l[r, j], whatever parameter of the layer moved
    it (s = d * u, d the effective step, u its input: z_{l-1}[r, i] or 1). Returns (coef, exceptions):
    coef[(r * 4 + m) * D_l + j] holds the coefficient of s^(m+1) (zero for a unit that cannot change, a ReLU
    off by more than any step); exceptions lists r * D_l + j for the pairs left to the exact computation (see
    SERIES_RANGE, _act_series), their coefficients zero."""
    n = labels.size
    L = sizes.size - 1
    C, din, dl = sizes[L], sizes[l - 1], sizes[l]
    off, aoff, zoff, _, units = _layout(sizes, n, False)
    smax = _input_bound(Z, zoff[l - 1], n, din) * _largest_step(P, off[l], units[l] * dl, h)
    coef = np.zeros(n * 4 * dl, np.float64)
    exceptions = np.empty(n * dl, np.int64)
    count = 0
    w = np.empty(C, np.float64)
    c = np.empty(4, np.float64)
    tau = np.empty(4, np.float64)
    tau[0] = 1.0  # the output layer: the score is the pre-activation itself (hidden layers: _act_series)
    tau[1] = tau[2] = tau[3] = 0.0
    for j in range(dl):
        if l == L:  # the score j itself moves
            for k in range(C):
                w[k] = 1.0 if k == j else 0.0
            spread = 1.0
        else:  # unit j's activation moves the scores along W_L[j, :]
            lo = hi = np.float64(P[off[L] + j * C])
            for k in range(C):
                w[k] = P[off[L] + j * C + k]
                lo, hi = min(lo, w[k]), max(hi, w[k])
            spread = hi - lo
        # |s| * reach bounds y of SERIES_RANGE: ReLU passes s unchanged (t = s on its side of the kink); a sigmoid
        # gives |t| <= |s| / 4, analytic for |Im s| < pi, whence the factor 2 (see SERIES_RANGE)
        reach = spread if l == L or act == RELU else 2 * max(1.0, spread)
        for r in range(n):
            o0 = r * 4 * dl + j
            ok = smax[r] * reach <= SERIES_RANGE
            if ok and l < L:
                ok = _act_series(A[aoff[l] + r * dl + j], act, smax[r], tau)
            if ok and tau[0] != 0.0:
                _loss_series(E, r * C, S[r], C, labels[r], delta, w, c)
                _compose(c, tau, coef, o0, dl)
                ok = _finite_block(coef, o0, dl)
            if not ok:
                for m in range(4):
                    coef[o0 + m * dl] = 0.0
                exceptions[count] = r * dl + j
                count += 1
    return coef, exceptions[:count]


@kernel(internal=True)
def _series_unit(i, din, dout, n, Z, z0, coef, dp, dm, M, acc):
    """acc[j] = sum over rows r of G_rj(dp[j] * u_r) - G_rj(dm[j] * u_r), G_rj the series of (row r, unit j)
    in coef, u_r = Z[z0 + r * din + i] the parameter's input (1 for the bias, i == din): accumulated as
    M_m[j] = sum_r u_r^m * coef_m[r, j], then combined with the steps' powers. Vectorised over j."""
    for m in range(4):
        Mm = M[m, :dout]
        for j in range(dout):
            Mm[j] = 0.0
    for r in range(n):
        u = np.float64(Z[z0 + r * din + i]) if i < din else 1.0
        if u == 0:
            continue
        um = 1.0
        for m in range(4):  # one array written per loop: few enough runtime alias checks to vectorise
            um *= u
            Mm = M[m, :dout]
            Cm = coef[(r * 4 + m) * dout:(r * 4 + m + 1) * dout]
            for j in range(dout):
                Mm[j] += um * Cm[j]
    for j in range(dout):
        p, q = np.float64(dp[j]), np.float64(dm[j])
        p2, q2 = p * p, q * q
        acc[j] = (p - q) * M[0, j] + (p2 - q2) * M[1, j] + (p2 * p - q2 * q) * M[2, j] + (p2 * p2 - q2 * q2) * M[3, j]


@kernel(internal=True)
def _exact_pair(l, j, r, u, dp, dm, labels, sizes, act, P, delta, A, Z, E, S, ce, lay, v, v2, zb, ds, e):
    """ce_plus[r] - ce_minus[r] for the parameter of layer l feeding unit j with input u (in row r), by the
    score changes: direct for the last two layers, propagated through the deeper ones (_deep_change)."""
    L = sizes.size - 1
    C = sizes[L]
    off, aoff, zoff = lay
    dout = sizes[l]
    a0 = aoff[L] + r * C
    plus = minus = ce[r]
    for sign in range(2):
        d = dp if sign == 0 else dm
        for k in range(C):
            ds[k] = 0.0
        if l == L:  # score j moves by d * u
            ds[j] = d * u
        else:  # z_l[r, j] moves by dz: the scores move by ds
            a = A[aoff[l] + r * dout + j]
            dz = _act(a + d * u, act) - Z[zoff[l] + r * dout + j]
            if dz == 0:
                continue
            if l == L - 1:
                for k in range(C):
                    ds[k] = np.float64(dz) * P[off[L] + j * C + k]
            else:
                _deep_change(l, j, r, dz, sizes, act, P, A, Z, off, aoff, zoff, v, v2, zb, ds)
        loss = _ce_shifted(A, a0, E, r * C, S[r], ds, C, labels[r], delta, v, e)
        if sign == 0:
            plus = loss
        else:
            minus = loss
    return plus - minus


@kernel(internal=True)
def _dense_units(start, stop, labels, sizes, act, P, lam, h, delta, base, grad):
    """Gradient of the parameters of units [start, stop): a task's whole work, with its own buffers."""
    A, Z, E, S, ce, coef_h, exc_h, coef_o, exc_o = base
    n = labels.size
    L = sizes.size - 1
    C = sizes[L]
    off, aoff, zoff, _, units = _layout(sizes, n, False)
    lay = (off, aoff, zoff)
    width = _widest(sizes)
    dp = np.empty(width, P.dtype)
    dm = np.empty(width, P.dtype)
    acc = np.empty(width, np.float64)
    M = np.empty((4, width), np.float64)
    zb = np.empty(width, P.dtype)
    v = np.empty(width, P.dtype)
    v2 = np.empty(width, np.float64)
    ds = np.empty(C, np.float64)
    e = np.empty(C, np.float64)
    for unit in range(start, stop):
        l, i = _locate(unit, units)
        din, dout = sizes[l - 1], sizes[l]
        base0 = off[l] + i * dout
        z0 = zoff[l - 1]
        for j in range(dout):
            w = P[base0 + j]
            dp[j] = (w + h) - w  # the effective steps of the book's writes p = w + h, p = w - h
            dm[j] = (w - h) - w
        if l >= L - 1:  # series for the pairs in range, the exact change for the exceptions
            coef, exceptions = (coef_o, exc_o) if l == L else (coef_h, exc_h)
            _series_unit(i, din, dout, n, Z, z0, coef, dp, dm, M, acc)
            for pair in exceptions:
                r, j = pair // dout, pair % dout
                u = Z[z0 + r * din + i] if i < din else 1
                if u != 0:
                    acc[j] += _exact_pair(l, j, r, u, dp[j], dm[j], labels, sizes, act, P, delta, A, Z, E, S, ce,
                                          lay, v, v2, zb, ds, e)
        else:  # deeper layers: every (row, unit) the perturbation reaches
            for j in range(dout):
                acc[j] = 0.0
            for r in range(n):
                u = Z[z0 + r * din + i] if i < din else 1
                if u != 0:
                    for j in range(dout):
                        acc[j] += _exact_pair(l, j, r, u, dp[j], dm[j], labels, sizes, act, P, delta, A, Z, E, S,
                                              ce, lay, v, v2, zb, ds, e)
        for j in range(dout):
            diff = acc[j] / n
            if i < din:
                diff += _decay_difference(P[base0 + j], h, lam)
            grad[base0 + j] = diff / (2 * h)


@kernel
def _dense_base(X, labels, sizes, act, P, h, delta):
    """Base pass (A, Z, E, S, ce: see _dense_forward) and the loss series of the last two layers (coef and
    exceptions of layer L - 1, then of layer L; layer L - 1's are empty when L == 1)."""
    n = labels.size
    L = sizes.size - 1
    _, aoff, zoff, _, _ = _layout(sizes, n, False)
    A = np.empty(aoff[L + 1], P.dtype)
    Z = np.empty(zoff[L], P.dtype)
    E = np.empty(n * sizes[L], np.float64)
    S = np.empty(n, np.float64)
    ce = np.empty(n, np.float64)
    _dense_forward(X, labels, sizes, act, P, delta, A, Z, E, S, ce)
    coef_o, exc_o = _layer_series(L, labels, sizes, act, P, h, delta, A, Z, E, S)
    if L >= 2:
        coef_h, exc_h = _layer_series(L - 1, labels, sizes, act, P, h, delta, A, Z, E, S)
    else:
        coef_h, exc_h = coef_o[:0], exc_o[:0]
    return A, Z, E, S, ce, coef_h, exc_h, coef_o, exc_o


@kernel(internal=True)
def _nan_unless_rows_finite(ce, grad):
    """The book's loss is the mean over all rows, so one row whose base cross-entropy is NaN or inf makes every
    evaluation non-finite and every (f1 - f2) / 2h NaN, also where the row-sparse differences skip that row (a
    zero input, an unchanged unit): then grad is NaN everywhere, as the book's loop gives."""
    for r in range(ce.size):
        if not math.isfinite(ce[r]):
            grad[:] = np.nan
            return


@kernel
def dense_netgrad(X, labels, sizes, act, P, lam, h, delta, grad):
    """Numerical gradient of a net without batch normalisation, one thread."""
    base = _dense_base(X, labels, sizes, act, P, h, delta)
    _dense_units(ZERO, _n_units(sizes, False), labels, sizes, act, P, lam, h, delta, base, grad)
    _nan_unless_rows_finite(base[4], grad)


@kernel(parallel=True)
def dense_netgrad_parallel(X, labels, sizes, act, P, lam, h, delta, grad):
    """dense_netgrad with fixed-size chunks of units spread over threads: every parameter's value is computed by
    the same code from the same base pass, so the result is identical bit for bit to the serial kernel."""
    base = _dense_base(X, labels, sizes, act, P, h, delta)
    total = _n_units(sizes, False)
    n_chunks = (total + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        _dense_units(c * CHUNK, min(total, (c + 1) * CHUNK), labels, sizes, act, P, lam, h, delta, base, grad)
    _nan_unless_rows_finite(base[4], grad)
