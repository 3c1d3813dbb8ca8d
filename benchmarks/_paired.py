"""The shared shape of a paired benchmark (underscore names are not collected by asv)."""
import numpy as np

from fastnn.bench import CASES, best_time


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


class _Paired:
    """fastnn against the NumPy reference for the case ``fastnn.bench.CASES[case]``: both callables work on the
    same inputs, built in setup."""
    case = None
    params = ((100, 10000, 100000), (10, 100), ("float32", "float64"))
    param_names = ("batch", "width", "dtype")
    timeout = 300

    def setup(self, batch, width, dtype):
        self.fastnn, self.reference = CASES[self.case].make(batch, width, np.dtype(dtype))
        self.fastnn()  # compiles (or loads from the on-disk cache) outside every timed region
        self.reference()

    def time_fastnn(self, batch, width, dtype):
        self.fastnn()

    def time_reference(self, batch, width, dtype):
        self.reference()

    def track_speedup(self, batch, width, dtype):
        """reference / fastnn, each the minimum over a few repeats measured here."""
        return best_time(self.reference, repeat=3) / best_time(self.fastnn, repeat=3)

    track_speedup.unit = "x"
