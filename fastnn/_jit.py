"""The one jit policy point: every kernel in ``fastnn.kernels`` is compiled through :func:`kernel`.

Policy (see README, "Environment variables"):

* ``cache=True`` unless ``FASTNN_CACHE=0``: compiled machine code is kept on disk next to the package or,
  when that directory is read-only, in numba's per-user cache directory (``NUMBA_CACHE_DIR`` overrides both).
  Parallel kernels are never cached (they compile on first use in each process).
* ``nogil=True``: kernels never touch Python objects, so other threads run while they compute.
* ``error_model='numpy'``: division by zero gives inf/nan like NumPy instead of raising.
* ``fastmath`` off: NaN and inf must propagate exactly as in NumPy.
* Compilation is lazy: nothing compiles at import; :func:`fastnn.warmup` compiles the common signatures.
* Plain argument types: a kernel compiles once per argument types, never once per constant value (see
  :class:`_PlainArgsDispatcher`).
"""
import os

from numba import config, njit, types
from numba.core.registry import CPUDispatcher

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


def kernel(fn=None, *, cache=None, parallel=False, internal=False):
    """Decorate a kernel with the house jit options. ``cache=False`` for kernels that cannot be cached
    (those taking a jitted function as argument). ``internal=True`` for kernels that only other kernels call: they
    get no Python entry point (calling one from Python raises), which saves about 40% of a small kernel's compile
    time and more for a kernel taking tuples of arrays, whose entry point unboxes each (numba builds the wrapper that
    converts Python arguments for every specialisation, whether Python calls it or not)."""
    # parallel kernels are never disk-cached: cached parallel code has a history of crashes and hangs when loaded
    # under another thread count or by several processes at once (numba issues #7518, #4807, #9233)
    use_cache = False if parallel else (CACHE if cache is None else (cache and CACHE))
    options = dict(cache=use_cache, nogil=True, parallel=parallel, **ARITHMETIC_OPTIONS)
    if internal:
        options.update(no_cpython_wrapper=True, no_cfunc_wrapper=True)

    def compile_lazily(f):
        if config.DISABLE_JIT:
            return njit(**options)(f)  # the plain Python function
        try:
            return _dispatcher(f, options)
        except RuntimeError:  # numba found no writable cache location at all: compile without the disk cache
            return _dispatcher(f, dict(options, cache=False))

    return compile_lazily if fn is None else compile_lazily(fn)


class _PlainArgsDispatcher(CPUDispatcher):
    """numba's dispatcher, except that a call from another kernel is typed with plain argument types.

    numba types a constant int or bool argument of a call between compiled functions as a literal
    (``Literal[int](0)``, ``Literal[bool](False)``) and compiles the callee once for each such value, beside the
    plain int64/bool version that Python calls get: a second full compile of, say, the network engine's ``run``
    when the Trainer's loop calls it with ``mode=LOSS``. Kernels here never branch on a literal value, so the
    literal types are dropped before the callee is looked up or compiled (a None argument stays None: that is a
    type, and the engine prunes on it)."""

    def get_call_template(self, args, kws):
        """numba's call template for the arguments' plain types."""
        plain = tuple(types.unliteral(a) for a in args)
        return super().get_call_template(plain, {k: types.unliteral(v) for k, v in kws.items()})


def _dispatcher(f, options):
    """f's dispatcher with the given options (numba.njit's, built as njit builds it; RuntimeError when caching is
    asked for and numba finds no writable cache location)."""
    target_options = {k: v for k, v in options.items() if k != "cache"}
    dispatcher = _PlainArgsDispatcher(py_func=f, locals={}, targetoptions=dict(target_options, nopython=True,
                                                                            boundscheck=None))
    if options["cache"]:
        dispatcher.enable_caching()
    return dispatcher
