"""Numerical robustness: extreme but finite inputs never overflow, warn or give NaN; NaN/inf inputs propagate as in
NumPy; probabilities of exactly 0 give a finite cross-entropy; optimizers stay finite on zero and tiny gradients;
the Trainer stops on non-finite weights (not only on a non-finite loss) and keeps the last finite ones.

Every test here runs with warnings as errors and NumPy's floating-point errors raising, so an overflow inside the
Python half of fastnn (the wrappers) fails the test, not only a NaN in the result.
"""
import math
import warnings

import naive
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn import functions as F
from fastnn import layers as L
from fastnn import nets
from fastnn import optimizer as fo
from fastnn import trainer as ft
from fastnn.mlp import NeuralNetMLP
from fastnn.reference import functions as R

pytestmark = pytest.mark.filterwarnings("error")

# the largest magnitudes the issue asks for: exp overflows far below them (709 in float64, 88 in float32)
EXTREME = {np.dtype(np.float64): 1e4, np.dtype(np.float32): 1e3}
DTYPES = list(EXTREME)


def extreme_rows(dtype):
    """Rows mixing +-M, 0 and moderate values: saturated, all-equal, one-hot-like and spread rows."""
    m = EXTREME[np.dtype(dtype)]
    return np.array([[m, -m, 0.0, 1.0], [-m, -m, -m, -m], [m, m, -m, 0.5], [-m, m - 1, m, -3.0],
                     [m, m, m, m], [0.0, -m, 2.0, -m]], dtype=dtype)


def stable_sigmoid(x):
    """Oracle: math.exp only of non-positive numbers, so nothing overflows."""
    def one(v):
        e = math.exp(-abs(v))
        return 1 / (1 + e) if v >= 0 else e / (1 + e)
    return np.vectorize(one, otypes=[float])(np.asarray(x, dtype=float))


def close(actual, expected, dtype):
    assert np.asarray(actual).dtype == dtype
    assert np.all(np.isfinite(actual))
    np.testing.assert_allclose(actual, expected, **naive.tol(dtype))


@pytest.fixture(autouse=True)
def numpy_errors_raise():
    with np.errstate(all="raise", under="ignore"), warnings.catch_warnings():  # underflow to 0 is fine
        warnings.simplefilter("error")
        yield


# --- extreme finite inputs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sigmoid_and_its_gradient_at_extremes(dtype):
    x = extreme_rows(dtype)
    s = stable_sigmoid(x)
    close(F.sigmoid(x), s, dtype)
    close(F.sigmoid_grad(x), (1 - s) * s, dtype)
    layer = L.Sigmoid()
    close(layer.forward(x), s, dtype)
    close(layer.backward(np.ones_like(x)), (1 - s) * s, dtype)
    assert F.sigmoid(dtype.type(EXTREME[dtype])) == 1 and F.sigmoid(dtype.type(-EXTREME[dtype])) == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_softmax_at_extremes(dtype):
    x = extreme_rows(dtype)
    y = naive.softmax(x)
    close(F.softmax(x), y, dtype)
    close(F.softmax(x[0]), y[0], dtype)  # 1-D
    close(F.softmax(x.reshape(2, 3, 4)), y.reshape(2, 3, 4), dtype)  # n-D: over the last axis
    layer = L.Softmax()
    close(layer.forward(x), y, dtype)
    dout = np.linspace(-1, 1, x.size).reshape(x.shape).astype(dtype)
    expected = y * dout - y * np.sum(y * dout, axis=1, keepdims=True)
    np.testing.assert_allclose(layer.backward(dout), expected, **naive.tol(dtype, scale=1))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("targets", ["labels", "one-hot"])
def test_softmax_cross_entropy_at_extremes(dtype, targets):
    """Scores of +-M: the label's probability underflows to 0 for some rows, and -log(0 + 1e-7) is finite."""
    x = extreme_rows(dtype)
    labels = np.array([1, 0, 2, 0, 3, 1])
    t = labels if targets == "labels" else np.eye(4, dtype=dtype)[labels]
    expected = naive.softmax_cross_entropy(x, labels)
    assert expected > 5  # several rows put probability 0 on their label
    np.testing.assert_allclose(F.softmax_loss(x, t), expected, rtol=naive.RTOL[dtype])
    np.testing.assert_allclose(F.cross_entropy_error(F.softmax(x), t), expected, rtol=naive.RTOL[dtype])
    layer = L.SoftmaxWithLoss()
    loss = layer.forward(x, t)
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss, expected, rtol=naive.RTOL[dtype])
    dx = layer.backward()
    close(dx, naive.softmax_cross_entropy_backward(naive.softmax(x), t), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sigmoid_with_loss_at_extremes(dtype):
    x = extreme_rows(dtype)
    t = (np.arange(x.size).reshape(x.shape) % 2)
    layer = L.SigmoidWithLoss()
    loss = layer.forward(x, t)
    y = stable_sigmoid(x).reshape(-1)
    expected = naive.cross_entropy(np.c_[1 - y, y], t.reshape(-1))
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, expected, rtol=naive.RTOL[dtype])
    close(layer.backward(), (stable_sigmoid(x) - t) / x.shape[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(data=st.data())
def test_functions_never_overflow_for_any_finite_input(dtype, data):
    m = EXTREME[dtype]
    x = data.draw(naive.arrays(dtype, naive.batch_shapes(), elements=naive.floats(dtype, m)), label="x")
    for result in (F.sigmoid(x), F.sigmoid_grad(x), F.softmax(x), F.relu(x)):
        assert np.all(np.isfinite(result))
    labels = np.zeros(x.shape[0], dtype=int)
    assert np.isfinite(F.softmax_loss(x, labels))
    assert np.isfinite(F.cross_entropy_error(F.softmax(x), labels))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_network_with_extreme_inputs_stays_finite(dtype, activation):
    np.random.seed(0)
    net = nets.MultiLayerNet(4, [5, 5], 4, activation=activation, weight_init_std=1.0, dtype=dtype)
    x = extreme_rows(dtype)
    t = np.array([0, 1, 2, 3, 0, 1])
    assert np.all(np.isfinite(net.predict(x)))
    loss, grads = net.loss_and_gradient(x, t)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    assert 0 <= net.accuracy(x, t) <= 1


def test_mlp_sigmoid_at_extremes():
    mlp = NeuralNetMLP(verbose=False)
    z = np.array([-1e4, -800.0, 0.0, 800.0, 1e4])
    np.testing.assert_allclose(mlp._sigmoid(z), 1 / (1 + np.exp(-np.clip(z, -250, 250))), rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_batchnorm_with_a_constant_feature_stays_finite(dtype):
    """Zero batch variance: the book's eps keeps the division finite."""
    layer = L.BatchNormalization(np.ones(3, dtype), np.zeros(3, dtype))
    x = np.array([[1.0, 5.0, -2.0], [1.0, -5.0, 3.0], [1.0, 0.0, 4.0]], dtype=dtype)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    assert out.dtype == dx.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    assert np.all(np.isfinite(layer.forward(x, train_flg=False)))


# --- probabilities of exactly zero ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cross_entropy_of_exact_zeros(dtype):
    y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    expected = -math.log(dtype.type(1e-7))  # every label has probability 0
    for t in (np.array([0, 2, 1]), np.eye(3)[[0, 2, 1]]):
        loss = F.cross_entropy_error(y, t)
        assert loss.dtype == dtype
        np.testing.assert_allclose(loss, expected, rtol=naive.RTOL[dtype])
    assert np.isfinite(F.cross_entropy_error(np.zeros(5, dtype), 3))


@pytest.mark.parametrize("y", [[[-2.0, 1.0]], [[0.5, -1e-30]], [-np.inf, 1.0]])
def test_negative_probabilities_are_refused_not_turned_into_nan(y):
    """log(y + 1e-7) of y < -1e-7 is NaN (the book warns and returns it): raw scores passed as probabilities."""
    with pytest.raises(ValueError, match=r"y must hold probabilities .* softmax_loss"):
        F.cross_entropy_error(np.array(y), [0])


# --- NaN and inf propagate as in NumPy ------------------------------------------------------------------------------
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0]


def _reference(fn, x):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(x)


@pytest.mark.parametrize("name", ["sigmoid", "sigmoid_grad", "relu", "relu_grad", "step_function", "softmax"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(data=st.data())
def test_nan_and_inf_propagate_like_the_reference(name, dtype, data):
    x = data.draw(hnp.arrays(dtype, st.tuples(st.integers(1, 4), st.integers(1, 5)),
                             elements=st.sampled_from(SPECIALS) | naive.floats(dtype, 50)), label="x")
    got = _reference(getattr(F, name), x)  # (NumPy warns here too; so do the kernels as Python, NUMBA_DISABLE_JIT)
    expected = _reference(getattr(R, name), x)
    assert got.shape == expected.shape
    # scale 1: the reference's (1 - s) * s cancels near s = 1, so compare absolutely at the dtype's precision
    np.testing.assert_allclose(got, expected, equal_nan=True, **naive.tol(dtype, scale=1))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_nan_in_losses_propagates(dtype):
    x = np.array([[np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]], dtype=dtype)
    layer = L.SoftmaxWithLoss()
    with np.errstate(all="ignore"), warnings.catch_warnings():  # NaN in, NaN out: NumPy (and the kernels run
        warnings.simplefilter("ignore")  # as Python under NUMBA_DISABLE_JIT=1) may warn
        assert np.isnan(F.softmax_loss(x, [1, 1]))
        assert np.isnan(F.cross_entropy_error(x, [0, 1]))
        assert np.isfinite(F.cross_entropy_error(x, [1, 1]))  # only the labels' entries are read, as in the book
        assert np.isnan(F.sum_squared_error(x, np.zeros_like(x)))
        assert np.isinf(F.sum_squared_error(np.array([np.inf], dtype), np.zeros(1, dtype)))
        assert np.isnan(layer.forward(x, [1, 1])) and np.isnan(layer.backward()[0]).all()


# --- optimizers -----------------------------------------------------------------------------------------------------
OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("grad", ["zero", "tiny"])
def test_optimizers_stay_finite_on_zero_and_tiny_gradients(name, dtype, grad):
    """Zero gradients leave the parameters where they are (h = v = 0 divides 0 by 1e-7); subnormal gradients
    (squares underflow to 0) give finite, tiny steps."""
    tiny = np.finfo(dtype).smallest_subnormal
    params = {"W": np.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4), "b": np.zeros(4, dtype)}
    start = {k: v.copy() for k, v in params.items()}
    opt = getattr(fo, name)(lr=0.1)
    for step in range(30):
        g = {k: np.full_like(v, 0 if grad == "zero" else tiny * (-1) ** step) for k, v in params.items()}
        opt.update(params, g)
    for k, v in params.items():
        assert v.dtype == dtype and np.all(np.isfinite(v))
        if grad == "zero":
            np.testing.assert_array_equal(v, start[k])
        else:  # a step of at most lr * g / eps, a few ulps here
            np.testing.assert_allclose(v, start[k], atol=1e-6)
    for state in ("v", "h", "m"):
        for value in (getattr(opt, state, None) or {}).values():
            assert np.all(np.isfinite(value))


# --- the Trainer stops on non-finite weights ------------------------------------------------------------------------
class HiddenInfNet:
    """Softmax regression plus a parameter the loss never reads, whose gradient turns +inf at step ``bad_step``:
    the update makes it -inf while the loss stays finite (like a -inf bias behind a ReLU)."""

    def __init__(self, bad_step):
        r = np.random.default_rng(0)
        self.params = {"W": r.normal(size=(4, 3)), "b": np.zeros(3), "unused": np.zeros(2)}
        self.bad_step, self.calls, self.seen = bad_step, 0, []

    def loss(self, x, t):
        return F.softmax_loss(x @ self.params["W"] + self.params["b"], t)

    def gradient(self, x, t):
        self.seen.append({k: v.copy() for k, v in self.params.items()})
        y = F.softmax(x @ self.params["W"] + self.params["b"])
        y[np.arange(len(x)), t] -= 1
        y /= len(x)
        grads = {"W": x.T @ y, "b": y.sum(axis=0), "unused": np.zeros(2)}
        if self.calls == self.bad_step:
            grads["unused"][1] = np.inf
        self.calls += 1
        return grads

    def accuracy(self, x, t):
        return float(np.mean(np.argmax(x @ self.params["W"], axis=1) == t))


def _data():
    r = np.random.default_rng(1)
    x = r.normal(size=(30, 4))
    return x[:20], np.argmax(x[:20, :3], axis=1), x[20:], np.argmax(x[20:, :3], axis=1)


@pytest.mark.parametrize("loss_after_update", [True, False])
def test_non_finite_weights_with_a_finite_loss_stop_training(loss_after_update):
    net = HiddenInfNet(bad_step=6)
    arrays = dict(net.params)
    trainer = ft.Trainer(net, *_data(), epochs=5, mini_batch_size=5, verbose=False,
                         loss_after_update=loss_after_update)
    with pytest.raises(FloatingPointError, match=r"params\['unused'\] holds NaN or inf after the update at "
                                                 r"iteration 6 \(0-based, epoch 2\); the parameters were restored"):
        trainer.train()
    assert trainer.current_iter == 6 and len(trainer.train_loss_list) == 6
    for k, v in net.params.items():  # restored in place: the weights before the update that broke them
        assert v is arrays[k]
        np.testing.assert_array_equal(v, net.seen[6][k])


def test_non_finite_weights_are_kept_with_check_finite_false():
    net = HiddenInfNet(bad_step=2)
    ft.Trainer(net, *_data(), epochs=1, mini_batch_size=5, verbose=False, check_finite=False).train()
    assert net.params["unused"][1] == -np.inf and np.all(np.isfinite(net.params["W"]))
