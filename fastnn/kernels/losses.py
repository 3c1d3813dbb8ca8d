"""Squared error, on 1-D C-contiguous arrays of one dtype."""
from .._jit import kernel


@kernel
def sum_squared_error(y, t):
    total = 0.0
    for i in range(y.size):
        d = y[i] - t[i]
        total += d * d
    return 0.5 * total
