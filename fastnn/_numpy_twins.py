"""Whole-array NumPy versions of the kernels that small calls use before numba is loaded (see ``_dispatch``).

Each function has the name and the arguments of its kernel in ``fastnn.kernels`` (outputs passed in and written,
scalars returned) and the kernel's semantics: the same NaN propagation, the same one-hot argmax, the books' order
of operations in the optimizer updates. Results agree with the kernels to rounding (tests/test_dispatch.py).
"""
import numpy as np


# --- activations (1-D arrays) -----------------------------------------------------------------------------------
# the largest -x whose exp is finite, per dtype (np.log(np.finfo(dtype).max), rounded down)
_EXP_LIMIT = {np.dtype(np.float64): 709.0, np.dtype(np.float32): 88.0}
ERRSTATE_FROM_SIZE = 1024  # values from which silencing exp's overflow costs less than clipping its input


def sigmoid_forward(x, out):
    # the book's 1 / (1 + exp(-x)) in place (a whole-grid predict is 10^7 values), without its overflow warning
    # where x < -709 (-88 in float32). Small arrays clip -x there (a result below 1.2e-308, 6.1e-39 in float32,
    # where the exact one is smaller still): a pass cheaper than np.errstate's ~1 us below about 1,000 values.
    np.negative(x, out=out)
    if out.size < ERRSTATE_FROM_SIZE:
        np.minimum(out, _EXP_LIMIT[out.dtype], out=out)
        np.exp(out, out=out)
    else:
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
    out += 1
    np.divide(1, out, out=out)  # (measured faster than np.reciprocal)


def sigmoid_grad(x, out):
    sigmoid_forward(x, out)
    np.multiply(1 - out, out, out=out)


def sigmoid_backward(dout, y, dx):
    np.multiply(dout * (1 - y), y, out=dx)


def relu_forward(x, out):
    np.copyto(out, np.where(x < 0, 0, x))  # NaN propagates


def relu_grad(x, out):
    np.copyto(out, x >= 0)


def step(x, out):
    np.copyto(out, x > 0)


def relu_forward_mask(x, out, mask):
    np.less_equal(x, 0, out=mask)
    np.copyto(out, x)
    out[mask] = 0


def relu_backward_mask(dout, mask, dx):
    np.copyto(dx, dout)
    dx[mask] = 0


# --- softmax and cross-entropy (2-D arrays, rows are samples) ---------------------------------------------------
# (ufunc methods rather than np.max/np.sum: these run per call on small batches, where the wrappers cost as much as
# the arithmetic)
def softmax_rows(x, out):
    np.subtract(x, np.maximum.reduce(x, axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= np.add.reduce(out, axis=1, keepdims=True)


def cross_entropy_labels(y, t, delta):
    picked = y[np.arange(y.shape[0]), t]
    picked += delta
    return -float(np.add.reduce(np.log(picked, out=picked), dtype=np.float64)) / y.shape[0]


def softmax_cross_entropy_labels(x, t, delta, y):
    softmax_rows(x, y)
    return cross_entropy_labels(y, t, delta)


def softmax_cross_entropy_onehot(x, t, delta, y):
    softmax_rows(x, y)
    return cross_entropy_labels(y, t.argmax(axis=1), delta)


def softmax_cross_entropy_backward_labels(y, t, dout, dx):
    scale = y.dtype.type(dout / y.shape[0])
    rows = np.arange(y.shape[0])
    np.multiply(y, scale, out=dx)
    dx[rows, t] = (y[rows, t] - 1) * scale


def softmax_cross_entropy_backward_onehot(y, t, dout, dx):
    np.multiply(y - t, y.dtype.type(dout / y.shape[0]), out=dx)


def softmax_backward(y, dout, dx):
    np.multiply(y, dout, out=dx)
    dx -= y * dx.sum(axis=1, keepdims=True)


def sum_squared_error(y, t):
    d = y - t
    return 0.5 * float(np.dot(d, d))


# --- affine -----------------------------------------------------------------------------------------------------
def affine_forward(x, W, b, out):
    np.dot(x, W, out=out)
    out += b


def affine_backward_params(x, dout, dW, db):
    np.dot(x.T, dout, out=dW)
    np.add.reduce(dout, axis=0, out=db)


def affine_backward_input(dout, W, dx):
    np.dot(dout, W.T, out=dx)


# --- optimizer updates (1-D arrays, in place; scalars in the arrays' dtype, combined as the kernels get them) ---
def sgd(param, grad, lr):
    param -= lr * grad


def momentum(param, grad, v, mu, lr):
    v *= mu
    v -= lr * grad
    param += v


def nesterov(param, grad, v, mu, lr, mu_sq, lr_ahead):
    v *= mu
    v -= lr * grad
    param += mu_sq * v
    param -= lr_ahead * grad


def adagrad(param, grad, h, lr, eps):
    h += grad * grad
    param -= lr * grad / (np.sqrt(h) + eps)


def rmsprop(param, grad, h, decay, one_minus_decay, lr, eps):
    h *= decay
    h += one_minus_decay * grad * grad
    param -= lr * grad / (np.sqrt(h) + eps)


def adam(param, grad, m, v, one_minus_beta1, one_minus_beta2, lr_t, eps):
    m += one_minus_beta1 * (grad - m)
    v += one_minus_beta2 * (grad * grad - v)
    param -= lr_t * m / (np.sqrt(v) + eps)


# --- the second book's counting loops (fastnn.kernels.text) -----------------------------------------------------
PPMI_CHUNK_CELLS = 1 << 20  # cells per whole-array pass: bounds the float64 temporaries at a few MB


def co_occurrence(corpus, window_size, out):
    n = corpus.shape[0]
    pairs = [(corpus[:n - d], corpus[d:]) for d in range(1, min(window_size, n - 1) + 1)]
    if not pairs:
        return
    first = np.concatenate([p[0] for p in pairs])
    second = np.concatenate([p[1] for p in pairs])
    flat, width, one = out.reshape(-1), out.shape[1], out.dtype.type(1)  # (a Python 1 takes add.at's slow path)
    np.add.at(flat, first * width + second, one)
    np.add.at(flat, second * width + first, one)


def ppmi_rows(C, N, S, eps, out, start, stop):
    rows = max(1, PPMI_CHUNK_CELLS // max(1, C.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for lo in range(start, stop, rows):
            hi = min(stop, lo + rows)
            r = C[lo:hi] * N / (S * S[lo:hi, None]) + eps
            pmi = np.log2(r, dtype=np.float64)
            out[lo:hi] = np.where(pmi > 0, pmi, 0)


def contexts_target(corpus, window_size, contexts, target):
    windows = np.lib.stride_tricks.sliding_window_view(corpus, 2 * window_size + 1)
    target[:] = windows[:, window_size]
    contexts[:, :window_size] = windows[:, :window_size]
    contexts[:, window_size:] = windows[:, window_size + 1:]


# --- embedding (idx intp (N,), dout (N, D), dW (V, D)) ----------------------------------------------------
def embedding_backward(idx, dout, dW):
    dW[...] = 0
    np.add.at(dW, idx, dout)
