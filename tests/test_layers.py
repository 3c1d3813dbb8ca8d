"""fastnn.layers against the books' layers (fastnn.reference.layers) and against central differences.

Each layer is checked three ways: forward/backward/grads equal the reference layer (both dtypes), backward equals
the numerical gradient of a scalar function of the forward output (float64), and the books' attributes and the
params/grads aliasing behave as the books' code relies on.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn import layers as fl
from fastnn.reference import layers as rl
from fastnn.reference.functions import numerical_gradient, softmax

DTYPES = [np.float64, np.float32]
TOL = {np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12), np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6)}
NUM_TOL = dict(rtol=1e-6, atol=1e-7)  # backward vs central differences (h = 1e-4, float64)

dtypes = st.sampled_from(DTYPES)
sizes = st.integers(1, 5)


# --- helpers ----------------------------------------------------------------------------------------------------
def values(lo=-3.0, hi=3.0, away=0.0):
    """Floats exactly representable in float32 (so both dtypes see the same input); ``away`` keeps them that far
    from 0, where ReLU has its kink."""
    if away:
        away = float(np.float32(away))
        return st.tuples(st.floats(away, hi, width=32), st.booleans()).map(lambda p: p[0] if p[1] else -p[0])
    return st.floats(float(np.float32(lo)), float(np.float32(hi)), width=32)


def arrays(shape, dtype=np.float64, **kw):
    return hnp.arrays(dtype, shape, elements=values(**kw))


def close(actual, expected, dtype):
    """Equal to the dtype's rounding, and computed in that dtype."""
    assert np.asarray(actual).dtype == np.dtype(dtype)
    np.testing.assert_allclose(actual, expected, **TOL[np.dtype(dtype)])


def same_grads(fast, ref, dtype):
    assert len(fast.grads) == len(ref.grads)
    for g, r in zip(fast.grads, ref.grads):
        close(g, r, dtype)


def numeric(f, x):
    """Central differences of the scalar f() with respect to x, perturbed in place (the book's loop)."""
    return numerical_gradient(lambda _: float(f()), x)


def check_numerically(layer, forward, x, dout, params=()):
    """backward(dout) against d/dx sum(forward(x) * dout), and each grad against d/dparam of the same."""
    f = lambda: np.sum(forward(x) * dout)  # noqa: E731
    forward(x)
    dx = layer.backward(dout)
    if dx is not None:
        np.testing.assert_allclose(dx, numeric(f, x), **NUM_TOL)
    for p, g in zip(params, layer.grads):
        np.testing.assert_allclose(g, numeric(f, p), **NUM_TOL)


# --- Relu, Sigmoid ----------------------------------------------------------------------------------------------
@given(st.data(), dtypes, st.lists(sizes, min_size=1, max_size=4))
def test_relu_matches_reference(data, dtype, shape):
    x = data.draw(arrays(tuple(shape))).astype(dtype)
    x.flat[0] = 0  # the book's mask is x <= 0: zero is masked
    dout = data.draw(arrays(tuple(shape))).astype(dtype)
    fast, ref = fl.Relu(), rl.Relu()
    close(fast.forward(x), ref.forward(x), dtype)
    np.testing.assert_array_equal(fast.mask, ref.mask)
    assert fast.mask.dtype == np.bool_ and fast.mask.shape == x.shape and fast.mask.flat[0]
    close(fast.backward(dout), ref.backward(dout), dtype)


@given(st.data(), dtypes, st.lists(sizes, min_size=1, max_size=4))
def test_sigmoid_matches_reference(data, dtype, shape):
    x = data.draw(arrays(tuple(shape), lo=-20, hi=20)).astype(dtype)
    dout = data.draw(arrays(tuple(shape))).astype(dtype)
    fast, ref = fl.Sigmoid(), rl.Sigmoid()
    out = fast.forward(x)
    close(out, ref.forward(x), dtype)
    assert fast.out is out  # the book keeps its forward output for backward
    close(fast.backward(dout), ref.backward(dout), dtype)


@given(st.data(), st.lists(sizes, min_size=1, max_size=3))
def test_activations_backward_is_numerical_gradient(data, shape):
    x = data.draw(arrays(tuple(shape), away=0.1))
    dout = data.draw(arrays(tuple(shape)))
    for layer in (fl.Relu(), fl.Sigmoid()):
        check_numerically(layer, layer.forward, x, dout)


# --- Affine -----------------------------------------------------------------------------------------------------
def affine_case(data, dtype, ndim):
    """W, b, x of shape (N, ...) whose trailing dimensions flatten to W's rows, and dout."""
    n = data.draw(sizes)
    tail = tuple(data.draw(st.lists(st.integers(1, 3), min_size=ndim - 1, max_size=ndim - 1)))
    fan_in, fan_out = int(np.prod(tail)), data.draw(sizes)
    W = data.draw(arrays((fan_in, fan_out))).astype(dtype)
    b = data.draw(arrays((fan_out,))).astype(dtype)
    x = data.draw(arrays((n,) + tail)).astype(dtype)
    dout = data.draw(arrays((n, fan_out))).astype(dtype)
    return W, b, x, dout


@given(st.data(), dtypes, st.integers(2, 4))
def test_affine_matches_reference(data, dtype, ndim):
    W, b, x, dout = affine_case(data, dtype, ndim)
    fast, ref = fl.Affine(W, b), rl.Affine(W, b)
    close(fast.forward(x), ref.forward(x), dtype)
    assert fast.original_x_shape == x.shape
    assert fast.x.shape == (x.shape[0], W.shape[0])
    np.testing.assert_array_equal(fast.x, x.reshape(x.shape[0], -1))
    dx = fast.backward(dout)
    assert dx.shape == x.shape  # dx comes back in the input's shape
    close(dx, ref.backward(dout), dtype)
    close(fast.dW, ref.dW, dtype)
    close(fast.db, ref.db, dtype)
    same_grads(fast, ref, dtype)


@given(st.data(), st.integers(2, 3))
def test_affine_backward_is_numerical_gradient(data, ndim):
    W, b, x, dout = affine_case(data, np.float64, ndim)
    layer = fl.Affine(W, b)
    check_numerically(layer, layer.forward, x, dout, params=(W, b))


def test_affine_attributes_alias_params_and_grads(rng, dtype):
    W, b = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    layer = fl.Affine(W, b)
    assert layer.params[0] is W and layer.params[1] is b
    assert layer.W is W and layer.b is b
    assert layer.dW is layer.grads[0] and layer.db is layer.grads[1]
    assert layer.dW.dtype == dtype and layer.dW.shape == W.shape and not layer.dW.any()
    dW, db = layer.grads
    x, dout = rng.standard_normal((2, 4)).astype(dtype), rng.standard_normal((2, 3)).astype(dtype)
    for _ in range(2):  # written in place, call after call
        layer.forward(x)
        layer.backward(dout)
        assert layer.grads[0] is dW and layer.grads[1] is db
        close(dW, x.T @ dout, dtype)
        close(db, dout.sum(axis=0), dtype)
    W *= 2  # an in-place update (what optimizers do) is seen by the layer
    close(layer.forward(x), x @ W + b, dtype)


def test_affine_rebinding_W_keeps_params_in_step(rng, dtype):
    W, b = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    layer = fl.Affine(W, b)
    dW = layer.dW
    new = rng.standard_normal((4, 3)).astype(dtype)
    layer.W = new  # the book's load_params assigns layer.W
    assert layer.params[0] is new and layer.W is new
    assert layer.grads[0] is dW  # same shape: the buffer others may hold stays
    x = rng.standard_normal((2, 4)).astype(dtype)
    close(layer.forward(x), x @ new + b, dtype)
    layer.backward(np.ones((2, 3), dtype))
    close(dW, x.T @ np.ones((2, 3)), dtype)

    wider_W, wider_b = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    layer.W, layer.b = wider_W, wider_b
    assert layer.params == [wider_W, wider_b] and layer.dW.shape == (4, 5) and layer.db.shape == (5,)
    close(layer.forward(x), x @ wider_W + wider_b, dtype)


def test_affine_need_dx_false(rng, dtype):
    W, b = rng.standard_normal((6, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    x, dout = rng.standard_normal((2, 2, 3)).astype(dtype), rng.standard_normal((2, 3)).astype(dtype)
    ref = rl.Affine(W, b)
    ref.forward(x)
    ref.backward(dout)
    layer = fl.Affine(W, b)
    layer.forward(x)
    assert layer.backward(dout, need_dx=False) is None
    close(layer.dW, ref.dW, dtype)
    close(layer.db, ref.db, dtype)


def test_affine_computes_in_its_parameters_dtype_and_keeps_x_as_given(rng):
    W, b = rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32)
    layer = fl.Affine(W, b)
    x = rng.standard_normal((4, 3))  # float64
    out = layer.forward(x)
    assert out.dtype == np.float32
    assert layer.x.dtype == x.dtype and np.shares_memory(layer.x, x)  # the book's self.x: no cast copy
    assert layer.backward(np.ones((4, 2))).dtype == np.float32 and layer.dW.dtype == np.float32
    close(layer.dW, x.astype(np.float32).T @ np.ones((4, 2), np.float32), np.float32)
    out_int = layer.forward([[1, 2, 3]])
    close(out_int, np.array([[1, 2, 3]], np.float32) @ W, np.float32)


# --- SoftmaxWithLoss, Softmax -----------------------------------------------------------------------------------
def scores_and_labels(data, dtype, lo=-5.0, hi=5.0):
    n, c = data.draw(sizes), data.draw(st.integers(2, 5))
    x = data.draw(arrays((n, c), lo=lo, hi=hi)).astype(dtype)
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    return x, labels


@given(st.data(), dtypes, st.sampled_from(["labels", "onehot"]), st.floats(-3, 3))
def test_softmax_with_loss_matches_reference(data, dtype, kind, dout):
    x, labels = scores_and_labels(data, dtype)
    t = labels if kind == "labels" else np.eye(x.shape[1], dtype=dtype)[labels]
    fast, ref = fl.SoftmaxWithLoss(), rl.SoftmaxWithLoss()
    loss = fast.forward(x, t)
    assert type(loss) is np.dtype(dtype).type
    close(loss, ref.forward(x, t), dtype)
    assert fast.loss == loss and fast.t is t
    close(fast.y, ref.y, dtype)
    close(fast.y, softmax(x.astype(np.float64)), dtype)
    close(fast.backward(dout), ref.backward(dout), dtype)
    close(fast.backward(), ref.backward(), dtype)  # dout defaults to 1


@given(st.data(), dtypes)
def test_softmax_with_loss_soft_targets_as_the_book(data, dtype):
    """Rows that are not one-hot: forward takes their argmax, backward uses them as given (book 1)."""
    x, _ = scores_and_labels(data, dtype)
    t = data.draw(arrays(x.shape, lo=0, hi=1)).astype(dtype)
    fast, ref = fl.SoftmaxWithLoss(), rl.SoftmaxWithLoss()
    close(fast.forward(x, t), ref.forward(x, t), dtype)
    close(fast.backward(0.5), ref.backward(0.5), dtype)


@given(st.data(), st.sampled_from(["labels", "onehot"]), st.floats(0.5, 2))
def test_softmax_with_loss_backward_is_numerical_gradient(data, kind, dout):
    # scores in [-1, 1]: the book's 1e-7 inside log() then moves the gradient by less than 3e-6 / N
    x, labels = scores_and_labels(data, np.float64, lo=-1, hi=1)
    t = labels if kind == "labels" else np.eye(x.shape[1])[labels]
    layer = fl.SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(dout)
    np.testing.assert_allclose(dx, numeric(lambda: dout * layer.forward(x, t), x), rtol=1e-5, atol=1e-5)


@given(st.data(), dtypes)
def test_softmax_matches_reference_and_numerical_gradient(data, dtype):
    x, _ = scores_and_labels(data, dtype)
    dout = data.draw(arrays(x.shape)).astype(dtype)
    fast, ref = fl.Softmax(), rl.Softmax()
    close(fast.forward(x), ref.forward(x), dtype)
    close(fast.backward(dout), ref.backward(dout), dtype)
    if dtype == np.float64:
        check_numerically(fast, fast.forward, x, dout)


# --- MatMul, SigmoidWithLoss, Embedding (second book) -----------------------------------------------------------
@given(st.data(), dtypes)
def test_matmul_matches_reference_and_numerical_gradient(data, dtype):
    n, d, h = data.draw(sizes), data.draw(sizes), data.draw(sizes)
    W = data.draw(arrays((d, h))).astype(dtype)
    x, dout = data.draw(arrays((n, d))).astype(dtype), data.draw(arrays((n, h))).astype(dtype)
    fast, ref = fl.MatMul(W), rl.MatMul(W)
    assert fast.params[0] is W
    dW = fast.grads[0]
    close(fast.forward(x), ref.forward(x), dtype)
    close(fast.backward(dout), ref.backward(dout), dtype)
    assert fast.grads[0] is dW
    same_grads(fast, ref, dtype)
    if dtype == np.float64:
        check_numerically(fast, fast.forward, x, dout, params=(W,))


@given(st.data(), dtypes, st.floats(0.5, 2))
def test_sigmoid_with_loss_matches_reference(data, dtype, dout):
    n = data.draw(sizes)
    x = data.draw(arrays((n,), lo=-1, hi=1)).astype(dtype)
    t = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    fast, ref = fl.SigmoidWithLoss(), rl.SigmoidWithLoss()
    loss = fast.forward(x, t)
    close(loss, ref.forward(x, t), dtype)
    assert fast.loss == loss
    close(fast.y, ref.y, dtype)
    dx = fast.backward(dout)
    close(dx, ref.backward(dout), dtype)
    if dtype == np.float64:
        np.testing.assert_allclose(dx, numeric(lambda: dout * fast.forward(x, t), x), rtol=1e-5, atol=1e-6)


@given(st.data(), dtypes)
def test_embedding_matches_reference_and_numerical_gradient(data, dtype):
    vocab, dim, n = data.draw(sizes), data.draw(sizes), data.draw(st.integers(1, 8))
    W = data.draw(arrays((vocab, dim))).astype(dtype)
    idx = np.array(data.draw(st.lists(st.integers(0, vocab - 1), min_size=n, max_size=n)))  # repeats add up
    dout = data.draw(arrays((n, dim))).astype(dtype)
    fast, ref = fl.Embedding(W), rl.Embedding(W)
    assert fast.params[0] is W
    dW = fast.grads[0]
    close(fast.forward(idx), ref.forward(idx), dtype)
    assert fast.backward(dout) is None and ref.backward(dout) is None
    assert fast.grads[0] is dW
    same_grads(fast, ref, dtype)
    if dtype == np.float64:
        check_numerically(fast, lambda _: fast.forward(idx), None, dout, params=(W,))  # no dx: idx are ints


# --- Dropout ----------------------------------------------------------------------------------------------------
@given(st.data(), dtypes, st.floats(0, 0.9), st.integers(0, 2**32 - 1))
def test_dropout_matches_reference_under_seed(data, dtype, ratio, seed):
    shape = tuple(data.draw(st.lists(sizes, min_size=1, max_size=3)))
    x, dout = data.draw(arrays(shape)).astype(dtype), data.draw(arrays(shape)).astype(dtype)
    fast, ref = fl.Dropout(ratio), rl.Dropout(ratio)
    np.random.seed(seed)
    out = fast.forward(x, train_flg=True)
    np.random.seed(seed)
    close(out, ref.forward(x, train_flg=True), dtype)
    np.testing.assert_array_equal(fast.mask, ref.mask)
    close(fast.backward(dout), ref.backward(dout), dtype)

    state = np.random.get_state()[1].copy()
    close(fast.forward(x, train_flg=False), ref.forward(x, train_flg=False), dtype)
    close(fast.forward(x, train_flg=False), x * (1.0 - ratio), dtype)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # test mode draws nothing


@given(st.data(), st.integers(0, 2**32 - 1))
def test_dropout_backward_is_numerical_gradient(data, seed):
    x = data.draw(arrays((3, 4)))
    dout = data.draw(arrays((3, 4)))
    layer = fl.Dropout(0.4)

    def forward(v):  # the same mask on every call, as within one training step
        np.random.seed(seed)
        return layer.forward(v, train_flg=True)

    check_numerically(layer, forward, x, dout)


# --- BatchNormalization -----------------------------------------------------------------------------------------
@given(st.data(), dtypes, st.floats(0, 1), st.sampled_from([(4,), (2, 2), (2, 1, 3)]))
def test_batchnorm_matches_reference_with_running_stats(data, dtype, momentum, tail):
    """Several training batches (running statistics), then test mode; 2-D and 4-D input (N, C, H, W)."""
    features = int(np.prod(tail))
    gamma = data.draw(arrays((features,), lo=0.5, hi=2)).astype(dtype)
    beta = data.draw(arrays((features,))).astype(dtype)
    fast = fl.BatchNormalization(gamma, beta, momentum)
    ref = rl.BatchNormalization(gamma, beta, momentum)
    assert fast.params[0] is gamma and fast.params[1] is beta
    dgamma, dbeta = fast.grads
    for _ in range(3):
        n = data.draw(st.integers(2, 5))
        x = data.draw(arrays((n,) + tail)).astype(dtype)
        x.flat[0] += 0.5  # not all rows equal: the variance is not zero
        dout = data.draw(arrays((n,) + tail)).astype(dtype)
        out = fast.forward(x, train_flg=True)
        assert out.shape == x.shape
        close(out, ref.forward(x, train_flg=True), dtype)
        dx = fast.backward(dout)
        assert dx.shape == x.shape
        close(dx, ref.backward(dout), dtype)
        assert fast.grads[0] is dgamma and fast.grads[1] is dbeta
        same_grads(fast, ref, dtype)
        close(fast.running_mean, ref.running_mean, dtype)
        close(fast.running_var, ref.running_var, dtype)
    # Test mode from the same statistics: with a zero-variance feature the output is -running_mean / sqrt(1e-7),
    # which magnifies float32's rounding of the running mean (checked just above) 3000-fold.
    ref.running_mean, ref.running_var = fast.running_mean.astype(np.float64), fast.running_var.astype(np.float64)
    x = data.draw(arrays((3,) + tail)).astype(dtype)
    close(fast.forward(x, train_flg=False), ref.forward(x, train_flg=False), dtype)


@given(st.data(), st.sampled_from([(3,), (2, 1, 2)]), st.integers(2, 4))
def test_batchnorm_backward_is_numerical_gradient(data, tail, n):
    features = int(np.prod(tail))
    gamma = data.draw(arrays((features,), lo=0.5, hi=2))
    beta = data.draw(arrays((features,)))
    # rows spread apart, so the batch variance is not tiny and the normalisation is well conditioned
    x = data.draw(arrays((n,) + tail, lo=-0.5, hi=0.5)) + 2 * np.arange(n).reshape((n,) + (1,) * len(tail))
    dout = data.draw(arrays((n,) + tail))
    layer = fl.BatchNormalization(gamma, beta)
    check_numerically(layer, lambda v: layer.forward(v, train_flg=True), x, dout, params=(gamma, beta))


# --- float32 stays float32 --------------------------------------------------------------------------------------
def test_float32_layers_stay_float32(rng):
    f32 = np.float32
    x = rng.standard_normal((4, 3)).astype(f32)
    W, b = rng.standard_normal((3, 3)).astype(f32), rng.standard_normal(3).astype(f32)
    t = np.array([0, 1, 2, 1])
    cases = [
        (fl.Relu(), (x,)), (fl.Sigmoid(), (x,)), (fl.Affine(W, b), (x,)), (fl.Softmax(), (x,)),
        (fl.MatMul(W), (x,)), (fl.Dropout(0.5), (x,)),
        (fl.BatchNormalization(np.ones(3, f32), np.zeros(3, f32)), (x,)),
    ]
    for layer, args in cases:
        out = layer.forward(*args)
        assert out.dtype == f32, type(layer).__name__
        assert layer.backward(np.ones_like(out)).dtype == f32, type(layer).__name__
        assert all(g.dtype == f32 for g in layer.grads), type(layer).__name__
    bn = cases[-1][0]
    assert bn.running_mean.dtype == f32 and bn.forward(x, train_flg=False).dtype == f32
    loss_layer = fl.SoftmaxWithLoss()
    assert type(loss_layer.forward(x, t)) is f32 and loss_layer.backward().dtype == f32
    sig_loss = fl.SigmoidWithLoss()
    assert sig_loss.forward(x[:, 0], t % 2).dtype == f32 and sig_loss.backward().dtype == f32
    emb = fl.Embedding(W)
    assert emb.forward(t).dtype == f32


# --- bad input --------------------------------------------------------------------------------------------------
def _raises(exc, name, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert name in str(info.value)


def test_bad_input_names_the_argument(rng):
    W, b = rng.standard_normal((3, 2)), np.zeros(2)
    affine = fl.Affine(W, b)
    _raises(ValueError, "x", affine.forward, np.ones((4, 5)))  # wrong feature count
    _raises(ValueError, "x", affine.forward, np.ones(3))  # no batch axis
    _raises(TypeError, "x", affine.forward, np.array([["a", "b", "c"]]))
    _raises(RuntimeError, "forward", fl.Affine(W, b).backward, np.ones((1, 2)))
    affine.forward(np.ones((4, 3)))
    _raises(ValueError, "dout", affine.backward, np.ones((4, 3)))
    _raises(TypeError, "W", fl.Affine, np.ones((3, 2), dtype=int), b)
    _raises(TypeError, "W", fl.Affine, [[1.0, 2.0]], b)
    _raises(ValueError, "b", fl.Affine, W, np.zeros(3))
    _raises(ValueError, "b", fl.Affine, W, np.zeros(2, np.float32))
    affine.b = np.zeros(5)  # rebound to a shape that does not match W: refused before the kernel runs
    _raises(ValueError, "b", affine.forward, np.ones((4, 3)))

    swl = fl.SoftmaxWithLoss()
    _raises(ValueError, "t", swl.forward, np.ones((3, 4)), np.array([0, 1]))  # wrong length
    _raises(ValueError, "t", swl.forward, np.ones((3, 4)), np.array([0, 1, 4]))  # out of range
    _raises(ValueError, "t", swl.forward, np.ones((3, 4)), np.array([0, -1, 2]))
    _raises(TypeError, "t", swl.forward, np.ones((3, 4)), np.array(["a", "b", "c"]))
    _raises(RuntimeError, "forward", swl.backward)
    swl.forward(np.ones((3, 4)), np.array([0, 1, 2]))
    _raises(TypeError, "dout", swl.backward, "1")

    relu = fl.Relu()
    relu.forward(np.ones((2, 3)))
    _raises(ValueError, "dout", relu.backward, np.ones((3, 2)))
    sig = fl.Sigmoid()
    sig.forward(np.ones((2, 3)))
    _raises(ValueError, "dout", sig.backward, np.ones(6))

    _raises(ValueError, "dropout_ratio", fl.Dropout, 1.0)
    _raises(ValueError, "dropout_ratio", fl.Dropout, -0.1)
    _raises(TypeError, "dropout_ratio", fl.Dropout, "half")

    gamma, beta = np.ones(3), np.zeros(3)
    _raises(ValueError, "momentum", fl.BatchNormalization, gamma, beta, momentum=1.5)
    _raises(ValueError, "beta", fl.BatchNormalization, gamma, np.zeros(4))
    bn = fl.BatchNormalization(gamma, beta)
    _raises(ValueError, "x", bn.forward, np.ones((4, 5)))
    # one row in training mode is the book's own gradient check (variance 0, so xn = 0 and out = beta)
    np.testing.assert_array_equal(bn.forward(np.ones((1, 3)), train_flg=True), beta.reshape(1, 3))

    _raises(ValueError, "x", fl.MatMul(W).forward, np.ones((2, 4)))
    _raises(ValueError, "t", fl.SigmoidWithLoss().forward, np.zeros(3), np.array([0, 1, 2]))
    _raises(ValueError, "idx", fl.Embedding(W).forward, np.array([0, 3]))
    _raises(ValueError, "idx", fl.Embedding(W).forward, np.array([0.5]))


# --- a non-finite loss says so (the book's NumPy warns on the way there; compiled code cannot) ------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("loss", ["SoftmaxWithLoss", "SigmoidWithLoss", "softmax_loss", "cross_entropy_error",
                                  "net.loss"])
def test_a_non_finite_loss_warns_once_and_a_finite_one_does_not(loss, bad):
    from fastnn import functions, nets

    def run(value):
        if loss == "SoftmaxWithLoss":
            return fl.SoftmaxWithLoss().forward(np.array([[value, 1.0, 2.0]]), np.array([1]))
        if loss == "SigmoidWithLoss":
            return fl.SigmoidWithLoss().forward(np.array([[value], [0.5]]), np.array([[1], [0]]))
        if loss == "softmax_loss":
            return functions.softmax_loss(np.array([[value, 1.0, 2.0]]), np.array([0]))
        if loss == "cross_entropy_error":
            y = np.array([[0.2, 0.3, 0.5]])
            y[0, 0] = value if not value < 0 else np.nan  # probabilities: -inf is refused as a negative y
            return functions.cross_entropy_error(y, np.array([0]))
        net = nets.TwoLayerNet(3, 4, 3)
        net.params["b2"][0] = value
        return net.loss(np.ones((2, 3)), np.array([0, 1]))

    def ours(records, value):  # with NUMBA_DISABLE_JIT=1 NumPy's own overflow warnings come too
        return [w for w in records if f" is {value}: " in str(w.message)]

    with warnings.catch_warnings(record=True) as finite:
        warnings.simplefilter("always")
        assert np.isfinite(run(0.25))
    assert not ours(finite, 0.25)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = run(bad)
    caught = ours(caught, value)
    if np.isnan(bad):
        assert not np.isfinite(value)  # NaN reaches every one of these losses
    if np.isfinite(value):  # e.g. a -inf score: softmax gives that class 0, the loss stays finite
        assert not caught
        return
    assert len(caught) == 1 and caught[0].category is RuntimeWarning
    assert str(value) in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the warnings module filters it
        run(bad)


@pytest.mark.parametrize("rows", [1, fl.CAST_BLOCK_ROWS, 2 * fl.CAST_BLOCK_ROWS + 3])
@pytest.mark.parametrize("x_dtype, w_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_affine_casts_a_block_of_rows_at_a_time_with_numpys_mixed_dtype_result(rng, rows, x_dtype, w_dtype):
    """Float32 images against float64 weights (the books' case) and the reverse: forward through the blocked cast
    (one block, exactly one, several and a partial one), backward from the kept rows or a new cast; the book's
    x @ W + b in W's dtype is the oracle."""
    W, b = rng.standard_normal((7, 3)).astype(w_dtype), rng.standard_normal(3).astype(w_dtype)
    x = rng.standard_normal((rows, 7)).astype(x_dtype)
    dout = rng.standard_normal((rows, 3)).astype(w_dtype)
    layer = fl.Affine(W, b)
    out = layer.forward(x)
    xw = x.astype(w_dtype)
    close(out, xw @ W + b, w_dtype)
    assert out.dtype == w_dtype and layer.x.dtype == x_dtype
    dx = layer.backward(dout)
    close(layer.dW, xw.T @ dout, w_dtype)
    close(layer.db, dout.sum(axis=0), w_dtype)
    close(dx, dout @ W.T, w_dtype)
    assert dx.dtype == w_dtype
