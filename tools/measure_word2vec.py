"""Time one training iteration of the second book's chapter-4 word2vec models, the book's way and fastnn's, in one
process, alternating, on a synthetic Zipf corpus (rough figures; run under the timing lock):

    flock /tmp/fastnn-timing.lock nice -n 19 python tools/measure_word2vec.py [--model cbow|skipgram]
        [--vocab 10000] [--words 200000] [--iters 60] [--rounds 5] [--variants book,common,fastnn,nets]
        [--profile]

The variants (tests/book2_modules.py) build the book's unchanged ``ch04/cbow.py`` (or ``skip_gram.py``) class:

* ``book``: on the book's ``common`` and ``ch04/negative_sampling_layer.py``, the book's Trainer and Adam;
* ``common``: fastnn's layers, Trainer and Adam, the book's ``negative_sampling_layer.py``;
* ``fastnn``: fastnn's layers, Trainer, Adam and ``fastnn.negative_sampling_layer``;
* ``nets``: ``fastnn.nets.CBOW``/``SkipGram`` (the fused Trainer step) with fastnn's Trainer and Adam.

The book's hyper-parameters (window 5, hidden 100, batch 100). numba is loaded first, so fastnn runs its compiled
kernels throughout (the steady state, not the NumPy twins a fresh process starts with). Each round runs every
variant for ``--iters`` iterations of ``Trainer.fit`` from the same seed, after a warm-up (compilation, first
touch); the median over the rounds is printed, with whether the printed losses (every 20 iterations, to 2
decimals) are the first variant's. ``--profile`` prints cProfile's top entries for the last variant instead.
Needs the books' code ($FASTNN_SHARED or ../shared).
"""
import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import book2_modules as b2  # noqa: E402

WINDOW, HIDDEN, BATCH, SEED, EVAL = 5, 100, 100, 0, 20


def run(spec, corpus, contexts, target, iters):
    """(seconds per iteration of ``iters`` iterations of Trainer.fit, the printed losses)."""
    Model, Trainer, Adam = spec
    np.random.seed(SEED)
    model = Model(int(corpus.max()) + 1, HIDDEN, WINDOW, corpus)
    trainer = Trainer(model, Adam())
    n = iters * BATCH
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        trainer.fit(contexts[:n], target[:n], max_epoch=1, batch_size=BATCH, eval_interval=EVAL)
        seconds = time.perf_counter() - start
    return seconds / iters, ["%.2f" % loss for loss in trainer.loss_list]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(b2.SCRIPTS), default="cbow")
    p.add_argument("--vocab", type=int, default=10_000)
    p.add_argument("--words", type=int, default=200_000)
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--variants", default="book,common,fastnn,nets")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)

    import fastnn._jit  # noqa: F401  numba in the process: the compiled kernels from the first call
    corpus = b2.zipf_corpus(args.vocab, args.words)
    contexts, target = b2.contexts_target(corpus, WINDOW)
    kinds = args.variants.split(",")
    specs = {k: b2.model_class(k, args.model) for k in kinds}
    for k in kinds:
        run(specs[k], corpus, contexts, target, 3)
    if args.profile:
        import cProfile
        import pstats
        profile = cProfile.Profile()
        profile.runcall(run, specs[kinds[-1]], corpus, contexts, target, args.iters)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    times, printed = {k: [] for k in kinds}, {}
    for _ in range(args.rounds):
        for k in kinds:
            seconds, printed[k] = run(specs[k], corpus, contexts, target, args.iters)
            times[k].append(seconds)
    base = statistics.median(times[kinds[0]])
    for k in kinds:
        median = statistics.median(times[k])
        same = "same printed losses" if printed[k] == printed[kinds[0]] else f"PRINTED LOSSES DIFFER: {printed[k]}"
        print(f"{args.model} {k:7s} {median * 1e3:8.2f} ms/iteration  x{base / median:6.2f}  ({same})")


if __name__ == "__main__":
    main()
