"""The second book's chapter-local ``ch08/attention_layer.py`` on compiled kernels: ``from fastnn.attention_layer
import TimeAttention`` in place of ``from attention_layer import TimeAttention``.

WeightSum, AttentionWeight and Attention keep the book's attributes (``cache``, ``softmax``,
``attention_weight_layer``, ``weight_sum_layer``, ``attention_weight``). TimeAttention runs all decoder steps in one
compiled call each way, where the book builds one Attention per step and broadcasts (N, T, H) temporaries;
``attention_weights`` is the book's list of (N, T_enc) weights, one per decoder step (views of one array).
Arrays are computed in the inputs' common float dtype (float32 or float64); params and grads are empty lists.
"""
import numpy as np

from . import _checks
from ._dispatch import lazy_kernels
from .layers import Softmax, _forward_done

kernels = lazy_kernels("attention")

__all__ = ["WeightSum", "AttentionWeight", "Attention", "TimeAttention", "np"]


def _states(hs, name):
    """hs (N, T, H) as a C-contiguous float array with no dimension of 0."""
    hs = _checks.float_array(hs, name, ndim=3)
    if not hs.size:
        raise ValueError(f"{name} must not have a dimension of 0 (batch, time size or hidden size); got shape "
                         f"{hs.shape}")
    return hs


def _matching(x, name, shape, dtype):
    """x as a C-contiguous array of ``shape`` in ``dtype`` (the partner argument's)."""
    x = _checks.float_array(x, name, dtype=dtype)
    if x.shape != shape:
        raise ValueError(f"{name} must have shape {shape} to match the other input; got {x.shape}")
    return x


def _common(hs, other, name_hs, name_other):
    """hs and the float array ``other`` in their common dtype."""
    other = _checks.float_array(other, name_other)
    dtype = np.result_type(hs.dtype, other.dtype)
    return hs.astype(dtype, copy=False), other.astype(dtype, copy=False)


class WeightSum:
    """The context vector: c[n] = sum over t of a[n, t] * hs[n, t] for states hs (N, T, H) and weights a (N, T)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        """Returns c (N, H); keeps (hs, a as (N, T, 1)) in ``cache``."""
        hs, a = _common(_states(hs, "hs"), a, "hs", "a")
        N, T, H = hs.shape
        a = _matching(a, "a", (N, T), hs.dtype)
        c = np.empty((N, H), hs.dtype)
        kernels.weight_sum_forward(hs, a, c)
        self.cache = (hs, a.reshape(N, T, 1))
        return c

    def backward(self, dc):
        """Returns (dhs (N, T, H), da (N, T))."""
        _forward_done(self, "cache")
        hs, ar = self.cache
        N, T, H = hs.shape
        dc = _matching(dc, "dc", (N, H), hs.dtype)
        dhs, da = np.empty_like(hs), np.empty((N, T), hs.dtype)
        kernels.weight_sum_backward(hs, ar.reshape(N, T), dc, dhs, da)
        return dhs, da


class AttentionWeight:
    """Attention weights a = softmax over t of hs[n, t] . h[n] for states hs (N, T, H) and a query h (N, H)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.softmax = Softmax()
        self.cache = None

    def forward(self, hs, h):
        """Returns a (N, T); keeps (hs, h as (N, 1, H)) in ``cache`` and a in ``softmax.out``."""
        hs, h = _common(_states(hs, "hs"), h, "hs", "h")
        N, T, H = hs.shape
        h = _matching(h, "h", (N, H), hs.dtype)
        s = np.empty((N, T), hs.dtype)
        kernels.attention_scores(hs, h, s)
        a = self.softmax.forward(s)
        self.cache = (hs, h.reshape(N, 1, H))
        return a

    def backward(self, da):
        """Returns (dhs (N, T, H), dh (N, H))."""
        _forward_done(self, "cache")
        hs, hr = self.cache
        N, T, H = hs.shape
        ds = self.softmax.backward(_matching(da, "da", (N, T), hs.dtype))
        dhs, dh = np.empty_like(hs), np.empty((N, H), hs.dtype)
        kernels.attention_scores_backward(hs, hr.reshape(N, H), ds, dhs, dh)
        return dhs, dh


class Attention:
    """One decoder step of attention: the weights of the query h over hs, then their weighted sum of hs."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight_layer = AttentionWeight()
        self.weight_sum_layer = WeightSum()
        self.attention_weight = None

    def forward(self, hs, h):
        """Returns the context (N, H); keeps the weights (N, T) as ``attention_weight``."""
        a = self.attention_weight_layer.forward(hs, h)
        out = self.weight_sum_layer.forward(hs, a)
        self.attention_weight = a
        return out

    def backward(self, dout):
        """Returns (dhs (N, T, H), dh (N, H))."""
        _forward_done(self, "attention_weight")
        hs = self.weight_sum_layer.cache[0]
        dout = _matching(dout, "dout", (hs.shape[0], hs.shape[2]), hs.dtype)
        dhs0, da = self.weight_sum_layer.backward(dout)
        dhs1, dh = self.attention_weight_layer.backward(da)
        return dhs0 + dhs1, dh


def _step_layer(hs, h, a):
    """An Attention layer in the state its forward(hs, h) leaves, given the weights a (N, T) it computed."""
    N, T, H = hs.shape
    a = np.ascontiguousarray(a)
    layer = Attention()
    layer.attention_weight_layer.cache = (hs, np.ascontiguousarray(h).reshape(N, 1, H))
    layer.attention_weight_layer.softmax.out = a
    layer.weight_sum_layer.cache = (hs, a.reshape(N, T, 1))
    layer.attention_weight = a
    return layer


class TimeAttention:
    """Attention of every decoder state hs_dec[:, t] (N, T_dec, H) over the encoder states hs_enc (N, T_enc, H),
    all steps in one compiled call; ``attention_weights`` lists the (N, T_enc) weights of each step."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weights = None
        self._cache = self._layers = None

    @property
    def layers(self):
        """The book's per-step Attention layers of the last forward (None before it), built on first read: each
        holds its step's forward state, so ``layers[t].backward(dout[:, t])`` works as in the book."""
        if self._layers is None and self._cache is not None:
            hs_enc, hs_dec, a = self._cache
            self._layers = [_step_layer(hs_enc, hs_dec[:, t], a[:, t]) for t in range(a.shape[1])]
        return self._layers

    def forward(self, hs_enc, hs_dec):
        """Returns the contexts (N, T_dec, H), one per decoder step, in the inputs' common dtype."""
        hs_enc, hs_dec = _common(_states(hs_enc, "hs_enc"), _states(hs_dec, "hs_dec"), "hs_enc", "hs_dec")
        (N, T_enc, H), (N_dec, T_dec, H_dec) = hs_enc.shape, hs_dec.shape
        if (N, H) != (N_dec, H_dec):
            raise ValueError(f"hs_enc (N, T_enc, H) and hs_dec (N, T_dec, H) must agree in N and H; got shapes "
                             f"{hs_enc.shape} and {hs_dec.shape}")
        a = np.empty((N, T_dec, T_enc), hs_dec.dtype)
        out = np.empty_like(hs_dec)
        kernels.time_attention_forward(hs_enc, hs_dec, a, out)
        self._cache, self._layers = (hs_enc, hs_dec, a), None
        self.attention_weights = [a[:, t] for t in range(T_dec)]
        return out

    def backward(self, dout):
        """Returns (dhs_enc (N, T_enc, H) summed over the decoder steps, dhs_dec (N, T_dec, H))."""
        _forward_done(self, "_cache")
        hs_enc, hs_dec, a = self._cache
        dout = _matching(dout, "dout", hs_dec.shape, hs_dec.dtype)
        dhs_enc, dhs_dec = np.empty_like(hs_enc), np.empty_like(hs_dec)
        kernels.time_attention_backward(hs_enc, hs_dec, a, dout, dhs_enc, dhs_dec)
        return dhs_enc, dhs_dec
