"""fastnn.nets against the books' networks (fastnn.reference.nets): same parameters from the same seed, same
layers, same losses and gradients, same training trajectory; gradients against central differences (the book's
gradient_check); aliasing between params and layers; float32 end to end; readable errors for bad input."""
import copy
import gc
import pickle
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnn import nets as fn
from fastnn import optimizer as fo
from fastnn.gradient import numerical_gradient
from fastnn.reference import nets as rn
from fastnn.reference import optimizer as ro
from fastnn.reference.functions import numerical_gradient as ref_numerical_gradient
from fastnn.reference.functions import softmax

IN, OUT = 4, 3
# name -> (class name, positional args, keyword args); small, so the Python-loop numerical gradient is quick
SPECS = {
    "TwoLayerNet": ("TwoLayerNet", (IN, 5, OUT), dict(weight_init_std=0.5)),
    "TwoLayerNet-default": ("TwoLayerNet", (IN, 5, OUT), {}),
    "TwoLayerNetCh4": ("TwoLayerNetCh4", (IN, 5, OUT), dict(weight_init_std=0.5)),
    "MultiLayerNet-relu": ("MultiLayerNet", (IN, [5, 4], OUT), {}),
    "MultiLayerNet-relu-decay": ("MultiLayerNet", (IN, [5, 4], OUT), dict(weight_decay_lambda=0.1)),
    "MultiLayerNet-sigmoid": ("MultiLayerNet", (IN, [5], OUT), dict(activation="sigmoid", weight_init_std="xavier")),
    "MultiLayerNet-sigmoid-decay": ("MultiLayerNet", (IN, [5, 3], OUT),
                                    dict(activation="sigmoid", weight_init_std=0.8, weight_decay_lambda=0.05)),
    "Extend-dropout": ("MultiLayerNetExtend", (IN, [5, 4], OUT), dict(use_dropout=True, dropout_ration=0.3)),
    "Extend-batchnorm": ("MultiLayerNetExtend", (IN, [5, 4], OUT), dict(use_batchnorm=True)),
    "Extend-both-decay": ("MultiLayerNetExtend", (IN, [5], OUT),
                          dict(activation="sigmoid", weight_init_std="sigmoid", weight_decay_lambda=0.1,
                               use_dropout=True, dropout_ration=0.2, use_batchnorm=True)),
}
LAYERED = [s for s in SPECS if SPECS[s][0] != "TwoLayerNetCh4"]
TOL = dict(rtol=1e-10, atol=1e-12)  # fastnn vs reference, float64

# an untrained batch-norm net in test mode divides by sqrt(running_var + 1e-6) with running_var still ~0: the
# reference's 1 / (1 + exp(-x)) then overflows (harmlessly) where fastnn's sigmoid does not
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")


def make(spec, module, seed, **extra):
    cls, args, kwargs = SPECS[spec]
    np.random.seed(seed)
    return getattr(module, cls)(*copy.deepcopy(args), **kwargs, **extra)


def batch(seed, n, spec=None, kind="labels"):
    """Random inputs and targets; chapter 4's net takes one-hot rows only."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, IN))
    labels = rng.integers(0, OUT, n)
    if kind == "onehot" or (spec and SPECS[spec][0] == "TwoLayerNetCh4"):
        return x, np.eye(OUT)[labels]
    return x, labels


def uses_dropout(net):
    return getattr(net, "use_dropout", False)


def train_loss(net, x, t):
    """The loss of the forward pass that gradient() runs (training mode for the Extend net)."""
    if isinstance(net, (rn.MultiLayerNetExtend, fn.MultiLayerNetExtend)):
        return net.loss(x, t, train_flg=True)
    return net.loss(x, t)


def seeded(seed, f, *args):
    np.random.seed(seed)  # dropout draws its mask from np.random: the same seed gives the same mask
    return f(*args)


def assert_params_equal(fast_params, ref_params):
    assert list(fast_params) == list(ref_params)
    for key in ref_params:
        np.testing.assert_array_equal(fast_params[key], ref_params[key], err_msg=key)


# --- same network as the book -----------------------------------------------------------------------------------
@given(st.sampled_from(sorted(SPECS)), st.integers(0, 2**32 - 1), st.integers(2, 6),
       st.sampled_from(["labels", "onehot"]))
def test_matches_reference(spec, seed, n, kind):
    fast, ref = make(spec, fn, seed), make(spec, rn, seed)
    assert_params_equal(fast.params, ref.params)  # same RNG draws in the same order
    if hasattr(ref, "layers"):
        assert list(fast.layers) == list(ref.layers)
        assert [type(v).__name__ for v in fast.layers.values()] == [type(v).__name__ for v in ref.layers.values()]
        assert type(fast.lastLayer).__name__ == type(ref.lastLayer).__name__ == "SoftmaxWithLoss"

    x, t = batch(seed, n, spec, kind)
    np.testing.assert_allclose(fast.predict(x), ref.predict(x), **TOL)
    np.testing.assert_allclose(fast.loss(x, t), ref.loss(x, t), **TOL)
    np.testing.assert_allclose(seeded(seed, train_loss, fast, x, t), seeded(seed, train_loss, ref, x, t), **TOL)
    assert fast.accuracy(x, t) == ref.accuracy(x, t)
    grads_fast, grads_ref = seeded(seed, fast.gradient, x, t), seeded(seed, ref.gradient, x, t)
    assert list(grads_fast) == list(grads_ref)
    for key in grads_ref:
        assert grads_fast[key].shape == fast.params[key].shape
        np.testing.assert_allclose(grads_fast[key], grads_ref[key], err_msg=key, **TOL)


def test_simple_net_matches_reference():
    fast, ref = make_simple(fn, 3), make_simple(rn, 3)
    np.testing.assert_array_equal(fast.W, ref.W)
    assert fast.params == {"W": fast.W}
    x, t = np.array([[0.3, -1.2], [2.0, 0.1]]), np.array([2, 0])
    np.testing.assert_allclose(fast.predict(x), ref.predict(x), **TOL)
    np.testing.assert_allclose(fast.loss(x, t), ref.loss(x, t), **TOL)
    np.testing.assert_allclose(numerical_gradient(lambda w: fast.loss(x, t), fast.W),
                               ref_numerical_gradient(lambda w: ref.loss(x, t), ref.W), rtol=1e-9, atol=1e-12)


def make_simple(module, seed, **kwargs):
    np.random.seed(seed)
    return module.SimpleNet(**kwargs)


def test_simple_net_book_example():
    """Chapter 4's worked example, with the book's printed numbers."""
    for net, numgrad in ((fn.simpleNet(), numerical_gradient), (rn.SimpleNet(), ref_numerical_gradient)):
        net.W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
        x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
        np.testing.assert_allclose(net.predict(x), [1.05414809, 0.63071653, 1.1328074], atol=1e-8)
        np.testing.assert_allclose(net.loss(x, t), 0.92806853663411326, atol=1e-6)  # W printed to 8 digits
        W = net.W.copy()
        dW = numgrad(lambda w: net.loss(x, t), net.W)
        np.testing.assert_allclose(dW, [[0.21924757, 0.14356243, -0.36281000],
                                        [0.32887136, 0.21534364, -0.54421500]], atol=1e-7)
        np.testing.assert_array_equal(net.W, W)  # perturbed and restored exactly


# --- gradient check ---------------------------------------------------------------------------------------------
def numerical_grads(net, x, t, seed):
    if uses_dropout(net):  # one dropout mask for all the perturbed losses, the one gradient() will use
        loss = lambda w: seeded(seed, net.loss, x, t, True)  # noqa: E731
        return {key: numerical_gradient(loss, net.params[key]) for key in net.params}
    return net.numerical_gradient(x, t)


@pytest.mark.parametrize("spec", sorted(SPECS))
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_matches_numerical_gradient(spec, seed):
    """The book's gradient_check: mean |backprop - central differences| per parameter."""
    net = make(spec, fn, seed)
    rng = np.random.default_rng(seed)
    for key in net.params:
        if key.startswith("b"):  # zero biases put a sample whose ReLUs all died exactly on the next kink
            net.params[key] += rng.uniform(-0.5, 0.5, net.params[key].shape)
    x, t = batch(seed, 3, spec)
    numeric = numerical_grads(net, x, t, seed)
    grads = seeded(seed, net.gradient, x, t)
    assert sorted(numeric) == sorted(grads) == sorted(net.params)
    for key in grads:
        if key.startswith("W"):
            assert np.abs(grads[key]).max() > 1e-6, key  # not a vacuous comparison of zeros
        assert np.mean(np.abs(grads[key] - numeric[key])) <= 1e-6, key


def test_simple_net_numerical_gradient_is_the_analytic_one():
    net = make_simple(fn, 5)
    x, t = np.array([[0.5, -1.0], [1.5, 0.25], [-0.3, 0.8]]), np.array([1, 0, 2])
    y = softmax(x @ net.W)
    y_t = y[np.arange(3), t]
    y[np.arange(3), t] -= 1
    y *= (y_t / (y_t + 1e-7))[:, None]  # the derivative of the book's -log(y_t + 1e-7)
    analytic = x.T @ y / 3
    np.testing.assert_allclose(numerical_gradient(lambda w: net.loss(x, t), net.W), analytic, atol=1e-8)


# --- training: the same trajectory as the book's code -----------------------------------------------------------
OPTIMIZERS = {"SGD": dict(lr=0.1), "Adam": dict(lr=0.01)}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_training_steps_match_reference(spec, opt):
    """k optimizer steps from the same seed (dropout masks drawn in the same order) give the same parameters."""
    seed, k = 7, 4
    batches = [batch(100 + i, 5, spec) for i in range(k)]
    final = {}
    for nets, optim in ((fn, fo), (rn, ro)):
        net = make(spec, nets, seed)
        initial = {key: p.copy() for key, p in net.params.items()}
        optimizer = getattr(optim, opt)(**OPTIMIZERS[opt])
        for x, t in batches:
            optimizer.update(net.params, net.gradient(x, t))
        final[nets] = net
    fast, ref = final[fn], final[rn]
    for key in ref.params:
        assert np.abs(fast.params[key] - ref.params[key]).max() <= 1e-10, key
    assert not np.array_equal(fast.params["W1"], initial["W1"])  # training moved the weights
    x, t = batches[0]
    np.testing.assert_allclose(fast.loss(x, t), ref.loss(x, t), **TOL)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_book2_training_steps_match_reference(opt):
    final = []
    for nets, optim in ((fn, fo.__dict__), (rn, ro.BOOK2)):
        np.random.seed(11)
        net = nets.TwoLayerNetBook2(IN, 5, OUT)
        optimizer = optim[opt](**OPTIMIZERS[opt])
        for i in range(4):
            x, t = batch(200 + i, 5)
            net.forward(x, t)
            net.backward()
            optimizer.update(net.params, net.grads)
        final.append(net)
    for p_fast, p_ref in zip(final[0].params, final[1].params):
        assert np.abs(p_fast - p_ref).max() <= 1e-10


# --- params <-> layers aliasing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", LAYERED)
def test_params_alias_layer_arrays(spec):
    net = make(spec, fn, 0)
    affines = [v for k, v in net.layers.items() if k.startswith("Affine")]
    for i, layer in enumerate(affines, start=1):
        assert layer.W is net.params[f"W{i}"] and layer.b is net.params[f"b{i}"]
    for key, layer in net.layers.items():
        if key.startswith("BatchNorm"):
            i = key[len("BatchNorm"):]
            assert layer.gamma is net.params["gamma" + i] and layer.beta is net.params["beta" + i]
    x, t = batch(0, 3)
    before = net.predict(x)
    net.params["W1"] -= 0.5  # an optimizer's in-place update
    net.params["b1"] += 0.25
    assert affines[0].W is net.params["W1"]
    ref = make(spec, rn, 0)
    ref.params["W1"] -= 0.5
    ref.params["b1"] += 0.25
    after = net.predict(x)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, ref.predict(x), **TOL)


@pytest.mark.parametrize("spec", LAYERED)
def test_loss_and_gradient(spec):
    net = make(spec, fn, 1)
    x, t = batch(1, 4)
    loss, grads = seeded(3, net.loss_and_gradient, x, t)
    grads = {k: v.copy() for k, v in grads.items()}
    assert loss == seeded(3, train_loss, net, x, t)
    expected = seeded(3, net.gradient, x, t)
    assert list(grads) == list(expected)
    for key in expected:
        np.testing.assert_array_equal(grads[key], expected[key], err_msg=key)


def test_two_layer_net_ch5_gradient_is_written_in_place():
    net = make("TwoLayerNet", fn, 2)
    dW1 = net.layers["Affine1"].dW
    for i in range(2):
        x, t = batch(i, 3)
        grads = net.gradient(x, t)
        assert grads["W1"] is dW1 and net.layers["Affine1"].grads[0] is dW1


# --- the second book's TwoLayerNet ------------------------------------------------------------------------------
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.sampled_from(["labels", "onehot"]))
def test_two_layer_net_book2_matches_reference(seed, n, kind):
    np.random.seed(seed)
    fast = fn.TwoLayerNetBook2(IN, 5, OUT)
    np.random.seed(seed)
    ref = rn.TwoLayerNetBook2(IN, 5, OUT)
    assert len(fast.params) == len(ref.params) == 4
    for p, r in zip(fast.params, ref.params):
        np.testing.assert_array_equal(p, r)
    x, t = batch(seed, n, kind=kind)
    np.testing.assert_allclose(fast.predict(x), ref.predict(x), **TOL)
    grads_before = list(fast.grads)
    np.testing.assert_allclose(fast.forward(x, t), ref.forward(x, t), **TOL)
    np.testing.assert_allclose(fast.backward(), ref.backward(), **TOL)
    np.testing.assert_allclose(fast.backward(2.0), ref.backward(2.0), **TOL)
    assert all(g is h for g, h in zip(fast.grads, grads_before))  # written in place
    for g, r in zip(fast.grads, ref.grads):
        np.testing.assert_allclose(g, r, **TOL)


def test_two_layer_net_book2_lists_alias_layers():
    net = fn.TwoLayerNetBook2(IN, 5, OUT)
    affines = [net.layers[0], net.layers[2]]
    assert all(p is q for p, q in zip(net.params, affines[0].params + affines[1].params))
    assert all(g is h for g, h in zip(net.grads, affines[0].grads + affines[1].grads))
    x, t = batch(0, 4)
    net.forward(x, t)
    net.backward()
    numeric = numerical_gradient(lambda w: net.forward(x, t), net.params[0])
    assert np.mean(np.abs(net.grads[0] - numeric)) <= 1e-6


# --- float32 end to end -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_float32_net_stays_float32(spec):
    f32 = np.float32
    net32, net64 = make(spec, fn, 4, dtype=f32), make(spec, fn, 4)
    for key in net64.params:
        assert net32.params[key].dtype == f32, key
        np.testing.assert_array_equal(net32.params[key], net64.params[key].astype(f32))
    x, t = batch(4, 5, spec)
    assert net32.predict(x).dtype == f32
    np.testing.assert_allclose(net32.predict(x), net64.predict(x), rtol=1e-4, atol=1e-5)
    loss = net32.loss(x, t)
    assert type(loss) is f32
    np.testing.assert_allclose(loss, net64.loss(x, t), rtol=1e-5)
    grads32, grads64 = seeded(0, net32.gradient, x, t), seeded(0, net64.gradient, x, t)
    for key in grads64:
        assert grads32[key].dtype == f32, key
        np.testing.assert_allclose(grads32[key], grads64[key], rtol=1e-3, atol=1e-5, err_msg=key)
    if hasattr(net32, "loss_and_gradient"):
        loss, grads = net32.loss_and_gradient(x, t)
        assert type(loss) is f32 and all(g.dtype == f32 for g in grads.values())
    fo.SGD(0.1).update(net32.params, net32.gradient(x, t))
    assert all(p.dtype == f32 for p in net32.params.values())
    assert net32.predict(x.astype(f32)).dtype == f32


@pytest.mark.parametrize("cls, args", [("TwoLayerNet", (IN, 4, OUT)), ("MultiLayerNet", (IN, [4, 3], OUT))])
def test_a_layer_replaced_by_one_of_another_dtype_still_trains(cls, args):
    """A float32 first layer in a float64 net: the forward pass takes the checked layer path, and backward must
    follow it (the unchecked halves assume one dtype)."""
    np.random.seed(0)
    fast = getattr(fn, cls)(*args)
    np.random.seed(0)
    book = getattr(rn, cls)(*args)
    for key, attr in (("W1", "W"), ("b1", "b")):
        p = fast.params[key].astype(np.float32)
        fast.params[key] = p
        setattr(fast.layers["Affine1"], attr, p)
        book.params[key][...] = p
    x, t = batch(4, 5, "TwoLayerNet")
    grads, want = fast.gradient(x, t), book.gradient(x, t)
    for key in want:
        np.testing.assert_allclose(grads[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_float32_simple_and_book2_nets():
    f32 = np.float32
    simple = make_simple(fn, 0, dtype=f32)
    assert simple.W.dtype == f32 and simple.predict([0.6, 0.9]).dtype == f32
    assert type(simple.loss([0.6, 0.9], np.array([0, 0, 1]))) is f32
    net = fn.TwoLayerNetBook2(IN, 5, OUT, dtype=f32)
    x, t = batch(0, 3)
    assert type(net.forward(x, t)) is f32
    assert net.backward().dtype == f32
    assert all(p.dtype == f32 for p in net.params) and all(g.dtype == f32 for g in net.grads)


# --- accuracy ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", LAYERED)
def test_accuracy_with_labels_and_one_hot(spec):
    net, ref = make(spec, fn, 6), make(spec, rn, 6)
    x, labels = batch(6, 20)
    onehot = np.eye(OUT)[labels]
    expected = np.mean(np.argmax(ref.predict(x), axis=1) == labels)
    assert net.accuracy(x, labels) == net.accuracy(x, onehot) == ref.accuracy(x, labels) == expected
    assert type(net.accuracy(x, labels)) is type(ref.accuracy(x, labels)) is np.float64  # as the book returns
    assert 0 < expected < 1  # a random net on 20 samples: neither all right nor all wrong


@pytest.mark.parametrize("spec", ["TwoLayerNet", "MultiLayerNet-relu-decay", "Extend-both-decay"])
def test_large_test_behaviour_inputs_run_in_chunks_with_the_same_results(spec):
    """predict and accuracy on more than EVAL_CHUNK rows (test behaviour: rows independent) equal the reference's
    on the whole input, and the engine keeps buffers for chunks only (a plan per whole input held ~140 MB for a
    10,000-row test set of chapter 6's nets)."""
    fast, ref = make(spec, fn, 3), make(spec, rn, 3)
    x, labels = batch(3, 2 * fn.EVAL_CHUNK + 7, spec)
    np.testing.assert_allclose(fast.predict(x), ref.predict(x), **TOL)
    assert fast.accuracy(x, labels) == ref.accuracy(x, labels)
    assert max(fast._engine._plans) <= fn.EVAL_CHUNK
    if spec.startswith("Extend"):  # training behaviour (batch statistics, dropout) stays one pass over the batch
        np.testing.assert_allclose(seeded(3, fast.predict, x, True), seeded(3, ref.predict, x, True), **TOL)


ALL_NETS = sorted(SPECS) + ["TwoLayerNetBook2"]


def build(name):
    return fn.TwoLayerNetBook2(IN, 5, OUT) if name == "TwoLayerNetBook2" else make(name, fn, 5)


@pytest.mark.parametrize("name", ALL_NETS)
def test_a_dropped_net_frees_its_engine_at_once(name):
    """No reference cycle between a net and its engine: the buffers go when the last reference does, not when the
    cyclic garbage collector happens to run (chapter 6's batch_norm_test builds 32 nets: ~400 MB were held)."""
    net = build(name)
    x, t = batch(5, 3)
    net.predict(x)
    engine = weakref.ref(net._engine)
    gc.disable()
    try:
        del net
        assert engine() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("name", ALL_NETS)
def test_a_deep_copy_is_an_independent_net(name):
    net = build(name)
    x, t = batch(5, 4)
    before = net.predict(x).copy()
    twin = copy.deepcopy(net)
    np.testing.assert_array_equal(twin.predict(x), before)
    first = twin.params["W1"] if isinstance(twin.params, dict) else twin.params[0]
    first[...] = 0  # the copy's parameters are its own...
    np.testing.assert_array_equal(net.predict(x), before)
    assert not np.allclose(twin.predict(x), before)  # ...and its engine computes with them


def _gradients(net, x, t):
    """The backprop gradients as fresh arrays, in params order (the second book's net: from its grads list)."""
    if isinstance(net.params, list):
        net.forward(x, t)
        net.backward()
        return [g.copy() for g in net.grads]
    return [g.copy() for g in net.gradient(x, t).values()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL_NETS)
def test_a_pickled_net_loads_as_an_independent_net_that_computes_alike(name, dtype):
    net = fn.TwoLayerNetBook2(IN, 5, OUT, dtype=dtype) if name == "TwoLayerNetBook2" else make(name, fn, 5, dtype=dtype)
    x, t = batch(5, 4, name if name in SPECS else None)
    if "batchnorm" in name or "both" in name:
        net.loss(x, t, train_flg=True)  # running statistics away from their initial zeros
    before = net.predict(x).copy()
    loaded = pickle.loads(pickle.dumps(net))
    assert loaded.dtype == net.dtype and type(loaded) is type(net)
    np.testing.assert_array_equal(loaded.predict(x), before)
    if "dropout" not in name and "both" not in name:  # fresh dropout masks per call
        for ours, theirs in zip(_gradients(loaded, x, t), _gradients(net, x, t)):
            np.testing.assert_array_equal(ours, theirs)
    if isinstance(loaded.params, list):  # the second book's lists still alias the loaded layers
        assert all(p is q for p, q in zip(loaded.params, loaded.layers[0].params + loaded.layers[2].params))
        assert all(g is h for g, h in zip(loaded.grads, loaded.layers[0].grads + loaded.layers[2].grads))
    before = net.predict(x).copy()  # (a batch-norm net's gradient moved its running statistics)
    first = loaded.params["W1"] if isinstance(loaded.params, dict) else loaded.params[0]
    first[...] = 0  # the loaded parameters are its own, and its engine computes with them
    np.testing.assert_array_equal(net.predict(x), before)
    assert not np.allclose(loaded.predict(x), before)


def test_a_shallow_copy_shares_the_originals_parameters():
    net = make("TwoLayerNet", fn, 6)
    x, _ = batch(6, 3)
    shallow = copy.copy(net)
    assert shallow.params is net.params
    net.params["W1"][...] *= 2
    np.testing.assert_array_equal(shallow.predict(x), net.predict(x))


def test_accuracy_ch4_one_hot():
    net, ref = make("TwoLayerNetCh4", fn, 6), make("TwoLayerNetCh4", rn, 6)
    x, t = batch(6, 20, "TwoLayerNetCh4")
    assert net.accuracy(x, t) == ref.accuracy(x, t)
    assert type(net.accuracy(x, t)) is type(ref.accuracy(x, t)) is np.float64


# --- bad input --------------------------------------------------------------------------------------------------
def _raises(exc, name, fn_, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn_(*args, **kwargs)
    assert name in str(info.value), str(info.value)


@pytest.mark.parametrize("cls, args, kwargs, exc, name", [
    ("TwoLayerNet", (4, 0, 3), {}, ValueError, "hidden_size"),
    ("TwoLayerNet", (4, 5.5, 3), {}, TypeError, "hidden_size"),
    ("TwoLayerNet", (0, 5, 3), {}, ValueError, "input_size"),
    ("TwoLayerNet", (4, 5, 3), dict(weight_init_std="big"), TypeError, "weight_init_std"),
    ("TwoLayerNet", (4, 5, 3), dict(dtype=int), TypeError, "dtype"),
    ("TwoLayerNet", (4, 5, 3), dict(dtype=np.float16), TypeError, "dtype"),
    ("TwoLayerNetCh4", (4, 5, -1), {}, ValueError, "output_size"),
    ("TwoLayerNetBook2", (4, 0, 3), {}, ValueError, "hidden_size"),
    ("TwoLayerNetBook2", (4, 5, 3), dict(dtype="int32"), TypeError, "dtype"),
    ("MultiLayerNet", (4, [5, 0], 3), {}, ValueError, "hidden_size_list[1]"),
    ("MultiLayerNet", (4, 5, 3), {}, TypeError, "hidden_size_list"),
    ("MultiLayerNet", (4, [5], 3), dict(activation="tanh"), ValueError, "activation"),
    ("MultiLayerNet", (4, [5], 3), dict(weight_init_std="glorot"), ValueError, "weight_init_std"),
    ("MultiLayerNet", (4, [5], 3), dict(weight_decay_lambda=-1), ValueError, "weight_decay_lambda"),
    ("MultiLayerNet", (4, [5], 3), dict(dtype=np.int64), TypeError, "dtype"),
    ("MultiLayerNetExtend", (4, [5], 3), dict(use_dropout=True, dropout_ration=1.0), ValueError, "dropout_ration"),
    ("MultiLayerNetExtend", (4, [5], 3), dict(activation="tanh"), ValueError, "activation"),
])
def test_bad_constructor_arguments(cls, args, kwargs, exc, name):
    _raises(exc, name, getattr(fn, cls), *args, **kwargs)


def test_simple_net_bad_dtype():
    _raises(TypeError, "dtype", fn.SimpleNet, dtype=int)


@pytest.mark.parametrize("spec", ["TwoLayerNet", "MultiLayerNet-relu", "Extend-batchnorm"])
def test_bad_data_names_the_argument(spec):
    net = make(spec, fn, 0)
    x, t = batch(0, 3)
    for call in (net.loss, net.gradient, net.loss_and_gradient, net.accuracy):
        _raises(ValueError, "x", call, np.ones((3, IN + 1)), t)  # wrong feature count
        _raises(ValueError, "t", call, x, t[:2])  # wrong length
    for call in (net.loss, net.gradient, net.loss_and_gradient):
        _raises(ValueError, "t", call, x, np.array([0, 1, OUT]))  # label out of range
        _raises(ValueError, "t", call, x, np.array([0, -1, 1]))
        _raises(ValueError, "t", call, x, np.eye(OUT + 1)[[0, 1, 2]])  # one-hot with too many classes
    _raises(ValueError, "x", net.predict, np.ones((3, IN + 1)))


def test_bad_data_other_nets():
    x, t = batch(0, 3)
    ch4 = make("TwoLayerNetCh4", fn, 0)
    _raises(ValueError, "t", ch4.gradient, x, t)  # chapter 4's net needs one-hot rows
    _raises(ValueError, "t", ch4.accuracy, x, t)
    _raises(ValueError, "x", ch4.predict, np.ones((3, IN + 1)))
    book2 = fn.TwoLayerNetBook2(IN, 5, OUT)
    _raises(ValueError, "x", book2.forward, np.ones((3, IN + 1)), t)
    _raises(ValueError, "t", book2.forward, x, np.array([0, 1, OUT]))
    simple = fn.SimpleNet()
    _raises(ValueError, "x", simple.loss, np.ones(3), np.array([0, 0, 1]))
    _raises(ValueError, "t", simple.loss, np.ones(2), np.array([3]))


def test_training_engine_is_the_nets_engine_and_its_current_weight_decay():
    """The seam the Trainer's compiled loop uses: the engine whose arena holds the net's parameters, and the
    lambda the loss adds now (a changed lambda shows at once; an invalid one is refused as by the loss)."""
    net = fn.MultiLayerNet(4, [5], 3, weight_decay_lambda=0.1)
    engine, decay = net.training_engine()
    assert decay == 0.1 and np.shares_memory(engine.arena, net.params["W1"])
    assert engine.grads_for(decay)["W1"].shape == net.params["W1"].shape
    net.weight_decay_lambda = 0.25
    assert net.training_engine()[1] == 0.25
    net.weight_decay_lambda = -1.0
    with pytest.raises(ValueError, match="weight_decay_lambda"):
        net.training_engine()
    assert fn.TwoLayerNet(4, 5, 3).training_engine()[1] == 0.0
