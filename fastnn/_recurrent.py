"""The second book's recurrent layers (``common/time_layers.py``): RNN, LSTM, GRU, one step and over time.

Each Time layer runs its forward over all T steps as one compiled call and its backward as another
(fastnn/kernels/recurrent.py); the one-step layers are the same calls with T = 1. Constructors, ``params``/``grads``
(the very arrays given, and gradient buffers allocated once and overwritten in place by each backward), ``stateful``,
``h``/``c``/``dh``, ``set_state``/``reset_state`` and ``cache`` are the book's. Everything computes in the
parameters' dtype (the book's float32, or float64): inputs and states are cast to it once at the door.
"""
import numpy as np

from . import _checks
from ._dispatch import lazy_kernels
from .threads import _one_blas_thread

kernels = lazy_kernels("recurrent")
_F32, _F64 = _checks.FLOAT_DTYPES


def _checked_params(params, gates, layer):
    """(Wx, Wh, b) as C-contiguous arrays of one float dtype with shapes (D, gates*H), (H, gates*H), (gates*H,)."""
    Wx, Wh, b = params
    if (type(Wx) is np.ndarray and type(Wh) is np.ndarray and type(b) is np.ndarray
            and (Wx.dtype is _F32 or Wx.dtype is _F64) and Wh.dtype is Wx.dtype and b.dtype is Wx.dtype
            and Wx.ndim == 2 and Wh.ndim == 2 and b.ndim == 1 and Wh.shape[1] == gates * Wh.shape[0]
            and Wx.shape[1] == Wh.shape[1] and b.shape[0] == Wh.shape[1]
            and Wx.flags.c_contiguous and Wh.flags.c_contiguous and b.flags.c_contiguous):
        return Wx, Wh, b  # the usual call
    for p, name, ndim in ((Wx, "Wx", 2), (Wh, "Wh", 2), (b, "b", 1)):
        if not isinstance(p, np.ndarray) or p.dtype not in _checks.FLOAT_DTYPES or p.ndim != ndim:
            raise TypeError(f"{name} ({layer}.params) must be a {ndim}-D float32 or float64 array; got "
                            f"{type(p).__name__} {getattr(p, 'dtype', '')} {getattr(p, 'shape', '')}")
    H = Wh.shape[0]
    if Wh.shape != (H, gates * H) or H == 0:
        raise ValueError(f"Wh ({layer}.params) must have shape (H, {gates}*H) with H >= 1; got {Wh.shape}")
    if Wx.shape[1] != gates * H or b.shape != (gates * H,):
        raise ValueError(f"Wx and b ({layer}.params) must have shapes (D, {gates * H}) and ({gates * H},) to match "
                         f"Wh of shape {Wh.shape}; got {Wx.shape} and {b.shape}")
    if Wh.dtype != Wx.dtype or b.dtype != Wx.dtype:
        raise TypeError(f"Wx, Wh and b ({layer}.params) must have one dtype; got {Wx.dtype}, {Wh.dtype}, {b.dtype}")
    return np.ascontiguousarray(Wx), np.ascontiguousarray(Wh), np.ascontiguousarray(b)


def _state(s, name, n, H, dtype):
    """A fresh C-contiguous (n, H) copy of the state ``s`` in ``dtype`` (zeros for None)."""
    if s is None:
        return np.zeros((n, H), dtype)
    a = _checks.float_array(s, name, ndim=2)
    if a.shape != (n, H):
        raise ValueError(f"{name} must have shape (N, H) = {(n, H)} to match the batch and Wh; got {a.shape}")
    return np.array(a, dtype=dtype, order="C")


def _grad_buffers(grads, params):
    """The grads arrays when the kernels can write them directly, else C-contiguous scratch of the same shapes
    (copied back in place by _write_back)."""
    out = []
    for g, p, name in zip(grads, params, ("dWx", "dWh", "db")):
        if not (type(g) is np.ndarray and g.dtype is p.dtype and g.shape == p.shape and g.flags.c_contiguous
                and g.flags.writeable):
            _checks.writable_float_array(g, f"{name} (grads)")
            if g.shape != p.shape:
                raise ValueError(f"{name} (grads) must have its parameter's shape {p.shape}; got {g.shape}")
            g = np.empty(p.shape, p.dtype)
        out.append(g)
    return out


def _write_back(grads, buffers):
    for g, buf in zip(grads, buffers):
        if g is not buf:
            g[...] = buf


class _TimeRecurrent:
    """What the Time layers share: params/grads, the door checks, the state and the backward bookkeeping.
    Subclasses set _GATES and the kernel calls _run_forward / _run_backward."""

    _GATES = 1
    _HAS_CELL = False

    def __init__(self, Wx, Wh, b, stateful=False):
        _checked_params((Wx, Wh, b), self._GATES, type(self).__name__)
        for p, name in ((Wx, "Wx"), (Wh, "Wh"), (b, "b")):
            _checks.writable_float_array(p, name)
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx, order="C"), np.zeros_like(Wh, order="C"), np.zeros_like(b)]
        self.h, self.dh = None, None
        self.stateful = stateful
        self._saved = None

    def _checked_input(self, xs, name="xs"):
        """(Wx, Wh, b, xs) with xs a C-contiguous (N, T, D) array in the parameters' dtype."""
        Wx, Wh, b = _checked_params(self.params, self._GATES, type(self).__name__)
        xs = _checks.float_array(xs, name, dtype=Wx.dtype, ndim=3)
        N, T, D = xs.shape
        if N == 0 or T == 0 or D != Wx.shape[0]:
            raise ValueError(f"{name} must have shape (N, T, D) with N >= 1, T >= 1 and D = {Wx.shape[0]} "
                             f"(Wx's rows); got {xs.shape}")
        return Wx, Wh, b, xs

    def _initial(self, N, H, dtype):
        """(h0, c0) for a forward on N sequences: the kept state when stateful, else zeros (c0 None without a
        cell)."""
        keep = self.stateful
        h0 = _state(self.h if keep else None, "h", N, H, dtype)
        c0 = _state(self.c if keep else None, "c", N, H, dtype) if self._HAS_CELL else None
        return h0, c0

    def forward(self, xs):
        """Returns hs (N, T, H): the hidden state after every step of xs (N, T, D), in the parameters' dtype;
        keeps the last state in ``h`` (and ``c``) and what backward needs."""
        Wx, Wh, b, xs = self._checked_input(xs)
        h0, c0 = self._initial(xs.shape[0], Wh.shape[0], Wx.dtype)
        return self._forward(Wx, Wh, b, xs, h0, c0)

    def _forward(self, Wx, Wh, b, xs, h0, c0):
        """Forward on checked input from the fresh C-contiguous states h0 (and c0); returns hs."""
        N, T, D = xs.shape
        H = Wh.shape[0]
        with _one_blas_thread(N * T, max(D, H) * Wh.shape[1]):
            hs, h, c, saved = self._run_forward(xs, Wx, Wh, b, h0, c0)
        self.h = h
        if self._HAS_CELL:
            self.c = c
        self._saved = (xs, h0, c0, hs) + saved
        return hs

    def _checked_backward(self, dhs):
        """(Wx, Wh, dhs) for a backward after forward: dhs the forward output's shape, in its dtype."""
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        Wx, Wh, _ = _checked_params(self.params, self._GATES, type(self).__name__)
        xs, hs = self._saved[0], self._saved[3]
        if Wx.shape[0] != xs.shape[2] or Wh.shape[0] != hs.shape[2] or Wx.dtype != hs.dtype:
            raise ValueError(f"{type(self).__name__}.params were replaced since forward (now Wx {Wx.shape} "
                             f"{Wx.dtype}); run forward again")
        dhs = _checks.float_array(dhs, "dhs", dtype=hs.dtype)
        if dhs.shape != hs.shape:
            raise ValueError(f"dhs must have the shape of the forward output {hs.shape}; got {dhs.shape}")
        return Wx, Wh, dhs

    def backward(self, dhs):
        """Returns dxs (N, T, D); writes dWx, dWh, db into ``grads`` in place and keeps the gradient wrt the
        initial state in ``dh``."""
        return self._backward(*self._checked_backward(dhs), None)

    def _backward(self, Wx, Wh, dhs, dc):
        """Backward on checked dhs; ``dc`` (LSTM) is the gradient arriving at the last cell, None for zeros.
        Returns dxs; the gradient wrt the initial cell (LSTM) is kept in ``_dc``."""
        xs = self._saved[0]
        N, T, D = xs.shape
        H = Wh.shape[0]
        dh = np.zeros((N, H), Wx.dtype)
        if self._HAS_CELL:
            dc = np.zeros((N, H), Wx.dtype) if dc is None else np.array(dc, Wx.dtype, order="C")
        dxs = np.empty_like(xs)
        buffers = _grad_buffers(self.grads, self.params)
        with _one_blas_thread(N * T, max(D, H) * Wh.shape[1]):
            self._run_backward(Wx, Wh, dhs, dh, dc, dxs, buffers)
        _write_back(self.grads, buffers)
        self.dh, self._dc = dh, dc
        return dxs

    def set_state(self, h):
        """Sets the state the next stateful forward starts from (an (N, H) array); returns nothing."""
        self.h = self._checked_state(h, "h")

    def _checked_state(self, s, name):
        if s is None:
            return None
        a = _checks.float_array(s, name, ndim=2)
        H = self.params[1].shape[0]
        if a.shape[1] != H or a.shape[0] == 0:
            raise ValueError(f"{name} must have shape (N, H) with N >= 1 and H = {H} (Wh's rows); got {a.shape}")
        return s

    def reset_state(self):
        """Forgets the kept state (the next forward starts from zeros); returns nothing."""
        self.h = None


class TimeRNN(_TimeRecurrent):
    """The book's TimeRNN: h_t = tanh(x_t Wx + h_{t-1} Wh + b) over T steps; Wx (D, H), Wh (H, H), b (H,)."""

    def _run_forward(self, xs, Wx, Wh, b, h0, c0):
        hs, h = np.empty((xs.shape[0], xs.shape[1], Wh.shape[0]), Wx.dtype), h0.copy()
        kernels.rnn_forward(xs, Wx, Wh, b, h, hs)
        return hs, h, None, ()

    def _run_backward(self, Wx, Wh, dhs, dh, dc, dxs, grads):
        xs, h0, _, hs = self._saved
        kernels.rnn_backward(xs, Wx, Wh, h0, hs, dhs, dh, np.empty_like(hs), dxs, *grads)


class TimeLSTM(_TimeRecurrent):
    """The book's TimeLSTM over T steps; Wx (D, 4H), Wh (H, 4H), b (4H,) hold the gates f, g, i, o in that order;
    ``c`` is the kept cell state."""

    _GATES = 4
    _HAS_CELL = True

    def __init__(self, Wx, Wh, b, stateful=False):
        super().__init__(Wx, Wh, b, stateful)
        self.c = None

    def _run_forward(self, xs, Wx, Wh, b, h0, c0):
        N, T, _ = xs.shape
        H = Wh.shape[0]
        hs, cs, tcs = (np.empty((N, T, H), Wx.dtype) for _ in range(3))
        gates = np.empty((N, T, 4 * H), Wx.dtype)
        h, c = h0.copy(), c0.copy()
        kernels.lstm_forward(xs, Wx, Wh, b, h, c, gates, cs, tcs, hs)
        return hs, h, c, (gates, cs, tcs)

    def _run_backward(self, Wx, Wh, dhs, dh, dc, dxs, grads):
        xs, h0, c0, hs, gates, cs, tcs = self._saved
        kernels.lstm_backward(xs, Wx, Wh, h0, c0, gates, cs, tcs, hs, dhs, dh, dc, np.empty_like(gates), dxs,
                              *grads)

    def set_state(self, h, c=None):
        """Sets the state (h, and c or None for zeros) the next stateful forward starts from; returns nothing."""
        self.h, self.c = self._checked_state(h, "h"), self._checked_state(c, "c")

    def reset_state(self):
        """Forgets the kept state (the next forward starts from zeros); returns nothing."""
        self.h, self.c = None, None


class TimeGRU(_TimeRecurrent):
    """The book's TimeGRU over T steps; Wx (D, 3H), Wh (H, 3H), b (3H,) hold z, r and the candidate in that
    order."""

    _GATES = 3

    def _run_forward(self, xs, Wx, Wh, b, h0, c0):
        N, T, _ = xs.shape
        H = Wh.shape[0]
        hs, hprev, rh = np.empty((N, T, H), Wx.dtype), np.empty((T, N, H), Wx.dtype), np.empty((T, N, H), Wx.dtype)
        gates, h = np.empty((N, T, 3 * H), Wx.dtype), h0.copy()
        kernels.gru_forward(xs, Wx, Wh, b, h, gates, hprev, rh, hs)
        return hs, h, None, (gates, hprev, rh)

    def _run_backward(self, Wx, Wh, dhs, dh, dc, dxs, grads):
        xs, _, _, _, gates, hprev, rh = self._saved
        kernels.gru_backward(xs, Wx, Wh, gates, hprev, rh, dhs, dh, np.empty_like(gates), dxs, *grads)


class _Step:
    """A one-step layer: its Time twin run on T = 1 (the same params and grads lists)."""

    _TIME = TimeRNN

    def __init__(self, Wx, Wh, b):
        self._time = self._TIME(Wx, Wh, b)
        self.params, self.grads = self._time.params, self._time.grads
        self.cache = None

    def _step_forward(self, x, h_prev, c_prev=None):
        """Runs one step from x (N, D) and the given state; returns the Time layer's saved buffers."""
        time = self._time
        Wx, Wh, b = _checked_params(time.params, time._GATES, type(self).__name__)
        x = _checks.float_array(x, "x", dtype=Wx.dtype, ndim=2)
        if x.shape[0] == 0 or x.shape[1] != Wx.shape[0]:
            raise ValueError(f"x must have shape (N, D) with N >= 1 and D = {Wx.shape[0]} (Wx's rows); got {x.shape}")
        N, H = x.shape[0], Wh.shape[0]
        h0 = _state(h_prev, "h_prev", N, H, Wx.dtype)
        c0 = _state(c_prev, "c_prev", N, H, Wx.dtype) if time._HAS_CELL else None
        time._forward(Wx, Wh, b, x.reshape(N, 1, -1), h0, c0)
        return time._saved

    def _step_backward(self, dh_next, dc_next=None):
        """Runs one step back; returns (dx (N, D), dh_prev)."""
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        time = self._time
        hs = time._saved[3]
        dh_next = _checks.float_array(dh_next, "dh_next", dtype=hs.dtype)
        if dh_next.shape != hs.shape[::2]:
            raise ValueError(f"dh_next must have the shape of h_next {hs.shape[::2]}; got {dh_next.shape}")
        if dc_next is not None:
            dc_next = _checks.float_array(dc_next, "dc_next", dtype=hs.dtype)
            if dc_next.shape != hs.shape[::2]:
                raise ValueError(f"dc_next must have the shape of c_next {hs.shape[::2]}; got {dc_next.shape}")
        Wx, Wh, _ = time._checked_backward(dh_next.reshape(hs.shape))
        dxs = time._backward(Wx, Wh, dh_next.reshape(hs.shape), dc_next)
        return dxs.reshape(dxs.shape[0], -1), time.dh


class RNN(_Step):
    """The book's one-step RNN: h_next = tanh(x Wx + h_prev Wh + b); ``cache`` = (x, h_prev, h_next)."""

    def forward(self, x, h_prev):
        """Returns h_next (N, H) for x (N, D) and h_prev (N, H)."""
        xs, h0, _, hs = self._step_forward(x, h_prev)
        h_next = self._time.h
        self.cache = (xs[:, 0], h0, h_next)
        return h_next

    def backward(self, dh_next):
        """Returns (dx, dh_prev); writes dWx, dWh, db into ``grads`` in place."""
        return self._step_backward(dh_next)


class LSTM(_Step):
    """The book's one-step LSTM; ``cache`` = (x, h_prev, c_prev, i, f, g, o, c_next) as the book keeps it."""

    _TIME = TimeLSTM

    def forward(self, x, h_prev, c_prev):
        """Returns (h_next, c_next), each (N, H), for x (N, D) and the state h_prev, c_prev (N, H)."""
        xs, h0, c0, _, gates, _, _ = self._step_forward(x, h_prev, c_prev)
        H = h0.shape[1]
        f, g, i, o = (gates[:, 0, k * H:(k + 1) * H] for k in range(4))
        h_next, c_next = self._time.h, self._time.c
        self.cache = (xs[:, 0], h0, c0, i, f, g, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        """Returns (dx, dh_prev, dc_prev); writes dWx, dWh, db into ``grads`` in place."""
        dx, dh_prev = self._step_backward(dh_next, dc_next)
        return dx, dh_prev, self._time._dc


class GRU(_Step):
    """The book's one-step GRU; ``cache`` = (x, h_prev, z, r, h_hat); backward also sets dWx, dWh, db."""

    _TIME = TimeGRU

    def forward(self, x, h_prev):
        """Returns h_next (N, H) for x (N, D) and h_prev (N, H)."""
        xs, h0, _, _, gates, _, _ = self._step_forward(x, h_prev)
        H = h0.shape[1]
        z, r, h_hat = (gates[:, 0, k * H:(k + 1) * H] for k in range(3))
        self.cache = (xs[:, 0], h0, z, r, h_hat)
        return self._time.h

    def backward(self, dh_next):
        """Returns (dx, dh_prev); writes dWx, dWh, db into ``grads`` in place (also bound as attributes)."""
        dx, dh_prev = self._step_backward(dh_next)
        self.dWx, self.dWh, self.db = self.grads
        return dx, dh_prev


class TimeBiLSTM:
    """The book's bidirectional LSTM: one TimeLSTM reads xs forwards, another backwards; the output (N, T, 2H)
    concatenates both; params/grads are the two layers' lists joined."""

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs):
        """Returns (N, T, 2H): the forward LSTM's states, then the backward one's, each aligned with step t."""
        xs = _checks.float_array(xs, "xs", ndim=3)
        forwards = self.forward_lstm.forward(xs)
        backwards = self.backward_lstm.forward(xs[:, ::-1])
        return np.concatenate((forwards, backwards[:, ::-1]), axis=2)

    def backward(self, dhs):
        """Returns dxs, the sum of both directions' input gradients; writes both layers' grads in place."""
        if self.forward_lstm._saved is None or self.backward_lstm._saved is None:
            raise RuntimeError("TimeBiLSTM.backward called before forward")
        dhs = _checks.float_array(dhs, "dhs", ndim=3)
        H = self.forward_lstm._saved[3].shape[2]
        if dhs.shape[2] != 2 * H:
            raise ValueError(f"dhs must have the shape of the forward output (N, T, {2 * H}); got {dhs.shape}")
        dxs = self.forward_lstm.backward(dhs[:, :, :H])
        return dxs + self.backward_lstm.backward(dhs[:, ::-1, H:])[:, ::-1]
