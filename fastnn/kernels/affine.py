"""Affine layer: out = x @ W + b and its backward. Matmuls go to BLAS through numba's np.dot (explicit loops lose
3-6x to it); the bias pass and the column sums are loops."""
import numpy as np

from .._jit import kernel


@kernel
def affine_forward(x, W, b, out):
    np.dot(x, W, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += b[j]


@kernel(internal=True)
def weight_gradient(inp, d, out):
    """out = inp.T @ d. For one row this is an outer product, written once by a loop: BLAS's GEMM with an inner
    dimension of 1 took 11.2 us (float32) and 15.9 us (float64) at 784 x 50 where the loop takes 7.1 and 10.3 (Intel
    Xeon, AVX-512); from two rows on GEMM is faster (2 rows: 12.9 us against a loop's 36.2)."""
    if inp.shape[0] != 1:
        np.dot(inp.T, d, out)
        return
    for i in range(inp.shape[1]):
        xi = inp[0, i]
        for j in range(d.shape[1]):
            out[i, j] = xi * d[0, j]


@kernel
def affine_backward_params(x, dout, dW, db):
    """dW = x.T @ dout, db = column sums of dout."""
    weight_gradient(x, dout, dW)
    db[:] = 0
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            db[j] += dout[i, j]


@kernel
def affine_backward_input(dout, W, dx):
    """dx = dout @ W.T (skipped by callers that do not need it)."""
    np.dot(dout, W.T, dx)


@kernel
def affine_forward_cast(x, W, b, out, rows):
    """out = x @ W + b for x in the other float dtype than W: ``rows.shape[0]`` rows of x at a time are cast into
    ``rows`` (W's dtype) and multiplied there, so x is never copied whole. (NumPy's mixed-dtype product casts all
    of x first: the book's accuracy over 60,000 float32 images allocated and wrote 376 MB per call.)"""
    block = rows.shape[0]
    for start in range(0, x.shape[0], block):
        stop = min(start + block, x.shape[0])
        part = rows[:stop - start]
        for i in range(stop - start):
            for j in range(x.shape[1]):
                part[i, j] = x[start + i, j]
        affine_forward(part, W, b, out[start:stop])
