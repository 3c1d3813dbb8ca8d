"""Reference word2vec models of the second book's chapter 4 (``ch04/cbow.py``, ``ch04/skip_gram.py``) in its NumPy
idiom, on the reference layers: the oracle of fastnn.nets.CBOW/SkipGram and of their fused Trainer step (with
reference.trainer.remove_duplicate and reference.optimizer.Adam2)."""
import numpy as np

from .layers import Embedding
from .negative_sampling import NegativeSamplingLoss


def _matrices(vocab_size, hidden_size):
    """W_in, then W_out: 0.01 * standard normal draws, as float32."""
    W_in = 0.01 * np.random.randn(vocab_size, hidden_size).astype('f')
    W_out = 0.01 * np.random.randn(vocab_size, hidden_size).astype('f')
    return W_in, W_out


def _collect(model, layers):
    model.params = [p for layer in layers for p in layer.params]
    model.grads = [g for layer in layers for g in layer.grads]


class CBOW:
    """Predicts each target from the mean of its 2 * window_size context words' input vectors."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus):
        W_in, W_out = _matrices(vocab_size, hidden_size)
        self.in_layers = [Embedding(W_in) for _ in range(2 * window_size)]
        self.ns_loss = NegativeSamplingLoss(W_out, corpus, power=0.75, sample_size=5)
        _collect(self, self.in_layers + [self.ns_loss])
        self.word_vecs = W_in

    def forward(self, contexts, target):
        """Returns the negative-sampling loss of the batch."""
        h = sum(layer.forward(contexts[:, i]) for i, layer in enumerate(self.in_layers))
        h *= 1 / len(self.in_layers)
        return self.ns_loss.forward(h, target)

    def backward(self, dout=1):
        """Writes every layer's gradient; returns None."""
        dh = self.ns_loss.backward(dout)
        dh *= 1 / len(self.in_layers)
        for layer in self.in_layers:
            layer.backward(dh)


class SkipGram:
    """Predicts each of the 2 * window_size context words from the target's input vector."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus):
        W_in, W_out = _matrices(vocab_size, hidden_size)
        self.in_layer = Embedding(W_in)
        self.loss_layers = [NegativeSamplingLoss(W_out, corpus, power=0.75, sample_size=5)
                            for _ in range(2 * window_size)]
        _collect(self, [self.in_layer] + self.loss_layers)
        self.word_vecs = W_in

    def forward(self, contexts, target):
        """Returns the sum of the context positions' negative-sampling losses."""
        h = self.in_layer.forward(target)
        return sum(layer.forward(h, contexts[:, i]) for i, layer in enumerate(self.loss_layers))

    def backward(self, dout=1):
        """Writes every layer's gradient; returns None."""
        self.in_layer.backward(sum(layer.backward(dout) for layer in self.loss_layers))
