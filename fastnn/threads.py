"""One thread setting for everything fastnn runs: numba's parallel kernels and both BLAS libraries in the process
(NumPy's OpenBLAS, and SciPy's, which numba's ``np.dot`` calls). The BLAS limits go through threadpoolctl, a
dependency of fastnn: without it this module does not import, rather than leave BLAS at its own count unnoticed.

Measured here (2 cores): a batch-100 training step gains nothing from a second BLAS thread, and numba threads
running beside BLAS threads oversubscribe the cores (some runs 20-40x slower), so fastnn's parallel kernels are
opt-in and run with BLAS pinned to one thread. Results do not depend on the thread count.
"""
import contextlib

from threadpoolctl import threadpool_info, threadpool_limits

from . import _checks


@contextlib.contextmanager
def threads(n):
    """``with fastnn.threads.threads(1): ...`` runs the body with ``n`` threads for numba (at most its pool,
    ``NUMBA_NUM_THREADS``) and for both BLAS libraries, and restores the previous settings afterwards; the ``with``
    target is ``n``."""
    import numba
    import scipy.linalg.cython_blas  # noqa: F401 - load numba's BLAS now, so that the limit reaches it too

    n = _checks.integer(n, "n", minimum=1)
    previous = numba.get_num_threads()
    with threadpool_limits(limits=n, user_api="blas"):
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        try:
            yield n
        finally:
            numba.set_num_threads(previous)


def blas_libraries():
    """One line naming every BLAS library loaded in the process: its file prefix, version, the kernel set it chose
    (``OPENBLAS_CORETYPE`` can force an older, slower one) and its current thread count."""
    return ", ".join(f"{info['prefix']} {info['version']} ({info.get('architecture', '?')}): {info['num_threads']}"
                     for info in threadpool_info() if info["user_api"] == "blas") or "no BLAS found"
