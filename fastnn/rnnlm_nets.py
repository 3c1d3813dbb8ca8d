"""The second book's language models (chapters 5-7): SimpleRnnlm, Rnnlm, BetterRnnlm, and the generators RnnlmGen
and BetterRnnlmGen, with the book's constructors and defaults, the same ``np.random.randn`` draws in the same order
(a seeded script gets the same weights), ``params``/``grads`` in the book's order and the book's results.

They run on fastnn's Time layers (fastnn.time_layers: each layer's forward and backward over all time steps is one
compiled call). BetterRnnlm ties its output weights to the embedding as the book does: the affine's W is the
embedding's ``W.T`` (a view), so ``remove_duplicate`` of the book's trainer merges the two gradients.

What fastnn adds: the arguments are checked at the door (sizes, the dropout ratio, the word ids), the models
are ``fastnn.base_model.BaseModel`` (``save_params`` writes .npz content atomically; ``load_params`` also reads the
book's pickles, e.g. ``ch06/Rnnlm.pkl``), and ``generate`` returns plain ints on NumPy 2 (the book's ``int()`` of
a one-element array fails there).
"""
from collections.abc import Iterable

import numpy as np

from . import _checks
from .base_model import BaseModel
from .functions import softmax
from .time_layers import TimeAffine, TimeDropout, TimeEmbedding, TimeLSTM, TimeRNN, TimeSoftmaxWithLoss

__all__ = ["SimpleRnnlm", "Rnnlm", "BetterRnnlm", "RnnlmGen", "BetterRnnlmGen"]


def _sizes(**sizes):
    """The sizes checked to be whole numbers >= 1, in the order given."""
    return [_checks.integer(value, name, minimum=1) for name, value in sizes.items()]


def _normal(*shape, scale):
    """np.random.randn(*shape) / scale as float32 (the book's initial weights, drawn from the global RNG)."""
    return (np.random.randn(*shape) / scale).astype(np.float32)


def _recurrent_weights(D, H, gates):
    """(Wx, Wh, b) drawn as the book draws them: Wx ~ N(0, 1/D), Wh ~ N(0, 1/H), b zeros."""
    return (_normal(D, gates * H, scale=np.sqrt(D)), _normal(H, gates * H, scale=np.sqrt(H)),
            np.zeros(gates * H, np.float32))


class _LanguageModel(BaseModel):
    """A stack of Time layers and a TimeSoftmaxWithLoss; ``params``/``grads`` gather the layers' in order."""

    def _one_recurrent_layer(self, vocab_size, wordvec_size, hidden_size, layer, gates):
        """Builds TimeEmbedding, a stateful ``layer`` (TimeRNN or TimeLSTM, ``gates`` blocks), TimeAffine, drawing
        the book's weights in the book's order; returns the recurrent layer."""
        V, D, H = _sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        embed_W = _normal(V, D, scale=100)
        Wx, Wh, b = _recurrent_weights(D, H, gates)
        affine_W = _normal(H, V, scale=np.sqrt(H))
        self._stack([TimeEmbedding(embed_W), layer(Wx, Wh, b, stateful=True),
                     TimeAffine(affine_W, np.zeros(V, np.float32))])
        return self.layers[1]

    def _stack(self, layers):
        self.layers = layers
        self.loss_layer = TimeSoftmaxWithLoss()
        self.params, self.grads = [], []
        for layer in layers:
            self.params += layer.params
            self.grads += layer.grads

    def predict(self, xs):
        """Returns the scores (N, T, V) of the next word after each of the word ids xs (N, T)."""
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts):
        """Returns the mean cross-entropy (a float64) of the next-word scores of xs (N, T) against the ids ts."""
        return self.loss_layer.forward(self.predict(xs), ts)

    def backward(self, dout=1):
        """Writes the gradients of the last forward's loss (times ``dout``) into ``grads``; returns None (the
        embedding's input gradient, as the book's)."""
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


class SimpleRnnlm(_LanguageModel):
    """Chapter 5's language model: TimeEmbedding, a stateful TimeRNN (tanh), TimeAffine, TimeSoftmaxWithLoss.
    params: [embed_W, rnn_Wx, rnn_Wh, rnn_b, affine_W, affine_b]."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        self.rnn_layer = self._one_recurrent_layer(vocab_size, wordvec_size, hidden_size, TimeRNN, 1)

    def reset_state(self):
        """Forget the hidden state carried between calls; returns None."""
        self.rnn_layer.reset_state()


class Rnnlm(_LanguageModel):
    """Chapter 6's LSTM language model: TimeEmbedding, a stateful TimeLSTM, TimeAffine, TimeSoftmaxWithLoss.
    params: [embed_W, lstm_Wx, lstm_Wh, lstm_b, affine_W, affine_b]."""

    def __init__(self, vocab_size=10000, wordvec_size=100, hidden_size=100):
        self.lstm_layer = self._one_recurrent_layer(vocab_size, wordvec_size, hidden_size, TimeLSTM, 4)

    def reset_state(self):
        """Forget the LSTM's hidden and cell state carried between calls; returns None."""
        self.lstm_layer.reset_state()


class BetterRnnlm(_LanguageModel):
    """Chapter 6's improved model: two stateful LSTM layers, dropout before, between and after them, and the output
    affine tied to the embedding (its W is embed_W.T). params: [embed_W, Wx1, Wh1, b1, Wx2, Wh2, b2, embed_W.T,
    affine_b] (the book's list, the tied pair merged by ``remove_duplicate``)."""

    def __init__(self, vocab_size=10000, wordvec_size=650, hidden_size=650, dropout_ratio=0.5):
        V, D, H = _sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        if D != H:  # the tied affine maps the second LSTM's H outputs through embed_W.T, which has D rows
            raise ValueError(f"wordvec_size must equal hidden_size (the output weights are the embedding's); got "
                             f"{D} and {H}")
        embed_W = _normal(V, D, scale=100)
        first = _recurrent_weights(D, H, 4)
        second = _recurrent_weights(H, H, 4)
        drops = [TimeDropout(dropout_ratio) for _ in range(3)]
        lstms = [TimeLSTM(*first, stateful=True), TimeLSTM(*second, stateful=True)]
        self._stack([TimeEmbedding(embed_W), drops[0], lstms[0], drops[1], lstms[1], drops[2],
                     TimeAffine(embed_W.T, np.zeros(V, np.float32))])
        self.lstm_layers, self.drop_layers = lstms, drops

    def predict(self, xs, train_flg=False):
        """Returns the scores (N, T, V) for the word ids xs (N, T); dropout only when ``train_flg``."""
        for layer in self.drop_layers:
            layer.train_flg = bool(train_flg)
        return super().predict(xs)

    def forward(self, xs, ts, train_flg=True):
        """Returns the mean cross-entropy (a float64) of xs's next-word scores against ts; dropout when
        ``train_flg`` (training, the default)."""
        return self.loss_layer.forward(self.predict(xs, train_flg), ts)

    def reset_state(self):
        """Forget both LSTMs' states; returns None."""
        for layer in self.lstm_layers:
            layer.reset_state()


def _skip_set(skip_ids, V):
    """skip_ids (None or an iterable of word ids, each in [0, V)) as a set that leaves a word to sample."""
    if skip_ids is None:
        return set()
    if isinstance(skip_ids, (str, bytes)) or not isinstance(skip_ids, Iterable):
        raise TypeError(f"skip_ids must be None or a list of word ids; got {type(skip_ids).__name__}")
    ids = _checks.as_array(list(skip_ids), "skip_ids")
    skip = set(_checks.class_labels(ids, ids.size, V, "skip_ids").tolist()) if ids.size else set()
    if len(skip) >= V:
        raise ValueError(f"skip_ids leaves no word to sample (it holds all {V} ids)")
    return skip


def _what(x):
    """'list of 3', 'NoneType': what a state argument was, for messages."""
    return f"{type(x).__name__} of {len(x)}" if isinstance(x, (tuple, list)) else type(x).__name__


def _state_pair(state, name):
    """state as the book's (h, c) pair (or (h,): c starts from zeros), else TypeError naming ``name``."""
    if not isinstance(state, (tuple, list)) or not 1 <= len(state) <= 2:
        raise TypeError(f"{name} must be an LSTM's (h, c) pair, as get_state returns it; got {_what(state)}")
    return state


def _generate(model, start_id, skip_ids, sample_size):
    """The book's sampling loop: feed one word at a time, draw the next from softmax(scores) with
    np.random.choice(V, size=1, p=p), skipping ``skip_ids``; returns ``sample_size`` word ids (ints)."""
    V = model.params[0].shape[0]
    start_id = _checks.integer(start_id, "start_id", minimum=0)
    if start_id >= V:
        raise ValueError(f"start_id must be a word id below the vocabulary size {V}; got {start_id}")
    sample_size = _checks.integer(sample_size, "sample_size", minimum=1)
    skip = _skip_set(skip_ids, V)
    word_ids, x = [start_id], start_id
    while len(word_ids) < sample_size:
        p = softmax(model.predict(np.array(x).reshape(1, 1)).flatten())
        sampled = int(np.random.choice(len(p), size=1, p=p)[0])
        if sampled not in skip:
            x = sampled
            word_ids.append(sampled)
    return word_ids


class RnnlmGen(Rnnlm):
    """Rnnlm that writes text (chapter 7): ``generate`` samples word ids one at a time."""

    def generate(self, start_id, skip_ids=None, sample_size=100):
        """Returns a list of ``sample_size`` word ids (ints): ``start_id``, then words drawn one at a time from the
        model's next-word probabilities (np.random.choice, the book's draws), never one of ``skip_ids``. The
        LSTM's state carries on from the last call (reset_state to start afresh)."""
        return _generate(self, start_id, skip_ids, sample_size)

    def get_state(self):
        """Returns the LSTM's (h, c)."""
        return self.lstm_layer.h, self.lstm_layer.c

    def set_state(self, state):
        """Sets the LSTM's state from (h, c); returns None."""
        self.lstm_layer.set_state(*_state_pair(state, "state"))


class BetterRnnlmGen(BetterRnnlm):
    """BetterRnnlm that writes text (chapter 7): ``generate`` as RnnlmGen's, without dropout."""

    def generate(self, start_id, skip_ids=None, sample_size=100):
        """Returns a list of ``sample_size`` word ids (ints) drawn as RnnlmGen.generate draws them."""
        return _generate(self, start_id, skip_ids, sample_size)

    def get_state(self):
        """Returns [(h, c) of the first LSTM, (h, c) of the second]."""
        return [(layer.h, layer.c) for layer in self.lstm_layers]

    def set_state(self, states):
        """Sets both LSTMs' states from [(h1, c1), (h2, c2)]; returns None."""
        if not isinstance(states, (tuple, list)):
            raise TypeError(f"states must be a list of (h, c) pairs, as get_state returns it; got {_what(states)}")
        if len(states) != len(self.lstm_layers):
            raise ValueError(f"states must hold one (h, c) pair per LSTM layer ({len(self.lstm_layers)}); got "
                             f"{_what(states)}")
        for i, (layer, state) in enumerate(zip(self.lstm_layers, states)):
            layer.set_state(*_state_pair(state, f"states[{i}]"))
