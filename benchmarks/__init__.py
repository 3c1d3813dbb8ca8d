"""asv suite for fastnn (configuration: ../asv.conf.json; commands: ../docs/benchmarks.md).

Modules:
    kernels.py   per kernel case of ``fastnn.bench.CASES``: ``time_fastnn`` / ``time_reference`` on the same inputs
                 and ``track_speedup`` (reference time / fastnn time, unit "x"), over batch, width and dtype
    training.py  the network and training cases: a train step, an epoch on optdigits and on Fashion-MNIST (with
                 ``peakmem_`` for the digits epoch), predict/accuracy, the network's numerical gradient; the step
                 and epochs also at 2 threads (parameter ``threads``)
    steps.py     the step table (``python -m fastnn.bench --steps``): one SGD step of four nets, serial, against
                 the reference (``Step``), PyTorch eager (``StepTorch``) and JAX jit (``StepJax``), which are
                 skipped where those libraries are not installed; ``Step.track_products_ratio``: the step / its
                 two large matrix products alone
    latency.py   ``timeraw_``: ``import fastnn``, ``import fastnn.functions``, first (compiling) call of
                 ``softmax_loss`` and first training step, each with a cold and with a warm on-disk numba cache

What each case times is written in fastnn/bench.py (``python -m fastnn.bench --list``); the benchmarks call the
same callables, taken from the *installed* fastnn. A case that the benchmarked commit's fastnn.bench does not
have yet, or whose data is not installed (Fashion-MNIST), is skipped (NotImplementedError in setup), so the suite
runs on every commit since it was added.

Rule: numba compiles in ``setup`` (each callable is called once there), never in a timed region.

Threads: every benchmark's setup sets numba's thread count and every BLAS library in the process (numpy's
OpenBLAS, and SciPy's, which numba's np.dot calls) to its ``threads`` parameter, or to 1 (serial figures) when it
has none. The environment variables below give the start values (and reach the ``timeraw_`` subprocesses and
SciPy's BLAS, loaded here); numpy's own OpenBLAS was loaded by asv's runner before this package, so run-time
limits (threadpoolctl, in the asv matrix; install it in an existing environment too) do the pinning. Without
threadpoolctl a warning says the BLAS figures are not pinned. ``FASTNN_BENCH_THREADS=N`` changes the default 1.
"""
import os
import sys

THREADS = int(os.environ.get("FASTNN_BENCH_THREADS", "1"))
MAX_THREADS = max(THREADS, 2)  # the largest ``threads`` parameter: numba's pool must hold that many

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
os.environ["NUMBA_NUM_THREADS"] = str(MAX_THREADS)  # the pool size; setup picks the count in use

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None
    if "numpy" in sys.modules:
        print("benchmarks: threadpoolctl is not installed and numpy is already loaded, so numpy's BLAS keeps its "
              "default thread count (pip install threadpoolctl)", file=sys.stderr)
else:
    import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's BLAS now, so the limits cover it)

    threadpool_limits(limits=THREADS)
