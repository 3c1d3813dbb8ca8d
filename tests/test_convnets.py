"""fastnn.nets.SimpleConvNet and DeepConvNet against the reference nets (fastnn.reference.convnets, the book's idiom
on the reference layers), against central differences, with the book's trained weights, and through the CLI.

Independent oracles here: the reference nets share no code with fastnn's; central differences check both
gradients; the book's weight files hold real trained nets whose predictions both sides must agree on.
"""
import hashlib
import importlib.util
import os
import pickle
import sys

import numpy as np
import pytest

import book_scripts
from fastnn import cli, datasets, nets
from fastnn.optimizer import Adam
from fastnn.reference import convnets as rc
from fastnn.reference.functions import numerical_gradient
from fastnn.reference.optimizer import Adam as RefAdam

SHARED = book_scripts.shared_dir()  # the tests that read it are marked books (tests/conftest.py)
BOOK_WEIGHTS = {"ch07/params.pkl": "a5da99cffddafcfe5e686e79dc0ec3a7cc993b58e64f483b50960511e5e85344",
                "ch08/deep_convnet_params.pkl": "4b7a27baee2037605afa94d3f514ca9fa9cc96623739328609765073cfd5f802"}
TOL = {np.dtype(np.float64): dict(rtol=1e-9, atol=1e-12), np.dtype(np.float32): dict(rtol=2e-4, atol=1e-5)}
SMALL_SIMPLE = dict(input_dim=(2, 11, 11), conv_param={"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 2},
                    hidden_size=7, output_size=5, weight_init_std=0.3)
SMALL_DEEP = dict(input_dim=(1, 12, 12), hidden_size=6, output_size=4,
                  **{f"conv_param_{i}": {"filter_num": n, "filter_size": 3, "pad": p, "stride": 1}
                     for i, (n, p) in enumerate(((2, 1), (3, 1), (3, 1), (2, 2), (3, 1), (2, 1)), start=1)})
# output sizes the book floors: (10 + 2 - 3) / 2 + 1 = 5.5 -> 5, then pooling 5 -> 2 (last row and column left out)
FLOOR_SIMPLE = dict(input_dim=(2, 10, 10), conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 2},
                    hidden_size=5, output_size=4, weight_init_std=0.3)
# 18 -> 9 (9.5 floored) -> 9 -> pool 4 -> 4 -> 6 -> pool 3 -> 2 (2.5 floored) -> 2 -> pool 1
FLOOR_DEEP = dict(input_dim=(1, 18, 18), hidden_size=5, output_size=4,
                  **{f"conv_param_{i}": {"filter_num": n, "filter_size": f, "pad": p, "stride": s}
                     for i, (n, f, p, s) in enumerate(((2, 3, 1, 2), (3, 3, 1, 1), (2, 3, 1, 1), (3, 3, 2, 1),
                                                       (2, 2, 1, 2), (3, 3, 1, 1)), start=1)})


def pair(kind, dtype=np.float64, seed=0, **kwargs):
    """(fastnn net, reference net) from the same np.random state: the same draws must give the same params."""
    name = "SimpleConvNet" if kind == "simple" else "DeepConvNet"
    np.random.seed(seed)
    fast = getattr(nets, name)(**kwargs, dtype=dtype)
    np.random.seed(seed)
    ref = getattr(rc, name)(**kwargs)
    return fast, ref


def batch(net, n=3, seed=1, classes=None):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *net.input_dim)).astype(net.dtype)
    return x, rng.integers(0, classes or net._n_out, n)


def cast_ref(ref, dtype):
    """The reference net given its own params in ``dtype`` (its layers hold the arrays: rebind them too)."""
    for key in ref.params:
        ref.params[key] = ref.params[key].astype(dtype)
    layers = ref.layers.values() if isinstance(ref.layers, dict) else ref.layers
    weighted = [layer for layer in layers if hasattr(layer, "dW")]
    for i, layer in enumerate(weighted, start=1):
        layer.W, layer.b = ref.params["W" + str(i)], ref.params["b" + str(i)]
    return ref


def close(actual, expected, dtype):
    assert np.asarray(actual).dtype == np.dtype(dtype)
    np.testing.assert_allclose(actual, expected, **TOL[np.dtype(dtype)])


# --- construction: the book's draws, shapes, names ------------------------------------------------------------
def test_default_simple_convnet_has_the_books_params_and_layers():
    fast, ref = pair("simple")
    assert list(fast.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert {k: v.shape for k, v in fast.params.items()} == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100),
                                                           "b2": (100,), "W3": (100, 10), "b3": (10,)}
    assert list(fast.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    for key in fast.params:
        np.testing.assert_array_equal(fast.params[key], ref.params[key])
    assert fast.layers["Conv1"].W is fast.params["W1"] and fast.layers["Affine2"].b is fast.params["b3"]


def test_default_deep_convnet_has_the_books_params_layers_and_he_scales():
    fast, ref = pair("deep")
    assert list(fast.params) == [f"{k}{i}" for i in range(1, 9) for k in "Wb"]
    assert fast.params["W7"].shape == (64 * 4 * 4, 50) and fast.params["W4"].shape == (32, 32, 3, 3)
    assert len(fast.layers) == 20
    assert [type(layer).__name__ for layer in fast.layers[14:]] == ["Pooling", "Affine", "Relu", "Dropout",
                                                                      "Affine", "Dropout"]
    for key in fast.params:
        np.testing.assert_array_equal(fast.params[key], ref.params[key])
    # the book's fan-ins, written out in its code: 1*3*3, 16*3*3, 16*3*3, 32*3*3, 32*3*3, 64*3*3, 64*4*4, 50
    for i, fan_in in enumerate((9, 144, 144, 288, 288, 576, 1024, 50), start=1):
        assert np.std(fast.params["W" + str(i)]) == pytest.approx(np.sqrt(2 / fan_in), rel=0.35)


def test_float32_nets_draw_the_same_numbers(dtype):
    fast, ref = pair("simple", dtype, **SMALL_SIMPLE)
    for key in fast.params:
        assert fast.params[key].dtype == dtype
        close(fast.params[key], ref.params[key].astype(dtype), dtype)


# --- predict, loss, accuracy, gradient against the reference ---------------------------------------------------
@pytest.mark.parametrize("kind, kwargs", [("simple", SMALL_SIMPLE), ("deep", SMALL_DEEP),
                                          ("simple", dict(input_dim=(1, 8, 8), conv_param={
                                              "filter_num": 3, "filter_size": 3, "pad": 0, "stride": 1})),
                                          ("simple", FLOOR_SIMPLE), ("deep", FLOOR_DEEP)])
def test_nets_match_the_reference(kind, kwargs, dtype):
    fast, ref = pair(kind, dtype, **kwargs)
    cast_ref(ref, dtype)
    x, t = batch(fast, n=5)
    close(fast.predict(x), ref.predict(x), dtype)
    np.random.seed(7)
    fast_loss = fast.loss(x, t)
    np.random.seed(7)
    close(fast_loss, ref.loss(x, t), dtype)
    np.random.seed(8)
    fast_grads = {k: v.copy() for k, v in fast.gradient(x, t).items()}
    np.random.seed(8)
    ref_grads = ref.gradient(x, t)
    assert list(fast_grads) == list(ref_grads)
    for key in ref_grads:
        close(fast_grads[key], ref_grads[key], dtype)
    onehot = np.eye(fast._n_out)[t]
    assert fast.accuracy(x, t, batch_size=2) == ref.accuracy(x, t, batch_size=2) == fast.accuracy(x, onehot)


@pytest.mark.parametrize("kind, kwargs", [("simple", SMALL_SIMPLE), ("deep", SMALL_DEEP), ("simple", FLOOR_SIMPLE),
                                          ("deep", FLOOR_DEEP)])
def test_layers_show_the_books_state_after_gradient(kind, kwargs):
    """Relu - Pooling run fused inside the nets; each layer still shows what the book's shows after gradient."""
    fast, ref = pair(kind, **kwargs)
    x, t = batch(fast, n=4)
    np.random.seed(5)
    fast.gradient(x, t)
    np.random.seed(5)
    ref.gradient(x, t)
    fast_layers = fast.layers.values() if kind == "simple" else fast.layers
    ref_layers = ref.layers.values() if kind == "simple" else ref.layers
    checked = set()
    for a, b in zip(fast_layers, ref_layers):
        for attr in ("mask", "x", "arg_max", "col"):
            if getattr(b, attr, None) is not None:
                close(np.asarray(getattr(a, attr), float), np.asarray(getattr(b, attr), float), np.float64)
                checked.add((type(b).__name__, attr))
    assert {("Relu", "mask"), ("Pooling", "x"), ("Pooling", "arg_max"), ("Convolution", "col")} <= checked


def test_accuracy_counts_a_last_partial_batch():
    fast, _ = pair("simple", **SMALL_SIMPLE)
    x, _ = batch(fast, n=7)
    t = np.argmax(fast.predict(x), axis=1)  # every row right
    t[-1] = (t[-1] + 1) % fast._n_out  # ... but the last, which the book's loop would not look at
    assert fast.accuracy(x, t, batch_size=3) == pytest.approx(6 / 7)
    assert fast.accuracy(x, t, batch_size=100) == pytest.approx(6 / 7)


def test_deep_convnet_draws_dropout_masks_in_the_books_order():
    fast, ref = pair("deep", **SMALL_DEEP)
    x, t = batch(fast, n=4)
    np.random.seed(3)
    fast.gradient(x, t)
    after_fast = np.random.rand()
    np.random.seed(3)
    ref.gradient(x, t)
    assert np.random.rand() == after_fast  # the same number of draws
    for a, b in zip(fast.layers, ref.layers):
        if hasattr(b, "mask") and type(b).__name__ == "Dropout":
            np.testing.assert_array_equal(a.mask, b.mask)
    # test time draws nothing and scales by 1 - ratio
    state = np.random.get_state()[1].copy()
    fast.predict(x)
    fast.accuracy(x, t)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_training_steps_with_adam_follow_the_reference():
    fast, ref = pair("simple", **SMALL_SIMPLE)
    x, t = batch(fast, n=6)
    fast_adam, ref_adam = Adam(lr=0.01), RefAdam(lr=0.01)
    for _ in range(5):
        fast_adam.update(fast.params, fast.gradient(x, t))
        ref_adam.update(ref.params, ref.gradient(x, t))
    for key in ref.params:
        close(fast.params[key], ref.params[key], np.float64)
    close(fast.loss(x, t), ref.loss(x, t), np.float64)


# --- central differences ---------------------------------------------------------------------------------------
def _central_differences(net, x, t, seed=None):
    def loss(_):
        if seed is not None:  # the same dropout masks in every evaluation
            np.random.seed(seed)
        return net.loss(x, t)
    return {key: numerical_gradient(loss, net.params[key]) for key in net.params}


@pytest.mark.parametrize("kind, kwargs, seed", [("simple", SMALL_SIMPLE, None), ("deep", SMALL_DEEP, 11),
                                                ("simple", FLOOR_SIMPLE, None), ("deep", FLOOR_DEEP, 11)])
def test_backprop_equals_central_differences(kind, kwargs, seed):
    fast, _ = pair(kind, **kwargs)
    x, t = batch(fast, n=3)
    x -= 0.5  # inputs of both signs, and non-zero biases: no unit sits exactly on a ReLU kink (where the
    rng = np.random.default_rng(2)  # central difference takes half of the one-sided slope and backprop none)
    for key in fast.params:
        if key.startswith("b"):
            fast.params[key][...] = rng.normal(0, 0.1, fast.params[key].shape)
    if seed is not None:
        np.random.seed(seed)
    grads = fast.gradient(x, t)
    numeric = _central_differences(fast, x, t, seed)
    for key, g in grads.items():
        np.testing.assert_allclose(g, numeric[key], rtol=1e-5, atol=1e-6, err_msg=key)  # h = 1e-4: O(h^2) error


def test_simple_convnet_numerical_gradient_is_the_books():
    fast, ref = pair("simple", **SMALL_SIMPLE)
    x, t = batch(fast, n=2)
    fast_num, ref_num = fast.numerical_gradient(x, t), ref.numerical_gradient(x, t)
    assert list(fast_num) == list(ref_num)
    for key in ref_num:
        np.testing.assert_allclose(fast_num[key], ref_num[key], rtol=1e-6, atol=1e-10)


# --- saving and loading ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, kwargs", [("simple", SMALL_SIMPLE), ("deep", SMALL_DEEP)])
def test_save_and_load_params_round_trip_in_place(kind, kwargs, tmp_path):
    fast, _ = pair(kind, **kwargs)
    x, _ = batch(fast)
    path = tmp_path / "params.pkl"  # the book's file name: the content is .npz all the same
    fast.save_params(path)
    assert path.read_bytes()[:4] == b"PK\x03\x04"
    other, _ = pair(kind, seed=5, **kwargs)
    arrays = {k: v for k, v in other.params.items()}
    other.load_params(path)
    assert all(other.params[k] is arrays[k] for k in arrays)  # in place: optimizers keep their arrays
    np.testing.assert_array_equal(other.predict(x), fast.predict(x))


def test_load_params_refuses_other_keys_or_shapes(tmp_path):
    simple, _ = pair("simple", **SMALL_SIMPLE)
    deep, _ = pair("deep", **SMALL_DEEP)
    path = tmp_path / "deep.npz"
    deep.save_params(path)
    before = {k: v.copy() for k, v in simple.params.items()}
    with pytest.raises(ValueError, match="holds parameters"):
        simple.load_params(path)
    other, _ = pair("simple", **dict(SMALL_SIMPLE, hidden_size=8))
    other.save_params(path)
    with pytest.raises(ValueError, match="has shape"):
        simple.load_params(path)
    for k in before:  # nothing half-loaded
        np.testing.assert_array_equal(simple.params[k], before[k])


def _book_weights(name):
    path = SHARED / "book1" / name
    if not path.is_file():
        pytest.fail(f"the book's weights are missing: {path} (set FASTNN_SHARED)")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BOOK_WEIGHTS[name]
    return path


@pytest.mark.slow  # (the full-size nets: minutes with NUMBA_DISABLE_JIT=1)
@pytest.mark.books
@pytest.mark.parametrize("kind, name", [("simple", "ch07/params.pkl"), ("deep", "ch08/deep_convnet_params.pkl")])
def test_the_books_trained_weights_load_and_predict_as_the_reference(kind, name, dtype):
    path = _book_weights(name)
    fast, ref = pair(kind, dtype)
    fast.load_params(path)
    with open(path, "rb") as f:  # the genuine file (checked above): plain pickle is safe here
        book = pickle.load(f)
    for key, value in book.items():
        ref.params[key][...] = value
    cast_ref(ref, dtype)
    (_, _), (x_test, t_test) = datasets.load_digits(flatten=False)
    # 8x8 digits scaled up to 28x28 (nearest neighbour, centred): inputs like the ones these nets were trained on
    x = np.zeros((50, 1, 28, 28), dtype)
    x[:, :, 2:26, 2:26] = np.repeat(np.repeat(x_test[:50], 3, axis=2), 3, axis=3)
    close(fast.predict(x), ref.predict(x), dtype)
    scores = fast.predict(x)
    assert len(set(np.argmax(scores, axis=1))) > 1  # a real net, not a constant


# --- the book's own nets on geometries they floor -----------------------------------------------------------------
def _book_module(relative):
    """A chapter module of the book's own code (e.g. ch07/simple_convnet.py), loaded with the book's ``common``
    package; sys.path and any other ``common`` in sys.modules are restored afterwards."""
    book = SHARED / "book1"
    path = book / relative
    if not path.is_file():
        pytest.fail(f"the book's code is missing: {path} (set FASTNN_SHARED)")
    saved_path, saved = list(sys.path), {k: sys.modules.pop(k) for k in list(sys.modules)
                                         if k == "common" or k.startswith("common.")}
    sys.path.insert(0, str(book))
    try:
        spec = importlib.util.spec_from_file_location("book1_" + path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved_path
        for k in [k for k in sys.modules if k == "common" or k.startswith("common.")]:
            del sys.modules[k]
        sys.modules.update(saved)
    return module


def _same_as_book(fast, book, x, t, seed):
    """fastnn's net and the book's (same params) give the same scores, loss and gradient (same dropout draws)."""
    np.testing.assert_allclose(fast.predict(x), book.predict(x), rtol=1e-10, atol=1e-12)
    np.random.seed(seed)
    loss = fast.loss(x, t)
    np.random.seed(seed)
    assert loss == pytest.approx(book.loss(x, t), rel=1e-10)
    np.random.seed(seed)
    grads = {k: v.copy() for k, v in fast.gradient(x, t).items()}
    np.random.seed(seed)
    book_grads = book.gradient(x, t)
    assert list(grads) == list(book_grads)
    for key in grads:
        np.testing.assert_allclose(grads[key], book_grads[key], rtol=1e-9, atol=1e-12, err_msg=key)


@pytest.mark.books
def test_a_floored_simple_convnet_the_book_runs_is_the_books():
    """The book's SimpleConvNet sizes W2 from the unrounded (7 - 3) / 3 + 1 = 2.33 windows: int(2 * 1.17**2) = 2
    rows, which is what its floored layers produce (2 x 2 -> pooled 1 x 1, 2 filters; input row and column 6 are
    in no window), so it runs; fastnn draws the same weights and computes the same."""
    book_net = _book_module("ch07/simple_convnet.py").SimpleConvNet
    kwargs = dict(input_dim=(1, 7, 7), conv_param={"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 3},
                  hidden_size=4, output_size=3, weight_init_std=0.5)
    np.random.seed(0)
    book = book_net(**kwargs)
    np.random.seed(0)
    fast = nets.SimpleConvNet(**kwargs)
    for key in book.params:
        np.testing.assert_array_equal(fast.params[key], book.params[key])
    x = np.random.default_rng(1).standard_normal((3, 1, 7, 7))
    _same_as_book(fast, book, x, np.array([0, 2, 1]), seed=0)
    assert not fast.layers["Conv1"].backward(np.ones((3, 2, 2, 2)))[:, :, 6].any()  # row 6: zero gradient


@pytest.mark.books
def test_a_floored_deep_convnet_the_book_runs_is_the_books():
    """The book's DeepConvNet on 58 x 61 images, its first convolution with stride 2: 58 -> 29 (28.5 + 1 floored)
    -> 29 -> 14 -> 14 -> 16 -> 8 -> 4 and 61 -> 31 -> 31 -> 15 -> 15 -> 17 -> 8 -> 4, the poolings flooring too, so
    its fixed 64*4*4 inputs of W7 fit and it runs. With these small channel counts the book keeps its He scales
    for 16-64 channels (fastnn's come from the real fan-in), so the book's weights are copied over."""
    book_net = _book_module("ch08/deep_convnet.py").DeepConvNet
    conv = {f"conv_param_{i}": {"filter_num": n, "filter_size": 3, "pad": p, "stride": s}
            for i, (n, p, s) in enumerate(((2, 1, 2), (2, 1, 1), (2, 1, 1), (2, 2, 1), (3, 1, 1), (64, 1, 1)),
                                          start=1)}
    kwargs = dict(input_dim=(1, 58, 61), hidden_size=5, output_size=3, **conv)
    np.random.seed(0)
    book = book_net(**kwargs)
    fast = nets.DeepConvNet(**kwargs)
    for key in book.params:
        assert fast.params[key].shape == book.params[key].shape
        fast.params[key][...] = book.params[key]
    x = np.random.default_rng(2).standard_normal((2, 1, 58, 61))
    _same_as_book(fast, book, x, np.array([2, 0]), seed=4)


@pytest.mark.slow  # (the full-size net: minutes with NUMBA_DISABLE_JIT=1)
@pytest.mark.books
def test_the_books_default_deep_convnet_on_29_x_31_images_is_the_books():
    """The default channels on a floored geometry: the same He draws as the book's, the same results."""
    book_net = _book_module("ch08/deep_convnet.py").DeepConvNet
    np.random.seed(0)
    book = book_net(input_dim=(1, 29, 31))
    np.random.seed(0)
    fast = nets.DeepConvNet(input_dim=(1, 29, 31))
    for key in book.params:
        np.testing.assert_array_equal(fast.params[key], book.params[key])
    x = np.random.default_rng(3).standard_normal((2, 1, 29, 31))
    _same_as_book(fast, book, x, np.array([7, 1]), seed=5)


# --- bad input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(input_dim=(1, 28)), ValueError, "input_dim"),
    (dict(input_dim=(0, 28, 28)), ValueError, r"input_dim\[0\]"),
    (dict(conv_param={"filter_num": 30, "filter_size": 5, "pad": 0}), ValueError, "stride"),
    (dict(conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 0}), ValueError, "stride"),
    (dict(conv_param={"filter_num": 30, "filter_size": 40, "pad": 0, "stride": 1}), ValueError, "does not fit"),
    # output size 0: (28 - 29) // 2 + 1 for the convolution, (1 - 2) // 2 + 1 for the pooling of a 1 x 1 output
    (dict(conv_param={"filter_num": 30, "filter_size": 29, "pad": 0, "stride": 2}), ValueError,
     r"^the convolution \(height\): .* = 0, below 1\)"),
    (dict(conv_param={"filter_num": 30, "filter_size": 28, "pad": 0, "stride": 1}), ValueError,
     r"^the pooling \(height\): a window of 2 with stride 2 and pad 0 does not fit a size of 1 "),
    (dict(conv_param=[30, 5, 0, 1]), TypeError, "conv_param"),
    (dict(hidden_size=0), ValueError, "hidden_size"),
    (dict(weight_init_std=-1), ValueError, "weight_init_std"),
    (dict(dtype=np.int32), TypeError, "dtype"),
])
def test_simple_convnet_refuses_bad_settings(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nets.SimpleConvNet(**kwargs)


@pytest.mark.parametrize("conv_param, conv_size, pooled", [
    ({"filter_num": 3, "filter_size": 4, "pad": 0, "stride": 1}, 25, 12),  # an odd size: pooling floors 12.5
    ({"filter_num": 3, "filter_size": 5, "pad": 0, "stride": 2}, 12, 6),  # (28 - 5) / 2 + 1 = 12.5 floored
    ({"filter_num": 3, "filter_size": 4, "pad": 1, "stride": 3}, 9, 4)])  # 9.67 floored, then 4.5 floored
def test_simple_convnet_floors_output_sizes_like_the_book(conv_param, conv_size, pooled):
    """Geometries fastnn refused before issue #24 (the book's layers floor them): the first affine layer takes the
    sizes the layers produce, and the net runs forward and backward."""
    net = nets.SimpleConvNet(conv_param=conv_param, hidden_size=3)
    assert net.params["W2"].shape == (3 * pooled * pooled, 3)
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    assert net.layers["Conv1"].forward(x).shape == (2, 3, conv_size, conv_size)
    grads = net.gradient(x, np.array([1, 2]))
    assert np.isfinite(net.loss(x, np.array([1, 2]))) and grads["W1"].shape == net.params["W1"].shape


def test_deep_convnet_floors_odd_sizes_and_refuses_an_output_size_below_1():
    """26 x 26 (refused before issue #24): 26 -> 13 -> 15 (pad 2) -> pooling floors 7.5 -> 7 -> 3.5 -> 3."""
    assert nets.DeepConvNet(input_dim=(1, 26, 26)).params["W7"].shape == (64 * 3 * 3, 50)
    # 2 -> 2 -> 1 -> 1 -> 3 (pad 2) -> 1 -> 1 -> 1 -> the last pooling's (1 - 2) // 2 + 1 = 0
    with pytest.raises(ValueError, match=r"^the pooling after convolution 6 \(height\): .* does not fit a size of "):
        nets.DeepConvNet(input_dim=(1, 2, 2))


@pytest.mark.parametrize("make_x, match", [
    (lambda net: np.zeros((2, 2 * 11 * 11)), "4-D"),
    (lambda net: np.zeros((2, 1, 11, 11)), r"shape \(N, 2, 11, 11\)"),
    (lambda net: np.zeros((0, 2, 11, 11)), "empty"),
    (lambda net: np.zeros((2, 2, 11, 11), dtype=object), "real numbers"),
])
def test_calls_refuse_bad_x(make_x, match):
    net, _ = pair("simple", **SMALL_SIMPLE)
    x = make_x(net)
    exc = TypeError if x.dtype == object else ValueError
    for call in (lambda: net.predict(x), lambda: net.loss(x, [0, 1]), lambda: net.gradient(x, [0, 1]),
                 lambda: net.accuracy(x, [0, 1])):
        with pytest.raises(exc, match=match):
            call()


def test_calls_refuse_bad_labels_and_batch_size():
    net, _ = pair("simple", **SMALL_SIMPLE)
    x, _ = batch(net, n=2)
    with pytest.raises(ValueError, match="out of range"):
        net.loss(x, [0, 9])
    with pytest.raises(ValueError, match="one row per row"):
        net.accuracy(x, [0, 1, 2])
    with pytest.raises(ValueError, match="batch_size"):
        net.accuracy(x, [0, 1], batch_size=0)


def test_a_replaced_params_entry_is_used(tmp_path):
    """The book's load_params assigns new arrays to params and to the layers; a user may assign params only."""
    net, ref = pair("simple", **SMALL_SIMPLE)
    x, _ = batch(net)
    net.params["W2"] = net.params["W2"] * 2
    ref.params["W2"] = ref.layers["Affine1"].W = ref.params["W2"] * 2
    close(net.predict(x), ref.predict(x), np.float64)


# --- the CLI ----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_trains_a_simple_convnet_on_the_bundled_digits(tmp_path, capsys):
    out = tmp_path / "convnet.npz"
    assert cli.main(["train", "--model", "simple-convnet", "--optimizer", "adam", "--lr", "0.01", "--epochs", "4",
                     "--no-progress", "--out", str(out), "--plot", ""]) == 0
    printed = capsys.readouterr().out
    assert "SimpleConvNet(input_dim=(1, 8, 8), 30 filters 3x3" in printed
    accuracy = float(printed.split("final test accuracy ")[1].split()[0])
    assert accuracy >= 0.9
    net = nets.SimpleConvNet((1, 8, 8), {"filter_num": 30, "filter_size": 3, "pad": 0, "stride": 1})
    net.load_params(out)
    (_, _), (x_test, t_test) = datasets.load_digits(flatten=False)
    assert net.accuracy(x_test, t_test) == pytest.approx(accuracy, abs=1e-4)


@pytest.mark.slow
def test_cli_trains_a_simple_convnet_on_fashion_mnist(tmp_path, capsys):
    try:
        datasets.load_fashion_mnist()
    except FileNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Fashion-MNIST is required in CI: {exc}")
        pytest.skip(str(exc))
    assert cli.main(["train", "--model", "simple-convnet", "--dataset", "fashion-mnist", "--optimizer", "adam",
                     "--lr", "0.001", "--batch-size", "100", "--epochs", "1", "--eval-samples", "1000",
                     "--no-progress", "--out", str(tmp_path / "m.npz"), "--plot", ""]) == 0
    printed = capsys.readouterr().out
    assert "SimpleConvNet(input_dim=(1, 28, 28), 30 filters 5x5" in printed
    assert float(printed.split("final test accuracy ")[1].split()[0]) >= 0.8

