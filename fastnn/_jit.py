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

import numpy as np
from numba import njit
from numba.core import caching

CACHE = os.environ.get("FASTNN_CACHE", "1") != "0"
_KERNELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")


# --- cache invalidation ----------------------------------------------------------------------------------------
# numba decides whether a cached kernel is stale from its own source file only, but kernels inline helpers from
# other files (fastexp.py, this file): after an edit to one of those, the cache would serve old machine code.
# fastnn's kernels therefore use one stamp for all kernel sources: any change recompiles every kernel.
def _sources_stamp():
    names = [os.path.join(_KERNELS_DIR, n) for n in os.listdir(_KERNELS_DIR) if n.endswith(".py")]
    stats = [os.stat(f) for f in sorted(names) + [os.path.abspath(__file__)]]
    return max(s.st_mtime for s in stats), sum(s.st_size for s in stats), len(stats)


class _WholePackageStamp:
    def get_source_stamp(self):
        return _sources_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _KERNELS_DIR:
            return None
        return super().from_function(py_func, py_file)


def _install_cache_locators():
    """Put whole-package-stamp variants of numba's locators (NUMBA_CACHE_DIR, in-tree, per-user; same order)
    in front of numba's own. Private numba API: if it changes, numba's default behaviour remains."""
    def public_or_private(name):  # numba >= 0.60 dropped the leading underscore
        return getattr(caching, name, None) or getattr(caching, "_" + name, None)

    impl = public_or_private("CacheImpl")
    bases = [public_or_private(n) for n in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                                            "UserWideCacheLocator")]
    if impl is None or None in bases or not isinstance(getattr(impl, "_locator_classes", None), list):
        return
    if any(issubclass(c, _WholePackageStamp) for c in impl._locator_classes):
        return
    ours = [type("FastNN" + b.__name__, (_WholePackageStamp, b), {}) for b in bases]
    impl._locator_classes[:0] = ours


_install_cache_locators()


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


# --- bit casts for the vectorisable exp (fastnn/kernels/fastexp.py) -------------------------------------------
# numba has no scalar bit cast; these reinterpret an integer's bits as a float so 2**k can be built without a
# library call. The pure-Python versions serve NUMBA_DISABLE_JIT=1 runs.
from llvmlite import ir  # noqa: E402
from numba import types  # noqa: E402
from numba.extending import intrinsic, overload  # noqa: E402


def float64_from_bits(bits):
    return np.int64(bits).view(np.float64)


def float32_from_bits(bits):
    return np.int32(bits).view(np.float32)


def _bitcast_intrinsic(int_type, float_type, llvm_float):
    @intrinsic
    def bitcast(typingctx, bits):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_float)

        return float_type(int_type), codegen

    return bitcast


_bitcast_f64 = _bitcast_intrinsic(types.int64, types.float64, ir.DoubleType())
_bitcast_f32 = _bitcast_intrinsic(types.int32, types.float32, ir.FloatType())


@overload(float64_from_bits)
def _float64_from_bits_jit(bits):
    return lambda bits: _bitcast_f64(np.int64(bits))


@overload(float32_from_bits)
def _float32_from_bits_jit(bits):
    return lambda bits: _bitcast_f32(np.int32(bits))
