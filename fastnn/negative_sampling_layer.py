"""The second book's chapter-4 negative sampling (``ch04/negative_sampling_layer.py``): ``EmbeddingDot``,
``UnigramSampler``, ``NegativeSamplingLoss``, with the book's constructors, attributes and results.

``from negative_sampling_layer import NegativeSamplingLoss`` becomes ``from fastnn.negative_sampling_layer import
NegativeSamplingLoss``. The sampler draws the book's negative samples from the global ``np.random`` state: the same
words under the same seed, and the state advanced exactly as the book's per-row ``np.random.choice(vocab_size,
sample_size, replace=False, p)`` advances it (fastnn/kernels/sampling.py says how), so the rest of a seeded script
(the Trainer's shuffles, later draws) sees the same numbers. The embeddings' backward is a compiled scatter-add
(:class:`fastnn.layers.Embedding`).
"""
import numpy as np

from . import _checks
from ._dispatch import lazy_kernels, numpy_suffices
from .layers import Embedding, SigmoidWithLoss
from .reference import negative_sampling as _numpy_path

sampling = lazy_kernels("sampling")

GPU = False  # the book's module gets GPU (and np) from its ``from common.np import *``; fastnn has no GPU path

__all__ = ["EmbeddingDot", "UnigramSampler", "NegativeSamplingLoss", "Embedding", "SigmoidWithLoss", "GPU", "np"]

# above this many distinct ids per corpus word, the counts come from np.unique, not a bincount as long as the
# largest id (a corpus of a few huge ids would otherwise allocate a huge count array)
_SPARSE_IDS = 4


class EmbeddingDot:
    """Row-wise dot products of h with embedding rows: ``forward(h, idx)`` returns ``sum(W[idx] * h, axis=1)``.
    ``embed`` is the :class:`fastnn.layers.Embedding` of W; ``params``/``grads`` are its lists; ``cache`` holds
    (h, W[idx]) from the last forward."""

    def __init__(self, W):
        self.embed = Embedding(W)
        self.params = self.embed.params
        self.grads = self.embed.grads
        self.cache = None

    def forward(self, h, idx):
        """Returns the vector of dot products of each row of h with the row of W its index selects."""
        target_W = self.embed.forward(idx)
        h = _checks.numeric_array(h, "h", kinds="biuf")
        if h.shape != target_W.shape:
            raise ValueError(f"h must have one row of {target_W.shape[-1]} values per index, shape "
                             f"{target_W.shape}; got {h.shape}")
        self.cache = (h, target_W)
        return np.sum(target_W * h, axis=1)

    def backward(self, dout):
        """Writes the embedding's gradient (dout times h, into the selected rows); returns dh = dout * W[idx]."""
        if self.cache is None:
            raise RuntimeError("EmbeddingDot.backward called before forward")
        h, target_W = self.cache
        dout = _checks.numeric_array(dout, "dout", kinds="biuf")
        if dout.size != h.shape[0]:
            raise ValueError(f"dout must hold one value per row of the forward ({h.shape[0]}); got shape "
                             f"{dout.shape}")
        dout = dout.reshape(dout.shape[0], 1)
        self.embed.backward(dout * h)
        return dout * target_W


def _corpus(corpus):
    """The corpus as a non-empty 1-D array of non-negative integer word ids."""
    a = _checks.as_array(corpus, "corpus")
    if a.dtype.kind not in "iu":
        raise TypeError(f"corpus must hold integer word ids; got dtype {a.dtype}")
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"corpus must be a non-empty 1-D array of word ids; got shape {a.shape}")
    if a.min() < 0:
        raise ValueError(f"corpus must hold word ids >= 0; got {a.min()}")
    return a


def _word_counts(corpus):
    """(number of distinct ids, counts of ids 0 .. that number - 1), as the book's Counter gives them."""
    top = int(corpus.max())
    if top < _SPARSE_IDS * corpus.size + 1024:
        counts = np.bincount(corpus)
        vocab_size = int(np.count_nonzero(counts))
        return vocab_size, counts[:vocab_size]
    ids, id_counts = np.unique(corpus, return_counts=True)
    vocab_size = ids.size
    counts = np.zeros(vocab_size, dtype=np.int64)
    counts[ids[ids < vocab_size]] = id_counts[ids < vocab_size]
    return vocab_size, counts


class UnigramSampler:
    """Negative samples from the corpus's unigram distribution raised to ``power``.

    ``vocab_size`` is the number of distinct ids in the corpus and ``word_p[i]`` (float64) the count of id i,
    to the power ``power``, over the total. ``get_negative_sample(target)`` returns ``sample_size`` distinct ids
    per target, never the target itself, drawn as the book draws them.
    """

    def __init__(self, corpus, power, sample_size):
        corpus = _corpus(corpus)
        _checks.real_number(power, "power", positive=True)
        self.sample_size = _checks.integer(sample_size, "sample_size", minimum=0)
        self.vocab_size, counts = _word_counts(corpus)
        if self.sample_size >= self.vocab_size:
            raise ValueError(f"sample_size must be less than the number of distinct words in the corpus "
                             f"({self.vocab_size}): the target is never its own negative sample; got "
                             f"{self.sample_size}")
        self.word_p = np.zeros(self.vocab_size)
        self.word_p[:] = counts
        self.word_p = np.power(self.word_p, power)
        self.word_p /= np.sum(self.word_p)

    def get_negative_sample(self, target):
        """Returns an int32 array (len(target), sample_size): row i holds distinct word ids other than target[i],
        the words the book's sampler draws from the global np.random state (which advances as it would)."""
        word_p, sample_size = self._checked_state()
        target = _checks.as_array(target, "target")
        if target.ndim != 1:
            raise ValueError(f"target must be a 1-D array of word ids; got shape {target.shape}")
        target = _checks.class_labels(target, target.size, self.vocab_size, "target")
        if word_p.dtype != np.float64 or numpy_suffices(target.size * word_p.size):
            _check_probabilities(word_p)
            _check_enough_words(word_p, int(np.count_nonzero(word_p > 0)), target, sample_size)
            return _numpy_path.negative_samples(word_p, self.vocab_size, sample_size, target)
        return _draw(np.ascontiguousarray(word_p), target, sample_size)

    def _checked_state(self):
        """word_p and sample_size as they are now (the book's attributes, which a script may reassign)."""
        sample_size = _checks.integer(self.sample_size, "sample_size", minimum=0)
        word_p = _checks.as_array(self.word_p, "word_p")
        if word_p.dtype.kind != "f" or word_p.shape != (self.vocab_size,):
            raise ValueError(f"word_p must be a float array of vocab_size ({self.vocab_size}) probabilities; got "
                             f"{word_p.dtype} of shape {word_p.shape}")
        return word_p, sample_size


def _check_probabilities(word_p):
    if not (np.all(np.isfinite(word_p)) and np.all(word_p >= 0)):
        raise ValueError("word_p must hold finite probabilities >= 0; it has a negative, NaN or infinite value")


def _check_enough_words(word_p, positive, target, sample_size):
    """Each row needs sample_size words of probability > 0 besides its target (else the book's choice raises)."""
    if target.size == 0:
        return
    kept = positive - (word_p[target] > 0)
    short = np.flatnonzero((kept < sample_size) | (kept == 0))
    if short.size:
        i = short[0]
        raise ValueError(f"sample_size ({sample_size}) distinct words of probability > 0 besides target[{i}] = "
                         f"{target[i]} are needed (and at least one); word_p has {kept[i]}")


def _draw(word_p, target, sample_size):
    """The compiled sampler: uniforms drawn from np.random exactly as the book's rows consume them (the kernel
    says how many more a round needs whenever it runs out), so no uniform is drawn that the book would not draw."""
    n, v = target.size, word_p.size
    prefix, p, cdf = np.empty(v), np.empty(v), np.empty(v)
    positive, fast = sampling.prepare(word_p, prefix)
    if positive < 0:
        _check_probabilities(word_p)
    _check_enough_words(word_p, positive, target, sample_size)
    out = np.zeros((n, sample_size), dtype=np.int32)
    report = np.zeros(4, dtype=np.int64)
    uniforms = np.random.random_sample(n * sample_size)
    row = 0
    while True:
        sampling.draw_negative_samples(word_p, prefix, positive, fast, target, row, uniforms, out, p, cdf, report)
        status, row, used, missing = (int(r) for r in report)
        if status == sampling.DONE:
            return out
        if status != sampling.NEED_MORE:  # choice's own check on p after the division (underflow)
            raise ValueError(f"sample_size ({sample_size}) distinct words of probability > 0 besides "
                             f"target[{row}] = {target[row]} are needed; word_p / its sum has fewer (underflow)")
        more = np.random.random_sample(missing + (n - row - 1) * sample_size)
        uniforms = np.concatenate((uniforms[used:], more))


class NegativeSamplingLoss:
    """Negative-sampling loss over output embeddings W: for each row of h, the binary logistic loss of its target
    (label 1) and of ``sample_size`` negative samples (label 0), each a batch mean, summed.

    Attributes as the book's: ``sample_size``, ``sampler`` (:class:`UnigramSampler`), ``loss_layers``
    (sample_size + 1 :class:`fastnn.layers.SigmoidWithLoss`), ``embed_dot_layers`` (sample_size + 1
    :class:`EmbeddingDot` sharing W), ``params`` (W, sample_size + 1 times) and ``grads`` (their gradients).
    """

    def __init__(self, W, corpus, power=0.75, sample_size=5):
        self.sample_size = _checks.integer(sample_size, "sample_size", minimum=0)
        self.embed_dot_layers = [EmbeddingDot(W) for _ in range(self.sample_size + 1)]
        self.sampler = UnigramSampler(corpus, power, sample_size)
        if W.shape[0] < self.sampler.vocab_size:
            raise ValueError(f"W must have a row for each of the corpus's {self.sampler.vocab_size} distinct words "
                             f"(the sampler's vocab_size); got shape {W.shape}")
        self.loss_layers = [SigmoidWithLoss() for _ in range(self.sample_size + 1)]
        self.params, self.grads = [], []
        for layer in self.embed_dot_layers:
            self.params += layer.params
            self.grads += layer.grads

    def forward(self, h, target):
        """Returns the loss: the target's and each negative sample's mean logistic loss, summed."""
        negative_sample = self.sampler.get_negative_sample(target)
        target = np.asarray(target)
        n = target.shape[0]
        loss = self.loss_layers[0].forward(self.embed_dot_layers[0].forward(h, target), np.ones(n, np.int32))
        negative_label = np.zeros(n, np.int32)
        for i in range(self.sample_size):
            score = self.embed_dot_layers[1 + i].forward(h, negative_sample[:, i])
            loss += self.loss_layers[1 + i].forward(score, negative_label)
        return loss

    def backward(self, dout=1):
        """Writes the gradients of W (one per EmbeddingDot); returns dh, summed over the target and samples."""
        dh = 0
        for loss_layer, dot_layer in zip(self.loss_layers, self.embed_dot_layers):
            dh += dot_layer.backward(loss_layer.backward(dout))
        return dh
