"""fastnn.util.eval_perplexity and eval_seq2seq (issue #27): the book's batches, calls on the model, printed lines
and results, against the book's own common/util.py run on the same stand-in models; bad input named."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnn import util
from lm_stand_ins import DropoutLM, EmbedAffineLM, LookupSeq2seq

needs_book = pytest.mark.books


def _book_util():
    from book2_modules import book_module

    return book_module("common/util.py")


def _expected_batches(corpus, batch_size, time_size):
    """The book's double loop, written out."""
    n = len(corpus)
    jump = (n - 1) // batch_size
    for k in range((n - 1) // (batch_size * time_size)):
        xs = np.zeros((batch_size, time_size), dtype=np.int32)
        ts = np.zeros((batch_size, time_size), dtype=np.int32)
        for i in range(batch_size):
            for t in range(time_size):
                xs[i, t] = corpus[(k * time_size + i * jump + t) % n]
                ts[i, t] = corpus[(k * time_size + i * jump + t + 1) % n]
        yield xs, ts


@given(size=st.integers(2, 200), batch_size=st.integers(1, 8), time_size=st.integers(1, 8),
       seed=st.integers(0, 2 ** 16))
def test_eval_perplexity_reads_the_books_batches(size, batch_size, time_size, seed):
    corpus = np.random.default_rng(seed).integers(0, 6, size)
    if (size - 1) // (batch_size * time_size) == 0:
        with pytest.raises(ValueError, match="too few for one batch"):
            util.eval_perplexity(EmbedAffineLM(vocab_size=6), corpus, batch_size, time_size)
        return
    model = EmbedAffineLM(vocab_size=6)
    ppl = util.eval_perplexity(model, corpus, batch_size, time_size)
    expected = list(_expected_batches(corpus, batch_size, time_size))
    assert len(model.seen) == len(expected)
    losses = []
    for (x, t), (ex, et) in zip(model.seen, expected):
        assert x.dtype == np.int32
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(t, et)
        losses.append(EmbedAffineLM(vocab_size=6).forward(ex, et))
    total = 0
    for loss in losses:
        total += loss
    assert ppl == np.exp(total / len(losses))


def test_eval_perplexity_prints_the_books_progress(capsys):
    corpus = np.arange(71) % 5  # (71 - 1) // (2 * 7) = 5 batches
    util.eval_perplexity(EmbedAffineLM(vocab_size=5), corpus, batch_size=2, time_size=7)
    out = capsys.readouterr().out
    assert out == "evaluating perplexity ...\n" + "".join(f"\r{k} / 5" for k in range(5)) + "\n"


def test_eval_perplexity_passes_train_flg_false_when_taken():
    corpus = np.arange(50) % 5
    model = DropoutLM(vocab_size=5)
    util.eval_perplexity(model, corpus, batch_size=2, time_size=3)
    assert model.train_flags and set(model.train_flags) == {False}
    plain = EmbedAffineLM(vocab_size=5)
    util.eval_perplexity(plain, corpus, batch_size=2, time_size=3)
    assert len(plain.seen) == (50 - 1) // 6


@needs_book
@pytest.mark.parametrize("model_class", [EmbedAffineLM, DropoutLM])
@pytest.mark.parametrize("batch_size, time_size", [(10, 35), (3, 4), (1, 1)])
def test_eval_perplexity_matches_the_books(model_class, batch_size, time_size, capsys):
    book = _book_util()
    corpus = np.random.default_rng(1).integers(0, 17, 500)
    ours = util.eval_perplexity(model_class(vocab_size=17), corpus, batch_size, time_size)
    ours_out = capsys.readouterr().out
    theirs = book.eval_perplexity(model_class(vocab_size=17), corpus, batch_size, time_size)
    assert capsys.readouterr().out == ours_out
    assert ours == theirs and type(ours) is type(theirs)


@pytest.mark.parametrize("corpus, kwargs, exc, message", [
    (np.arange(20).reshape(4, 5), {}, ValueError, "corpus must be a 1-D array"),
    (np.arange(20.0), {}, TypeError, "corpus must hold integer word ids"),
    (np.arange(20), dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (np.arange(20), dict(time_size=0), ValueError, "time_size must be >= 1"),
    (np.arange(20), dict(batch_size=2, time_size=10), ValueError, "too few for one batch"),
    (np.arange(20), dict(batch_size=2.0), TypeError, "batch_size must be an integer"),
])
def test_eval_perplexity_bad_input(corpus, kwargs, exc, message, capsys):
    with pytest.raises(exc, match=message):
        util.eval_perplexity(EmbedAffineLM(vocab_size=20), corpus, **kwargs)
    assert capsys.readouterr().out == ""  # refused before anything is printed


# --- eval_seq2seq ------------------------------------------------------------------------------------------------
ID_TO_CHAR = dict(enumerate("0123456789+_ "))
CHAR_TO_ID = {c: i for i, c in ID_TO_CHAR.items()}


def _ids(text):
    return np.array([[CHAR_TO_ID[c] for c in text]])


def _cases():
    """(question, correct) rows and a model that answers the first right and the second wrong."""
    q1, q2 = _ids("12+5   "), _ids("7+80   ")
    answers = {tuple(q1.flatten().tolist()): _ids("17  ")[0]}
    return [(q1, _ids("_17  ")), (q2, _ids("_87  "))], LookupSeq2seq(answers, wrong=_ids("99  ")[0])


@pytest.mark.parametrize("is_reverse", [False, True])
def test_eval_seq2seq_prints_the_books_lines(is_reverse, capsys):
    (right, wrong), model = _cases()
    assert util.eval_seq2seq(model, *right, ID_TO_CHAR, verbose=True, is_reverse=is_reverse) == 1
    assert util.eval_seq2seq(model, *wrong, ID_TO_CHAR, verbose=True, is_reverse=is_reverse) == 0
    q1, q2 = ("12+5   ", "7+80   ") if not is_reverse else ("   5+21", "   08+7")
    assert capsys.readouterr().out == (f"Q {q1}\nT 17  \n\033[92m☑\033[0m 17  \n---\n"
                                       f"Q {q2}\nT 87  \n\033[91m☒\033[0m 99  \n---\n")
    question, start_id, size = model.calls[0]
    np.testing.assert_array_equal(question, right[0])
    assert start_id == CHAR_TO_ID["_"] and size == 4


def test_eval_seq2seq_quiet_and_windows_marks(capsys, monkeypatch):
    (right, wrong), model = _cases()
    assert util.eval_seq2seq(model, *right, ID_TO_CHAR) == 1
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(util.os, "name", "nt")
    util.eval_seq2seq(model, *right, ID_TO_CHAR, verbose=True)
    util.eval_seq2seq(model, *wrong, ID_TO_CHAR, verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "O 17  " and out[6] == "X 99  "


@needs_book
@pytest.mark.parametrize("verbose, is_reverse", [(False, False), (True, False), (True, True)])
def test_eval_seq2seq_matches_the_books(verbose, is_reverse, capsys):
    book = _book_util()
    cases, model = _cases()
    for question, correct in cases:
        ours = util.eval_seq2seq(model, question, correct, ID_TO_CHAR, verbose, is_reverse)
        ours_out = capsys.readouterr().out
        theirs = book.eval_seq2seq(model, question, correct, ID_TO_CHAR, verbose, is_reverse)
        assert capsys.readouterr().out == ours_out and ours == theirs


@pytest.mark.parametrize("correct, id_to_char, exc, message", [
    (np.zeros((1, 0), dtype=int), ID_TO_CHAR, ValueError, "correct must hold the start id"),
    (_ids("_17  "), list("0123456789+_ "), TypeError, "id_to_char must be a dict"),
    (np.array([[11, 1, 42]]), ID_TO_CHAR, ValueError, "correct holds id 42"),
])
def test_eval_seq2seq_bad_input(correct, id_to_char, exc, message):
    _, model = _cases()
    with pytest.raises(exc, match=message):
        util.eval_seq2seq(model, _ids("12+5   "), correct, id_to_char)


def test_eval_seq2seq_names_a_guess_outside_the_vocabulary():
    model = LookupSeq2seq({}, wrong=[1, 99, 2, 3])
    with pytest.raises(ValueError, match="the model's guess holds id 99"):
        util.eval_seq2seq(model, _ids("12+5   "), _ids("_17  "), ID_TO_CHAR)
