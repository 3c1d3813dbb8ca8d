"""Numba kernels: ``@kernel`` functions on C-contiguous float32/float64 arrays.

No classes and no validation live here: callers (the public modules) check shapes, dtypes and label ranges
before any kernel runs, and pass preallocated outputs.
"""
