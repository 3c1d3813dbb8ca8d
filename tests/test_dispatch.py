"""fastnn._dispatch and the NumPy twins: small calls before numba is loaded run NumPy and give the kernels' results;
importing fastnn and running a short book-2 training loads no numba; the switch comes once their estimated time
reaches COMPILED_PAYS_NS."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn.functions as F
import fastnn.layers as L
import fastnn.optimizer as O
from fastnn import _dispatch, _numpy_twins
from fastnn.kernels import activations, affine, losses, optim, softmax

DTYPES = (np.float32, np.float64)


@pytest.fixture
def numpy_path(monkeypatch):
    """Run the public API as a fresh process would before numba is loaded (the twins), with a fresh work count."""
    monkeypatch.setattr(_dispatch, "compiled_loaded", lambda: False)
    monkeypatch.setattr(_dispatch, "_numpy_ns", 0)


def tol(dtype):
    return dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


def values(rng, shape, dtype, extreme):
    x = rng.standard_normal(shape) * (300.0 if extreme else 3.0)
    if extreme and x.size:
        x.flat[0], x.flat[-1] = 0.0, -0.0
    return x.astype(dtype)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(1, 7), dtype=st.sampled_from(DTYPES), extreme=st.booleans(),
       seed=st.integers(0, 2**16))
def test_every_twin_writes_what_its_kernel_writes(rows, cols, dtype, extreme, seed):
    rng = np.random.default_rng(seed)
    x, dout = values(rng, (rows, cols), dtype, extreme), values(rng, (rows, cols), dtype, False)
    labels = rng.integers(0, cols, rows)
    onehot = np.eye(cols, dtype=dtype)[labels]
    delta = dtype(1e-7)
    flat = [x.reshape(-1)[::-1].copy(), dout.reshape(-1).copy()]  # also a reversed (once non-contiguous) copy

    def both(module_name, name, *args, outputs):
        results = []
        for impl in (_numpy_twins, {"activations": activations, "softmax": softmax, "losses": losses,
                                     "affine": affine, "optim": optim}[module_name]):
            outs = [np.empty_like(o) for o in outputs]
            ret = getattr(impl, name)(*args, *outs)
            results.append((ret, outs))
        (r1, o1), (r2, o2) = results
        if r1 is not None:
            np.testing.assert_allclose(r1, r2, **tol(dtype))
        for a, b in zip(o1, o2):
            np.testing.assert_allclose(a, b, **tol(dtype))

    for name in ("sigmoid_forward", "sigmoid_grad", "relu_forward", "relu_grad", "step"):
        both("activations", name, flat[0], outputs=[flat[0]])
    both("activations", "sigmoid_backward", flat[1], F.sigmoid(flat[0]), outputs=[flat[0]])
    both("activations", "relu_forward_mask", flat[0], outputs=[flat[0], flat[0] <= 0])
    both("activations", "relu_backward_mask", flat[1], flat[0] <= 0, outputs=[flat[1]])
    both("softmax", "softmax_rows", x, outputs=[x])
    y = np.exp(x - x.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    both("softmax", "cross_entropy_labels", y, labels, delta, outputs=[])
    both("softmax", "softmax_cross_entropy_labels", x, labels, delta, outputs=[x])
    both("softmax", "softmax_cross_entropy_onehot", x, onehot, delta, outputs=[x])
    both("softmax", "softmax_cross_entropy_backward_labels", y, labels, dtype(0.5), outputs=[x])
    both("softmax", "softmax_cross_entropy_backward_onehot", y, onehot, dtype(2.0), outputs=[x])
    both("softmax", "softmax_backward", y, dout, outputs=[x])
    both("losses", "sum_squared_error", flat[0], flat[1], outputs=[])
    W, b = values(rng, (cols, 3), dtype, False), values(rng, (3,), dtype, False)
    both("affine", "affine_forward", x, W, b, outputs=[np.empty((rows, 3), dtype)])
    both("affine", "affine_backward_params", x, np.ones((rows, 3), dtype), outputs=[W, b])
    both("affine", "affine_backward_input", np.ones((rows, 3), dtype), W, outputs=[x])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, hypers", [("SGD", {"lr": 0.1}), ("Momentum", {}), ("Nesterov", {}),
                                          ("AdaGrad", {}), ("RMSprop", {}), ("Adam", {})])
def test_optimizers_update_the_same_on_both_paths(monkeypatch, rng, dtype, name, hypers):
    params = [rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)]
    grads_seq = [[rng.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(3)]
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(_dispatch, "compiled_loaded", lambda: compiled)
        monkeypatch.setattr(_dispatch, "_numpy_ns", 0)
        ps, opt = [p.copy() for p in params], getattr(O, name)(**hypers)
        for grads in grads_seq:
            opt.update(ps, grads)
        results.append(ps)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_and_functions_on_the_numpy_path_equal_the_compiled_path(monkeypatch, rng, dtype):
    x = rng.standard_normal((6, 5)).astype(np.float32)  # float32 images against the weights' dtype
    W, b = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)
    t = rng.integers(0, 4, 6)
    runs = []
    for compiled in (True, False):
        monkeypatch.setattr(_dispatch, "compiled_loaded", lambda: compiled)
        monkeypatch.setattr(_dispatch, "_numpy_ns", 0)
        layers = [L.Affine(W.copy(), b.copy()), L.Relu(), L.Sigmoid()]
        last = L.SoftmaxWithLoss()
        h = x
        for layer in layers:
            h = layer.forward(h)
        loss = last.forward(h, t)
        d = last.backward()
        for layer in reversed(layers):
            d = layer.backward(d)
        runs.append([loss, d, layers[0].dW, layers[0].db, F.softmax(h), F.sigmoid_grad(h),
                     F.cross_entropy_error(F.softmax(h), t), F.softmax_loss(h, t), F.sum_squared_error(h, h + 1)])
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, **tol(dtype))


def test_the_numpy_path_ends_once_its_work_would_have_paid_for_numba(numpy_path, monkeypatch):
    monkeypatch.setattr(_dispatch, "COMPILED_PAYS_NS", 10 * (_dispatch.CALL_NS + 100 * _dispatch.VALUE_NS))
    x = np.ones(100)
    taken = [_dispatch.numpy_suffices(x.size) for _ in range(12)]
    assert taken == [True] * 9 + [False] * 3


def test_a_short_book2_training_loads_no_numba():
    """The second book's chapter-1 training (spiral, Affine/Sigmoid/SoftmaxWithLoss, SGD, Trainer.fit) in a fresh
    process: numba's 0.4 s fixed cost would be more than its whole computation."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from fastnn.datasets import load_spiral
        from fastnn.layers import Affine, Sigmoid, SoftmaxWithLoss
        from fastnn.optimizer import SGD
        from fastnn.trainer import Trainer

        class Net:
            def __init__(self):
                W1, b1 = 0.01 * np.random.randn(2, 10), np.zeros(10)
                W2, b2 = 0.01 * np.random.randn(10, 3), np.zeros(3)
                self.layers = [Affine(W1, b1), Sigmoid(), Affine(W2, b2)]
                self.loss_layer = SoftmaxWithLoss()
                self.params = [p for layer in self.layers for p in layer.params]
                self.grads = [g for layer in self.layers for g in layer.grads]
            def forward(self, x, t):
                for layer in self.layers:
                    x = layer.forward(x)
                return self.loss_layer.forward(x, t)
            def backward(self, dout=1):
                dout = self.loss_layer.backward(dout)
                for layer in reversed(self.layers):
                    dout = layer.backward(dout)

        np.random.seed(0)
        x, t = load_spiral()
        trainer = Trainer(Net(), SGD(lr=1.0))
        trainer.fit(x, t, max_epoch=30, batch_size=30, eval_interval=1000)
        print(len(trainer.loss_list), "numba" in sys.modules)
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "False", out
