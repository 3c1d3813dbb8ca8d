"""Reference twins of fastnn's seq2seq models (fastnn/seq2seq_nets.py, fastnn/kernels/seq2seq.py) in the second
book's NumPy idiom, on the reference layers: Seq2seq, PeekySeq2seq and AttentionSeq2seq take ``params`` (a list in
the book's order: encoder embed W, Wx, Wh, b; decoder embed W, Wx, Wh, b, affine W, b) and compute the loss, the
gradients and the greedy generation a layer at a time, one decoder step per loop pass."""
import numpy as np

from .attention import TimeAttention
from .recurrent import TimeLSTM
from .time_wise import TimeAffine, TimeEmbedding, TimeSoftmaxWithLoss


class Seq2seq:
    """Chapter 7's encoder-decoder: the encoder's last state starts the decoder."""

    def __init__(self, params):
        self.params = params
        self.enc_embed, self.enc_lstm = TimeEmbedding(params[0]), TimeLSTM(*params[1:4])
        self.dec_embed, self.dec_lstm = TimeEmbedding(params[4]), TimeLSTM(*params[5:8], stateful=True)
        self.affine = TimeAffine(*params[8:10])
        self.loss_layer = TimeSoftmaxWithLoss()
        layers = (self.enc_embed, self.enc_lstm, self.dec_embed, self.dec_lstm, self.affine)
        self.grads = [g for layer in layers for g in layer.grads]

    def encode(self, xs):
        """Returns the encoder's states (N, T, H) over the ids xs."""
        return self.enc_lstm.forward(self.enc_embed.forward(xs))

    def decode(self, xs, enc_hs):
        """Returns the decoder's scores for the ids xs (N, T) given the encoder's states."""
        self.dec_lstm.set_state(enc_hs[:, -1])
        return self.affine.forward(self.dec_lstm.forward(self.dec_embed.forward(xs)))

    def decode_backward(self, dscore, enc_hs):
        """Writes the decoder's gradients; returns the gradient wrt enc_hs."""
        dout = self.dec_lstm.backward(self.affine.backward(dscore))
        self.dec_embed.backward(dout)
        denc = np.zeros_like(enc_hs)
        denc[:, -1] = self.dec_lstm.dh
        return denc

    def forward(self, xs, ts):
        """Returns the mean cross-entropy of the answers ts[:, 1:] after ts[:, :-1]."""
        self.enc_hs = self.encode(xs)
        return self.loss_layer.forward(self.decode(ts[:, :-1], self.enc_hs), ts[:, 1:])

    def backward(self, dout=1):
        """Writes every gradient into grads; returns None."""
        denc = self.decode_backward(self.loss_layer.backward(dout), self.enc_hs)
        self.enc_embed.backward(self.enc_lstm.backward(denc))

    def generate(self, xs, start_id, sample_size):
        """Returns greedy ids (a list of ints): each step's argmax is the next step's input."""
        enc_hs = self.encode(xs)
        self.dec_lstm.set_state(enc_hs[:, -1])
        sampled, current = [], start_id
        for _ in range(sample_size):
            score = self.decode_step(np.array([[current]]), enc_hs)
            current = int(np.argmax(score.flatten()))
            sampled.append(current)
        return sampled

    def decode_step(self, x, enc_hs):
        """Returns the scores of the next steps (the decoder LSTM keeps its state)."""
        return self.affine.forward(self.dec_lstm.forward(self.dec_embed.forward(x)))


class PeekySeq2seq(Seq2seq):
    """The encoder's last state is also concatenated before every decoder LSTM input and affine input."""

    @staticmethod
    def _peek(enc_hs, T):
        h = enc_hs[:, -1]
        return np.repeat(h[:, None, :], T, axis=1)

    def decode(self, xs, enc_hs):
        """Returns the decoder's scores for the ids xs (N, T) given the encoder's states."""
        self.dec_lstm.set_state(enc_hs[:, -1])
        return self.decode_step(xs, enc_hs)

    def decode_step(self, xs, enc_hs):
        """Returns the scores of the next steps (the decoder LSTM keeps its state)."""
        peek = self._peek(enc_hs, xs.shape[1])
        hs = self.dec_lstm.forward(np.concatenate((peek, self.dec_embed.forward(xs)), axis=2))
        return self.affine.forward(np.concatenate((peek, hs), axis=2))

    def decode_backward(self, dscore, enc_hs):
        """Writes the decoder's gradients; returns the gradient wrt enc_hs."""
        H = enc_hs.shape[2]
        dout = self.affine.backward(dscore)
        dx = self.dec_lstm.backward(dout[:, :, H:])
        self.dec_embed.backward(dx[:, :, H:])
        denc = np.zeros_like(enc_hs)
        denc[:, -1] = self.dec_lstm.dh + np.sum(dout[:, :, :H] + dx[:, :, :H], axis=1)
        return denc


class AttentionSeq2seq(Seq2seq):
    """Every decoder state attends over all encoder states; the affine reads (context, state)."""

    def __init__(self, params):
        super().__init__(params)
        self.attention = TimeAttention()

    def decode(self, xs, enc_hs):
        """Returns the decoder's scores for the ids xs (N, T) given the encoder's states."""
        self.dec_lstm.set_state(enc_hs[:, -1])
        return self.decode_step(xs, enc_hs)

    def decode_step(self, xs, enc_hs):
        """Returns the scores of the next steps (the decoder LSTM keeps its state)."""
        hs = self.dec_lstm.forward(self.dec_embed.forward(xs))
        return self.affine.forward(np.concatenate((self.attention.forward(enc_hs, hs), hs), axis=2))

    def decode_backward(self, dscore, enc_hs):
        """Writes the decoder's gradients; returns the gradient wrt enc_hs."""
        dout = self.affine.backward(dscore)
        H = dout.shape[2] // 2
        denc, ddec = self.attention.backward(dout[:, :, :H])
        self.dec_embed.backward(self.dec_lstm.backward(dout[:, :, H:] + ddec))
        denc[:, -1] += self.dec_lstm.dh
        return denc
