"""LLVM intrinsics for the kernels: bit casts for the vectorisable exp (fastnn/kernels/fastexp.py).

numba has no scalar bit cast; these reinterpret an integer's bits as a float so 2**k can be built without a library
call. The pure-Python versions serve NUMBA_DISABLE_JIT=1 runs.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload


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
