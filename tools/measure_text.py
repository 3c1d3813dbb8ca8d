"""Rough same-process timings of the second book's counting functions against fastnn's (issue #26): the book's
``create_co_matrix`` and ``ppmi`` (from its ``common/util.py``) and fastnn.util's, on a synthetic Zipf corpus of
``--words`` words over a ``--vocab``-word vocabulary (default 900,000 and 10,000: the size of PTB's training set).

The book's ppmi takes about 1 us a cell in a Python double loop (10^8 cells: minutes), so it runs on the first
``--rows`` rows only (the book's function on C[:rows]: the same loop, rows x vocab cells) and its time is scaled to
the whole matrix. Run under the timing lock: ``flock /tmp/fastnn-timing.lock nice -n 19 python
tools/measure_text.py``. Prints one line a measurement; ratios are rough (the book once, fastnn's best of three,
a shared machine; a first call includes loading or compiling the kernel, and every call pays the page faults of
its fresh 400 MB output, which are slow and variable in a virtual machine).
"""
import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def book_util():
    """The book's common.util, imported from $FASTNN_SHARED/book2 (default ../shared/book2)."""
    book = Path(os.environ.get("FASTNN_SHARED") or REPO.parent / "shared") / "book2"
    sys.path.insert(0, str(book))
    try:
        return importlib.import_module("common.util")
    finally:
        sys.path.remove(str(book))


def zipf_corpus(n_words, vocab, seed=0):
    """n_words word ids drawn with probability proportional to 1 / (rank + 2.7) (Zipf-Mandelbrot, as word
    frequencies roughly are), relabelled in order of first appearance as the book's preprocess numbers words."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(vocab) + 2.7)
    ids = rng.choice(vocab, size=n_words, p=p / p.sum())
    _, first = np.unique(ids, return_index=True)
    order = np.argsort(first)
    relabel = np.empty(vocab, dtype=np.int64)
    relabel[np.unique(ids)[order]] = np.arange(order.size)
    return relabel[ids], order.size


def seconds(f, *args, repeat=1):
    """(the best time of ``repeat`` calls, the last result)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = f(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=900_000)
    parser.add_argument("--vocab", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200, help="rows of the book's ppmi to time (then scaled)")
    args = parser.parse_args(argv)
    book = book_util()
    from fastnn import _jit, util  # noqa: F401 - numba loaded first: the compiled path is what is timed

    corpus, vocab = zipf_corpus(args.words, args.vocab)
    print(f"corpus: {corpus.size} words, {vocab} distinct, window {args.window}")
    first, C = seconds(util.create_co_matrix, corpus, vocab, args.window)
    ours, C = seconds(util.create_co_matrix, corpus, vocab, args.window, repeat=3)
    theirs, C_book = seconds(book.create_co_matrix, corpus, vocab, args.window)
    assert np.array_equal(C, C_book) and C.dtype == C_book.dtype
    print(f"create_co_matrix: book {theirs:.3f} s, fastnn {ours:.3f} s (best of 3; first call {first:.3f} s): "
          f"{theirs / ours:.0f}x; nonzero cells {np.count_nonzero(C) / C.size:.1%}")
    first, M = seconds(util.ppmi, C)
    ours, M = seconds(util.ppmi, C, repeat=3)
    cut = min(args.rows, vocab)
    theirs_cut, M_book = seconds(book.ppmi, C[:cut])
    theirs = theirs_cut * vocab / cut
    print(f"ppmi: book {theirs_cut:.2f} s on {cut} of {vocab} rows, so ~{theirs:.0f} s for all; fastnn {ours:.3f} s "
          f"(best of 3; first call {first:.3f} s): ~{theirs / ours:.0f}x")


if __name__ == "__main__":
    main()
