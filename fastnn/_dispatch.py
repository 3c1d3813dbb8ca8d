"""Which implementation runs a call: a compiled kernel, or its whole-array NumPy twin (``fastnn._numpy_twins``).

numba is a fixed cost for every process that uses it: importing it takes about 0.15 s and loading the first
kernel from the on-disk cache another 0.25 s (numba builds its typing and lowering tables then); later kernels load
in about 2 ms (measured on a 2-core AMD EPYC, numba 0.68). That is more than the whole computation of a short book
script: the second book's chapter-1 spiral training does 0.45 s of NumPy work, so with compiled kernels it could
only get slower. fastnn therefore rents before it buys:

* the kernel modules are imported lazily (:func:`lazy_kernels`): importing a public module imports no numba;
* until numba is in the process, calls run NumPy twins that take the kernels' arguments and write the same
  outputs (to rounding), and estimate the NumPy time they spend: ``CALL_NS`` per call and ``VALUE_NS`` per value
  touched (measured on the twins at the books' sizes: 8-37 us per call at 1,000-5,000 values, 1-14 ns per value).
  A call is charged only what its twin costs beyond the kernel: a matrix product runs in BLAS either way, so an
  affine call is charged its call alone (a 4-million-row predict then stays in NumPy instead of loading numba);
* once that estimate reaches ``COMPILED_PAYS_NS`` (what loading numba costs), or numba is in the process anyway (a
  network's engine, the user's own code), every call runs compiled.

The switch depends on the work done only, never on a clock, so a seeded script takes the same path every run.
"""
import importlib
import sys

from . import _numpy_twins

CALL_NS = 5_000  # a twin's fixed cost: a few NumPy calls
VALUE_NS = 4  # a twin's cost per value touched
COMPILED_PAYS_NS = 400_000_000  # numba's fixed cost, about 0.4 s

_numpy_ns = 0  # the NumPy time the twins have spent, as estimated by numpy_suffices


class _LazyModule:
    """Stands for a module until its first attribute is read, then imports it (``importlib.import_module``
    is thread-safe, unlike ``importlib.util.LazyLoader`` before Python 3.12) and copies its names in, so later reads
    are plain attribute reads."""

    def __init__(self, full_name):
        self._full_name = full_name

    def __getattr__(self, attr):
        module = importlib.import_module(self._full_name)
        vars(self).update(vars(module))
        return getattr(module, attr)


def lazy_kernels(name):
    """The kernel module ``fastnn.kernels.<name>``, imported (with numba) on its first attribute access."""
    return _LazyModule(f"fastnn.kernels.{name}")


def lazy_module(full_name):
    """The module ``full_name``, imported on its first attribute access (for modules that only some paths use, so
    that importing a public module stays cheap)."""
    return _LazyModule(full_name)


def compiled_loaded():
    """True once numba is in the process: its fixed cost is paid, so compiled kernels are the cheaper path."""
    return "numba" in sys.modules


def numpy_suffices(size):
    """True when a call touching ``size`` values should run its NumPy twin: numba is not loaded and the NumPy work
    done so far (this call included) has not reached what loading numba costs."""
    return kernels_for(size, None) is _numpy_twins


def kernels_for(size, kernels):
    """The kernel module ``kernels``, or the NumPy twins for a call touching ``size`` values (see numpy_suffices;
    the rule is written here, in one function, because every standalone layer call runs it)."""
    global _numpy_ns
    if compiled_loaded():
        return kernels
    _numpy_ns += CALL_NS + VALUE_NS * size
    return _numpy_twins if _numpy_ns < COMPILED_PAYS_NS else kernels
