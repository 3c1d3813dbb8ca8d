"""Reference twins of fastnn's attention kernels (fastnn/kernels/attention.py), the second book's chapter-8
attention in vectorised NumPy: broadcasting over (N, T, H) as the book does, all decoder steps at once."""
import numpy as np


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class WeightSum:
    """c[n] = sum_t a[n, t] * hs[n, t]."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        """Returns c (N, H)."""
        ar = a[:, :, np.newaxis]
        self.cache = (hs, ar)
        return np.sum(hs * ar, axis=1)

    def backward(self, dc):
        """Returns (dhs, da)."""
        hs, ar = self.cache
        dt = dc[:, np.newaxis, :]
        return dt * ar, np.sum(dt * hs, axis=2)


class AttentionWeight:
    """a = softmax_t(hs[n, t] . h[n])."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, h):
        """Returns a (N, T)."""
        hr = h[:, np.newaxis, :]
        a = _softmax(np.sum(hs * hr, axis=2))
        self.cache = (hs, hr, a)
        return a

    def backward(self, da):
        """Returns (dhs, dh)."""
        hs, hr, a = self.cache
        ds = a * da - a * np.sum(a * da, axis=1, keepdims=True)
        dt = ds[:, :, np.newaxis]
        return dt * hr, np.sum(dt * hs, axis=1)


class Attention:
    """AttentionWeight then WeightSum, for one decoder state."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight_layer, self.weight_sum_layer = AttentionWeight(), WeightSum()
        self.attention_weight = None

    def forward(self, hs, h):
        """Returns the context (N, H)."""
        self.attention_weight = self.attention_weight_layer.forward(hs, h)
        return self.weight_sum_layer.forward(hs, self.attention_weight)

    def backward(self, dout):
        """Returns (dhs, dh)."""
        dhs0, da = self.weight_sum_layer.backward(dout)
        dhs1, dh = self.attention_weight_layer.backward(da)
        return dhs0 + dhs1, dh


class TimeAttention:
    """Attention of every decoder state over the encoder states, all steps at once with einsum."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weights = None
        self.cache = None

    def forward(self, hs_enc, hs_dec):
        """Returns the contexts (N, T_dec, H)."""
        a = _softmax(np.einsum("nsh,nth->nts", hs_enc, hs_dec))
        self.cache = (hs_enc, hs_dec, a)
        self.attention_weights = [a[:, t] for t in range(a.shape[1])]
        return np.einsum("nts,nsh->nth", a, hs_enc)

    def backward(self, dout):
        """Returns (dhs_enc, dhs_dec)."""
        hs_enc, hs_dec, a = self.cache
        da = np.einsum("nth,nsh->nts", dout, hs_enc)
        ds = a * da - a * np.sum(a * da, axis=2, keepdims=True)
        dhs_enc = np.einsum("nts,nth->nsh", a, dout) + np.einsum("nts,nth->nsh", ds, hs_dec)
        return dhs_enc, np.einsum("nts,nsh->nth", ds, hs_enc)
