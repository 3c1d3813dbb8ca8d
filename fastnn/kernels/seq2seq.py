"""Greedy generation of the second book's seq2seq models (chapter 7's Seq2seq and PeekySeq2seq, chapter 8's
AttentionSeq2seq) for one question in one call: the encoder LSTM over the question, then ``sample_size`` decoder
steps (embedding row, one LSTM step, the peeky or attention extras, the output affine, argmax), each step's argmax
the next step's input id.

``decode*`` run the decoder alone from given encoder states hs_enc (1, T, H) (the Decoder classes' ``generate``);
``generate*`` = the encoder, then ``decode*``. Arguments: ``question`` (T,) intp ids checked by the caller; ``enc``
and ``dec`` the tuples (embed W, Wx, Wh, b) of the encoder and the decoder, C-contiguous, one float dtype; ``W``,
``b`` the decoder's output affine; ``sampled`` (sample_size,) intp receives the ids. The LSTM steps are
fastnn/kernels/recurrent.py's ``lstm_forward`` on one row and one step (the same gate arithmetic as the Time
layers), the attention step fastnn/kernels/attention.py's ``time_attention_forward``; argmax takes the first of
equal maxima, as np.argmax.
"""
import numpy as np

from .._jit import kernel
from .affine import affine_forward
from .arrays import copy_row
from .attention import time_attention_forward
from .recurrent import lstm_forward


@kernel(internal=True)
def _new_state(H, dtype_of):
    """(h, c, gates, cell, tanh_cell, hs): zero state and one step's LSTM buffers for one row."""
    h, c = np.zeros((1, H), dtype_of.dtype), np.zeros((1, H), dtype_of.dtype)
    gates = np.empty((1, 1, 4 * H), dtype_of.dtype)
    cell, tanh_cell, hs = (np.empty((1, 1, H), dtype_of.dtype), np.empty((1, 1, H), dtype_of.dtype),
                           np.empty((1, 1, H), dtype_of.dtype))
    return h, c, gates, cell, tanh_cell, hs


@kernel(internal=True)
def _encode(question, enc):
    """The encoder's states hs (1, T, H) over the question, from the zero state."""
    embed, Wx, Wh, b = enc
    T, H = question.size, Wh.shape[0]
    xs = np.empty((1, T, embed.shape[1]), embed.dtype)
    for t in range(T):
        copy_row(xs[0, t], embed[question[t]])
    h, c = np.zeros((1, H), Wh.dtype), np.zeros((1, H), Wh.dtype)
    gates, hs = np.empty((1, T, 4 * H), Wh.dtype), np.empty((1, T, H), Wh.dtype)
    lstm_forward(xs, Wx, Wh, b, h, c, gates, np.empty((1, T, H), Wh.dtype), np.empty((1, T, H), Wh.dtype), hs)
    return hs


@kernel
def _step(x, lstm, state):
    """One decoder LSTM step on the input row x (1, 1, D); the state (h, c) moves on; returns h (1, H)."""
    _, Wx, Wh, b = lstm
    h, c, gates, cell, tanh_cell, hs = state
    lstm_forward(x, Wx, Wh, b, h, c, gates, cell, tanh_cell, hs)
    return h


@kernel(internal=True)
def _pick(features, W, b, scores):
    """argmax of features (1, K) @ W + b (the first index of the largest score)."""
    affine_forward(features, W, b, scores)
    return np.argmax(scores[0])


@kernel
def decode(hs_enc, dec, W, b, start_id, sampled):
    """Chapter 7's Decoder from the encoder's last state hs_enc[:, -1] (cell zero)."""
    embed, H = dec[0], dec[2].shape[0]
    state = _new_state(H, embed)
    copy_row(state[0][0], hs_enc[0, -1])
    x, scores = np.empty((1, 1, embed.shape[1]), embed.dtype), np.empty((1, W.shape[1]), W.dtype)
    current = start_id
    for s in range(sampled.size):
        copy_row(x[0, 0], embed[current])
        h = _step(x, dec, state)
        current = _pick(h, W, b, scores)
        sampled[s] = current


@kernel
def decode_peeky(hs_enc, dec, W, b, start_id, sampled):
    """PeekyDecoder: the encoder's last state is also put before every step's LSTM input and affine input."""
    embed, H = dec[0], dec[2].shape[0]
    state = _new_state(H, embed)
    peek = hs_enc[0, -1]
    copy_row(state[0][0], peek)
    x, scores = np.empty((1, 1, H + embed.shape[1]), embed.dtype), np.empty((1, W.shape[1]), W.dtype)
    features = np.empty((1, 2 * H), W.dtype)
    copy_row(x[0, 0, :H], peek)
    copy_row(features[0, :H], peek)
    current = start_id
    for s in range(sampled.size):
        copy_row(x[0, 0, H:], embed[current])
        copy_row(features[0, H:], _step(x, dec, state)[0])
        current = _pick(features, W, b, scores)
        sampled[s] = current


@kernel
def decode_attention(hs_enc, dec, W, b, start_id, sampled):
    """AttentionDecoder: each step's state attends over all encoder states hs_enc (1, T, H); the affine reads
    (context, state)."""
    embed, H = dec[0], dec[2].shape[0]
    state = _new_state(H, embed)
    copy_row(state[0][0], hs_enc[0, -1])
    x, scores = np.empty((1, 1, embed.shape[1]), embed.dtype), np.empty((1, W.shape[1]), W.dtype)
    weights, context = np.empty((1, 1, hs_enc.shape[1]), W.dtype), np.empty((1, 1, H), W.dtype)
    features = np.empty((1, 2 * H), W.dtype)
    current = start_id
    for s in range(sampled.size):
        copy_row(x[0, 0], embed[current])
        h = _step(x, dec, state)
        time_attention_forward(hs_enc, h.reshape(1, 1, H), weights, context)
        copy_row(features[0, :H], context[0, 0])
        copy_row(features[0, H:], h[0])
        current = _pick(features, W, b, scores)
        sampled[s] = current


# --- encoder + decoder: one call per question -----------------------------------------------------------------
@kernel
def generate(question, enc, dec, W, b, start_id, sampled):
    """Seq2seq.generate: the encoder over the question, then ``decode``."""
    decode(_encode(question, enc), dec, W, b, start_id, sampled)


@kernel
def generate_peeky(question, enc, dec, W, b, start_id, sampled):
    """PeekySeq2seq.generate: the encoder over the question, then ``decode_peeky``."""
    decode_peeky(_encode(question, enc), dec, W, b, start_id, sampled)


@kernel
def generate_attention(question, enc, dec, W, b, start_id, sampled):
    """AttentionSeq2seq.generate: the encoder over the question, then ``decode_attention``."""
    decode_attention(_encode(question, enc), dec, W, b, start_id, sampled)
