"""Copies between arrays as explicit loops, for kernels.

numba compiles an assignment of an array to a slice (``dst[:] = src``, ``out[i] = row``) with an error message that
formats both shapes; that pulls numba's string code into the kernel: about 1.3 s of compile time on an empty cache,
paid once per process by the first such kernel (measured on a recurrent model's first training step). These loops
do the same copy without it, and are faster too (copy_row backing up a net's parameters in the Trainer's loop:
twice as fast as the slice assignment).
"""
from .._jit import kernel


@kernel(internal=True)
def copy_row(dst, src):
    """dst[:] = src for two 1-D arrays of one length; returns nothing."""
    for j in range(src.size):
        dst[j] = src[j]


@kernel(internal=True)
def copy_rows(dst, src):
    """dst[:] = src for two 2-D arrays of one shape; returns nothing."""
    for i in range(src.shape[0]):
        copy_row(dst[i], src[i])
