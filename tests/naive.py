"""Test helpers shared by the test modules.

1. Plain-loop oracles: obviously-correct, slow versions of the computations whose NumPy reference
   (fastnn.reference) is itself clever (max subtraction with keepdims, fancy indexing, nditer, BLAS). They work on
   Python floats (float64), one element at a time. Beside them, the jitted scalar functions f(x) that the
   numerical-gradient tests differentiate.
2. Tolerances: one place that says how close fastnn must be to an oracle, per dtype.
3. hypothesis strategies for the arrays the tests feed in: both dtypes, any ndim, batch 1, 1-D, wide and tall 2-D
   shapes, and C-ordered, Fortran-ordered, strided and negatively strided layouts.
"""
import math

import numba
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

CE_DELTA = 1e-7
H = 1e-4


# --- 1. plain-loop oracles ----------------------------------------------------------------------------------------
def _rows(x):
    """x as a list of rows of Python floats (a 1-D x is one row)."""
    x = np.asarray(x, dtype=np.float64)
    return [list(map(float, row)) for row in x.reshape(-1, x.shape[-1])]


def argmax(row):
    """First index of the largest value (NaN counts as largest, like np.argmax)."""
    best = 0
    for j, v in enumerate(row):
        if math.isnan(v):
            return j if not math.isnan(row[best]) else best
        if v > row[best]:
            best = j
    return best


def softmax_row(row):
    m = max(row)
    exps = [math.exp(v - m) for v in row]
    total = math.fsum(exps)
    return [e / total for e in exps]


def softmax(x):
    """Softmax over the last axis, row by row, in float64."""
    x = np.asarray(x)
    return np.array([softmax_row(r) for r in _rows(x)]).reshape(x.shape)


def _labels(y_rows, t):
    """The book's rule: t of the same size as y is one-hot (reduced to argmax), else integer labels."""
    t = np.asarray(t)
    n = len(y_rows)
    if t.size == n * len(y_rows[0]):
        return [argmax(r) for r in _rows(t.reshape(n, -1))]
    return [int(v) for v in t.reshape(-1)]


def cross_entropy(y, t):
    """mean_i -log(y[i, t_i] + 1e-7), one row at a time."""
    rows = _rows(y)
    labels = _labels(rows, t)
    return math.fsum(-math.log(row[k] + CE_DELTA) for row, k in zip(rows, labels)) / len(rows)


def softmax_cross_entropy(x, t):
    return cross_entropy(softmax(x), t)


def softmax_cross_entropy_backward(y, t, dout=1.0):
    """(y - t) * dout / N with t one-hot (used as given) or integer labels."""
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t)
    n, c = y.shape
    dx = np.empty((n, c))
    for i in range(n):
        for j in range(c):
            target = t[i, j] if t.shape == y.shape else float(j == t[i])
            dx[i, j] = (y[i, j] - target) * dout / n
    return dx


def sum_squared_error(y, t):
    """0.5 * sum of squared differences, summed exactly (math.fsum) in float64."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    return 0.5 * math.fsum((a - b) ** 2 for a, b in zip(y, t))


def affine_forward(x, W, b):
    n, d = x.shape
    m = W.shape[1]
    out = np.empty((n, m))
    for i in range(n):
        for j in range(m):
            out[i, j] = math.fsum(float(x[i, k]) * float(W[k, j]) for k in range(d)) + float(b[j])
    return out


def affine_backward(x, W, dout):
    """(dx, dW, db) by triple loops: dx = dout W^T, dW = x^T dout, db = column sums of dout."""
    n, d = x.shape
    m = W.shape[1]
    dx = np.array([[math.fsum(float(dout[i, j]) * float(W[k, j]) for j in range(m)) for k in range(d)]
                   for i in range(n)]).reshape(n, d)
    dW = np.array([[math.fsum(float(x[i, k]) * float(dout[i, j]) for i in range(n)) for j in range(m)]
                   for k in range(d)]).reshape(d, m)
    db = np.array([math.fsum(float(dout[i, j]) for i in range(n)) for j in range(m)])
    return dx, dW, db


def numerical_gradient(f, x):
    """Central differences element by element in C order, perturbing a copy of x (f must use its argument)."""
    x = np.array(x, dtype=np.float64, order="C")
    flat = x.reshape(-1)  # a view: writing flat[i] moves x
    grad = np.empty(flat.size)
    for i in range(flat.size):
        tmp = flat[i]
        flat[i] = tmp + H
        fxh1 = f(x)
        flat[i] = tmp - H
        fxh2 = f(x)
        flat[i] = tmp
        grad[i] = (fxh1 - fxh2) / (2 * H)
    return grad.reshape(x.shape)


BN_EPS = 10e-7  # the book's batch-normalisation eps, as it writes it (= 1e-6)


def _feature_rows(x):
    """x (N, ...) as N rows of Python floats, one per feature of the flattened (N, D) view."""
    x = np.asarray(x, dtype=np.float64)
    return [list(map(float, row)) for row in x.reshape(x.shape[0], -1)]


def _batch_stats(rows):
    """Per feature: the batch mean and the mean squared deviation from it (the biased variance), summed exactly."""
    n, d = len(rows), len(rows[0])
    mu = [math.fsum(r[j] for r in rows) / n for j in range(d)]
    var = [math.fsum((r[j] - mu[j]) ** 2 for r in rows) / n for j in range(d)]
    return mu, var


def batchnorm_forward(x, gamma, beta, running_mean=None, running_var=None, momentum=0.9, train_flg=True):
    """The first book's batch normalisation one element at a time: returns (out, running_mean, running_var).

    Training: per feature j, mu_j and var_j over the batch, out = gamma_j * (x - mu_j) / sqrt(var_j + 10e-7) +
    beta_j, and running = momentum * running + (1 - momentum) * batch statistic (running statistics start at 0).
    Test: the same normalisation with the running statistics, which stay as they are."""
    rows = _feature_rows(x)
    d = len(rows[0])
    g, b = [float(v) for v in gamma], [float(v) for v in beta]
    rm = [0.0] * d if running_mean is None else [float(v) for v in running_mean]
    rv = [0.0] * d if running_var is None else [float(v) for v in running_var]
    if train_flg:
        mu, var = _batch_stats(rows)
        rm = [momentum * m + (1 - momentum) * s for m, s in zip(rm, mu)]
        rv = [momentum * v + (1 - momentum) * s for v, s in zip(rv, var)]
        centre, spread = mu, var
    else:
        centre, spread = rm, rv
    std = [math.sqrt(v + BN_EPS) for v in spread]
    out = [[g[j] * (r[j] - centre[j]) / std[j] + b[j] for j in range(d)] for r in rows]
    return np.array(out).reshape(np.shape(x)), np.array(rm), np.array(rv)


def batchnorm_backward(x, gamma, dout):
    """Gradients of sum(dout * out) for the training forward on x: returns (dx, dgamma, dbeta).

    Per feature, with xn_i = (x_i - mu) / std and dy_i = dout_i: dbeta = sum dy_i, dgamma = sum dy_i xn_i and
    dx_i = gamma / std * (dy_i - mean(dy) - xn_i * mean(dy xn)) (mu and std depend on every x_i: the two means)."""
    rows, drows = _feature_rows(x), _feature_rows(dout)
    n, d = len(rows), len(rows[0])
    mu, var = _batch_stats(rows)
    dx = [[0.0] * d for _ in range(n)]
    dgamma, dbeta = [], []
    for j in range(d):
        std = math.sqrt(var[j] + BN_EPS)
        xn = [(r[j] - mu[j]) / std for r in rows]
        dy = [r[j] for r in drows]
        dbeta.append(math.fsum(dy))
        dgamma.append(math.fsum(a * c for a, c in zip(dy, xn)))
        mean_dy, mean_dy_xn = dbeta[-1] / n, dgamma[-1] / n
        for i in range(n):
            dx[i][j] = float(gamma[j]) / std * (dy[i] - mean_dy - xn[i] * mean_dy_xn)
    return np.array(dx).reshape(np.shape(x)), np.array(dgamma), np.array(dbeta)


def tanh_forward(x):
    """tanh of every element, one Python float at a time."""
    return np.array([[math.tanh(float(v)) for v in row] for row in np.asarray(x)])


def tanh_backward(y, dout):
    """dx = dout * (1 - y * y) from the forward's outputs y, element by element."""
    return np.array([[float(d) * (1.0 - float(v) * float(v)) for v, d in zip(yr, dr)]
                     for yr, dr in zip(np.asarray(y), np.asarray(dout))])


# scalar functions for the numerical-gradient tests, jitted once here so that every test module shares their
# compiled specialisations (under NUMBA_DISABLE_JIT=1 they are the plain Python functions)
@numba.njit
def sum_of_squares(x):
    """f(x) = sum x_i**2, gradient 2x: the book's function_2 for 2 elements."""
    total = 0.0
    for idx in np.ndindex(x.shape):
        total += x[idx] * x[idx]
    return total


@numba.njit
def weighted_cubes(x):
    """f(x) = sum_i (i + 1) * x_i**3 / 3 with i the C-order position, gradient (i + 1) * x_i**2: a gradient
    entry in the wrong place, or from the wrong perturbation, shows."""
    total = 0.0
    i = 0
    for idx in np.ndindex(x.shape):
        i += 1
        total += i * x[idx] ** 3 / 3
    return total


@numba.njit
def raises_above_ten(x):
    """sum of x, but raises as soon as an element exceeds 10 (to interrupt numerical_gradient midway)."""
    total = 0.0
    for idx in np.ndindex(x.shape):
        if x[idx] > 10.0:
            raise ValueError("f saw an element above 10")
        total += x[idx]
    return total


def weighted_cubes_gradient(x):
    x = np.asarray(x, dtype=np.float64)
    return np.arange(1, x.size + 1).reshape(x.shape) * x ** 2


# chapter 7: convolution and max pooling, straight from the definitions, one element at a time in float64.
# Input pixel (iy, ix) = (oy*stride + ky - pad, ox*stride + kx - pad); outside the image it is a padding zero.
def _pixel(x, n, c, iy, ix):
    """x[n, c, iy, ix] as a Python float, 0.0 in the zero padding."""
    if 0 <= iy < x.shape[2] and 0 <= ix < x.shape[3]:
        return float(x[n, c, iy, ix])
    return 0.0


def _out_size(size, filter_size, stride, pad):
    return (size + 2 * pad - filter_size) // stride + 1


def conv_forward(x, W, b, stride=1, pad=0):
    """out[n, f, oy, ox] = b[f] + sum over c, ky, kx of W[f, c, ky, kx] * x[n, c, iy, ix]."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = _out_size(H, FH, stride, pad), _out_size(Wd, FW, stride, pad)
    out = np.empty((N, FN, OH, OW))
    for n in range(N):
        for f in range(FN):
            for oy in range(OH):
                for ox in range(OW):
                    terms = [float(W[f, c, ky, kx]) * _pixel(x, n, c, oy * stride + ky - pad, ox * stride + kx - pad)
                             for c in range(C) for ky in range(FH) for kx in range(FW)]
                    out[n, f, oy, ox] = math.fsum(terms) + float(b[f])
    return out


def conv_backward(x, W, dout, stride=1, pad=0):
    """(dx, dW, db) of sum(out * dout): each product W[f,c,ky,kx] * x[n,c,iy,ix] of the forward sends
    dout[n,f,oy,ox] * W to dx[n,c,iy,ix] (dropped in the padding) and dout * x to dW[f,c,ky,kx]."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = dout.shape[2], dout.shape[3]
    dx_terms = {}
    dW_terms = {}
    for n in range(N):
        for f in range(FN):
            for oy in range(OH):
                for ox in range(OW):
                    d = float(dout[n, f, oy, ox])
                    for c in range(C):
                        for ky in range(FH):
                            for kx in range(FW):
                                iy, ix = oy * stride + ky - pad, ox * stride + kx - pad
                                dW_terms.setdefault((f, c, ky, kx), []).append(d * _pixel(x, n, c, iy, ix))
                                if 0 <= iy < H and 0 <= ix < Wd:
                                    dx_terms.setdefault((n, c, iy, ix), []).append(d * float(W[f, c, ky, kx]))
    dx = np.zeros(x.shape)
    for key, terms in dx_terms.items():
        dx[key] = math.fsum(terms)
    dW = np.zeros(W.shape)
    for key, terms in dW_terms.items():
        dW[key] = math.fsum(terms)
    db = np.array([math.fsum(float(v) for v in dout[:, f].reshape(-1)) for f in range(FN)])
    return dx, dW, db


def im2col(x, filter_h, filter_w, stride=1, pad=0):
    """Row (n, oy, ox), column (c, ky, kx) = x[n, c, iy, ix] (0 in the padding)."""
    N, C, H, W = x.shape
    OH, OW = _out_size(H, filter_h, stride, pad), _out_size(W, filter_w, stride, pad)
    col = np.empty((N * OH * OW, C * filter_h * filter_w))
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                row = (n * OH + oy) * OW + ox
                for c in range(C):
                    for ky in range(filter_h):
                        for kx in range(filter_w):
                            col[row, (c * filter_h + ky) * filter_w + kx] = _pixel(
                                x, n, c, oy * stride + ky - pad, ox * stride + kx - pad)
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """Pixel (n, c, iy, ix) = the sum of the col entries im2col reads from it; entries from the padding dropped."""
    N, C, H, W = input_shape
    OH, OW = _out_size(H, filter_h, stride, pad), _out_size(W, filter_w, stride, pad)
    terms = {}
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                row = (n * OH + oy) * OW + ox
                for c in range(C):
                    for ky in range(filter_h):
                        for kx in range(filter_w):
                            iy, ix = oy * stride + ky - pad, ox * stride + kx - pad
                            if 0 <= iy < H and 0 <= ix < W:
                                v = float(col[row, (c * filter_h + ky) * filter_w + kx])
                                terms.setdefault((n, c, iy, ix), []).append(v)
    img = np.zeros(input_shape)
    for key, vals in terms.items():
        img[key] = math.fsum(vals)
    return img


def maxpool_forward(x, pool_h, pool_w, stride=2, pad=0):
    """(out, arg_max): out[n, c, oy, ox] = the largest of the window's values, padding zeros included, NaN if
    any is NaN; arg_max[((n*OH + oy)*OW + ox)*C + c] = ky*pool_w + kx of its first maximum (first NaN)."""
    N, C, H, W = x.shape
    OH, OW = _out_size(H, pool_h, stride, pad), _out_size(W, pool_w, stride, pad)
    out = np.empty((N, C, OH, OW))
    arg_max = np.empty(N * OH * OW * C, dtype=np.intp)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    window = [_pixel(x, n, c, oy * stride + ky - pad, ox * stride + kx - pad)
                              for ky in range(pool_h) for kx in range(pool_w)]
                    k = argmax(window)
                    out[n, c, oy, ox] = window[k]
                    arg_max[((n * OH + oy) * OW + ox) * C + c] = k
    return out, arg_max


def maxpool_backward(dout, arg_max, input_shape, pool_h, pool_w, stride=2, pad=0):
    """dx: dout[n, c, oy, ox] added at the pixel of its window's arg_max; nothing for a padding position."""
    N, C, H, W = input_shape
    OH, OW = dout.shape[2], dout.shape[3]
    dx = np.zeros(input_shape)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    k = int(arg_max[((n * OH + oy) * OW + ox) * C + c])
                    iy, ix = oy * stride + k // pool_w - pad, ox * stride + k % pool_w - pad
                    if 0 <= iy < H and 0 <= ix < W:
                        dx[n, c, iy, ix] += float(dout[n, c, oy, ox])
    return dx


# the second book's text utilities (chapters 2-3), from their definitions, one word pair or one cell at a time
def co_matrix(corpus, vocab_size, window_size):
    """counts[w][v]: the ordered position pairs (p, q), 0 < |p - q| <= window_size, with word w at p and v at q."""
    corpus = [int(w) for w in corpus]
    counts = [[0] * vocab_size for _ in range(vocab_size)]
    for p, w in enumerate(corpus):
        for q, v in enumerate(corpus):
            if 0 < abs(p - q) <= window_size:
                counts[w][v] += 1
    return np.array(counts, dtype=np.int64).reshape(vocab_size, vocab_size)


def _ieee_ratio(num, den):
    """num / den with IEEE's answers for a zero denominator (Python raises)."""
    if den == 0:
        return math.nan if num == 0 or math.isnan(num) else math.copysign(math.inf, num)
    return num / den


def _log2(r):
    if math.isnan(r) or r < 0:
        return math.nan
    return -math.inf if r == 0 else math.log2(r)


def ppmi(C, eps=1e-8):
    """max(0, log2(C[i][j] * N / (S[j] * S[i]) + eps)) cell by cell in Python numbers (integer counts exactly,
    float counts in float64), N the total and S[j] the sum of column j; NaN counts as 0."""
    rows = [[c if isinstance(c, int) else float(c) for c in row] for row in np.asarray(C).tolist()]
    n = len(rows)
    total = sum(sum(row) for row in rows)
    column = [sum(rows[i][j] for i in range(n)) for j in range(n)]
    out = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(n):
            pmi = _log2(_ieee_ratio(rows[i][j] * total, column[j] * column[i]) + eps)
            out[i, j] = pmi if pmi > 0 else 0.0
    return out


def ppmi_progress(total):
    """The book's verbose lines for a matrix of ``total`` cells: after every (total // 100 + 1)-th cell."""
    every = total // 100 + 1
    return ["%.1f%% done" % (100 * cnt / total) for cnt in range(1, total + 1) if cnt % every == 0]


def contexts_target(corpus, window_size):
    """(contexts, target) as lists: each centre position with window_size words on both sides, in order."""
    corpus = [int(w) for w in corpus]
    contexts, target = [], []
    for centre in range(window_size, len(corpus) - window_size):
        target.append(corpus[centre])
        contexts.append([corpus[centre + off] for off in range(-window_size, window_size + 1) if off != 0])
    return contexts, target


def one_hot(ids, vocab_size):
    """A nested list: each word id replaced by a list of vocab_size zeros with a 1 at the id."""
    if np.ndim(ids) == 0:
        return [1 if k == int(ids) else 0 for k in range(vocab_size)]
    return [one_hot(i, vocab_size) for i in ids]


def cos_similarity(x, y, eps=1e-8):
    """sum_k x_k y_k / ((||x|| + eps) (||y|| + eps)), summed exactly in float64."""
    x = [float(v) for v in np.asarray(x).reshape(-1)]
    y = [float(v) for v in np.asarray(y).reshape(-1)]
    norm_x = math.sqrt(math.fsum(v * v for v in x)) + eps
    norm_y = math.sqrt(math.fsum(v * v for v in y)) + eps
    return math.fsum((a / norm_x) * (b / norm_y) for a, b in zip(x, y))


def unit_rows(x):
    """Each row of a 2-D x (or a 1-D x) divided by its length, in float64 (NaN for a zero row)."""
    rows = _rows(x)
    out = []
    for row in rows:
        length = math.sqrt(math.fsum(v * v for v in row))
        out.append([v / length if length else math.nan for v in row])
    return np.array(out).reshape(np.shape(x))


def embedding_backward(idx, dout, vocab_size):
    """dW (vocab_size, D) in float64: zeros, then dout's row n added into row idx[n] for every n."""
    idx = [int(i) for i in np.asarray(idx).reshape(-1)]
    rows = _rows(np.asarray(dout).reshape(len(idx), -1)) if idx else []
    width = np.asarray(dout).shape[-1]
    dW = [[0.0] * width for _ in range(vocab_size)]
    for i, row in zip(idx, rows):
        for j, v in enumerate(row):
            dW[i][j] += v
    return np.array(dW).reshape(vocab_size, width)


def numpy_sum(values):
    """np.sum of a float64 vector, bit for bit: NumPy's pairwise summation (a block of up to 128 values in eight
    running sums combined as a tree, the remainder added after; longer vectors split in halves at a multiple of 8),
    added to 0.0."""
    def block(v):
        if len(v) < 8:
            res = 0.0
            for x in v:
                res += x
            return res
        r = list(v[:8])
        whole = len(v) - len(v) % 8
        for i in range(8, whole, 8):
            for j in range(8):
                r[j] += v[i + j]
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for x in v[whole:]:
            res += x
        return res

    def pairwise(v):
        if len(v) <= 128:
            return block(v)
        half = len(v) // 2
        half -= half % 8
        return pairwise(v[:half]) + pairwise(v[half:])

    return 0.0 + pairwise([float(x) for x in values])


def legacy_choice(p, size, uniforms):
    """NumPy's legacy ``RandomState.choice(len(p), size, replace=False, p=p)``, taking its uniforms one at a time
    from the iterator ``uniforms``: rounds of ``size - found`` uniforms; in each, the found entries of p zeroed, the
    running sums divided by their last, each uniform's word the first whose quotient exceeds it (a linear scan),
    and the round's new words kept in order of first appearance. Returns the list of words."""
    p = [float(q) for q in p]
    found = []
    while len(found) < size:
        xs = [next(uniforms) for _ in range(size - len(found))]
        for f in found:
            p[f] = 0.0
        cdf, c = [], 0.0
        for q in p:
            c += q
            cdf.append(c)
        new = []
        for x in xs:
            i = 0
            while not x < cdf[i] / c:
                i += 1
            if i not in new:
                new.append(i)
        found += new
    return found


def book_negative_row(word_p, target, size, uniforms):
    """One row of the second book's sampler: word_p with target's entry 0, divided by its np.sum, then
    legacy_choice."""
    p = [float(q) for q in word_p]
    p[target] = 0.0
    s = numpy_sum(p)
    return legacy_choice([q / s for q in p], size, uniforms)


# --- recurrent layers (fastnn.time_layers): the forward pass element by element ---------------------------------
def _logistic(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _affine_unit(x, h, Wx, Wh, b, k):
    """Pre-activation unit k: x . Wx[:, k] + h . Wh[:, k] + b[k], in Python floats."""
    return (math.fsum(x[d] * float(Wx[d, k]) for d in range(len(x)))
            + math.fsum(h[j] * float(Wh[j, k]) for j in range(len(h))) + float(b[k]))


def recurrent_forward(kind, xs, Wx, Wh, b, h0=None, c0=None):
    """(hs, h, c) in float64 of "rnn", "lstm" or "gru" over xs (N, T, D) from h0 (c0) or zeros, one sequence, step
    and unit at a time (c is None except for the LSTM)."""
    N, T, _ = np.shape(xs)
    H = np.shape(Wh)[0]
    hs = np.zeros((N, T, H))
    cs = np.zeros((N, H))
    for n in range(N):
        h = [0.0] * H if h0 is None else [float(v) for v in h0[n]]
        c = [0.0] * H if c0 is None else [float(v) for v in c0[n]]
        for t in range(T):
            x = [float(v) for v in xs[n, t]]
            unit = lambda k, state=h: _affine_unit(x, state, Wx, Wh, b, k)  # noqa: E731
            if kind == "rnn":
                h = [math.tanh(unit(j)) for j in range(H)]
            elif kind == "lstm":
                f, g = [_logistic(unit(j)) for j in range(H)], [math.tanh(unit(H + j)) for j in range(H)]
                i, o = [_logistic(unit(2 * H + j)) for j in range(H)], [_logistic(unit(3 * H + j)) for j in range(H)]
                c = [f[j] * c[j] + g[j] * i[j] for j in range(H)]
                h = [o[j] * math.tanh(c[j]) for j in range(H)]
            else:
                z, r = [_logistic(unit(j)) for j in range(H)], [_logistic(unit(H + j)) for j in range(H)]
                x_part = [_affine_unit(x, [0.0] * H, Wx, Wh, b, 2 * H + j) for j in range(H)]
                rh = [r[j] * h[j] for j in range(H)]
                cand = [math.tanh(x_part[j] + math.fsum(rh[k] * float(Wh[k, 2 * H + j]) for k in range(H)))
                        for j in range(H)]
                h = [(1 - z[j]) * h[j] + z[j] * cand[j] for j in range(H)]
            hs[n, t] = h
        cs[n] = c
    return hs, hs[:, -1].copy(), (cs if kind == "lstm" else None)


# --- 2. tolerances --------------------------------------------------------------------------------------------------
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def tol(dtype, scale=0.0):
    """assert_allclose keywords for results in ``dtype``.

    atol is the smallest normal number: results that underflow may be subnormal in fastnn where NumPy's formula
    gives 0 (e.g. sigmoid(-740) = 1/(1 + exp(740)) = 1/inf). ``scale`` adds rtol * scale to atol where cancellation
    makes a relative bound meaningless (a dot product against the sum of the absolute products, 1 - s near s = 1).
    """
    dtype = np.dtype(dtype)
    rtol = RTOL[dtype]
    return dict(rtol=rtol, atol=float(np.finfo(dtype).tiny) + rtol * float(scale))


def assert_close(actual, desired, dtype=None, scale=0.0):
    dtype = np.result_type(actual) if dtype is None else dtype
    np.testing.assert_allclose(actual, desired, **tol(dtype, scale))


# --- 3. hypothesis strategies ---------------------------------------------------------------------------------------
DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]
LAYOUTS = ["C", "F", "strided", "reversed"]
dtypes = st.sampled_from(DTYPES)


def floats(dtype, bound=30.0):
    """Finite elements of ``dtype`` in [-bound, bound] (subnormals included)."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False)


def batch_shapes(max_side=12, max_long=48):
    """2-D (batch, classes) shapes: batch 1, tall (many rows, few columns), wide (few rows, many columns), any."""
    side = st.integers(1, max_side)
    return st.one_of(
        st.tuples(st.just(1), st.integers(1, max_long)),  # batch of one
        st.tuples(st.integers(1, max_long), st.integers(1, 3)),  # tall
        st.tuples(st.integers(1, 3), st.integers(1, max_long)),  # wide
        st.tuples(side, side),
    )


def score_shapes():
    """Shapes the book's 2-D functions take: a 1-D vector or a 2-D batch."""
    return st.one_of(st.tuples(st.integers(1, 48)), batch_shapes())


def any_shapes(min_dims=0, max_dims=4, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)


def relayout(base, layout):
    """A view of ``base``'s data in the given layout, as the test's input.

    C and F are plain copies; 'strided' takes every other element of the last axis of a base twice as long;
    'reversed' walks the first axis backwards (negative stride)."""
    if base.ndim == 0:
        return base
    if layout == "F":
        return np.asfortranarray(base)
    if layout == "strided":
        wide = np.zeros(base.shape[:-1] + (2 * base.shape[-1],), dtype=base.dtype)
        wide[..., ::2] = base
        return wide[..., ::2]
    if layout == "reversed":
        return np.ascontiguousarray(base[::-1])[::-1]
    return base


@st.composite
def arrays(draw, dtype, shape, elements=None, layouts=LAYOUTS):
    """An array of the given dtype and shape (or shape strategy), in a random memory layout."""
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    base = draw(hnp.arrays(dtype, shape, elements=elements if elements is not None else floats(dtype)))
    out = relayout(base, draw(st.sampled_from(layouts)))
    assert out.shape == base.shape
    np.testing.assert_array_equal(out, base)
    return out


# --- 4. time layers and attention (issue 27: the second book's common/time_layers.py, ch08/attention_layer.py) ---
# Plain loops over (n, t) in Python floats; each returns float64 arrays.
def time_softmax_loss(xs, ts, dout=1.0, ignore=-1, delta=0.0):
    """(loss, dxs) of softmax + cross-entropy over the rows of xs (N, T, V) against label ids ts (N, T): the mean
    over the rows whose label is not ``ignore`` of -log(p + delta), dxs = (p - onehot) * dout / count there."""
    N, T, V = np.shape(xs)
    losses, dx = [], np.zeros((N, T, V))
    count = sum(1 for n in range(N) for t in range(T) if int(ts[n][t]) != ignore)
    for n in range(N):
        for t in range(T):
            label = int(ts[n][t])
            if label == ignore:
                continue
            row = [float(v) for v in xs[n][t]]
            p = softmax_row(row)
            if delta:
                losses.append(-math.log(p[label] + delta))
            else:  # -log p by log-sum-exp, finite where p underflows to 0
                m = max(row)
                losses.append(math.log(math.fsum(math.exp(v - m) for v in row)) - (row[label] - m))
            for v in range(V):
                dx[n, t, v] = (p[v] - (v == label)) * dout / count
    return math.fsum(losses) / count, dx


def time_sigmoid_loss(xs, ts, dout=1.0):
    """(loss, dxs) of the binary cross-entropy -log(p + 1e-7) averaged over xs (N, T) and its gradient."""
    N, T = np.shape(xs)
    losses, dx = [], np.zeros((N, T))
    for n in range(N):
        for t in range(T):
            y = 1.0 / (1.0 + math.exp(-float(xs[n][t])))
            label = int(ts[n][t])
            losses.append(-math.log((y if label == 1 else 1.0 - y) + CE_DELTA))
            dx[n, t] = (y - label) * dout / (N * T)
    return math.fsum(losses) / (N * T), dx


def attention_forward(hs_enc, hs_dec):
    """(contexts (N, T_dec, H), weights (N, T_dec, T_enc)) of dot-product attention, step by step."""
    N, S, H = np.shape(hs_enc)
    T = np.shape(hs_dec)[1]
    out, weights = np.zeros((N, T, H)), np.zeros((N, T, S))
    for n in range(N):
        for t in range(T):
            scores = [math.fsum(float(hs_enc[n, s, k]) * float(hs_dec[n, t, k]) for k in range(H)) for s in range(S)]
            a = softmax_row(scores)
            weights[n, t] = a
            for k in range(H):
                out[n, t, k] = math.fsum(a[s] * float(hs_enc[n, s, k]) for s in range(S))
    return out, weights


def attention_backward(hs_enc, hs_dec, dout):
    """(dhs_enc, dhs_dec) of attention_forward for the upstream gradient dout (N, T_dec, H)."""
    N, S, H = np.shape(hs_enc)
    T = np.shape(hs_dec)[1]
    _, weights = attention_forward(hs_enc, hs_dec)
    denc, ddec = np.zeros((N, S, H)), np.zeros((N, T, H))
    for n in range(N):
        for t in range(T):
            a = weights[n, t]
            da = [math.fsum(float(dout[n, t, k]) * float(hs_enc[n, s, k]) for k in range(H)) for s in range(S)]
            mean = math.fsum(a[s] * da[s] for s in range(S))
            ds = [a[s] * (da[s] - mean) for s in range(S)]
            for s in range(S):
                for k in range(H):
                    denc[n, s, k] += a[s] * float(dout[n, t, k]) + ds[s] * float(hs_dec[n, t, k])
            for k in range(H):
                ddec[n, t, k] = math.fsum(ds[s] * float(hs_enc[n, s, k]) for s in range(S))
    return denc, ddec


def seq2seq_generate(kind, params, question, start_id, sample_size):
    """Greedy ids of the second book's seq2seq models ("plain", "peeky" or "attention"; params in the book's order:
    encoder embed W, Wx, Wh, b, decoder embed W, Wx, Wh, b, affine W, b), a step at a time in float64 from
    recurrent_forward and attention_forward; the first of equal maxima wins."""
    embed_e, Wx_e, Wh_e, b_e, embed_d, Wx_d, Wh_d, b_d, W, b = params
    enc_hs, h, _ = recurrent_forward("lstm", np.asarray(embed_e, float)[list(question)][None], Wx_e, Wh_e, b_e)
    peek, c, ids, current = h[0].copy(), np.zeros_like(h), [], int(start_id)
    for _ in range(sample_size):
        x = [float(v) for v in embed_d[current]]
        _, h, c = recurrent_forward("lstm", np.array([[list(peek) + x if kind == "peeky" else x]]), Wx_d, Wh_d, b_d,
                                    h, c)
        features = list(h[0])
        if kind == "peeky":
            features = list(peek) + features
        elif kind == "attention":
            features = list(attention_forward(enc_hs, h[None])[0][0, 0]) + features
        scores = [math.fsum(features[k] * float(W[k, v]) for k in range(len(features))) + float(b[v])
                  for v in range(np.shape(W)[1])]
        current = scores.index(max(scores))
        ids.append(current)
    return ids
