"""Reference layers in the books' NumPy idiom: the first book's attributes (``W, b, dW, db, mask, y, t, loss``)
plus the second book's ``params``/``grads`` lists, with gradients written into ``grads`` in place."""
import numpy as np

from .functions import cross_entropy_error, sigmoid, softmax
from .util import col2im, im2col


class Relu:
    """The first book's common/layers.py Relu layer: out = max(0, x), the mask (x <= 0) kept for backward."""

    def __init__(self):
        self.mask = None
        self.params, self.grads = [], []

    def forward(self, x):
        """Returns a copy of x with the entries <= 0 set to 0; keeps that mask."""
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        """Returns dx, a copy of dout zeroed where the forward input was <= 0."""
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class Sigmoid:
    """The first book's common/layers.py Sigmoid layer: out = 1 / (1 + exp(-x))."""

    def __init__(self):
        self.out = None
        self.params, self.grads = [], []

    def forward(self, x):
        """Returns sigmoid(x), kept as self.out for backward."""
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        """Returns dx = dout * (1 - out) * out."""
        return dout * (1.0 - self.out) * self.out


class Tanh:
    """A tanh layer in the books' idiom (the second book's RNN applies tanh inline): out = tanh(x)."""

    def __init__(self):
        self.out = None
        self.params, self.grads = [], []

    def forward(self, x):
        """Returns tanh(x), kept as self.out for backward."""
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        """Returns dx = dout * (1 - out ** 2)."""
        return dout * (1.0 - self.out ** 2)


class Affine:
    """The first book's common/layers.py Affine layer: out = x @ W + b, x flattened to (N, -1)."""

    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.original_x_shape = None
        self.dW, self.db = np.zeros_like(W), np.zeros_like(b)
        self.params, self.grads = [W, b], [self.dW, self.db]

    def forward(self, x):
        """Returns x @ W + b, of shape (N, W.shape[1]), for x reshaped to (N, -1); keeps x and its shape."""
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        """Writes dW and db in place and returns dx, the gradient with respect to x, in x's original shape."""
        dx = np.dot(dout, self.W.T)
        self.dW[...] = np.dot(self.x.T, dout)
        self.db[...] = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class MatMul:
    """The second book's common/layers.py MatMul layer: out = x @ W, no bias."""

    def __init__(self, W):
        self.params, self.grads = [W], [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        """Returns x @ W; keeps x for backward."""
        self.x = x
        return np.dot(x, self.params[0])

    def backward(self, dout):
        """Writes dW = x.T @ dout into grads[0] in place and returns dx = dout @ W.T."""
        dx = np.dot(dout, self.params[0].T)
        self.grads[0][...] = np.dot(self.x.T, dout)
        return dx


class Softmax:
    """The second book's common/layers.py Softmax layer: out = softmax(x) over the last axis."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        """Returns softmax(x), kept as self.out for backward."""
        self.out = softmax(x)
        return self.out

    def backward(self, dout):
        """Returns dx = out * dout - out * sum(out * dout, axis=1), the softmax Jacobian applied to dout."""
        dx = self.out * dout
        sumdx = np.sum(dx, axis=1, keepdims=True)
        dx -= self.out * sumdx
        return dx


class SoftmaxWithLoss:
    """The first book's common/layers.py SoftmaxWithLoss layer: softmax, then cross-entropy error."""

    def __init__(self):
        self.loss = self.y = self.t = None
        self.params, self.grads = [], []

    def forward(self, x, t):
        """Returns the batch-mean cross-entropy of softmax(x) against t (class indices or one-hot); keeps y and t."""
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        """Returns dx = (y - t) * dout / N, with integer or one-hot t."""
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            return (self.y - self.t) * dout / batch_size
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx * dout / batch_size


class SigmoidWithLoss:
    """The second book's common/layers.py SigmoidWithLoss layer: sigmoid, then binary cross-entropy."""

    def __init__(self):
        self.loss = self.y = self.t = None
        self.params, self.grads = [], []

    def forward(self, x, t):
        """Returns the binary cross-entropy of y = sigmoid(x) against the 0/1 labels t; keeps y and t."""
        self.t = t
        self.y = 1 / (1 + np.exp(-x))
        self.loss = cross_entropy_error(np.c_[1 - self.y, self.y], self.t)
        return self.loss

    def backward(self, dout=1):
        """Returns dx = (y - t) * dout / N."""
        batch_size = self.t.shape[0]
        return (self.y - self.t) * dout / batch_size


class Dropout:
    """The first book's (non-inverted) dropout: scale by (1 - ratio) at test time."""

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None
        self.params, self.grads = [], []

    def forward(self, x, train_flg=True):
        """Training: returns x * mask for a new mask rand > dropout_ratio; else returns x * (1 - dropout_ratio)."""
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        """Returns dx = dout * mask, the mask of the last training forward."""
        return dout * self.mask


class BatchNormalization:
    """The first book's common/layers.py BatchNormalization layer: out = gamma * xn + beta."""

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma, self.beta = gamma, beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean, self.running_var = running_mean, running_var
        self.batch_size = self.xc = self.xn = self.std = None
        self.dgamma, self.dbeta = np.zeros_like(gamma), np.zeros_like(beta)
        self.params, self.grads = [gamma, beta], [self.dgamma, self.dbeta]

    def forward(self, x, train_flg=True):
        """Returns gamma * xn + beta in x's shape; xn uses the batch mean and variance when train_flg (also updating the
        running ones), else the running ones."""
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1])
            self.running_var = np.zeros(x.shape[1])
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc ** 2, axis=0)
            std = np.sqrt(var + 10e-7)
            xn = xc / std
            self.batch_size, self.xc, self.xn, self.std = x.shape[0], xc, xn, std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xc = x - self.running_mean
            xn = xc / (np.sqrt(self.running_var + 10e-7))
        out = self.gamma * xn + self.beta
        return out.reshape(*self.input_shape)

    def backward(self, dout):
        """Writes dgamma and dbeta in place and returns dx, the gradient with respect to x, in x's original shape."""
        dout = dout.reshape(dout.shape[0], -1)
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma[...], self.dbeta[...] = dgamma, dbeta
        return dx.reshape(*self.input_shape)


class Embedding:
    """The second book's common/layers.py Embedding layer: out = W[idx]."""

    def __init__(self, W):
        self.params, self.grads = [W], [np.zeros_like(W)]
        self.idx = None

    def forward(self, idx):
        """Returns W[idx], the rows of W for the indices idx; keeps idx."""
        self.idx = idx
        return self.params[0][idx]

    def backward(self, dout):
        """Zeroes grads[0], then adds dout[i] into its row idx[i] in place (np.add.at sums repeats); returns None."""
        dW = self.grads[0]
        dW[...] = 0
        np.add.at(dW, self.idx, dout)
        return None


class Convolution:
    """The first book's common/layers.py Convolution layer: im2col, one matrix product with the filters, the bias.

    ``params``/``grads`` as the other reference layers (dW and db written in place); ``x``, ``col`` and ``col_W``
    as the book keeps them for backward."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b = W, b
        self.stride, self.pad = stride, pad
        self.x = self.col = self.col_W = None
        self.dW, self.db = np.zeros_like(W), np.zeros_like(b)
        self.params, self.grads = [W, b], [self.dW, self.db]

    def forward(self, x):
        """Returns the (N, FN, OH, OW) convolution of x (a transposed view, as in the book)."""
        n_filters, _, filter_h, filter_w = self.W.shape
        n, _, h, w = x.shape
        out_h = (h + 2 * self.pad - filter_h) // self.stride + 1
        out_w = (w + 2 * self.pad - filter_w) // self.stride + 1
        self.x = x
        self.col = im2col(x, filter_h, filter_w, self.stride, self.pad)
        self.col_W = self.W.reshape(n_filters, -1).T
        out = np.dot(self.col, self.col_W) + self.b
        return out.reshape(n, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        """Writes dW and db in place and returns dx, the gradient with respect to x."""
        n_filters, _, filter_h, filter_w = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, n_filters)
        self.db[...] = np.sum(dout, axis=0)
        self.dW[...] = np.dot(self.col.T, dout).T.reshape(self.W.shape)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, filter_h, filter_w, self.stride, self.pad)


class Pooling:
    """The first book's common/layers.py Pooling layer (max pooling) with ``x`` and ``arg_max`` kept for backward.

    The output size counts the padding (the book's Pooling leaves it out and so fails for pad > 0)."""

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride, self.pad = stride, pad
        self.x = self.arg_max = None
        self.params, self.grads = [], []

    def forward(self, x):
        """Returns the (N, C, OH, OW) window maxima of x."""
        n, c, h, w = x.shape
        out_h = (h + 2 * self.pad - self.pool_h) // self.stride + 1
        out_w = (w + 2 * self.pad - self.pool_w) // self.stride + 1
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad).reshape(-1, self.pool_h * self.pool_w)
        self.x = x
        self.arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        return out.reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)

    def backward(self, dout):
        """Returns dx: each dout entry added at its window's arg_max pixel."""
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1)
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.reshape(-1)
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)
