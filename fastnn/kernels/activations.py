"""Elementwise activations and their gradients: each op's scalar forward and backward, defined once here and
inlined by numba into every kernel that applies the op (the network engine, the numerical gradient, the
scikit-learn MLP); then the array kernels of the standalone layers and functions, on 1-D C-contiguous arrays
(callers pass ravelled views)."""
import math

from .._jit import kernel
from .fastexp import vexp


# --- scalar ops ---------------------------------------------------------------------------------------------------
@kernel(internal=True)
def sigmoid_scalar(v):
    """The books' sigmoid 1 / (1 + exp(-v)) in a stable form: exp(-|v|) never overflows, and the two branches
    are the same function, each evaluated where it is stable."""
    e = vexp(-abs(v))
    return 1 / (1 + e) if v >= 0 else e / (1 + e)


@kernel(internal=True)
def sigmoid_slope(y):
    """The sigmoid's derivative from its output y: (1 - y) * y."""
    return (1 - y) * y


@kernel(internal=True)
def sigmoid_backward_scalar(d, y):
    """The Sigmoid layer's backward of one upstream gradient d from the output y, in the book's order."""
    return d * (1 - y) * y


@kernel(internal=True)
def relu_scalar(v):
    """The books' Relu layer: 0 where v <= 0 (where its mask is set), else v (NaN passes)."""
    return 0 if v <= 0 else v


@kernel(internal=True)
def relu_backward_scalar(d, masked):
    """The Relu layer's backward of one upstream gradient d: 0 where the forward's mask is set."""
    return 0 if masked else d


@kernel(internal=True)
def tanh_scalar(v):
    """tanh(v)."""
    return math.tanh(v)


@kernel(internal=True)
def tanh_backward_scalar(d, y):
    """tanh's backward of one upstream gradient d from the output y: d * (1 - y ** 2), the square as a product
    (the same value; numba's integer power would compile a loop)."""
    return d * (1 - y * y)


# --- array kernels -----------------------------------------------------------------------------------------------
@kernel
def sigmoid_forward(x, out):
    for i in range(x.size):
        out[i] = sigmoid_scalar(x[i])


@kernel
def sigmoid_grad(x, out):
    sigmoid_forward(x, out)
    for i in range(out.size):
        out[i] = sigmoid_slope(out[i])


@kernel
def sigmoid_backward(dout, y, dx):
    """Sigmoid layer backward from the forward output y."""
    for i in range(dout.size):
        dx[i] = sigmoid_backward_scalar(dout[i], y[i])


@kernel
def relu_forward(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = 0 if v < 0 else v  # NaN propagates, as in np.maximum


@kernel
def relu_grad(x, out):
    for i in range(x.size):
        out[i] = 1 if x[i] >= 0 else 0


@kernel
def step(x, out):
    for i in range(x.size):
        out[i] = 1 if x[i] > 0 else 0


@kernel
def relu_forward_mask(x, out, mask):
    """ReLU layer forward: out = x where x > 0 else 0, and the book's mask (x <= 0), in one pass."""
    for i in range(x.size):
        v = x[i]
        mask[i] = v <= 0
        out[i] = relu_scalar(v)


@kernel
def relu_backward_mask(dout, mask, dx):
    for i in range(dout.size):
        dx[i] = relu_backward_scalar(dout[i], mask[i])
