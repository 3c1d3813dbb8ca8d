"""The second book's negative sampler, draw for draw: per row, NumPy's legacy ``RandomState.choice(vocab_size,
size, replace=False, p)`` on the word probabilities with the row's target set to 0 and renormalised.

What NumPy computes for a row (the *exact* path below does the same, step by step, in the same order):

* ``p = word_p.copy(); p[target] = 0; p /= p.sum()``: NumPy's pairwise sum, then one division per entry;
* each round of ``choice``: ``size - found`` uniforms x, ``cdf = cumsum(p)`` (sequential), ``cdf /= cdf[-1]``,
  ``searchsorted(cdf, x, side='right')`` (the first index whose cdf exceeds x), the round's new words kept in
  order of first appearance, and the words found so far zeroed in p before the next round.

That costs three passes over the vocabulary per row. The *fast* path finds the same word from prefix sums of
word_p computed once per batch: the computed cdf_i equals the real F_i = (prefix_i - excluded mass up to i) /
(the same up to the end) to a relative error below rho = gamma(2V + 2) (u = 2**-53 per division and addition;
p's common divisor cancels), and the prefix sums give F_i to an absolute error below e_N / D. An index k whose
bounds prove cdf[k-1] <= x < cdf[k] is NumPy's answer, since the cdf never decreases; when the bounds cannot
decide (x within about 1e-11 of a cdf value, or words too small for the bounds), the row is redone by the exact
path. Each bound is doubled for safety.

The caller draws the uniforms (``np.random.random_sample``) and passes them in; the kernel stops, without
finishing a row it cannot finish, when a round needs more uniforms than it was given, and says how many more that
round needs, so the caller never draws a uniform the book would not draw.
"""
import numpy as np

from .._jit import kernel

PAIRWISE_BLOCK = 128  # NumPy's PW_BLOCKSIZE
UNROLL = 8  # NumPy's partial sums in a block
UNIT_ROUNDOFF = 2.0 ** -53
SMALLEST_SAFE_RATIO = 2.0 ** -1000  # smallest positive word_p / sum for the fast path (no subnormal quotients)

# report[0] of draw_negative_samples (the caller turns them into messages)
DONE, NEED_MORE, BAD_PROBABILITY, TOO_FEW_WORDS = 0, 1, 2, 3
_UNDECIDED = 4  # the fast path could not prove a word: the row goes to the exact path


# --- NumPy's arithmetic -----------------------------------------------------------------------------------------
@kernel(internal=True)
def pairwise_block(a, start, n):
    """NumPy's sum of a[start:start + n] for n <= 128: eight partial sums combined as a tree, then the tail; in
    a's dtype (np.float32(0) becomes float64 when added to float64)."""
    if n < UNROLL:
        res = np.float32(0.0)
        for i in range(n):
            res += a[start + i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = UNROLL
    whole = n - n % UNROLL
    while i < whole:
        j = start + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += UNROLL
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@kernel
def pairwise_sum(a):
    """``np.sum(a)`` of a 1-D C-contiguous float32 or float64 array, bit for bit, in its dtype: NumPy halves a
    range longer than 128 at a multiple of 8 and adds the halves' sums; here with an explicit stack (left half,
    then right, then add). Like NumPy's, the result is added to 0 (so -0.0 comes out as 0.0)."""
    n = a.size
    if n <= PAIRWISE_BLOCK:
        return pairwise_block(a, 0, n) + np.float32(0.0)
    starts, lengths = np.empty(64, np.int64), np.empty(64, np.int64)
    stage = np.zeros(64, np.int64)  # 0: not split yet, 1: left half summed (in left), 2: right half summed
    left = np.empty(64, a.dtype)
    starts[0], lengths[0] = 0, n
    top = 0
    result = a[0]  # (a placeholder of a's dtype)
    while top >= 0:
        start, length = starts[top], lengths[top]
        half = length // 2
        half -= half % UNROLL
        if length <= PAIRWISE_BLOCK:
            result = pairwise_block(a, start, length)
            top -= 1
        elif stage[top] == 0:
            stage[top] = 1
            top += 1
            starts[top], lengths[top], stage[top] = start, half, 0
        elif stage[top] == 1:
            left[top] = result
            stage[top] = 2
            top += 1
            starts[top], lengths[top], stage[top] = start + half, length - half, 0
        else:
            result = left[top] + result
            top -= 1
    return result + np.float32(0.0)


@kernel(internal=True)
def _search_right(cdf, last, x):
    """``searchsorted(cdf / last, x, side='right')``: the first i with x < cdf[i] / last (cdf non-decreasing)."""
    lo, hi = 0, cdf.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < cdf[mid] / last:
            hi = mid
        else:
            lo = mid + 1
    return lo


@kernel(internal=True)
def _keep_new(row, round_start, found, w):
    """Append w to row[:found] unless this round already found it (np.unique's first occurrences, in order);
    returns the new count."""
    for q in range(round_start, found):
        if row[q] == w:
            return found
    row[found] = w
    return found + 1


@kernel(internal=True)
def _draw_row_exact(word_p, target, uniforms, pos, row, p, cdf):
    """One row as NumPy computes it, from uniforms[pos:]. Returns (status, position after the row, uniforms
    missing for the round that ran out)."""
    for i in range(word_p.size):
        p[i] = word_p[i]
    p[target] = 0.0
    s = pairwise_sum(p)
    positive = 0
    for i in range(p.size):
        p[i] = p[i] / s
        positive += p[i] > 0.0
    size, found = row.size, 0
    if positive < size or positive == 0:  # choice's check, on p after the division
        return TOO_FEW_WORDS, pos, 0
    while found < size:
        k = size - found
        if pos + k > uniforms.size:
            return NEED_MORE, pos, pos + k - uniforms.size
        for j in range(found):  # words found in earlier rounds cannot be drawn again
            p[row[j]] = 0.0
        c = 0.0
        for i in range(p.size):  # cumsum, sequential
            c += p[i]
            cdf[i] = c
        round_start = found
        for j in range(k):
            found = _keep_new(row, round_start, found, _search_right(cdf, c, uniforms[pos + j]))
        pos += k
    return DONE, pos, 0


# --- the fast path ----------------------------------------------------------------------------------------------
@kernel
def prepare(word_p, prefix):
    """Check word_p and fill prefix with its running sums (sequential). Returns (number of entries > 0, whether
    the fast path's bounds hold), or (-1, False) when word_p holds a negative, NaN or infinite value."""
    c, positive, smallest = 0.0, 0, np.inf
    for i in range(word_p.size):
        w = word_p[i]
        if not (0.0 <= w < np.inf):
            return -1, False
        if w > 0.0:
            positive += 1
            smallest = min(smallest, w)
        c += w
        prefix[i] = c
    fast = positive > 0 and c < np.inf and smallest / c >= SMALLEST_SAFE_RATIO and word_p.size < 2 ** 40
    return positive, fast


@kernel(internal=True)
def _gamma(n):
    """Higham's gamma_n = n u / (1 - n u), the relative error bound of n roundings."""
    return n * UNIT_ROUNDOFF / (1.0 - n * UNIT_ROUNDOFF)


@kernel(internal=True)
def _kept_mass(prefix, excluded, n_excluded, word_p, i):
    """prefix[i] less the word_p of the excluded words up to i: the unnormalised F_i."""
    cut = 0.0
    for j in range(n_excluded):
        if excluded[j] <= i:
            cut += word_p[excluded[j]]
    return prefix[i] - cut


@kernel(internal=True)
def _proven_word(prefix, excluded, n_excluded, word_p, x, total, e_n, rho):
    """The first index whose cdf exceeds x, or -1 when the bounds cannot prove which it is."""
    lo, hi = 0, prefix.size
    threshold = x * total
    while lo < hi:
        mid = (lo + hi) >> 1
        if _kept_mass(prefix, excluded, n_excluded, word_p, mid) > threshold:
            hi = mid
        else:
            lo = mid + 1
    k = lo
    if k == prefix.size:
        return -1
    slack = 8.0 * UNIT_ROUNDOFF  # the roundings of the bounds themselves
    low_k = (_kept_mass(prefix, excluded, n_excluded, word_p, k) - e_n) / (total + e_n) * (1.0 - rho) * (1.0 - slack)
    if not x < low_k:
        return -1
    if k > 0:
        high = ((_kept_mass(prefix, excluded, n_excluded, word_p, k - 1) + e_n) / (total - e_n) * (1.0 + rho)
                * (1.0 + slack))
        if not high <= x:
            return -1
    return k


@kernel
def _draw_row_fast(word_p, prefix, target, uniforms, pos, row, excluded):
    """One row from the prefix sums (see the module docstring); status _UNDECIDED when a bound cannot decide."""
    v = prefix.size
    size, found = row.size, 0
    grand = prefix[v - 1] * (1.0 + 4.0 * _gamma(v))  # above the exact sum of word_p
    rho = 2.0 * _gamma(2 * v + 2)
    excluded[0] = target
    while found < size:
        k = size - found
        if pos + k > uniforms.size:
            return NEED_MORE, pos, pos + k - uniforms.size
        n_excluded = found + 1
        for j in range(found):
            excluded[j + 1] = row[j]
        e_n = 2.0 * (_gamma(v) + _gamma(n_excluded) + 2.0 * UNIT_ROUNDOFF) * grand
        total = _kept_mass(prefix, excluded, n_excluded, word_p, v - 1)
        if not total > 4.0 * e_n:
            return _UNDECIDED, pos, 0
        round_start = found
        for j in range(k):
            w = _proven_word(prefix, excluded, n_excluded, word_p, uniforms[pos + j], total, e_n, rho)
            if w < 0:
                return _UNDECIDED, pos, 0
            found = _keep_new(row, round_start, found, w)
        pos += k
    return DONE, pos, 0


# --- the batch --------------------------------------------------------------------------------------------------
@kernel
def draw_negative_samples(word_p, prefix, positive, fast, targets, first_row, uniforms, out, p, cdf, report):
    """Rows first_row.. of out (n, sample_size) drawn from ``uniforms`` in order. word_p float64 (V,); prefix,
    positive and fast from prepare(word_p, prefix); targets intp (n,) in [0, V); out int32; p and cdf float64 (V,)
    scratch. Writes report[:] = (status, first unfinished row, uniforms used by the finished rows, uniforms missing
    for the unfinished row's round)."""
    excluded = np.empty(out.shape[1] + 1, np.int64)
    pos = 0
    for r in range(first_row, targets.shape[0]):
        t = targets[r]
        kept = positive - (word_p[t] > 0.0)
        if kept < out.shape[1] or kept == 0:
            report[0], report[1], report[2], report[3] = TOO_FEW_WORDS, r, pos, 0
            return
        status = _UNDECIDED
        if fast:
            status, after, missing = _draw_row_fast(word_p, prefix, t, uniforms, pos, out[r], excluded)
        if status == _UNDECIDED:
            status, after, missing = _draw_row_exact(word_p, t, uniforms, pos, out[r], p, cdf)
        if status != DONE:
            report[0], report[1], report[2], report[3] = status, r, pos, missing
            return
        pos = after
    report[0], report[1], report[2], report[3] = DONE, targets.shape[0], pos, 0
