"""The second book's counting loops (chapters 2-3): co-occurrence counts, PPMI, and the context windows of word2vec.

Contracts (fastnn.text checks them before any call): ``corpus`` is a 1-D C-contiguous int32/int64 array of word
ids in [0, vocab_size); outputs are preallocated, C-contiguous and, where a kernel adds to them, zeroed.
"""
import numpy as np

from .._jit import kernel


@kernel
def co_occurrence(corpus, window_size, out):
    """out[w, v] += 1 for every two positions at most ``window_size`` apart holding words w and v (each pair counts
    once from each side, as the book's loop counts a word's left and right neighbours). Returns nothing."""
    n = corpus.shape[0]
    for idx in range(n):
        word = corpus[idx]
        for d in range(1, min(window_size, n - 1 - idx) + 1):
            other = corpus[idx + d]
            out[word, other] += 1
            out[other, word] += 1


@kernel
def ppmi_rows(C, N, S, eps, out, start, stop):
    """Rows start..stop-1 of the positive PMI: out[i, j] = max(0, log2(C[i, j] * N / (S[j] * S[i]) + eps)), the
    book's expression in the arithmetic of its operands' types (integer counts: int64 products, one float64
    division; float counts: their own dtype), the logarithm taken in float64, NaN (0/0) giving 0. Returns nothing.

    Most cells of a co-occurrence matrix are 0, and then (with a finite total N) the argument of the logarithm is
    exactly eps, or NaN when S[j] * S[i] is 0 or NaN: no division, and the logarithm of eps taken once."""
    at_eps = np.log2(np.float64(eps))
    at_eps = at_eps if at_eps > 0 else 0.0
    finite_total = N - N == 0  # an inf or NaN total makes 0 * N NaN: then every cell takes the general path
    for i in range(start, stop):
        row, s_i = out[i], S[i]
        if finite_total:  # first every cell as if its count were 0 (a loop LLVM vectorises)
            for j in range(row.shape[0]):
                den = S[j] * s_i
                row[j] = at_eps if den != 0 and den == den else 0.0  # 0 / den + eps is eps, or NaN
        for j in range(row.shape[0]):  # then the others
            c = C[i, j]
            if c != 0 or not finite_total:
                pmi = np.log2(np.float64(c * N / (S[j] * s_i) + eps))
                row[j] = pmi if pmi > 0 else 0.0  # NaN > 0 is False: NaN gives 0, as the book's max(0, nan)


@kernel
def contexts_target(corpus, window_size, contexts, target):
    """For each centre position k + window_size: target[k] is its word, contexts[k] the window_size words before it
    then the window_size words after it. Returns nothing."""
    for k in range(target.shape[0]):
        centre = k + window_size
        target[k] = corpus[centre]
        for m in range(window_size):
            contexts[k, m] = corpus[k + m]
            contexts[k, window_size + m] = corpus[centre + 1 + m]
