"""Reference twins of fastnn's non-recurrent time layers (fastnn/kernels/time_wise.py), in the second book's
vectorised NumPy idiom: every time step at once on (N*T, ...) rows. Outputs follow the inputs' dtype."""
import numpy as np

CE_DELTA = 1e-7


class TimeEmbedding:
    """out[n, t] = W[xs[n, t]]; backward zeroes grads[0] and adds dout's rows at the ids (np.add.at)."""

    def __init__(self, W):
        self.params, self.grads = [W], [np.zeros_like(W)]
        self.xs = None

    def forward(self, xs):
        """Returns W[xs], of shape xs.shape + (D,)."""
        self.xs = xs
        return self.params[0][xs]

    def backward(self, dout):
        """Writes dW in place; returns None."""
        dW = self.grads[0]
        dW[...] = 0
        np.add.at(dW, self.xs.reshape(-1), dout.reshape(-1, dW.shape[1]))
        return None


class TimeAffine:
    """out = x @ W + b over all N*T rows."""

    def __init__(self, W, b):
        self.params, self.grads = [W, b], [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        """Returns x @ W + b of shape (N, T, M)."""
        N, T, D = x.shape
        W, b = self.params
        self.x = x
        return (x.reshape(N * T, D) @ W + b).reshape(N, T, -1)

    def backward(self, dout):
        """Writes dW, db in place; returns dx."""
        N, T, D = self.x.shape
        W = self.params[0]
        d = dout.reshape(N * T, -1)
        self.grads[0][...] = self.x.reshape(N * T, D).T @ d
        self.grads[1][...] = d.sum(axis=0)
        return (d @ W.T).reshape(N, T, D)


def _log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


class TimeSoftmaxWithLoss:
    """The mean over the rows whose label is not -1 of -log softmax(xs)[label]; ts ids (N, T) or one-hot."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, xs, ts):
        """Returns the loss (float64)."""
        N, T, V = xs.shape
        if ts.ndim == 3:
            ts = ts.argmax(axis=2)
        ts = ts.reshape(-1)
        mask = ts != -1
        logp = _log_softmax(xs.reshape(N * T, V).astype(np.float64))
        picked = logp[np.arange(N * T), np.where(mask, ts, 0)]
        self.cache = (ts, mask, np.exp(logp).astype(xs.dtype), xs.shape)
        return -np.sum(picked[mask]) / mask.sum()

    def backward(self, dout=1):
        """Returns dxs = (softmax - onehot) * dout / (rows counted), zero on ignored rows."""
        ts, mask, y, shape = self.cache
        dx = y.copy()
        rows = np.arange(len(ts))[mask]
        dx[rows, ts[mask]] -= 1
        dx *= dout / mask.sum()
        dx[~mask] = 0
        return dx.reshape(shape)


class Simple_TimeSoftmaxWithLoss(TimeSoftmaxWithLoss):
    """The mean over every row of -log(softmax(xs)[label] + 1e-7)."""

    def forward(self, xs, ts):
        """Returns the loss in xs's dtype."""
        N, T, V = xs.shape
        if ts.ndim == 3:
            ts = ts.argmax(axis=2)
        ts = ts.reshape(-1)
        y = np.exp(_log_softmax(xs.reshape(N * T, V).astype(np.float64)))
        self.cache = (ts, np.ones(len(ts), bool), y.astype(xs.dtype), xs.shape)
        return xs.dtype.type(-np.mean(np.log(y[np.arange(N * T), ts] + CE_DELTA)))


class Simple_TimeAffine:
    """TimeAffine with the attributes W, b, dW, db."""

    def __init__(self, W, b):
        self.W, self.b = W, b
        self.dW = self.db = None
        self._layer = TimeAffine(W, b)

    def forward(self, xs):
        """Returns xs @ W + b."""
        return self._layer.forward(xs)

    def backward(self, dout):
        """Binds dW and db; returns dxs."""
        dx = self._layer.backward(dout)
        self.dW, self.db = self._layer.grads[0].copy(), self._layer.grads[1].copy()
        return dx


class TimeSigmoidWithLoss:
    """The mean binary cross-entropy -log(p + 1e-7) of sigmoid(xs) against 0/1 labels ts, both (N, T)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.y = self.ts = None

    def forward(self, xs, ts):
        """Returns the loss."""
        self.y, self.ts = 1 / (1 + np.exp(-xs)), ts
        p = np.where(ts == 1, self.y, 1 - self.y)
        return -np.mean(np.log(p + CE_DELTA))

    def backward(self, dout=1):
        """Returns dxs = (y - ts) * dout / (N * T)."""
        return (self.y - self.ts.astype(self.y.dtype)) * (dout / self.ts.size)


class TimeDropout:
    """Inverted dropout: mask = (rand(*xs.shape) > ratio) / (1 - ratio), float32; eval passes xs through."""

    def __init__(self, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.mask = None
        self.train_flg = True

    def forward(self, xs):
        """Returns xs * mask in training, xs otherwise."""
        if not self.train_flg:
            return xs
        keep = np.random.rand(*xs.shape) > self.dropout_ratio
        self.mask = keep.astype(np.float32) * np.float32(1 / (1 - self.dropout_ratio))
        return xs * self.mask

    def backward(self, dout):
        """Returns dout * mask."""
        return dout * self.mask
