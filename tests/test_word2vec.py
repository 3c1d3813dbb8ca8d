"""fastnn.nets.CBOW and SkipGram (fastnn/word2vec.py): the book's constructors, RNG draws, attributes and
params/grads order; the fused Trainer step gives the layered step's loss, parameters, Adam state and RNG state bit
for bit; the kernels behind it (fastnn/kernels/word2vec.py) in float32 and float64 against NumPy."""
import contextlib
import io

import numpy as np
import pytest

from fastnn import nets, optimizer, util
from fastnn import word2vec as W2V
from fastnn.kernels import optim
from fastnn.kernels import word2vec as K
from fastnn.reference import optimizer as ref_optimizer
from fastnn.reference import trainer as ref_trainer
from fastnn.reference import word2vec as R
from fastnn.trainer import Trainer
from book2_modules import book_module, contexts_target, model_class
from test_negative_sampling import zipf_corpus

MODELS = [nets.CBOW, nets.SkipGram]
VOCAB, HIDDEN, WINDOW = 400, 12, 2


@pytest.fixture(scope="module")
def data():
    """(corpus, contexts, target) of a small Zipf corpus with every word present."""
    corpus = zipf_corpus(np.random.default_rng(41), VOCAB, 6000)
    np.random.default_rng(42).shuffle(corpus)
    return (corpus,) + contexts_target(corpus, WINDOW)


@pytest.fixture
def compiled(monkeypatch):
    """Every path compiled (the fused step, the layered kernels), whatever numba's state in this process."""
    import fastnn._jit  # noqa: F401  numba in the process: fastnn's dispatch picks the kernels
    monkeypatch.setattr(W2V, "numpy_suffices", lambda size: False)


def make(cls, corpus, seed=0):
    np.random.seed(seed)
    return cls(VOCAB, HIDDEN, WINDOW, corpus)


def layered_step(model, adam, x, t):
    loss = model.forward(x, t)
    model.backward()
    params, grads = util.remove_duplicate(model.params, model.grads)
    adam.update(params, grads)
    return loss


def assert_same_state(model_a, adam_a, model_b, adam_b):
    for a, b in zip(model_a.params, model_b.params):
        np.testing.assert_array_equal(a, b)
    assert adam_a.iter == adam_b.iter
    for name in ("m", "v"):
        for a, b in zip(getattr(adam_a, name), getattr(adam_b, name)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.usefixtures("compiled")
def test_the_fused_step_is_the_layered_step_bit_for_bit(cls, data):
    corpus, contexts, target = data
    fused, layered = make(cls, corpus), make(cls, corpus)
    adam_f, adam_l = optimizer.Adam(), optimizer.Adam()
    for step in range(6):
        batch = slice(50 * step, 50 * step + 50)
        np.random.seed(100 + step)
        loss_f = fused._fused_step(contexts[batch], target[batch], adam_f, None)
        state_f = np.random.get_state()
        np.random.seed(100 + step)
        loss_l = layered_step(layered, adam_l, contexts[batch], target[batch])
        state_l = np.random.get_state()
        assert loss_f is not None and type(loss_f) is type(loss_l) and loss_f == loss_l
        assert state_f[2] == state_l[2] and np.array_equal(state_f[1], state_l[1])
    assert_same_state(fused, adam_f, layered, adam_l)


class _Layered:
    """A model that the Trainer runs layer by layer (no fused step)."""
    _fused_step = None


def fit(model, x, t, opt, **kwargs):
    trainer = Trainer(model, opt)
    np.random.seed(7)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        trainer.fit(x, t, max_epoch=2, batch_size=40, eval_interval=5, **kwargs)
    return trainer.loss_list, out.getvalue(), np.random.get_state()


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.usefixtures("compiled")
def test_the_trainer_takes_the_fused_step_with_adam_and_prints_the_same(cls, data, monkeypatch):
    corpus, contexts, target = data
    x, t = contexts[:800], target[:800]
    calls = []
    original = cls._step
    monkeypatch.setattr(cls, "_step", lambda self, *a: calls.append(1) or original(self, *a))
    fused, adam_f = make(cls, corpus), optimizer.Adam()
    layered, adam_l = make(type("Layered" + cls.__name__, (_Layered, cls), {}), corpus), optimizer.Adam()
    losses_f, printed_f, state_f = fit(fused, x, t, adam_f)
    losses_l, printed_l, state_l = fit(layered, x, t, adam_l)
    assert len(calls) == 2 * 20  # every step of the fused model's fit was fused, the layered model's none
    assert losses_f == losses_l and len(losses_f) == 8
    assert [line.split("|")[-1] for line in printed_f.splitlines()] == [
        line.split("|")[-1] for line in printed_l.splitlines()]
    assert state_f[2] == state_l[2] and np.array_equal(state_f[1], state_l[1])
    assert_same_state(fused, adam_f, layered, adam_l)


@pytest.mark.usefixtures("compiled")
def test_layered_steps_then_fused_ones_share_the_adam_state(data, monkeypatch):
    # a fresh process runs the first steps layer by layer (NumPy suffices until numba pays): Adam's state built
    # there carries over to the fused steps
    corpus, contexts, target = data
    verdicts = iter([True] * 3 + [False] * 3)
    monkeypatch.setattr(W2V, "numpy_suffices", lambda size: next(verdicts))
    mixed, layered = make(nets.CBOW, corpus), make(nets.CBOW, corpus)
    adam_m, adam_l = optimizer.Adam(), optimizer.Adam()
    for step in range(6):
        batch = slice(40 * step, 40 * step + 40)
        np.random.seed(step)
        loss = mixed._fused_step(contexts[batch], target[batch], adam_m, None)
        assert (loss is None) == (step < 3)
        if loss is None:
            layered_step(mixed, adam_m, contexts[batch], target[batch])
        np.random.seed(step)
        layered_step(layered, adam_l, contexts[batch], target[batch])
    assert_same_state(mixed, adam_m, layered, adam_l)


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.usefixtures("compiled")
def test_a_bad_adam_setting_is_refused_by_the_fused_step_before_anything_is_updated(cls, data):
    corpus, contexts, target = data
    model, adam = make(cls, corpus), optimizer.Adam()
    before = [p.copy() for p in model.params]
    adam.beta1 = 1.5
    with pytest.raises(ValueError, match="beta1"):
        model._fused_step(contexts[:40], target[:40], adam, None)
    assert adam.iter == 0 and adam.m is None and adam.v is None
    for p, q in zip(model.params, before):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("case", ["SGD", "max_grad", "adam state of other parameters", "params rebound"])
@pytest.mark.usefixtures("compiled")
def test_other_settings_take_the_layered_step(case, data):
    corpus, contexts, target = data
    model, adam = make(nets.CBOW, corpus), optimizer.Adam()
    max_grad = None
    if case == "SGD":
        adam = optimizer.SGD()
    elif case == "max_grad":
        max_grad = 1.0
    elif case == "adam state of other parameters":
        adam.m, adam.v = [np.zeros(3)], [np.zeros(3)]
    else:
        model.params[3] = model.params[0].copy()
    assert model._fused_step(contexts[:40], target[:40], adam, max_grad) is None


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.usefixtures("compiled")
def test_the_fused_training_is_the_references(cls, data):
    """fastnn's Trainer with the fused step against the reference model, remove_duplicate and Adam (NumPy)."""
    corpus, contexts, target = data
    ours, ours_adam = make(cls, corpus), optimizer.Adam()
    theirs, theirs_adam = make(getattr(R, cls.__name__), corpus), ref_optimizer.Adam2()
    for a, b in zip(ours.params, theirs.params):
        np.testing.assert_array_equal(a, b)
    losses, _, state = fit(ours, contexts[:800], target[:800], ours_adam)
    np.random.seed(7)
    expected, total, count = [], 0, 0
    x, t = contexts[:800], target[:800]
    for epoch in range(2):
        order = np.random.permutation(np.arange(800))
        x, t = x[order], t[order]
        for it in range(20):
            batch = slice(40 * it, 40 * it + 40)
            total += theirs.forward(x[batch], t[batch])
            count += 1
            theirs.backward()
            theirs_adam.update(*ref_trainer.remove_duplicate(theirs.params, theirs.grads))
            if it % 5 == 0:
                expected.append(float(total / count))
                total, count = 0, 0
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    assert np.array_equal(state[1], np.random.get_state()[1])
    for a, b in zip(ours.params, theirs.params):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6)


# --- the book's classes ---------------------------------------------------------------------------------------
@pytest.mark.books
@pytest.mark.parametrize(("cls", "script", "name"), [(nets.CBOW, "ch04/cbow.py", "CBOW"),
                                                     (nets.SkipGram, "ch04/skip_gram.py", "SkipGram")])
@pytest.mark.usefixtures("compiled")
def test_the_models_are_the_books(cls, script, name, data):
    corpus, contexts, target = data
    book = getattr(book_module(script), name)
    ours, theirs = make(cls, corpus), make(book, corpus)
    assert len(ours.params) == len(theirs.params) == len(ours.grads) == len(theirs.grads)
    for a, b in zip(ours.params, theirs.params):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert [id(p) for p in ours.params].count(id(ours.params[0])) == [id(p) for p in theirs.params].count(
        id(theirs.params[0]))
    np.testing.assert_array_equal(ours.word_vecs, theirs.word_vecs)
    x, t = contexts[:100], target[:100]
    np.random.seed(3)
    loss_ours = ours.forward(x, t)
    ours.backward()
    np.random.seed(3)
    loss_theirs = theirs.forward(x, t)
    theirs.backward()
    np.testing.assert_allclose(loss_ours, loss_theirs, rtol=1e-6)
    for a, b in zip(ours.grads, theirs.grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-9)


@pytest.mark.books
@pytest.mark.parametrize("model", ["cbow", "skipgram"])
@pytest.mark.usefixtures("compiled")
def test_the_books_unchanged_models_print_the_books_losses(model):
    """The book's ch04/cbow.py and skip_gram.py as published, trained by a Trainer and Adam: on the book's common,
    with common and negative_sampling_layer switched to fastnn, and fastnn.nets' model, from the same seed."""
    corpus = zipf_corpus(np.random.default_rng(53), 1000, 10000)
    contexts, target = contexts_target(corpus, 5)
    runs = {}
    for kind in ("book", "fastnn", "nets"):
        Model, Trainer, Adam = model_class(kind, model)
        np.random.seed(0)
        trainer = Trainer(Model(1000, 20, 5, corpus), Adam())
        with contextlib.redirect_stdout(io.StringIO()) as out:
            trainer.fit(contexts[:4000], target[:4000], max_epoch=1, batch_size=100, eval_interval=10)
        runs[kind] = (trainer.loss_list, [line.split("|")[-1] for line in out.getvalue().splitlines()],
                      np.random.get_state()[1])
    book_losses, book_lines, book_state = runs["book"]
    assert len(book_lines) == 4 and all("loss" in line for line in book_lines)
    for kind in ("fastnn", "nets"):
        losses, lines, state = runs[kind]
        assert lines == book_lines, kind
        np.testing.assert_allclose(losses, book_losses, rtol=1e-5)
        np.testing.assert_array_equal(state, book_state)  # the same draws: the same negative samples and shuffles


# --- the kernels in both dtypes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H", [1, 7, 100, 300])  # NumPy sums up to 7 values in a row, 8+ in eight, 129+ by halves
def test_the_kernels_compute_the_layers_formulas(dtype, H):
    rng = np.random.default_rng(43)
    V, N, K_ = 30, 9, 4
    W = rng.standard_normal((V, H)).astype(dtype)
    idx = rng.integers(0, V, (N, 3))
    h = np.empty((N, H), dtype)
    K.mean_of_rows(W, idx, dtype(1 / 3), h)
    np.testing.assert_array_equal(h, (0 + W[idx[:, 0]] + W[idx[:, 1]] + W[idx[:, 2]]) * dtype(1 / 3))
    ids = rng.integers(0, V, (K_, N))
    scores, y, losses = np.empty((K_, N), dtype), np.empty((K_, N), dtype), np.empty(K_, dtype)
    K.losses_forward(W, h, ids, scores, y, dtype(1e-7), losses, np.empty(H, dtype))
    for k in range(K_):
        np.testing.assert_array_equal(scores[k], np.sum(W[ids[k]] * h, axis=1))
        expected_y = 1 / (1 + np.exp(-scores[k]))
        np.testing.assert_allclose(y[k], expected_y, rtol=1e-6 if dtype == np.float32 else 1e-14)
        picked = y[k] if k == 0 else 1 - y[k]
        np.testing.assert_allclose(losses[k], -np.mean(np.log(picked.astype(np.float64) + dtype(1e-7))), rtol=1e-6)
    dscore, dh = np.empty((K_, N), dtype), np.empty((N, H), dtype)
    K.losses_backward(W, h, ids, y, dtype(0.5), dtype(N), dscore, dh)
    labels = np.zeros((K_, 1), dtype)
    labels[0] = 1
    np.testing.assert_array_equal(dscore, (y - labels) * dtype(0.5) / dtype(N))
    expected_dh = 0
    for k in range(K_):
        expected_dh = expected_dh + dscore[k][:, None] * W[ids[k]]
    np.testing.assert_array_equal(dh, expected_dh)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compact_gradients_and_adam_are_the_dense_ones(dtype):
    rng = np.random.default_rng(47)
    V, H, N, layers = 25, 5, 30, 3
    rows = rng.integers(0, 6, (layers, N))  # few distinct rows: heavy accumulation
    scales, src = rng.standard_normal((layers, N)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    merged = W2V._Merged(V, H, [rows], np.dtype(dtype))
    dense_total = np.zeros((V, H), dtype)
    for k in range(layers):
        merged.add_layer(rows[k], scales[k], src)
        dense = np.zeros((V, H), dtype)
        np.add.at(dense, rows[k], scales[k][:, None] * src)
        dense_total += dense  # the Trainer's remove_duplicate
    slot_of, compact = merged.pair()
    touched = np.flatnonzero(slot_of != K.NO_SLOT)
    np.testing.assert_array_equal(np.sort(touched), np.unique(rows))
    np.testing.assert_array_equal(compact[slot_of[touched]], dense_total[touched])
    params, m, v = (rng.standard_normal((V, H)).astype(dtype) for _ in range(3))
    v = np.abs(v)
    expected = [a.copy() for a in (params, m, v)]
    coef = [dtype(c) for c in (0.1, 0.001, 0.01, 1e-7)]
    K.adam_rows(params, m, v, slot_of, compact, np.zeros(H, dtype), *coef)
    optim.adam(*(a.reshape(-1) for a in (expected[0], dense_total, expected[1], expected[2])), *coef)
    for got, want in zip((params, m, v), expected):
        np.testing.assert_array_equal(got, want)
