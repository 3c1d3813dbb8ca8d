"""One thread setting for everything fastnn runs: numba's parallel kernels and both BLAS libraries in the process
(NumPy's OpenBLAS, and SciPy's, which numba's ``np.dot`` calls).

Measured here (2 cores): a batch-100 training step gains nothing from a second BLAS thread, and numba threads
running beside BLAS threads oversubscribe the cores (some runs 20-40x slower), so fastnn's parallel kernels are
opt-in and run with BLAS pinned to one thread. Results do not depend on the thread count.
"""
import contextlib
import warnings

from . import _checks


def _blas_limits(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        warnings.warn("threadpoolctl is not installed: BLAS thread counts are left as they are "
                      "(pip install threadpoolctl, or set OPENBLAS_NUM_THREADS before starting Python)",
                      RuntimeWarning, stacklevel=3)
        return contextlib.nullcontext()
    import scipy.linalg.cython_blas  # noqa: F401 - load numba's BLAS now, so that the limit reaches it too

    return threadpool_limits(limits=n, user_api="blas")


@contextlib.contextmanager
def threads(n):
    """``with fastnn.threads.threads(1): ...`` runs the body with ``n`` threads for numba and for both BLAS
    libraries, and restores the previous settings afterwards."""
    import numba

    n = _checks.integer(n, "n", minimum=1)
    n_numba = min(n, numba.config.NUMBA_NUM_THREADS)
    previous = numba.get_num_threads()
    with _blas_limits(n):
        numba.set_num_threads(n_numba)
        try:
            yield n
        finally:
            numba.set_num_threads(previous)
