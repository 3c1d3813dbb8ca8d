"""Elementwise activations and their gradients, on 1-D C-contiguous arrays (callers pass ravelled views)."""
from .._jit import kernel
from .fastexp import vexp


@kernel
def sigmoid_forward(x, out):
    # exp(-|x|) never overflows: the two branches are the same function, each evaluated where it is stable
    for i in range(x.size):
        v = x[i]
        e = vexp(-abs(v))
        out[i] = 1 / (1 + e) if v >= 0 else e / (1 + e)


@kernel
def sigmoid_grad(x, out):
    sigmoid_forward(x, out)
    for i in range(out.size):
        s = out[i]
        out[i] = (1 - s) * s


@kernel
def sigmoid_backward(dout, y, dx):
    """Sigmoid layer backward from the forward output y."""
    for i in range(dout.size):
        dx[i] = dout[i] * (1 - y[i]) * y[i]


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
        m = v <= 0
        mask[i] = m
        out[i] = 0 if m else v


@kernel
def relu_backward_mask(dout, mask, dx):
    for i in range(dout.size):
        dx[i] = 0 if mask[i] else dout[i]
