"""The recurrent layers of fastnn.time_layers (RNN, LSTM, GRU, one step and over time, TimeBiLSTM) against the
plain-loop oracle (tests/naive.py), the NumPy reference (fastnn.reference.recurrent), central differences and the
book's own common/time_layers.py."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from fastnn import time_layers as TL
from fastnn.kernels import recurrent as K
from fastnn.reference import recurrent as R

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TIME = {"rnn": TL.TimeRNN, "lstm": TL.TimeLSTM, "gru": TL.TimeGRU}
REFERENCE = {"rnn": R.TimeRNN, "lstm": R.TimeLSTM, "gru": R.TimeGRU}
BOOK_NAMES = {"rnn": ("RNN", "TimeRNN"), "lstm": ("LSTM", "TimeLSTM"), "gru": ("GRU", "TimeGRU")}
# per-step sums against one product over all steps, float32 rounding of gates that feed the next step
TOL = {np.dtype(np.float32): dict(rtol=1e-4, atol=2e-5), np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}
kinds = st.sampled_from(sorted(GATES))
sizes = st.integers(1, 4)


def params(kind, D, H, dtype, rng, scale=0.6):
    G = GATES[kind] * H
    return [(scale * rng.standard_normal(shape)).astype(dtype) for shape in ((D, G), (H, G), (G,))]


def close(actual, desired, dtype=None):
    np.testing.assert_allclose(actual, desired, **TOL[np.dtype(dtype or np.result_type(actual))])


@st.composite
def problems(draw, layouts=naive.LAYOUTS):
    """(kind, dtype, params, xs, dhs, h0, c0): a random layer and input, xs in any memory layout."""
    kind, dtype = draw(kinds), draw(naive.dtypes)
    N, T, D, H = (draw(sizes) for _ in range(4))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    xs = draw(naive.arrays(dtype, (N, T, D), naive.floats(dtype, 2.0), layouts=layouts))
    dhs = naive.relayout(rng.standard_normal((N, T, H)).astype(dtype), draw(st.sampled_from(layouts)))
    h0, c0 = (rng.uniform(-1, 1, (N, H)).astype(dtype) for _ in range(2))
    return kind, dtype, params(kind, D, H, dtype, rng), xs, dhs, h0, c0


def run(layer, xs, dhs, h0=None, c0=None):
    """(hs, dxs, grads copies, dh, last h, last c) of one stateful forward from (h0, c0) and its backward."""
    if h0 is not None:
        layer.stateful = True
        layer.set_state(h0, c0) if c0 is not None else layer.set_state(h0)
    hs = layer.forward(xs)
    h, c = layer.h.copy(), getattr(layer, "c", None)
    dxs = layer.backward(dhs)
    return hs, dxs, [g.copy() for g in layer.grads], layer.dh, h, c


@given(problems())
def test_forward_matches_the_plain_loop_oracle(problem):
    kind, dtype, (Wx, Wh, b), xs, _, h0, c0 = problem
    layer = TIME[kind](Wx, Wh, b, stateful=True)
    layer.set_state(h0, c0) if kind == "lstm" else layer.set_state(h0)
    hs = layer.forward(xs)
    want_hs, want_h, want_c = naive.recurrent_forward(kind, xs, Wx, Wh, b, h0, c0 if kind == "lstm" else None)
    assert hs.dtype == dtype
    close(hs, want_hs, dtype)
    close(layer.h, want_h, dtype)
    if kind == "lstm":
        close(layer.c, want_c, dtype)


@given(problems())
def test_forward_and_backward_match_the_reference(problem):
    kind, dtype, ps, xs, dhs, h0, c0 = problem
    c0 = c0 if kind == "lstm" else None
    ours = run(TIME[kind](*ps), xs, dhs, h0, c0)
    ref = run(REFERENCE[kind](*[p.copy() for p in ps]), xs, dhs, h0, c0)
    for a, r in zip(ours[:2] + ours[3:5], ref[:2] + ref[3:5]):
        assert a.dtype == dtype
        close(a, r, dtype)
    for a, r in zip(ours[2], ref[2]):
        close(a, r, dtype)
    if kind == "lstm":
        close(ours[5], ref[5], dtype)


def numerical(f, a, h=1e-6):
    """Central differences of the scalar f() with respect to every entry of a (perturbed in place)."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        keep = a[idx]
        a[idx] = keep + h
        plus = f()
        a[idx] = keep - h
        minus = f()
        a[idx] = keep
        grad[idx] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize("kind", sorted(GATES))
@pytest.mark.parametrize("shape", [(2, 3, 3, 4), (1, 1, 2, 3), (3, 5, 1, 1)], ids=["N2T3", "batch1-T1", "D1H1"])
def test_gradients_match_central_differences(kind, shape):
    N, T, D, H = shape
    rng = np.random.default_rng(7)
    Wx, Wh, b = params(kind, D, H, np.float64, rng, scale=0.8)
    xs, dhs = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    h0, c0 = rng.uniform(-1, 1, (N, H)), rng.uniform(-1, 1, (N, H))
    layer = TIME[kind](Wx, Wh, b, stateful=True)

    def loss():
        layer.set_state(h0, c0) if kind == "lstm" else layer.set_state(h0)
        return float(np.sum(layer.forward(xs) * dhs))

    loss()
    dxs = layer.backward(dhs)
    for analytic, wrt in zip(layer.grads + [dxs, layer.dh], [Wx, Wh, b, xs, h0]):
        np.testing.assert_allclose(analytic, numerical(loss, wrt), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", sorted(GATES))
def test_stateful_carry_over_equals_one_forward_over_the_whole_sequence(kind, dtype):
    rng = np.random.default_rng(3)
    ps = params(kind, 3, 5, dtype, rng)
    xs = rng.standard_normal((4, 9, 3)).astype(dtype)
    whole = TIME[kind](*ps).forward(xs)
    layer = TIME[kind](*ps, stateful=True)
    parts = np.concatenate([layer.forward(xs[:, :4]), layer.forward(xs[:, 4:5]), layer.forward(xs[:, 5:])], axis=1)
    close(parts, whole, dtype)
    layer.reset_state()
    close(layer.forward(xs[:, 4:]), TIME[kind](*ps).forward(xs[:, 4:]), dtype)


@pytest.mark.parametrize("kind", sorted(GATES))
def test_not_stateful_starts_from_zeros_every_call(kind):
    rng = np.random.default_rng(4)
    layer = TIME[kind](*params(kind, 2, 3, np.float64, rng))
    xs = rng.standard_normal((2, 3, 2))
    first = layer.forward(xs)
    np.testing.assert_array_equal(layer.forward(xs), first)


@pytest.mark.parametrize("kind", sorted(GATES))
def test_grads_are_the_same_arrays_written_in_place(kind):
    rng = np.random.default_rng(5)
    ps = params(kind, 2, 3, np.float32, rng)
    layer = TIME[kind](*ps)
    buffers = list(layer.grads)
    assert all(p is q for p, q in zip(layer.params, ps))
    xs, dhs = rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 3))
    layer.forward(xs)
    layer.backward(dhs)
    first = [g.copy() for g in buffers]
    assert all(g is h for g, h in zip(layer.grads, buffers)) and any(np.any(g) for g in first)
    for p, g in zip(layer.params, layer.grads):  # an optimizer's step, in place, as the book's SGD
        p -= 0.1 * g
    layer.forward(xs)
    layer.backward(dhs)
    assert all(g is h for g, h in zip(layer.grads, buffers))
    assert any(not np.array_equal(g, f) for g, f in zip(buffers, first))


def test_a_non_contiguous_grads_buffer_is_written_in_place():
    rng = np.random.default_rng(6)
    ps = params("lstm", 2, 3, np.float64, rng)
    layer, ref = TL.TimeLSTM(*ps), R.TimeLSTM(*ps)
    view = np.zeros((3, 24))[:, ::2]
    layer.grads[1] = view
    xs, dhs = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 3))
    layer.forward(xs), ref.forward(xs)
    layer.backward(dhs), ref.backward(dhs)
    assert layer.grads[1] is view
    close(view, ref.grads[1])


@pytest.mark.parametrize("kind", sorted(GATES))
def test_parameters_in_any_memory_layout(kind):
    rng = np.random.default_rng(15)
    ps = params(kind, 3, 4, np.float64, rng)
    views = [np.asfortranarray(ps[0]), naive.relayout(ps[1], "strided"), naive.relayout(ps[2], "reversed")]
    xs, dhs = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 4))
    ours, ref = run(TIME[kind](*views), xs, dhs), run(REFERENCE[kind](*ps), xs, dhs)
    for a, r in zip(ours[:2] + ours[3:5], ref[:2] + ref[3:5]):
        close(a, r)
    for a, r in zip(ours[2], ref[2]):
        close(a, r)


@pytest.mark.parametrize("kind", sorted(GATES))
def test_dtype_follows_the_parameters(kind):
    rng = np.random.default_rng(8)
    layer = TIME[kind](*params(kind, 2, 3, np.float32, rng))
    hs = layer.forward(np.arange(12).reshape(2, 3, 2))  # integers, cast to float32
    assert hs.dtype == np.float32 and layer.h.dtype == np.float32
    assert layer.backward(np.ones((2, 3, 3))).dtype == np.float32 and layer.dh.dtype == np.float32


@pytest.mark.parametrize("kind", sorted(GATES))
def test_extreme_pre_activations_saturate_without_warnings(kind, dtype):
    rng = np.random.default_rng(9)
    ps = [p * 1e4 for p in params(kind, 3, 4, dtype, rng)]
    xs = rng.standard_normal((2, 3, 3)).astype(dtype)
    dhs = np.ones((2, 3, 4), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = run(TIME[kind](*ps), xs, dhs)
    with np.errstate(over="ignore"):
        ref = run(REFERENCE[kind](*[p.copy() for p in ps]), xs, dhs)
    for a, r in zip(ours[:2] + (ours[3],), ref[:2] + (ref[3],)):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-3 * np.abs(r).max())


def test_activation_kernels_against_numpy(dtype):
    tiny = np.finfo(dtype).tiny
    values = np.concatenate([np.linspace(-30, 30, 2001), np.geomspace(tiny, 1, 200), -np.geomspace(tiny, 1, 200),
                             [0.0, -0.0, 0.029999, 0.03, 0.030001, 0.249999, 0.25, 0.250001, 1e4, -1e4, np.inf,
                              -np.inf, np.nan]]).astype(dtype)
    t, s = values.copy(), values.copy()
    K.tanh_inplace(t)
    K.sigmoid_inplace(s)
    with np.errstate(over="ignore"):
        want_t = np.tanh(values.astype(np.float64))
        want_s = 1 / (1 + np.exp(-values.astype(np.float64)))
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(t, want_t, rtol=rtol, atol=0)
    np.testing.assert_allclose(s, want_s, rtol=rtol * 4, atol=0)
    assert np.signbit(t[values == 0]).tolist() == np.signbit(values[values == 0]).tolist()


# --- one-step layers and TimeBiLSTM -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(GATES))
def test_one_step_layers_match_the_reference_steps(kind, dtype):
    rng = np.random.default_rng(10)
    Wx, Wh, b = params(kind, 3, 4, dtype, rng)
    x, h, c = (rng.uniform(-1, 1, shape).astype(dtype) for shape in ((2, 3), (2, 4), (2, 4)))
    dh, dc = (rng.standard_normal((2, 4)).astype(dtype) for _ in range(2))
    layer = getattr(TL, BOOK_NAMES[kind][0])(Wx, Wh, b)
    if kind == "lstm":
        out, c_next = layer.forward(x, h, c)
        want, want_c, cache = R.lstm_step(x, h, c, Wx, Wh, b)
        close(c_next, want_c)
        assert [a.shape for a in layer.cache] == [x.shape] + [h.shape] * 7
        dx, dh_prev, dc_prev = layer.backward(dh, dc)
        want_dx, want_dh, want_dc, *want_grads = R.lstm_step_backward(dh, dc, cache, Wx, Wh)
        close(dc_prev, want_dc)
    else:
        out = layer.forward(x, h)
        step, step_back = (R.rnn_step, R.rnn_step_backward) if kind == "rnn" else (R.gru_step, R.gru_step_backward)
        want, cache = step(x, h, Wx, Wh, b)
        dx, dh_prev = layer.backward(dh)
        want_dx, want_dh, *want_grads = step_back(dh, cache, Wx, Wh)
    close(out, want)
    close(dx, want_dx)
    close(dh_prev, want_dh)
    for g, w in zip(layer.grads, want_grads):
        close(g, w)


def test_bilstm_is_two_lstms_reading_both_ways(dtype):
    rng = np.random.default_rng(11)
    p1, p2 = params("lstm", 3, 2, dtype, rng), params("lstm", 3, 2, dtype, rng)
    layer = TL.TimeBiLSTM(*p1, *p2)
    assert layer.params == p1 + p2 and len(layer.grads) == 6
    xs, dhs = rng.standard_normal((2, 4, 3)).astype(dtype), rng.standard_normal((2, 4, 4)).astype(dtype)
    forwards, backwards = R.TimeLSTM(*p1), R.TimeLSTM(*p2)
    close(layer.forward(xs), np.concatenate([forwards.forward(xs), backwards.forward(xs[:, ::-1])[:, ::-1]], axis=2))
    want = forwards.backward(dhs[:, :, :2]) + backwards.backward(dhs[:, ::-1, 2:])[:, ::-1]
    close(layer.backward(dhs), want)
    for g, w in zip(layer.grads, forwards.grads + backwards.grads):
        close(g, w)


# --- the book's own layers ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def book():
    import book2_modules
    return book2_modules.book_module("common/time_layers.py")


def _book_pair(book, name, ps):
    return getattr(TL, name)(*ps), getattr(book, name)(*[p.copy() for p in ps])


@pytest.mark.books
@pytest.mark.parametrize("kind", sorted(GATES))
@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (1, 1, 2, 3)], ids=["N3T5", "batch1-T1"])
def test_time_layers_match_the_books(book, kind, shape):
    N, T, D, H = shape
    rng = np.random.default_rng(12)
    ps = params(kind, D, H, np.float32, rng)
    ours, theirs = _book_pair(book, BOOK_NAMES[kind][1], ps)
    xs, dhs = rng.standard_normal((N, T, D)).astype("f"), rng.standard_normal((N, T, H)).astype("f")
    h0 = rng.uniform(-1, 1, (N, H)).astype("f")
    for layer in (ours, theirs):
        layer.stateful = True
        layer.set_state(h0.copy())
    close(ours.forward(xs), theirs.forward(xs))
    close(ours.h, theirs.h)
    close(ours.forward(xs), theirs.forward(xs))  # the second call carries the state over
    close(ours.backward(dhs), theirs.backward(dhs))
    close(ours.dh, theirs.dh)
    for a, b in zip(ours.grads, theirs.grads):
        close(a, b)


@pytest.mark.books
@pytest.mark.parametrize("kind", sorted(GATES))
def test_one_step_layers_match_the_books(book, kind):
    rng = np.random.default_rng(13)
    ps = params(kind, 3, 4, np.float32, rng)
    ours, theirs = _book_pair(book, BOOK_NAMES[kind][0], ps)
    x, h, c, dh, dc = (rng.uniform(-1, 1, shape).astype("f") for shape in [(2, 3)] + [(2, 4)] * 4)
    args, back = ((x, h, c), (dh, dc)) if kind == "lstm" else ((x, h), (dh,))
    mine, want = ours.forward(*args), theirs.forward(*args)
    for a, b in zip(*((mine, want) if kind == "lstm" else ((mine,), (want,)))):
        close(a, b)
    for a, b in zip(ours.cache, theirs.cache):
        close(a, b)
    for a, b in zip(ours.backward(*back), theirs.backward(*back)):
        close(a, b)
    for a, b in zip(ours.grads, theirs.grads):
        close(a, b)


@pytest.mark.books
def test_bilstm_matches_the_books(book):
    rng = np.random.default_rng(14)
    ps = params("lstm", 3, 2, np.float32, rng) + params("lstm", 3, 2, np.float32, rng)
    ours, theirs = _book_pair(book, "TimeBiLSTM", ps)
    xs, dhs = rng.standard_normal((2, 4, 3)).astype("f"), rng.standard_normal((2, 4, 4)).astype("f")
    close(ours.forward(xs), theirs.forward(xs))
    close(ours.backward(dhs), theirs.backward(dhs))
    for a, b in zip(ours.grads, theirs.grads):
        close(a, b)
