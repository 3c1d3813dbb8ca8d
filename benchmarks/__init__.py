"""fastnn's benchmarks: the asv suite (configuration: ../asv.conf.json; commands: ../docs/benchmarks.md) and the
one-process comparison table (``python -m benchmarks.compare``), which time the same callables.

asv modules:
    kernels.py   per kernel case: ``time_fastnn`` / ``time_reference`` on the same inputs and ``track_speedup``
                 (reference time / fastnn time, unit "x"), over batch, width and dtype
    training.py  the network and training cases: a train step, an epoch on optdigits and on Fashion-MNIST (with
                 ``peakmem_`` for the digits epoch), predict/accuracy, the network's numerical gradient; the step
                 and epochs also at 2 threads (parameter ``threads``)
    steps.py     the step table (``python -m benchmarks.compare --steps``): one SGD step of four nets, serial,
                 against the reference (``Step``), PyTorch eager (``StepTorch``) and JAX jit (``StepJax``), which
                 are skipped where those libraries are not installed; ``Step.track_products_ratio``: the step / its
                 two large matrix products alone
    latency.py   ``timeraw_``: ``import fastnn``, ``import fastnn.functions``, first (compiling) call of
                 ``softmax_loss`` and first training step, each with a cold and with a warm on-disk numba cache;
                 ``python -m benchmarks.latency`` prints the README's compile-latency table from the same code
    _paired.py   the shared shape of a paired benchmark, and the suite's threads (fastnn.threads)

The comparison (not collected by asv: no benchmark names):
    cases.py        every case (fastnn.bench's, which ``fastnn bench`` times, and the comparison's own), exactly what
                    each times (``python -m benchmarks.compare --list``); the training-loop helpers
    competitors.py  the PyTorch, JAX and scikit-learn adapters and the "products" bound, each optional
    compare.py      the command line: the table, the competitors' columns, the test accuracy, the machine header,
                    JSON and Markdown

The benchmarks call the *installed* fastnn (asv: the benchmarked commit's). A case that is not there for that
commit, a case whose data is not installed (Fashion-MNIST), or one that needs a fastnn.bench helper the commit does
not have yet is skipped (NotImplementedError in setup). Rule: numba compiles in ``setup`` (each callable is called
once there), never in a timed region.
"""
