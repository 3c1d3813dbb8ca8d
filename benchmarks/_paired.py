"""The shared shape of a paired benchmark, and the suite's threads (underscore names are not collected by asv).

Threads: every benchmark's setup runs numba and every BLAS library in the process (numpy's OpenBLAS, and SciPy's,
which numba's np.dot calls) at its ``threads`` parameter, or at 1 (serial figures) when it has none, through
fastnn.threads. The environment variables set here first give the start values: numba's pool size (so that the
``threads`` = 2 parameters have two threads on any machine), SciPy's BLAS, and the ``timeraw_`` interpreters
(latency.py imports this module). ``FASTNN_BENCH_THREADS=N`` changes the default 1. asv imports this module right
after the package (submodules in name order), before anything imports numba.
"""
import os

THREADS = int(os.environ.get("FASTNN_BENCH_THREADS", "1"))
MAX_THREADS = max(THREADS, 2)  # the largest ``threads`` parameter: numba's pool must hold that many
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
os.environ["NUMBA_NUM_THREADS"] = str(MAX_THREADS)  # the pool size; setup picks the count in use

import contextlib  # noqa: E402  (the environment above comes first)
import statistics  # noqa: E402

import numpy as np  # noqa: E402

from fastnn import bench  # noqa: E402
from fastnn.threads import threads  # noqa: E402

from .cases import CASES  # noqa: E402

measure_pair = getattr(bench, "measure_pair", None)  # younger than the suite


def best_time(fn, repeat=5, min_time=1e-3):
    """The minimum per-call time: the figure least disturbed by the rest of the machine."""
    return min(bench.measure(fn, repeat, min_time))


def _load_numba_registries():
    """numba fills its typing and lowering registries (importing SciPy's BLAS among others) on the first dispatch
    in a process, about half a second. asv forks every benchmark process from one that imported this module
    (launch_method "forkserver"), so doing it here once keeps it out of each parameter's setup. Nothing of
    fastnn is compiled here."""
    try:
        from numba.core.registry import cpu_target
    except ImportError:  # numba internals moved: only a speed matter
        return
    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()


_load_numba_registries()


_pinned = contextlib.ExitStack()


def pin_threads(n):
    """n threads for numba and for every BLAS library in the process (fastnn.threads.threads), from now until the
    next call (asv runs every benchmark in a process of its own)."""
    _pinned.close()
    _pinned.enter_context(threads(n))


def case_callables(name, size, width, dtype):
    """The case's (fastnn, reference) callables, or NotImplementedError (asv: skipped) when the case is not there
    for the benchmarked commit (benchmarks/cases.py), cannot run here (its data is not installed), does not run in
    this dtype, or needs a fastnn.bench helper that the commit's fastnn does not have yet."""
    c = CASES.get(name)
    if c is None:
        raise NotImplementedError(f"fastnn.bench has no case {name!r} at this commit")
    reason = c.unavailable() if hasattr(c, "unavailable") else None  # (older Case objects have no such method)
    if reason:
        raise NotImplementedError(reason)
    if dtype not in getattr(c, "dtypes", (dtype,)):
        raise NotImplementedError(f"case {name!r} does not run in {dtype}")
    try:
        return c.make(size, width, np.dtype(dtype))
    except AttributeError as exc:
        if getattr(exc, "obj", None) is bench:
            raise NotImplementedError(f"fastnn.bench has no {exc.name} at this commit") from exc
        raise


class _Paired:
    """fastnn against the NumPy reference for the case ``benchmarks.cases.CASES[case]``: both callables work on the
    same inputs, built in setup. The first three parameters are the case's (batch or rows, width, dtype); an
    optional fourth, ``threads``, sets the thread count (default: 1, serial)."""
    case = None
    params = ((100, 10000, 100000), (10, 100), ("float32", "float64"))
    param_names = ("batch", "width", "dtype")
    timeout = 300
    pairs = bench.REPEAT  # interleaved (fastnn, reference) samples behind track_speedup

    def setup(self, *params):
        size, width, dtype = params[:3]
        pin_threads(dict(zip(self.param_names, params)).get("threads", THREADS))
        self.fastnn, self.reference = case_callables(self.case, size, width, dtype)
        self.fastnn()  # compiles (or loads from the on-disk cache) outside every timed region
        self.reference()

    def time_fastnn(self, *params):
        self.fastnn()

    def time_reference(self, *params):
        self.reference()

    def track_speedup(self, *params):
        """reference / fastnn, measured here as the comparison script does by default: medians of samples taken
        alternately (fastnn.bench.measure_pair; commits older than it: the minimum of a few repeats of each).
        A reference that does part of the work (``scale`` attribute: the numerical gradient on a slice of the
        parameters) is scaled up."""
        scale = getattr(self.reference, "scale", 1.0)
        if measure_pair is None:
            return best_time(self.reference, repeat=3) * scale / best_time(self.fastnn, repeat=3)
        fast, reference = measure_pair(self.fastnn, self.reference, self.pairs, bench.MIN_SAMPLE_S)
        return statistics.median(reference) * scale / statistics.median(fast)

    track_speedup.unit = "x"
