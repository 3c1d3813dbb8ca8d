"""Reference negative sampling in the second book's NumPy idiom (its chapter-4 ``negative_sampling_layer.py``):
``EmbeddingDot``, ``UnigramSampler``, ``NegativeSamplingLoss``, and ``negative_samples``, the sampler's draw.

The sampler draws from the global ``np.random`` with one ``np.random.choice(vocab_size, size, replace=False, p)``
per row, p being the word probabilities with the row's target set to 0 and renormalised: the oracle fastnn's
compiled sampler must match draw for draw, and fastnn's NumPy path before numba is loaded.
"""
import numpy as np

from .layers import Embedding, SigmoidWithLoss


def word_probabilities(corpus, power):
    """(vocab_size, word_p): vocab_size is the number of distinct ids in ``corpus``; word_p[i] is the count of
    id i (ids >= vocab_size are not counted), raised to ``power`` and divided by the total."""
    ids, counts = np.unique(np.asarray(corpus), return_counts=True)
    vocab_size = len(ids)
    word_p = np.zeros(vocab_size)
    kept = (ids >= 0) & (ids < vocab_size)
    word_p[ids[kept]] = counts[kept]
    word_p = np.power(word_p, power)
    word_p /= np.sum(word_p)
    return vocab_size, word_p


def negative_samples(word_p, vocab_size, sample_size, target):
    """(len(target), sample_size) int32: row i holds sample_size distinct ids drawn from word_p without
    target[i], in the order np.random.choice returns them."""
    out = np.zeros((target.shape[0], sample_size), dtype=np.int32)
    for i, t in enumerate(target):
        p = word_p.copy()
        p[t] = 0
        p /= p.sum()
        out[i] = np.random.choice(vocab_size, size=sample_size, replace=False, p=p)
    return out


class EmbeddingDot:
    """Row-wise dot products of h with the embedding rows W[idx]."""

    def __init__(self, W):
        self.embed = Embedding(W)
        self.params, self.grads = self.embed.params, self.embed.grads
        self.cache = None

    def forward(self, h, idx):
        """Returns sum(W[idx] * h, axis=1); keeps (h, W[idx]) as cache."""
        target_W = self.embed.forward(idx)
        self.cache = (h, target_W)
        return np.sum(target_W * h, axis=1)

    def backward(self, dout):
        """Writes the embedding's gradient; returns dh = dout * W[idx] (dout as a column)."""
        h, target_W = self.cache
        dout = dout.reshape(-1, 1)
        self.embed.backward(dout * h)
        return dout * target_W


class UnigramSampler:
    """Negative samples from the corpus's unigram distribution raised to ``power``."""

    def __init__(self, corpus, power, sample_size):
        self.sample_size = sample_size
        self.vocab_size, self.word_p = word_probabilities(corpus, power)

    def get_negative_sample(self, target):
        """Returns (len(target), sample_size) int32 negative samples (see negative_samples)."""
        return negative_samples(self.word_p, self.vocab_size, self.sample_size, target)


class NegativeSamplingLoss:
    """Binary logistic loss of the target (label 1) and sample_size negative samples (label 0) per row."""

    def __init__(self, W, corpus, power=0.75, sample_size=5):
        self.sample_size = sample_size
        self.sampler = UnigramSampler(corpus, power, sample_size)
        self.loss_layers = [SigmoidWithLoss() for _ in range(sample_size + 1)]
        self.embed_dot_layers = [EmbeddingDot(W) for _ in range(sample_size + 1)]
        self.params = [p for layer in self.embed_dot_layers for p in layer.params]
        self.grads = [g for layer in self.embed_dot_layers for g in layer.grads]

    def forward(self, h, target):
        """Returns the sum of the positive loss and the sample_size negative losses (each a batch mean)."""
        negative = self.sampler.get_negative_sample(target)
        n = target.shape[0]
        loss = self.loss_layers[0].forward(self.embed_dot_layers[0].forward(h, target), np.ones(n, np.int32))
        for i in range(self.sample_size):
            score = self.embed_dot_layers[1 + i].forward(h, negative[:, i])
            loss += self.loss_layers[1 + i].forward(score, np.zeros(n, np.int32))
        return loss

    def backward(self, dout=1):
        """Writes every embedding's gradient; returns dh, the sum over the targets and samples."""
        dh = 0
        for loss_layer, dot_layer in zip(self.loss_layers, self.embed_dot_layers):
            dh += dot_layer.backward(loss_layer.backward(dout))
        return dh
