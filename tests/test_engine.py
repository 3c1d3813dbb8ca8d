"""The network engine's contract: one compiled call per net method and per update, Python work per step that does
not grow with depth, no allocation in a repeated step, book-visible state, replaced parameters taking effect, and
the Trainer's fused loop giving the step-by-step loop's results."""
import contextlib
import cProfile
import io
import math
import pstats
import tracemalloc
import warnings

import numba
import numpy as np
import pytest

from fastnn import nets, optimizer, threads, trainer
from fastnn.reference import nets as rn
from fastnn.reference import trainer as rt

# with NUMBA_DISABLE_JIT=1 the kernels are Python functions: the profiler counts their calls, and they allocate
compiled_only = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="a property of the compiled kernels")
OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam")


def _calls(fn, repeat=5):
    """Python function calls cProfile counts for one fn() (after a warm-up call)."""
    fn()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(repeat):
        fn()
    profile.disable()
    return pstats.Stats(profile).total_calls / repeat


def _data(n, width, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, width)), rng.integers(0, classes, n)


@compiled_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_calls_per_step_do_not_grow_with_depth(dtype, monkeypatch):
    # the thread policy samples the machine's load every BUSY_SAMPLE_SECONDS of wall time: a sample falling among
    # the profiled calls of one depth only (a busy machine) would count as calls that depth made
    monkeypatch.setattr(threads, "BUSY_SAMPLE_SECONDS", math.inf)
    x, t = _data(800, 20)  # batches of 8: no epoch evaluation among the profiled steps
    counts = []
    for hidden in ([30], [30] * 5):
        net = nets.MultiLayerNet(20, hidden, 10, dtype=dtype)
        sgd = optimizer.Adam()
        counts.append(_calls(lambda: sgd.update(net.params, net.gradient(x, t))))
    assert counts[0] == counts[1]
    step_counts = []
    for hidden in ([30], [30] * 5):
        net = nets.MultiLayerNetExtend(20, hidden, 10, use_batchnorm=True, use_dropout=True, dtype=dtype)
        tr = trainer.Trainer(net, x, t, x, t, epochs=1000, mini_batch_size=8, optimizer="Momentum", verbose=False)
        tr.train_step()  # the epoch evaluation of iteration 0
        step_counts.append(_calls(tr.train_step))
    assert step_counts[0] == step_counts[1]


@compiled_only
def test_a_repeated_step_allocates_nothing_large():
    x, t = _data(100, 784)
    x = x.astype(np.float32)
    net = nets.TwoLayerNet(784, 100, 10, dtype=np.float32)
    sgd = optimizer.SGD(0.1)
    for _ in range(3):
        sgd.update(net.params, net.gradient(x, t))
    tracemalloc.start()
    for _ in range(10):
        sgd.update(net.params, net.gradient(x, t))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4096  # a batch's activations alone would be 40 kB


def test_book_visible_state_after_gradient():
    np.random.seed(0)
    fast = nets.MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, use_dropout=True, dropout_ration=0.3)
    np.random.seed(0)
    book = rn.MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, use_dropout=True, dropout_ration=0.3)
    x, t = _data(7, 6, 3)
    np.random.seed(1)
    fast.gradient(x, t)
    np.random.seed(1)
    book.gradient(x, t)
    for key in book.params:
        name, idx = key.rstrip("0123456789"), key[len(key.rstrip("0123456789")):]
        layer = fast.layers[("Affine" if name in "Wb" else "BatchNorm") + idx]
        assert fast.params[key] is layer.params[0 if name in ("W", "gamma") else 1]
    for name, layer in book.layers.items():
        mine = fast.layers[name]
        for attr in ("x", "dW", "db", "mask", "out", "xc", "xn", "std", "running_mean", "running_var", "dgamma",
                     "dbeta"):
            if hasattr(layer, attr) and getattr(layer, attr) is not None:
                np.testing.assert_allclose(np.asarray(getattr(mine, attr), float),
                                           np.asarray(getattr(layer, attr), float), rtol=1e-12, atol=1e-14,
                                           err_msg=f"{name}.{attr}")
    np.testing.assert_allclose(fast.last_layer.y, book.last_layer.y, rtol=1e-12)
    np.testing.assert_array_equal(fast.last_layer.t, book.last_layer.t)
    assert fast.last_layer.loss == pytest.approx(book.last_layer.loss, rel=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_row_gradient(dtype):
    """At batch 1 the weight gradients are outer products written by a loop (GEMM from two rows on): the book's
    values in both dtypes, from a non-contiguous row, for every layer and for the Trainer's fused steps too."""
    np.random.seed(2)
    fast = nets.MultiLayerNet(7, [6, 5], 4, activation="sigmoid", dtype=dtype)
    np.random.seed(2)
    book = rn.MultiLayerNet(7, [6, 5], 4, activation="sigmoid")
    x = np.random.default_rng(3).random((1, 14)).astype(dtype)[:, ::2]  # every other column: not contiguous
    t = np.array([2])
    grads, want = fast.gradient(x, t), book.gradient(x.astype(np.float64), t)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for key in want:
        assert np.abs(want[key]).max() > 1e-6, key  # not a comparison of zeros
        np.testing.assert_allclose(grads[key], want[key], rtol=rtol, atol=rtol * np.abs(want[key]).max(),
                                   err_msg=key)
    np.testing.assert_allclose(grads["W1"], np.outer(x, want["b1"]), rtol=rtol)  # dW1 = x.T @ dout1 by hand
    xs, ts = _data(12, 7, 4)
    fused = trainer.Trainer(fast, xs.astype(dtype), ts, xs, ts, epochs=1, mini_batch_size=1, verbose=False)
    stepwise = rt.Trainer(book, xs, ts, xs, ts, epochs=1, mini_batch_size=1, verbose=False)
    for tr in (fused, stepwise):  # the same batches: np.random.choice after the same seed
        np.random.seed(4)
        tr.train()
    np.testing.assert_allclose(fused.train_loss_list, stepwise.train_loss_list, rtol=100 * rtol)


def test_replaced_parameters_and_statistics_take_effect():
    net = nets.MultiLayerNetExtend(6, [5], 3, use_batchnorm=True)
    x, t = _data(4, 6, 3)
    before = net.predict(x)
    W = np.random.default_rng(1).standard_normal((6, 5))
    net.params["W1"] = W.copy()  # the dict entry only
    after = net.predict(x)
    assert not np.allclose(after, before)
    np.testing.assert_array_equal(net.params["W1"], W)
    assert net.params["W1"] is net.layers["Affine1"].W  # adopted: one array again
    net.layers["Affine2"].W = np.zeros((5, 3))  # the layer only, as the book's load_params does
    np.testing.assert_array_equal(net.predict(x), np.zeros((4, 3)) + net.params["b2"])
    assert net.params["W2"] is net.layers["Affine2"].W
    bn = net.layers["BatchNorm1"]
    bn.running_mean, bn.running_var = np.full(5, 2.0), np.full(5, 4.0)  # a checkpoint's restore
    net.predict(x)
    np.testing.assert_array_equal(bn.running_mean, np.full(5, 2.0))
    with pytest.raises(ValueError, match="W1"):
        net.params["W1"] = np.zeros((2, 2))
        net.predict(x)


def test_gradient_dict_is_reused_and_update_is_one_call():
    net = nets.TwoLayerNet(8, 6, 4)
    x, t = _data(5, 8, 4)
    g1 = net.gradient(x, t)
    assert g1 is net.gradient(x, t) and g1["W1"] is net.layers["Affine1"].dW
    opt = optimizer.Adam()
    opt.update(net.params, g1)
    assert opt._flat is not None  # the one-call path
    assert opt.m["W1"].base is opt.v["W1"].base or opt.m["W1"].base is not None


def _train(net_module, trainer_module, opt, extra, seed_mode=False, **kwargs):
    x, t = _data(90, 12, 5, seed=3)
    np.random.seed(0)
    net = net_module.MultiLayerNetExtend(12, [16, 8], 5, **extra)
    options = {"seed": 7} if seed_mode else {}
    tr = trainer_module.Trainer(net, x, t, x[:30], t[:30], epochs=3, mini_batch_size=16, optimizer=opt,
                                optimizer_param={"lr": 0.05}, verbose=True, **options, **kwargs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tr.train()
    return tr, out.getvalue()


class _StepByStep(nets.MultiLayerNetExtend):
    """A subclass: the Trainer's fused loop only runs fastnn's own classes, so this one trains step by step."""


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("extra", [{}, {"use_dropout": True, "use_batchnorm": True, "weight_decay_lambda": 0.01}])
def test_fused_trainer_matches_the_book_trainer(opt, extra):
    fast, fast_out = _train(nets, trainer, opt, extra)
    book, book_out = _train(rn, rt, opt, extra)
    assert fast._loop is not None
    assert fast_out.count("\n") == book_out.count("\n")
    np.testing.assert_allclose(np.array(fast.train_loss_list, float), np.array(book.train_loss_list, float),
                               rtol=1e-9)
    assert fast.test_acc_list == book.test_acc_list


@pytest.mark.parametrize("kwargs", [{}, {"loss_after_update": False}, {"seed_mode": True}])
def test_fused_trainer_matches_the_step_by_step_path(kwargs):
    extra = {"use_dropout": True, "use_batchnorm": True}
    seed_mode = kwargs.pop("seed_mode", False)
    fused, _ = _train(nets, trainer, "Adam", extra, seed_mode, **kwargs)
    stepwise_module = type("M", (), {"MultiLayerNetExtend": _StepByStep})
    slow, _ = _train(stepwise_module, trainer, "Adam", extra, seed_mode, **kwargs)
    assert fused._loop is not None and slow._loop is None
    np.testing.assert_allclose(np.array(fused.train_loss_list, float), np.array(slow.train_loss_list, float),
                               rtol=1e-10)
    assert fused.optimizer.iter == slow.optimizer.iter


@pytest.mark.parametrize("lr, x_scale", [(1e300, 1.0), (1.0, 1e200)])  # parameters or scores overflow
@pytest.mark.parametrize("loss_after_update", [True, False])
def test_fused_trainer_stops_when_training_diverges_like_the_step_by_step_path(lr, x_scale, loss_after_update):
    x, t = _data(64, 10, 4, seed=5)
    results = []
    for cls in (nets.TwoLayerNet, type("Sub", (nets.TwoLayerNet,), {})):
        np.random.seed(2)
        net = cls(10, 8, 4, weight_init_std=1.0)
        tr = trainer.Trainer(net, x * x_scale, t, x, t, epochs=5, mini_batch_size=8, optimizer="SGD",
                             optimizer_param={"lr": lr}, verbose=False, loss_after_update=loss_after_update)
        with pytest.raises(FloatingPointError) as info:
            tr.train()
        results.append((str(info.value), list(tr.train_loss_list), {k: v.copy() for k, v in net.params.items()}))
    (msg_a, losses_a, params_a), (msg_b, losses_b, params_b) = results
    assert msg_a == msg_b
    np.testing.assert_allclose(losses_a, losses_b, rtol=1e-12)
    for key in params_a:
        np.testing.assert_array_equal(params_a[key], params_b[key])


def test_a_diverging_network_warns_where_the_book_warns():
    net = nets.TwoLayerNet(4, 3, 2, weight_init_std=1.0)
    x, t = _data(5, 4, 2)
    with pytest.warns(RuntimeWarning, match="not finite|inf|nan"):
        net.gradient(x * 1e308, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.gradient(x, t)  # a finite loss: silent
