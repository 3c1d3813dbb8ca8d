"""A stand-in Seq2seq for ``fastnn train --model seq2seq`` until fastnn.nets.Seq2seq (branch seqnets) lands: an
LSTM encoder whose last state starts an LSTM decoder (chapter 7's model), on fastnn.time_layers, with greedy
``generate``. To be removed when fastnn.nets has Seq2seq."""
import numpy as np

from .time_layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss


def _lstm(D, H):
    r = np.random.randn
    return TimeLSTM((r(D, 4 * H) / np.sqrt(D)).astype("f"), (r(H, 4 * H) / np.sqrt(H)).astype("f"),
                    np.zeros(4 * H, "f"), stateful=False)


class Seq2seq:
    """Encoder (embedding, LSTM) and decoder (embedding, LSTM from the encoder's last state, affine)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.enc_embed = TimeEmbedding((np.random.randn(V, D) / 100).astype("f"))
        self.enc_lstm = _lstm(D, H)
        self.dec_embed = TimeEmbedding((np.random.randn(V, D) / 100).astype("f"))
        self.dec_lstm = _lstm(D, H)
        self.dec_lstm.stateful = True
        self.affine = TimeAffine((np.random.randn(H, V) / np.sqrt(H)).astype("f"), np.zeros(V, "f"))
        self.loss_layer = TimeSoftmaxWithLoss()
        layers = [self.enc_embed, self.enc_lstm, self.dec_embed, self.dec_lstm, self.affine]
        self.params = [p for layer in layers for p in layer.params]
        self.grads = [g for layer in layers for g in layer.grads]

    def _encode(self, xs):
        hs = self.enc_lstm.forward(self.enc_embed.forward(xs))
        self._enc_shape = hs.shape
        return hs[:, -1, :]

    def forward(self, xs, ts):
        """Returns the mean loss of predicting ts[:, 1:] from xs and ts[:, :-1]."""
        self.dec_lstm.set_state(self._encode(xs))
        hs = self.dec_lstm.forward(self.dec_embed.forward(ts[:, :-1]))
        return self.loss_layer.forward(self.affine.forward(hs), ts[:, 1:])

    def backward(self, dout=1):
        """Writes grads; returns None."""
        dhs = self.dec_lstm.backward(self.affine.backward(self.loss_layer.backward(dout)))
        self.dec_embed.backward(dhs)
        d = np.zeros(self._enc_shape, dhs.dtype)
        d[:, -1, :] = self.dec_lstm.dh
        self.enc_embed.backward(self.enc_lstm.backward(d))
        return None

    def generate(self, xs, start_id, sample_size):
        """Returns ``sample_size`` ids, each the most probable next one (greedy)."""
        self.dec_lstm.set_state(self._encode(xs))
        out, x = [], start_id
        for _ in range(sample_size):
            score = self.affine.forward(self.dec_lstm.forward(self.dec_embed.forward(np.array([[x]]))))
            x = int(np.argmax(score.flatten()))
            out.append(x)
        return out
