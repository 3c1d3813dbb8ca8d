"""asv suite for fastnn (configuration: ../asv.conf.json).

Modules:
    kernels.py   per kernel case of ``fastnn.bench.CASES``: ``time_fastnn`` / ``time_reference`` on the same inputs
                 and ``track_speedup`` (reference time / fastnn time, unit "x"), over batch, width and dtype
    latency.py   ``timeraw_``: ``import fastnn``, ``import fastnn.functions``, first (compiling) call of
                 ``softmax_loss`` with a cold and with a warm on-disk numba cache
    (training benchmarks, a train step and an epoch with ``peakmem_``, belong in a ``training.py`` here once
    fastnn.nets and fastnn.trainer exist: add their cases to ``fastnn.bench.CASES`` and subclass ``_Paired``.)

Rule: numba compiles in ``setup`` (each callable is called once there), never in a timed region.

Serial figures: one thread for numba, OpenMP and every OpenBLAS (numpy's, and SciPy's, which numba's np.dot
calls). asv imports this package before any benchmark module, so the environment variables below reach numba,
SciPy's BLAS and the ``timeraw_`` subprocesses. They come too late for numpy's own OpenBLAS, which asv's runner
has already loaded (through pympler), so that one is limited at run time with threadpoolctl (in the asv matrix;
install it in an existing environment too). Without it a warning says the BLAS figures are not serial.
``FASTNN_BENCH_THREADS=N`` sets another count.
"""
import os
import sys

_THREADS = os.environ.get("FASTNN_BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = _THREADS

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    if "numpy" in sys.modules:
        print("benchmarks: threadpoolctl is not installed and numpy is already loaded, so numpy's BLAS keeps its "
              "default thread count (pip install threadpoolctl)", file=sys.stderr)
else:
    import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's BLAS now, so the limit covers it)

    threadpool_limits(limits=int(_THREADS))
