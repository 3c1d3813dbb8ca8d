"""The one jit policy point: every kernel in ``fastnn.kernels`` is compiled through :func:`kernel`.

Policy (see README, "Environment variables"):

* ``cache=True`` unless ``FASTNN_CACHE=0``: compiled machine code is kept on disk next to the package or,
  when that directory is read-only, in numba's per-user cache directory (``NUMBA_CACHE_DIR`` overrides both).
  Parallel kernels are never cached (they compile on first use in each process).
* ``nogil=True``: kernels never touch Python objects, so other threads run while they compute.
* ``error_model='numpy'``: division by zero gives inf/nan like NumPy instead of raising.
* ``fastmath`` off: NaN and inf must propagate exactly as in NumPy.
* Compilation is lazy: nothing compiles at import; :func:`fastnn.warmup` compiles the common signatures.
"""
import os

from numba import njit

from . import _numba_cache

CACHE = os.environ.get("FASTNN_CACHE", "1") != "0"
_HERE = os.path.dirname(os.path.abspath(__file__))
# one stamp for every kernel (fastnn/_numba_cache.py): the kernels' sources, this file (the options), the bit
# casts they inline and the constants they compile in; a change to any recompiles them all
_STAMPED = ("_jit.py", "_intrinsics.py", "_constants.py")
_numba_cache.install(os.path.join(_HERE, "kernels"), [os.path.join(_HERE, name) for name in _STAMPED])


# The arithmetic options of every kernel, also passed to the @overload implementations that kernels call (numba
# would compile those with its defaults, error_model='python' among them: a division then checks for zero, which
# keeps LLVM from vectorising the loop around it).
ARITHMETIC_OPTIONS = dict(error_model="numpy", fastmath=False)


def kernel(fn=None, *, cache=None, parallel=False):
    """Decorate a kernel with the house jit options. ``cache=False`` for kernels that cannot be cached
    (those taking a jitted function as argument)."""
    # parallel kernels are never disk-cached: cached parallel code has a history of crashes and hangs when loaded
    # under another thread count or by several processes at once (numba issues #7518, #4807, #9233)
    use_cache = False if parallel else (CACHE if cache is None else (cache and CACHE))
    options = dict(cache=use_cache, nogil=True, parallel=parallel, **ARITHMETIC_OPTIONS)

    def compile_lazily(f):
        try:
            return njit(**options)(f)
        except RuntimeError:  # numba found no writable cache location at all: compile without the disk cache
            return njit(**dict(options, cache=False))(f)

    return compile_lazily if fn is None else compile_lazily(fn)
