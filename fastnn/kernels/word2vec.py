"""One Trainer step of the second book's CBOW and skip-gram (negative sampling, Adam) without dense gradients.

The book's step writes a dense gradient per Embedding layer (zero it, add the batch's rows), adds them up per
shared matrix (the Trainer's ``remove_duplicate``) and runs Adam over the matrices. Only a few hundred rows of
those gradients are not zero, so here each layer's rows are added up in a compact buffer (one row per distinct
word of the step: ``slot_of`` maps a word to its row there) and merged in layer order; Adam then walks the whole
matrix, with a zero gradient for the rows no layer touched. Every value is computed with the operations, types and
order of the layered path (fastnn's layers, ``remove_duplicate``, ``optim.adam``), so both give the same bits.

Shapes: W (V, H); h, dh (N, H); ids (K, N) the K EmbeddingDot layers' rows (row 0: the targets, label 1; the
others: negative samples, label 0); scores, y, dscore (K, N); one float dtype throughout.
"""
import math

import numpy as np

from .._jit import kernel
from .activations import sigmoid_forward
from .optim import adam
from .sampling import pairwise_sum

NO_SLOT = -1


@kernel
def mean_of_rows(W, idx, scale, h):
    """h[n] = (0 + W[idx[n, 0]] + W[idx[n, 1]] + ...) * scale, added in column order (the book's CBOW h)."""
    for n in range(idx.shape[0]):
        for j in range(W.shape[1]):
            acc = W[idx[n, 0], j] + np.float32(0.0)
            for c in range(1, idx.shape[1]):
                acc += W[idx[n, c], j]
            h[n, j] = acc * scale


@kernel(internal=True)
def dot_rows(W, rows, h, out, products):
    """out[n] = np.sum(W[rows[n]] * h[n]): the products in the dtype, summed in NumPy's pairwise order."""
    for n in range(rows.size):
        r = rows[n]
        for j in range(h.shape[1]):
            products[j] = W[r, j] * h[n, j]
        out[n] = pairwise_sum(products)


@kernel
def losses_forward(W, h, ids, scores, y, delta, losses, products):
    """Per layer k: scores[k] = rows' dot products with h, y[k] = sigmoid(scores[k]), losses[k] = the mean of
    -log(y + delta) for the target layer (k = 0) and of -log(1 - y + delta) for the others (SigmoidWithLoss)."""
    one = np.float32(1.0)
    for k in range(ids.shape[0]):
        dot_rows(W, ids[k], h, scores[k], products)
        sigmoid_forward(scores[k], y[k])
        total = 0.0
        for n in range(ids.shape[1]):
            p = y[k, n] if k == 0 else one - y[k, n]
            total -= math.log(p + delta)
        losses[k] = total / ids.shape[1]


@kernel
def losses_backward(W, h, ids, y, dout, count, dscore, dh):
    """dscore[k] = (y[k] - label) * dout / count (SigmoidWithLoss.backward, count = N in the dtype); dh = 0 +
    dscore[0] * W[ids[0]] + dscore[1] * W[ids[1]] + ... in layer order (EmbeddingDot.backward, summed by the
    NegativeSamplingLoss)."""
    zero = np.float32(0.0)
    for k in range(ids.shape[0]):
        label = np.float32(1.0) if k == 0 else zero
        for n in range(ids.shape[1]):
            dscore[k, n] = (y[k, n] - label) * dout / count
    for n in range(ids.shape[1]):
        for j in range(h.shape[1]):
            acc = dscore[0, n] * W[ids[0, n], j] + zero
            for k in range(1, ids.shape[0]):
                acc += dscore[k, n] * W[ids[k, n], j]
            dh[n, j] = acc


@kernel
def assign_slots(ids, slot_of, slot_rows, n_slots):
    """Give every word in ids (any 2-D shape) that has no slot the next one (slot_of[word] = slot, slot_rows[slot]
    = word); returns the new number of slots."""
    for a in range(ids.shape[0]):
        for b in range(ids.shape[1]):
            w = ids[a, b]
            if slot_of[w] == NO_SLOT:
                slot_of[w] = n_slots
                slot_rows[n_slots] = w
                n_slots += 1
    return n_slots


@kernel
def add_layer(rows, scale, src, slot_of, stamp, layer, acc, merged):
    """One Embedding layer's backward and its share of remove_duplicate, compact: the layer's gradient rows
    acc[slot] = 0 + scale[n] * src[n] + ... over n in order (np.add.at's order), then merged[slot] += acc[slot] for
    each slot it touched. stamp[slot] says which layer last zeroed (layer) or merged (-layer - 2) that slot; layer
    ids must grow from one call to the next."""
    width = src.shape[1]
    for n in range(rows.size):
        s = slot_of[rows[n]]
        if stamp[s] != layer:
            stamp[s] = layer
            for j in range(width):
                acc[s, j] = 0
        for j in range(width):
            acc[s, j] += scale[n] * src[n, j]
    for n in range(rows.size):
        s = slot_of[rows[n]]
        if stamp[s] == layer:
            stamp[s] = -layer - 2
            for j in range(width):
                merged[s, j] += acc[s, j]


@kernel
def adam_rows(W, m, v, slot_of, merged, zeros, one_minus_beta1, one_minus_beta2, lr_t, eps):
    """Adam (fastnn.kernels.optim.adam) on every row of W: the merged gradient for rows with a slot, zeros (a row of
    zeros) for the others."""
    for r in range(W.shape[0]):
        s = slot_of[r]
        g = merged[s] if s != NO_SLOT else zeros
        adam(W[r], g, m[r], v[r], one_minus_beta1, one_minus_beta2, lr_t, eps)


@kernel(internal=True)
def clear_slots(slot_of, slot_rows, n_slots):
    """slot_of back to NO_SLOT for the words that got a slot."""
    for s in range(n_slots):
        slot_of[slot_rows[s]] = NO_SLOT
