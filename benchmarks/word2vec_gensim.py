"""fastnn's word2vec (the second book's chapter-4 CBOW with negative sampling, ``fastnn.nets.CBOW`` on the
fused Trainer step) against gensim's ``Word2Vec`` (CBOW, negative sampling, one worker), as words per second on
the same corpus: the King James Bible in PTB's format (Debian's ``bible-kjv``; ``fastnn ptb-format``).

    python -m benchmarks.word2vec_gensim [--iters 300]

gensim is an optional competitor (``pip install gensim``), never a dependency. The two train differently, so the
figure compares throughput, not equal work: the book's model takes batches of 100 contexts with Adam over the
embedding rows a batch touches and 5 negative samples per target; gensim runs per-word SGD in C with a linearly
decaying learning rate, its own negative sampling (5), no frequent-word subsampling here (``sample=0``).
A "word" is one target position (a context window) in both.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WINDOW, HIDDEN, BATCH, NEGATIVE = 5, 100, 100, 5


def bible_corpus(directory):
    """PTB-format files of the King James Bible in ``directory`` (the tests' corpus: tests/book_scripts.py); returns
    (corpus ids, vocabulary size, sentences)."""
    from fastnn import ptb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import book_scripts

    book_scripts.build_ptb_corpus(directory)
    corpus, word_to_id, _ = ptb.load_data("train", directory)
    with open(f"{directory}/ptb.train.txt", encoding="utf-8") as f:
        lines = [line.split() for line in f]
    return corpus, len(word_to_id), lines


def fastnn_words_per_second(corpus, vocab_size, iters):
    """Target words a second of fastnn.nets.CBOW trained by fastnn's Trainer and Adam (after a warm-up)."""
    import contextlib
    import io

    from fastnn.nets import CBOW
    from fastnn.optimizer import Adam
    from fastnn.trainer import Trainer
    from fastnn.util import create_contexts_target

    contexts, target = create_contexts_target(corpus, WINDOW)
    np.random.seed(0)
    trainer = Trainer(CBOW(vocab_size, HIDDEN, WINDOW, corpus), Adam())
    n = BATCH * iters
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.fit(contexts[:BATCH * 20], target[:BATCH * 20], 1, BATCH)  # compile / load kernels, first touch
        start = time.perf_counter()
        trainer.fit(contexts[:n], target[:n], 1, BATCH)
    return n / (time.perf_counter() - start)


def gensim_words_per_second(sentences):
    """Target words a second of gensim's Word2Vec, CBOW with negative sampling, one worker, one epoch."""
    from gensim.models import Word2Vec

    words = sum(len(s) for s in sentences)
    start = time.perf_counter()
    Word2Vec(sentences, vector_size=HIDDEN, window=WINDOW, negative=NEGATIVE, sg=0, hs=0, min_count=1, sample=0,
             workers=1, epochs=1, seed=0)
    return words / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iters", type=int, default=300, help="fastnn iterations of 100 contexts (default 300)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        corpus, vocab_size, sentences = bible_corpus(d)
    print(f"corpus: {len(corpus)} words, vocabulary {vocab_size}; window {WINDOW}, {HIDDEN} dimensions")
    print(f"fastnn.nets.CBOW (batch {BATCH}, Adam): {fastnn_words_per_second(corpus, vocab_size, args.iters):,.0f} "
          f"words/s")
    try:
        import gensim  # noqa: F401
    except ImportError:
        print("gensim: not installed (pip install gensim)")
        return
    print(f"gensim Word2Vec (CBOW, negative {NEGATIVE}, 1 worker): {gensim_words_per_second(sentences):,.0f} "
          f"words/s")


if __name__ == "__main__":
    main()
