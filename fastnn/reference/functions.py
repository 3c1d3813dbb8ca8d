"""Reference functions: the twin of every kernel in fastnn/kernels, in the book's vectorised NumPy idiom."""
import numpy as np


# --- activations -----------------------------------------------------------------------------------------------
def identity_function(x):
    """Returns x unchanged (the identity activation)."""
    return x


def step_function(x):
    """Returns the step activation: an int array shaped like x, 1 where x > 0 and 0 elsewhere."""
    return np.array(x > 0, dtype=int)


def sigmoid(x):
    """Returns the logistic sigmoid 1 / (1 + exp(-x)), elementwise."""
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    """Returns the sigmoid's derivative (1 - sigmoid(x)) * sigmoid(x), elementwise."""
    return (1.0 - sigmoid(x)) * sigmoid(x)


def sigmoid_backward(dout, out):
    """Sigmoid layer backward from its forward output; returns dx = dout * (1 - out) * out."""
    return dout * (1.0 - out) * out


def relu(x):
    """Returns max(0, x), elementwise."""
    return np.maximum(0, x)


def relu_grad(x):
    """Returns the book's ReLU derivative: an array shaped like x, 1 where x >= 0 and 0 elsewhere."""
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def relu_backward(dout, x):
    """ReLU layer backward: the book's mask (x <= 0) zeroes the gradient; returns dx, a copy of dout."""
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


# --- softmax and losses ----------------------------------------------------------------------------------------
def softmax(x):
    """Returns the softmax over the last axis (row maximum subtracted first), shaped like x."""
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def sum_squared_error(y, t):
    """Returns the sum-of-squares loss 0.5 * sum((y - t) ** 2), a scalar over all elements."""
    return 0.5 * np.sum((y - t) ** 2)


mean_squared_error = sum_squared_error  # the book's name for the same function


def cross_entropy_error(y, t):
    """Returns the batch-mean cross-entropy -sum(log(y[i, t_i] + 1e-7)) / N, t class indices or one-hot."""
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:  # one-hot labels -> class indices
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    delta = 1e-7  # keeps log() finite where y is 0
    return -np.sum(np.log(y[np.arange(batch_size), t] + delta)) / batch_size


def softmax_loss(x, t):
    """Returns cross_entropy_error(softmax(x), t), the softmax cross-entropy loss of the scores x."""
    return cross_entropy_error(softmax(x), t)


def softmax_cross_entropy_backward(y, t, dout=1):
    """SoftmaxWithLoss backward: returns dx = (y - t) * dout / N, with integer or one-hot t."""
    batch_size = t.shape[0]
    if t.size == y.size:
        return (y - t) * dout / batch_size
    dx = y.copy()
    dx[np.arange(batch_size), t] -= 1
    return dx * dout / batch_size


# --- affine ----------------------------------------------------------------------------------------------------
def affine_forward(x, W, b):
    """Returns np.dot(x, W) + b."""
    return np.dot(x, W) + b


def affine_backward(x, W, dout):
    """Returns (dx, dW, db)."""
    return np.dot(dout, W.T), np.dot(x.T, dout), np.sum(dout, axis=0)


# --- numerical differentiation ---------------------------------------------------------------------------------
def numerical_diff(f, x):
    """Returns the central difference (f(x + h) - f(x - h)) / (2 * h) with h = 1e-4."""
    h = 1e-4  # 0.0001
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f, x):
    """Returns grad, shaped like x, by central differences (h = 1e-4); perturbs x in place and restores it."""
    h = 1e-4  # 0.0001
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad


def numerical_gradient_2d(f, X):
    """The book's plotting helper: a 2-D X is taken row by row, each row a separate point for f; returns the gradients,
    shaped like X."""
    if X.ndim == 1:
        return numerical_gradient(f, X)
    grad = np.zeros_like(X)
    for idx, x in enumerate(X):
        grad[idx] = numerical_gradient(f, x)
    return grad


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    """Takes step_num steps x -= lr * numerical_gradient(f, x) on init_x in place; returns x (that array)."""
    x = init_x
    for _ in range(step_num):
        grad = numerical_gradient(f, x)
        x -= lr * grad
    return x
