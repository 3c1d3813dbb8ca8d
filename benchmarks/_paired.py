"""The shared shape of a paired benchmark (underscore names are not collected by asv)."""
import statistics

import numpy as np

from fastnn import bench
from fastnn.bench import CASES, best_time

from . import THREADS, threadpool_limits

measure_pair = getattr(bench, "measure_pair", None)  # younger than the suite


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


_blas_threads = THREADS  # benchmarks/__init__.py limited every BLAS to this; forked processes inherit it


def pin_threads(n):
    """n threads for numba and for every BLAS library in the process (numpy's and SciPy's). The BLAS limit is only
    set again when it changes: threadpoolctl's library scan costs tens of milliseconds per benchmark process."""
    global _blas_threads
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if threadpool_limits is not None and n != _blas_threads:
        threadpool_limits(limits=n)
        _blas_threads = n


def case_callables(name, size, width, dtype):
    """The case's (fastnn, reference) callables, or NotImplementedError (asv: skipped) when the benchmarked
    commit's fastnn.bench has no such case, the case cannot run here (its data is not installed), or it does
    not run in this dtype."""
    c = CASES.get(name)
    if c is None:
        raise NotImplementedError(f"fastnn.bench has no case {name!r} at this commit")
    reason = c.unavailable() if hasattr(c, "unavailable") else None  # (older Case objects have no such method)
    if reason:
        raise NotImplementedError(reason)
    if dtype not in getattr(c, "dtypes", (dtype,)):
        raise NotImplementedError(f"case {name!r} does not run in {dtype}")
    return c.make(size, width, np.dtype(dtype))


class _Paired:
    """fastnn against the NumPy reference for the case ``fastnn.bench.CASES[case]``: both callables work on the
    same inputs, built in setup. The first three parameters are the case's (batch or rows, width, dtype); an
    optional fourth, ``threads``, sets the thread count (default: 1, serial)."""
    case = None
    params = ((100, 10000, 100000), (10, 100), ("float32", "float64"))
    param_names = ("batch", "width", "dtype")
    timeout = 300

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
        fast, reference = measure_pair(self.fastnn, self.reference, bench.REPEAT, bench.MIN_SAMPLE_S)
        return statistics.median(reference) * scale / statistics.median(fast)

    track_speedup.unit = "x"
