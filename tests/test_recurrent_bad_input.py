"""Bad input to the recurrent layers of fastnn.time_layers, in tests/test_bad_input.py's style: one row per case,
each with the exception type and a word its message must contain; never a numba error, a hang or silent NaN."""
import warnings

import numpy as np
import pytest
from numba.core.errors import NumbaError

from fastnn import time_layers as TL

CASES = []
GATES = {"TimeRNN": 1, "TimeLSTM": 4, "TimeGRU": 3, "RNN": 1, "LSTM": 4, "GRU": 3}


def add(entry, label, thunk, exc, name):
    CASES.append(pytest.param(thunk, exc, name, id=f"{entry}: {label}"))


def weights(cls, D=2, H=3, dtype=np.float64):
    G = GATES[cls] * H
    return [np.full(s, 0.1, dtype) for s in ((D, G), (H, G), (G,))]


def make(cls, **kw):
    return lambda: getattr(TL, cls)(*weights(cls), **kw)


def after_forward(cls, *args, **kw):
    def build():
        layer = getattr(TL, cls)(*weights(cls), **kw)
        layer.forward(*args)
        return layer
    return build


XS = np.ones((2, 4, 2))
for cls in ("TimeRNN", "TimeLSTM", "TimeGRU"):
    G = GATES[cls]
    add(cls, "Wx 1-D", lambda cls=cls: getattr(TL, cls)(np.ones(6), *weights(cls)[1:]), TypeError, "Wx")
    add(cls, "Wh not (H, gates*H)", lambda cls=cls, G=G: getattr(TL, cls)(
        np.ones((2, G * 3)), np.ones((3, G * 3 + 1)), np.ones(G * 3)), ValueError, "Wh")
    add(cls, "b too short", lambda cls=cls, G=G: getattr(TL, cls)(
        np.ones((2, G * 3)), np.ones((3, G * 3)), np.ones(G * 3 - 1)), ValueError, "b")
    add(cls, "Wx columns mismatch", lambda cls=cls, G=G: getattr(TL, cls)(
        np.ones((2, G * 3 + 2)), np.ones((3, G * 3)), np.ones(G * 3)), ValueError, "Wx")
    add(cls, "mixed dtypes", lambda cls=cls: getattr(TL, cls)(
        *[w.astype(np.float32) if i == 1 else w for i, w in enumerate(weights(cls))]), TypeError, "dtype")
    add(cls, "integer weights", lambda cls=cls: getattr(TL, cls)(
        *[w.astype(int) for w in weights(cls)]), TypeError, "Wx")
    add(cls, "xs 2-D", lambda cls=cls: make(cls)().forward(np.ones((2, 2))), ValueError, "xs")
    add(cls, "xs 4-D", lambda cls=cls: make(cls)().forward(np.ones((2, 1, 1, 2))), ValueError, "xs")
    add(cls, "time size 0", lambda cls=cls: make(cls)().forward(np.ones((2, 0, 2))), ValueError, "xs")
    add(cls, "batch 0", lambda cls=cls: make(cls)().forward(np.ones((0, 3, 2))), ValueError, "xs")
    add(cls, "xs D mismatch", lambda cls=cls: make(cls)().forward(np.ones((2, 3, 5))), ValueError, "xs")
    add(cls, "xs complex", lambda cls=cls: make(cls)().forward(np.ones((2, 3, 2), complex)), TypeError, "xs")
    add(cls, "xs strings", lambda cls=cls: make(cls)().forward(np.full((1, 1, 2), "a")), TypeError, "xs")
    add(cls, "xs ragged", lambda cls=cls: make(cls)().forward([[[1.0, 2.0]], [[1.0]]]), ValueError, "xs")
    add(cls, "set_state wrong H", lambda cls=cls: make(cls)().set_state(np.ones((2, 4))), ValueError, "h")
    add(cls, "set_state 1-D", lambda cls=cls: make(cls)().set_state(np.ones(3)), ValueError, "h")
    add(cls, "kept state for another batch", lambda cls=cls: (
        lambda layer: (layer.set_state(np.ones((5, 3))), layer.forward(XS)))(make(cls, stateful=True)()),
        ValueError, "h")
    add(cls, "backward before forward", lambda cls=cls: make(cls)().backward(np.ones((2, 4, 3))),
        RuntimeError, "before forward")
    add(cls, "dhs wrong shape", lambda cls=cls: after_forward(cls, XS)().backward(np.ones((2, 3, 3))),
        ValueError, "dhs")
    add(cls, "dhs complex", lambda cls=cls: after_forward(cls, XS)().backward(np.ones((2, 4, 3), complex)),
        TypeError, "dhs")
    add(cls, "Wh replaced by another size since forward", lambda cls=cls, G=G: (
        lambda layer: (layer.params.__setitem__(1, np.ones((3, G * 3 + 1))), layer.backward(np.ones((2, 4, 3)))))(
        after_forward(cls, XS)()), ValueError, "Wh")
    add(cls, "grads entry of the wrong shape", lambda cls=cls: (
        lambda layer: (layer.grads.__setitem__(0, np.ones((1, 1))), layer.backward(np.ones((2, 4, 3)))))(
        after_forward(cls, XS)()), ValueError, "dWx")
add("TimeLSTM", "set_state c wrong H", lambda: make("TimeLSTM")().set_state(np.ones((2, 3)), np.ones((2, 5))),
    ValueError, "c")

X, H0 = np.ones((2, 2)), np.zeros((2, 3))
for cls in ("RNN", "LSTM", "GRU"):
    state = (H0, H0) if cls == "LSTM" else (H0,)
    grads = (H0, H0) if cls == "LSTM" else (H0,)
    add(cls, "x 3-D", lambda cls=cls, s=state: make(cls)().forward(np.ones((2, 1, 2)), *s), ValueError, "x")
    add(cls, "x D mismatch", lambda cls=cls, s=state: make(cls)().forward(np.ones((2, 5)), *s), ValueError, "x")
    add(cls, "h_prev for another batch", lambda cls=cls, s=state: make(cls)().forward(
        X, np.zeros((3, 3)), *s[1:]), ValueError, "h_prev")
    add(cls, "backward before forward", lambda cls=cls, g=grads: make(cls)().backward(*g), RuntimeError,
        "before forward")
    add(cls, "dh_next wrong shape", lambda cls=cls, s=state: after_forward(cls, X, *s)().backward(
        np.ones((2, 4)), *s[1:]), ValueError, "dh_next")
add("LSTM", "c_prev wrong shape", lambda: make("LSTM")().forward(X, H0, np.zeros((2, 4))), ValueError, "c_prev")
add("LSTM", "dc_next wrong shape", lambda: after_forward("LSTM", X, H0, H0)().backward(H0, np.ones((2, 4))),
    ValueError, "dc_next")


def bilstm():
    return TL.TimeBiLSTM(*weights("TimeLSTM"), *weights("TimeLSTM"))


add("TimeBiLSTM", "backward before forward", lambda: bilstm().backward(np.ones((2, 4, 6))), RuntimeError,
    "before forward")
add("TimeBiLSTM", "dhs of one direction's width", lambda: (lambda layer: (layer.forward(XS), layer.backward(
    np.ones((2, 4, 3)))))(bilstm()), ValueError, "dhs")
add("TimeBiLSTM", "xs 2-D", lambda: bilstm().forward(np.ones((2, 2))), ValueError, "xs")


@pytest.mark.parametrize("thunk, exc, name", CASES)
def test_bad_input_is_refused_clearly(thunk, exc, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Exception) as info:
            thunk()
    assert not isinstance(info.value, NumbaError), f"a numba error leaked: {info.value}"
    assert type(info.value) is exc, f"expected {exc.__name__}, got {type(info.value).__name__}: {info.value}"
    assert name in str(info.value), f"the message should name {name!r}: {info.value}"
