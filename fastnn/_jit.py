"""The one jit policy point: every kernel in ``fastnn.kernels`` is compiled through :func:`kernel`.

Policy (see README, "Environment variables"):

* ``cache=True`` unless ``FASTNN_CACHE=0``: compiled machine code is kept on disk next to the package or,
  when that directory is read-only, in numba's per-user cache directory (``NUMBA_CACHE_DIR`` overrides both).
* ``nogil=True``: kernels never touch Python objects, so other threads run while they compute.
* ``error_model='numpy'``: division by zero gives inf/nan like NumPy instead of raising.
* ``fastmath`` off: NaN and inf must propagate exactly as in NumPy.
* Compilation is lazy: nothing compiles at import; :func:`fastnn.warmup` compiles the common signatures.
"""
import os

import numpy as np

from numba import njit

CACHE = os.environ.get("FASTNN_CACHE", "1") != "0"


def kernel(fn=None, *, cache=None, parallel=False):
    """Decorate a kernel with the house jit options. ``cache=False`` for kernels that cannot be cached
    (those taking a jitted function as argument)."""
    options = dict(cache=CACHE if cache is None else (cache and CACHE), nogil=True, error_model="numpy",
                   fastmath=False, parallel=parallel)
    if fn is None:
        return lambda f: njit(**options)(f)
    return njit(**options)(fn)


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
