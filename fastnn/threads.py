"""One thread setting for everything fastnn runs: numba's parallel kernels and both BLAS libraries in the process
(NumPy's OpenBLAS, and SciPy's, which numba's ``np.dot`` calls). The BLAS limits go through threadpoolctl, a
dependency of fastnn: without it this module does not import, rather than leave BLAS at its own count unnoticed.

Measured here (2 cores): a batch-100 training step gains nothing from a second BLAS thread, and numba threads
running beside BLAS threads oversubscribe the cores (some runs 20-40x slower), so fastnn's parallel kernels are
opt-in and run with BLAS pinned to one thread. Results do not depend on the thread count.
"""
import contextlib
import sys
import threading
import types

from threadpoolctl import ThreadpoolController, threadpool_info

from . import _checks

# BLAS thread counts are process-wide, so scopes entered from several threads share them: the innermost open scope
# (the last entered) sets the count, and the process's own setting comes back when the last scope closes (before,
# two overlapping scopes in two threads left BLAS at one thread for good).
_lock = threading.Lock()
_open = []  # (token, n) of every open scope, in the order entered
_original = []  # (library controller, its thread count) found when the first scope opened


def _blas_controllers():
    return ThreadpoolController().select(user_api="blas").lib_controllers


def _blas_enter(n):
    token = object()
    with _lock:
        controllers = _blas_controllers()
        if not _open:
            _original[:] = [(c, c.num_threads) for c in controllers]
        for c in controllers:
            c.set_num_threads(n)
        _open.append((token, n))
    return token


def _blas_exit(token):
    with _lock:
        _open[:] = [entry for entry in _open if entry[0] is not token]
        if _open:
            for c in _blas_controllers():
                c.set_num_threads(_open[-1][1])
        else:
            for c, count in _original:
                c.set_num_threads(count)


@contextlib.contextmanager
def threads(n):
    """``with fastnn.threads(1): ...`` (also ``fastnn.threads.threads``) runs the body with ``n`` threads for numba
    (at most its pool, ``NUMBA_NUM_THREADS``; a per-thread setting) and for both BLAS libraries (process-wide: the
    innermost open scope of any thread decides), and restores the previous settings afterwards; the ``with``
    target is ``n``."""
    import numba
    import scipy.linalg.cython_blas  # noqa: F401 - load numba's BLAS now, so that the limit reaches it too

    n = _checks.integer(n, "n", minimum=1)
    previous = numba.get_num_threads()
    token = _blas_enter(n)
    try:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        yield n
    finally:
        numba.set_num_threads(previous)
        _blas_exit(token)


def blas_libraries():
    """One line naming every BLAS library loaded in the process: its file prefix, version, the kernel set it chose
    (``OPENBLAS_CORETYPE`` can force an older, slower one) and its current thread count."""
    return ", ".join(f"{info['prefix']} {info['version']} ({info.get('architecture', '?')}): {info['num_threads']}"
                     for info in threadpool_info() if info["user_api"] == "blas") or "no BLAS found"


class _CallableModule(types.ModuleType):
    """``fastnn.threads(n)`` as documented: the module, called, is its ``threads`` function."""

    def __call__(self, n):
        return threads(n)


sys.modules[__name__].__class__ = _CallableModule
