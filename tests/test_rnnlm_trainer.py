"""fastnn.trainer.RnnlmTrainer (issue #27): the book's batches (offsets, time_idx across epochs), updates and
printed perplexity lines, against the book's own RnnlmTrainer run on the same stand-in model; bad input named."""
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import book_scripts
from fastnn import optimizer as fopt
from fastnn.trainer import RnnlmTrainer
from lm_stand_ins import EmbedAffineLM

needs_book = pytest.mark.books


def _reference_batch(x, t, batch_size, time_size, time_idx):
    """The book's double loop, written out: row i, column k reads position (i * jump + time_idx + k) % len(x)."""
    jump = len(x) // batch_size
    bx = np.empty((batch_size, time_size), dtype=np.int32)
    bt = np.empty((batch_size, time_size), dtype=np.int32)
    for k in range(time_size):
        for i in range(batch_size):
            bx[i, k] = x[(i * jump + time_idx + k) % len(x)]
            bt[i, k] = t[(i * jump + time_idx + k) % len(x)]
    return bx, bt


@given(size=st.integers(1, 300), batch_size=st.integers(1, 12), time_size=st.integers(1, 12),
       time_idx=st.integers(0, 10 ** 6), seed=st.integers(0, 2 ** 16))
def test_get_batch_reads_the_books_positions(size, batch_size, time_size, time_idx, seed):
    r = np.random.default_rng(seed)
    x, t = r.integers(0, 1000, size), r.integers(0, 1000, size)
    trainer = RnnlmTrainer(EmbedAffineLM(), fopt.SGD())
    trainer.time_idx = time_idx
    bx, bt = trainer.get_batch(x, t, batch_size, time_size)
    ex, et = _reference_batch(x, t, batch_size, time_size, time_idx)
    assert bx.dtype == np.int32 and bt.dtype == np.int32
    np.testing.assert_array_equal(bx, ex)
    np.testing.assert_array_equal(bt, et)
    assert trainer.time_idx == time_idx + time_size


def _run(trainer_class, sgd_class, corpus, fits, tie, capsys):
    """Train a fresh stand-in with ``trainer_class`` through the fit calls ``fits`` (kwargs); returns (printed,
    trainer, model)."""
    model = EmbedAffineLM(vocab_size=int(corpus.max()) + 1, tie=tie)
    trainer = trainer_class(model, sgd_class(lr=0.5))
    for kwargs in fits:
        trainer.fit(corpus[:-1], corpus[1:], **kwargs)
    return capsys.readouterr().out, trainer, model


FITS = {
    "defaults": [dict(max_epoch=2, batch_size=3, time_size=4)],
    "clipped": [dict(max_epoch=3, batch_size=2, time_size=5, max_grad=0.25, eval_interval=3)],
    "quiet": [dict(max_epoch=2, batch_size=4, time_size=3, eval_interval=None)],
    "fit twice": [dict(max_epoch=1, batch_size=3, time_size=4, eval_interval=1)] * 2,
}


@needs_book
@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("case", sorted(FITS))
def test_fit_matches_the_books_trainer(case, tie, capsys, monkeypatch):
    from book2_modules import book_module

    monkeypatch.setattr(time, "time", lambda: 1000.0)  # the printed seconds: 0 in both runs
    book_trainer = book_module("common/trainer.py").RnnlmTrainer
    book_sgd = book_module("common/optimizer.py").SGD
    corpus = np.random.default_rng(7).integers(0, 11, 200)
    book_out, book, book_model = _run(book_trainer, book_sgd, corpus, FITS[case], tie, capsys)
    out, ours, model = _run(RnnlmTrainer, book_sgd, corpus, FITS[case], tie, capsys)
    assert out == book_out  # (clipped: the same to the printed 2 decimals)
    assert (case == "quiet") == (out == "")
    assert ours.time_idx == book.time_idx and ours.current_epoch == book.current_epoch
    assert ours.eval_interval == book.eval_interval
    assert len(model.seen) == len(book_model.seen)
    for (x, t), (bx, bt) in zip(model.seen, book_model.seen):
        np.testing.assert_array_equal(x, bx)
        np.testing.assert_array_equal(t, bt)
    # fastnn's clip_grads sums the squares in another order (float32 rounding); without clipping: bit for bit
    rtol = 1e-5 if case == "clipped" else 0
    np.testing.assert_allclose(ours.ppl_list, book.ppl_list, rtol=rtol)
    for p, q in zip(model.params, book_model.params):
        np.testing.assert_allclose(p, q, rtol=rtol, atol=rtol * 1e-2)


class NoUpdate:
    """An optimizer that changes nothing."""

    def update(self, params, grads):
        pass


def test_fit_prints_the_books_lines(capsys):
    """The line format, checked by hand (no ../shared): epoch, iteration (1-based) of max_iters, seconds and the
    perplexity exp(mean loss) of the iterations since the last line, epochs or not."""
    corpus = np.random.default_rng(3).integers(0, 9, 61)  # 60 words: 60 // (2 * 5) = 6 iterations
    model = EmbedAffineLM(vocab_size=9)
    trainer = RnnlmTrainer(model, NoUpdate())  # every batch's loss is that of the initial weights
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=2, batch_size=2, time_size=5, eval_interval=4)
    lines = capsys.readouterr().out.splitlines()
    losses = [EmbedAffineLM(vocab_size=9).forward(x, t) for x, t in model.seen]
    # the last iteration of epoch 1 is reported with the first of epoch 2 (the sums carry over, as the book's)
    expected = [np.exp(np.mean(losses[a:b])) for a, b in ((0, 1), (1, 5), (5, 7), (7, 11))]
    assert [line.split(' | ')[:2] for line in lines] == [['| epoch 1', ' iter 1 / 6'], ['| epoch 1', ' iter 5 / 6'],
                                                         ['| epoch 2', ' iter 1 / 6'], ['| epoch 2', ' iter 5 / 6']]
    assert [line.split(' | ')[3] for line in lines] == ['perplexity %.2f' % p for p in expected]
    np.testing.assert_allclose(trainer.ppl_list, expected, rtol=1e-6)
    assert trainer.current_epoch == 2 and trainer.time_idx == 2 * 6 * 5


def test_plot_draws_the_perplexities(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda: None)
    corpus = np.arange(100) % 7
    trainer = RnnlmTrainer(EmbedAffineLM(vocab_size=7), fopt.SGD())
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=1, batch_size=2, time_size=3, eval_interval=4)
    plt.figure()
    trainer.plot(ylim=(0, 50))
    ax = plt.gca()
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), trainer.ppl_list)
    assert ax.get_ylabel() == "perplexity" and ax.get_xlabel() == "iterations (x4)" and ax.get_ylim() == (0, 50)
    plt.close("all")


GOOD = np.arange(50) % 5


@pytest.mark.parametrize("xs, ts, kwargs, exc, message", [
    (GOOD.reshape(5, 10), GOOD.reshape(5, 10), {}, ValueError, "xs must be a 1-D corpus"),
    (GOOD.astype(float), GOOD, {}, TypeError, "xs must hold integer word ids"),
    (GOOD, GOOD[:-1], {}, ValueError, "xs and ts must have the same length"),
    (GOOD, GOOD, dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (GOOD, GOOD, dict(time_size=0), ValueError, "time_size must be >= 1"),
    (GOOD, GOOD, dict(batch_size=6, time_size=9), ValueError, "fewer than one batch"),
    (GOOD, GOOD, dict(max_grad=-1.0), ValueError, "max_grad must be >= 0"),
    (GOOD, GOOD, dict(eval_interval=0), ValueError, "eval_interval must be >= 1"),
    (GOOD, GOOD, dict(max_epoch=1.5), TypeError, "max_epoch must be an integer"),
])
def test_bad_input_is_named(xs, ts, kwargs, exc, message):
    model = EmbedAffineLM(vocab_size=5)
    trainer = RnnlmTrainer(model, fopt.SGD())
    before = [p.copy() for p in model.params]
    with pytest.raises(exc, match=message):
        trainer.fit(xs, ts, **{"batch_size": 2, "time_size": 3, **kwargs})
    for p, q in zip(model.params, before):
        np.testing.assert_array_equal(p, q)


def test_model_and_optimizer_are_checked():
    with pytest.raises(TypeError, match="model must provide forward, backward, params, grads"):
        RnnlmTrainer(object(), fopt.SGD())
    with pytest.raises(TypeError, match="optimizer must be an optimizer object"):
        RnnlmTrainer(EmbedAffineLM(), "SGD")


def test_reached_where_the_book_imports_it():
    import fastnn.trainer as ft
    from fastnn import trainer2

    assert ft.RnnlmTrainer is trainer2.RnnlmTrainer and "RnnlmTrainer" in ft.__all__
    assert book_scripts  # (the module the books marker relies on is importable)
