"""The engine's tanh layer kind (fastnn.kernels.codes.TANH), on a net built from the engine's own layer list:
against the reference's Tanh layer in the books' TwoLayerNet, against plain loops and central differences, in
both dtypes, through the Trainer's fused loop too."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from fastnn import nets, trainer
from fastnn._layer_kinds import LayerSpec
from fastnn.engine import Engine
from fastnn.kernels import codes
from fastnn.reference import layers as rl
from fastnn.reference import nets as rn
from fastnn.reference import trainer as rt

DTYPES = [np.float32, np.float64]


class TanhNet(nets._TrainableNet):
    """Affine, tanh, Affine and softmax cross-entropy as LayerSpecs; its tanh layer object is the reference's, whose
    book attribute ``out`` then shows the engine's activations."""

    def __init__(self, params, dtype):
        self.dtype = np.dtype(dtype)
        self.params = {key: np.array(value, dtype=self.dtype) for key, value in params.items()}
        self.tanh = rl.Tanh()
        (i, h), o = self.params["W1"].shape, self.params["W2"].shape[1]
        stack = [LayerSpec(codes.AFFINE, None, i, h, ("W1", "b1")), LayerSpec(codes.TANH, self.tanh, h, h),
                 LayerSpec(codes.AFFINE, None, h, o, ("W2", "b2"))]
        self._engine = Engine(self, stack, None, self.dtype)

    def predict(self, x):
        return self._scores(x).copy()

    def loss(self, x, t):
        return self._loss(x, t)


def reference_net(params):
    """The books' TwoLayerNet with its Relu1 replaced by the reference Tanh layer, in float64."""
    net = rn.TwoLayerNet(1, 1, 1)
    net.params = {key: np.array(value, dtype=np.float64) for key, value in params.items()}
    net.layers["Affine1"] = rl.Affine(net.params["W1"], net.params["b1"])
    net.layers["Relu1"] = rl.Tanh()
    net.layers["Affine2"] = rl.Affine(net.params["W2"], net.params["b2"])
    return net


def make_params(rng, d, h, c, scale=1.0):
    return {"W1": scale * rng.standard_normal((d, h)), "b1": scale * rng.standard_normal(h),
            "W2": rng.standard_normal((h, c)), "b2": rng.standard_normal(c)}


def naive_loss(params, x, t):
    """The net's loss by plain loops: affine, tanh, affine, softmax cross-entropy."""
    hidden = naive.tanh_forward(naive.affine_forward(x, params["W1"], params["b1"]))
    return naive.softmax_cross_entropy(naive.affine_forward(hidden, params["W2"], params["b2"]), t)


def rtol(dtype):
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(DTYPES), st.integers(1, 9), st.integers(1, 7), st.integers(1, 6), st.integers(2, 5),
       st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_tanh_net_is_the_reference(dtype, n, d, h, c, strided, seed):
    """Loss, gradients, scores and the tanh layer's out as the reference layers give them (random shapes, x
    contiguous or every other column)."""
    rng = np.random.default_rng(seed)
    params = make_params(rng, d, h, c)
    wide = rng.standard_normal((n, 2 * d)).astype(dtype)
    x = wide[:, ::2] if strided else np.ascontiguousarray(wide[:, ::2])
    t = rng.integers(0, c, n)
    fast = TanhNet(params, dtype)
    params32 = {key: value.astype(dtype) for key, value in fast.params.items()}  # the values the net holds
    book = reference_net(params32)
    x64 = x.astype(np.float64)
    loss, grads = fast.loss_and_gradient(x, t)
    want_loss = book.loss(x64, t)
    want = book.gradient(x64, t)
    # the size of the pre-activations' terms: the rounding of a sum that cancels is relative to it
    scale = 1.0 + d * float(np.abs(x64).max()) * (1.0 + float(np.abs(params32["W1"]).max()))
    np.testing.assert_allclose(loss, want_loss, rtol=10 * rtol(dtype))
    for key in want:
        naive.assert_close(grads[key], want[key], dtype, scale=scale * max(1.0, float(np.abs(want[key]).max())))
    naive.assert_close(fast.tanh.out, book.layers["Relu1"].out, dtype, scale=scale)
    naive.assert_close(fast.predict(x), book.predict(x64), dtype, scale=scale * c)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_gradient_is_central_differences(dtype):
    """The backward pass against central differences of the plain-loop loss (float64, h = 1e-4), and the loss
    against the plain loops."""
    rng = np.random.default_rng(7)
    params = make_params(rng, 5, 4, 3)
    x, t = rng.standard_normal((6, 5)).astype(dtype), rng.integers(0, 3, 6)
    fast = TanhNet(params, dtype)
    held = {key: value.astype(np.float64) for key, value in fast.params.items()}
    np.testing.assert_allclose(fast.loss(x, t), naive_loss(held, x, t), rtol=10 * rtol(dtype))
    grads = fast.gradient(x, t)
    for key in held:
        def loss_at(value, key=key):
            return naive_loss(dict(held, **{key: value}), x, t)

        numeric = naive.numerical_gradient(loss_at, held[key])
        # float32 rounding; in float64 the loss's delta = 1e-7 inside log(), which the backward pass leaves out as
        # the books' does (a relative difference of about delta / y), and the O(h^2) error of the differences
        bound = 1e-4 if dtype == np.float32 else 1e-5
        np.testing.assert_allclose(grads[key], numeric, rtol=bound, atol=bound * np.abs(numeric).max(),
                                   err_msg=key)
        assert np.abs(numeric).max() > 1e-3, key  # not a comparison of zeros


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_tanh(dtype):
    """Pre-activations far beyond tanh's range: out is exactly +-1, the gradients through it are 0 and stay finite,
    as in the reference."""
    rng = np.random.default_rng(3)
    params = make_params(rng, 4, 5, 3, scale=1e4)
    x, t = rng.standard_normal((8, 4)).astype(dtype), rng.integers(0, 3, 8)
    x[0] = np.finfo(dtype).max / 1e5
    fast = TanhNet(params, dtype)
    grads = fast.gradient(x, t)
    assert np.all(np.abs(fast.tanh.out) <= 1)
    assert np.array_equal(np.abs(fast.tanh.out[0]), np.ones(5, dtype))
    for key, g in grads.items():
        assert np.all(np.isfinite(g)), key
    np.testing.assert_array_equal(grads["b1"], 0)  # every unit saturated on every row here
    book = reference_net({key: value.astype(np.float64) for key, value in fast.params.items()})
    want = book.gradient(x.astype(np.float64), t)
    for key in ("W2", "b2"):
        naive.assert_close(grads[key], want[key], dtype, scale=float(np.abs(want[key]).max()) + 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_trainer_fused_steps_with_tanh(dtype):
    """The Trainer's fused loop (one compiled call per span) over a tanh net gives the reference Trainer's
    losses and parameters: the same batches, SGD."""
    rng = np.random.default_rng(11)
    params = make_params(rng, 6, 5, 3, scale=0.5)
    x, t = rng.standard_normal((40, 6)).astype(dtype), rng.integers(0, 3, 40)
    fast = TanhNet(params, dtype)
    book = reference_net({key: value.astype(np.float64) for key, value in fast.params.items()})
    fused = trainer.Trainer(fast, x, t, x, t, epochs=2, mini_batch_size=8, verbose=False)
    stepwise = rt.Trainer(book, x.astype(np.float64), t, x.astype(np.float64), t, epochs=2, mini_batch_size=8,
                          verbose=False)
    for tr in (fused, stepwise):  # the same batches: np.random.choice after the same seed
        np.random.seed(5)
        tr.train()
    np.testing.assert_allclose(fused.train_loss_list, stepwise.train_loss_list, rtol=100 * rtol(dtype))
    for key in params:
        np.testing.assert_allclose(fast.params[key], book.params[key], rtol=100 * rtol(dtype),
                                   atol=100 * rtol(dtype))
