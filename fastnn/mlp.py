"""Raschka's "Python Machine Learning" (2nd/3rd ed.) chapter 12 ``NeuralNetMLP`` on compiled kernels.

Drop-in: same constructor, attributes (``w_h, b_h, w_out, b_out, eval_, random, n_hidden, l2, epochs, eta,
shuffle, minibatch_size``), methods and progress line as the book's class, and the same ``RandomState`` draws
(weights, then one shuffle per epoch), so the same seed gives the same weights and ``eval_`` to rounding. Each
epoch's minibatch loop runs in one kernel call (fastnn/kernels/mlp.py).

Differences: inputs are validated first (TypeError/ValueError naming the argument), which also refuses what
the book would run with silently wrong or nan results: NaN/inf features, labels that are not 1-D integers
0..C-1 (C = number of distinct training labels), validation labels outside that range; ``predict`` before
``fit`` raises :class:`NotFittedError`. Keyword-only extras: ``verbose=False`` silences the progress line;
``dtype=np.float32`` trains in float32 (faster, results close to but not the book's). By default training is in
float64 whatever the input dtype, as in the book, whose float64 weights make every product float64.
"""
import sys

import numpy as np

from . import _checks
from ._dispatch import lazy_kernels

kernels = lazy_kernels("mlp")

__all__ = ["NeuralNetMLP", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """predict (or _forward) called before fit. An AttributeError too, as the book's class raises one."""


class NeuralNetMLP(object):
    """Feedforward neural network / multi-layer perceptron classifier (one sigmoid hidden layer, sigmoid
    outputs, logistic cost, L2-regularised minibatch gradient descent).

    Parameters (the book's): n_hidden (30), l2 (0.), epochs (100), eta (0.001), shuffle (True), minibatch_size
    (1), seed (None: fresh entropy). fastnn extras, keyword-only: verbose (True) writes the book's progress line
    to stderr after every epoch; dtype (np.float64, the book's precision, or np.float32) is the precision of the
    weights and of all training arithmetic.

    Attributes after fit: ``w_h (n_features, n_hidden)``, ``b_h``, ``w_out (n_hidden, n_classes)``, ``b_out``
    and ``eval_``, a dict of per-epoch lists ``'cost'``, ``'train_acc'``, ``'valid_acc'``.
    """

    def __init__(self, n_hidden=30, l2=0., epochs=100, eta=0.001, shuffle=True, minibatch_size=1, seed=None,
                 *, verbose=True, dtype=np.float64):
        self.random = np.random.RandomState(seed)
        self.n_hidden = n_hidden
        self.l2 = l2
        self.epochs = epochs
        self.eta = eta
        self.shuffle = shuffle
        self.minibatch_size = minibatch_size
        self.verbose = verbose
        self.dtype = dtype
        self._check_hyperparameters()

    def _check_hyperparameters(self):
        """Checked at construction and again in fit, since the book's attributes may be reassigned."""
        _checks.integer(self.n_hidden, "n_hidden", minimum=1)
        _checks.integer(self.epochs, "epochs", minimum=0)
        _checks.integer(self.minibatch_size, "minibatch_size", minimum=1)
        _checks.real_number(self.eta, "eta", positive=True)
        _checks.real_number(self.l2, "l2", nonnegative=True)
        _training_dtype(self.dtype)

    # ------------------------------------------------------------------------------- the book's helpers
    def _onehot(self, y, n_classes):
        """One-hot rows (n_examples, n_classes) of integer labels y, as float64."""
        onehot = np.zeros((y.shape[0], n_classes))
        onehot[np.arange(y.shape[0]), y.astype(int)] = 1.
        return onehot

    def _sigmoid(self, z):
        """1 / (1 + exp(-clip(z, -250, 250))), elementwise."""
        z = _checks.float_array(z, "z")
        out = np.empty_like(z)
        kernels.sigmoid(z.reshape(-1), out.reshape(-1))
        return out if out.ndim else out[()]

    def _forward(self, X):
        """(z_h, a_h, z_out, a_out) for the rows of X."""
        w_h, b_h, w_out, b_out = self._parameters()
        X = self._features(X, "X", w_h)
        n = X.shape[0]
        z_h, a_h = np.empty((n, w_h.shape[1]), X.dtype), np.empty((n, w_h.shape[1]), X.dtype)
        z_out, a_out = np.empty((n, w_out.shape[1]), X.dtype), np.empty((n, w_out.shape[1]), X.dtype)
        kernels.forward(X, w_h, b_h, w_out, b_out, z_h, a_h, z_out, a_out)
        return z_h, a_h, z_out, a_out

    def _compute_cost(self, y_enc, output):
        """Logistic cost of sigmoid outputs against one-hot targets, plus the L2 penalty on the weights."""
        l2_term = self.l2 * (np.sum(self.w_h ** 2.) + np.sum(self.w_out ** 2.))
        term1 = -y_enc * np.log(output)
        term2 = (1. - y_enc) * np.log(1. - output)
        return np.sum(term1 - term2) + l2_term

    def predict(self, X):
        """Returns the class labels: the argmax of the output layer's net input for each row of X."""
        z_out = self._forward(X)[2]
        y_pred = np.empty(z_out.shape[0], dtype=np.intp)
        kernels.argmax_rows(z_out, y_pred)
        return y_pred

    # ------------------------------------------------------------------------------------------- fit
    def fit(self, X_train, y_train, X_valid, y_valid):
        """Learn the weights by minibatch gradient descent for ``epochs`` epochs; returns self."""
        self._check_hyperparameters()
        dtype = _training_dtype(self.dtype)
        X_train = _checks.float_array(X_train, "X_train", dtype=dtype, ndim=2, allow_empty=False)
        _finite(X_train, "X_train")
        X_valid = _checks.float_array(X_valid, "X_valid", dtype=dtype, ndim=2, allow_empty=False)
        _finite(X_valid, "X_valid")
        if X_valid.shape[1] != X_train.shape[1]:
            raise ValueError(f"X_valid must have as many columns (features) as X_train ({X_train.shape[1]}); "
                             f"got shape {X_valid.shape}")
        n_output = _n_classes(y_train)  # the book's np.unique(y_train).shape[0]
        y_train = _labels(y_train, X_train.shape[0], n_output, "y_train", "X_train")
        y_valid = _labels(y_valid, X_valid.shape[0], n_output, "y_valid", "X_valid")

        # the book's draw order: b_h, w_h, b_out, w_out (the biases draw nothing)
        n_features = X_train.shape[1]
        self.b_h = np.zeros(self.n_hidden, dtype)
        self.w_h = self.random.normal(loc=0.0, scale=0.1, size=(n_features, self.n_hidden)).astype(dtype, copy=False)
        self.b_out = np.zeros(n_output, dtype)
        self.w_out = self.random.normal(loc=0.0, scale=0.1, size=(self.n_hidden, n_output)).astype(dtype, copy=False)

        self.eval_ = {'cost': [], 'train_acc': [], 'valid_acc': []}
        step = _MinibatchBuffers(min(self.minibatch_size, X_train.shape[0]), n_features, self.n_hidden,
                                 n_output, dtype)
        eta, l2 = dtype.type(self.eta), dtype.type(self.l2)
        for i in range(self.epochs):
            indices = np.arange(X_train.shape[0])
            if self.shuffle:
                self.random.shuffle(indices)
            if self.minibatch_size <= X_train.shape[0]:  # else the book's loop runs no minibatch at all
                kernels.sgd_epoch(X_train, y_train, indices, eta, l2, self.w_h, self.b_h, self.w_out,
                                  self.b_out, *step.arrays())
            self._evaluate_epoch(i, X_train, y_train, X_valid, y_valid)
        return self

    def _evaluate_epoch(self, i, X_train, y_train, X_valid, y_valid):
        """The book's end-of-epoch bookkeeping: cost on the whole training set, both accuracies, progress."""
        _, _, z_out, a_out = self._forward(X_train)
        l2_term = self.l2 * (np.sum(self.w_h ** 2.) + np.sum(self.w_out ** 2.))
        cost = np.float64(kernels.logistic_cost(a_out, y_train)) + l2_term
        train_pred = np.empty_like(y_train)
        kernels.argmax_rows(z_out, train_pred)
        train_acc = np.sum(y_train == train_pred).astype(float) / X_train.shape[0]
        valid_acc = np.sum(y_valid == self.predict(X_valid)).astype(float) / X_valid.shape[0]
        if self.verbose:
            sys.stderr.write('\r%0*d/%d | Cost: %.2f | Train/Valid Acc.: %.2f%%/%.2f%% ' %
                             (len(str(self.epochs)), i + 1, self.epochs, cost, train_acc * 100, valid_acc * 100))
            sys.stderr.flush()
        self.eval_['cost'].append(cost)
        self.eval_['train_acc'].append(train_acc)
        self.eval_['valid_acc'].append(valid_acc)

    # ------------------------------------------------------------------------------------------ checks
    def _parameters(self):
        """The fitted (w_h, b_h, w_out, b_out) as C-contiguous arrays of one float dtype, shapes checked."""
        try:
            w_h, b_h, w_out, b_out = self.w_h, self.b_h, self.w_out, self.b_out
        except AttributeError:
            raise NotFittedError("this NeuralNetMLP is not fitted yet: call fit(X_train, y_train, X_valid, "
                                 "y_valid) before predict") from None
        w_h = _checks.float_array(w_h, "w_h", ndim=2)
        dtype = w_h.dtype
        b_h = _checks.float_array(b_h, "b_h", dtype=dtype, ndim=1)
        w_out = _checks.float_array(w_out, "w_out", dtype=dtype, ndim=2)
        b_out = _checks.float_array(b_out, "b_out", dtype=dtype, ndim=1)
        if not (b_h.shape[0] == w_h.shape[1] == w_out.shape[0] and b_out.shape[0] == w_out.shape[1]):
            raise ValueError(f"inconsistent weight shapes: w_h {w_h.shape}, b_h {b_h.shape}, w_out {w_out.shape}, "
                             f"b_out {b_out.shape}")
        return w_h, b_h, w_out, b_out

    @staticmethod
    def _features(X, name, w_h):
        X = _checks.float_array(X, name, dtype=w_h.dtype, ndim=2)
        if X.shape[1] != w_h.shape[0]:
            raise ValueError(f"{name} must have {w_h.shape[0]} columns (the features the model was fitted on); "
                             f"got shape {X.shape}")
        return X


class _MinibatchBuffers:
    """Scratch arrays for one minibatch size, allocated once per fit and reused by every step."""

    def __init__(self, rows, n_features, n_hidden, n_output, dtype):
        self.xb = np.empty((rows, n_features), dtype)
        self.yb = np.empty(rows, np.intp)
        self.a_h = np.empty((rows, n_hidden), dtype)
        self.d_out = np.empty((rows, n_output), dtype)
        self.d_h = np.empty((rows, n_hidden), dtype)
        self.g_w_h = np.empty((n_features, n_hidden), dtype)
        self.g_w_out = np.empty((n_hidden, n_output), dtype)

    def arrays(self):
        """In sgd_epoch's argument order."""
        return self.xb, self.yb, self.a_h, self.d_out, self.d_h, self.g_w_h, self.g_w_out


def _training_dtype(dtype):
    """The dtype argument as np.dtype('float32') or np.dtype('float64'), or TypeError."""
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None
    if resolved is None or resolved not in _checks.FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64; got {dtype!r}")
    return resolved


def _finite(X, name):
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must hold finite numbers; got NaN or inf")


def _n_classes(y_train):
    """The book's number of outputs, np.unique(y_train).shape[0] (0 for non-numeric y; _labels refuses it)."""
    y = _checks.as_array(y_train, "y_train")
    return np.unique(y).shape[0] if y.dtype.kind in "iuf" else 0


def _labels(y, n_rows, n_output, name, x_name):
    """1-D integer labels in [0, n_output), one per row of the features. The book one-hot encodes labels by
    indexing, so they must be 0..C-1 with C the number of distinct training labels."""
    y = _checks.as_array(y, name)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of class labels; got a {y.ndim}-D array of shape {y.shape}")
    if y.shape[0] != n_rows:
        raise ValueError(f"{name} must hold one label per row of {x_name} ({n_rows}); got {y.shape[0]}")
    return _checks.class_labels(y, n_rows, n_output, name)
