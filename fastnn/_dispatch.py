"""Which implementation runs a call: a compiled kernel, or its whole-array NumPy twin (``fastnn._numpy_twins``).

numba is a fixed cost for every process that uses it: importing it takes about 0.15 s and loading the first
kernel from the on-disk cache another 0.25 s (numba builds its typing and lowering tables then); later kernels load
in about 2 ms (measured on a 2-core AMD EPYC, numba 0.68). That is more than the whole computation of a short book
script: the second book's chapter-1 spiral training does 0.45 s of NumPy work, so with compiled kernels it could
only get slower. fastnn therefore rents before it buys:

* the kernel modules are imported lazily (:func:`lazy_kernels`): importing a public module imports no numba;
* until numba is in the process, calls run NumPy twins that take the kernels' arguments and write the same
  outputs (to rounding), and count their work: the values they touch plus ``CALL_WORK`` per call (a NumPy call's
  fixed cost, about 1 us, in values at about 1 ns each);
* once that count reaches ``COMPILED_PAYS`` (about 0.4 s of NumPy work: what loading numba costs), or numba is in
  the process anyway (a network's engine, the user's own code), every call runs compiled.

The switch depends on the work done only, never on a clock, so a seeded script takes the same path every run.
"""
import importlib.util
import sys

CALL_WORK = 1_000  # one NumPy call's fixed cost, in values touched
COMPILED_PAYS = 400_000_000  # values (about 1 ns each) worth numba's fixed cost of about 0.4 s

_numpy_work = 0  # counted by numpy_suffices


def lazy_kernels(name):
    """The kernel module ``fastnn.kernels.<name>``, executed (numba imported) on its first attribute access."""
    full_name = f"fastnn.kernels.{name}"
    module = sys.modules.get(full_name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(full_name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[full_name] = module
    loader.exec_module(module)
    return module


def compiled_loaded():
    """True once numba is in the process: its fixed cost is paid, so compiled kernels are the cheaper path."""
    return "numba" in sys.modules


def numpy_suffices(size):
    """True when a call touching ``size`` values should run its NumPy twin: numba is not loaded and the NumPy work
    done so far (this call included) has not reached what loading numba costs."""
    global _numpy_work
    if compiled_loaded():
        return False
    _numpy_work += size + CALL_WORK
    return _numpy_work < COMPILED_PAYS
