"""fastnn.trainer against both books' trainers (fastnn.reference.trainer), and the first-book extras.

The equivalence tests run the *same* network code under both trainers (a reference TwoLayerNet, or the small
networks below), so any difference comes from the trainer and its optimizer: recorded numbers must agree to
1e-10, printed lines must agree in text and (to 1e-10) in their numbers, and both trainers must consume the same
number of global RNG draws.
"""
import contextlib
import io
import re
import sys
import types

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnn import callbacks as fc
from fastnn import nets as fn
from fastnn import optimizer as fo
from fastnn import trainer as ft
from fastnn.reference import nets as rn
from fastnn.reference import optimizer as ro
from fastnn.reference import trainer as rt

TOL = 1e-10
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)")
LR = {"sgd": 0.2, "momentum": 0.1, "nesterov": 0.05, "adagrad": 0.1, "rmsprop": 0.01, "rmsprpo": 0.01,
      "adam": 0.02}


# --- data and networks ----------------------------------------------------------------------------------------------
def make_data(n, n_features=4, n_classes=3, seed=0, onehot=False):
    """A learnable problem: the class is the argmax of a fixed linear map of the features."""
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, n_features))
    t = np.argmax(x @ r.normal(size=(n_features, n_classes)), axis=1)
    return x, (np.eye(n_classes)[t] if onehot else t)


def reference_net(seed=0, n_features=4, hidden=5, n_classes=3):
    """A reference (book) TwoLayerNet with parameters that depend only on ``seed``, not on np.random."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return rn.TwoLayerNet(n_features, hidden, n_classes, weight_init_std=0.5)
    finally:
        np.random.set_state(state)


def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class TinyNet:
    """Softmax regression with the book-1 network API, in plain NumPy, for the behaviour tests."""

    def __init__(self, n_features=4, n_classes=3, seed=0):
        r = np.random.default_rng(seed)
        self.params = {"W": r.normal(scale=0.5, size=(n_features, n_classes)), "b": np.zeros(n_classes)}
        self.loss_calls = 0
        self.gradient_calls = 0

    def predict(self, x):
        return x @ self.params["W"] + self.params["b"]

    def _labels(self, t):
        return t if t.ndim == 1 else np.argmax(t, axis=1)

    def loss(self, x, t):
        self.loss_calls += 1
        y = softmax(self.predict(x))
        return -np.mean(np.log(y[np.arange(len(x)), self._labels(t)] + 1e-7))

    def gradient(self, x, t):
        self.gradient_calls += 1
        dy = softmax(self.predict(x))
        dy[np.arange(len(x)), self._labels(t)] -= 1
        dy /= len(x)
        return {"W": x.T @ dy, "b": dy.sum(axis=0)}

    def accuracy(self, x, t):
        return np.sum(np.argmax(self.predict(x), axis=1) == self._labels(t)) / float(x.shape[0])


class FusedNet(TinyNet):
    """TinyNet that also offers loss_and_gradient (one forward pass for both), and logs what it returned."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fused_losses = []

    def loss_and_gradient(self, x, t):
        loss = TinyNet.loss(self, x, t)
        self.loss_calls -= 1  # count only the book's separate loss() calls
        self.fused_losses.append(loss)
        return loss, self.gradient(x, t)


class PoisonNet(TinyNet):
    """Returns NaN gradients (so the update makes the parameters NaN) from gradient call ``poison_at`` on; records
    the parameters seen at each gradient call (i.e. before each update)."""

    def __init__(self, poison_at, **kwargs):
        super().__init__(**kwargs)
        self.poison_at = poison_at
        self.seen = []

    def gradient(self, x, t):
        self.seen.append({k: v.copy() for k, v in self.params.items()})
        grads = super().gradient(x, t)
        if self.gradient_calls > self.poison_at:
            grads["W"][0, 0] = np.nan
        return grads


class FusedPoisonNet(PoisonNet):
    """loss_and_gradient whose loss is NaN from call ``poison_at`` on (parameters untouched)."""

    def loss_and_gradient(self, x, t):
        grads = self.gradient(x, t)
        loss = np.nan if self.gradient_calls > self.poison_at else TinyNet.loss(self, x, t)
        return loss, grads


class TiedModel:
    """A second-book model (forward(x, t) -> loss, backward(), params/grads lists) whose parameter list has a
    layer used twice (the same arrays listed twice) and an output matrix tied to the input one as a transposed
    view, so remove_duplicate has both of its rules to apply::

        h1 = tanh(x W1 + b1); h2 = tanh(h1 W2 + b2); h3 = tanh(h2 W2 + b2); scores = h3 W1.T
    """

    def __init__(self, n_in=5, hidden=4, seed=0):
        r = np.random.default_rng(seed)
        self.W1 = r.normal(scale=0.5, size=(n_in, hidden))
        self.b1 = np.zeros(hidden)
        self.W2 = r.normal(scale=0.5, size=(hidden, hidden))
        self.b2 = np.zeros(hidden)
        self.params = [self.W1, self.b1, self.W2, self.b2, self.W2, self.b2, self.W1.T]
        self.grads = [np.zeros_like(p) for p in self.params]

    def forward(self, x, t):
        self.x, self.t = x, t
        self.h1 = np.tanh(x @ self.W1 + self.b1)
        self.h2 = np.tanh(self.h1 @ self.W2 + self.b2)
        self.h3 = np.tanh(self.h2 @ self.W2 + self.b2)
        self.y = softmax(self.h3 @ self.W1.T)
        return -np.mean(np.log(self.y[np.arange(len(x)), t] + 1e-7))

    def backward(self, dout=1):
        n = len(self.x)
        ds = self.y.copy()
        ds[np.arange(n), self.t] -= 1
        ds *= dout / n
        g = self.grads
        g[6][...] = self.h3.T @ ds  # the tied output matrix, shape (hidden, n_in)
        da3 = (ds @ self.W1) * (1 - self.h3 ** 2)
        g[4][...], g[5][...] = self.h2.T @ da3, da3.sum(axis=0)
        da2 = (da3 @ self.W2.T) * (1 - self.h2 ** 2)
        g[2][...], g[3][...] = self.h1.T @ da2, da2.sum(axis=0)
        da1 = (da2 @ self.W2.T) * (1 - self.h1 ** 2)
        g[0][...], g[1][...] = self.x.T @ da1, da1.sum(axis=0)


# --- comparing runs ---------------------------------------------------------------------------------------------------
def split_numbers(text):
    """(text with every number replaced by '#', the numbers as floats)."""
    return NUMBER.sub("#", text), [float(v) for v in NUMBER.findall(text)]


def assert_same_output(actual, desired, ignore_time=False):
    a_lines, d_lines = actual.splitlines(), desired.splitlines()
    assert len(a_lines) == len(d_lines)
    for a, d in zip(a_lines, d_lines):
        if ignore_time:
            a, d = (re.sub(r"time \d+\[s\]", "time #[s]", s) for s in (a, d))
        a_text, a_num = split_numbers(a)
        d_text, d_num = split_numbers(d)
        assert a_text == d_text
        np.testing.assert_allclose(a_num, d_num, rtol=TOL, atol=TOL)


def run_book1(trainer_cls, net, data, **kwargs):
    """(trainer after train(), its stdout, the next global random number: how far the stream moved)."""
    x_train, t_train, x_test, t_test = data
    global_seed = kwargs.pop("global_seed", 7)
    if global_seed is not None:
        np.random.seed(global_seed)
    trainer = trainer_cls(net, x_train, t_train, x_test, t_test, **kwargs)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        trainer.train()
    return trainer, out.getvalue(), np.random.rand()


def assert_same_book1(fast, ref):
    (tf, out_f, after_f), (tr, out_r, after_r) = fast, ref
    np.testing.assert_allclose(np.array(tf.train_loss_list, dtype=float), np.array(tr.train_loss_list, dtype=float),
                               rtol=TOL, atol=TOL)
    np.testing.assert_allclose(tf.train_acc_list, tr.train_acc_list, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(tf.test_acc_list, tr.test_acc_list, rtol=TOL, atol=TOL)
    for attr in ("train_size", "iter_per_epoch", "max_iter", "current_iter", "current_epoch", "batch_size"):
        assert getattr(tf, attr) == getattr(tr, attr), attr
    assert after_f == after_r
    assert_same_output(out_f, out_r)


def split(x, t, n_train):
    return x[:n_train], t[:n_train], x[n_train:], t[n_train:]


# --- first book: equivalence ----------------------------------------------------------------------------------------
@given(name=st.sampled_from(sorted(LR)), upper=st.booleans(), n_train=st.integers(1, 40),
       batch=st.integers(1, 20), epochs=st.integers(0, 3), sample=st.one_of(st.none(), st.integers(1, 12)),
       onehot=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_book1_matches_reference(name, upper, n_train, batch, epochs, sample, onehot, seed):
    x, t = make_data(n_train + 10, seed=seed, onehot=onehot)
    data = split(x, t, n_train)
    kwargs = dict(epochs=epochs, mini_batch_size=batch, optimizer=name.upper() if upper else name,
                  optimizer_param={"lr": LR[name]}, evaluate_sample_num_per_epoch=sample, global_seed=seed)
    fast = run_book1(ft.Trainer, reference_net(seed), data, **kwargs)
    ref = run_book1(rt.Trainer, reference_net(seed), data, **kwargs)
    assert_same_book1(fast, ref)


def test_book1_default_arguments_and_output():
    """Defaults (SGD lr 0.01, 20 epochs, batch 100) on 250 samples: iter_per_epoch 2.5, so the book evaluates at
    iterations 0, 5, 10, ... (every other epoch); both trainers print exactly the same lines."""
    x, t = make_data(300, seed=3)
    data = split(x, t, 250)
    fast = run_book1(ft.Trainer, reference_net(3), data)
    ref = run_book1(rt.Trainer, reference_net(3), data)
    assert_same_book1(fast, ref)
    trainer, out = fast[0], fast[1]
    assert trainer.max_iter == 50 and trainer.current_epoch == 10
    lines = out.splitlines()
    assert lines[0].startswith("train loss:") and lines[1].startswith("=== epoch:1, train acc:")
    assert lines[-2:] == ["=============== Final Test Accuracy ===============", lines[-1]]
    assert lines[-1] == "test acc:" + str(trainer.network.accuracy(data[2], data[3]))
    assert sum(line.startswith("train loss:") for line in lines) == 50


@pytest.mark.parametrize("make", [
    lambda nets: nets.TwoLayerNet(6, 8, 3, weight_init_std=0.3),
    lambda nets: nets.MultiLayerNetExtend(6, [8, 8], 3, use_dropout=True, dropout_ration=0.2, use_batchnorm=True,
                                          weight_decay_lambda=0.01),
], ids=["TwoLayerNet", "MultiLayerNetExtend-dropout-batchnorm"])
def test_drop_in_with_fastnn_nets(make):
    """The migration as a user does it: fastnn nets + fastnn Trainer vs the book's nets + the book's Trainer, both
    built under the same np.random.seed (dropout draws from np.random inside gradient())."""
    x, t = make_data(60, n_features=6, seed=5)
    data = split(x, t, 45)
    runs = []
    for nets, trainer_cls in ((fn, ft.Trainer), (rn, rt.Trainer)):
        np.random.seed(11)
        runs.append(run_book1(trainer_cls, make(nets), data, epochs=3, mini_batch_size=9, optimizer="Adam",
                              optimizer_param={"lr": 0.01}, global_seed=None))
    assert_same_book1(*runs)
    for (k, a), b in zip(runs[0][0].network.params.items(), runs[1][0].network.params.values()):
        # atol: a bias feeding batch normalisation has a zero gradient, so it only moves by rounding noise
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10, err_msg=k)


def test_float32_network_stays_float32():
    x, t = make_data(40, n_features=6)
    np.random.seed(0)
    net = fn.TwoLayerNet(6, 8, 3, weight_init_std=0.3, dtype=np.float32)
    arrays = dict(net.params)
    trainer = ft.Trainer(net, *split(x.astype(np.float32), t, 30), epochs=3, mini_batch_size=6, verbose=False,
                         optimizer="momentum", optimizer_param={"lr": 0.1}, callbacks=[fc.EarlyStopping(5)])
    trainer.train()
    assert all(v is arrays[k] and v.dtype == np.float32 for k, v in net.params.items())
    assert all(np.isfinite(trainer.train_loss_list)) and trainer.train_loss_list[-1] < trainer.train_loss_list[0]


def test_book1_quiet_prints_nothing(capsys):
    x, t = make_data(30)
    trainer = ft.Trainer(TinyNet(), *split(x, t, 20), epochs=2, mini_batch_size=5, verbose=False)
    trainer.train()
    assert capsys.readouterr().out == ""
    assert len(trainer.train_loss_list) == trainer.max_iter == 8


def test_book1_loss_recorded_after_update():
    """The book records a second forward pass on the batch after the update: one loss() call per step."""
    x, t = make_data(30)
    net = TinyNet()
    before = {k: v.copy() for k, v in net.params.items()}
    np.random.seed(0)
    mask = np.random.choice(20, 5)
    np.random.seed(0)
    trainer = ft.Trainer(net, *split(x, t, 20), epochs=1, mini_batch_size=5, optimizer="sgd",
                         optimizer_param={"lr": 0.5}, verbose=False)
    trainer.train_step()
    probe = TinyNet()
    probe.params = {k: v.copy() for k, v in before.items()}
    grads = probe.gradient(x[mask], t[mask])
    for k in probe.params:
        probe.params[k] -= 0.5 * grads[k]
    assert trainer.train_loss_list == [probe.loss(x[mask], t[mask])]
    assert net.loss_calls == 1 and net.gradient_calls == 1


@pytest.mark.parametrize("name, cls", [("rmsprpo", "RMSprop"), ("RMSprop", "RMSprop"), ("Nesterov", "Nesterov"),
                                       ("AdaGrad", "AdaGrad"), ("momentum", "Momentum"), ("ADAM", "Adam")])
def test_optimizer_lookup(name, cls):
    x, t = make_data(10)
    trainer = ft.Trainer(TinyNet(), *split(x, t, 5), optimizer=name, optimizer_param={"lr": 0.3})
    assert type(trainer.optimizer) is getattr(fo, cls)
    assert trainer.optimizer.lr == 0.3


# --- second book: equivalence ---------------------------------------------------------------------------------------
def test_tied_model_gradient_is_right():
    """The test model's backward (after remove_duplicate) matches central differences on its unique weights."""
    x, t = make_data(6, n_features=5, n_classes=5, seed=1)
    model = TiedModel(seed=1)
    model.forward(x, t)
    model.backward()
    params, grads = rt.remove_duplicate(model.params, model.grads)
    assert len(params) == 4 and params[0] is model.W1 and params[2] is model.W2
    for p, g in zip(params, grads):
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + 1e-5
            up = model.forward(x, t)
            p[idx] = old - 1e-5
            down = model.forward(x, t)
            p[idx] = old
            num[idx] = (up - down) / 2e-5
        np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-6)  # the +1e-7 inside log: ~1e-7 off


BOOK2 = {"SGD": (fo.SGD, ro.SGD2, 0.5), "Momentum": (fo.Momentum, ro.Momentum2, 0.1),
         "Nesterov": (fo.Nesterov, ro.Nesterov2, 0.1), "AdaGrad": (fo.AdaGrad, ro.AdaGrad2, 0.1),
         "RMSprop": (fo.RMSprop, ro.RMSprop2, 0.01), "Adam": (fo.Adam, ro.Adam2, 0.02)}


def run_book2(trainer, x, t, global_seed, **fit_kwargs):
    np.random.seed(global_seed)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        trainer.fit(x, t, **fit_kwargs)
    return trainer, out.getvalue(), np.random.rand()


@given(name=st.sampled_from(sorted(BOOK2)), n=st.integers(1, 40), batch=st.integers(1, 12),
       max_epoch=st.integers(0, 3), max_grad=st.one_of(st.none(), st.floats(0.01, 2.0)),
       eval_interval=st.one_of(st.none(), st.integers(1, 4)), seed=st.integers(0, 2 ** 16))
def test_book2_matches_reference(name, n, batch, max_epoch, max_grad, eval_interval, seed):
    batch = min(batch, n)
    x, t = make_data(n, n_features=5, n_classes=5, seed=seed)
    fast_opt, ref_opt, lr = BOOK2[name]
    kwargs = dict(max_epoch=max_epoch, batch_size=batch, max_grad=max_grad, eval_interval=eval_interval)
    fast_model, ref_model = TiedModel(seed=seed), TiedModel(seed=seed)
    tf, out_f, after_f = run_book2(ft.Trainer(fast_model, fast_opt(lr=lr)), x, t, seed, **kwargs)
    tr, out_r, after_r = run_book2(rt.Trainer2(ref_model, ref_opt(lr=lr)), x, t, seed, **kwargs)
    assert isinstance(tf, ft.Trainer2)
    np.testing.assert_allclose(tf.loss_list, tr.loss_list, rtol=TOL, atol=TOL)
    assert all(type(v) is float for v in tf.loss_list)
    assert tf.current_epoch == tr.current_epoch == max_epoch and tf.eval_interval == tr.eval_interval
    for pf, pr in zip(fast_model.params, ref_model.params):
        np.testing.assert_allclose(pf, pr, rtol=TOL, atol=TOL)
    assert after_f == after_r
    assert_same_output(out_f, out_r, ignore_time=True)


def test_book2_output_format(capsys):
    x, t = make_data(20, n_features=5, n_classes=5)
    trainer = ft.Trainer2(TiedModel(), fo.SGD(lr=0.1))
    trainer.fit(x, t, max_epoch=2, batch_size=4, eval_interval=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(trainer.loss_list) == 6  # iters 0, 2, 4 of 5, in each of 2 epochs
    assert re.fullmatch(r"\| epoch 1 \|  iter 1 / 5 \| time \d+\[s\] \| loss \d+\.\d\d", lines[0])
    assert lines[2].split("|")[2] == "  iter 5 / 5 " and lines[3].startswith("| epoch 2 |")
    assert lines[0].endswith("loss %.2f" % trainer.loss_list[0])


def test_book2_does_not_shuffle_callers_arrays():
    x, t = make_data(12, n_features=5, n_classes=5)
    x0, t0 = x.copy(), t.copy()
    ft.Trainer2(TiedModel(), fo.SGD()).fit(x, t, max_epoch=2, batch_size=3, eval_interval=None)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)


def test_book2_plot_imports_matplotlib_lazily(monkeypatch):
    calls = []
    pyplot = types.SimpleNamespace(**{f: (lambda *a, _f=f, **k: calls.append((_f, a)))
                                      for f in ("ylim", "plot", "xlabel", "ylabel", "show")})
    monkeypatch.setitem(sys.modules, "matplotlib", types.SimpleNamespace(pyplot=pyplot))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    trainer = ft.Trainer2(TiedModel(), fo.SGD())
    trainer.loss_list, trainer.eval_interval = [3.0, 2.0, 1.5], 20
    trainer.plot(ylim=(0, 4))
    names = [c[0] for c in calls]
    assert names == ["ylim", "plot", "xlabel", "ylabel", "show"]
    assert calls[0][1] == (0, 4) and calls[2][1] == ("iterations (x20)",)
    np.testing.assert_array_equal(calls[1][1][0], [0, 1, 2])
    assert calls[1][1][1] == [3.0, 2.0, 1.5]


def test_import_does_not_load_matplotlib():
    import subprocess

    code = "import sys, fastnn.trainer; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- dispatch -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", ["positional", "keyword", "mixed"])
def test_trainer_with_model_and_optimizer_is_second_book(call):
    model, opt = TiedModel(), fo.Adam()
    trainer = {"positional": lambda: ft.Trainer(model, opt),
               "keyword": lambda: ft.Trainer(model=model, optimizer=opt),
               "mixed": lambda: ft.Trainer(model, optimizer=opt)}[call]()
    assert type(trainer) is ft.Trainer2
    assert trainer.model is model and trainer.optimizer is opt and trainer.loss_list == []


def test_trainer_with_book1_arguments_is_first_book():
    x, t = make_data(10)
    assert type(ft.Trainer(TinyNet(), *split(x, t, 5))) is ft.Trainer
    with pytest.raises(TypeError, match="t_train"):  # a name instead of an optimizer object: book-1 call
        ft.Trainer(TinyNet(), "sgd")


# --- first-book extras ----------------------------------------------------------------------------------------------
def test_seed_reproducible_and_independent_of_global_rng():
    x, t = make_data(40)
    runs = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)
        trainer = ft.Trainer(TinyNet(), *split(x, t, 30), epochs=3, mini_batch_size=4, verbose=False, seed=5)
        trainer.train()
        assert np.random.rand() == np.random.RandomState(global_seed).rand()  # global stream untouched
        runs.append(trainer.train_loss_list)
    assert runs[0] == runs[1]
    other = ft.Trainer(TinyNet(), *split(x, t, 30), epochs=3, mini_batch_size=4, verbose=False, seed=6)
    other.train()
    assert other.train_loss_list != runs[0]
    gen = ft.Trainer(TinyNet(), *split(x, t, 30), epochs=3, mini_batch_size=4, verbose=False,
                     seed=np.random.default_rng(5))
    gen.train()
    assert gen.train_loss_list == runs[0]


def test_history_contents():
    x, t = make_data(50)
    x_val, t_val = make_data(15, seed=9)
    seen = []
    net = TinyNet()
    trainer = ft.Trainer(net, *split(x, t, 40), epochs=3, mini_batch_size=10, verbose=False,
                         callbacks=[lambda tr, ep, logs: seen.append((ep, logs, net.loss(x_val, t_val),
                                                                      net.accuracy(x_val, t_val))),
                                    fc.Validation(x_val, t_val)])
    trainer.train()
    h = trainer.history
    assert set(h) == {"train_loss", "train_acc", "test_acc", "val_loss", "val_acc", "test_loss", "epoch_time"}
    assert trainer.current_epoch == 3 and len(h["train_acc"]) == 3
    assert h["train_acc"] == trainer.train_acc_list and h["test_acc"] == trainer.test_acc_list
    losses = trainer.train_loss_list  # evaluations at iterations 0, 4, 8 (iter_per_epoch 4)
    np.testing.assert_allclose(h["train_loss"], [losses[0], np.mean(losses[1:5]), np.mean(losses[5:9])], rtol=1e-12)
    assert h["val_loss"] == [s[2] for s in seen] and h["val_acc"] == [s[3] for s in seen]
    assert h["test_loss"] == []
    assert len(h["epoch_time"]) == 3 and all(v >= 0 for v in h["epoch_time"])
    assert [s[0] for s in seen] == [1, 2, 3]
    assert seen[1][1] == {key: h[key][1] for key in ("train_loss", "train_acc", "test_acc", "val_loss", "val_acc",
                                                     "epoch_time")} | {"epoch": 2}


def test_validation_set_does_not_change_the_run():
    """A validation set adds evaluations only: the same losses and RNG draws, the book lines plus val figures."""
    x, t = make_data(40)
    data = split(x, t, 30)
    plain = run_book1(ft.Trainer, TinyNet(), data, epochs=2, mini_batch_size=6)
    with_val = run_book1(ft.Trainer, TinyNet(), data, epochs=2, mini_batch_size=6,
                         callbacks=[fc.Validation(x[:8], t[:8])])
    assert plain[0].train_loss_list == with_val[0].train_loss_list and plain[2] == with_val[2]
    epoch_lines = [line for line in with_val[1].splitlines() if line.startswith("=== epoch")]
    assert len(epoch_lines) == 2 and all(", val loss:" in line and ", val acc:" in line for line in epoch_lines)


def test_callback_returning_false_stops_training():
    x, t = make_data(30)
    calls = []

    def stop_at_two(trainer, epoch, logs):
        calls.append(epoch)
        return epoch < 2 and None  # None keeps going, False stops

    def stop(trainer, epoch, logs):
        return epoch != 2

    trainer = ft.Trainer(TinyNet(), *split(x, t, 24), epochs=5, mini_batch_size=6, verbose=False,
                         callbacks=[stop_at_two, stop])
    trainer.train()
    assert calls == [1, 2] and trainer.current_epoch == 2 and trainer.stop_training
    assert len(trainer.train_loss_list) == 5  # evaluations at iterations 0 and 4, stop right after the second
    assert trainer.final_test_acc == trainer.network.accuracy(x[24:], t[24:])


@pytest.mark.parametrize("use_val", [True, False])
def test_early_stopping_restores_best_weights_in_place(use_val):
    """Validation labels that contradict the training labels make the validation loss rise once training works:
    early stopping must stop `patience` epochs after the best one and put that epoch's weights back into the very
    arrays the network (and its layers) hold."""
    x, t = make_data(60, seed=4)
    wrong = (t + 1) % 3
    net = reference_net(4)
    arrays = {k: v for k, v in net.params.items()}
    snapshots = {}
    early = fc.EarlyStopping(patience=3)
    validation = [fc.Validation(x[40:], wrong[40:])] if use_val else []
    x_test, t_test = (x[40:], t[40:]) if use_val else (x[40:], wrong[40:])
    trainer = ft.Trainer(net, x[:40], t[:40], x_test, t_test, epochs=30, mini_batch_size=8, optimizer="adam",
                         optimizer_param={"lr": 0.05}, verbose=False,
                         callbacks=[early, lambda tr, ep, logs: snapshots.__setitem__(
                             ep, {k: v.copy() for k, v in tr.network.params.items()})] + validation)
    trainer.train()
    monitored = trainer.history["val_loss" if use_val else "test_loss"]
    best = int(np.argmin(monitored)) + 1
    assert early.best_epoch == best and trainer.stop_training
    assert trainer.current_epoch == best + 3 < 30
    assert all(monitored[i] >= monitored[best - 1] for i in range(best, best + 3))
    for k, v in net.params.items():
        assert v is arrays[k]
        np.testing.assert_array_equal(v, snapshots[best][k])
    assert net.layers["Affine1"].W is net.params["W1"]
    assert (not use_val) == bool(trainer.history["test_loss"])


def test_progress_bar_replaces_iteration_lines(capsys):
    x, t = make_data(40)
    data = split(x, t, 30)
    plain = run_book1(ft.Trainer, TinyNet(), data, epochs=2, mini_batch_size=6)
    np.random.seed(7)
    trainer = ft.Trainer(TinyNet(), *data, epochs=2, mini_batch_size=6, callbacks=[fc.ProgressBar()])
    trainer.train()
    out, err = capsys.readouterr()
    assert trainer.train_loss_list == plain[0].train_loss_list
    assert "train loss:" not in out
    assert out.splitlines() == [line for line in plain[1].splitlines() if not line.startswith("train loss:")]
    assert "\r" in err and err.endswith("\n")
    last = err.rstrip("\n").split("\r")[-1]
    assert last.startswith("epoch 2/2 [") and f"iter 10/10 loss {float(trainer.train_loss_list[-1]):.4f}" in last


def test_loss_after_update_false_uses_fused_pass():
    x, t = make_data(30)
    data = split(x, t, 20)
    np.random.seed(3)
    net = FusedNet()
    trainer = ft.Trainer(net, *data, epochs=2, mini_batch_size=5, verbose=False, loss_after_update=False)
    trainer.train()
    assert trainer.train_loss_list == net.fused_losses and len(net.fused_losses) == 8
    assert net.loss_calls == 0  # no extra forward pass per step
    # same batches and updates as the book's way: only the recorded losses differ (taken before each update)
    np.random.seed(3)
    book = ft.Trainer(FusedNet(), *data, epochs=2, mini_batch_size=5, verbose=False)
    book.train()
    for k in net.params:
        np.testing.assert_array_equal(net.params[k], book.network.params[k])
    assert book.network.loss_calls == 8 and book.train_loss_list[0] != trainer.train_loss_list[0]


def test_loss_after_update_false_falls_back_to_book_way():
    x, t = make_data(30)
    data = split(x, t, 20)
    runs = []
    for flag in (True, False):
        np.random.seed(3)
        trainer = ft.Trainer(TinyNet(), *data, epochs=2, mini_batch_size=5, verbose=False, loss_after_update=flag)
        trainer.train()
        runs.append(trainer.train_loss_list)
    assert runs[0] == runs[1]


# --- the callback protocol ------------------------------------------------------------------------------------------
class Recorder(fc.Callback):
    """Logs every hook call with what the trainer shows at that moment."""

    def __init__(self, order=0, max_span=None):
        self.order, self.max_span, self.log = order, max_span, []

    def on_train_begin(self, trainer):
        self.log.append(("begin", trainer.current_iter))

    def on_step_end(self, trainer, iteration, loss):
        self.log.append(("step", iteration, trainer.current_iter, loss, len(trainer.train_loss_list)))

    def on_epoch_end(self, trainer, epoch, logs):
        self.log.append(("epoch", epoch, trainer.current_iter, dict(logs), trainer.history["train_acc"][-1]))

    def on_train_end(self, trainer):
        self.log.append(("end", trainer.current_iter))

    def on_exception(self, trainer, error):
        self.log.append(("error", type(error).__name__))


def test_trainer_signature_is_the_books_plus_three_keywords():
    import inspect

    params = list(inspect.signature(ft.Trainer.__init__).parameters)[1:]
    assert params == ["network", "x_train", "t_train", "x_test", "t_test", "epochs", "mini_batch_size", "optimizer",
                      "optimizer_param", "evaluate_sample_num_per_epoch", "verbose", "seed", "loss_after_update",
                      "callbacks"]


@pytest.mark.parametrize("kind", ["step by step", "compiled"])
def test_callback_hooks_run_in_the_books_order(kind):
    """train(): on_train_begin, then per iteration on_step_end (the compiled loop calls them after each span, in
    order), on_epoch_end right after each evaluated iteration, on_train_end; current_iter counts the iterations
    done, and the loss given is the one recorded."""
    x, t = make_data(30)
    np.random.seed(0)
    net = TinyNet() if kind == "step by step" else fn.TwoLayerNet(4, 5, 3)
    rec = Recorder()
    trainer = ft.Trainer(net, *split(x, t, 20), epochs=3, mini_batch_size=5, verbose=False, callbacks=rec)
    trainer.train()
    assert (trainer._loop is not None) == (kind == "compiled")
    log = rec.log
    assert [e[0] if e[0] != "step" else e[1] for e in log] == \
        ["begin", 0, "epoch", 1, 2, 3, 4, "epoch", 5, 6, 7, 8, "epoch", 9, 10, 11, "end"]
    assert log[0] == ("begin", 0) and log[-1] == ("end", 12)
    steps = [e for e in log if e[0] == "step"]
    assert all(e[2] == e[1] + 1 == e[4] for e in steps)
    assert [e[3] for e in steps] == trainer.train_loss_list
    epochs = [e for e in log if e[0] == "epoch"]
    assert [e[2] for e in epochs] == [1, 5, 9]  # right after iterations 0, 4 and 8
    assert [e[4] for e in epochs] == trainer.train_acc_list  # History (order -50) ran before the user's callback
    assert all(e[3]["epoch"] == e[1] and set(e[3]) == {"epoch", "train_loss", "train_acc", "test_acc", "epoch_time"}
               for e in epochs)


def test_max_span_bounds_the_compiled_calls(monkeypatch):
    """Spans end at evaluations, and every max_span iterations when a callback asks (a progress bar: 64); the
    results do not depend on it."""
    from fastnn import _training_loop as engine

    sizes = []
    real_run = engine.TrainingLoop.run
    monkeypatch.setattr(engine.TrainingLoop, "run",
                        lambda self, batches, *args: sizes.append(len(batches)) or real_run(self, batches, *args))
    x, t = make_data(230)
    runs = []
    for callbacks in ([], [Recorder(max_span=6)], [fc.ProgressBar(stream=io.StringIO())]):
        sizes.clear()
        np.random.seed(0)
        trainer = ft.Trainer(fn.TwoLayerNet(4, 5, 3), *split(x, t, 200), epochs=2, mini_batch_size=10,
                             verbose=False, callbacks=callbacks)
        trainer.train()
        runs.append((list(sizes), trainer.train_loss_list))
    assert runs[0][0] == [1, 20, 19] and runs[2][0] == [1, 20, 19]  # 64 > 20 iterations per epoch
    assert runs[1][0] == [1, 6, 6, 6, 2, 6, 6, 6, 1]
    assert runs[0][1] == runs[1][1] == runs[2][1]


def test_book_lines_and_step_hooks_interleave_in_order(capsys):
    class Say(fc.Callback):
        def on_step_end(self, trainer, iteration, loss):
            print("step", iteration)

    x, t = make_data(30)
    np.random.seed(0)
    ft.Trainer(fn.TwoLayerNet(4, 5, 3), *split(x, t, 20), epochs=1, mini_batch_size=10,
               callbacks=[Say()]).train()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].split(",")[0] for line in lines] == \
        ["train loss", "step 0", "=== epoch", "train loss", "step 1",
         "=============== Final Test Accuracy ===============", "test acc"]


def test_setting_stop_training_in_a_callback_stops():
    class StopAtTwo(fc.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 2:
                trainer.stop_training = True

    x, t = make_data(30)
    trainer = ft.Trainer(TinyNet(), *split(x, t, 24), epochs=5, mini_batch_size=6, verbose=False,
                         callbacks=[StopAtTwo()])
    trainer.train()
    assert trainer.current_epoch == 2 and len(trainer.train_loss_list) == 5


def test_an_exception_ends_the_progress_line_and_skips_on_train_end(capsys):
    """on_exception instead of on_train_end: the bar ends its line, early stopping does not put its best weights
    back over the ones the finite check restored."""
    x, t = make_data(30)
    net = PoisonNet(poison_at=6)  # iteration 5 draws the bar after the evaluation at 4 cleared it
    rec = Recorder()
    trainer = ft.Trainer(net, *split(x, t, 20), epochs=10, mini_batch_size=5, verbose=False,
                         callbacks=[rec, fc.ProgressBar(interval=0), fc.EarlyStopping(patience=5)])
    with pytest.raises(FloatingPointError):
        trainer.train()
    assert capsys.readouterr().err.endswith("\n")
    assert rec.log[-1] == ("error", "FloatingPointError") and not [e for e in rec.log if e[0] == "end"]
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, net.seen[6][k])


def test_the_finite_check_is_on_by_default_and_can_be_turned_off_in_the_compiled_loop():
    x, t = make_data(40)
    options = dict(epochs=2, mini_batch_size=5, optimizer_param={"lr": 1e300}, verbose=False)
    np.random.seed(2)
    trainer = ft.Trainer(fn.TwoLayerNet(4, 5, 3, weight_init_std=1.0), *split(x, t, 30), **options)
    assert [cb.enabled for cb in trainer.callbacks if isinstance(cb, fc.FiniteCheck)] == [True]
    with pytest.raises(FloatingPointError):
        trainer.train()
    np.random.seed(2)
    trainer = ft.Trainer(fn.TwoLayerNet(4, 5, 3, weight_init_std=1.0), *split(x, t, 30), **options,
                         callbacks=[fc.FiniteCheck(enabled=False)])
    with pytest.warns(RuntimeWarning, match="loss is"):
        trainer.train()
    assert trainer._loop is not None and len(trainer.train_loss_list) == trainer.max_iter
    assert not np.isfinite(trainer.train_loss_list).all()


def test_the_compiled_loop_with_the_check_off_warns_once_per_run_like_the_step_by_step_path():
    x, t = make_data(40)
    np.random.seed(2)
    trainer = ft.Trainer(fn.TwoLayerNet(4, 5, 3, weight_init_std=1.0), *split(x, t, 30), epochs=4, mini_batch_size=5,
                         optimizer_param={"lr": 1e300}, verbose=False, callbacks=[fc.FiniteCheck(enabled=False)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    spans_with_nan = sum(not np.isfinite(trainer.train_loss_list[i:i + 6]).all() for i in range(1, 24, 6))
    assert trainer._loop is not None and spans_with_nan > 1  # several compiled calls saw NaN losses
    assert len([w for w in caught if "loss is" in str(w.message)]) == 1


# --- non-finite loss -----------------------------------------------------------------------------------------------
def test_non_finite_loss_raises_and_keeps_last_finite_weights():
    x, t = make_data(30)
    net = PoisonNet(poison_at=5)
    arrays = dict(net.params)
    trainer = ft.Trainer(net, *split(x, t, 20), epochs=10, mini_batch_size=5, verbose=False)
    with pytest.raises(FloatingPointError, match=r"iteration 5 \(0-based, epoch 2\)"):
        trainer.train()
    assert len(trainer.train_loss_list) == 5 and all(np.isfinite(trainer.train_loss_list))
    for k, v in net.params.items():
        assert v is arrays[k]
        np.testing.assert_array_equal(v, net.seen[5][k])  # the weights before the update that broke them


def test_non_finite_loss_with_fused_pass():
    x, t = make_data(30)
    net = FusedPoisonNet(poison_at=3)
    trainer = ft.Trainer(net, *split(x, t, 20), epochs=10, mini_batch_size=5, verbose=False,
                         loss_after_update=False)
    with pytest.raises(FloatingPointError, match="iteration 3"):
        trainer.train()
    for k, v in net.params.items():  # the NaN loss came from the weights after update 2: keep those before it
        np.testing.assert_array_equal(v, net.seen[2][k])
    first = FusedPoisonNet(poison_at=0)
    before = {k: v.copy() for k, v in first.params.items()}
    with pytest.raises(FloatingPointError, match="iteration 0.*unchanged"):
        ft.Trainer(first, *split(x, t, 20), verbose=False, loss_after_update=False).train()
    for k, v in first.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_check_finite_false_keeps_going_like_the_book():
    x, t = make_data(30)
    trainer = ft.Trainer(PoisonNet(poison_at=2), *split(x, t, 20), epochs=2, mini_batch_size=5, verbose=False,
                         callbacks=[fc.FiniteCheck(enabled=False)])
    with pytest.warns(RuntimeWarning, match="loss is nan"):
        trainer.train()
    assert len(trainer.train_loss_list) == 8 and np.isnan(trainer.train_loss_list[-1])


# --- argument errors -----------------------------------------------------------------------------------------------
class NoGradient:
    params = {}

    def loss(self, x, t):
        return 0.0

    def accuracy(self, x, t):
        return 0.0


BOOK1_BAD = [
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(epochs=1.5), TypeError, "epochs"),
    (dict(mini_batch_size=0), ValueError, "mini_batch_size"),
    (dict(mini_batch_size="10"), TypeError, "mini_batch_size"),
    (dict(t_train=np.zeros(3, dtype=int)), ValueError, "x_train and t_train"),
    (dict(x_test=np.zeros((3, 4))), ValueError, "x_test and t_test"),
    (dict(x_train=np.zeros((0, 4)), t_train=np.zeros(0, dtype=int)), ValueError, "x_train"),
    (dict(optimizer="sgdx"), ValueError, "optimizer must be one of .*'adam'.*got 'sgdx'"),
    (dict(optimizer=None), TypeError, "optimizer"),
    (dict(optimizer_param=[0.1]), TypeError, "optimizer_param"),
    (dict(optimizer_param={"learning_rate": 0.1}), TypeError, "optimizer_param"),
    (dict(optimizer_param={"lr": -1.0}), ValueError, "lr"),
    (dict(evaluate_sample_num_per_epoch=0), ValueError, "evaluate_sample_num_per_epoch"),
    (dict(network=NoGradient()), TypeError, "network.*gradient"),
    (dict(callbacks=[fc.Validation(np.zeros((3, 4)), np.zeros(2, dtype=int))]), ValueError, "x_val and t_val"),
    (dict(callbacks=[fc.Validation(np.zeros((3, 4)), [0, 1, np.nan])]), ValueError, "t_val"),
    (dict(callbacks=[fc.EarlyStopping(2), fc.EarlyStopping(3)]), ValueError, "EarlyStopping"),
    (dict(callbacks=[fc.FiniteCheck(), fc.FiniteCheck()]), ValueError, "FiniteCheck"),
    (dict(callbacks=[print, 1]), TypeError, r"callbacks\[1\]"),
    (dict(callbacks=1), TypeError, "callbacks"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed="a"), TypeError, "seed"),
]


@pytest.mark.parametrize("changes, exc, message", BOOK1_BAD)
def test_book1_bad_arguments(changes, exc, message):
    x, t = make_data(10)
    args = dict(network=TinyNet(), x_train=x[:6], t_train=t[:6], x_test=x[6:], t_test=t[6:])
    args.update(changes)
    with pytest.raises(exc, match=message):
        ft.Trainer(**args)


class NoBackward:
    params, grads = [], []

    def forward(self, x, t):
        return 0.0


@pytest.mark.parametrize("model, optimizer, exc, message", [
    (NoBackward(), fo.SGD(), TypeError, "model.*backward"),
    (TiedModel(), object(), TypeError, "optimizer"),
])
def test_book2_bad_construction(model, optimizer, exc, message):
    with pytest.raises(exc, match=message):
        ft.Trainer2(model, optimizer)


@pytest.mark.parametrize("changes, exc, message", [
    (dict(max_epoch=-1), ValueError, "max_epoch"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=11), ValueError, r"batch_size \(11\).*\(10\)"),
    (dict(max_grad=-1.0), ValueError, "max_grad"),
    (dict(max_grad="1"), TypeError, "max_grad"),
    (dict(eval_interval=0), ValueError, "eval_interval"),
    (dict(t=np.zeros(9, dtype=int)), ValueError, "x and t"),
])
def test_book2_bad_fit_arguments(changes, exc, message):
    x, t = make_data(10, n_features=5, n_classes=5)
    model = TiedModel()
    before = [p.copy() for p in model.params]
    args = dict(x=x, t=t)
    args.update(changes)
    with pytest.raises(exc, match=message):
        ft.Trainer2(model, fo.SGD()).fit(**args)
    for p, b in zip(model.params, before):
        np.testing.assert_array_equal(p, b)


# --- second book: the documented behaviour, with a recording model ------------------------------------------------
# These hold fastnn's Trainer2 and the reference's against what book 2's common/trainer.py does, observed from
# outside: which rows reach forward and in which order, what the optimizer receives, what loss_list holds.
TRAINER2 = {"fastnn": ft.Trainer2, "reference": rt.Trainer2}


class RecordingModel:
    """A second-book model that records its calls. forward returns the next of ``losses`` (1, 2, 3, ... by
    default); backward writes ``grad_values`` into ``grads`` (in place, as the books' layers do). ``params`` may
    list an array twice or a transposed copy, to exercise remove_duplicate."""

    def __init__(self, params, grad_values, losses=None):
        self.params = params
        self.grads = [np.zeros_like(p) for p in params]
        self.grad_values = [np.asarray(g, dtype=float) for g in grad_values]
        self.losses = losses
        self.batches = []  # (x, t) of every forward call
        self.backward_calls = 0

    def forward(self, x, t):
        self.batches.append((np.array(x), np.array(t)))
        k = len(self.batches)
        return float(k) if self.losses is None else self.losses[k - 1]

    def backward(self, dout=1):
        self.backward_calls += 1
        for g, value in zip(self.grads, self.grad_values):
            g[...] = value


class RecordingOptimizer:
    """update(params, grads) records the parameter objects and a copy of the gradients it was given."""

    def __init__(self):
        self.calls = []

    def update(self, params, grads):
        self.calls.append((list(params), [np.array(g) for g in grads]))


def _indexed_data(n):
    """x row k is [k, 10 k], t[k] = k: every batch says which samples it holds."""
    k = np.arange(n)
    return np.c_[k, 10 * k].astype(float), k


def _fit_quietly(trainer, x, t, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        trainer.fit(x, t, **kwargs)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("impl", sorted(TRAINER2))
@pytest.mark.parametrize("n, batch_size, max_epoch", [(10, 3, 3), (7, 7, 2), (5, 1, 2), (9, 4, 1)])
def test_trainer2_batches_are_consecutive_slices_of_a_fresh_permutation(impl, n, batch_size, max_epoch):
    """Each epoch: idx = np.random.permutation(np.arange(n)) re-orders the previous epoch's order, then
    n // batch_size consecutive slices of batch_size rows are used (the remainder is left out)."""
    x, t = _indexed_data(n)
    model = RecordingModel([np.zeros(2)], [[0.0, 0.0]])
    np.random.seed(123)
    order, expected = np.arange(n), []
    for _ in range(max_epoch):
        order = order[np.random.permutation(np.arange(n))]
        expected += [order[i * batch_size:(i + 1) * batch_size] for i in range(n // batch_size)]
    draw_after = np.random.rand()

    np.random.seed(123)
    trainer = TRAINER2[impl](model, RecordingOptimizer())
    _fit_quietly(trainer, x, t, max_epoch=max_epoch, batch_size=batch_size, eval_interval=None)
    assert [list(bt) for _, bt in model.batches] == [list(e) for e in expected]
    for bx, bt in model.batches:
        np.testing.assert_array_equal(bx, np.c_[bt, 10 * bt])  # rows stay paired with their labels
    assert model.backward_calls == len(trainer.optimizer.calls) == len(expected)
    assert np.random.rand() == draw_after  # one permutation per epoch and no other draw
    assert trainer.current_epoch == max_epoch
    assert trainer.loss_list == []  # eval_interval=None: no report


@pytest.mark.parametrize("impl", sorted(TRAINER2))
def test_trainer2_loss_list_holds_the_average_since_the_last_report(impl):
    """10 samples, batch 2: 5 iterations per epoch; losses 1..10 in call order; a report at every iteration with
    iters % 3 == 0, averaging the losses since the previous report, across the epoch boundary too."""
    x, t = _indexed_data(10)
    model = RecordingModel([np.zeros(2)], [[0.0, 0.0]])
    trainer = TRAINER2[impl](model, RecordingOptimizer())
    lines = _fit_quietly(trainer, x, t, max_epoch=2, batch_size=2, eval_interval=3)
    # epoch 1: iter 0 -> 1; iters 1-3 -> (2+3+4)/3; iter 4 (loss 5) carries over; epoch 2: iter 0 -> (5+6)/2;
    # iters 1-3 -> (7+8+9)/3; iter 4 (loss 10) is never reported
    assert trainer.loss_list == [1.0, 3.0, 5.5, 8.0]
    assert all(type(v) is float for v in trainer.loss_list)
    assert trainer.eval_interval == 3 and trainer.current_epoch == 2
    expected = [(1, 1, "1.00"), (1, 4, "3.00"), (2, 1, "5.50"), (2, 4, "8.00")]
    assert len(lines) == len(expected)
    for line, (epoch, it, loss) in zip(lines, expected):
        assert re.fullmatch(rf"\| epoch {epoch} \|  iter {it} / 5 \| time \d+\[s\] \| loss {loss}", line), line


@pytest.mark.parametrize("impl", sorted(TRAINER2))
@pytest.mark.parametrize("max_grad", [None, 20.0, 13.0, 1.3])
def test_trainer2_clips_the_total_norm_of_all_gradients(impl, max_grad):
    """Gradients [3, 4] and [12]: total norm 13. Clipping scales both by max_grad / (13 + 1e-6) when that is
    below 1: none at 20; at 13 the rate 13 / (13 + 1e-6) is just below 1, so the book clips by a hair."""
    model = RecordingModel([np.zeros(2), np.zeros(1)], [[3.0, 4.0], [12.0]])
    trainer = TRAINER2[impl](model, RecordingOptimizer())
    x, t = _indexed_data(4)
    _fit_quietly(trainer, x, t, max_epoch=1, batch_size=2, max_grad=max_grad, eval_interval=None)
    rate = 1.0 if max_grad is None else min(1.0, max_grad / (13.0 + 1e-6))
    assert len(trainer.optimizer.calls) == 2
    for params, grads in trainer.optimizer.calls:
        assert params[0] is model.params[0] and params[1] is model.params[1]
        np.testing.assert_allclose(grads[0], [3.0 * rate, 4.0 * rate], rtol=1e-15)
        np.testing.assert_allclose(grads[1], [12.0 * rate], rtol=1e-15)


@pytest.mark.parametrize("impl", sorted(TRAINER2))
def test_trainer2_merges_shared_weights_before_clipping(impl):
    """params [W, b, W, V] with V equal to W.T: the optimizer gets [W, b] with W's gradient the sum of its own,
    the second W's and V's transposed; the norm that max_grad clips is the merged gradients' norm."""
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.zeros(3)
    V = W.T.copy()  # tied by value (the book's second rule), not the same object
    gW1, gb, gW2 = np.full((2, 3), 1.0), np.array([0.0, 0.0, 0.0]), np.full((2, 3), 2.0)
    gV = np.arange(6.0).reshape(3, 2)
    model = RecordingModel([W, b, W, V], [gW1, gb, gW2, gV])
    trainer = TRAINER2[impl](model, RecordingOptimizer())
    x, t = _indexed_data(2)
    merged = gW1 + gW2 + gV.T
    norm = np.sqrt(np.sum(merged ** 2))
    max_grad = norm / 2  # rate ~ 1/2: clipping on the merged norm
    _fit_quietly(trainer, x, t, max_epoch=1, batch_size=2, max_grad=max_grad, eval_interval=None)
    [(params, grads)] = trainer.optimizer.calls
    assert len(params) == len(grads) == 2 and params[0] is W and params[1] is b
    np.testing.assert_allclose(grads[0], merged * (max_grad / (norm + 1e-6)), rtol=1e-14)
    np.testing.assert_array_equal(grads[1], gb)
