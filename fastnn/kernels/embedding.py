"""The Embedding layer's backward: a scatter-add of gradient rows into a zeroed matrix."""
from .._jit import kernel


@kernel
def embedding_backward(idx, dout, dW):
    """dW[:] = 0, then dW[idx[n]] += dout[n] for n = 0, 1, ... in order, so a repeated index accumulates exactly
    as ``np.add.at`` does. idx intp (N,) in [0, len(dW)), dout (N, D) and dW (V, D) C-contiguous, one dtype."""
    dW[:] = 0
    width = dW.shape[1]
    for n in range(idx.size):
        row = idx[n]
        for j in range(width):
            dW[row, j] += dout[n, j]
