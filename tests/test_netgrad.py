"""fastnn.netgrad: the networks' compiled numerical gradient against the book's loop (fastnn.reference.nets, or the
book's numerical_gradient over TwoLayerNetBook2's params), 1e-9 absolute in float64 for every parameter; batch
normalisation's running statistics after the call; nothing written to parameters, x or t; the parallel variant's
bits; dropout and bad input refused with readable errors; gradient_check on every kind of net."""
import warnings

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import netgrad
from fastnn import nets as fn
from fastnn._layer_kinds import LayerSpec
from fastnn.kernels.codes import AFFINE, BATCHNORM, DROPOUT, RELU, SIGMOID, TANH
from fastnn.kernels import netgrad as kernels
from fastnn.reference import layers as rl
from fastnn.reference import nets as rn
from fastnn.reference.functions import numerical_gradient as book_numerical_gradient

JIT = not numba.config.DISABLE_JIT
# kernels run as plain Python under NUMBA_DISABLE_JIT=1: keep the nets tiny there
WIDTH = 6 if JIT else 4
EXAMPLES = 30 if JIT else 15
ATOL = 1e-9  # the acceptance bound, float64, absolute, every parameter ...
# ... plus 1e-11 of the largest gradient entry: a forward pass rounds a pre-activation a by ~1e-16 * |a|, which
# moves any implementation's loss by ~1e-16 * |a| * |df/da| and its central difference by that / 2h. Where
# gradients reach ~100 (a batch-norm column of nearly equal rows: 1 / std ~ 500), both the book's loop and fastnn
# are ~1e-9 away from the exact central difference (checked against 40-digit arithmetic), so neither can match
# the other to 1e-9 there.
REL = 1e-11

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")


def params_of(net):
    """(key, array) pairs in the book's order (W1, b1, W2, b2 for the second book's list)."""
    if isinstance(net.params, list):
        return list(zip(("W1", "b1", "W2", "b2"), net.params))
    keys = list(net._param_keys()) if hasattr(net, "_param_keys") else ["W1", "b1", "W2", "b2"]
    return [(k, net.params[k]) for k in keys]


def twins(cls, args, kwargs, seed, dtype=np.float64, scale=0.8, x_scale=1.0):
    """A fastnn net and its reference twin holding the same random parameters (written in place: the layers
    keep their aliases), biases and BN parameters included so nothing is trivially zero. W1 shrinks with the
    scale of the inputs to come, so that large inputs do not saturate the softmax (a zero gradient)."""
    fast = getattr(fn, cls)(*args, **kwargs, dtype=dtype)
    book = getattr(rn, cls)(*args, **kwargs)
    rng = np.random.default_rng(seed)
    for (key, p), (_, q) in zip(params_of(fast), params_of(book)):
        values = rng.standard_normal(p.shape) * (scale / x_scale if key == "W1" else scale)
        if key.startswith("gamma"):
            values += 1.0
        p[...] = values
        q[...] = p  # the reference computes in float64 on exactly the values fastnn holds
    return fast, book


def inputs(seed, n, n_in, n_out, onehot=False, scale=1.0):
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((n, n_in)) * scale
    labels = rng.integers(0, n_out, n)
    return x, (np.eye(n_out)[labels] if onehot else labels)


def book_gradient(book, x, t):
    """The book's numerical gradient, as a dict keyed like fastnn's."""
    if isinstance(book, rn.TwoLayerNetBook2):
        return {k: book_numerical_gradient(lambda W: book.forward(x, t), p) for k, p in params_of(book)}
    return book.numerical_gradient(x, t)


def as_dict(grads, net):
    return dict(zip([k for k, _ in params_of(net)], grads)) if isinstance(grads, list) else grads


def assert_matches_book(fast, book, x, t, atol=ATOL, rel=REL):
    got = as_dict(netgrad.numerical_gradient(fast, x, t), fast)
    want = book_gradient(book, x.astype(fast.dtype).astype(np.float64), t)
    assert list(got) == list(want)
    for key in want:
        assert got[key].shape == want[key].shape and got[key].dtype == fast.dtype, key
        bound = atol + rel * np.max(np.abs(want[key]))
        diff = np.max(np.abs(got[key] - want[key]), initial=0.0)
        assert diff <= bound, f"{key}: max |fastnn - book| = {diff:.3e} > {bound:.1e}"
    return want


def bits(a):
    return np.array(a).copy().view(f"u{np.asarray(a).dtype.itemsize}")


# --- the chapter-4/5 nets and the second book's net -----------------------------------------------------------------
TWO_LAYER = [("TwoLayerNet", "labels"), ("TwoLayerNet", "onehot"), ("TwoLayerNetCh4", "onehot"),
             ("TwoLayerNetBook2", "labels"), ("TwoLayerNetBook2", "onehot")]


@pytest.mark.parametrize("cls, targets", TWO_LAYER)
@pytest.mark.parametrize("x_scale", [1.0, 100.0], ids=["x~1", "x~100"])  # x~100: score changes leave the fast path
def test_two_layer_nets_match_book(cls, targets, x_scale):
    for seed in range(3):
        fast, book = twins(cls, (5, WIDTH, 3), {}, seed, x_scale=x_scale)
        x, t = inputs(seed, 4, 5, 3, onehot=targets == "onehot", scale=x_scale)
        want = assert_matches_book(fast, book, x, t)
        assert max(np.max(np.abs(g)) for g in want.values()) > 1e-2  # not a saturated (flat) loss


def test_book2_returns_a_list_in_params_order():
    fast, _ = twins("TwoLayerNetBook2", (3, 2, 2), {}, 0)
    grads = netgrad.numerical_gradient(fast, *inputs(0, 3, 3, 2))
    assert isinstance(grads, list) and [g.shape for g in grads] == [p.shape for p in fast.params]


def base_pass(fast, x, t):
    """The kernel's base pass on (x, t): (hidden exceptions, output exceptions) are entries 6 and 8."""
    spec = netgrad._describe(fast)
    x, _, labels = netgrad._inputs(spec, x, t)
    P = np.concatenate([np.ravel(p) for p in spec.arrays]).astype(spec.dtype)
    dt = spec.dtype.type
    return kernels._dense_base(x.reshape(-1), labels, spec.sizes, spec.act, P, dt(netgrad.H), dt(netgrad.CE_DELTA))


def set_up(scenario, activation):
    """A TwoLayerNet-shaped MultiLayerNet and inputs that send (row, unit) pairs down a chosen path."""
    fast, book = twins("MultiLayerNet", (5, [WIDTH], 3), {"activation": activation}, 3)
    x, t = inputs(3, 4, 5, 3, scale=0.3)  # |x| < 1: steps of ~1e-4 in a_1, well inside the series' range ...
    for net in (fast, book):
        net.params["W2"][...] *= 0.5  # ... and W2's rows, which carry them to the scores, not too spread
    if scenario == "large hidden activations":  # output layer: u ~ 100 puts its steps outside the series' range
        for net in (fast, book):
            net.params["b1"][...] = 100.0
            net.params["W2"][...] *= 0.01
    if scenario == "pre-activation at a kink":  # a_1[0, 0] within one step of ReLU's kink
        a = x[0] @ fast.params["W1"][:, 0] + fast.params["b1"][0]
        for net in (fast, book):
            net.params["b1"][0] -= a - 1e-6
    return fast, book, x, t


@pytest.mark.parametrize("activation, scenario, hidden_exceptions, output_exceptions", [
    ("relu", "small inputs", "none", "none"), ("sigmoid", "small inputs", "none", "none"),
    ("relu", "large hidden activations", "none", "all"),  # sigmoid's activations stay below 1
    ("relu", "pre-activation at a kink", "some", "none")])  # sigmoid has no kink
def test_series_and_exact_paths_match_book(activation, scenario, hidden_exceptions, output_exceptions):
    """The last two layers take the loss series where it provably holds and the exact score change elsewhere:
    each scenario sends pairs down a known path (checked on the base pass), and all match the book."""
    fast, book, x, t = set_up(scenario, activation)
    base = base_pass(fast, x, t)
    counts = {"none": (0, 0), "some": (1, 4 * WIDTH - 1), "all": (4 * 3, 4 * 3)}
    for exceptions, expected in ((base[6], hidden_exceptions), (base[8], output_exceptions)):
        low, high = counts[expected]
        assert low <= exceptions.size <= high, (expected, exceptions)
    assert_matches_book(fast, book, x, t)


def test_large_inputs_take_the_exact_path():
    fast, book = twins("TwoLayerNet", (3, 2, 2), {}, 1, scale=1.5, x_scale=100.0)
    x, t = inputs(1, 3, 3, 2, scale=100.0)
    assert base_pass(fast, x, t)[6].size == 3 * 2
    assert_matches_book(fast, book, x, t)


def exact_row_loss(s, w, t, label, delta):
    """The book's row cross-entropy at scores s + t * w, in float64."""
    z = s + t * w
    p = np.exp(z - z.max())
    return -np.log(p[label] / p.sum() + delta)


@pytest.mark.parametrize("delta", [1e-7, 0.3])
@pytest.mark.parametrize("label", [0, 3])
def test_loss_series_is_fifth_order_accurate(delta, label):
    """The series g(t) of the row loss along w agrees with the loss itself up to O(t^5): halving t shrinks the
    error ~32x (a wrong coefficient of t^k would leave an O(t^k) error shrinking only 2^k times)."""
    rng = np.random.default_rng(label)
    s = rng.standard_normal(6) * 3
    s[3] -= 8  # label 3: a small probability, where delta matters
    w = rng.standard_normal(6)
    E = np.exp(s - s.max())
    c = np.empty(4)
    kernels._loss_series(E, 0, E.sum(), 6, label, delta, w, c)
    errors = []
    for y in (2.0 ** -3, 2.0 ** -4):
        t = y / (w.max() - w.min())
        series = t * (c[0] + t * (c[1] + t * (c[2] + t * c[3])))
        errors.append(abs(series - (exact_row_loss(s, w, t, label, delta) - exact_row_loss(s, w, 0, label, delta))))
    assert errors[0] / errors[1] > 24, errors


@pytest.mark.parametrize("a", [-3.0, 0.2, 4.0])
def test_sigmoid_composition_is_fifth_order_accurate(a):
    """Composed with the sigmoid's series, the loss series in the pre-activation change s is O(s^5) too."""
    rng = np.random.default_rng(1)
    s0, w = rng.standard_normal(4), rng.standard_normal(4)
    E = np.exp(s0 - s0.max())
    c, tau, g = np.empty(4), np.empty(4), np.empty(4)
    kernels._loss_series(E, 0, E.sum(), 4, 1, 1e-7, w, c)
    assert kernels._act_series(a, kernels.SIGMOID, 0.1, tau)
    kernels._compose(c, tau, g, 0, 1)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    errors = []
    for step in (2.0 ** -3, 2.0 ** -4):
        series = step * (g[0] + step * (g[1] + step * (g[2] + step * g[3])))
        t = sigmoid(a + step) - sigmoid(a)
        errors.append(abs(series - (exact_row_loss(s0, w, t, 1, 1e-7) - exact_row_loss(s0, w, 0, 1, 1e-7))))
    assert errors[0] / errors[1] > 24, errors


# --- MultiLayerNet(Extend): depth, activation, weight decay, batch normalisation -------------------------------------
multi_layer_cases = st.fixed_dictionaries({
    "hidden": st.lists(st.integers(1, WIDTH), min_size=1, max_size=3),
    "activation": st.sampled_from(["relu", "sigmoid"]),
    "lam": st.sampled_from([0, 0.1, 1.5]),
    "n": st.integers(1, 4),
    "n_in": st.integers(1, WIDTH),
    "n_out": st.integers(2, 4),
    "x_scale": st.sampled_from([1.0, 1.0, 50.0]),
    "seed": st.integers(0, 2**16),
})


@settings(max_examples=EXAMPLES)
@given(multi_layer_cases)
def test_multi_layer_net_matches_book(case):
    fast, book = twins("MultiLayerNet", (case["n_in"], case["hidden"], case["n_out"]),
                       {"activation": case["activation"], "weight_decay_lambda": case["lam"]}, case["seed"],
                       x_scale=case["x_scale"])
    x, t = inputs(case["seed"], case["n"], case["n_in"], case["n_out"], scale=case["x_scale"])
    assert_matches_book(fast, book, x, t)


@settings(max_examples=EXAMPLES)
@given(multi_layer_cases)
def test_extend_without_batchnorm_matches_book(case):
    fast, book = twins("MultiLayerNetExtend", (case["n_in"], case["hidden"], case["n_out"]),
                       {"activation": case["activation"], "weight_decay_lambda": case["lam"]}, case["seed"])
    x, t = inputs(case["seed"], case["n"], case["n_in"], case["n_out"], onehot=True)
    assert_matches_book(fast, book, x, t)


def running_stats(net):
    return [(net.layers[f"BatchNorm{i}"].running_mean, net.layers[f"BatchNorm{i}"].running_var)
            for i in range(1, net.hidden_layer_num + 1)]


@settings(max_examples=EXAMPLES)
@given(multi_layer_cases.filter(lambda c: len(c["hidden"]) <= 2), st.booleans())
def test_batchnorm_net_matches_book_and_its_running_statistics(case, fresh):
    """The book evaluates the loss in training mode: every evaluation moves every BN layer's running statistics
    once, 2 * n_params times in the book's order. Both nets start from the same statistics (None: never ran)."""
    n = max(case["n"], 2)
    fast, book = twins("MultiLayerNetExtend", (case["n_in"], case["hidden"], case["n_out"]),
                       {"activation": case["activation"], "weight_decay_lambda": case["lam"], "use_batchnorm": True},
                       case["seed"], x_scale=case["x_scale"])
    if not fresh:
        rng = np.random.default_rng(case["seed"] + 7)
        for i, size in enumerate(case["hidden"], 1):
            mean, var = rng.standard_normal(size), rng.random(size)
            fast.layers[f"BatchNorm{i}"].running_mean, fast.layers[f"BatchNorm{i}"].running_var = mean, var
            book.layers[f"BatchNorm{i}"].running_mean, book.layers[f"BatchNorm{i}"].running_var = mean, var
    x, t = inputs(case["seed"], n, case["n_in"], case["n_out"], scale=case["x_scale"])
    assert_matches_book(fast, book, x, t)
    for (m1, v1), (m2, v2) in zip(running_stats(fast), running_stats(book)):
        assert m1.dtype == v1.dtype == np.float64
        np.testing.assert_allclose(m1, m2, rtol=1e-14, atol=1e-12)
        np.testing.assert_allclose(v1, v2, rtol=1e-14, atol=1e-12)


def test_batchnorm_statistics_follow_the_evaluation_order():
    """Only the last evaluations shape the final running statistics (0.9**k): the book's order ends with the
    output layer's parameters, which leave the batch statistics as they are, so the result is the base batch's
    statistics to within 0.9**(2 * n_output_params) of the start, not those of some perturbed batch."""
    fast, book = twins("MultiLayerNetExtend", (3, [WIDTH], 2), {"use_batchnorm": True}, 3)
    x, t = inputs(3, 4, 3, 2)
    netgrad.numerical_gradient(fast, x, t)
    book.loss(x, t, train_flg=True)  # one evaluation at the base parameters, from zero statistics
    norm = book.layers["BatchNorm1"]
    batch_mean = norm.running_mean / 0.1
    k = 2 * sum(p.size for _, p in params_of(fast))
    expected = batch_mean * (1 - 0.9 ** k)
    np.testing.assert_allclose(fast.layers["BatchNorm1"].running_mean, expected, rtol=1e-3, atol=1e-6)


# --- float32 ----------------------------------------------------------------------------------------------------------
F32_CASES = [("TwoLayerNet", (5, WIDTH, 3), {}), ("TwoLayerNetCh4", (5, WIDTH, 3), {}),
             ("TwoLayerNetBook2", (5, WIDTH, 3), {}),
             ("MultiLayerNet", (5, [WIDTH, 3], 3), {"activation": "sigmoid", "weight_decay_lambda": 0.1}),
             ("MultiLayerNetExtend", (5, [WIDTH, 3], 3), {"use_batchnorm": True})]


@pytest.mark.parametrize("cls, args, kwargs", F32_CASES, ids=[c[0] for c in F32_CASES])
def test_float32_close_to_book(cls, args, kwargs):
    """float32: perturbed values in float32, loss differences in float64. The float32 step fl(w + h) - w is off
    from h by up to half an ulp of w (~6e-4 relative to h for |w| ~ 1), which bounds the agreement."""
    fast, book = twins(cls, args, kwargs, 5, dtype=np.float32)
    x, t = inputs(5, 4, 5, 3, onehot=cls == "TwoLayerNetCh4")
    assert_matches_book(fast, book, x, t, atol=1e-3, rel=5e-3)
    if kwargs.get("use_batchnorm"):
        for (m1, v1), (m2, v2) in zip(running_stats(fast), running_stats(book)):
            assert m1.dtype == np.float32
            np.testing.assert_allclose(m1, m2, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(v1, v2, rtol=1e-4, atol=1e-5)


# --- no side effects, parallel bits, reference nets -------------------------------------------------------------------
@pytest.mark.parametrize("cls, args, kwargs", F32_CASES, ids=[c[0] for c in F32_CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_x_and_t_untouched(cls, args, kwargs, dtype):
    fast, _ = twins(cls, args, kwargs, 2, dtype=dtype)
    x, t = inputs(2, 4, 5, 3, onehot=cls == "TwoLayerNetCh4")
    x = x.astype(dtype)
    before = [bits(p) for _, p in params_of(fast)]
    x_bits, t_copy = bits(x), t.copy()
    loss = fast.forward(x, t) if cls == "TwoLayerNetBook2" else fast.loss(x, t)
    grads = as_dict(netgrad.numerical_gradient(fast, x, t), fast)
    for (key, p), b in zip(params_of(fast), before):
        np.testing.assert_array_equal(bits(p), b, err_msg=key)
        assert not np.shares_memory(grads[key], p)
    np.testing.assert_array_equal(bits(x), x_bits)
    np.testing.assert_array_equal(t, t_copy)
    again = fast.forward(x, t) if cls == "TwoLayerNetBook2" else fast.loss(x, t)
    if not kwargs.get("use_batchnorm"):  # test-mode BN loss depends on the running statistics, which moved
        assert bits(again) == bits(loss)


@pytest.mark.parametrize("hidden", [[7], [6, 5]], ids=["one hidden", "two hidden"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_parallel_is_identical_to_serial(hidden, activation):
    n_in = 9 if JIT else 3
    fast, _ = twins("MultiLayerNet", (n_in, hidden if JIT else [2], 4), {"activation": activation,
                                                                             "weight_decay_lambda": 0.1}, 4)
    x, t = inputs(4, 6, n_in, 4)
    x[x < 0.3] = 0.0  # sparse rows, as images: rows skipped per input
    serial = netgrad.numerical_gradient(fast, x, t)
    parallel = netgrad.numerical_gradient(fast, x, t, parallel=True)
    for key in serial:
        np.testing.assert_array_equal(bits(parallel[key]), bits(serial[key]), err_msg=key)


def test_batchnorm_net_with_parallel_runs_serially():
    fast, _ = twins("MultiLayerNetExtend", (3, [2], 2), {"use_batchnorm": True}, 6)
    twin, _ = twins("MultiLayerNetExtend", (3, [2], 2), {"use_batchnorm": True}, 6)
    x, t = inputs(6, 3, 3, 2)
    a = netgrad.numerical_gradient(fast, x, t, parallel=True)
    b = netgrad.numerical_gradient(twin, x, t)
    for key in a:
        np.testing.assert_array_equal(bits(a[key]), bits(b[key]))
    np.testing.assert_array_equal(bits(running_stats(fast)[0][0]), bits(running_stats(twin)[0][0]))


def test_reference_nets_are_accepted():
    _, book = twins("MultiLayerNet", (3, [2], 2), {"weight_decay_lambda": 0.2}, 8)
    x, t = inputs(8, 3, 3, 2)
    got = netgrad.numerical_gradient(book, x, t)
    want = book.numerical_gradient(x, t)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=ATOL)


def test_image_shaped_x_is_flattened_like_affine():
    fast, book = twins("TwoLayerNet", (4, 3, 2), {}, 9)
    x, t = inputs(9, 3, 4, 2)
    got = netgrad.numerical_gradient(fast, x.reshape(3, 1, 2, 2), t)
    want = book.numerical_gradient(x, t)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=ATOL)


# --- refused input ----------------------------------------------------------------------------------------------------
def test_dropout_is_refused():
    net = fn.MultiLayerNetExtend(3, [2], 2, use_dropout=True)
    with pytest.raises(ValueError, match="use_dropout"):
        netgrad.numerical_gradient(net, np.ones((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="use_dropout"):
        netgrad.gradient_check(net, np.ones((2, 3)), [0, 1])


def _replaced_param():
    net = rn.TwoLayerNet(3, 2, 2)  # a net without an engine (fastnn's adopt a replaced entry: see below)
    net.params["W1"] = net.params["W1"].copy()  # the layer still computes with the old array
    return net


BAD = [
    ("not a net", lambda: object(), np.ones((2, 3)), [0, 1], {}, TypeError, "net"),
    ("x 1-D", lambda: fn.TwoLayerNet(3, 2, 2), np.ones(3), [0], {}, ValueError, "x"),
    ("x features", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 4)), [0, 1], {}, ValueError, "x"),
    ("x empty", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((0, 3)), [], {}, ValueError, "x"),
    ("x complex", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 3), complex), [0, 1], {}, TypeError, "x"),
    ("x strings", lambda: fn.TwoLayerNet(3, 2, 2), [["a"] * 3] * 2, [0, 1], {}, TypeError, "x"),
    ("t label range", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 3)), [0, 2], {}, ValueError, "t"),
    ("t negative", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 3)), [0, -1], {}, ValueError, "t"),
    ("t rows", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 3)), [0, 1, 1], {}, ValueError, "t"),
    ("t float labels", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 3)), [0.5, 1], {}, ValueError, "t"),
    ("t strings", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 3)), ["a", "b"], {}, TypeError, "t"),
    ("ch4 labels", lambda: fn.TwoLayerNetCh4(3, 2, 2), np.ones((2, 3)), [0, 1], {}, ValueError, "one-hot"),
    ("ch4 image x", lambda: fn.TwoLayerNetCh4(3, 2, 2), np.ones((2, 3, 1)), np.eye(2), {}, ValueError, "x"),
    ("parallel", lambda: fn.TwoLayerNet(3, 2, 2), np.ones((2, 3)), [0, 1], {"parallel": 1}, TypeError, "parallel"),
    ("replaced param", _replaced_param, np.ones((2, 3)), [0, 1], {}, ValueError, "W1"),
]


@pytest.mark.parametrize("name, make_net, x, t, kwargs, exc, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_before_any_kernel(name, make_net, x, t, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        netgrad.numerical_gradient(make_net(), x, t, **kwargs)


def test_a_replaced_params_entry_of_a_fastnn_net_is_adopted_as_gradient_adopts_it():
    fast, book = twins("TwoLayerNet", (3, 4, 2), {}, 13)
    x, t = inputs(13, 3, 3, 2)
    fast.params["W1"] = fast.params["W1"] * 0.5  # fastnn's engine: the params entry wins (what optimizers update)
    book.params["W1"] *= 0.5
    got = netgrad.numerical_gradient(fast, x, t)
    assert fast.layers["Affine1"].W is fast.params["W1"]
    want = book.numerical_gradient(x, t)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=ATOL)


# --- gradient_check ---------------------------------------------------------------------------------------------------
CHECK_CASES = [("TwoLayerNet", (5, WIDTH, 3), {}), ("TwoLayerNetCh4", (5, WIDTH, 3), {}),
               ("TwoLayerNetBook2", (5, WIDTH, 3), {}),
               ("MultiLayerNet", (5, [WIDTH, 3], 3), {"weight_decay_lambda": 0.1}),
               ("MultiLayerNet", (5, [WIDTH], 3), {"activation": "sigmoid"}),
               ("MultiLayerNetExtend", (5, [WIDTH, 3], 3), {"use_batchnorm": True, "weight_decay_lambda": 0.05}),
               ("MultiLayerNetExtend", (5, [WIDTH], 3), {})]


@pytest.mark.parametrize("cls, args, kwargs", CHECK_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CHECK_CASES)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_check_small_differences(cls, args, kwargs, dtype):
    fast, _ = twins(cls, args, kwargs, 11, dtype=dtype, scale=0.5)
    x, t = inputs(11, 5, 5, 3, onehot=cls == "TwoLayerNetCh4")
    result = netgrad.gradient_check(fast, x, t)
    assert list(result) == [k for k, _ in params_of(fast)]
    # central differences are off by ~h^2/6 * f''' (h = 1e-4); batch normalisation's f''' is the largest
    bound = (5e-5 if kwargs.get("use_batchnorm") else 1e-6) if dtype == np.float64 else 2e-3
    for key, (mean, worst) in result.items():
        assert isinstance(mean, float) and isinstance(worst, float)
        assert 0 <= mean <= worst <= bound, (key, mean, worst)


def test_gradient_check_sees_a_wrong_backprop():
    fast, _ = twins("TwoLayerNet", (4, 3, 2), {}, 12)
    x, t = inputs(12, 3, 4, 2)
    original = fast.gradient

    def off_by_a_bit(x, t):
        grads = original(x, t)
        grads["b2"] = grads["b2"] + 0.01
        return grads

    fast.gradient = off_by_a_bit
    result = netgrad.gradient_check(fast, x, t)
    assert result["b2"][0] == pytest.approx(0.01, rel=1e-4)
    assert result["W1"][1] < 1e-6


def test_batchnorm_single_row_batch_matches_the_book():
    """The book's chapter-6 batch-norm gradient check uses a batch of one row (variance 0: xn = 0)."""
    x, t = np.random.default_rng(3).random((1, 4)), np.array([1])
    np.random.seed(5)
    fast = fn.MultiLayerNetExtend(4, [3], 2, use_batchnorm=True)
    np.random.seed(5)
    ref = rn.MultiLayerNetExtend(4, [3], 2, use_batchnorm=True)
    got, want = fast.numerical_gradient(x, t), ref.numerical_gradient(x, t)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-9, err_msg=key)


# --- non-finite values: NaN exactly where the book's loop gives NaN ----------------------------------------------
NON_FINITE = [
    # (net, args, kwargs, what is planted): a NaN weight in a row whose input column is zero in every row (the
    # row-sparse differences skip those rows), an inf input, and, for MultiLayerNet's weight-decay term (computed
    # even with lambda 0: 0 * inf is NaN), a NaN weight and a weight whose square overflows
    ("TwoLayerNet", (6, 5, 3), {}, "nan W1 at a zero input column"),
    ("TwoLayerNetCh4", (6, 5, 3), {}, "nan W1 at a zero input column"),
    ("TwoLayerNetBook2", (6, 5, 3), {}, "nan W1 at a zero input column"),
    ("TwoLayerNet", (6, 5, 3), {}, "inf in one input row"),
    ("MultiLayerNet", (6, [5, 4], 3), {}, "nan W3"),
    ("MultiLayerNet", (6, [5, 4], 3), {"weight_decay_lambda": 0.1}, "nan W1 at a zero input column"),
    ("MultiLayerNet", (6, [5, 4], 3), {}, "huge W2"),
    ("MultiLayerNetExtend", (6, [5], 3), {"use_batchnorm": True}, "nan W1 at a zero input column"),
]


@pytest.mark.parametrize("cls, args, kwargs, planted", NON_FINITE)
def test_non_finite_values_give_the_books_nans(cls, args, kwargs, planted):
    fast, book = twins(cls, args, kwargs, seed=5)
    x, t = inputs(5, 4, args[0], args[-1], onehot=cls == "TwoLayerNetCh4")
    x[:, 2] = 0.0
    for net in (fast, book):
        p = dict(params_of(net))
        if planted.startswith("nan W1"):
            p["W1"][2, 1] = np.nan
        elif planted == "nan W3":
            p["W3"][0, 0] = np.nan
        elif planted == "huge W2":
            p["W2"][0, 0] = 1e200  # its square overflows to inf in the book's decay term
    if planted == "inf in one input row":
        x[1, 0] = np.inf
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = as_dict(netgrad.numerical_gradient(fast, x, t), fast)
        want = book_gradient(book, x, t)
    for key in want:
        np.testing.assert_array_equal(np.isnan(got[key]), np.isnan(want[key]), err_msg=key)
        finite = np.isfinite(want[key])
        np.testing.assert_allclose(got[key][finite], want[key][finite], atol=ATOL, err_msg=key)


DESCRIBED = CHECK_CASES + [("MultiLayerNet", (5, [], 3), {}), ("MultiLayerNetExtend", (5, [4, 4, 4], 3),
                                                                  {"activation": "sigmoid", "use_batchnorm": True})]


@pytest.mark.parametrize("cls, args, kwargs", DESCRIBED, ids=[f"{c[0]}-{i}" for i, c in enumerate(DESCRIBED)])
def test_the_engines_stack_and_the_books_attributes_describe_a_net_alike(cls, args, kwargs):
    """fastnn's nets are described by their engine's stack; the same net read through the books' attributes (the
    path of the reference twins and readers' own classes) gives the kernels the same view."""
    net = getattr(fn, cls)(*args, **kwargs)
    from_engine, from_attributes = netgrad._from_engine(net), netgrad._from_attributes(net)
    for name in ("keys", "act", "lam", "decay_term", "dtype", "chapter4", "as_list"):
        assert getattr(from_engine, name) == getattr(from_attributes, name), name
    np.testing.assert_array_equal(from_engine.sizes, from_attributes.sizes)
    for ours, theirs in [(from_engine.arrays, from_attributes.arrays),
                         (from_engine.batchnorms, from_attributes.batchnorms)]:
        assert len(ours) == len(theirs) and all(a is b for a, b in zip(ours, theirs))


def test_a_fastnn_net_is_described_by_its_engine_not_its_attributes():
    net = fn.MultiLayerNet(4, [3], 2, activation="sigmoid", weight_decay_lambda=0.1)
    del net.hidden_layer_num, net.layers["Activation_function1"]  # the book's attributes gone; the engine remains
    spec = netgrad._describe(net)
    assert spec.act == kernels.SIGMOID and spec.lam == 0.1 and spec.keys == ["W1", "b1", "W2", "b2"]


@pytest.mark.parametrize("codes, words", [
    ([AFFINE, TANH, AFFINE], "one hidden activation, ReLU or sigmoid"),
    ([AFFINE, RELU, AFFINE, SIGMOID, AFFINE], "one hidden activation, ReLU or sigmoid"),
    ([AFFINE, BATCHNORM, AFFINE], "one hidden activation, ReLU or sigmoid"),
    ([AFFINE, BATCHNORM, RELU, AFFINE, RELU, AFFINE], "one hidden activation, ReLU or sigmoid"),
    ([AFFINE, RELU], "one hidden activation, ReLU or sigmoid"),
    ([AFFINE, DROPOUT, AFFINE], "use_dropout")])
def test_a_stack_the_kernels_cannot_run_is_refused(codes, words):
    stack = [LayerSpec(code, None, 2, 2, None) for code in codes]
    with pytest.raises(ValueError, match=words):
        netgrad._from_stack(stack, {}, None)


class _ChapterFiveShaped:
    """Not one of fastnn's classes: a net with only the book's chapter-5 attributes (named layers Affine1, Relu1,
    Affine2 over the params dict), as a reader's own chapter code has them."""

    def __init__(self, twin):
        self.params = {k: p.copy() for k, p in twin.params.items()}
        self.layers = {"Affine1": rl.Affine(self.params["W1"], self.params["b1"]), "Relu1": rl.Relu(),
                       "Affine2": rl.Affine(self.params["W2"], self.params["b2"])}


def test_a_net_is_described_by_the_books_attributes_not_its_class():
    fast, book = twins("TwoLayerNet", (4, 3, 3), {}, 5)
    x, t = inputs(5, 6, 4, 3)
    own = _ChapterFiveShaped(book)
    got = netgrad.numerical_gradient(own, x, t)
    expected = netgrad.numerical_gradient(fast, x, t)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    own.layers["Relu1"] = rl.Affine(own.params["W1"], own.params["b1"])  # not an activation: refused, named
    with pytest.raises(ValueError, match="Relu1 must be a Relu or Sigmoid layer"):
        netgrad.numerical_gradient(own, x, t)
