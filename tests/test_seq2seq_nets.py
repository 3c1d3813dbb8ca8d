"""fastnn.nets' seq2seq models (fastnn/seq2seq_nets.py, kernels/seq2seq.py): the reference twins
(fastnn/reference/seq2seq.py) and the plain-loop oracle of tests/naive.py on both dtypes, central differences in
float64, the book's chapter-7 and chapter-8 classes under the same seed, the book's trained AttentionSeq2seq.pkl,
and bad input."""
import numpy as np
import pytest

import naive
from fastnn import nets
from fastnn.reference import seq2seq as R
from naive import DTYPES

# name: (the book's file, the oracle's kind, the reference twin)
MODELS = {"Seq2seq": ("ch07/seq2seq.py", "plain", R.Seq2seq),
          "PeekySeq2seq": ("ch07/peeky_seq2seq.py", "peeky", R.PeekySeq2seq),
          "AttentionSeq2seq": ("ch08/attention_seq2seq.py", "attention", R.AttentionSeq2seq)}
NAMES = list(MODELS)


def _model(name, sizes, dtype=np.float32, seed=0):
    np.random.seed(seed)
    return getattr(nets, name)(*sizes, dtype=dtype)


def _batch(seed, V, N, T_in, T_out):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (N, T_in)), rng.integers(0, V, (N, T_out))


def _reference(model):
    return MODELS[type(model).__name__][2]([p.copy() for p in model.params])


def _rel_err(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / (np.abs(b).max() + 1e-30))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("seed", range(4))
def test_loss_gradients_and_ids_are_the_reference_twins(name, dtype, seed):
    rng = np.random.default_rng(seed)
    V, D, H = (int(v) for v in rng.integers(2, 12, 3))
    N, T_in, T_out = (int(v) for v in rng.integers(1, 6, 3))
    xs, ts = _batch(seed, V, N, T_in, T_out + 1)
    model = _model(name, (V, D, H), dtype, seed)
    assert all(p.dtype == dtype for p in model.params)
    ref = _reference(model)
    loss = model.forward(xs[:, ::-1], ts)  # reversed questions, as chapter 8 feeds them: a non-contiguous view
    np.testing.assert_allclose(loss, ref.forward(xs[:, ::-1], ts), rtol=1e-5 if dtype == np.float32 else 1e-12)
    model.backward()
    ref.backward()
    for g, r in zip(model.grads, ref.grads):
        assert g.dtype == dtype
        assert _rel_err(g, r) < (1e-4 if dtype == np.float32 else 1e-10)
    sample = int(rng.integers(1, 6))
    assert model.generate(xs[[0], ::-1], int(ts[0, 0]), sample) == ref.generate(xs[[0], ::-1], int(ts[0, 0]), sample)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", range(3))
def test_generate_is_the_plain_loop_oracle(name, seed):
    V, D, H = 7, 3, 5
    model = _model(name, (V, D, H), np.float64, seed)
    for p in model.params:  # larger weights than the book's initial ones: decisive, varied ids
        p *= 4
    question = np.random.default_rng(seed).integers(0, V, (1, 6))
    ids = model.generate(question, 2, 5)
    assert ids == naive.seq2seq_generate(MODELS[name][1], model.params, question[0], 2, 5)
    assert all(type(i) is int for i in ids)


@pytest.mark.parametrize("name", NAMES)
def test_equal_scores_give_the_first_id_and_saturated_gates_stay_finite(name):
    model = _model(name, (6, 3, 4), np.float32)
    affine_W, affine_b = model.params[-2:]
    affine_W[...] = 0
    affine_b[...] = 0
    assert model.generate(np.array([[1, 2, 3]]), 5, 4) == [0, 0, 0, 0]  # np.argmax: the first of equal maxima
    for p in model.params:
        p[...] = np.random.default_rng(1).standard_normal(p.shape) * 1e4
    question = np.array([[5, 0, 4, 4]])
    assert model.generate(question, 1, 6) == _reference(model).generate(question, 1, 6)


@pytest.mark.parametrize("name", NAMES)
def test_decoder_generate_takes_the_encoder_states(name):
    model = _model(name, (9, 4, 6), np.float64)
    question = np.array([[3, 1, 4, 1, 5]])
    hs = model.encoder.forward(question)
    assert model.decoder.generate(hs, 7, 5) == model.generate(question, 7, 5)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_are_central_differences(name):
    model = _model(name, (5, 3, 4), np.float64, seed=2)
    for p in model.params:
        p *= 3
    xs, ts = _batch(2, 5, 2, 3, 4)
    model.forward(xs, ts)
    model.backward()
    for p, g in zip(model.params, model.grads):
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + 1e-5
            up = model.forward(xs, ts)
            p[idx] = old - 1e-5
            down = model.forward(xs, ts)
            p[idx] = old
            numeric[idx] = (up - down) / 2e-5
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)


def test_params_order_and_shapes_are_the_books():
    V, D, H = 11, 3, 5
    lstm = [(D, 4 * H), (H, 4 * H), (4 * H,)]
    expected = {"Seq2seq": [(V, D)] + lstm + [(V, D)] + lstm + [(H, V), (V,)],
                "PeekySeq2seq": [(V, D)] + lstm + [(V, D), (H + D, 4 * H), (H, 4 * H), (4 * H,), (2 * H, V), (V,)],
                "AttentionSeq2seq": [(V, D)] + lstm + [(V, D)] + lstm + [(2 * H, V), (V,)]}
    for name, shapes in expected.items():
        model = _model(name, (V, D, H))
        assert [p.shape for p in model.params] == shapes
        assert [g.shape for g in model.grads] == shapes
        assert all(p.dtype == np.float32 for p in model.params)
        assert model.params == model.encoder.params + model.decoder.params


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_refused_clearly(name):
    model = _model(name, (6, 3, 4))
    good = np.array([[1, 2, 3]])
    with pytest.raises(ValueError, match="xs holds labels out of range"):
        model.generate(np.array([[1, 6, 2]]), 0, 3)
    with pytest.raises(ValueError, match="xs holds labels out of range"):
        model.generate(np.array([[-1, 2]]), 0, 3)
    with pytest.raises(ValueError, match=r"xs must be one question of shape \(1, T\)"):
        model.generate(np.array([1, 2, 3]), 0, 3)
    with pytest.raises(ValueError, match=r"xs must be one question of shape \(1, T\)"):
        model.generate(np.array([[1, 2], [3, 4]]), 0, 3)
    with pytest.raises(ValueError, match=r"xs must be one question of shape \(1, T\)"):
        model.generate(np.zeros((1, 0), int), 0, 3)
    with pytest.raises(TypeError, match="xs must hold integer class labels"):
        model.generate(np.array([["a", "b"]]), 0, 3)
    with pytest.raises(ValueError, match="sample_size must be >= 1"):
        model.generate(good, 0, 0)
    with pytest.raises(TypeError, match="sample_size must be an integer"):
        model.generate(good, 0, 2.5)
    with pytest.raises(ValueError, match=r"start_id must be an id in \[0, 6\)"):
        model.generate(good, 6, 3)
    with pytest.raises(ValueError, match="enc_hs|h must have shape"):
        model.decoder.generate(np.zeros((2, 1, 4) if name == "AttentionSeq2seq" else (2, 4)), 0, 3)
    with pytest.raises(ValueError, match="xs holds an id out of range"):
        model.forward(np.array([[1, 9]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"ts must have shape \(N, T\) with T >= 2"):
        model.forward(good, np.array([[0]]))
    with pytest.raises(ValueError, match="vocab_size must be >= 1"):
        getattr(nets, name)(0, 3, 4)
    with pytest.raises(TypeError, match="hidden_size must be an integer"):
        getattr(nets, name)(6, 3, 4.0)
    with pytest.raises(TypeError, match="dtype must be float32"):
        getattr(nets, name)(6, 3, 4, dtype=np.int32)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        model.backward()


# --- the book's classes (../shared/book2) ---------------------------------------------------------------------------
@pytest.mark.books
@pytest.mark.parametrize("name", NAMES)
def test_same_draws_losses_gradients_and_ids_as_the_books_class(name):
    from book2_modules import chapter_class

    Book = chapter_class("book", MODELS[name][0], name)
    V, D, H = 13, 6, 16
    np.random.seed(5)
    book = Book(V, D, H)
    after_book = np.random.randn()
    ours = _model(name, (V, D, H), seed=5)
    assert np.random.randn() == after_book  # the same count of draws
    for p, q in zip(book.params, ours.params):
        np.testing.assert_array_equal(p, q)
    xs, ts = _batch(7, V, 8, 7, 5)
    np.testing.assert_allclose(ours.forward(xs, ts), book.forward(xs, ts), rtol=1e-5)
    ours.backward()
    book.backward()
    for g, b in zip(ours.grads, book.grads):
        assert _rel_err(g, b) < 1e-4
    for i in range(len(xs)):
        assert ours.generate(xs[[i]], int(ts[i, 0]), 6) == [int(v) for v in book.generate(xs[[i]], int(ts[i, 0]), 6)]


@pytest.mark.books
def test_the_books_trained_attention_model_generates_the_books_ids():
    from book2_modules import BOOK2, chapter_class

    Book = chapter_class("book", "ch08/attention_seq2seq.py", "AttentionSeq2seq")
    pickle_path = str(BOOK2 / "ch08" / "AttentionSeq2seq.pkl")
    book, ours = Book(59, 16, 256), nets.AttentionSeq2seq(59, 16, 256)
    book.load_params(pickle_path)
    ours.load_params(pickle_path)
    for p, q in zip(book.params, ours.params):
        np.testing.assert_array_equal(p, q)
    questions = np.random.default_rng(3).integers(0, 59, (20, 29))
    for q in questions:
        expected = [int(v) for v in book.generate(q[None, ::-1], 14, 10)]
        assert ours.generate(q[None, ::-1], 14, 10) == expected
    ours.forward(questions[:2], questions[:2, :11])
    book.forward(questions[:2], questions[:2, :11])
    np.testing.assert_allclose(np.array(ours.decoder.attention.attention_weights),
                               np.array(book.decoder.attention.attention_weights), rtol=1e-4, atol=1e-6)
