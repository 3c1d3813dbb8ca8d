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

from fastnn import callbacks as fc
from fastnn import functions as F
from fastnn import layers as L
from fastnn import nets
from fastnn import optimizer as fo
from fastnn import trainer as ft
from fastnn.mlp import NeuralNetMLP
from fastnn.reference import functions as R
from fastnn.reference import nets as rn

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


def _one_hot_callers(dtype):
    """Every public entry that takes one-hot targets t for scores x (3 classes), as (name, call(x, t))."""
    net = nets.TwoLayerNet(4, 5, 3, dtype=dtype)
    x_net = np.linspace(-1, 1, 8, dtype=dtype).reshape(2, 4)
    return [("cross_entropy_error", lambda x, t: F.cross_entropy_error(F.softmax(x), t)),
            ("softmax_loss", F.softmax_loss),
            ("SoftmaxWithLoss", lambda x, t: L.SoftmaxWithLoss().forward(x, t)),
            ("net.loss", lambda x, t: net.loss(x_net, t)),
            ("net.gradient", lambda x, t: net.gradient(x_net, t)),
            ("net.accuracy", lambda x, t: net.accuracy(x_net, t))]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39], ids=["nan", "inf", "-inf", "1e39"])
def test_non_finite_one_hot_rows_are_refused_like_nan_labels(dtype, bad):
    """A NaN in a one-hot row gave a finite loss and a NaN gradient, silently; a NaN label is refused. 1e39 is
    finite in float64 but inf once cast to float32, the dtype the loss is computed in."""
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype=dtype)
    t = np.eye(3)[[0, 2]]
    t[1, 1] = bad
    for name, call in _one_hot_callers(dtype):
        if bad == 1e39 and dtype == np.float64:
            call(x, t)  # finite: accepted as before
            continue
        with pytest.raises(ValueError, match=r"^t must hold finite numbers") as info:
            call(x, t)
        assert "(1, 1)" in str(info.value), name  # where the first one is
    with pytest.raises(ValueError, match="^t holds float labels"):  # the labels' refusal, for comparison
        F.softmax_loss(x, np.array([0.0, np.nan]))


# --- optimizers -----------------------------------------------------------------------------------------------------
OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _snapshot(net, optimizer):
    return {k: v.copy() for k, v in net.params.items()}, optimizer.state_dict()


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("how", ["update", "trainer"])
def test_a_parameter_made_read_only_after_the_first_update_is_refused(name, how):
    """The one-call update over a network's flat buffer (_FlatPlan, cached after the first update) refused a
    parameter made read-only afterwards as the per-parameter path does, before anything changes; so does the
    Trainer's compiled loop, which uses that plan."""
    np.random.seed(0)
    net = nets.TwoLayerNet(4, 5, 3)
    x, t = np.random.rand(10, 4), np.random.randint(0, 3, 10)
    if how == "update":
        optimizer = getattr(fo, name)(lr=0.01)
        optimizer.update(net.params, net.gradient(x, t))
        step = lambda: optimizer.update(net.params, net.gradient(x, t))  # noqa: E731
    else:
        trainer = ft.Trainer(net, x, t, x, t, epochs=2, mini_batch_size=5, optimizer=name, verbose=False)
        trainer.train_step()
        optimizer, step = trainer.optimizer, trainer.train_step
    assert optimizer._flat is not None  # the one-call path is in use (else this tests the other path)
    net.params["b1"].flags.writeable = False
    before = _snapshot(net, optimizer)
    with pytest.raises(ValueError, match=r"params\['b1'\] is read-only"):
        step()
    np.testing.assert_equal(_snapshot(net, optimizer), before)
    net.params["b1"].flags.writeable = True  # writable again: updates go on
    step()
    assert not np.array_equal(net.params["b1"], before[0]["b1"])


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
    ft.Trainer(net, *_data(), epochs=1, mini_batch_size=5, verbose=False,
               callbacks=[fc.FiniteCheck(enabled=False)]).train()
    assert net.params["unused"][1] == -np.inf and np.all(np.isfinite(net.params["W"]))


# --- the Trainer refuses what it cannot train before any step ------------------------------------------------------
class _Stepwise(nets.TwoLayerNet):
    """A subclass: the Trainer runs it step by step (the fused loop runs fastnn's own classes only)."""


NETS_TO_TRAIN = {"fused": lambda: nets.TwoLayerNet(4, 5, 3, weight_init_std=0.3),
                 "step by step": lambda: _Stepwise(4, 5, 3, weight_init_std=0.3),
                 "the book's class": lambda: rn.TwoLayerNet(4, 5, 3, weight_init_std=0.3)}


def _copies(params):
    return {k: v.copy() for k, v in params.items()}


@pytest.mark.parametrize("loss_after_update", [True, False])
@pytest.mark.parametrize("key, value", [("W1", np.nan), ("b2", np.inf)])
@pytest.mark.parametrize("kind", sorted(NETS_TO_TRAIN))
@pytest.mark.parametrize("call", ["train", "train_step"])
def test_non_finite_parameters_before_training_are_refused(call, kind, key, value, loss_after_update):
    """Parameters that hold NaN or inf before the first step are refused, naming the parameter; nothing is
    drawn, trained or recorded (the old check raised 'the parameters were restored' and left them NaN)."""
    np.random.seed(0)
    net = NETS_TO_TRAIN[kind]()
    net.params[key][0] = value
    before = _copies(net.params)
    trainer = ft.Trainer(net, *_data(), epochs=2, mini_batch_size=5, verbose=False,
                         loss_after_update=loss_after_update)
    state = np.random.get_state()[1].copy()
    with pytest.raises(ValueError, match=rf"network.params\['{key}'\] holds NaN or inf before training") as info:
        getattr(trainer, call)()
    assert "restored" not in str(info.value)
    assert trainer.current_iter == 0 and trainer.train_loss_list == [] and trainer.train_acc_list == []
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # no batch drawn
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, before[k])  # (NaN == NaN here)


def test_non_finite_parameters_are_trained_like_the_book_with_the_check_off():
    net = nets.TwoLayerNet(4, 5, 3)
    net.params["W1"][0] = np.nan
    trainer = ft.Trainer(net, *_data(), epochs=1, mini_batch_size=5, verbose=False,
                         callbacks=[fc.FiniteCheck(enabled=False)])
    with pytest.warns(RuntimeWarning, match="loss is nan"):
        trainer.train()
    assert len(trainer.train_loss_list) == 4 and np.isnan(trainer.train_loss_list).all()


def _misfits():
    """(argument, changes to the data, text of the message): data sets that do not fit a 4-5-3 network."""
    x_train, t_train, x_test, t_test = _data()
    wide = np.hstack([x_test, x_test[:, :1]])
    return [("x_test", dict(x_test=wide), "x_test must have 4 features per row"),
            ("x_test", dict(x_test=x_test[:, :3]), "x_test must have 4 features per row"),
            ("x_train", dict(x_train=np.hstack([x_train, x_train[:, :1]])), "x_train must have 4 features per row"),
            ("x_val", dict(validation=(wide, t_test)), "x_val must have 4 features per row")]


@pytest.mark.parametrize("kind", sorted(NETS_TO_TRAIN))
@pytest.mark.parametrize("name, changes, message", _misfits(), ids=lambda v: v if isinstance(v, str) else "")
def test_data_that_does_not_fit_the_network_is_refused_when_the_trainer_is_built(kind, name, changes, message):
    """Every data set is checked against the network's input width when the Trainer is built, the message naming
    the argument (the old Trainer accepted a too-wide x_test, made an update, then failed naming 'x')."""
    net = NETS_TO_TRAIN[kind]()
    before = _copies(net.params)
    data = dict(zip(("x_train", "t_train", "x_test", "t_test"), _data()))
    changes = dict(changes)
    validation = changes.pop("validation", None)
    data.update(changes)
    callbacks = [] if validation is None else [fc.Validation(*validation)]
    with pytest.raises(ValueError, match=message):
        ft.Trainer(net, **data, epochs=1, mini_batch_size=5, verbose=False, callbacks=callbacks).train()
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("name", ["t_train", "t_test", "t_val"])
def test_labels_that_do_not_fit_a_fastnn_network_are_refused_when_the_trainer_is_built(name):
    x_train, t_train, x_test, t_test = _data()
    data = {"t_train": t_train, "t_test": t_test, "t_val": t_test}
    data[name] = data[name].copy()
    data[name][-1] = 3  # a 4th class for a 3-class network
    net = nets.TwoLayerNet(4, 5, 3)
    before = _copies(net.params)
    with pytest.raises(ValueError, match=rf"{name} holds labels out of range"):
        ft.Trainer(net, x_train, data["t_train"], x_test, data["t_test"], epochs=1, mini_batch_size=5, verbose=False,
                   callbacks=[fc.Validation(x_test, data["t_val"])]).train()
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_a_net_whose_width_cannot_be_told_is_not_checked():
    """A network without an engine or a 2-D params['W1'] (here: softmax regression with params W and b) trains
    whatever the width: the Trainer does not guess."""
    net = HiddenInfNet(bad_step=-1)
    trainer = ft.Trainer(net, *_data(), epochs=1, mini_batch_size=5, verbose=False)
    trainer.train()
    assert len(trainer.train_loss_list) == 4


class NanLossNet(HiddenInfNet):
    """HiddenInfNet whose gradient of W turns NaN at step ``bad_step``: every loss after that update is NaN. Its
    loss is plain NumPy, which warns nothing about NaN (fastnn's softmax_loss would)."""

    def loss(self, x, t):
        a = x @ self.params["W"] + self.params["b"]
        y = np.exp(a - a.max(axis=1, keepdims=True))
        return -np.mean(np.log((y / y.sum(axis=1, keepdims=True))[np.arange(len(x)), t] + 1e-7))

    def gradient(self, x, t):
        grads = super().gradient(x, t)
        grads["unused"][...] = 0
        if self.calls - 1 == self.bad_step:
            grads["W"][0, 0] = np.nan
        return grads


@pytest.mark.parametrize("loss_after_update", [True, False])
def test_a_non_finite_loss_with_the_check_off_warns_once_per_run(loss_after_update):
    """The step-by-step path, like the compiled one: a NaN recorded loss with the check off gives a RuntimeWarning
    (one per train(), however many losses are NaN), which the warnings module can filter."""
    net = NanLossNet(bad_step=2)
    trainer = ft.Trainer(net, *_data(), epochs=3, mini_batch_size=5, verbose=False,
                         loss_after_update=loss_after_update, callbacks=[fc.FiniteCheck(enabled=False)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    assert sum(np.isnan(trainer.train_loss_list)) >= 8
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1 and "loss is nan" in str(runtime[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trainer.train()  # filtered: silent (this module turns warnings into errors)
    with pytest.raises(RuntimeWarning, match="loss is nan"):
        trainer.train()  # the next run warns again
