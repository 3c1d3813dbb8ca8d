"""Dot-product attention of the second book's chapter 8 (ch08/attention_layer.py): the per-step WeightSum and
AttentionWeight passes, and TimeAttention over all decoder steps in one call.

Arrays are C-contiguous and of one float dtype: encoder states hs (N, T, H), a decoder state h (N, H) or all of
them hs_dec (N, Td, H), attention weights a (N, T) or (N, Td, T). TimeAttention works one sequence n at a time
with matrix products (scores = dec @ enc.T, out = a @ enc, and their transposes in backward), where the book
broadcasts (N, T, H) temporaries per step.
"""
import numpy as np

from .._jit import kernel
from .softmax import _softmax_row, softmax_backward


@kernel
def weight_sum_forward(hs, a, c):
    """c[n] = sum over t of a[n, t] * hs[n, t]."""
    c[:] = 0
    for n in range(hs.shape[0]):
        for t in range(hs.shape[1]):
            w = a[n, t]
            for k in range(hs.shape[2]):
                c[n, k] += w * hs[n, t, k]


@kernel
def weight_sum_backward(hs, a, dc, dhs, da):
    """dhs[n, t] = a[n, t] * dc[n]; da[n, t] = dc[n] . hs[n, t]."""
    for n in range(hs.shape[0]):
        for t in range(hs.shape[1]):
            w = a[n, t]
            s = 0.0
            for k in range(hs.shape[2]):
                dhs[n, t, k] = w * dc[n, k]
                s += dc[n, k] * hs[n, t, k]
            da[n, t] = s


@kernel
def attention_scores(hs, h, s):
    """s[n, t] = hs[n, t] . h[n] (the scores AttentionWeight turns into weights by a softmax)."""
    for n in range(hs.shape[0]):
        for t in range(hs.shape[1]):
            acc = 0.0
            for k in range(hs.shape[2]):
                acc += hs[n, t, k] * h[n, k]
            s[n, t] = acc


@kernel
def attention_scores_backward(hs, h, ds, dhs, dh):
    """dhs[n, t] = ds[n, t] * h[n]; dh[n] = sum over t of ds[n, t] * hs[n, t]."""
    dh[:] = 0
    for n in range(hs.shape[0]):
        for t in range(hs.shape[1]):
            w = ds[n, t]
            for k in range(hs.shape[2]):
                dhs[n, t, k] = w * h[n, k]
                dh[n, k] += w * hs[n, t, k]


@kernel
def time_attention_forward(enc, dec, a, out):
    """For every sequence n and decoder step: a[n] = softmax rows of dec[n] @ enc[n].T, out[n] = a[n] @ enc[n]."""
    for n in range(enc.shape[0]):
        weights = a[n]
        np.dot(dec[n], enc[n].T, weights)
        for t in range(weights.shape[0]):
            _softmax_row(weights, weights, t)
        np.dot(weights, enc[n], out[n])


@kernel
def time_attention_backward(enc, dec, a, dout, denc, ddec):
    """The gradients of time_attention_forward: denc (N, T, H) summed over the decoder steps, ddec (N, Td, H)."""
    steps, length = a.shape[1], a.shape[2]
    da = np.empty((steps, length), a.dtype)
    ds = np.empty((steps, length), a.dtype)
    other = np.empty((length, enc.shape[2]), a.dtype)
    for n in range(enc.shape[0]):
        np.dot(dout[n], enc[n].T, da)  # through the weighted sum to the weights
        softmax_backward(a[n], da, ds)  # through the softmax to the scores
        np.dot(a[n].T, dout[n], denc[n])  # the weighted sum's part of the encoder gradient
        np.dot(ds.T, dec[n], other)  # the scores' part
        for t in range(other.shape[0]):  # a loop: see fastnn.kernels.arrays
            for k in range(other.shape[1]):
                denc[n, t, k] += other[t, k]
        np.dot(ds, enc[n], ddec[n])
