"""Reference twins of fastnn.rnnlm_nets: the second book's language models (SimpleRnnlm, Rnnlm, BetterRnnlm) on
the reference Time layers, plain NumPy. Weights are drawn with np.random.randn in the book's order."""
import numpy as np

from .recurrent import TimeLSTM, TimeRNN
from .time_wise import TimeAffine, TimeDropout, TimeEmbedding, TimeSoftmaxWithLoss


def _randn(*shape, scale):
    return (np.random.randn(*shape) / scale).astype(np.float32)


def _cell(D, H, gates):
    return _randn(D, gates * H, scale=np.sqrt(D)), _randn(H, gates * H, scale=np.sqrt(H)), \
        np.zeros(gates * H, np.float32)


class _Model:
    def _gather(self, layers):
        self.layers, self.loss_layer = layers, TimeSoftmaxWithLoss()
        self.params = [p for layer in layers for p in layer.params]
        self.grads = [g for layer in layers for g in layer.grads]

    def predict(self, xs):
        """Returns the scores (N, T, V)."""
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts):
        """Returns the mean cross-entropy."""
        return self.loss_layer.forward(self.predict(xs), ts)

    def backward(self, dout=1):
        """Writes grads; returns None."""
        d = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d

    def reset_state(self):
        """Forgets the recurrent states."""
        for layer in self.layers:
            if hasattr(layer, "stateful"):
                layer.h = layer.c = None


class SimpleRnnlm(_Model):
    """Embedding, stateful RNN, affine."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        V, D, H = vocab_size, wordvec_size, hidden_size
        embed_W = _randn(V, D, scale=100)
        cell = _cell(D, H, 1)
        W = _randn(H, V, scale=np.sqrt(H))
        self._gather([TimeEmbedding(embed_W), TimeRNN(*cell, stateful=True), TimeAffine(W, np.zeros(V, np.float32))])


class Rnnlm(_Model):
    """Embedding, stateful LSTM, affine."""

    def __init__(self, vocab_size=10000, wordvec_size=100, hidden_size=100):
        V, D, H = vocab_size, wordvec_size, hidden_size
        embed_W = _randn(V, D, scale=100)
        cell = _cell(D, H, 4)
        W = _randn(H, V, scale=np.sqrt(H))
        self._gather([TimeEmbedding(embed_W), TimeLSTM(*cell, stateful=True), TimeAffine(W, np.zeros(V, np.float32))])


class BetterRnnlm(_Model):
    """Embedding, dropout, LSTM, dropout, LSTM, dropout, affine on embed_W.T."""

    def __init__(self, vocab_size=10000, wordvec_size=650, hidden_size=650, dropout_ratio=0.5):
        V, D, H = vocab_size, wordvec_size, hidden_size
        embed_W = _randn(V, D, scale=100)
        first, second = _cell(D, H, 4), _cell(H, H, 4)
        self.drops = [TimeDropout(dropout_ratio) for _ in range(3)]
        self._gather([TimeEmbedding(embed_W), self.drops[0], TimeLSTM(*first, stateful=True), self.drops[1],
                      TimeLSTM(*second, stateful=True), self.drops[2], TimeAffine(embed_W.T, np.zeros(V, np.float32))])

    def predict(self, xs, train_flg=False):
        """Returns the scores; dropout when train_flg."""
        for layer in self.drops:
            layer.train_flg = train_flg
        return super().predict(xs)

    def forward(self, xs, ts, train_flg=True):
        """Returns the mean cross-entropy; dropout when train_flg."""
        return self.loss_layer.forward(self.predict(xs, train_flg), ts)
