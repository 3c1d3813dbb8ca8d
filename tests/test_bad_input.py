"""Bad input to every public entry point of fastnn: one table row per case, each with the exception type and the
argument name its message must contain. A numba error (or any other exception type, or a warning) is never an
acceptable answer: user data must be refused by the validation layer (fastnn/_checks.py) before any kernel runs.

Rows are built by ``add(entry, label, thunk, exc, name)``: ``entry`` is the public name ("layers.Affine.forward"),
``thunk`` a zero-argument callable that builds fresh objects and makes the bad call. At the end, hypothesis fuzzes
shapes, dtypes and values of the functions and layers: the only exceptions allowed are the documented ones, and
whatever is accepted equals the NumPy reference.
"""
import inspect
import os
import re
import warnings

import naive
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba.core.errors import NumbaError

from fastnn import callbacks as C
from fastnn import datasets as D
from fastnn import functions as F
from fastnn import gradient as G
from fastnn import io as IO
from fastnn import layers as L
from fastnn import mlp as M
from fastnn import netgrad as NG
from fastnn import nets as N
from fastnn import optimizer as O
from fastnn import ptb as PTB
from fastnn import threads as TH
from fastnn import trainer as T
from fastnn import util as U
from fastnn.reference import functions as R

MODULES = {"functions": F, "gradient": G, "layers": L, "nets": N, "mlp": M, "optimizer": O, "trainer": T,
           "util": U, "datasets": D, "io": IO, "netgrad": NG, "threads": TH, "ptb": PTB}


def _read_only(shape=(3,)):
    x = np.ones(shape)
    x.flags.writeable = False
    return x


def f2(x):
    return float(np.sum(x ** 2))


P = np.full((2, 3), 1 / 3)  # a valid batch of probabilities / scores
COMPLEX = np.ones(3, complex)
OBJECT = np.array([1.0, None], dtype=object)
STRINGS = np.array(["1", "2"])
RAGGED = [[1.0, 2.0], [3.0]]
WHOLE = np.array([0, 2])
MISSING = os.path.join(os.sep, "nonexistent-fastnn-dir", "file.npz")

CASES = []


def add(entry, label, thunk, exc, name):
    """One row: thunk() must raise exactly exc with a message naming ``name``."""
    CASES.append(pytest.param(thunk, exc, name, id=f"{entry}: {label}"))


def case(label, fn_name, args, exc, name, **kwargs):
    """A row for a function of fastnn.functions or fastnn.gradient: fn_name(*args, **kwargs)."""
    module = "functions" if hasattr(F, fn_name) else "gradient"
    fn = getattr(MODULES[module], fn_name)
    add(f"{module}.{fn_name}", label, lambda: fn(*args, **kwargs), exc, name)


def method(make, name, *args, **kwargs):
    """A thunk: make() a fresh object, then call its method ``name``."""
    return lambda: getattr(make(), name)(*args, **kwargs)


def after(make, name, *args, **kwargs):
    """A factory: make() an object and call its method ``name`` once (e.g. forward before a backward case)."""
    def build():
        obj = make()
        getattr(obj, name)(*args, **kwargs)
        return obj
    return build


# elementwise functions: any shape is valid, only the content can be wrong
for fn in ("sigmoid", "sigmoid_grad", "relu", "relu_grad", "step_function"):
    case("complex", fn, (COMPLEX,), TypeError, "x")
    case("object", fn, (OBJECT,), TypeError, "x")
    case("str", fn, ("0.5",), TypeError, "x")
    case("str array", fn, (STRINGS,), TypeError, "x")
    case("None", fn, (None,), TypeError, "x")
    case("ragged", fn, (RAGGED,), ValueError, "x")
    case("datetime", fn, (np.array(["2020-01-01"], dtype="datetime64[D]"),), TypeError, "x")

# softmax: over the last axis, which must exist and not be empty
case("0-d", "softmax", (1.0,), ValueError, "x")
case("empty last axis", "softmax", (np.zeros((3, 0)),), ValueError, "x")
case("empty vector", "softmax", ([],), ValueError, "x")
case("complex", "softmax", (COMPLEX,), TypeError, "x")
case("object", "softmax", (OBJECT,), TypeError, "x")
case("str", "softmax", (STRINGS,), TypeError, "x")
case("ragged", "softmax", (RAGGED,), ValueError, "x")

# squared error
for fn in ("sum_squared_error", "mean_squared_error"):
    case("shape mismatch", fn, (np.ones(3), np.ones(4)), ValueError, "t")
    case("transposed", fn, (np.ones((2, 3)), np.ones((3, 2))), ValueError, "y")
    case("y complex", fn, (COMPLEX, np.ones(3)), TypeError, "y")
    case("t object", fn, (np.ones(2), OBJECT), TypeError, "t")
    case("t str", fn, (np.ones(2), STRINGS), TypeError, "t")
    case("y ragged", fn, (RAGGED, np.ones(2)), ValueError, "y")

# cross-entropy and the fused softmax + cross-entropy: y is 1-D or 2-D, t labels or one-hot
for fn, y_name in (("cross_entropy_error", "y"), ("softmax_loss", "X")):
    case("3-D scores", fn, (np.ones((2, 2, 2)), WHOLE), ValueError, y_name)
    case("0-d scores", fn, (0.5, 0), ValueError, y_name)
    case("empty batch", fn, (np.zeros((0, 3)), np.zeros(0, int)), ValueError, y_name)
    case("no classes", fn, (np.zeros((2, 0)), WHOLE), ValueError, y_name)
    case("empty vector", fn, ([], []), ValueError, y_name)
    case("complex scores", fn, (P.astype(complex), WHOLE), TypeError, y_name)
    case("object scores", fn, (P.astype(object), WHOLE), TypeError, y_name)
    case("ragged scores", fn, (RAGGED, WHOLE), ValueError, y_name)
    case("label too large", fn, (P, np.array([0, 3])), ValueError, "t")
    case("negative label", fn, (P, np.array([-1, 0])), ValueError, "t")
    case("label of a 1-D y too large", fn, (P[0], 3), ValueError, "t")
    case("non-integer float label", fn, (P, np.array([0.0, 1.5])), ValueError, "t")
    case("NaN label", fn, (P, np.array([0.0, np.nan])), ValueError, "t")
    case("too many labels", fn, (P, np.array([0, 1, 2])), ValueError, "t")
    case("too few labels", fn, (P, np.array([0])), ValueError, "t")
    case("one-hot of the wrong shape", fn, (P, np.eye(2)), ValueError, "t")
    case("bool labels", fn, (P, np.array([True, False])), TypeError, "t")
    case("str labels", fn, (P, STRINGS), TypeError, "t")
    case("object labels", fn, (P, np.array([0, None], dtype=object)), TypeError, "t")
    case("complex one-hot", fn, (P, np.ones((2, 3), complex)), TypeError, "t")
    case("ragged labels", fn, (P, [[0], [1, 2]]), ValueError, "t")
    case("None labels", fn, (P, None), ValueError, "t")

# numerical differentiation
case("f not callable", "numerical_diff", ("f", 1.0), TypeError, "f")
case("f None", "numerical_diff", (None, 1.0), TypeError, "f")
for fn, x_name in (("numerical_gradient", "x"), ("numerical_gradient_2d", "X"), ("gradient_descent", "init_x")):
    case("f not callable", fn, (3, np.ones(2)), TypeError, "f")
    case("f an array", fn, (np.ones(2), np.ones(2)), TypeError, "f")
    case("read-only", fn, (f2, _read_only()), ValueError, x_name)
    case("broadcast view", fn, (f2, np.broadcast_to(np.ones(1), (3,))), ValueError, x_name)
    case("list", fn, (f2, [1.0, 2.0]), TypeError, x_name)
    case("Python float", fn, (f2, 1.0), TypeError, x_name)
    case("int array", fn, (f2, np.ones(2, int)), TypeError, x_name)
    case("float16 array", fn, (f2, np.ones(2, np.float16)), TypeError, x_name)
    case("complex array", fn, (f2, np.ones(2, complex)), TypeError, x_name)
    case("object array", fn, (f2, OBJECT), TypeError, x_name)
case("3-D X", "numerical_gradient_2d", (f2, np.ones((2, 2, 2))), ValueError, "X")

# gradient descent's hyper-parameters
for label, lr, exc in (("0", 0, ValueError), ("negative", -0.1, ValueError), ("NaN", np.nan, ValueError),
                       ("inf", np.inf, ValueError), ("str", "0.1", TypeError), ("bool", True, TypeError),
                       ("None", None, TypeError), ("array", np.array([0.1]), TypeError)):
    case(f"lr {label}", "gradient_descent", (f2, np.ones(2)), exc, "lr", lr=lr)
for label, step_num, exc in (("negative", -1, ValueError), ("float", 10.0, TypeError), ("str", "10", TypeError),
                             ("bool", True, TypeError), ("None", None, TypeError)):
    case(f"step_num {label}", "gradient_descent", (f2, np.ones(2)), exc, "step_num", step_num=step_num)


# --- layers ----------------------------------------------------------------------------------------------------------
def affine(dtype=np.float64):
    return L.Affine(np.ones((3, 2), dtype), np.zeros(2, dtype))


X43 = np.ones((4, 3))
for entry, make in (("layers.Relu", L.Relu), ("layers.Sigmoid", L.Sigmoid), ("layers.Dropout", L.Dropout)):
    for label, x, exc in (("complex", COMPLEX, TypeError), ("object", OBJECT, TypeError), ("str", STRINGS, TypeError),
                          ("None", None, TypeError), ("ragged", RAGGED, ValueError)):
        add(f"{entry}.forward", label, method(make, "forward", x), exc, "x")
    add(f"{entry}.backward", "before forward", method(make, "backward", X43), RuntimeError, "forward")
    add(f"{entry}.backward", "dout of another shape", method(after(make, "forward", X43), "backward", X43.T),
        ValueError, "dout")
    add(f"{entry}.backward", "dout complex", method(after(make, "forward", X43), "backward", X43 * 1j), TypeError,
        "dout")
    add(f"{entry}.backward", "dout str", method(after(make, "forward", X43), "backward", "1"), TypeError, "dout")
for label, ratio, exc in (("1", 1.0, ValueError), ("negative", -0.1, ValueError), ("NaN", np.nan, ValueError),
                          ("str", "0.5", TypeError), ("None", None, TypeError), ("bool", True, TypeError)):
    add("layers.Dropout", f"dropout_ratio {label}", lambda r=ratio: L.Dropout(r), exc, "dropout_ratio")

W32 = np.ones((3, 2))
for label, args, exc, name in (
        ("W int", (np.ones((3, 2), int), np.zeros(2)), TypeError, "W"),
        ("W list", ([[1.0, 2.0]], np.zeros(2)), TypeError, "W"),
        ("W 1-D", (np.ones(3), np.zeros(2)), ValueError, "W"),
        ("W 3-D", (np.ones((3, 2, 1)), np.zeros(2)), ValueError, "W"),
        ("W read-only", (_read_only((3, 2)), np.zeros(2)), ValueError, "W"),
        ("W complex", (np.ones((3, 2), complex), np.zeros(2)), TypeError, "W"),
        ("W None", (None, np.zeros(2)), TypeError, "W"),
        ("b of another length", (W32, np.zeros(3)), ValueError, "b"),
        ("b of another dtype", (W32, np.zeros(2, np.float32)), ValueError, "b"),
        ("b 2-D", (W32, np.zeros((1, 2))), ValueError, "b"),
        ("b int", (W32, np.zeros(2, int)), TypeError, "b")):
    add("layers.Affine", label, lambda a=args: L.Affine(*a), exc, name)
for label, x, exc in (("1-D", np.ones(3), ValueError), ("0-d", 1.0, ValueError),
                      ("empty batch", np.ones((0, 3)), ValueError),
                      ("wrong feature count", np.ones((4, 5)), ValueError),
                      ("4-D wrong size", np.ones((2, 2, 2, 2)), ValueError),
                      ("complex", X43 * 1j, TypeError), ("str", np.array([["a", "b", "c"]]), TypeError),
                      ("None", None, TypeError), ("ragged", [[1.0, 2.0, 3.0], [1.0]], ValueError)):
    add("layers.Affine.forward", label, method(affine, "forward", x), exc, "x")
add("layers.Affine.forward", "b rebound to another length", method(
    lambda: setattr(a := affine(), "b", np.zeros(5)) or a, "forward", X43), ValueError, "b")
add("layers.Affine.forward", "params[0] replaced by a list", method(
    lambda: (a := affine()).params.__setitem__(0, [[1.0]]) or a, "forward", X43), TypeError, "W")
add("layers.Affine.backward", "before forward", method(affine, "backward", np.ones((4, 2))), RuntimeError, "forward")
add("layers.Affine.backward", "dout of another shape", method(after(affine, "forward", X43), "backward", X43),
    ValueError, "dout")
add("layers.Affine.backward", "dout complex", method(after(affine, "forward", X43), "backward",
                                                     np.ones((4, 2), complex)), TypeError, "dout")
add("layers.Affine.backward", "W replaced after forward", method(
    lambda: (a := after(affine, "forward", X43)()).params.__setitem__(0, np.ones((5, 2))) or a, "backward",
    np.ones((4, 2))), ValueError, "W")
add("layers.Affine.backward", "dW replaced by another shape", method(
    lambda: (a := after(affine, "forward", X43)()).grads.__setitem__(0, np.ones((5, 2))) or a, "backward",
    np.ones((4, 2))), ValueError, "dW")
add("layers.Affine.backward", "dW replaced by a read-only array", method(
    lambda: (a := after(affine, "forward", X43)()).grads.__setitem__(0, _read_only((3, 2))) or a, "backward",
    np.ones((4, 2))), ValueError, "dW")
for label, value, exc in (("1-D", np.ones(3), ValueError), ("int", np.ones((3, 2), int), TypeError),
                          ("read-only", _read_only((3, 2)), ValueError), ("list", [[1.0]], TypeError)):
    add("layers.Affine", f"W rebound to {label}", lambda v=value: setattr(affine(), "W", v), exc, "W")

for label, x, exc in (("1-D", np.ones(3), ValueError), ("3-D", np.ones((2, 3, 4)), ValueError),
                      ("empty batch", np.ones((0, 3)), ValueError), ("no classes", np.ones((2, 0)), ValueError),
                      ("complex", X43 * 1j, TypeError), ("object", P.astype(object), TypeError)):
    add("layers.Softmax.forward", label, method(L.Softmax, "forward", x), exc, "x")
add("layers.Softmax.backward", "before forward", method(L.Softmax, "backward", X43), RuntimeError, "forward")
add("layers.Softmax.backward", "dout of another shape", method(after(L.Softmax, "forward", X43), "backward", X43.T),
    ValueError, "dout")

for label, x, t, exc, name in (
        ("3-D scores", np.ones((2, 2, 2)), WHOLE, ValueError, "x"),
        ("empty batch", np.ones((0, 3)), np.zeros(0, int), ValueError, "x"),
        ("complex scores", P * 1j, WHOLE, TypeError, "x"),
        ("label out of range", P, np.array([0, 3]), ValueError, "t"),
        ("negative label", P, np.array([-1, 0]), ValueError, "t"),
        ("non-integer label", P, np.array([0.5, 1.0]), ValueError, "t"),
        ("NaN label", P, np.array([np.nan, 1.0]), ValueError, "t"),
        ("bool labels", P, np.array([True, False]), TypeError, "t"),
        ("str labels", P, STRINGS, TypeError, "t"),
        ("too many labels", P, np.array([0, 1, 2]), ValueError, "t"),
        ("transposed one-hot", P, np.ones((3, 2)), ValueError, "t"),
        ("complex one-hot", P, np.ones((2, 3), complex), TypeError, "t"),
        ("None labels", P, None, ValueError, "t")):
    add("layers.SoftmaxWithLoss.forward", label, method(L.SoftmaxWithLoss, "forward", x, t), exc, name)
add("layers.SoftmaxWithLoss.backward", "before forward", method(L.SoftmaxWithLoss, "backward"), RuntimeError,
    "forward")
for label, dout, exc in (("array", np.ones(2), TypeError), ("str", "1", TypeError), ("NaN", np.nan, ValueError),
                         ("None", None, TypeError), ("complex", 1j, TypeError)):
    add("layers.SoftmaxWithLoss.backward", f"dout {label}",
        method(after(L.SoftmaxWithLoss, "forward", P, WHOLE), "backward", dout), exc, "dout")

G3 = np.ones(3)
for label, args, kwargs, exc, name in (
        ("gamma int", (np.ones(3, int), np.zeros(3)), {}, TypeError, "gamma"),
        ("gamma 2-D", (np.ones((1, 3)), np.zeros((1, 3))), {}, ValueError, "gamma"),
        ("gamma read-only", (_read_only(), np.zeros(3)), {}, ValueError, "gamma"),
        ("gamma list", ([1.0, 1.0], np.zeros(2)), {}, TypeError, "gamma"),
        ("beta of another shape", (G3, np.zeros(4)), {}, ValueError, "beta"),
        ("beta of another dtype", (G3, np.zeros(3, np.float32)), {}, TypeError, "beta"),
        ("momentum 1.5", (G3, np.zeros(3)), {"momentum": 1.5}, ValueError, "momentum"),
        ("momentum negative", (G3, np.zeros(3)), {"momentum": -0.1}, ValueError, "momentum"),
        ("momentum str", (G3, np.zeros(3)), {"momentum": "0.9"}, TypeError, "momentum")):
    add("layers.BatchNormalization", label, lambda a=args, k=kwargs: L.BatchNormalization(*a, **k), exc, name)


def batchnorm(**kwargs):
    return L.BatchNormalization(np.ones(3), np.zeros(3), **kwargs)


for label, make, x, exc, name in (
        ("wrong feature count", batchnorm, np.ones((4, 5)), ValueError, "x"),
        ("1-D", batchnorm, np.ones(3), ValueError, "x"),
        ("empty batch", batchnorm, np.ones((0, 3)), ValueError, "x"),
        ("complex", batchnorm, X43 * 1j, TypeError, "x"),
        ("running_mean of another length", lambda: batchnorm(running_mean=np.zeros(4), running_var=np.ones(4)),
         X43, ValueError, "running_mean"),
        ("running_var str", lambda: batchnorm(running_mean=np.zeros(3), running_var="ones"), X43, TypeError,
         "running_var")):
    add("layers.BatchNormalization.forward", label, method(make, "forward", x), exc, name)
add("layers.BatchNormalization.backward", "before forward", method(batchnorm, "backward", X43), RuntimeError,
    "forward")
add("layers.BatchNormalization.backward", "dout of another shape",
    method(after(batchnorm, "forward", np.arange(12.0).reshape(4, 3)), "backward", np.ones((3, 3))), ValueError,
    "dout")


def matmul():
    return L.MatMul(np.ones((3, 2)))


add("layers.MatMul", "W int", lambda: L.MatMul(np.ones((3, 2), int)), TypeError, "W")
add("layers.MatMul", "W 1-D", lambda: L.MatMul(np.ones(3)), ValueError, "W")
add("layers.MatMul.forward", "wrong column count", method(matmul, "forward", np.ones((2, 4))), ValueError, "x")
add("layers.MatMul.forward", "1-D", method(matmul, "forward", np.ones(3)), ValueError, "x")
add("layers.MatMul.forward", "complex", method(matmul, "forward", X43 * 1j), TypeError, "x")
add("layers.MatMul.backward", "before forward", method(matmul, "backward", np.ones((4, 2))), RuntimeError, "forward")
add("layers.MatMul.backward", "dout of another shape", method(after(matmul, "forward", X43), "backward", X43),
    ValueError, "dout")

for label, x, t, exc, name in (("label 2", np.zeros(3), np.array([0, 1, 2]), ValueError, "t"),
                               ("negative label", np.zeros(3), np.array([0, -1, 1]), ValueError, "t"),
                               ("non-integer label", np.zeros(3), np.array([0, 0.5, 1]), ValueError, "t"),
                               ("str labels", np.zeros(2), STRINGS, TypeError, "t"),
                               ("label count", np.zeros(3), np.array([0, 1]), ValueError, "t"),
                               ("3-D x", np.zeros((1, 1, 2)), np.array([0, 1]), ValueError, "x"),
                               ("empty x", np.zeros(0), np.zeros(0, int), ValueError, "x"),
                               ("complex x", COMPLEX, np.array([0, 1, 1]), TypeError, "x")):
    add("layers.SigmoidWithLoss.forward", label, method(L.SigmoidWithLoss, "forward", x, t), exc, name)
add("layers.SigmoidWithLoss.backward", "before forward", method(L.SigmoidWithLoss, "backward"), RuntimeError,
    "forward")
add("layers.SigmoidWithLoss.backward", "dout str",
    method(after(L.SigmoidWithLoss, "forward", np.zeros(2), np.array([0, 1])), "backward", "1"), TypeError, "dout")


def embedding():
    return L.Embedding(np.ones((5, 3)))


add("layers.Embedding", "W int", lambda: L.Embedding(np.ones((5, 3), int)), TypeError, "W")
add("layers.Embedding", "W 1-D", lambda: L.Embedding(np.ones(5)), ValueError, "W")
for label, idx, exc in (("out of range", np.array([5]), ValueError), ("negative", np.array([-1]), ValueError),
                        ("non-integer", np.array([1.5]), ValueError), ("str", STRINGS, TypeError),
                        ("complex", np.array([1j]), TypeError), ("None", None, TypeError)):
    add("layers.Embedding.forward", f"idx {label}", method(embedding, "forward", idx), exc, "idx")
add("layers.Embedding.backward", "before forward", method(embedding, "backward", np.ones((1, 3))), RuntimeError,
    "forward")
add("layers.Embedding.backward", "dout of another shape",
    method(after(embedding, "forward", np.array([1, 2])), "backward", np.ones((3, 3))), ValueError, "dout")


# --- networks --------------------------------------------------------------------------------------------------------
NX, NT = np.linspace(-1, 1, 20).reshape(4, 5), np.array([0, 1, 2, 1])  # 4 samples, 5 features, 3 classes
NT1 = np.eye(3)[NT]
NETS = {  # name -> (factory, one-hot targets only)
    "TwoLayerNet": (lambda: N.TwoLayerNet(5, 4, 3), False),
    "MultiLayerNet": (lambda: N.MultiLayerNet(5, [4, 4], 3, activation="sigmoid"), False),
    "MultiLayerNetExtend": (lambda: N.MultiLayerNetExtend(5, [4], 3, use_batchnorm=True, use_dropout=True), False),
    "TwoLayerNetCh4": (lambda: N.TwoLayerNetCh4(5, 4, 3), True),
}
BAD_X = [("wrong feature count", np.ones((4, 6)), ValueError), ("1-D", np.ones(5), ValueError),
         ("empty batch", np.ones((0, 5)), ValueError), ("complex", NX * 1j, TypeError),
         ("str", NX.astype(str), TypeError), ("None", None, TypeError)]
BAD_T = [("label out of range", np.array([0, 1, 3, 1]), ValueError),
         ("negative label", np.array([0, -1, 2, 1]), ValueError),
         ("non-integer label", np.array([0, 1.5, 2, 1]), ValueError), ("str labels", NT.astype(str), TypeError),
         ("label count", NT[:3], ValueError), ("one-hot of another width", np.eye(4)[NT], ValueError),
         ("None", None, ValueError)]
for net_name, (make, onehot) in NETS.items():
    t_ok = NT1 if onehot else NT
    entry = f"nets.{net_name}"
    for meth in ("predict", "loss", "gradient", "loss_and_gradient", "numerical_gradient", "accuracy"):
        if not hasattr(make(), meth):
            continue
        for label, x, exc in BAD_X:
            if (meth == "accuracy" and label == "None") or (onehot and label == "empty batch"
                                                            and meth != "numerical_gradient"):
                continue  # covered by NET_CASES below
            args = (x,) if meth == "predict" else (x, t_ok[:len(x)] if x is not None and np.ndim(x) == 2 else t_ok)
            add(f"{entry}.{meth}", f"x {label}", method(make, meth, *args), exc, "x")
        if meth == "predict" or onehot and meth in ("gradient", "numerical_gradient", "accuracy"):
            continue
        for label, t, exc in BAD_T:
            if meth == "accuracy" and label not in ("label count", "None"):
                continue  # covered by NET_CASES below
            add(f"{entry}.{meth}", f"t {label}", method(make, meth, NX, t), exc, "t")
    if onehot:
        for meth in ("gradient", "numerical_gradient", "accuracy"):
            add(f"{entry}.{meth}", "t labels (chapter 4 needs one-hot)", method(make, meth, NX, NT), ValueError, "t")
    add(f"{entry}.save_params", "file_name int", method(make, "save_params", 3), TypeError, "file_name")
    add(f"{entry}.save_params", "missing directory", method(make, "save_params", MISSING), FileNotFoundError,
        "nonexistent-fastnn-dir")
    add(f"{entry}.load_params", "missing file", method(make, "load_params", MISSING), FileNotFoundError, MISSING)
    add(f"{entry}.load_params", "file_name None", method(make, "load_params", None), TypeError, "file_name")

for label, kwargs, exc, name in (
        ("input_size 0", dict(input_size=0), ValueError, "input_size"),
        ("input_size float", dict(input_size=5.0), TypeError, "input_size"),
        ("input_size bool", dict(input_size=True), TypeError, "input_size"),
        ("hidden_size negative", dict(hidden_size=-1), ValueError, "hidden_size"),
        ("output_size str", dict(output_size="3"), TypeError, "output_size"),
        ("output_size None", dict(output_size=None), TypeError, "output_size"),
        ("weight_init_std str", dict(weight_init_std="he"), TypeError, "weight_init_std"),
        ("weight_init_std NaN", dict(weight_init_std=np.nan), ValueError, "weight_init_std"),
        ("dtype int", dict(dtype=int), TypeError, "dtype"),
        ("dtype float16", dict(dtype=np.float16), TypeError, "dtype"),
        ("dtype complex", dict(dtype=complex), TypeError, "dtype")):
    for net_name in ("TwoLayerNet", "TwoLayerNetCh4"):
        args = dict(dict(input_size=5, hidden_size=4, output_size=3), **kwargs)
        add(f"nets.{net_name}", label, lambda n=net_name, a=args: getattr(N, n)(**a), exc, name)
for label, kwargs, exc, name in (
        ("hidden_size_list str", dict(hidden_size_list="4"), TypeError, "hidden_size_list"),
        ("hidden_size_list int", dict(hidden_size_list=4), TypeError, "hidden_size_list"),
        ("hidden_size_list None", dict(hidden_size_list=None), TypeError, "hidden_size_list"),
        ("hidden width 0", dict(hidden_size_list=[4, 0]), ValueError, "hidden_size_list[1]"),
        ("hidden width float", dict(hidden_size_list=[4.0]), TypeError, "hidden_size_list[0]"),
        ("input_size 0", dict(input_size=0), ValueError, "input_size"),
        ("output_size float", dict(output_size=3.0), TypeError, "output_size"),
        ("activation tanh", dict(activation="tanh"), ValueError, "activation"),
        ("activation None", dict(activation=None), ValueError, "activation"),
        ("weight_init_std unknown name", dict(weight_init_std="glorot"), ValueError, "weight_init_std"),
        ("weight_init_std negative", dict(weight_init_std=-0.1), ValueError, "weight_init_std"),
        ("weight_init_std None", dict(weight_init_std=None), TypeError, "weight_init_std"),
        ("weight_decay_lambda negative", dict(weight_decay_lambda=-1), ValueError, "weight_decay_lambda"),
        ("weight_decay_lambda NaN", dict(weight_decay_lambda=np.nan), ValueError, "weight_decay_lambda"),
        ("weight_decay_lambda str", dict(weight_decay_lambda="0"), TypeError, "weight_decay_lambda"),
        ("dtype int", dict(dtype=np.int32), TypeError, "dtype")):
    for net_name in ("MultiLayerNet", "MultiLayerNetExtend"):
        args = dict(dict(input_size=5, hidden_size_list=[4], output_size=3), **kwargs)
        add(f"nets.{net_name}", label, lambda n=net_name, a=args: getattr(N, n)(**a), exc, name)
for label, ratio, exc in (("1", 1, ValueError), ("negative", -0.5, ValueError), ("str", "0.5", TypeError)):
    add("nets.MultiLayerNetExtend", f"dropout_ration {label}",
        lambda r=ratio: N.MultiLayerNetExtend(5, [4], 3, dropout_ration=r), exc, "dropout_ration")
add("nets.TwoLayerNetBook2", "hidden_size 0", lambda: N.TwoLayerNetBook2(5, 0, 3), ValueError, "hidden_size")
add("nets.TwoLayerNetBook2", "dtype int", lambda: N.TwoLayerNetBook2(5, 4, 3, dtype=int), TypeError, "dtype")
add("nets.SimpleNet", "dtype int8", lambda: N.SimpleNet(dtype=np.int8), TypeError, "dtype")


def book2():
    return N.TwoLayerNetBook2(5, 4, 3)


for label, x, exc in BAD_X:
    add("nets.TwoLayerNetBook2.predict", f"x {label}", method(book2, "predict", x), exc, "x")
    t = NT[:len(x)] if x is not None and np.ndim(x) == 2 else NT
    add("nets.TwoLayerNetBook2.forward", f"x {label}", method(book2, "forward", x, t), exc, "x")
for label, t, exc in BAD_T:
    add("nets.TwoLayerNetBook2.forward", f"t {label}", method(book2, "forward", NX, t), exc, "t")
    add("nets.TwoLayerNetBook2.numerical_gradient", f"t {label}", method(book2, "numerical_gradient", NX, t), exc,
        "t")
for label, x, exc in BAD_X[:5]:
    t = NT[:len(x)] if np.ndim(x) == 2 else NT
    add("nets.TwoLayerNetBook2.numerical_gradient", f"x {label}", method(book2, "numerical_gradient", x, t), exc,
        "x")
add("nets.TwoLayerNetBook2.backward", "before forward", method(book2, "backward"), RuntimeError, "forward")
add("nets.TwoLayerNetBook2.backward", "dout str", method(after(book2, "forward", NX, NT), "backward", "1"),
    TypeError, "dout")
add("nets.TwoLayerNetBook2.save_params", "file_name int", method(book2, "save_params", 3), TypeError, "file_name")
add("nets.TwoLayerNetBook2.load_params", "missing file", method(book2, "load_params", MISSING), FileNotFoundError,
    MISSING)
for label, x, t, exc, name in (("x with 3 features", np.ones(3), 0, ValueError, "x"),
                               ("3-D x", np.ones((1, 1, 2)), 0, ValueError, "x"),
                               ("complex x", np.ones(2, complex), 0, TypeError, "x"),
                               ("label out of range", np.ones(2), 3, ValueError, "t"),
                               ("str label", np.ones(2), "0", TypeError, "t")):
    add("nets.SimpleNet.loss", label, method(N.SimpleNet, "loss", x, t), exc, name)
add("nets.SimpleNet.predict", "x with 3 features", method(N.SimpleNet, "predict", np.ones((2, 3))), ValueError, "x")
add("nets.SimpleNet.save_params", "file_name None", method(N.SimpleNet, "save_params", None), TypeError, "file_name")
add("nets.SimpleNet.load_params", "missing file", method(N.SimpleNet, "load_params", MISSING), FileNotFoundError,
    MISSING)

# Raschka's NeuralNetMLP
MX, MY = np.linspace(0, 1, 40).reshape(10, 4), np.arange(10) % 3
for label, kwargs, exc, name in (("n_hidden 0", dict(n_hidden=0), ValueError, "n_hidden"),
                                 ("n_hidden float", dict(n_hidden=3.0), TypeError, "n_hidden"),
                                 ("eta 0", dict(eta=0), ValueError, "eta"),
                                 ("eta str", dict(eta="0.1"), TypeError, "eta"),
                                 ("epochs negative", dict(epochs=-1), ValueError, "epochs"),
                                 ("minibatch_size 0", dict(minibatch_size=0), ValueError, "minibatch_size"),
                                 ("l2 NaN", dict(l2=np.nan), ValueError, "l2"),
                                 ("l2 negative", dict(l2=-1.0), ValueError, "l2"),
                                 ("dtype int", dict(dtype=int), TypeError, "dtype"),
                                 ("dtype unknown", dict(dtype="float128x"), TypeError, "dtype")):
    add("mlp.NeuralNetMLP", label, lambda k=kwargs: M.NeuralNetMLP(**k), exc, name)


def mlp():
    return M.NeuralNetMLP(epochs=1, verbose=False)


for label, args, exc, name in (
        ("X_train 1-D", (MX[0], MY, MX, MY), ValueError, "X_train"),
        ("X_train NaN", (np.full_like(MX, np.nan), MY, MX, MY), ValueError, "X_train"),
        ("X_train complex", (MX * 1j, MY, MX, MY), TypeError, "X_train"),
        ("X_train empty", (MX[:0], MY[:0], MX, MY), ValueError, "X_train"),
        ("X_valid other features", (MX, MY, MX[:, :3], MY), ValueError, "X_valid"),
        ("X_valid inf", (MX, MY, np.full_like(MX, np.inf), MY), ValueError, "X_valid"),
        ("y_train one-hot", (MX, np.eye(3)[MY], MX, MY), ValueError, "y_train"),
        ("y_train count", (MX, MY[:5], MX, MY), ValueError, "y_train"),
        ("y_train non-integer", (MX, MY + 0.5, MX, MY), ValueError, "y_train"),
        ("y_train str", (MX, MY.astype(str), MX, MY), TypeError, "y_train"),
        ("y_train negative", (MX, MY - 1, MX, MY), ValueError, "y_train"),
        ("y_train with a gap", (MX, MY * 2, MX, MY), ValueError, "y_train"),
        ("y_valid out of range", (MX, MY, MX, MY + 1), ValueError, "y_valid")):
    add("mlp.NeuralNetMLP.fit", label, method(mlp, "fit", *args), exc, name)
add("mlp.NeuralNetMLP.predict", "before fit", method(mlp, "predict", MX), M.NotFittedError, "fit")
add("mlp.NeuralNetMLP.predict", "other features", method(after(mlp, "fit", MX, MY, MX, MY), "predict", MX[:, :3]),
    ValueError, "X")
add("mlp.NeuralNetMLP.predict", "complex", method(after(mlp, "fit", MX, MY, MX, MY), "predict", MX * 1j),
    TypeError, "X")


# --- optimizers ------------------------------------------------------------------------------------------------------
HYPER = {"SGD": ["lr"], "Momentum": ["lr", "momentum"], "Nesterov": ["lr", "momentum"], "AdaGrad": ["lr"],
         "RMSprop": ["lr", "decay_rate"], "Adam": ["lr", "beta1", "beta2"]}
BAD_HYPER = [("0", 0.0, ValueError), ("1", 1.0, ValueError), ("negative", -0.1, ValueError),
             ("NaN", np.nan, ValueError), ("inf", np.inf, ValueError), ("str", "0.1", TypeError),
             ("bool", True, TypeError), ("None", None, TypeError), ("array", np.array([0.1]), TypeError)]


def dict_params():
    return {"W": np.ones((2, 3)), "b": np.zeros(3)}


def dict_grads():
    return {"W": np.ones((2, 3)), "b": np.ones(3)}


for opt, names in HYPER.items():
    cls = getattr(O, opt)
    entry = f"optimizer.{opt}"
    for hyper in names:
        for label, value, exc in BAD_HYPER:
            if label == ("1" if hyper == "lr" else "0"):
                continue  # valid: lr > 0, the others in [0, 1)
            add(entry, f"{hyper} {label}", lambda c=cls, h=hyper, v=value: c(**{h: v}), exc, hyper)
    for label, params, grads, exc, name in (
            ("params a str", "W", {}, TypeError, "params"),
            ("grads a list for dict params", dict_params(), [np.ones(3)], TypeError, "grads"),
            ("grads missing a key", dict_params(), {"W": np.ones((2, 3))}, ValueError, "grads"),
            ("grads one short", [np.ones(2), np.ones(3)], [np.ones(2)], ValueError, "grads"),
            ("param read-only", {"W": _read_only()}, {"W": np.ones(3)}, ValueError, "params['W']"),
            ("param int array", {"W": np.ones(3, int)}, {"W": np.ones(3)}, TypeError, "params['W']"),
            ("param float16 array", {"W": np.ones(3, np.float16)}, {"W": np.ones(3)}, TypeError, "params['W']"),
            ("param a list", {"W": [1.0, 2.0]}, {"W": np.ones(2)}, TypeError, "params['W']"),
            ("param None", {"W": None}, {"W": 1.0}, TypeError, "params['W']"),
            ("param bool", {"W": True}, {"W": 1.0}, TypeError, "params['W']"),
            ("scalar param in a tuple", (1.0,), (1.0,), TypeError, "params[0]"),
            ("grad of another shape", dict_params(), dict(dict_grads(), W=np.ones((3, 2))), ValueError, "grads['W']"),
            ("grad complex", dict_params(), dict(dict_grads(), b=np.ones(3, complex)), TypeError, "grads['b']"),
            ("grad str", dict_params(), dict(dict_grads(), b="1"), TypeError, "grads['b']"),
            ("grad None", dict_params(), dict(dict_grads(), b=None), TypeError, "grads['b']"),
            ("grad ragged", dict_params(), dict(dict_grads(), W=[[1.0], [1.0, 2.0]]), ValueError, "grads['W']")):
        add(f"{entry}.update", label, lambda c=cls, p=params, g=grads: c().update(p, g), exc, name)
    add(f"{entry}.update", "lr reassigned to a str", lambda c=cls: setattr(o := c(), "lr", "x") or o.update(
        dict_params(), dict_grads()), TypeError, "lr")
    add(f"{entry}.flat_plan", "grads a list for dict params", lambda c=cls: c().flat_plan(dict_params(), [1.0]),
        TypeError, "grads")
    add(f"{entry}.flat_plan", "params a str", lambda c=cls: c().flat_plan("W", {}), TypeError, "params")
    add(f"{entry}.step_coefficients", "k 0", lambda c=cls: c().step_coefficients(0), ValueError, "k")
    add(f"{entry}.step_coefficients", "k a float", lambda c=cls: c().step_coefficients(2.0), TypeError, "k")
    add(f"{entry}.step_coefficients", "lr reassigned to a str",
        lambda c=cls: setattr(o := c(), "lr", "x") or o.step_coefficients(1), TypeError, "lr")
    add(f"{entry}.unstep", "n negative", lambda c=cls: c().unstep(-1), ValueError, "n")
    add(f"{entry}.unstep", "n above the steps counted", lambda c=cls: (o := c()).step_coefficients(2) is None
        or o.unstep(3), ValueError, "n")
    add(f"{entry}.load_state_dict", "not a dict", method(cls, "load_state_dict", [1]), TypeError, "state")
    add(f"{entry}.load_state_dict", "another optimizer's state",
        method(cls, "load_state_dict", dict((O.Adam if opt != "Adam" else O.SGD)().state_dict())), ValueError,
        "state")
    add(f"{entry}.load_state_dict", "lr negative",
        lambda c=cls: c().load_state_dict(dict(c().state_dict(), lr=-1.0)), ValueError, "lr")
    add(f"{entry}.checked_state_dict", "not a dict", method(cls, "checked_state_dict", [1]), TypeError, "state")
    add(f"{entry}.checked_state_dict", "a key missing",
        lambda c=cls: c().checked_state_dict({"type": c.__name__}), ValueError, "state")
    add(f"{entry}.checked_state_dict", "lr negative",
        lambda c=cls: c().checked_state_dict(dict(c().state_dict(), lr=-1.0)), ValueError, "lr")
    if len(names) > 1 or opt == "AdaGrad":
        state = {"Momentum": "v", "Nesterov": "v", "AdaGrad": "h", "RMSprop": "h", "Adam": "m"}[opt]
        add(f"{entry}.update", f"state {state} from other params",
            lambda c=cls: (o := c()).update({"W": np.ones(2)}, {"W": np.ones(2)}) or o.update(
                {"W": np.ones(3)}, {"W": np.ones(3)}), ValueError, state)
        add(f"{entry}.update", f"state {state} complex",
            lambda c=cls, s=state: (o := c()).update({"W": np.ones(2)}, {"W": np.ones(2)}) or getattr(o, s).__setitem__(
                "W", np.ones(2, complex)) or o.update({"W": np.ones(2)}, {"W": np.ones(2)}), TypeError, state)
        add(f"{entry}.load_state_dict", f"{state} not arrays",
            lambda c=cls, s=state: c().load_state_dict(dict(c().state_dict(), **{s: "zeros"})), TypeError, state)
add("optimizer.Adam.update", "iter negative", lambda: setattr(o := O.Adam(), "iter", -1) or o.update(
    dict_params(), dict_grads()), ValueError, "iter")
add("optimizer.Adam.update", "beta2 reassigned to 1", lambda: setattr(o := O.Adam(), "beta2", 1.0) or o.update(
    dict_params(), dict_grads()), ValueError, "beta2")


# --- trainers --------------------------------------------------------------------------------------------------------
TX, TT = np.linspace(-1, 1, 60).reshape(12, 5), np.arange(12) % 3


def trainer(**changes):
    args = dict(network=N.TwoLayerNet(5, 4, 3), x_train=TX[:8], t_train=TT[:8], x_test=TX[8:], t_test=TT[8:],
                verbose=False)
    args.update(changes)
    return T.Trainer(**args)


class NoGradient:
    params = {}

    def loss(self, x, t):
        return 0.0

    def accuracy(self, x, t):
        return 0.0


X_NAN = TX[:8].copy()
X_NAN[3, 2] = np.nan
for label, changes, exc, name in (
        ("epochs negative", dict(epochs=-1), ValueError, "epochs"),
        ("epochs float", dict(epochs=1.5), TypeError, "epochs"),
        ("epochs bool", dict(epochs=True), TypeError, "epochs"),
        ("epochs None", dict(epochs=None), TypeError, "epochs"),
        ("mini_batch_size 0", dict(mini_batch_size=0), ValueError, "mini_batch_size"),
        ("mini_batch_size str", dict(mini_batch_size="10"), TypeError, "mini_batch_size"),
        ("x_train complex", dict(x_train=TX[:8] * 1j), TypeError, "x_train"),
        ("x_train str", dict(x_train=TX[:8].astype(str)), TypeError, "x_train"),
        ("x_train object", dict(x_train=TX[:8].astype(object)), TypeError, "x_train"),
        ("x_train NaN", dict(x_train=X_NAN), ValueError, "x_train"),
        ("x_train inf", dict(x_train=np.where(np.isnan(X_NAN), np.inf, X_NAN)), ValueError, "x_train"),
        ("x_train 0-d", dict(x_train=1.0), ValueError, "x_train"),
        ("x_train ragged", dict(x_train=[[1.0], [1.0, 2.0]]), ValueError, "x_train"),
        ("x_train empty", dict(x_train=TX[:0], t_train=TT[:0]), ValueError, "x_train"),
        ("t_train NaN", dict(t_train=np.where(TT[:8] == 0, np.nan, TT[:8])), ValueError, "t_train"),
        ("t_train str", dict(t_train=TT[:8].astype(str)), TypeError, "t_train"),
        ("t_train too short", dict(t_train=TT[:7]), ValueError, "t_train"),
        ("x_test complex", dict(x_test=TX[8:] * 1j), TypeError, "x_test"),
        ("t_test too long", dict(t_test=TT), ValueError, "t_test"),
        ("optimizer unknown", dict(optimizer="sgdx"), ValueError, "optimizer"),
        ("optimizer None", dict(optimizer=None), TypeError, "optimizer"),
        ("optimizer_param a list", dict(optimizer_param=[0.1]), TypeError, "optimizer_param"),
        ("optimizer_param unknown key", dict(optimizer_param={"learning_rate": 0.1}), TypeError, "optimizer_param"),
        ("optimizer_param lr negative", dict(optimizer_param={"lr": -1.0}), ValueError, "lr"),
        ("evaluate_sample_num_per_epoch 0", dict(evaluate_sample_num_per_epoch=0), ValueError,
         "evaluate_sample_num_per_epoch"),
        ("evaluate_sample_num_per_epoch float", dict(evaluate_sample_num_per_epoch=2.0), TypeError,
         "evaluate_sample_num_per_epoch"),
        ("network without gradient", dict(network=NoGradient()), TypeError, "network"),
        ("network None", dict(network=None), TypeError, "network"),
        ("x_train too wide for the network", dict(x_train=np.ones((8, 6))), ValueError, "x_train"),
        ("t_train label out of range", dict(t_train=np.arange(8)), ValueError, "t_train"),
        ("x_test too wide for the network", dict(x_test=np.ones((4, 6))), ValueError, "x_test"),
        ("x_test images of the wrong size", dict(x_test=np.ones((4, 2, 2))), ValueError, "x_test"),
        ("t_test one-hot of the wrong width", dict(t_test=np.eye(4)), ValueError, "t_test"),
        ("validation t_val None", dict(callbacks=[C.Validation(TX[:3], None)]), TypeError, "t_val"),
        ("validation lengths", dict(callbacks=[C.Validation(TX[:3], TT[:2])]), ValueError, "x_val"),
        ("validation NaN", dict(callbacks=[C.Validation(X_NAN, TT[:8])]), ValueError, "x_val"),
        ("validation too narrow", dict(callbacks=[C.Validation(TX[:3, :4], TT[:3])]), ValueError, "x_val"),
        ("validation label out of range", dict(callbacks=[C.Validation(TX[:3], [0, 1, 3])]), ValueError, "t_val"),
        ("two validation sets", dict(callbacks=[C.Validation(TX, TT), C.Validation(TX, TT)]), ValueError,
         "Validation"),
        ("callbacks not callable", dict(callbacks=[print, 1]), TypeError, "callbacks[1]"),
        ("callbacks an int", dict(callbacks=1), TypeError, "callbacks"),
        ("seed negative", dict(seed=-1), ValueError, "seed"),
        ("seed str", dict(seed="a"), TypeError, "seed"),
        ("seed float", dict(seed=1.5), TypeError, "seed")):
    add("trainer.Trainer", label, lambda c=changes: trainer(**c), exc, name)
for label, make, exc, name in (
        ("EarlyStopping patience 0", lambda: C.EarlyStopping(0), ValueError, "patience"),
        ("EarlyStopping patience float", lambda: C.EarlyStopping(2.5), TypeError, "patience"),
        ("Checkpoint every 0", lambda: C.Checkpoint("c.npz", every=0), ValueError, "every"),
        ("Checkpoint path int", lambda: C.Checkpoint(3), TypeError, "path"),
        ("Checkpoint path in a missing directory", lambda: C.Checkpoint(MISSING), ValueError, "path"),
        ("ProgressBar stream not a stream", lambda: C.ProgressBar(stream=3), TypeError, "stream"),
        ("ProgressBar interval negative", lambda: C.ProgressBar(interval=-1), ValueError, "interval")):
    add("trainer.Trainer", label, lambda m=make: trainer(callbacks=[m()]), exc, name)
add("trainer.Trainer.epoch_of", "iteration str", method(trainer, "epoch_of", "1"), TypeError, "iteration")
add("trainer.Trainer.epoch_of", "iteration negative", method(trainer, "epoch_of", -1), ValueError, "iteration")
add("trainer.Trainer.save_checkpoint", "path int", method(trainer, "save_checkpoint", 3), TypeError, "path")
add("trainer.Trainer.save_checkpoint", "missing directory", method(trainer, "save_checkpoint", MISSING),
    FileNotFoundError, "nonexistent-fastnn-dir")
add("trainer.Trainer.load_checkpoint", "path None", method(trainer, "load_checkpoint", None), TypeError, "path")
add("trainer.Trainer.load_checkpoint", "missing file", method(trainer, "load_checkpoint", MISSING),
    FileNotFoundError, MISSING)
add("trainer.Trainer.resume", "path None", lambda: T.Trainer.resume(None, N.TwoLayerNet(5, 4, 3), TX[:8], TT[:8],
                                                                    TX[8:], TT[8:]), TypeError, "path")
add("trainer.Trainer.resume", "x_train NaN", lambda: T.Trainer.resume("c.npz", N.TwoLayerNet(5, 4, 3), X_NAN,
                                                                      TT[:8], TX[8:], TT[8:]), ValueError, "x_train")


class NoBackward:
    params, grads = [], []

    def forward(self, x, t):
        return 0.0


add("trainer2.Trainer2", "model without backward", lambda: T.Trainer2(NoBackward(), O.SGD()), TypeError, "model")
add("trainer2.Trainer2", "optimizer without update", lambda: T.Trainer2(book2(), object()), TypeError, "optimizer")
add("trainer2.Trainer2", "optimizer a name", lambda: T.Trainer2(book2(), "SGD"), TypeError, "optimizer")
for label, kwargs, exc, name in (
        ("max_epoch negative", dict(max_epoch=-1), ValueError, "max_epoch"),
        ("max_epoch float", dict(max_epoch=1.0), TypeError, "max_epoch"),
        ("batch_size 0", dict(batch_size=0), ValueError, "batch_size"),
        ("batch_size larger than the data", dict(batch_size=13), ValueError, "batch_size"),
        ("max_grad negative", dict(max_grad=-1.0), ValueError, "max_grad"),
        ("max_grad str", dict(max_grad="1"), TypeError, "max_grad"),
        ("eval_interval 0", dict(eval_interval=0), ValueError, "eval_interval"),
        ("x complex", dict(x=TX * 1j), TypeError, "x"),
        ("x NaN", dict(x=np.where(TX > 0.9, np.nan, TX)), ValueError, "x"),
        ("t str", dict(t=TT.astype(str)), TypeError, "t"),
        ("t too short", dict(t=TT[:11]), ValueError, "t"),
        ("x 0-d", dict(x=1.0), ValueError, "x")):
    args = dict(dict(x=TX, t=TT, max_epoch=1, batch_size=4), **kwargs)
    add("trainer2.Trainer2.fit", label, lambda a=args: T.Trainer2(book2(), O.SGD()).fit(**a), exc, name)


# --- util, datasets, io, netgrad, threads ----------------------------------------------------------------------------
for label, x, exc in (("shorter than the window", np.ones(5), ValueError), ("2-D", np.ones((12, 2)), ValueError),
                      ("complex", np.ones(12, complex), TypeError), ("str", np.array(["1"] * 12), TypeError),
                      ("None", None, TypeError)):
    add("util.smooth_curve", label, lambda v=x: U.smooth_curve(v), exc, "x")
for label, x, t, exc in (("row counts", np.ones((3, 2)), np.ones(4), ValueError), ("0-d", 1.0, 2.0, ValueError),
                         ("ragged x", RAGGED, np.ones(2), ValueError)):
    add("util.shuffle_dataset", label, lambda a=x, b=t: U.shuffle_dataset(a, b), exc, "x")
for label, grads, max_norm, exc, name in (
        ("int gradient", [np.ones(3, int)], 1.0, TypeError, "grads[0]"),
        ("read-only gradient", [_read_only()], 1.0, ValueError, "grads[0]"),
        ("gradient a list", [[1.0, 2.0]], 1.0, TypeError, "grads[0]"),
        ("grads a str", "g", 1.0, TypeError, "grads"),
        ("max_norm negative", [np.ones(3)], -1.0, ValueError, "max_norm"),
        ("max_norm NaN", [np.ones(3)], np.nan, ValueError, "max_norm"),
        ("max_norm None", [np.ones(3)], None, TypeError, "max_norm")):
    add("util.clip_grads", label, lambda g=grads, m=max_norm: U.clip_grads(g, m), exc, name)
for label, params, grads, exc, name in (
        ("params a dict", {}, [], TypeError, "params"),
        ("grads a tuple of str", [np.ones(2)], "g", TypeError, "grads"),
        ("lengths", [np.ones(2)], [], ValueError, "params"),
        ("shapes", [np.ones(2)], [np.ones(3)], ValueError, "params[0]"),
        ("not arrays", [[1.0]], [[1.0]], TypeError, "params[0]")):
    add("util.remove_duplicate", label, lambda p=params, g=grads: U.remove_duplicate(p, g), exc, name)

# the second book's text utilities (fastnn.text, re-exported by fastnn.util)
W2I, I2W, WV = {"you": 0, "say": 1, "i": 2}, {0: "you", 1: "say", 2: "i"}, np.eye(3)
for label, text, exc in (("None", None, TypeError), ("bytes", b"You say.", TypeError)):
    add("text.preprocess", f"text {label}", lambda t=text: U.preprocess(t), exc, "text")
for fn, extra in (("create_co_matrix", (3,)), ("convert_one_hot", (3,)), ("create_contexts_target", ())):
    for label, corpus, exc in (("floats", [0.0, 1.0], TypeError), ("str", ["you", "say"], TypeError),
                               ("bool", [True, False], TypeError), ("ragged", RAGGED, ValueError),
                               ("negative id", [0, -1, 2], ValueError), ("3-D", np.zeros((1, 1, 2), int), ValueError)):
        add(f"text.{fn}", f"corpus {label}", lambda f=fn, c=corpus, e=extra: getattr(U, f)(c, *e), exc, "corpus")
add("text.create_co_matrix", "corpus 2-D", lambda: U.create_co_matrix(np.zeros((2, 2), int), 3), ValueError, "corpus")
add("text.create_contexts_target", "corpus 2-D", lambda: U.create_contexts_target(np.zeros((2, 2), int)), ValueError,
    "corpus")
for fn in ("create_co_matrix", "convert_one_hot"):
    for label, vocab_size, exc in (("below an id", 2, ValueError), ("float", 3.0, TypeError), ("None", None, TypeError),
                                   ("negative", -1, ValueError)):
        add(f"text.{fn}", f"vocab_size {label}", lambda f=fn, v=vocab_size: getattr(U, f)([0, 2, 1], v), exc,
            "vocab_size")
for fn, args in (("create_co_matrix", ([0, 1], 2)), ("create_contexts_target", ([0, 1, 2],))):
    for label, window, exc in (("0", 0, ValueError), ("-1", -1, ValueError), ("float", 1.5, TypeError),
                               ("str", "2", TypeError)):
        add(f"text.{fn}", f"window_size {label}", lambda f=fn, a=args, w=window: getattr(U, f)(*a, window_size=w), exc,
            "window_size")
for label, counts, kwargs, exc, name in (
        ("C 1-D", np.ones(3), {}, ValueError, "C"), ("C not square", np.ones((2, 3)), {}, ValueError, "C"),
        ("C str", STRINGS.reshape(1, 2)[:, :1], {}, TypeError, "C"), ("C complex", np.ones((2, 2), complex), {},
                                                                       TypeError, "C"),
        ("C NaN", np.array([[1.0, np.nan], [0.0, 1.0]]), {}, ValueError, "C"),
        ("C inf", np.array([[1.0, np.inf], [0.0, 1.0]], np.float32), {}, ValueError, "C"),
        ("C uint64 beyond int64", np.full((2, 2), 2 ** 63, np.uint64), {}, ValueError, "C"),
        ("C ragged", RAGGED, {}, ValueError, "C"), ("eps str", np.ones((2, 2)), {"eps": "1e-8"}, TypeError, "eps"),
        ("eps NaN", np.ones((2, 2)), {"eps": np.nan}, ValueError, "eps")):
    add("text.ppmi", label, lambda c=counts, k=kwargs: U.ppmi(c, **k), exc, name)
for label, x, y, kwargs, exc, name in (
        ("x 2-D", np.ones((2, 2)), np.ones((2, 2)), {}, ValueError, "x"),
        ("lengths", np.ones(3), np.ones(4), {}, ValueError, "x"), ("x str", STRINGS, np.ones(2), {}, TypeError, "x"),
        ("y complex", np.ones(3), COMPLEX, {}, TypeError, "y"), ("y None", np.ones(3), None, {}, TypeError, "y"),
        ("eps str", np.ones(3), np.ones(3), {"eps": "0"}, TypeError, "eps")):
    add("text.cos_similarity", label, lambda a=x, b=y, k=kwargs: U.cos_similarity(a, b, **k), exc, name)
for label, args, kwargs, exc, name in (
        ("query int", (0, W2I, I2W, WV), {}, TypeError, "query"),
        ("word_to_id a list", ("you", ["you"], I2W, WV), {}, TypeError, "word_to_id"),
        ("id_to_word a str", ("you", W2I, "you say i", WV), {}, TypeError, "id_to_word"),
        ("word_matrix 1-D", ("you", W2I, I2W, np.ones(3)), {}, ValueError, "word_matrix"),
        ("word_matrix str", ("you", W2I, I2W, STRINGS), {}, TypeError, "word_matrix"),
        ("word_matrix short", ("you", W2I, I2W, np.eye(2)), {}, ValueError, "word_matrix"),
        ("query's id out of range", ("i", {"you": 0, "say": 1, "i": 7}, I2W, WV), {}, ValueError, "word_to_id"),
        ("id_to_word without an id", ("you", W2I, {0: "you", 1: "say", 5: "i"}, WV), {}, ValueError, "id_to_word"),
        ("top 0", ("you", W2I, I2W, WV), {"top": 0}, ValueError, "top"),
        ("top float", ("you", W2I, I2W, WV), {"top": 2.0}, TypeError, "top")):
    add("text.most_similar", label, lambda a=args, k=kwargs: U.most_similar(*a, **k), exc, name)
for label, args, kwargs, exc, name in (
        ("a int", (0, "say", "i", W2I, I2W, WV), {}, TypeError, "a"),
        ("c None", ("you", "say", None, W2I, I2W, WV), {}, TypeError, "c"),
        ("answer int", ("you", "say", "i", W2I, I2W, WV), {"answer": 1}, TypeError, "answer"),
        ("answer not in the vocabulary", ("you", "say", "i", W2I, I2W, WV), {"answer": "queen"}, ValueError,
         "queen"),
        ("word_to_id None", ("you", "say", "i", None, I2W, WV), {}, TypeError, "word_to_id"),
        ("word_matrix 3-D", ("you", "say", "i", W2I, I2W, np.ones((3, 3, 1))), {}, ValueError, "word_matrix"),
        ("top -1", ("you", "say", "i", W2I, I2W, WV), {"top": -1}, ValueError, "top")):
    add("text.analogy", label, lambda a=args, k=kwargs: U.analogy(*a, **k), exc, name)
for label, x, exc in (("a list", [1.0, 2.0], TypeError), ("int", np.ones(3, int), TypeError),
                      ("3-D", np.ones((1, 2, 2)), ValueError), ("read-only", _read_only(), ValueError)):
    add("text.normalize", f"x {label}", lambda v=x: U.normalize(v), exc, "x")
add("text.to_cpu", "x ragged", lambda: U.to_cpu(RAGGED), ValueError, "x")
add("text.to_gpu", "any array", lambda: U.to_gpu(np.ones(3)), NotImplementedError, "to_gpu")

for label, args, kwargs, exc, name in (
        ("label out of range", ([0, 10], 10), {}, ValueError, "labels"),
        ("negative label", ([-1], 10), {}, ValueError, "labels"),
        ("non-integer label", ([0.5], 10), {}, ValueError, "labels"),
        ("str labels", (["a"], 10), {}, TypeError, "labels"),
        ("n_classes 0", ([0], 0), {}, ValueError, "n_classes"),
        ("n_classes float", ([0], 3.0), {}, TypeError, "n_classes"),
        ("dtype complex", ([0], 3), {"dtype": complex}, TypeError, "dtype"),
        ("dtype unknown", ([0], 3), {"dtype": "float128x"}, TypeError, "dtype")):
    add("datasets.to_one_hot", label, lambda a=args, k=kwargs: D.to_one_hot(*a, **k), exc, name)
for label, kwargs, exc, name in (("test_size 0", dict(test_size=0), ValueError, "test_size"),
                                 ("test_size 1", dict(test_size=1), ValueError, "test_size"),
                                 ("test_size str", dict(test_size="0.2"), TypeError, "test_size"),
                                 ("test_size NaN", dict(test_size=np.nan), ValueError, "test_size"),
                                 ("seed negative", dict(seed=-1), ValueError, "seed"),
                                 ("seed str", dict(seed="0"), TypeError, "seed")):
    add("datasets.load_digits", label, lambda k=kwargs: D.load_digits(**k), exc, name)
for label, seed, exc in (("str", "a", TypeError), ("negative", -1, ValueError), ("float", 1.5, TypeError),
                         ("too large", 2 ** 32, ValueError)):
    add("datasets.load_spiral", f"seed {label}", lambda s=seed: D.load_spiral(s), exc, "seed")
for fn in ("load_mnist", "load_fashion_mnist"):
    add(f"datasets.{fn}", "path int", lambda f=fn: getattr(D, f)(path=3), TypeError, "path")
    add(f"datasets.{fn}", "missing directory", lambda f=fn: getattr(D, f)(path=os.path.dirname(MISSING)),
        FileNotFoundError, os.path.dirname(MISSING))
add("datasets.load_idx", "filename None", lambda: D.load_idx(None), TypeError, "filename")
add("datasets.load_idx", "missing file", lambda: D.load_idx(MISSING), FileNotFoundError, MISSING)

add("io.save_arrays", "arrays a list", lambda: IO.save_arrays("x.npz", [np.ones(2)]), TypeError, "arrays")
add("io.save_arrays", "object array", lambda: IO.save_arrays("x.npz", {"a": OBJECT}), TypeError, "arrays['a']")
add("io.save_arrays", "key 'file'", lambda: IO.save_arrays("x.npz", {"file": np.ones(2)}), ValueError, "arrays")
add("io.save_arrays", "int key", lambda: IO.save_arrays("x.npz", {1: np.ones(2)}), ValueError, "arrays")
add("io.save_arrays", "file_name int", lambda: IO.save_arrays(3, {"a": np.ones(2)}), TypeError, "file_name")
add("io.save_arrays", "missing directory", lambda: IO.save_arrays(MISSING, {"a": np.ones(2)}), FileNotFoundError,
    "nonexistent-fastnn-dir")
add("io.load_arrays", "file_name None", lambda: IO.load_arrays(None), TypeError, "file_name")
add("io.load_arrays", "missing file", lambda: IO.load_arrays(MISSING), FileNotFoundError, MISSING)
add("io.load_arrays", "a directory", lambda: IO.load_arrays(os.path.dirname(os.path.abspath(__file__))),
    ValueError, "file_name")
add("io.save_checkpoint", "path int", lambda: IO.save_checkpoint(3, {}), TypeError, "path")
add("io.save_checkpoint", "state not a trainer's", lambda: IO.save_checkpoint("x.npz", {"config": {}}), TypeError,
    "state")
add("io.load_checkpoint", "path None", lambda: IO.load_checkpoint(None, {}), TypeError, "path")
add("io.load_checkpoint", "like a list", lambda: IO.load_checkpoint(MISSING, []), TypeError, "like")
add("io.load_into", "params a list", lambda: IO.load_into([np.ones(2)], MISSING), TypeError, "params")
add("io.load_into", "missing file", lambda: IO.load_into({"a": np.ones(2)}, MISSING), FileNotFoundError, MISSING)

NET = N.TwoLayerNet(5, 4, 3)
for fn in ("numerical_gradient", "gradient_check"):
    for label, args, exc, name in (
            ("net a str", ("net", NX, NT), TypeError, "net"),
            ("net None", (None, NX, NT), TypeError, "net"),
            ("x wrong feature count", (NET, np.ones((4, 6)), NT), ValueError, "x"),
            ("x empty", (NET, np.ones((0, 5)), NT[:0]), ValueError, "x"),
            ("x complex", (NET, NX * 1j, NT), TypeError, "x"),
            ("t out of range", (NET, NX, NT + 1), ValueError, "t"),
            ("t count", (NET, NX, NT[:3]), ValueError, "t"),
            ("t str", (NET, NX, NT.astype(str)), TypeError, "t"),
            ("net with dropout", (N.MultiLayerNetExtend(5, [4], 3, use_dropout=True), NX, NT), ValueError,
             "use_dropout"),
            ("chapter 4 net with labels", (N.TwoLayerNetCh4(5, 4, 3), NX, NT), ValueError, "t")):
        add(f"netgrad.{fn}", label, lambda f=fn, a=args: getattr(NG, f)(*a), exc, name)
for label, args, exc, name in (("net a str", ("net", NX, NT), TypeError, "net"),
                               ("x wrong feature count", (NET, np.ones((4, 6)), NT), ValueError, "x"),
                               ("t out of range", (NET, NX, NT + 1), ValueError, "t")):
    add("gradient.gradient_check", label, lambda a=args: G.gradient_check(*a), exc, name)
add("netgrad.numerical_gradient", "parallel str", lambda: NG.numerical_gradient(NET, NX, NT, parallel="yes"),
    TypeError, "parallel")


def _enter_threads(n):
    with TH.threads(n):
        pass


for label, n, exc in (("0", 0, ValueError), ("float", 1.5, TypeError), ("str", "2", TypeError),
                      ("None", None, TypeError)):
    add("threads.threads", f"n {label}", lambda v=n: _enter_threads(v), exc, "n")


# --- convolution (chapters 7 and 8): im2col/col2im, Convolution, Pooling, SimpleConvNet, DeepConvNet ----------
IMG = np.ones((2, 3, 5, 5))  # N, C, H, W
CONV_W, CONV_B = np.ones((4, 3, 3, 3)), np.zeros(4)
for label, thunk, exc, name in (
        ("stride 0", lambda: U.conv_output_size(5, 3, 0), ValueError, "stride"),
        ("input_size str", lambda: U.conv_output_size("5", 3), TypeError, "input_size")):
    add("util.conv_output_size", label, thunk, exc, name)
for label, thunk, exc, name in (
        ("3-D", lambda: U.im2col(np.ones((3, 5, 5)), 3, 3), ValueError, "input_data"),
        ("strings", lambda: U.im2col(np.full((1, 1, 3, 3), "a"), 3, 3), TypeError, "input_data"),
        ("filter larger than the padded input", lambda: U.im2col(IMG, 8, 3, pad=1), ValueError, "filter_h"),
        ("stride 0", lambda: U.im2col(IMG, 3, 3, stride=0), ValueError, "stride"),
        ("output size 0 with stride 2", lambda: U.im2col(IMG, 6, 3, stride=2), ValueError, "filter_h")):
    add("util.im2col", label, thunk, exc, name)
for label, thunk, exc, name in (
        ("col shape", lambda: U.col2im(np.ones((18, 26)), (2, 3, 5, 5), 3, 3), ValueError, "col"),
        ("input_shape 3-D", lambda: U.col2im(np.ones((18, 27)), (3, 5, 5), 3, 3), ValueError, "input_shape")):
    add("util.col2im", label, thunk, exc, name)


def _conv(stride=1, pad=0):
    return L.Convolution(CONV_W.copy(), CONV_B.copy(), stride, pad)


for label, thunk, exc, name in (
        ("W 3-D", lambda: L.Convolution(np.ones((4, 3, 3)), CONV_B.copy()), ValueError, "W"),
        ("b of the wrong length", lambda: L.Convolution(CONV_W.copy(), np.zeros(3)), ValueError, "b"),
        ("b str", lambda: L.Convolution(CONV_W.copy(), "0"), TypeError, "b"),
        ("stride 0", lambda: _conv(stride=0), ValueError, "stride"),
        ("pad -1", lambda: _conv(pad=-1), ValueError, "pad")):
    add("convolution.Convolution", label, thunk, exc, name)
for label, x, exc, name in (
        ("x 2-D", np.ones((2, 75)), ValueError, "x"),
        ("x channels do not match W", np.ones((2, 2, 5, 5)), ValueError, "x"),
        ("x smaller than the filter", np.ones((2, 3, 2, 2)), ValueError, "x"),
        ("x strings", np.full((2, 3, 5, 5), "a"), TypeError, "x")):
    add("convolution.Convolution.forward", label, method(_conv, "forward", x), exc, name)
add("convolution.Convolution.forward", "output size 0 with stride 2", method(lambda: _conv(stride=2), "forward",
                                                                              np.ones((2, 3, 2, 6))), ValueError, "x")
add("convolution.Convolution.backward", "before forward", method(_conv, "backward", np.ones((2, 4, 3, 3))),
    RuntimeError, "forward")
add("convolution.Convolution.backward", "dout shape", method(after(_conv, "forward", IMG), "backward",
                                                                     np.ones((2, 4, 2, 3))),
    ValueError, "dout")
for label, thunk, exc, name in (
        ("pool_h 0", lambda: L.Pooling(0, 2), ValueError, "pool_h"),
        ("stride 0", lambda: L.Pooling(2, 2, stride=0), ValueError, "stride"),
        ("pool_w float", lambda: L.Pooling(2, 2.5), TypeError, "pool_w")):
    add("convolution.Pooling", label, thunk, exc, name)
add("convolution.Pooling.forward", "x 3-D", method(lambda: L.Pooling(2, 2), "forward", np.ones((3, 4, 4))),
    ValueError, "x")
add("convolution.Pooling.forward", "output size 0 with stride 3",
    method(lambda: L.Pooling(3, 3, stride=3), "forward", np.ones((1, 1, 5, 2))), ValueError, "pool_w")
add("convolution.Pooling.backward", "before forward", method(lambda: L.Pooling(2, 2), "backward", np.ones(4)),
    RuntimeError, "forward")
add("convolution.Pooling.backward", "dout shape",
    method(after(lambda: L.Pooling(2, 2), "forward", np.ones((1, 1, 4, 4))), "backward", np.ones((1, 1, 3, 2))),
    ValueError, "dout")

SMALL_CONVNETS = {
    "SimpleConvNet": lambda: N.SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
                                             hidden_size=3, output_size=4),
    "DeepConvNet": lambda: N.DeepConvNet((1, 12, 12), hidden_size=3, output_size=4),
}
CONV_X, CONV_T = {"SimpleConvNet": np.ones((2, 1, 8, 8)), "DeepConvNet": np.ones((2, 1, 12, 12))}, np.array([0, 3])
add("convnets.SimpleConvNet", "conv_param stride 0", lambda: N.SimpleConvNet(
    conv_param={"filter_num": 3, "filter_size": 5, "pad": 0, "stride": 0}), ValueError, "stride")
add("convnets.SimpleConvNet", "filter larger than the input", lambda: N.SimpleConvNet(
    (1, 4, 4), {"filter_num": 3, "filter_size": 5, "pad": 0, "stride": 1}), ValueError, "convolution")
add("convnets.DeepConvNet", "input_dim 2 numbers", lambda: N.DeepConvNet((28, 28)), ValueError, "input_dim")
add("convnets.DeepConvNet", "conv_param_3 missing pad", lambda: N.DeepConvNet(
    conv_param_3={"filter_num": 3, "filter_size": 3, "stride": 1}), ValueError, "conv_param_3")
for net_name, make in SMALL_CONVNETS.items():
    x = CONV_X[net_name]
    entry = f"convnets.{net_name}"
    for meth in ("predict", "loss", "gradient", "loss_and_gradient", "accuracy") + (
            ("numerical_gradient",) if net_name == "SimpleConvNet" else ()):
        args = (x[:, :, :5],) if meth == "predict" else (x[:, :, :5], CONV_T)
        add(f"{entry}.{meth}", "x of another image size", method(make, meth, *args), ValueError, "x")
        if meth != "predict":
            add(f"{entry}.{meth}", "t out of range", method(make, meth, x, np.array([0, 4])), ValueError, "t")
    add(f"{entry}.accuracy", "batch_size 0", method(make, "accuracy", x, CONV_T, batch_size=0), ValueError,
        "batch_size")
    add(f"{entry}.save_params", "directory missing", method(make, "save_params", MISSING), FileNotFoundError,
        "file_name")
    add(f"{entry}.load_params", "file missing", method(make, "load_params", MISSING), FileNotFoundError,
        "nonexistent-fastnn-dir")


def _write_bytes(name, data):
    with open(name, "wb") as f:
        f.write(data)
    return name


add("io.load_pickle", "a pickle calling os.system", lambda: IO.load_pickle(_write_bytes(
    "evil.pkl", b"cos\nsystem\n(S'true'\ntR.")), IO.UnsafePickleError, "os.system")
add("io.load_pickle", "file missing", lambda: IO.load_pickle(MISSING), FileNotFoundError, "nonexistent-fastnn-dir")

# --- word vectors and PTB (issue #26) -------------------------------------------------------------------------------
W2I, I2W = {"you": 0, "say": 1}, {0: "you", 1: "say"}
add("io.save_word_vectors", "file_name None", lambda: IO.save_word_vectors(None, np.ones((2, 2)), W2I, I2W),
    TypeError, "file_name")
add("io.save_word_vectors", "directory missing", lambda: IO.save_word_vectors(MISSING, np.ones((2, 2)), W2I, I2W),
    FileNotFoundError, "file_name")
add("io.save_word_vectors", "word_vecs 1-D", lambda: IO.save_word_vectors("v.npz", np.ones(2), W2I, I2W),
    ValueError, "word_vecs")
add("io.save_word_vectors", "word_vecs int", lambda: IO.save_word_vectors("v.npz", np.ones((2, 2), int), W2I, I2W),
    TypeError, "word_vecs")
add("io.save_word_vectors", "word_vecs ragged", lambda: IO.save_word_vectors("v.npz", RAGGED, W2I, I2W),
    ValueError, "word_vecs")
add("io.save_word_vectors", "word_to_id a list", lambda: IO.save_word_vectors("v.npz", np.ones((2, 2)),
                                                                               ["you", "say"], I2W),
    TypeError, "word_to_id")
add("io.save_word_vectors", "id_to_word too short", lambda: IO.save_word_vectors("v.npz", np.ones((3, 2)), W2I,
                                                                                  I2W), ValueError, "word_to_id")
add("io.save_word_vectors", "id_to_word not inverse", lambda: IO.save_word_vectors(
    "v.npz", np.ones((2, 2)), W2I, {0: "say", 1: "you"}), ValueError, "id_to_word")
add("io.load_word_vectors", "file_name 3", lambda: IO.load_word_vectors(3), TypeError, "file_name")
add("io.load_word_vectors", "file missing", lambda: IO.load_word_vectors(MISSING), FileNotFoundError,
    "nonexistent-fastnn-dir")
add("io.load_word_vectors", "a pickle", lambda: IO.load_word_vectors(_write_bytes("v.pkl", b"\x80\x04N.")),
    ValueError, "file_name")
MISSING_DIR = os.path.dirname(MISSING)
add("ptb.load_data", "data_type 'dev'", lambda: PTB.load_data("dev", "."), ValueError, "data_type")
add("ptb.load_data", "data_type None", lambda: PTB.load_data(None, "."), ValueError, "data_type")
add("ptb.load_data", "data_type a list", lambda: PTB.load_data(["train"], "."), ValueError, "data_type")
add("ptb.load_data", "directory 3", lambda: PTB.load_data("train", 3), TypeError, "directory")
add("ptb.load_data", "directory missing", lambda: PTB.load_data("train", MISSING_DIR), FileNotFoundError,
    "nonexistent-fastnn-dir")
add("ptb.load_vocab", "directory bytes", lambda: PTB.load_vocab(b"."), TypeError, "directory")
add("ptb.load_vocab", "files missing", lambda: PTB.load_vocab("."), FileNotFoundError, "ptb.train.txt")
add("ptb.read_text", "path None", lambda: PTB.read_text(None), TypeError, "path")
add("ptb.read_text", "path missing", lambda: PTB.read_text(MISSING), FileNotFoundError, "nonexistent-fastnn-dir")
add("ptb.read_text", "a directory", lambda: PTB.read_text("."), ValueError, "path")
add("ptb.read_text", "binary", lambda: PTB.read_text(_write_bytes("b.bin", b"a\0b")), ValueError, "path")
add("ptb.sentences", "text_lines 3", lambda: PTB.sentences(3), TypeError, "text_lines")
add("ptb.sentences", "text_lines bytes", lambda: PTB.sentences(b"a b."), TypeError, "text_lines")
add("ptb.sentences", "a bytes line", lambda: PTB.sentences(["a b.", b"c d."]), TypeError, "text_lines")
TEXT = "one. two. three. four. five. six. seven. eight. nine. ten."
add("ptb.write_ptb_format", "text_lines None", lambda: PTB.write_ptb_format(None, "out"), TypeError, "text_lines")
add("ptb.write_ptb_format", "too few sentences", lambda: PTB.write_ptb_format("one. two.", "out"), ValueError,
    "valid")
add("ptb.write_ptb_format", "out_dir None", lambda: PTB.write_ptb_format(TEXT, None), TypeError, "out_dir")
add("ptb.write_ptb_format", "out_dir's parent missing", lambda: PTB.write_ptb_format(TEXT, MISSING_DIR + "/d"),
    FileNotFoundError, "out_dir")
add("ptb.write_ptb_format", "out_dir a file", lambda: PTB.write_ptb_format(TEXT, _write_bytes("f", b"")), ValueError,
    "out_dir")
add("ptb.write_ptb_format", "vocab_size 2", lambda: PTB.write_ptb_format(TEXT, "out", vocab_size=2), ValueError,
    "vocab_size")
add("ptb.write_ptb_format", "vocab_size 1e4", lambda: PTB.write_ptb_format(TEXT, "out", vocab_size=1e4), TypeError,
    "vocab_size")
add("ptb.write_ptb_format", "valid -0.1", lambda: PTB.write_ptb_format(TEXT, "out", valid=-0.1), ValueError, "valid")
add("ptb.write_ptb_format", "valid 1", lambda: PTB.write_ptb_format(TEXT, "out", valid=1), ValueError, "valid")
add("ptb.write_ptb_format", "test nan", lambda: PTB.write_ptb_format(TEXT, "out", test=float("nan")), ValueError,
    "test")
add("ptb.write_ptb_format", "test '0.1'", lambda: PTB.write_ptb_format(TEXT, "out", test="0.1"), TypeError, "test")
add("ptb.write_ptb_format", "valid + test 1", lambda: PTB.write_ptb_format(TEXT, "out", valid=0.5, test=0.5),
    ValueError, "valid")


# --- the second book's word2vec models (fastnn.nets.CBOW, SkipGram) ------------------------------------------------
W2V_CORPUS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 2])  # 8 words: room for the book's 5 negative samples
for net_name in ("CBOW", "SkipGram"):
    where = f"word2vec.{net_name}"
    for label, args, exc, name in (("vocab_size 0", (0, 4, 1, W2V_CORPUS), ValueError, "vocab_size"),
                                   ("vocab_size below the corpus's words", (6, 4, 1, W2V_CORPUS), ValueError,
                                    "vocab_size"),
                                   ("hidden_size str", (8, "4", 1, W2V_CORPUS), TypeError, "hidden_size"),
                                   ("window_size 0", (8, 4, 0, W2V_CORPUS), ValueError, "window_size"),
                                   ("corpus of floats", (8, 4, 1, W2V_CORPUS * 1.0), TypeError, "corpus"),
                                   ("corpus of 5 words", (8, 4, 1, W2V_CORPUS % 5), ValueError, "sample_size")):
        add(where, label, lambda n=net_name, a=args: getattr(N, n)(*a), exc, name)

    def w2v_net(n=net_name):
        return getattr(N, n)(8, 4, 1, W2V_CORPUS)

    for label, x, t, exc, name in (("contexts of 3 columns", np.ones((2, 3), int), np.ones(2, int), ValueError,
                                    "contexts"),
                                   ("contexts out of range", np.full((2, 2), 8), np.ones(2, int), ValueError,
                                    "contexts"),
                                   ("contexts str", np.full((2, 2), "a"), np.ones(2, int), TypeError, "contexts"),
                                   ("target out of range", np.ones((2, 2), int), np.array([1, 9]), ValueError,
                                    "target")):
        add(f"{where}.forward", label, method(w2v_net, "forward", x, t), exc, name)
    add(f"{where}.backward", "before forward", method(w2v_net, "backward"), RuntimeError, "forward")
    add(f"{where}.backward", "dout str", method(after(w2v_net, "forward", np.ones((2, 2), int), np.ones(2, int)),
                                                "backward", "1"), TypeError, "dout")



# --- the second book's chapters 5-8: language models, seq2seq, RnnlmTrainer, eval_perplexity, eval_seq2seq -------
LM_XS, LM_TS = np.array([[0, 1, 2], [3, 4, 5]]), np.array([[1, 2, 3], [4, 5, 6]])  # 8 words, 2 rows of 3 steps
H4, H5 = np.ones((1, 4)), np.ones((1, 5))  # a state of the right and of the wrong width (hidden_size 4)


def _model(name, *args, **kwargs):
    """fastnn.nets.<name> of 8 words, wordvec and hidden size 4 (args replace these)."""
    return getattr(N, name)(*(args or (8, 4, 4)), **kwargs)


def add_params_file_rows(where, name, make, other_label, make_other):
    """The rows of a BaseModel's save_params and load_params; make_other() builds a model of other shapes."""
    add(f"{where}.save_params", "file_name int", method(make, "save_params", 3), TypeError, "file_name")
    add(f"{where}.save_params", "dtype int", method(make, "save_params", "m.pkl", dtype=int), TypeError, "dtype")
    add(f"{where}.save_params", "missing directory", method(make, "save_params", MISSING), FileNotFoundError,
        "nonexistent-fastnn-dir")
    add(f"{where}.load_params", "missing file", method(make, "load_params", MISSING), FileNotFoundError, MISSING)
    add(f"{where}.load_params", "no file of the default name (the book's 'No file')", method(make, "load_params"),
        FileNotFoundError, f"{name}.pkl")
    add(f"{where}.load_params", f"saved by {other_label}", lambda: make_other().save_params("other.pkl")
        or make().load_params("other.pkl"), ValueError, "file_name")  # (files land in the row's tmp dir)
    add(f"{where}.load_params", "a file of one array", lambda: IO.save_arrays("one.pkl", {"0": np.ones((8, 4))})
        or make().load_params("one.pkl"), ValueError, "file_name")


for name in ("SimpleRnnlm", "Rnnlm", "BetterRnnlm", "RnnlmGen", "BetterRnnlmGen"):
    where, make = f"rnnlm_nets.{name}", lambda n=name: _model(n)
    for label, args, exc, arg in (("vocab_size 0", (0, 4, 4), ValueError, "vocab_size"),
                                  ("wordvec_size str", (8, "4", 4), TypeError, "wordvec_size"),
                                  ("hidden_size float", (8, 4, 4.0), TypeError, "hidden_size")):
        add(where, label, lambda n=name, a=args: _model(n, *a), exc, arg)
    for label, xs, exc in (("id out of the vocabulary", np.full((2, 3), 8), ValueError),
                           ("negative id", LM_XS - 1, ValueError), ("1-D", LM_XS[0], ValueError),
                           ("time size 0", LM_XS[:, :0], ValueError), ("float ids", LM_XS * 1.0, TypeError)):
        add(f"{where}.predict", f"xs {label}", method(make, "predict", xs), exc, "xs")
    for label, xs, ts, exc, arg in (("ts out of the vocabulary", LM_XS, LM_TS + 2, ValueError, "ts"),
                                    ("ts of another shape", LM_XS, LM_TS[:, :2], ValueError, "ts"),
                                    ("xs 3-D", LM_XS[None], LM_TS, ValueError, "xs")):
        add(f"{where}.forward", label, method(make, "forward", xs, ts), exc, arg)
    add(f"{where}.backward", "before forward", method(make, "backward"), RuntimeError, "forward")
    add(f"{where}.backward", "dout str", method(after(make, "forward", LM_XS, LM_TS), "backward", "1"), TypeError,
        "dout")
    add(f"{where}.backward", "dout NaN", method(after(make, "forward", LM_XS, LM_TS), "backward", np.nan),
        ValueError, "dout")
    add_params_file_rows(where, name, make, "a model of 9 words", lambda n=name: _model(n, 9, 4, 4))
for name in ("BetterRnnlm", "BetterRnnlmGen"):
    for label, args, exc, arg in (("dropout_ratio 1", (8, 4, 4, 1.0), ValueError, "dropout_ratio"),
                                  ("dropout_ratio negative", (8, 4, 4, -0.1), ValueError, "dropout_ratio"),
                                  ("wordvec_size unlike hidden_size (tied weights)", (8, 4, 5), ValueError,
                                   "wordvec_size")):
        add(f"rnnlm_nets.{name}", label, lambda n=name, a=args: _model(n, *a), exc, arg)
for name in ("RnnlmGen", "BetterRnnlmGen"):
    where, make = f"rnnlm_nets.{name}", lambda n=name: _model(n)
    for label, args, kwargs, exc, arg in (
            ("start_id out of the vocabulary", (8,), {}, ValueError, "start_id"),
            ("start_id float", (1.0,), {}, TypeError, "start_id"),
            ("sample_size 0", (1,), {"sample_size": 0}, ValueError, "sample_size"),
            ("skip_ids leaving nothing", (1,), {"skip_ids": range(8)}, ValueError, "skip_ids"),
            ("skip_ids out of the vocabulary", (1,), {"skip_ids": [8]}, ValueError, "skip_ids"),
            ("skip_ids one int", (1,), {"skip_ids": 3}, TypeError, "skip_ids"),
            ("skip_ids a str", (1,), {"skip_ids": "N"}, TypeError, "skip_ids")):
        add(f"{where}.generate", label, method(make, "generate", *args, **kwargs), exc, arg)
for label, state, exc, arg in (("h of another width", (H5, H5), ValueError, "h"),
                               ("c of another width", (H4, H5), ValueError, "c"),
                               ("None", None, TypeError, "state"),
                               ("three arrays", (H4, H4, H4), TypeError, "state")):
    add("rnnlm_nets.RnnlmGen.set_state", label, method(lambda: _model("RnnlmGen"), "set_state", state), exc, arg)
for label, states, exc, arg in (("one pair for two layers", [(H4, H4)], ValueError, "states"),
                                ("a bare (h, c) pair", (H4, H4), TypeError, "states[0]"),
                                ("None", None, TypeError, "states"),
                                ("h of another width", [(H4, H4), (H5, H4)], ValueError, "h")):
    add("rnnlm_nets.BetterRnnlmGen.set_state", label, method(lambda: _model("BetterRnnlmGen"), "set_state", states),
        exc, arg)

S2S_TS = np.array([[7, 1, 2, 3], [7, 4, 5, 6]])  # answers: the start id 7, then 3 ids
S2S_NAMES = ("Encoder", "Decoder", "PeekyDecoder", "AttentionEncoder", "AttentionDecoder", "Seq2seq", "PeekySeq2seq",
             "AttentionSeq2seq")
for name in S2S_NAMES:
    for label, args, kwargs, exc, arg in (("vocab_size 0", (0, 4, 4), {}, ValueError, "vocab_size"),
                                          ("hidden_size -1", (8, 4, -1), {}, ValueError, "hidden_size"),
                                          ("dtype int", (8, 4, 4), {"dtype": int}, TypeError, "dtype"),
                                          ("dtype unknown", (8, 4, 4), {"dtype": "float128x"}, TypeError, "dtype")):
        add(f"seq2seq_nets.{name}", label, lambda n=name, a=args, k=kwargs: _model(n, *a, **k), exc, arg)
for name, dh_name, dh_shape in (("Encoder", "dh", (2, 4)), ("AttentionEncoder", "dhs", (2, 3, 4))):
    where, make = f"seq2seq_nets.{name}", lambda n=name: _model(n)
    for label, xs in (("id out of the vocabulary", np.full((2, 3), 8)), ("1-D", LM_XS[0]),
                      ("time size 0", LM_XS[:, :0])):
        add(f"{where}.forward", f"xs {label}", method(make, "forward", xs), ValueError, "xs")
    add(f"{where}.backward", "before forward", method(make, "backward", np.ones(dh_shape)), RuntimeError, "forward")
    for label, dh, exc in (("of another width", np.ones(dh_shape[:-1] + (5,)), ValueError),
                           ("of another batch", np.ones((3,) + dh_shape[1:]), ValueError),
                           ("complex", np.ones(dh_shape, complex), TypeError)):
        add(f"{where}.backward", f"{dh_name} {label}", method(after(make, "forward", LM_XS), "backward", dh), exc,
            dh_name)
for name, h_name, h in (("Decoder", "h", np.ones((2, 4))), ("PeekyDecoder", "h", np.ones((2, 4))),
                        ("AttentionDecoder", "enc_hs", np.ones((2, 5, 4)))):
    where, make = f"seq2seq_nets.{name}", lambda n=name: _model(n)
    add(f"{where}.forward", "xs out of the vocabulary", method(make, "forward", np.full((2, 3), 8), h), ValueError,
        "xs")
    add(f"{where}.forward", f"{h_name} of another batch", method(make, "forward", LM_XS, np.ones((3,) + h.shape[1:])),
        ValueError, h_name)
    add(f"{where}.forward", f"{h_name} of another width", method(make, "forward", LM_XS, np.ones(h.shape[:-1] + (5,))),
        ValueError, h_name)
    add(f"{where}.forward", f"{h_name} 1-D", method(make, "forward", LM_XS, np.ones(4)), ValueError, h_name)
    add(f"{where}.forward", f"{h_name} str", method(make, "forward", LM_XS, "h"), TypeError, h_name)
    add(f"{where}.backward", "before forward", method(make, "backward", np.ones((2, 3, 8))), RuntimeError, "forward")
    add(f"{where}.backward", "dscore of another vocabulary", method(after(make, "forward", LM_XS, h), "backward",
                                                                    np.ones((2, 3, 9))), ValueError, "dscore")
    add(f"{where}.backward", "dscore 2-D", method(after(make, "forward", LM_XS, h), "backward", np.ones((6, 8))),
        ValueError, "dscore")
    one = h[:1]
    for label, args, exc, arg in (("start_id out of the vocabulary", (one, 8, 3), ValueError, "start_id"),
                                  ("start_id float", (one, 1.0, 3), TypeError, "start_id"),
                                  ("sample_size 0", (one, 1, 0), ValueError, "sample_size"),
                                  (f"{h_name} of two questions", (h, 1, 3), ValueError, h_name),
                                  (f"{h_name} complex", (one * 1j, 1, 3), TypeError, h_name)):
        add(f"{where}.generate", label, method(make, "generate", *args), exc, arg)
for name in ("Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"):
    where, make = f"seq2seq_nets.{name}", lambda n=name: _model(n)
    for label, xs, ts, exc, arg in (("xs out of the vocabulary", np.full((2, 3), 8), S2S_TS, ValueError, "xs"),
                                    ("xs time size 0", LM_XS[:, :0], S2S_TS, ValueError, "xs"),
                                    ("ts out of the vocabulary", LM_XS, S2S_TS + 1, ValueError, "ts"),
                                    ("ts of one step (no answer)", LM_XS, S2S_TS[:, :1], ValueError, "ts"),
                                    ("ts of another batch", LM_XS, S2S_TS[:1], ValueError, "ts"),
                                    ("ts float", LM_XS, S2S_TS * 1.0, TypeError, "ts")):
        add(f"{where}.forward", label, method(make, "forward", xs, ts), exc, arg)
    add(f"{where}.backward", "before forward", method(make, "backward"), RuntimeError, "forward")
    add(f"{where}.backward", "dout str", method(after(make, "forward", LM_XS, S2S_TS), "backward", "1"), TypeError,
        "dout")
    for label, args, exc, arg in (("xs of two questions", (LM_XS, 7, 3), ValueError, "xs"),
                                  ("xs out of the vocabulary", (np.full((1, 3), 8), 7, 3), ValueError, "xs"),
                                  ("start_id out of the vocabulary", (LM_XS[:1], 8, 3), ValueError, "start_id"),
                                  ("sample_size 0", (LM_XS[:1], 7, 0), ValueError, "sample_size")):
        add(f"{where}.generate", label, method(make, "generate", *args), exc, arg)
    add_params_file_rows(where, name, make, "a model of hidden size 5", lambda n=name: _model(n, 8, 4, 5))

LM_CORPUS = np.arange(41) % 8  # 41 ids of 8 words: 4 batches of 2 x 5 for the trainer, 1 of 4 x 10 for perplexity


def rnnlm_trainer():
    return T.RnnlmTrainer(_model("Rnnlm"), O.SGD())


add("trainer2.RnnlmTrainer", "model None", lambda: T.RnnlmTrainer(None, O.SGD()), TypeError, "model")
add("trainer2.RnnlmTrainer", "model without backward", lambda: T.RnnlmTrainer(NoBackward(), O.SGD()), TypeError,
    "model")
add("trainer2.RnnlmTrainer", "optimizer a name", lambda: T.RnnlmTrainer(_model("Rnnlm"), "SGD"), TypeError,
    "optimizer")
for label, kwargs, exc, arg in (
        ("xs float ids", dict(xs=LM_CORPUS * 1.0), TypeError, "xs"),
        ("xs 2-D", dict(xs=LM_CORPUS[:40].reshape(4, 10), ts=LM_CORPUS[1:].reshape(4, 10)), ValueError, "xs"),
        ("xs out of the vocabulary", dict(xs=LM_CORPUS + 1), ValueError, "xs"),
        ("ts out of the vocabulary", dict(ts=LM_CORPUS + 1), ValueError, "ts"),
        ("ts shorter", dict(ts=LM_CORPUS[:-1]), ValueError, "ts"),
        ("batch_size 0", dict(batch_size=0), ValueError, "batch_size"),
        ("time_size 0", dict(time_size=0), ValueError, "time_size"),
        ("time_size float", dict(time_size=5.0), TypeError, "time_size"),
        ("corpus too short for one batch", dict(batch_size=5, time_size=10), ValueError, "batch_size"),
        ("max_epoch negative", dict(max_epoch=-1), ValueError, "max_epoch"),
        ("max_grad negative", dict(max_grad=-1.0), ValueError, "max_grad"),
        ("eval_interval 0", dict(eval_interval=0), ValueError, "eval_interval")):
    args = dict(dict(xs=LM_CORPUS, ts=LM_CORPUS, max_epoch=1, batch_size=2, time_size=5), **kwargs)
    add("trainer2.RnnlmTrainer.fit", label, lambda a=args: rnnlm_trainer().fit(**a), exc, arg)


def rnnlm_trainer_at(time_idx=0):
    """An RnnlmTrainer whose time_idx is set (as fit sets it), ready for get_batch."""
    trainer = rnnlm_trainer()
    trainer.time_idx = time_idx
    return trainer


add("trainer2.RnnlmTrainer.get_batch", "before fit", method(rnnlm_trainer, "get_batch", LM_CORPUS, LM_CORPUS, 2, 5),
    RuntimeError, "fit")
for label, args, exc, arg in (("batch_size 0", (LM_CORPUS, LM_CORPUS, 0, 5), ValueError, "batch_size"),
                              ("batch_size float", (LM_CORPUS, LM_CORPUS, 2.0, 5), TypeError, "batch_size"),
                              ("time_size -1", (LM_CORPUS, LM_CORPUS, 2, -1), ValueError, "time_size"),
                              ("x empty", (LM_CORPUS[:0], LM_CORPUS[:0], 2, 5), ValueError, "x"),
                              ("x 2-D", (LM_CORPUS[:40].reshape(4, 10), LM_CORPUS[:40], 2, 5), ValueError, "x"),
                              ("t shorter", (LM_CORPUS, LM_CORPUS[:10], 2, 5), ValueError, "t")):
    add("trainer2.RnnlmTrainer.get_batch", label, method(rnnlm_trainer_at, "get_batch", *args), exc, arg)
add("trainer2.RnnlmTrainer.plot", "before fit", method(rnnlm_trainer, "plot"), RuntimeError, "fit")
add("trainer2.RnnlmTrainer.plot", "ylim a number", method(after(rnnlm_trainer, "fit", LM_CORPUS, LM_CORPUS, 1, 2, 5),
                                                          "plot", ylim=3), TypeError, "ylim")
add("trainer2.Trainer2.plot", "ylim a number", method(lambda: T.Trainer2(book2(), O.SGD()), "plot", ylim=3),
    TypeError, "ylim")

for label, args, kwargs, exc, arg in (
        ("model None", (None, LM_CORPUS), {}, TypeError, "model"),
        ("corpus float ids", ("Rnnlm", LM_CORPUS * 1.0), {}, TypeError, "corpus"),
        ("corpus 2-D", ("Rnnlm", LM_CORPUS[:40].reshape(4, 10)), {}, ValueError, "corpus"),
        ("corpus negative id", ("Rnnlm", LM_CORPUS - 1), {}, ValueError, "corpus"),
        ("corpus too short for one batch", ("Rnnlm", LM_CORPUS[:40]), {}, ValueError, "corpus"),
        ("batch_size 0", ("Rnnlm", LM_CORPUS), {"batch_size": 0}, ValueError, "batch_size"),
        ("time_size 0", ("Rnnlm", LM_CORPUS), {"time_size": 0}, ValueError, "time_size")):
    add("util.eval_perplexity", label, lambda a=args, k=kwargs: U.eval_perplexity(
        _model(a[0]) if isinstance(a[0], str) else a[0], a[1], **dict(dict(batch_size=4, time_size=10), **k)),
        exc, arg)
S2S_CHARS = dict(enumerate("0123456_"))  # id -> character of the 8 ids; 7 is the start mark '_'
for label, args, exc, arg in (
        ("model None", (None, LM_XS[:1], S2S_TS[:1], S2S_CHARS), TypeError, "model"),
        ("question of two rows", ("Seq2seq", LM_XS, S2S_TS[:1], S2S_CHARS), ValueError, "question"),
        ("question id without a character", ("Seq2seq", np.array([[1, 2, 9]]), S2S_TS[:1], S2S_CHARS), ValueError,
         "question"),
        ("correct empty", ("Seq2seq", LM_XS[:1], S2S_TS[:, :0], S2S_CHARS), ValueError, "correct"),
        ("correct only the start id", ("Seq2seq", LM_XS[:1], S2S_TS[:1, :1], S2S_CHARS), ValueError, "correct"),
        ("correct float", ("Seq2seq", LM_XS[:1], S2S_TS[:1] * 1.0, S2S_CHARS), TypeError, "correct"),
        ("correct start id without a character", ("Seq2seq", LM_XS[:1], np.array([[9, 1, 2]]), S2S_CHARS),
         ValueError, "correct"),
        ("id_to_char a list", ("Seq2seq", LM_XS[:1], S2S_TS[:1], list("0123456_")), TypeError, "id_to_char")):
    add("util.eval_seq2seq", label, lambda a=args: U.eval_seq2seq(_model(a[0]) if isinstance(a[0], str) else a[0],
                                                                   *a[1:]), exc, arg)

# --- networks: accuracy with bad x/t, chapter 4's empty batches, unknown dtype ------------------------------------
NET_CASES = []
for net_name, (make, onehot) in NETS.items():
    t_ok = NT1 if onehot else NT
    NET_CASES.append(pytest.param(method(make, "accuracy", None, t_ok), TypeError, "x",
                                id=f"nets.{net_name}.accuracy: x None"))
    if onehot:  # chapter 4's net: an empty batch divides 0 by 0 in accuracy, other methods name y or return
        for meth in ("predict", "loss", "gradient", "accuracy"):
            args = (np.ones((0, 5)),) if meth == "predict" else (np.ones((0, 5)), NT1[:0])
            NET_CASES.append(pytest.param(method(make, meth, *args), ValueError, "x",
                                        id=f"nets.{net_name}.{meth}: x empty batch"))
        continue
    for label, t, exc in BAD_T[:4] + BAD_T[5:6]:  # out of range, negative, non-integer, str, one-hot width
        NET_CASES.append(pytest.param(method(make, "accuracy", NX, t), exc, "t",
                                    id=f"nets.{net_name}.accuracy: t {label}"))
NET_CASES.append(pytest.param(lambda: N.TwoLayerNet(5, 4, 3, dtype="float128x"), TypeError, "dtype",
                            id="nets.TwoLayerNet: dtype unknown"))


def _public_entry_points():
    """Every public function, class and method (with arguments) of the modules above."""
    entries, seen = set(), set()
    for module in MODULES.values():
        names = getattr(module, "__all__", None) or [  # (fastnn.threads has no __all__)
            n for n, o in vars(module).items() if not n.startswith("_") and callable(o)
            and getattr(o, "__module__", None) == module.__name__]
        for name in names:
            obj = getattr(module, name)
            if (id(obj) in seen or inspect.ismodule(obj)  # (np: exported as by the book's star imports)
                    or (inspect.isclass(obj) and issubclass(obj, BaseException))):
                continue
            seen.add(id(obj))
            qualified = f"{obj.__module__.split('.')[-1]}.{obj.__name__}"
            if inspect.signature(obj).parameters:  # (Relu() and co. take no arguments)
                entries.add(qualified)
            if not inspect.isclass(obj):
                continue
            for meth, f in inspect.getmembers(obj, callable):
                if meth.startswith("_") or not (getattr(f, "__module__", None) or "").startswith("fastnn"):
                    continue
                if len(inspect.signature(f).parameters) > (0 if inspect.ismethod(f) else 1):  # takes arguments
                    entries.add(f"{qualified}.{meth}")
    return entries


# entry points with no bad input to give: identity_function returns anything as it is, and SimpleNet (and
# TwoLayerNetBook2) inherit methods that the books' classes do not have and that raise whatever the input (reported:
# nets.py)
NOT_TABLED = {"functions.identity_function", "nets.SimpleNet.accuracy",
              "nets.TwoLayerNetBook2.accuracy", "nets.SimpleNet.numerical_gradient"}


def test_the_table_covers_every_public_entry_point():
    covered = {p.id.split(":")[0] for p in CASES} | {p.id.split(":")[0] for p in NET_CASES}
    missing = _public_entry_points() - NOT_TABLED - covered
    assert missing == set()
    assert len(CASES) >= 151 + 150  # the functions' rows, and at least 150 for the rest of the API


def _check_refusal(thunk, exc, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning and a NaN instead of an error is a failure too
        with pytest.raises(Exception) as info:
            thunk()
    error = info.value
    assert not isinstance(error, NumbaError), f"a numba error escaped: {error!r}"
    assert type(error) is exc, f"expected {exc.__name__}, got {type(error).__name__}: {error}"
    assert re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", str(error)), f"{name!r} not named in: {error}"


@pytest.mark.parametrize("thunk, exc, name", CASES)
def test_bad_input_is_refused_with_a_message_naming_the_argument(thunk, exc, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # rows that would write a file write it here
    _check_refusal(thunk, exc, name)


@pytest.mark.parametrize("thunk, exc, name", NET_CASES)
def test_network_refusals(thunk, exc, name):
    _check_refusal(thunk, exc, name)


@pytest.mark.parametrize("fn", [G.numerical_gradient, G.gradient_descent])
def test_in_place_refusals_leave_x_alone(fn):
    x = np.arange(3.0)
    x.flags.writeable = False
    with pytest.raises(ValueError):
        fn(naive.sum_of_squares, x)
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])


def test_bad_hyper_parameters_are_refused_before_any_step():
    x = np.array([1.0, 2.0])
    calls = []
    with pytest.raises(ValueError, match="lr"):
        G.gradient_descent(lambda v: calls.append(1) or f2(v), x, lr=-1)
    assert calls == [] and list(x) == [1.0, 2.0]


def test_refused_updates_change_nothing():
    """A bad entry anywhere in params/grads: no parameter, no state and no Adam.iter moves."""
    for cls in (O.Momentum, O.Adam):
        opt = cls()
        params = {"W": np.ones(3), "b": np.ones(2)}
        opt.update(params, {"W": np.ones(3), "b": np.ones(2)})
        before = ({k: v.copy() for k, v in params.items()}, opt.state_dict())
        with pytest.raises(TypeError):
            opt.update(params, {"W": np.ones(3), "b": np.ones(2, complex)})
        np.testing.assert_equal(({k: v.copy() for k, v in params.items()}, opt.state_dict()), before)


def test_read_only_and_non_contiguous_inputs_are_read_not_written():
    """Inputs are never written: read-only, Fortran-ordered, strided and reversed arrays are accepted, give the
    reference's results and are left as they were."""
    base = np.linspace(-3, 3, 24).reshape(4, 6)
    read_only = base.copy()
    read_only.flags.writeable = False
    for x in (read_only, np.asfortranarray(base), np.hstack([base, base])[:, ::2], base[::-1]):
        before = x.copy()
        for name in ("sigmoid", "relu", "softmax", "sigmoid_grad", "step_function"):
            np.testing.assert_allclose(getattr(F, name)(x), getattr(R, name)(np.array(x)), rtol=1e-12)
        np.testing.assert_allclose(F.softmax_loss(x, np.zeros(4, int)), R.softmax_loss(np.array(x), np.zeros(4, int)))
        layer = L.Affine(np.ones((6, 2)), np.zeros(2))
        np.testing.assert_allclose(layer.forward(x), np.array(x) @ np.ones((6, 2)))
        layer.backward(np.ones((4, 2)))
        np.testing.assert_array_equal(x, before)


# --- fuzzing ---------------------------------------------------------------------------------------------------------
FUZZ_DTYPES = [np.bool_, np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64, np.complex64, "U2",
               "datetime64[s]"]


@st.composite
def any_arrays(draw, max_dims=3):
    """Arrays of any dtype above, any shape (0-d and empty included) and any values (NaN, inf included)."""
    dtype = np.dtype(draw(st.sampled_from(FUZZ_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=4))
    elements = naive.floats(np.float32, 1e4) | st.sampled_from([np.nan, np.inf, -np.inf]) \
        if dtype.kind == "f" else None
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _computed_in(dtype):
    """fastnn's dtype policy: float32/float64 kept, float16 -> float32, bool/int -> float64, else None (refused)."""
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype.kind == "f":
        return np.dtype(np.float32) if dtype.itemsize <= 4 else np.dtype(np.float64)
    return None


def _reference(fn, *args):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _outcome(call, names):
    """call()'s result, or None after checking that it raised a documented error naming one of ``names``."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():  # NaN/inf inputs may warn, as in NumPy
            warnings.simplefilter("ignore")
            return call()
    except (TypeError, ValueError) as error:
        assert not isinstance(error, NumbaError), repr(error)
        assert any(re.search(rf"(?<![\w.]){n}(?!\w)", str(error)) for n in names), str(error)
        return None


@pytest.mark.parametrize("name", ["sigmoid", "sigmoid_grad", "relu", "relu_grad", "step_function", "softmax"])
@given(x=any_arrays())
def test_fuzz_functions(name, x):
    target = _computed_in(x.dtype)
    got = _outcome(lambda: getattr(F, name)(x), ["x"])
    refuse = target is None or (name == "softmax" and (x.ndim == 0 or x.shape[-1] == 0))
    assert (got is None) == refuse, f"refused: {got is None}, should be: {refuse}"
    if got is not None:
        expected = _reference(getattr(R, name), x.astype(target))
        assert np.shape(got) == expected.shape and np.result_type(got) == expected.dtype
        np.testing.assert_allclose(got, expected, equal_nan=True, **naive.tol(target, scale=1))


@st.composite
def scores_and_targets(draw):
    """(scores (N, C) or (C,) of a float/int dtype, targets, valid): targets are one-hot rows (valid None) or
    labels in some dtype, some of them out of range or not whole numbers (valid False)."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int64, np.float16])))
    one_d = n == 1 and draw(st.booleans())
    elements = st.integers(0, 1) if dtype.kind == "i" else naive.floats(np.float16 if dtype.itemsize == 2 else
                                                                         np.float32, 1).map(abs)
    y = draw(hnp.arrays(dtype, (c,) if one_d else (n, c), elements=elements))
    if draw(st.booleans()):  # one-hot rows
        t = np.eye(c)[draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))]
        return y, (t[0] if one_d else t).astype(draw(st.sampled_from([np.float64, np.int8, np.bool_]))), None
    values = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([-1.0, 0.5, float(c)]) | st.integers(0, c - 1)))
    t_dtype = np.dtype(draw(st.sampled_from([np.int64, np.int32, np.uint8, np.float64])))
    labels = values if t_dtype.kind == "f" else np.trunc(np.abs(values) if t_dtype.kind == "u" else values)
    labels = labels.astype(t_dtype)
    if labels.size == y.size:  # one class: the book's size rule takes the labels for one-hot rows
        return y, labels, None
    valid = bool(np.all((labels == np.round(labels)) & (labels >= 0) & (labels < c)))
    return y, labels, valid


@pytest.mark.parametrize("name", ["cross_entropy_error", "softmax_loss"])
@given(case=scores_and_targets())
def test_fuzz_losses(name, case):
    y, t, valid = case
    got = _outcome(lambda: getattr(F, name)(y, t), ["t"])
    if valid is False:  # labels out of range or not whole numbers
        assert got is None
        return
    assert got is not None
    target = _computed_in(y.dtype)
    t_ref = t.reshape(y.shape) if valid is None else t.astype(np.intp)
    expected = _reference(getattr(R, name), y.astype(target), t_ref)
    assert np.result_type(got) == target
    np.testing.assert_allclose(got, expected, rtol=naive.RTOL[target] * 10)


@given(x=any_arrays(max_dims=4), w_dtype=st.sampled_from([np.float32, np.float64]))
def test_fuzz_affine(x, w_dtype):
    W = np.linspace(-1, 1, 6, dtype=w_dtype).reshape(3, 2)
    b = np.array([0.5, -0.5], w_dtype)
    layer = L.Affine(W, b)
    got = _outcome(lambda: layer.forward(x), ["x"])
    refuse = (_computed_in(x.dtype) is None or x.ndim < 2 or x.shape[0] == 0
              or int(np.prod(x.shape[1:])) != 3)
    assert (got is None) == refuse
    if got is None:
        return
    flat = x.reshape(x.shape[0], -1).astype(w_dtype)
    np.testing.assert_allclose(got, _reference(lambda: flat @ W + b), equal_nan=True, **naive.tol(w_dtype, 10))
    dx = layer.backward(np.ones_like(got))
    assert dx.shape == x.shape and dx.dtype == w_dtype


@pytest.mark.parametrize("name", ["Relu", "Sigmoid", "Softmax"])
@given(x=any_arrays(), dout=any_arrays())
def test_fuzz_activation_layers(name, x, dout):
    layer = getattr(L, name)()
    out = _outcome(lambda: layer.forward(x), ["x"])
    refuse = _computed_in(x.dtype) is None or (name == "Softmax" and (x.ndim != 2 or x.size == 0))
    assert (out is None) == refuse
    if out is None:
        return
    reference = {"Relu": R.relu, "Sigmoid": R.sigmoid, "Softmax": R.softmax}[name]
    np.testing.assert_allclose(out, _reference(reference, x.astype(out.dtype)), equal_nan=True,
                               **naive.tol(out.dtype, 1))
    dx = _outcome(lambda: layer.backward(dout), ["dout"])
    assert (dx is None) == (_computed_in(dout.dtype) is None or dout.shape != x.shape)
    if dx is not None:
        assert dx.shape == x.shape
