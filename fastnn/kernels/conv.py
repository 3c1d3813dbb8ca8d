"""Convolution and max pooling on NCHW arrays: im2col/col2im in the first book's layout, the convolution forward and
backward two ways (im2col + BLAS, and direct loops), max pooling with the book's ``arg_max``.

Layouts (C-contiguous, float32 or float64; the caller checked the shapes, including that the output sizes
``OH = (H + 2*pad - FH) // stride + 1`` and OW are >= 1, and allocated every output). The sizes are floored, as in
the book: when the stride does not divide ``H + 2*pad - FH``, the last rows (columns) of the padded input lie in no
window, so no loop reads them and backward leaves their gradient 0 (the last window still ends inside the input).

* ``x``: (N, C, H, W) input; ``W``: (FN, C, FH, FW) filters; ``b``: (FN,); ``out``/``dout``: (N, FN, OH, OW).
* ``col``: (N*OH*OW, C*FH*FW), rows in (n, oy, ox) order, columns in (c, ky, kx) order: the book's im2col. The
  kernels take it as the (N, OH*OW, C*FH*FW) view ``col3`` and the filters as ``W2`` = W viewed as (FN, C*FH*FW).
* Output (oy, ox) and filter tap (ky, kx) meet at input pixel ``(oy*stride + ky - pad, ox*stride + kx - pad)``.
  Every kernel first copies a sample into a zero-bordered scratch image (C, H + 2*pad, W + 2*pad), so the inner
  loops have no bounds tests; going backward, what lands in the border is dropped with it.
* ``where``: int64 (N, C, OH, OW), entry [n, c, oy, ox] holds ky*pool_w + kx of the first maximum of that window
  (padding zeros are candidates; the first NaN wins), as the book's argmax over im2col rows; the book's
  ``arg_max`` is the same in (n, oy, ox, c) order (fastnn.convolution.Pooling transposes it on read).

The direct kernels with stride 1 treat a padded plane as one flat row: output (oy, ox) sits at oy*Wp + ox of a
"wide" plane Wp = W + 2*pad columns wide, so each filter tap is one long multiply-add over the plane (the few
columns past OW are computed and thrown away). Innermost loops are element-wise, never reductions, so LLVM
vectorises them without fastmath; scratch is allocated once per call, outside the loops.
"""
import numpy as np

from .._jit import kernel


@kernel(internal=True)
def _pad_sample(x, n, pad, xp):
    """xp[:, pad:pad+H, pad:pad+W] = x[n]; xp's border must already be zero (it is never written)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    for c in range(C):
        for i in range(H):
            src = x[n, c, i]
            dst = xp[c, i + pad]
            for j in range(W):
                dst[j + pad] = src[j]


@kernel(internal=True)
def _crop_sample(gp, pad, dx, n):
    """dx[n] = gp[:, pad:pad+H, pad:pad+W]."""
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    for c in range(C):
        for i in range(H):
            src = gp[c, i + pad]
            dst = dx[n, c, i]
            for j in range(W):
                dst[j] = src[j + pad]


@kernel(internal=True)
def _padded(x, pad):
    """A zeroed scratch image (C, H + 2*pad, W + 2*pad) in x's dtype."""
    return np.zeros((x.shape[1], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad), x.dtype)


# --- im2col / col2im -------------------------------------------------------------------------------------------
@kernel(internal=True)
def _im2col_sample(xp, fh, fw, stride, oh, ow, col2):
    """col2 (OH*OW, C*FH*FW) = the windows of the padded image xp (C, Hp, Wp): per output row oy and column j =
    (c, ky, kx), one strided column of col2 is one (strided) run of an input row."""
    for oy in range(oh):
        rows = col2[oy * ow:(oy + 1) * ow]
        for c in range(xp.shape[0]):
            for ky in range(fh):
                src = xp[c, oy * stride + ky]
                for kx in range(fw):
                    dst = rows[:, (c * fh + ky) * fw + kx]
                    if stride == 1:
                        run = src[kx:kx + ow]
                        for ox in range(ow):
                            dst[ox] = run[ox]
                    else:
                        for ox in range(ow):
                            dst[ox] = src[ox * stride + kx]


@kernel(internal=True)
def _col2im_sample(col2, fh, fw, stride, oh, ow, gp):
    """Add the patches of col2 (OH*OW, C*FH*FW) into the padded image gp (C, Hp, Wp)."""
    for oy in range(oh):
        rows = col2[oy * ow:(oy + 1) * ow]
        for c in range(gp.shape[0]):
            for ky in range(fh):
                dst = gp[c, oy * stride + ky]
                for kx in range(fw):
                    src = rows[:, (c * fh + ky) * fw + kx]
                    if stride == 1:
                        run = dst[kx:kx + ow]
                        for ox in range(ow):
                            run[ox] += src[ox]
                    else:
                        for ox in range(ow):
                            dst[ox * stride + kx] += src[ox]


@kernel
def im2col(x, fh, fw, stride, pad, col3):
    """col3 (N, OH*OW, C*FH*FW), the book's col, from x (N, C, H, W)."""
    oh = (x.shape[2] + 2 * pad - fh) // stride + 1
    ow = (x.shape[3] + 2 * pad - fw) // stride + 1
    xp = _padded(x, pad)
    for n in range(x.shape[0]):
        _pad_sample(x, n, pad, xp)
        _im2col_sample(xp, fh, fw, stride, oh, ow, col3[n])


@kernel
def col2im(col3, fh, fw, stride, pad, dx):
    """dx (N, C, H, W) = the sum of the patches of col3 (N, OH*OW, C*FH*FW); what falls in the padding is dropped."""
    oh = (dx.shape[2] + 2 * pad - fh) // stride + 1
    ow = (dx.shape[3] + 2 * pad - fw) // stride + 1
    gp = _padded(dx, pad)
    for n in range(dx.shape[0]):
        gp[:] = 0
        _col2im_sample(col3[n], fh, fw, stride, oh, ow, gp)
        _crop_sample(gp, pad, dx, n)


# --- sums ------------------------------------------------------------------------------------------------------
@kernel(internal=True)
def _bias_grad(dout3, db):
    """db[f] = the sum of dout3[:, f, :] (dout as (N, FN, OH*OW)), through a row of 8 partial sums."""
    acc = np.zeros(8, dout3.dtype)
    P = dout3.shape[2]
    for f in range(dout3.shape[1]):
        acc[:] = 0
        for n in range(dout3.shape[0]):
            d = dout3[n, f]
            for p0 in range(0, P - 7, 8):
                for k in range(8):
                    acc[k] += d[p0 + k]
            for p in range(P - P % 8, P):
                acc[0] += d[p]
        s = acc[0]
        for k in range(1, 8):
            s += acc[k]
        db[f] = s


# --- convolution through im2col + BLAS -------------------------------------------------------------------------
@kernel
def conv_forward_gemm(x, W2, b, fh, fw, stride, pad, col3, out3):
    """Fill col3 (N, OH*OW, K) with the book's im2col and out3 (N, FN, OH*OW) = (col[n] @ W2.T).T + b, sample by
    sample, so each sample's rows are still in cache for its GEMM and its transposing copy."""
    oh = (x.shape[2] + 2 * pad - fh) // stride + 1
    ow = (x.shape[3] + 2 * pad - fw) // stride + 1
    xp = _padded(x, pad)
    tmp = np.empty((oh * ow, W2.shape[0]), x.dtype)
    for n in range(x.shape[0]):
        _pad_sample(x, n, pad, xp)
        _im2col_sample(xp, fh, fw, stride, oh, ow, col3[n])
        np.dot(col3[n], W2.T, tmp)
        o = out3[n]
        for f in range(o.shape[0]):
            bf = b[f]
            for p in range(o.shape[1]):
                o[f, p] = tmp[p, f] + bf


@kernel
def conv_backward_params_gemm(col3, dout3, dW2, db):
    """dW2 (FN, K) = the sum over samples of dout3[n] (FN, OH*OW) @ col3[n]; db = the sums of dout."""
    tmp = np.empty(dW2.shape, dW2.dtype)
    np.dot(dout3[0], col3[0], dW2)
    for n in range(1, dout3.shape[0]):
        np.dot(dout3[n], col3[n], tmp)
        for f in range(dW2.shape[0]):
            for k in range(dW2.shape[1]):
                dW2[f, k] += tmp[f, k]
    _bias_grad(dout3, db)


@kernel
def conv_backward_input_gemm(dout3, W2, fh, fw, stride, pad, dx):
    """dx = col2im(dout as (N*OH*OW, FN) @ W2), one sample's dcol (OH*OW, K) at a time."""
    oh = (dx.shape[2] + 2 * pad - fh) // stride + 1
    ow = (dx.shape[3] + 2 * pad - fw) // stride + 1
    dcol2 = np.empty((oh * ow, W2.shape[1]), dx.dtype)
    gp = _padded(dx, pad)
    for n in range(dx.shape[0]):
        np.dot(dout3[n].T, W2, dcol2)
        gp[:] = 0
        _col2im_sample(dcol2, fh, fw, stride, oh, ow, gp)
        _crop_sample(gp, pad, dx, n)


# --- convolution by direct loops -------------------------------------------------------------------------------
@kernel
def conv_forward_direct(x, W, b, stride, pad, out):
    """out[n, f] = b[f] + the sum over c, ky, kx of W[f, c, ky, kx] * (x[n, c] shifted by the tap)."""
    N, C = x.shape[0], x.shape[1]
    FN, FH, FW = W.shape[0], W.shape[2], W.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    xp = _padded(x, pad)
    Hp, Wp = xp.shape[1], xp.shape[2]
    xf = xp.reshape(C, Hp * Wp)
    L = (OH - 1) * Wp + OW  # the wide plane (stride 1)
    wide = np.empty(L, x.dtype)
    for n in range(N):
        _pad_sample(x, n, pad, xp)
        for f in range(FN):
            bf = b[f]
            o = out[n, f]
            if stride == 1:
                for i in range(L):
                    wide[i] = bf
                for c in range(C):
                    for ky in range(FH):
                        for kx in range(FW):
                            w = W[f, c, ky, kx]
                            src = xf[c, ky * Wp + kx:ky * Wp + kx + L]
                            for i in range(L):
                                wide[i] += w * src[i]
                for oy in range(OH):
                    for ox in range(OW):
                        o[oy, ox] = wide[oy * Wp + ox]
            else:
                o[:] = bf
                for c in range(C):
                    for ky in range(FH):
                        for kx in range(FW):
                            w = W[f, c, ky, kx]
                            for oy in range(OH):
                                src = xp[c, oy * stride + ky]
                                row = o[oy]
                                for ox in range(OW):
                                    row[ox] += w * src[ox * stride + kx]


@kernel
def conv_backward_input_direct(dout, W, stride, pad, dx):
    """dx[n, c] = the sum over f, ky, kx of W[f, c, ky, kx] * dout[n, f] added back at the taps' pixels."""
    N, C = dx.shape[0], dx.shape[1]
    FN, FH, FW = W.shape[0], W.shape[2], W.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    gp = _padded(dx, pad)
    Hp, Wp = gp.shape[1], gp.shape[2]
    gf = gp.reshape(C, Hp * Wp)
    L = (OH - 1) * Wp + OW
    dwide = np.zeros(L, dx.dtype)  # dout[n, f] on the wide plane; the columns past OW stay 0
    for n in range(N):
        gp[:] = 0
        for f in range(FN):
            d = dout[n, f]
            if stride == 1:
                for oy in range(OH):
                    for ox in range(OW):
                        dwide[oy * Wp + ox] = d[oy, ox]
                for c in range(C):
                    for ky in range(FH):
                        for kx in range(FW):
                            w = W[f, c, ky, kx]
                            dst = gf[c, ky * Wp + kx:ky * Wp + kx + L]
                            for i in range(L):
                                dst[i] += w * dwide[i]
            else:
                for c in range(C):
                    for ky in range(FH):
                        for kx in range(FW):
                            w = W[f, c, ky, kx]
                            for oy in range(OH):
                                dst = gp[c, oy * stride + ky]
                                row = d[oy]
                                for ox in range(OW):
                                    dst[ox * stride + kx] += w * row[ox]
        _crop_sample(gp, pad, dx, n)


@kernel
def conv_backward_params_direct(x, dout, stride, pad, dW, db):
    """dW[f, c, ky, kx] = the sum over n, oy, ox of dout[n, f, oy, ox] * x[n, c, tap pixel]; db = sums of dout.
    Per tap, the products accumulate element-wise over samples in a plane of partial sums, summed at the end."""
    N, C = x.shape[0], x.shape[1]
    FN, FH, FW = dW.shape[0], dW.shape[2], dW.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    Hp, Wp = x.shape[2] + 2 * pad, x.shape[3] + 2 * pad
    xpad = np.zeros((N, C, Hp, Wp), x.dtype)
    for n in range(N):
        _pad_sample(x, n, pad, xpad[n])
    xf = xpad.reshape(N, C, Hp * Wp)
    L = (OH - 1) * Wp + OW
    dwide = np.zeros((N, FN, L if stride == 1 else 0), x.dtype)  # dout on wide planes (stride 1)
    if stride == 1:
        for n in range(N):
            for f in range(FN):
                for oy in range(OH):
                    for ox in range(OW):
                        dwide[n, f, oy * Wp + ox] = dout[n, f, oy, ox]
    acc = np.empty(L if stride == 1 else OW, x.dtype)
    zero = x.dtype.type(0)
    for f in range(FN):
        for c in range(C):
            for ky in range(FH):
                for kx in range(FW):
                    acc[:] = 0
                    for n in range(N):
                        if stride == 1:
                            d = dwide[n, f]
                            src = xf[n, c, ky * Wp + kx:ky * Wp + kx + L]
                            for i in range(L):
                                acc[i] += d[i] * src[i]
                        else:
                            for oy in range(OH):
                                src = xpad[n, c, oy * stride + ky]
                                row = dout[n, f, oy]
                                for ox in range(OW):
                                    acc[ox] += row[ox] * src[ox * stride + kx]
                    s = zero
                    for i in range(acc.size):
                        s += acc[i]
                    dW[f, c, ky, kx] = s
    _bias_grad(dout.reshape(N, FN, OH * OW), db)


# --- max pooling -----------------------------------------------------------------------------------------------
@kernel(internal=True)
def _window_max_exact(img, y0, x0, ph, pw):
    """(max, flat index of its first occurrence) of img[y0:y0+ph, x0:x0+pw], NumPy's way: the first NaN wins."""
    best = img[y0, x0]
    at = 0
    for ky in range(ph):
        for kx in range(pw):
            v = img[y0 + ky, x0 + kx]
            if best == best and (v > best or v != v):
                best = v
                at = ky * pw + kx
    return best, at


@kernel(internal=True)
def _maxpool_plane(img, ph, pw, stride, best, at, probe):
    """maxpool_forward on one (padded) plane img: best, at (OH, OW) its maxima and their tap indices."""
    OH, OW = best.shape
    for oy in range(OH):
        y0 = oy * stride
        b_row = best[oy]
        a_row = at[oy]
        p_row = probe[oy]
        if ph == 2 and pw == 2 and stride == 2:
            r0 = img[y0]
            r1 = img[y0 + 1]
            for ox in range(OW):
                b = r0[2 * ox]
                s = b - b
                a = 0
                v = r0[2 * ox + 1]
                s += v
                t = v > b
                a = 1 if t else a
                b = v if t else b
                v = r1[2 * ox]
                s += v
                t = v > b
                a = 2 if t else a
                b = v if t else b
                v = r1[2 * ox + 1]
                s += v
                t = v > b
                a = 3 if t else a
                b = v if t else b
                b_row[ox] = b
                a_row[ox] = a
                p_row[ox] = s
        else:
            r0 = img[y0]
            for ox in range(OW):
                b = r0[ox * stride]
                b_row[ox] = b
                a_row[ox] = 0
                p_row[ox] = b - b
            q = 0
            for ky in range(ph):
                row = img[y0 + ky]
                for kx in range(pw):
                    for ox in range(OW):
                        v = row[ox * stride + kx]
                        b = b_row[ox]
                        p_row[ox] += v
                        t = v > b
                        a_row[ox] = q if t else a_row[ox]
                        b_row[ox] = v if t else b
                    q += 1
    pf = probe.reshape(OH * OW)
    bad = False
    for i in range(OH * OW):
        bad |= pf[i] != pf[i]
    if bad:
        for oy in range(OH):
            for ox in range(OW):
                if probe[oy, ox] != probe[oy, ox]:
                    best[oy, ox], at[oy, ox] = _window_max_exact(img, oy * stride, ox * stride, ph, pw)


@kernel
def maxpool_forward(x, ph, pw, stride, pad, out, where):
    """out (N, C, OH, OW): window maxima, padding zeros included; where (N, C, OH, OW): ky*pw + kx of each
    window's first maximum (the book's arg_max, in (n, c, oy, ox) order).

    Plane by plane, one row of windows at a time, element-wise over ox (so LLVM vectorises it): the running
    maxima live in out's row, updated tap by tap with a compare and two selects (2 x 2 windows with stride 2: all
    four taps at once). A running sum of each window's values (``probe``) turns NaN when the window holds a NaN
    (or an inf); such windows are redone exactly, with NumPy's NaN rule, after the plane."""
    N, C = x.shape[0], x.shape[1]
    xp = _padded(x, pad)
    probe = np.empty((out.shape[2], out.shape[3]), x.dtype)
    for n in range(N):
        if pad:
            _pad_sample(x, n, pad, xp)
            for c in range(C):
                _maxpool_plane(xp[c], ph, pw, stride, out[n, c], where[n, c], probe)
        else:
            for c in range(C):
                _maxpool_plane(x[n, c], ph, pw, stride, out[n, c], where[n, c], probe)


@kernel(internal=True)
def _maxpool_scatter(d, w, ph, pw, stride, off, gp):
    """Zero the plane gp (Hp, Wp), then add each d[oy, ox] at its window's tap w[oy, ox] (off: tap -> offset)."""
    Wp = gp.shape[1]
    g = gp.reshape(gp.size)
    g[:] = 0
    OH, OW = d.shape
    for oy in range(OH):
        base = oy * stride * Wp
        for ox in range(OW):
            g[base + ox * stride + off[w[oy, ox]]] += d[oy, ox]


@kernel
def maxpool_backward(dout, where, ph, pw, stride, pad, dx):
    """dx (N, C, H, W) = dout added at each window's maximum pixel (where as maxpool_forward writes it;
    overlapping windows add up); a maximum that was a padding zero passes nothing back.

    Plane by plane: the plane (with pad, a padded scratch plane) is zeroed while it sits in cache and each dout
    value added at its pixel through a table of tap offsets; with pad, the border is then cropped away."""
    N, C, H, W = dx.shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    off = np.empty(ph * pw, np.int64)
    for ky in range(ph):
        for kx in range(pw):
            off[ky * pw + kx] = ky * Wp + kx
    gp = np.empty((Hp, Wp) if pad else (0, 0), dx.dtype)
    for n in range(N):
        for c in range(C):
            if pad:
                _maxpool_scatter(dout[n, c], where[n, c], ph, pw, stride, off, gp)
                g = dx[n, c]
                for i in range(H):
                    src = gp[i + pad]
                    dst = g[i]
                    for j in range(W):
                        dst[j] = src[j + pad]
            else:
                _maxpool_scatter(dout[n, c], where[n, c], ph, pw, stride, off, dx[n, c])


# --- ReLU then max pooling, fused (the convolutional nets' conv - relu - pool) ------------------------------------
@kernel
def relu_maxpool_forward(x, ph, pw, stride, pad, out, where):
    """maxpool_forward of relu(x) (the book's relu: 0 where x <= 0) without making relu(x): relu is monotone, so
    each window's maximum is relu(max(x)); a window whose maximum is <= 0 is all zeros after relu, whose first
    maximum is tap 0. NaN windows keep their NaN and its tap, as in relu(x)."""
    maxpool_forward(x, ph, pw, stride, pad, out, where)
    o = out.reshape(out.size)
    w = where.reshape(where.size)
    for i in range(o.size):
        if o[i] <= 0:
            o[i] = 0
            w[i] = 0


@kernel
def conv_backward_pooled(col3, dpool, out, where, conv_w, W2, fh, fw, stride, pad, dW2, db, dx):
    """The backward of a convolution followed by relu_maxpool_forward with 2 x 2 windows, stride 2 and no pad,
    straight from the pooled gradient dpool (N, FN, PH, PW) (out, where: that pooling's; conv_w: the
    convolution's output width OW): dW2 (FN, K), db and, unless dx has no samples, dx (N, C, H, W).

    The convolution's dout is zero but at one pixel per window (where relu let it through, out != 0), so its
    products with col3 (N, OH*OW, K) and W2 (FN, K) reduce to one row each per such pixel: dW2[f] += v * col
    row, and the dcol row += v * W2[f] (then col2im), a quarter of the dense products' work, no dout plane."""
    N, FN, PH, PW = dpool.shape
    K = dW2.shape[1]
    need_dx = dx.shape[0] > 0
    oh = col3.shape[1] // conv_w
    dcol2 = np.empty((col3.shape[1] if need_dx else 0, K), dW2.dtype)
    gp = _padded(dx, pad) if need_dx else np.empty((0, 0, 0), dW2.dtype)
    dW2[:] = 0
    db[:] = 0
    for n in range(N):  # sample-major: one sample's col rows stay in cache for every filter
        rows = col3[n]
        dcol2[:] = 0
        for f in range(FN):
            acc = dW2[f]
            w2 = W2[f]
            s = db[f]
            for oy in range(PH):
                for ox in range(PW):
                    if out[n, f, oy, ox] != 0:
                        v = dpool[n, f, oy, ox]
                        k = where[n, f, oy, ox]
                        pos = (2 * oy + (k >> 1)) * conv_w + 2 * ox + (k & 1)
                        row = rows[pos]
                        for j in range(K):
                            acc[j] += v * row[j]
                        if need_dx:
                            drow = dcol2[pos]
                            for j in range(K):
                                drow[j] += v * w2[j]
                        s += v
            db[f] = s
        if need_dx:
            gp[:] = 0
            _col2im_sample(dcol2, fh, fw, stride, oh, conv_w, gp)
            _crop_sample(gp, pad, dx, n)
