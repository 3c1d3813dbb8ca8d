"""fastnn.rnnlm_nets (issue #27 item 4): the second book's language models with its constructors, draws, params
order and results: against the book's chapter classes (same seed, a few SGD steps), the reference twins, central
differences, the book's Rnnlm.pkl, text generation, bad input."""
import warnings

import numpy as np
import pytest

import book_scripts
from fastnn import nets, rnnlm_nets
from fastnn.optimizer import SGD
from fastnn.reference import rnnlm as ref
from fastnn.util import clip_grads, remove_duplicate

needs_book = pytest.mark.books
BOOK2 = book_scripts.shared_dir() / "book2"
# name: (book module, tiny constructor arguments)
MODELS = {"SimpleRnnlm": ("ch05/simple_rnnlm.py", (13, 4, 5)), "Rnnlm": ("ch06/rnnlm.py", (13, 4, 5)),
          "BetterRnnlm": ("ch06/better_rnnlm.py", (13, 6, 6, 0.5))}


def _batch(V, N=3, T=4, seed=0):
    ids = np.random.default_rng(seed).integers(0, V, size=(N, T + 1))
    return ids[:, :-1], ids[:, 1:]


def _train(model, steps, V, seed=7):
    """A few of the book's RnnlmTrainer iterations (remove_duplicate, clip, SGD); returns the losses."""
    optimizer, losses = SGD(0.5), []
    np.random.seed(seed)  # the dropout masks
    for i in range(steps):
        xs, ts = _batch(V, seed=i)
        losses.append(model.forward(xs, ts))
        model.backward()
        params, grads = remove_duplicate(model.params, model.grads)
        clip_grads(grads, 0.25)
        optimizer.update(params, grads)
    return losses


def _built(cls, args, seed=0):
    np.random.seed(seed)
    return cls(*args)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reexported_from_nets(name):
    assert getattr(nets, name) is getattr(rnnlm_nets, name) and name in nets.__all__


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_draws_losses_and_parameters_as_the_reference_twin(name):
    args = MODELS[name][1]
    ours, twin = _built(getattr(rnnlm_nets, name), args), _built(getattr(ref, name), args)
    assert [p.shape for p in ours.params] == [p.shape for p in twin.params]
    for p, q in zip(ours.params, twin.params):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(_train(ours, 4, args[0]), _train(twin, 4, args[0]), rtol=1e-5)
    for p, q in zip(ours.params, twin.params):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


def test_better_rnnlm_ties_the_output_weights_as_the_book():
    model = _built(rnnlm_nets.BetterRnnlm, MODELS["BetterRnnlm"][1])
    assert model.params[7].base is model.params[0] and model.params[7].shape == model.params[0].T.shape
    params, grads = remove_duplicate(model.params, model.grads)
    assert len(params) == 8 and params[0] is model.params[0]


def _loss(model, xs, ts):
    model.reset_state()
    return model.forward(xs, ts)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_match_central_differences(name):
    args = MODELS[name][1][:3] + (0.0,) * (name == "BetterRnnlm")  # dropout that keeps everything
    model = _float64(getattr(rnnlm_nets, name), args)  # float64: differences of 1e-5 exact enough
    xs, ts = _batch(args[0])
    _loss(model, xs, ts)
    model.backward()
    params, grads = remove_duplicate(model.params, [g.copy() for g in model.grads])
    for p, g in zip(params, grads):
        numeric = np.zeros_like(p)
        for k in np.ndindex(p.shape):
            keep = p[k]
            p[k] = keep + 1e-5
            up = _loss(model, xs, ts)
            p[k] = keep - 1e-5
            down = _loss(model, xs, ts)
            p[k] = keep
            numeric[k] = (up - down) / 2e-5
        np.testing.assert_allclose(g, numeric, rtol=1e-4, atol=1e-7)


def _float64(cls, args):
    """The model with float64 parameters: built under a randn that draws float64 and astype kept float64."""
    model = _built(cls, args)
    for i, p in enumerate(model.params):
        if p.base is None:
            p64 = p.astype(np.float64)
            _replace(model, p, p64)
    return model


def _replace(model, old, new):
    """Rebinds the parameter array ``old`` to ``new`` everywhere (layers, tied views, model lists)."""
    for layer in model.layers:
        for i, q in enumerate(layer.params):
            if q is old:
                layer.params[i], layer.grads[i] = new, np.zeros_like(new)
            elif q.base is old:  # the tied W.T
                layer.params[i], layer.grads[i] = new.T, np.zeros_like(new.T)
        if getattr(layer, "W", None) is old:
            layer.W = new
    model.params = [q for layer in model.layers for q in layer.params]
    model.grads = [g for layer in model.layers for g in layer.grads]


def test_generate_returns_ints_skips_and_is_seeded():
    model = _built(rnnlm_nets.RnnlmGen, (13, 4, 5))
    np.random.seed(3)
    words = model.generate(2, skip_ids=[0, 1], sample_size=20)
    assert len(words) == 20 and words[0] == 2 and all(type(w) is int and w not in (0, 1) for w in words)
    model.reset_state()
    np.random.seed(3)
    assert model.generate(2, skip_ids=[0, 1], sample_size=20) == words


def test_better_generator_state_round_trips():
    model = _built(rnnlm_nets.BetterRnnlmGen, (13, 6, 6))
    model.generate(1, sample_size=3)
    state = [(h.copy(), c.copy()) for h, c in model.get_state()]
    np.random.seed(1)
    first = model.generate(1, sample_size=5)
    model.set_state(state)
    np.random.seed(1)
    assert model.generate(1, sample_size=5) == first


@pytest.mark.parametrize("call, error, words", [
    (lambda: rnnlm_nets.Rnnlm(0), ValueError, "vocab_size"),
    (lambda: rnnlm_nets.Rnnlm(10, 2.5), TypeError, "wordvec_size"),
    (lambda: rnnlm_nets.BetterRnnlm(10, 4, 6), ValueError, "wordvec_size must equal hidden_size"),
    (lambda: rnnlm_nets.BetterRnnlm(10, 4, 4, 1.0), ValueError, "dropout_ratio"),
    (lambda: rnnlm_nets.Rnnlm(10, 4, 4).forward(np.full((2, 3), 10), np.zeros((2, 3), int)), ValueError, "xs"),
    (lambda: rnnlm_nets.Rnnlm(10, 4, 4).forward(np.zeros((2, 3), int), np.zeros((2, 2), int)), ValueError, "ts"),
    (lambda: rnnlm_nets.Rnnlm(10, 4, 4).forward(np.zeros(3, int), np.zeros(3, int)), ValueError, "xs"),
    (lambda: rnnlm_nets.Rnnlm(10, 4, 4).backward(), RuntimeError, "before forward"),
    (lambda: rnnlm_nets.RnnlmGen(10, 4, 4).generate(10), ValueError, "start_id"),
    (lambda: rnnlm_nets.RnnlmGen(10, 4, 4).generate(1, skip_ids=range(10)), ValueError, "skip_ids"),
    (lambda: rnnlm_nets.RnnlmGen(10, 4, 4).generate(1, sample_size=0), ValueError, "sample_size"),
])
def test_bad_input_is_refused_clearly(call, error, words):
    with pytest.raises(error, match=words):
        call()


# --- against the book's own classes --------------------------------------------------------------------------------
def _book_class(relative, name):
    import book2_modules

    return book2_modules.chapter_class("book", relative, name)


@needs_book
@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_weights_losses_and_parameters_as_the_books_model(name):
    relative, args = MODELS[name]
    ours, book = _built(getattr(rnnlm_nets, name), args), _built(_book_class(relative, name), args)
    for p, q in zip(ours.params, book.params):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(_train(ours, 4, args[0]), _train(book, 4, args[0]), rtol=1e-5)
    for p, q in zip(ours.params, book.params):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


@needs_book
@pytest.mark.parametrize("name, relative", [("RnnlmGen", "ch07/rnnlm_gen.py"), ("BetterRnnlmGen", "ch07/rnnlm_gen.py")])
def test_generates_the_books_words_under_the_same_seed(name, relative):
    args = (13, 6, 6)
    ours, book = _built(getattr(rnnlm_nets, name), args), _built(_book_class(relative, name), args)
    np.random.seed(5)
    words = ours.generate(3, skip_ids=[0], sample_size=12)
    np.random.seed(5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = book.generate(3, skip_ids=[0], sample_size=12)
    except TypeError:  # NumPy 2: the book's int() of a one-element array; redo its draws by hand
        expected = _book_draws(book, 3, [0], 12)
    assert words == expected


def _book_draws(book, start_id, skip_ids, sample_size):
    """The book's generate loop with int(sampled[0]) for its int(sampled) (what it means)."""
    import book2_modules

    softmax = book2_modules.book_module("common/functions.py").softmax
    book.reset_state()
    np.random.seed(5)
    word_ids, x = [start_id], start_id
    while len(word_ids) < sample_size:
        p = softmax(book.predict(np.array(x).reshape(1, 1)).flatten())
        sampled = np.random.choice(len(p), size=1, p=p)
        if sampled not in skip_ids:
            x = sampled
            word_ids.append(int(sampled[0]))
    return word_ids


@needs_book
def test_the_books_rnnlm_pickle_gives_the_book_models_perplexity():
    from fastnn.util import eval_perplexity

    relative = "ch06/rnnlm.py"
    ours, book = rnnlm_nets.Rnnlm(), _book_class(relative, "Rnnlm")()
    ours.load_params(str(BOOK2 / "ch06" / "Rnnlm.pkl"))
    book.load_params(str(BOOK2 / "ch06" / "Rnnlm.pkl"))
    for p, q in zip(ours.params, book.params):
        np.testing.assert_array_equal(p, q)
    corpus = np.random.default_rng(0).integers(0, 10000, size=400)
    assert eval_perplexity(ours, corpus, batch_size=4, time_size=10) == pytest.approx(
        eval_perplexity(book, corpus, batch_size=4, time_size=10), rel=1e-5)
