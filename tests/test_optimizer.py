"""fastnn.optimizer against the books' optimizers (fastnn.reference.optimizer), both protocols and dtypes; both of
them against three update steps written out by hand as scalar arithmetic (the end of this module)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import optimizer as fo
from fastnn.reference import optimizer as ro

NAMES = list(ro.BOOK1)
ADAPTIVE = ["AdaGrad", "RMSprop", "Adam"]
DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-5}
STATE = {"SGD": (), "Momentum": ("v",), "Nesterov": ("v",), "AdaGrad": ("h",), "RMSprop": ("h",),
         "Adam": ("m", "v")}
HYPER = {  # hypothesis ranges for each hyper-parameter, inside the valid domain
    "lr": st.floats(1e-3, 1.0),
    "momentum": st.floats(0.0, 0.99),
    "decay_rate": st.floats(0.0, 0.999),
    "beta1": st.floats(0.0, 0.99),
    "beta2": st.floats(0.0, 0.9999),
}
ARGS = {"SGD": ["lr"], "Momentum": ["lr", "momentum"], "Nesterov": ["lr", "momentum"], "AdaGrad": ["lr"],
        "RMSprop": ["lr", "decay_rate"], "Adam": ["lr", "beta1", "beta2"]}
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


def pair(name, protocol, **kwargs):
    """(fastnn optimizer, its reference twin for the protocol)."""
    ref = (ro.BOOK1 if protocol == "dict" else ro.BOOK2)[name]
    return getattr(fo, name)(**kwargs), ref(**kwargs)


def container(arrays, protocol):
    """Arrays as the book's dict (keys W1, W2, ...) or the second book's list."""
    if protocol == "dict":
        return {f"W{i + 1}": a for i, a in enumerate(arrays)}
    return list(arrays)


def values(c):
    return list(c.values()) if isinstance(c, dict) else list(c)


def assert_close(actual, expected, dtype, scale):
    """Equal to rounding: relative tolerance of the dtype, absolute tolerance relative to the problem's scale
    (values near zero come out of a cancellation between numbers of that size)."""
    tol = TOL[dtype]
    assert np.asarray(actual).dtype == dtype
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def scale_of(*groups):
    return 1.0 + max((float(np.max(np.abs(a), initial=0)) for g in groups for a in g), default=0.0)


# --- same numbers as the books ----------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["dict", "list"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_matches_reference_over_steps(name, dtype, protocol, data):
    param_shapes = data.draw(st.lists(shapes, min_size=1, max_size=3), label="shapes")
    kwargs = {arg: data.draw(HYPER[arg], label=arg) for arg in ARGS[name]}
    steps = data.draw(st.integers(1, 4), label="steps")
    grad_scale = data.draw(st.sampled_from([1e-3, 1.0, 10.0]), label="grad_scale")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))

    initial = [np.array(rng.standard_normal(s), dtype=dtype) for s in param_shapes]  # 0-d too
    params = container([a.copy() for a in initial], protocol)
    expected = container([a.copy() for a in initial], protocol)
    arrays = values(params)
    opt, ref = pair(name, protocol, **kwargs)
    for _ in range(steps):
        g = [np.array(grad_scale * rng.standard_normal(s), dtype=dtype) for s in param_shapes]
        g[0][rng.random(param_shapes[0]) < 0.2] = 0  # exact zeros: the adaptive methods' guard term matters
        opt.update(params, container(g, protocol))
        ref.update(expected, container([x.copy() for x in g], protocol))

    assert all(a is b for a, b in zip(values(params), arrays))  # updated in place, never rebound
    scale = scale_of(initial, values(expected), *(values(getattr(ref, s)) for s in STATE[name]))
    for got, want in zip(values(params), values(expected)):
        assert_close(got, want, dtype, scale)
    for state in STATE[name]:
        assert type(getattr(opt, state)) is type(getattr(ref, state))  # dict for dicts, list for lists
        for got, want in zip(values(getattr(opt, state)), values(getattr(ref, state))):
            assert_close(got, want, dtype, scale)
    if name == "Adam":
        assert opt.iter == ref.iter == steps


@pytest.mark.parametrize("protocol", ["dict", "list"])
@pytest.mark.parametrize("name", NAMES)
def test_reused_gradient_buffers_match_reference_through_every_change(name, protocol):
    """The layers' way: the same parameter and gradient arrays every step, gradients written in place (the update
    then reuses its last checks). Between steps the caller replaces a gradient buffer, resets the state, rebinds a
    parameter and finally makes one read-only: each change is seen, as by the reference, and the read-only one
    refused."""
    rng = np.random.default_rng(7)
    shapes = [(3, 4), (4,), (2, 2)]
    start = [rng.standard_normal(s) for s in shapes]
    params, expected = container([a.copy() for a in start], protocol), container([a.copy() for a in start], protocol)
    grads = container([np.zeros(s) for s in shapes], protocol)
    keys = list(params) if protocol == "dict" else list(range(len(shapes)))
    opt, ref = pair(name, protocol, lr=0.05)

    def step():
        for k in keys:
            grads[k][...] = rng.standard_normal(grads[k].shape)  # in place, like a layer's backward
        opt.update(params, grads)
        ref.update(expected, container([grads[k].copy() for k in keys], protocol))

    for change in range(4):
        step()
        step()
        if change == 0:
            grads[keys[1]] = np.zeros(shapes[1])  # a new gradient buffer
        elif change == 1:
            for state in STATE[name]:
                setattr(opt, state, None)
                setattr(ref, state, None)
        elif change == 2:
            params[keys[2]] = params[keys[2]].copy()  # a rebound parameter (the book's load_params)
    for k in keys:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-12)
    params[keys[0]].flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        opt.update(params, grads)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_attribute_names_match_the_book(name):
    opt, ref = pair(name, "dict")
    assert vars(opt) == vars(ref)  # same attribute names and default values; state None until the first update


@pytest.mark.parametrize("protocol", ["dict", "list"])
@pytest.mark.parametrize("name", [n for n in NAMES if STATE[n]])
def test_state_is_created_on_first_update_like_the_params(name, protocol):
    rng = np.random.default_rng(1)
    params = container([rng.standard_normal((2, 3)), rng.standard_normal(3)], protocol)
    grads = container([np.ones((2, 3)), np.ones(3)], protocol)
    opt = getattr(fo, name)()
    assert all(getattr(opt, s) is None for s in STATE[name])
    opt.update(params, grads)
    for s in STATE[name]:
        state = getattr(opt, s)
        assert isinstance(state, dict if protocol == "dict" else list)
        keys = state.keys() if protocol == "dict" else range(len(state))
        assert list(keys) == list(params.keys() if protocol == "dict" else range(len(params)))
        assert [np.shape(x) for x in values(state)] == [x.shape for x in values(params)]


# --- in place ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["dict", "list"])
@pytest.mark.parametrize("name", NAMES)
def test_arrays_are_updated_in_place_and_views_see_it(name, protocol):
    rng = np.random.default_rng(2)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer_view = W[1]  # a layer holding part of the array sees the update
    W0, ids = W.copy(), (id(W), id(b))
    params = container([W, b], protocol)
    expected = container([W.copy(), b.copy()], protocol)
    grads = container([rng.standard_normal((4, 3)), rng.standard_normal(3)], protocol)
    opt, ref = pair(name, protocol)
    for _ in range(3):
        opt.update(params, grads)
        ref.update(expected, grads)
    assert (id(values(params)[0]), id(values(params)[1])) == ids
    assert values(params)[0] is W and values(params)[1] is b
    np.testing.assert_allclose(W, values(expected)[0], rtol=1e-12)
    assert not np.array_equal(W, W0)
    np.testing.assert_array_equal(layer_view, W[1])


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed", "reversed"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_params_are_updated_through_their_base(name, dtype, layout):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 8)).astype(dtype)
    before = base.copy()
    param = {"fortran": np.asfortranarray(base), "strided": base[::2, 1::3], "transposed": base.T,
             "reversed": base[::-1, ::-1]}[layout]
    assert not param.flags.c_contiguous
    expected = param.copy()
    opt, ref = pair(name, "dict")
    for _ in range(3):
        g = rng.standard_normal(param.shape).astype(dtype)
        opt.update({"W": param}, {"W": g})
        ref.update({"W": expected}, {"W": g})
    assert_close(param, expected, dtype, scale_of([expected, before]))
    if layout != "fortran":  # the others are views: the base changed exactly where the view lies
        touched = np.zeros(base.shape, bool)
        {"strided": touched[::2, 1::3], "transposed": touched.T, "reversed": touched}[layout][...] = True
        np.testing.assert_array_equal(base[~touched], before[~touched])
        assert not np.array_equal(base[touched], before[touched])


@pytest.mark.parametrize("name", NAMES)
def test_params_sharing_memory_are_updated_one_after_another_like_the_book(name):
    # e.g. a tied weight listed as W and W.T: each update sees the previous one, as in the book's loop
    rng = np.random.default_rng(7)
    W = rng.standard_normal((3, 4))
    W_ref = W.copy()
    grads = [rng.standard_normal((3, 4)), rng.standard_normal((4, 3)), rng.standard_normal(4)]
    opt, ref = pair(name, "list")
    for _ in range(2):
        opt.update([W, W.T, W[1]], grads)
        ref.update([W_ref, W_ref.T, W_ref[1]], grads)
    np.testing.assert_allclose(W, W_ref, rtol=1e-12, atol=1e-12)


# --- scalar parameters: the book's optimizer comparison (chapter 6) ----------------------------------------------
def df(x, y):
    """Gradient of f(x, y) = x**2 / 20 + y**2."""
    return x / 10.0, 2.0 * y


BOOK_LR = {"SGD": 0.95, "Momentum": 0.1, "Nesterov": 0.1, "AdaGrad": 1.5, "RMSprop": 0.1, "Adam": 0.3}


def run_comparison(opt, protocol, start=(-7.0, 2.0), steps=30):
    params = {"x": start[0], "y": start[1]} if protocol == "dict" else [start[0], start[1]]
    keys = ["x", "y"] if protocol == "dict" else [0, 1]
    grads = {"x": 0, "y": 0} if protocol == "dict" else [0, 0]
    history = []
    for _ in range(steps):
        history.append((params[keys[0]], params[keys[1]]))
        grads[keys[0]], grads[keys[1]] = df(params[keys[0]], params[keys[1]])
        opt.update(params, grads)
    return np.array(history + [(params[keys[0]], params[keys[1]])])


@pytest.mark.parametrize("protocol", ["dict", "list"])
@pytest.mark.parametrize("name", NAMES)
def test_book_comparison_with_scalar_params(name, protocol):
    opt, ref = pair(name, protocol, lr=BOOK_LR[name])
    got, want = run_comparison(opt, protocol), run_comparison(ref, protocol)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.abs(got[-1]).max() < np.abs(got[0]).max()  # it did descend towards (0, 0)


@pytest.mark.parametrize("name", NAMES)
def test_scalar_params_keep_their_float_type(name):
    params = {"x": np.float32(-7.0), "y": 2.0, "n": 3}
    opt = getattr(fo, name)(lr=0.1)
    opt.update(params, {"x": 0.5, "y": 0.5, "n": 0.5})
    assert type(params["x"]) is np.float32 and params["x"] != np.float32(-7.0)
    assert isinstance(params["y"], float) and params["y"] != 2.0
    assert isinstance(params["n"], float) and params["n"] != 3  # an int parameter becomes a float, as in NumPy


# --- edge values -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ADAPTIVE)
def test_zero_gradients_keep_adaptive_methods_finite(name, dtype):
    rng = np.random.default_rng(4)
    W = rng.standard_normal((3, 5)).astype(dtype)
    start = W.copy()
    opt = getattr(fo, name)()
    for _ in range(5):
        opt.update({"W": W}, {"W": np.zeros_like(W)})
    np.testing.assert_array_equal(W, start)  # 0 / (sqrt(0) + 1e-7) = 0, not nan
    opt.update({"W": W}, {"W": np.ones_like(W)})
    for _ in range(5):
        opt.update({"W": W}, {"W": np.zeros_like(W)})
    assert np.all(np.isfinite(W)) and not np.array_equal(W, start)
    for s in STATE[name]:
        assert np.all(np.isfinite(getattr(opt, s)["W"]))


@pytest.mark.parametrize("name", NAMES)
def test_grad_of_another_dtype_is_cast_to_the_param_dtype(name):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((3, 4)).astype(np.float32)
    expected = W.copy()
    opt, ref = pair(name, "dict")
    for grad in (rng.standard_normal((3, 4)), rng.integers(-3, 4, (3, 4))):  # float64, then int
        opt.update({"W": W}, {"W": grad})
        ref.update({"W": expected}, {"W": grad.astype(np.float32)})
    assert W.dtype == np.float32
    assert_close(W, expected, np.float32, scale_of([expected]))
    for s in STATE[name]:
        assert getattr(opt, s)["W"].dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_hyper_parameters_changed_between_updates_are_used(name):
    # the books' trainers lower optimizer.lr during training
    rng = np.random.default_rng(6)
    W = rng.standard_normal(5)
    expected = W.copy()
    opt, ref = pair(name, "dict")
    for lr in (0.1, 0.01):
        opt.lr = ref.lr = lr
        g = rng.standard_normal(5)
        opt.update({"W": W}, {"W": g})
        ref.update({"W": expected}, {"W": g})
    np.testing.assert_allclose(W, expected, rtol=1e-12)


# --- bad input ---------------------------------------------------------------------------------------------------
BAD_HYPER = [
    ("lr", 0, ValueError), ("lr", -0.1, ValueError), ("lr", float("nan"), ValueError),
    ("lr", float("inf"), ValueError), ("lr", "0.1", TypeError), ("lr", None, TypeError),
    ("momentum", 1.0, ValueError), ("momentum", -0.1, ValueError), ("momentum", float("nan"), ValueError),
    ("decay_rate", 1.0, ValueError), ("decay_rate", 1.5, ValueError), ("decay_rate", -1e-9, ValueError),
    ("beta1", 1.0, ValueError), ("beta1", -0.5, ValueError), ("beta2", 1.0, ValueError),
    ("beta2", float("inf"), ValueError), ("beta2", [0.9], TypeError),
]


@pytest.mark.parametrize("name, arg, value, exc",
                         [(name, *bad) for name in NAMES for bad in BAD_HYPER if bad[0] in ARGS[name]])
def test_bad_hyper_parameters_are_refused(name, arg, value, exc):
    with pytest.raises(exc, match=arg):
        getattr(fo, name)(**{arg: value})
    # assigned after construction: refused at the next update, nothing changes
    opt = getattr(fo, name)()
    setattr(opt, arg, value)
    W = np.ones(3)
    with pytest.raises(exc, match=arg):
        opt.update({"W": W}, {"W": np.ones(3)})
    np.testing.assert_array_equal(W, np.ones(3))
    assert all(getattr(opt, s) is None for s in STATE[name])


@pytest.mark.parametrize("value, exc", [(-1, ValueError), (1.5, TypeError)])
def test_bad_adam_iter_is_refused(value, exc):
    opt = fo.Adam()
    opt.iter = value
    with pytest.raises(exc, match="iter"):
        opt.update({"W": np.ones(3)}, {"W": np.ones(3)})


def _readonly():
    a = np.ones(3)
    a.setflags(write=False)
    return a


BAD_CALLS = [  # (params, grads, exception, text the message must contain)
    ({"W": np.ones(3), "b": np.ones(2)}, {"W": np.ones(3)}, ValueError, "'b'"),
    ({"W": np.ones(3), "b": np.ones(2)}, {"W": np.ones(3), "b": np.ones(3)}, ValueError, "grads['b']"),
    ({"W": np.ones((2, 3))}, {"W": np.ones(6)}, ValueError, "grads['W']"),
    ({"x": -7.0}, {"x": np.ones(2)}, ValueError, "grads['x']"),
    ([np.ones(3), np.ones(2)], [np.ones(3)], ValueError, "1 gradients for 2 parameters"),
    ([np.ones(3), np.ones(2)], [np.ones(3), np.ones((2, 1))], ValueError, "grads[1]"),
    ({"W": np.ones(3), "b": _readonly()}, {"W": np.ones(3), "b": np.ones(3)}, ValueError, "params['b']"),
    ({"W": np.ones(3), "b": np.ones(3, dtype=int)}, {"W": np.ones(3), "b": np.ones(3)}, TypeError, "params['b']"),
    ({"W": np.ones(3), "b": np.ones(3, dtype=np.float16)}, {"W": np.ones(3), "b": np.ones(3)}, TypeError,
     "params['b']"),
    ({"W": np.ones(3), "b": [1.0, 2.0]}, {"W": np.ones(3), "b": np.ones(2)}, TypeError, "params['b']"),
    ({"W": np.ones(3), "b": True}, {"W": np.ones(3), "b": 1.0}, TypeError, "params['b']"),
    ({"W": np.ones(3)}, {"W": np.ones(3) * 1j}, TypeError, "grads['W']"),
    ({"W": np.ones(3)}, {"W": np.array(["a", "b", "c"])}, TypeError, "grads['W']"),
    ({"W": np.ones(3)}, [np.ones(3)], TypeError, "grads"),
    ([np.ones(3)], {0: np.ones(3)}, TypeError, "grads"),
    (np.ones(3), np.ones(3), TypeError, "params"),
    ((np.ones(3), 1.0), (np.ones(3), 1.0), TypeError, "params[1]"),  # a scalar cannot be replaced in a tuple
]


@pytest.mark.parametrize("params, grads, exc, text", BAD_CALLS)
@pytest.mark.parametrize("name", NAMES)
def test_bad_params_and_grads_are_refused_before_anything_changes(name, params, grads, exc, text):
    snapshot = [np.array(p, copy=True) for p in values(params)] if not isinstance(params, np.ndarray) else []
    opt = getattr(fo, name)()
    with pytest.raises(exc) as info:
        opt.update(params, grads)
    assert text in str(info.value)
    if not isinstance(params, np.ndarray):
        for p, before in zip(values(params), snapshot):
            np.testing.assert_array_equal(np.asarray(p), before)
    assert all(getattr(opt, s) is None for s in STATE[name])
    assert getattr(opt, "iter", 0) == 0


@pytest.mark.parametrize("name", [n for n in NAMES if STATE[n]])
def test_state_from_other_params_is_refused_until_reset(name):
    opt = getattr(fo, name)()
    opt.update({"W": np.ones(3)}, {"W": np.ones(3)})
    with pytest.raises(ValueError, match="'W'"):
        opt.update({"W": np.ones(4)}, {"W": np.ones(4)})
    with pytest.raises(ValueError, match="'b'"):
        opt.update({"W": np.ones(3), "b": np.ones(2)}, {"W": np.ones(3), "b": np.ones(2)})
    for s in STATE[name]:
        setattr(opt, s, None)
    W = np.ones(4)
    opt.update({"W": W}, {"W": np.ones(4)})
    assert np.all(W < 1)


# --- three steps by hand: the books' formulas on Python floats, one element at a time --------------------------
# Two parameters of 3 and 2 elements. W[2]'s gradients are ~1e-6, where the adaptive methods' eps (1e-7) is a tenth
# of sqrt(h) and so moves the result; b[0]'s first gradient is 0. The traces below are independent of
# fastnn.reference: each is the book's update written for one scalar p with its own scalar state.
TRACE_START = [[1.0, -2.0, 0.5], [0.25, -0.75]]
TRACE_GRADS = [  # steps 1, 2, 3: [gradient of W, gradient of b]
    [[0.5, -1.0, 1e-6], [0.0, 2.0]],
    [[-0.25, 0.75, 3e-6], [1.5, -0.5]],
    [[1.0, 0.125, -2e-6], [-1.0, 0.0]],
]
TRACE_HYPER = dict(lr=0.1, momentum=0.9, decay_rate=0.99, beta1=0.9, beta2=0.999)
TRACE_EPS = 1e-7  # the books' literal in AdaGrad, RMSprop and Adam


def _sgd(p, g, s, t, lr, **_):
    return p - lr * g


def _momentum(p, g, s, t, lr, momentum, **_):
    s["v"] = momentum * s.get("v", 0.0) - lr * g
    return p + s["v"]


def _nesterov(p, g, s, t, lr, momentum, **_):
    v = s.get("v", 0.0) * momentum
    v -= lr * g
    s["v"] = v
    p += momentum * momentum * v
    return p - (1 + momentum) * lr * g


def _adagrad(p, g, s, t, lr, **_):
    s["h"] = s.get("h", 0.0) + g * g
    return p - lr * g / (math.sqrt(s["h"]) + TRACE_EPS)


def _rmsprop(p, g, s, t, lr, decay_rate, **_):
    s["h"] = s.get("h", 0.0) * decay_rate + (1 - decay_rate) * g * g
    return p - lr * g / (math.sqrt(s["h"]) + TRACE_EPS)


def _adam(p, g, s, t, lr, beta1, beta2, **_):
    lr_t = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)  # the books fold the bias correction into lr
    m, v = s.get("m", 0.0), s.get("v", 0.0)
    s["m"] = m + (1 - beta1) * (g - m)
    s["v"] = v + (1 - beta2) * (g ** 2 - v)
    return p - lr_t * s["m"] / (math.sqrt(s["v"]) + TRACE_EPS)


TRACE_RULES = {"SGD": _sgd, "Momentum": _momentum, "Nesterov": _nesterov, "AdaGrad": _adagrad, "RMSprop": _rmsprop,
               "Adam": _adam}


def hand_trace(name):
    """The parameters after each of the three steps, as lists of Python floats."""
    rule = TRACE_RULES[name]
    params = [list(p) for p in TRACE_START]
    state = [[{} for _ in p] for p in params]  # one scalar state per element, created on the first step
    trace = []
    for t, grads in enumerate(TRACE_GRADS, start=1):
        for k, (p, g) in enumerate(zip(params, grads)):
            for i in range(len(p)):
                p[i] = rule(p[i], g[i], state[k][i], t, **TRACE_HYPER)
        trace.append([list(p) for p in params])
    return trace


TRACE_IMPLS = {  # (optimizer class for a name, protocol)
    "fastnn-dict": (lambda name: getattr(fo, name), "dict"),
    "fastnn-list": (lambda name: getattr(fo, name), "list"),
    "reference-book1": (lambda name: ro.BOOK1[name], "dict"),
    "reference-book2": (lambda name: ro.BOOK2[name], "list"),
}


def test_hand_trace_spot_values():
    """A few entries of the hand traces worked out on paper, so the trace rules themselves are checked."""
    assert hand_trace("SGD")[0][0] == [1.0 - 0.1 * 0.5, -2.0 + 0.1, 0.5 - 0.1 * 1e-6]
    assert hand_trace("Momentum")[1][0][0] == pytest.approx(0.95 + (0.9 * -0.05 + 0.025), rel=1e-15)
    # AdaGrad's first step is lr * sign(g) but for eps: 0.1 * g / (|g| + 1e-7); for g = 1e-6 that is 0.1 / 1.1
    assert hand_trace("AdaGrad")[0][0][2] == pytest.approx(0.5 - 0.1 / 1.1, rel=1e-15)
    assert hand_trace("Adam")[0][1][0] == 0.25  # g = 0: m and v stay 0, the step is 0


@pytest.mark.parametrize("impl", sorted(TRACE_IMPLS))
@pytest.mark.parametrize("name", NAMES)
def test_three_steps_match_the_books_formulas_by_hand(name, impl):
    make, protocol = TRACE_IMPLS[impl]
    opt = make(name)(**{arg: TRACE_HYPER[arg] for arg in ARGS[name]})
    params = container([np.array(p) for p in TRACE_START], protocol)
    for step, (grads, want) in enumerate(zip(TRACE_GRADS, hand_trace(name)), start=1):
        opt.update(params, container([np.array(g) for g in grads], protocol))
        for got, expected in zip(values(params), want):
            np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0, err_msg=f"{impl} {name} step {step}")


# --- the seam of a compiled training loop: step_coefficients, unstep, flat_plan ----------------------------------
def _arena_params(dtype=np.float64):
    """Two parameters and their gradients as views of one flat buffer each (as a fastnn net's arena)."""
    arena, grad_arena = np.linspace(-1, 1, 10).astype(dtype), np.linspace(0.5, -0.5, 10).astype(dtype)
    params = {"W": arena[:6].reshape(2, 3), "b": arena[6:]}
    grads = {"W": grad_arena[:6].reshape(2, 3), "b": grad_arena[6:]}
    return params, grads


@pytest.mark.parametrize("name", NAMES)
def test_step_coefficients_are_the_next_updates_scalars_and_adam_counts_them(name):
    """k rows, row s the scalars update s would use; Adam's iter advances by k, and unstep gives back the
    updates that were not made, so the counter then equals that of the updates made one by one."""
    params, grads = _arena_params()
    opt, one_by_one = getattr(fo, name)(), getattr(fo, name)()
    rows = opt.step_coefficients(3)
    for row in rows:
        plan = one_by_one.flat_plan(params, grads)
        assert plan is not None and plan.code == opt.flat_plan(params, grads).code
        one_by_one.update({k: v.copy() for k, v in params.items()}, grads)
    assert rows.shape[0] == 3 and rows.dtype == np.float64
    assert getattr(opt, "iter", 3) == 3 == getattr(one_by_one, "iter", 3)
    opt.unstep(2)
    assert getattr(opt, "iter", 1) == 1
    np.testing.assert_array_equal(opt.step_coefficients(2, np.float32), rows[1:].astype(np.float32))


def test_flat_plan_is_none_for_params_that_are_not_views_of_one_buffer():
    params, grads = _arena_params()
    opt = fo.Momentum()
    assert opt.flat_plan(params, grads) is not None and opt.v is not None
    separate = {k: v.copy() for k, v in params.items()}
    assert opt.flat_plan(separate, grads) is None
    with pytest.raises(TypeError, match="grads must be a dict like params"):  # as update says
        opt.flat_plan(params, [grads["W"], grads["b"]])


@pytest.mark.parametrize("call, exc, text, iter_after", [
    (lambda opt: opt.step_coefficients(0), ValueError, "k must be >= 1", 3),
    (lambda opt: opt.step_coefficients(1.5), TypeError, "k must be an integer", 3),
    (lambda opt: opt.unstep(-1), ValueError, "n must be >= 0", 3),
    (lambda opt: opt.unstep(4), ValueError, "n must be at most 3", 3),
    (lambda opt: (opt.unstep(3), opt.unstep(1)), ValueError, "n must be at most 0", 0),
    (lambda opt: (opt.update({"W": np.ones(2)}, {"W": np.ones(2)}), opt.unstep(1)), ValueError, "at most 0", 4),
])
def test_bad_step_counts_are_refused(call, exc, text, iter_after):
    """A refused call changes no counter (what came before it in the case did)."""
    opt = fo.Adam()
    opt.step_coefficients(3)
    with pytest.raises(exc, match=text):
        call(opt)
    assert opt.iter == iter_after
