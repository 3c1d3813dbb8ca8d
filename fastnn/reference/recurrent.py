"""Reference recurrent layers in the second book's NumPy idiom: a step function per cell, and Time layers that loop
over the steps in Python and add up each step's weight gradients. They compute in the parameters' dtype, like
fastnn.time_layers, and keep the same attributes (``params``, ``grads`` written in place, ``h``, ``c``, ``dh``,
``stateful``)."""
import numpy as np


def sigmoid(x):
    """Returns 1 / (1 + exp(-x)) elementwise, evaluated without overflow (exp of -|x| only)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def rnn_step(x, h, Wx, Wh, b):
    """Returns (h_next, cache) for one RNN step."""
    h_next = np.tanh(x @ Wx + h @ Wh + b)
    return h_next, (x, h, h_next)


def rnn_step_backward(dh_next, cache, Wx, Wh):
    """Returns (dx, dh, dWx, dWh, db) of one RNN step."""
    x, h, h_next = cache
    da = dh_next * (1 - h_next * h_next)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h.T @ da, da.sum(axis=0)


def lstm_step(x, h, c, Wx, Wh, b):
    """Returns (h_next, c_next, cache) for one LSTM step (gate blocks f, g, i, o)."""
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b
    f, g, i, o = sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c_next = f * c + g * i
    tc = np.tanh(c_next)
    return o * tc, c_next, (x, h, c, f, g, i, o, tc)


def lstm_step_backward(dh_next, dc_next, cache, Wx, Wh):
    """Returns (dx, dh, dc, dWx, dWh, db) of one LSTM step."""
    x, h, c, f, g, i, o, tc = cache
    ds = dc_next + dh_next * o * (1 - tc * tc)
    da = np.hstack((ds * c * f * (1 - f), ds * i * (1 - g * g), ds * g * i * (1 - i), dh_next * tc * o * (1 - o)))
    return da @ Wx.T, da @ Wh.T, ds * f, x.T @ da, h.T @ da, da.sum(axis=0)


def gru_step(x, h, Wx, Wh, b):
    """Returns (h_next, cache) for one GRU step (blocks z, r and the candidate)."""
    H = h.shape[1]
    ax = x @ Wx + b
    z = sigmoid(ax[:, :H] + h @ Wh[:, :H])
    r = sigmoid(ax[:, H:2 * H] + h @ Wh[:, H:2 * H])
    h_hat = np.tanh(ax[:, 2 * H:] + (r * h) @ Wh[:, 2 * H:])
    return (1 - z) * h + z * h_hat, (x, h, z, r, h_hat)


def gru_step_backward(dh_next, cache, Wx, Wh):
    """Returns (dx, dh, dWx, dWh, db) of one GRU step."""
    x, h, z, r, h_hat = cache
    H = h.shape[1]
    d_cand = dh_next * z * (1 - h_hat * h_hat)
    d_rh = d_cand @ Wh[:, 2 * H:].T
    d_z = dh_next * (h_hat - h) * z * (1 - z)
    d_r = d_rh * h * r * (1 - r)
    da = np.hstack((d_z, d_r, d_cand))
    dh = dh_next * (1 - z) + r * d_rh + np.hstack((d_z, d_r)) @ Wh[:, :2 * H].T
    dWh = np.hstack((h.T @ np.hstack((d_z, d_r)), (r * h).T @ d_cand))
    return da @ Wx.T, dh, x.T @ da, dWh, da.sum(axis=0)


class TimeRNN:
    """RNN over T steps, a Python loop of rnn_step; xs (N, T, D) -> hs (N, T, H)."""

    _HAS_CELL = False

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.h, self.c, self.dh, self.stateful = None, None, None, stateful
        self.caches = None

    def _step(self, x, h, c):
        h, cache = rnn_step(x, h, *self.params)
        return h, c, cache

    def _step_backward(self, dh, dc, cache):
        dx, dh, *grads = rnn_step_backward(dh, cache, *self.params[:2])
        return dx, dh, dc, grads

    def forward(self, xs):
        """Returns hs; keeps the last state in h (and c)."""
        Wx, Wh = self.params[:2]
        xs = xs.astype(Wx.dtype)
        N, T, _ = xs.shape
        H = Wh.shape[0]
        zeros = np.zeros((N, H), Wx.dtype)
        h = zeros if not self.stateful or self.h is None else self.h.astype(Wx.dtype)
        c = zeros if not self.stateful or self.c is None else self.c.astype(Wx.dtype)
        hs = np.empty((N, T, H), Wx.dtype)
        self.caches = []
        for t in range(T):
            h, c, cache = self._step(xs[:, t], h, c)
            hs[:, t] = h
            self.caches.append(cache)
        self.h, self.c = h, (c if self._HAS_CELL else None)
        return hs

    def backward(self, dhs):
        """Returns dxs; writes the summed weight gradients into grads in place and the initial-state gradient
        into dh."""
        dhs = dhs.astype(self.params[0].dtype)
        N, T, H = dhs.shape
        dxs = np.empty((N, T, self.params[0].shape[0]), dhs.dtype)
        dh, dc = np.zeros((N, H), dhs.dtype), np.zeros((N, H), dhs.dtype)
        total = [np.zeros_like(g) for g in self.grads]
        for t in reversed(range(T)):
            dxs[:, t], dh, dc, grads = self._step_backward(dhs[:, t] + dh, dc, self.caches[t])
            for acc, g in zip(total, grads):
                acc += g
        for g, acc in zip(self.grads, total):
            g[...] = acc
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        """Sets the state the next stateful forward starts from; returns nothing."""
        self.h, self.c = h, c

    def reset_state(self):
        """Forgets the kept state; returns nothing."""
        self.h, self.c = None, None


class TimeLSTM(TimeRNN):
    """LSTM over T steps, a Python loop of lstm_step."""

    _HAS_CELL = True

    def _step(self, x, h, c):
        return lstm_step(x, h, c, *self.params)

    def _step_backward(self, dh, dc, cache):
        dx, dh, dc, *grads = lstm_step_backward(dh, dc, cache, *self.params[:2])
        return dx, dh, dc, grads


class TimeGRU(TimeRNN):
    """GRU over T steps, a Python loop of gru_step."""

    def _step(self, x, h, c):
        h, cache = gru_step(x, h, *self.params)
        return h, c, cache

    def _step_backward(self, dh, dc, cache):
        dx, dh, *grads = gru_step_backward(dh, cache, *self.params[:2])
        return dx, dh, dc, grads
