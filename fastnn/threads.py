"""One thread setting for everything fastnn runs: numba's parallel kernels and both BLAS libraries in the process
(NumPy's OpenBLAS, and SciPy's, which numba's ``np.dot`` calls). The BLAS limits go through threadpoolctl, a
dependency of fastnn: without it this module does not import, rather than leave BLAS at its own count unnoticed.

Measured here (2 cores): a batch-100 training step gains nothing from a second BLAS thread, and numba threads
running beside BLAS threads oversubscribe the cores (some runs 20-40x slower), so fastnn's parallel kernels are
opt-in and run with BLAS pinned to one thread. Results do not depend on the thread count.
"""
import contextlib
import os
import sys
import threading
import time
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


# fastnn's own compiled calls run BLAS at one thread (unless a ``threads`` scope is open) while other programs keep
# the machine's cores busy (OTHERS_BUSY_CORES, sampled every BUSY_SAMPLE_SECONDS from /proc/stat) and their largest
# matrix product has at least PIN_FROM_WORK multiply-adds and fewer than PIN_BELOW_ROWS rows. Measured on the 2-core
# AMD EPYC, a 784-100-10 batch-100 step: alone 0.47 ms with OpenBLAS's two threads, 0.75 ms with one; two such
# processes at once 1.10 ms each with two threads, 0.77 ms with one; beside a NumPy matmul loop 1.16 / 0.87 ms.
# Two programs computing at once on a 2-core machine, each with two OpenBLAS threads per library, spin against each
# other: a 784-100-10 batch-100 step took 0.47-0.54 ms alone
# and 2-80 ms with a second such process (issue #25), while one thread loses nothing at that size on a quiet
# machine. OpenBLAS runs smaller products on one thread anyway (its GEMM threshold: 65536 * 4 multiply-adds), so
# the pin (about 4 us) is skipped there (a digits batch of 32: 205k); calls of 4,096 rows or more (a standalone
# Affine on a whole data set; a net's predict and accuracy run 1,024-row chunks, each pinned like a batch) keep the
# process's setting, where a second thread pays on a quiet machine.
PIN_FROM_WORK = 65536 * 4
PIN_BELOW_ROWS = 4096
OTHERS_BUSY_CORES = 0.5  # CPU time of other processes, in cores, above which BLAS is pinned
BUSY_SAMPLE_SECONDS = 0.25
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_sample = None  # (wall, all processes' busy seconds, this process's seconds) at the last look
_busy = True  # until measured (or where /proc/stat cannot be read): pinned, the safe side


def _cpu_sample():
    """(monotonic seconds, busy CPU seconds of the whole machine, CPU seconds of this process)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    own = os.times()
    return time.monotonic(), (user + nice + system + irq + softirq + steal) / _TICKS, own.user + own.system


def _others_busy():
    """True while other processes used more than OTHERS_BUSY_CORES cores over the last sample interval."""
    global _sample, _busy
    if _sample is not None and time.monotonic() - _sample[0] < BUSY_SAMPLE_SECONDS:
        return _busy
    try:
        now = _cpu_sample()
    except (OSError, ValueError):
        return True
    if _sample is not None:
        wall = now[0] - _sample[0]
        others = (now[1] - _sample[1]) - (now[2] - _sample[2])
        _busy = others > OTHERS_BUSY_CORES * wall
    _sample = now
    return _busy

_pin_lock = threading.Lock()
_pins = 0  # compiled calls running pinned, in any thread
_pinned = []  # (set function, count to restore) while _pins > 0
_blas_functions = None  # [(get, set)] of OpenBLAS's C functions in each loaded library, found once


def _blas_thread_functions():
    """OpenBLAS's own get/set functions (C calls, ~0.1 us; threadpoolctl's wrappers cost ~4 us per call)."""
    global _blas_functions
    if _blas_functions is None:
        import scipy.linalg.cython_blas  # noqa: F401 - numba's np.dot calls SciPy's BLAS: load it to control it

        pairs = [(c._get_symbol("openblas_get_num_threads"), c._get_symbol("openblas_set_num_threads"))
                 for c in _blas_controllers() if c.internal_api == "openblas" and c.threading_layer != "openmp"]
        _blas_functions = [(get, set_) for get, set_ in pairs if get is not None and set_ is not None]
    return _blas_functions


def _one_blas_thread(rows, row_work):
    """``with _one_blas_thread(rows, row_work):`` around one of fastnn's compiled calls on ``rows`` rows whose widest
    product costs ``row_work`` multiply-adds a row: OpenBLAS at one thread while it runs (see PIN_FROM_WORK).
    Returns the context manager: a shared do-nothing one unless the call is pinned (most calls: nothing to
    allocate on the path of a small batch)."""
    if rows * row_work >= PIN_FROM_WORK and rows < PIN_BELOW_ROWS and not _open and _others_busy():
        return _PINNED
    return _UNPINNED


class _Unpinned:
    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Pinned(_Unpinned):
    """Counted under a lock: the first pinned call in any thread saves the counts, the last one to end restores
    them, so calls overlapping in several threads never leave BLAS pinned (one shared instance: it holds no
    state of its own)."""

    __slots__ = ()

    def __enter__(self):
        global _pins
        with _pin_lock:
            if _pins == 0:
                _pinned[:] = [(set_, get()) for get, set_ in _blas_thread_functions()]
                for set_, count in _pinned:
                    if count != 1:
                        set_(1)
            _pins += 1
        return self

    def __exit__(self, *exc):
        global _pins
        with _pin_lock:
            _pins -= 1
            if _pins == 0:
                for set_, count in _pinned:
                    if count != 1:
                        set_(count)
        return False


_UNPINNED, _PINNED = _Unpinned(), _Pinned()


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
