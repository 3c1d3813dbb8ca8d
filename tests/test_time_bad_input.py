"""Bad input to fastnn.time_layers (the non-recurrent layers) and fastnn.attention_layer: one row per case, each
with the exception type and the argument name its message must contain; never a numba error, a warning, an
out-of-bounds read or a NaN instead (the house rule of tests/test_bad_input.py, for the second book's chapters
5-8)."""
import inspect

import numpy as np
import pytest

from fastnn import _time_wise as TW
from fastnn import attention_layer as A
from test_bad_input import _check_refusal  # the house rule: exact type, argument named, no numba error

F32 = np.float32
CASES = []


def add(entry, label, thunk, exc, name):
    """One row: thunk() must raise exactly exc with a message naming ``name``."""
    CASES.append(pytest.param(thunk, exc, name, id=f"{entry}: {label}"))


def ones(*shape, dtype=F32):
    return np.ones(shape, dtype)


def after_forward(make, forward_args, method, *args):
    """A thunk: a fresh layer, its forward on good input, then ``method(*args)``."""
    def thunk():
        layer = make()
        layer.forward(*forward_args)
        return getattr(layer, method)(*args)
    return thunk


def before_forward(make, *args):
    return lambda: make().backward(*args)


# --- TimeEmbedding ----------------------------------------------------------------------------------------------
emb = lambda: TW.TimeEmbedding(ones(5, 3))  # noqa: E731
ids = np.array([[0, 4], [2, 1]])
add("TimeEmbedding", "W 1-D", lambda: TW.TimeEmbedding(ones(5)), ValueError, "W")
add("TimeEmbedding", "W of ints", lambda: TW.TimeEmbedding(np.ones((5, 3), int)), TypeError, "W")
add("TimeEmbedding.forward", "xs 1-D", lambda: emb().forward(np.array([1, 2])), ValueError, "xs")
add("TimeEmbedding.forward", "xs 3-D", lambda: emb().forward(ids[None]), ValueError, "xs")
add("TimeEmbedding.forward", "id == V", lambda: emb().forward(np.array([[0, 5]])), ValueError, "xs")
add("TimeEmbedding.forward", "negative id", lambda: emb().forward(np.array([[0, -1]])), ValueError, "xs")
add("TimeEmbedding.forward", "int32 id out of range", lambda: emb().forward(np.array([[7]], np.int32)), ValueError,
    "xs")
add("TimeEmbedding.forward", "float ids", lambda: emb().forward(np.ones((2, 2))), TypeError, "xs")
add("TimeEmbedding.forward", "time size 0", lambda: emb().forward(np.empty((2, 0), int)), ValueError, "xs")
add("TimeEmbedding.backward", "before forward", before_forward(emb, ones(2, 2, 3)), RuntimeError, "forward")
add("TimeEmbedding.backward", "dout of the wrong shape", after_forward(emb, (ids,), "backward", ones(2, 2, 4)),
    ValueError, "dout")

# --- TimeAffine, Simple_TimeAffine ------------------------------------------------------------------------------
for cls in (TW.TimeAffine, TW.Simple_TimeAffine):
    name = cls.__name__
    make = (lambda c: lambda: c(ones(3, 4), ones(4)))(cls)
    add(name, "b of the wrong width", (lambda c: lambda: c(ones(3, 4), ones(3)))(cls), ValueError, "b")
    add(name, "b of another dtype", (lambda c: lambda: c(ones(3, 4), ones(4, dtype=np.float64)))(cls), ValueError,
        "b")
    add(f"{name}.forward", "x 2-D", (lambda m: lambda: m().forward(ones(2, 3)))(make), ValueError, "x")
    add(f"{name}.forward", "x of the wrong width", (lambda m: lambda: m().forward(ones(2, 2, 5)))(make), ValueError,
        "x")
    add(f"{name}.forward", "time size 0", (lambda m: lambda: m().forward(ones(2, 0, 3)))(make), ValueError, "x")
    add(f"{name}.forward", "complex x", (lambda m: lambda: m().forward(ones(2, 2, 3).astype(complex)))(make),
        TypeError, "x")
    add(f"{name}.backward", "before forward", before_forward(make, ones(2, 2, 4)), RuntimeError, "forward")
    add(f"{name}.backward", "dout of the wrong shape", after_forward(make, (ones(2, 2, 3),), "backward",
                                                                      ones(2, 3, 4)), ValueError, "dout")

# --- TimeSoftmaxWithLoss, Simple_TimeSoftmaxWithLoss ------------------------------------------------------------
scores, labels = ones(2, 3, 4), np.zeros((2, 3), int)
for cls in (TW.TimeSoftmaxWithLoss, TW.Simple_TimeSoftmaxWithLoss):
    name = cls.__name__
    add(f"{name}.forward", "xs 2-D", (lambda c: lambda: c().forward(ones(2, 4), labels))(cls), ValueError, "xs")
    add(f"{name}.forward", "time size 0", (lambda c: lambda: c().forward(ones(2, 0, 4), np.zeros((2, 0), int)))(cls),
        ValueError, "xs")
    add(f"{name}.forward", "label == V", (lambda c: lambda: c().forward(scores, labels + 4))(cls), ValueError, "ts")
    add(f"{name}.forward", "label -2", (lambda c: lambda: c().forward(scores, labels - 2))(cls), ValueError, "ts")
    add(f"{name}.forward", "ts of the wrong shape", (lambda c: lambda: c().forward(scores, labels.T))(cls),
        ValueError, "ts")
    add(f"{name}.forward", "float labels", (lambda c: lambda: c().forward(scores, labels * 1.0))(cls), TypeError,
        "ts")
    add(f"{name}.forward", "one-hot of the wrong shape", (lambda c: lambda: c().forward(scores, ones(2, 3, 5)))(cls),
        ValueError, "ts")
    add(f"{name}.backward", "before forward", before_forward(cls), RuntimeError, "forward")
    add(f"{name}.backward", "dout not a number", after_forward(cls, (scores, labels), "backward", "1"), TypeError,
        "dout")
add("Simple_TimeSoftmaxWithLoss.forward", "the ignore label (the simple layer has none)",
    lambda: TW.Simple_TimeSoftmaxWithLoss().forward(scores, labels - 1), ValueError, "ts")
add("TimeSoftmaxWithLoss.forward", "every label ignored",
    lambda: TW.TimeSoftmaxWithLoss().forward(scores, labels - 1), ValueError, "ts")

# --- TimeSigmoidWithLoss, TimeDropout ---------------------------------------------------------------------------
sig = TW.TimeSigmoidWithLoss
add("TimeSigmoidWithLoss.forward", "xs 3-D", lambda: sig().forward(ones(2, 3, 1), labels), ValueError, "xs")
add("TimeSigmoidWithLoss.forward", "label 2", lambda: sig().forward(ones(2, 3), labels + 2), ValueError, "ts")
add("TimeSigmoidWithLoss.forward", "ts of the wrong shape", lambda: sig().forward(ones(2, 3), labels.T), ValueError,
    "ts")
add("TimeSigmoidWithLoss.backward", "before forward", before_forward(sig), RuntimeError, "forward")
add("TimeSigmoidWithLoss.backward", "dout not a number", after_forward(sig, (ones(2, 3), labels), "backward", None),
    TypeError, "dout")
add("TimeDropout", "ratio 1", lambda: TW.TimeDropout(1.0), ValueError, "dropout_ratio")
add("TimeDropout", "ratio a string", lambda: TW.TimeDropout("0.5"), TypeError, "dropout_ratio")
add("TimeDropout.forward", "complex xs", lambda: TW.TimeDropout().forward(ones(2, 2).astype(complex)), TypeError,
    "xs")
add("TimeDropout.backward", "before forward", before_forward(TW.TimeDropout, ones(2, 2)), RuntimeError, "forward")
add("TimeDropout.backward", "dout of the wrong shape", after_forward(TW.TimeDropout, (ones(2, 2),), "backward",
                                                                    ones(2, 3)), ValueError, "dout")

# --- attention --------------------------------------------------------------------------------------------------
hs, h, a = ones(2, 5, 3), ones(2, 3), ones(2, 5)
add("WeightSum.forward", "hs 2-D", lambda: A.WeightSum().forward(h, a), ValueError, "hs")
add("WeightSum.forward", "a of the wrong shape", lambda: A.WeightSum().forward(hs, ones(2, 4)), ValueError, "a")
add("WeightSum.forward", "time size 0", lambda: A.WeightSum().forward(ones(2, 0, 3), ones(2, 0)), ValueError, "hs")
add("WeightSum.backward", "before forward", before_forward(A.WeightSum, h), RuntimeError, "forward")
add("WeightSum.backward", "dc of the wrong shape", after_forward(A.WeightSum, (hs, a), "backward", ones(2, 4)),
    ValueError, "dc")
add("AttentionWeight.forward", "h of the wrong width", lambda: A.AttentionWeight().forward(hs, ones(2, 4)),
    ValueError, "h")
add("AttentionWeight.forward", "complex hs", lambda: A.AttentionWeight().forward(hs.astype(complex), h), TypeError,
    "hs")
add("AttentionWeight.backward", "before forward", before_forward(A.AttentionWeight, a), RuntimeError, "forward")
add("AttentionWeight.backward", "da of the wrong shape", after_forward(A.AttentionWeight, (hs, h), "backward",
                                                                       ones(2, 4)), ValueError, "da")
add("Attention.forward", "h of another batch", lambda: A.Attention().forward(hs, ones(3, 3)), ValueError, "h")
add("Attention.backward", "before forward", before_forward(A.Attention, h), RuntimeError, "forward")
add("Attention.backward", "dout of the wrong shape", after_forward(A.Attention, (hs, h), "backward", ones(2, 4)),
    ValueError, "dout")
dec = ones(2, 4, 3)
add("TimeAttention.forward", "batch sizes differ", lambda: A.TimeAttention().forward(hs, ones(3, 4, 3)), ValueError,
    "hs_enc")
add("TimeAttention.forward", "hidden sizes differ", lambda: A.TimeAttention().forward(hs, ones(2, 4, 2)),
    ValueError, "hs_dec")
add("TimeAttention.forward", "encoder time size 0", lambda: A.TimeAttention().forward(ones(2, 0, 3), dec),
    ValueError, "hs_enc")
add("TimeAttention.forward", "decoder time size 0", lambda: A.TimeAttention().forward(hs, ones(2, 0, 3)),
    ValueError, "hs_dec")
add("TimeAttention.forward", "hs_dec 2-D", lambda: A.TimeAttention().forward(hs, h), ValueError, "hs_dec")
add("TimeAttention.forward", "ragged hs_enc", lambda: A.TimeAttention().forward([[[1.0], [1.0, 2.0]]], dec),
    ValueError, "hs_enc")
add("TimeAttention.backward", "before forward", before_forward(A.TimeAttention, dec), RuntimeError, "forward")
add("TimeAttention.backward", "dout of the wrong shape", after_forward(A.TimeAttention, (hs, dec), "backward",
                                                                       ones(2, 5, 3)), ValueError, "dout")


def _entry_points():
    """Every public class (with arguments) and method (with arguments) of the two modules."""
    entries = set()
    for module in (TW, A):
        for name in module.__all__:
            cls = getattr(module, name)
            if not inspect.isclass(cls):
                continue
            if inspect.signature(cls).parameters:
                entries.add(name)
            for meth, f in vars(cls).items():
                if not meth.startswith("_") and inspect.isfunction(f) and len(inspect.signature(f).parameters) > 1:
                    entries.add(f"{name}.{meth}")
    return entries


def test_the_table_covers_every_public_entry_point():
    covered = {p.id.split(":")[0] for p in CASES}
    assert _entry_points() - covered == set()


@pytest.mark.parametrize("thunk, exc, name", CASES)
def test_bad_input_is_refused_with_a_message_naming_the_argument(thunk, exc, name):
    _check_refusal(thunk, exc, name)
