"""The second book's seq2seq models, reached as ``fastnn.nets.<name>``: chapter 7's ``Encoder``, ``Decoder``,
``Seq2seq`` (``ch07/seq2seq.py``), ``PeekyDecoder``, ``PeekySeq2seq`` (``ch07/peeky_seq2seq.py``) and chapter 8's
``AttentionEncoder``, ``AttentionDecoder``, ``AttentionSeq2seq`` (``ch08/attention_seq2seq.py``).

Same constructors ``(vocab_size, wordvec_size, hidden_size)``, the same ``np.random.randn`` draws in the same order
(embedding, LSTM Wx, Wh, then the decoder's affine W; float32 as the book), the same attributes (``encoder``,
``decoder``, ``softmax``, the layers ``embed``, ``lstm``, ``affine``, ``attention``; ``decoder.attention
.attention_weights`` after ``forward``) and ``params``/``grads`` lists in the book's order, so the book's Trainer,
optimizers, ``clip_grads`` and ``save_params``/``load_params`` (fastnn.base_model; the book's pickles too) work
as with the book's classes. ``forward(xs, ts)`` returns the loss and ``backward(dout=1)`` fills ``grads``, layer
by layer on fastnn's compiled Time layers (fastnn.time_layers, fastnn.attention_layer).

What they add: ``generate(xs, start_id, sample_size)`` (what ``eval_seq2seq`` calls for every test question) is
one compiled call for the encoder over the question and the whole greedy decoder loop (fastnn/kernels/seq2seq.py),
where the book runs a dozen layer calls per generated id; the ids are the book's (argmax, first of equal maxima).
A keyword-only ``dtype`` (float32 as the book, or float64) draws the same numbers and casts them.
"""
import numpy as np

from . import _checks
from ._dispatch import lazy_kernels
from ._recurrent import TimeLSTM, _checked_params
from ._time_wise import TimeAffine, TimeEmbedding, TimeSoftmaxWithLoss, _dout, _ids
from .attention_layer import TimeAttention
from .base_model import BaseModel

kernels = lazy_kernels("seq2seq")

__all__ = ["Encoder", "Decoder", "Seq2seq", "PeekyDecoder", "PeekySeq2seq", "AttentionEncoder",
           "AttentionDecoder", "AttentionSeq2seq"]


# --- construction -------------------------------------------------------------------------------------------------
def _sizes(vocab_size, wordvec_size, hidden_size, dtype):
    """(V, D, H, dtype): the three sizes checked to be integers >= 1, the dtype float32 or float64."""
    sizes = tuple(_checks.integer(v, name, minimum=1) for v, name in
                  ((vocab_size, "vocab_size"), (wordvec_size, "wordvec_size"), (hidden_size, "hidden_size")))
    return sizes + (_checks.network_dtype(dtype),)


def _scaled_draw(rows, cols, divisor, dtype):
    """np.random.randn(rows, cols) / divisor in dtype (the book's initialisation)."""
    return (np.random.randn(rows, cols) / divisor).astype(dtype)


def _embedding_and_lstm(V, D, H, lstm_input, dtype):
    """The book's first draws of every encoder and decoder: the embedding (V, D), then the LSTM's Wx
    (lstm_input, 4H) and Wh (H, 4H); b is zeros. Returns (TimeEmbedding, (Wx, Wh, b))."""
    embed_W = _scaled_draw(V, D, 100, dtype)
    Wx = _scaled_draw(lstm_input, 4 * H, np.sqrt(lstm_input), dtype)
    Wh = _scaled_draw(H, 4 * H, np.sqrt(H), dtype)
    return TimeEmbedding(embed_W), (Wx, Wh, np.zeros(4 * H, dtype))


def _affine(affine_input, V, dtype):
    """The decoder's output layer: W (affine_input, V) drawn as the book draws it, b zeros."""
    return TimeAffine(_scaled_draw(affine_input, V, np.sqrt(affine_input), dtype), np.zeros(V, dtype))


def _collect(owner, layers):
    """owner.params and owner.grads: the layers' lists joined in order (the very arrays, as the book's)."""
    owner.params, owner.grads = [], []
    for layer in layers:
        owner.params += layer.params
        owner.grads += layer.grads


# --- generation: the checks at the door, then one kernel call -----------------------------------------------------
def _lstm_tuple(embed, lstm):
    """(embedding W, Wx, Wh, b) of one encoder or decoder as the kernels take them (C-contiguous)."""
    Wx, Wh, b = _checked_params(lstm.params, 4, "TimeLSTM")
    return np.ascontiguousarray(embed.params[0]), Wx, Wh, b


def _affine_pair(affine, width):
    """The decoder's affine (W, b) as the kernels take them, checked to read ``width`` features."""
    W, b = affine.params
    if W.ndim != 2 or W.shape[0] != width or b.shape != W.shape[1:]:
        raise ValueError(f"the decoder's affine W must have {width} rows and b one entry per column; got shapes "
                         f"{W.shape} and {b.shape}")
    return np.ascontiguousarray(W), np.ascontiguousarray(b)


def _question(xs, vocab):
    """The question ids of xs (1, T) as a C-contiguous intp vector, each in [0, vocab)."""
    xs = _checks.as_array(xs, "xs")
    if xs.ndim != 2 or xs.shape[0] != 1 or xs.shape[1] == 0:
        raise ValueError(f"xs must be one question of shape (1, T) with T >= 1 (e.g. x_test[[i]]); got shape "
                         f"{xs.shape}")
    return _checks.class_labels(xs, xs.size, vocab, "xs")


def _sample_args(start_id, sample_size, vocab):
    """(start_id, an intp buffer for sample_size ids) with start_id in [0, vocab) and sample_size >= 1."""
    sample_size = _checks.integer(sample_size, "sample_size", minimum=1)
    start_id = _checks.integer(start_id, "start_id")
    if not 0 <= start_id < vocab:
        raise ValueError(f"start_id must be an id in [0, {vocab}) (the decoder's vocabulary); got {start_id}")
    return start_id, np.empty(sample_size, np.intp)


def _encoder_states(hs, H, dtype, last_only):
    """Encoder states given to a Decoder's generate: (1, H) (``last_only``) or (1, T, H), as (1, T, H) in dtype."""
    shape = "(1, H)" if last_only else "(1, T, H)"
    hs = _checks.float_array(hs, "h" if last_only else "enc_hs", dtype=dtype, ndim=2 if last_only else 3)
    if hs.shape[0] != 1 or hs.shape[-1] != H or 0 in hs.shape:
        raise ValueError(f"{'h' if last_only else 'enc_hs'} must have shape {shape} with H = {H} (one question); "
                         f"got {hs.shape}")
    return hs.reshape(1, -1, H)


def _state_for_batch(h, N, H, name):
    """A state (N, H) (h, dh) or all encoder states (N, T, H) (``name`` "enc_hs"), checked to be real numbers
    for the N questions of the batch; returns it as a float array."""
    ndim = 3 if name == "enc_hs" else 2
    h = _checks.float_array(h, name, ndim=ndim)
    if h.shape[0] != N or h.shape[-1] != H or 0 in h.shape:
        shape = "(N, H)" if ndim == 2 else "(N, T_enc, H), T_enc >= 1,"
        raise ValueError(f"{name} must have shape {shape} with N = {N} (the batch of xs) and H = {H}; got "
                         f"{h.shape}")
    return h


class _Generating:
    """The decoders' generate: ``_KERNEL`` (a name in fastnn/kernels/seq2seq.py) run from given encoder states;
    and their output affine's backward, its dscore checked by name."""

    _KERNEL = "decode"
    _LAST_ONLY = True

    def _decoder_args(self, start_id, sample_size):
        dec = _lstm_tuple(self.embed, self.lstm)
        W, b = _affine_pair(self.affine, self._affine_width(dec[2].shape[0]))
        start_id, sampled = _sample_args(start_id, sample_size, dec[0].shape[0])
        return dec, W, b, start_id, sampled

    def _affine_width(self, H):
        return 2 * H

    def _affine_backward(self, dscore):
        """The output affine's backward of dscore (N, T, V), the scores' shape of the last forward."""
        W = self.affine.params[0]
        if self.affine.x is not None:
            dscore = _dout(dscore, self.affine.x.shape[:2] + W.shape[1:], W.dtype, "dscore")
        return self.affine.backward(dscore)

    def generate(self, h, start_id, sample_size):
        """Returns ``sample_size`` ids (a list of ints), greedily: from the encoder's state (``h`` (1, H); the
        attention decoder takes all encoder states ``enc_hs`` (1, T, H)) and ``start_id``, each step's
        highest-scoring id is the next step's input. One compiled call."""
        dec, W, b, start_id, sampled = self._decoder_args(start_id, sample_size)
        hs = _encoder_states(h, dec[2].shape[0], dec[2].dtype, self._LAST_ONLY)
        getattr(kernels, self._KERNEL)(hs, dec, W, b, start_id, sampled)
        return sampled.tolist()


# --- chapter 7 ------------------------------------------------------------------------------------------------------
class Encoder:
    """An embedding and an LSTM (not stateful) over the question; ``forward`` returns the last state (N, H)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, dtype=np.float32):
        V, D, H, dtype = _sizes(vocab_size, wordvec_size, hidden_size, dtype)
        self.embed, lstm_params = _embedding_and_lstm(V, D, H, D, dtype)
        self.lstm = TimeLSTM(*lstm_params, stateful=False)
        _collect(self, (self.embed, self.lstm))
        self.hs = None

    def forward(self, xs):
        """Returns h (N, H), the LSTM's state after the last id of xs (N, T); keeps all states in ``hs``."""
        self.hs = self.lstm.forward(self.embed.forward(xs))
        return self.hs[:, -1, :]

    def backward(self, dh):
        """Writes the gradients from dh (N, H), the gradient of the last state, into ``grads``; returns None."""
        if self.hs is None:
            raise RuntimeError("Encoder.backward called before forward")
        N, _, H = self.hs.shape
        dhs = np.zeros_like(self.hs)
        dhs[:, -1, :] = _state_for_batch(dh, N, H, "dh")
        return self.embed.backward(self.lstm.backward(dhs))


class Decoder(_Generating):
    """An embedding, a stateful LSTM started from the encoder's state, an affine to vocabulary scores."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, dtype=np.float32):
        V, D, H, dtype = _sizes(vocab_size, wordvec_size, hidden_size, dtype)
        self.embed, lstm_params = _embedding_and_lstm(V, D, H, D, dtype)
        self.lstm = TimeLSTM(*lstm_params, stateful=True)
        self.affine = _affine(H, V, dtype)
        _collect(self, (self.embed, self.lstm, self.affine))

    def _affine_width(self, H):
        return H

    def forward(self, xs, h):
        """Returns the scores (N, T, V) of the ids xs (N, T) from the initial state h (N, H)."""
        self.lstm.set_state(h)
        return self.affine.forward(self.lstm.forward(self.embed.forward(xs)))

    def backward(self, dscore):
        """Writes the gradients into ``grads``; returns dh, the gradient wrt the initial state."""
        self.embed.backward(self.lstm.backward(self._affine_backward(dscore)))
        return self.lstm.dh


class Seq2seq(BaseModel):
    """Chapter 7's encoder-decoder: ``forward(xs, ts)`` encodes xs (N, T_in), decodes ts[:, :-1] and returns the
    mean cross-entropy against ts[:, 1:]."""

    _ENCODER, _DECODER = Encoder, Decoder
    _KERNEL = "generate"

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, dtype=np.float32):
        self.encoder = self._ENCODER(vocab_size, wordvec_size, hidden_size, dtype=dtype)
        self.decoder = self._DECODER(vocab_size, wordvec_size, hidden_size, dtype=dtype)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads

    def forward(self, xs, ts):
        """Returns the loss (a float64) of answering the questions xs (N, T_in) with ts (N, T_out) (start id first)."""
        ts = _checks.as_array(ts, "ts")
        if ts.ndim != 2 or ts.shape[1] < 2:
            raise ValueError(f"ts must have shape (N, T) with T >= 2 (the start id, then the answer); got "
                             f"{ts.shape}")
        V = self.decoder.embed.params[0].shape[0]
        ts = _ids(ts, "ts", ts.shape, V).reshape(ts.shape)  # ids of the decoder's vocabulary
        h = self.encoder.forward(xs)
        if len(h) != len(ts):
            raise ValueError(f"ts must hold one answer per question of xs ({len(h)}); got {len(ts)}")
        score = self.decoder.forward(ts[:, :-1], h)
        return self.softmax.forward(score, ts[:, 1:])

    def backward(self, dout=1):
        """Writes the gradients of every parameter into ``grads``; returns None (the embedding's input gradient,
        as the book's)."""
        return self.encoder.backward(self.decoder.backward(self.softmax.backward(dout)))

    def generate(self, xs, start_id, sample_size):
        """Returns ``sample_size`` ids (a list of ints) answering the question xs (1, T) greedily from
        ``start_id``: the book's ids, in one compiled call (encoder and decoder loop)."""
        enc = _lstm_tuple(self.encoder.embed, self.encoder.lstm)
        question = _question(xs, enc[0].shape[0])
        dec, W, b, start_id, sampled = self.decoder._decoder_args(start_id, sample_size)
        if dec[2].shape[0] != enc[2].shape[0] or dec[0].dtype != enc[0].dtype:
            raise ValueError(f"the encoder's and decoder's LSTMs must have one hidden size and dtype; got "
                             f"{enc[2].shape[0]} {enc[0].dtype} and {dec[2].shape[0]} {dec[0].dtype}")
        getattr(kernels, self._KERNEL)(question, enc, dec, W, b, start_id, sampled)
        return sampled.tolist()



class PeekyDecoder(_Generating):
    """A Decoder that also feeds the encoder's state h to every step: before each LSTM input and each affine
    input (LSTM Wx (H + D, 4H), affine W (2H, V))."""

    _KERNEL = "decode_peeky"

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, dtype=np.float32):
        V, D, H, dtype = _sizes(vocab_size, wordvec_size, hidden_size, dtype)
        self.embed, lstm_params = _embedding_and_lstm(V, D, H, H + D, dtype)
        self.lstm = TimeLSTM(*lstm_params, stateful=True)
        self.affine = _affine(2 * H, V, dtype)
        _collect(self, (self.embed, self.lstm, self.affine))
        self.cache = None

    def forward(self, xs, h):
        """Returns the scores (N, T, V) of the ids xs (N, T) from the encoder's state h (N, H)."""
        embedded = self.embed.forward(xs)
        N, T, _ = embedded.shape
        H = self.lstm.params[1].shape[0]
        h = _state_for_batch(h, N, H, "h")
        self.lstm.set_state(h)
        peek = np.broadcast_to(h.astype(embedded.dtype, copy=False).reshape(N, 1, H), (N, T, H))
        hs = self.lstm.forward(np.concatenate((peek, embedded), axis=2))
        self.cache = H
        return self.affine.forward(np.concatenate((peek, hs), axis=2))

    def backward(self, dscore):
        """Writes the gradients into ``grads``; returns dh, the gradient wrt h (initial state and every peek)."""
        if self.cache is None:
            raise RuntimeError("PeekyDecoder.backward called before forward")
        H = self.cache
        dout = self._affine_backward(dscore)
        dx = self.lstm.backward(dout[:, :, H:])
        self.embed.backward(dx[:, :, H:])
        return self.lstm.dh + np.sum(dout[:, :, :H] + dx[:, :, :H], axis=1)


class PeekySeq2seq(Seq2seq):
    """Seq2seq with a PeekyDecoder."""

    _DECODER = PeekyDecoder
    _KERNEL = "generate_peeky"


# --- chapter 8 ------------------------------------------------------------------------------------------------------
class AttentionEncoder(Encoder):
    """An Encoder whose forward returns all states hs (N, T, H) and whose backward takes their gradient."""

    def forward(self, xs):
        """Returns hs (N, T, H), the LSTM's state after every id of xs (N, T)."""
        self.hs = self.lstm.forward(self.embed.forward(xs))
        return self.hs

    def backward(self, dhs):
        """Writes the gradients from dhs (N, T, H) into ``grads``; returns None."""
        return self.embed.backward(self.lstm.backward(dhs))


class AttentionDecoder(_Generating):
    """A Decoder whose every state attends over all encoder states; the affine reads (context, state)."""

    _KERNEL = "decode_attention"
    _LAST_ONLY = False

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, dtype=np.float32):
        V, D, H, dtype = _sizes(vocab_size, wordvec_size, hidden_size, dtype)
        self.embed, lstm_params = _embedding_and_lstm(V, D, H, D, dtype)
        self.lstm = TimeLSTM(*lstm_params, stateful=True)
        self.attention = TimeAttention()
        self.affine = _affine(2 * H, V, dtype)
        _collect(self, (self.embed, self.lstm, self.attention, self.affine))

    def forward(self, xs, enc_hs):
        """Returns the scores (N, T, V) of the ids xs (N, T) given the encoder's states enc_hs (N, T_enc, H)."""
        embedded = self.embed.forward(xs)
        enc_hs = _state_for_batch(enc_hs, len(embedded), self.lstm.params[1].shape[0], "enc_hs")
        self.lstm.set_state(enc_hs[:, -1])
        dec_hs = self.lstm.forward(embedded)
        contexts = self.attention.forward(enc_hs, dec_hs)
        return self.affine.forward(np.concatenate((contexts, dec_hs), axis=2))

    def backward(self, dscore):
        """Writes the gradients into ``grads``; returns the gradient wrt enc_hs (N, T_enc, H)."""
        dout = self._affine_backward(dscore)
        H = dout.shape[2] // 2
        denc_hs, ddec_hs = self.attention.backward(dout[:, :, :H])
        self.embed.backward(self.lstm.backward(dout[:, :, H:] + ddec_hs))
        denc_hs[:, -1] += self.lstm.dh
        return denc_hs


class AttentionSeq2seq(Seq2seq):
    """Chapter 8's seq2seq with attention: an AttentionEncoder and an AttentionDecoder."""

    _ENCODER, _DECODER = AttentionEncoder, AttentionDecoder
    _KERNEL = "generate_attention"
