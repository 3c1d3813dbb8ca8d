"""Drop-ins for scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` on compiled kernels
(``from fastnn.sklearn import MLPClassifier`` instead of ``from sklearn.neural_network import ...``).

Same constructor parameters, defaults and meanings (the regressor's ``loss`` too), the same methods (``fit`` with
``sample_weight``, ``partial_fit``, ``predict``, ``predict_proba``, ``predict_log_proba``, ``score``) and learned
attributes, and the same numbers: the same ``random_state`` draws in the same order (Glorot-uniform weights,
scikit-learn's ``train_test_split`` for early stopping and its ``shuffle`` of the row indices every epoch),
scikit-learn's formulas in its order of operations for the forward pass, losses, gradients, Adam and SGD
(momentum, Nesterov, the three learning-rate schedules) and its stopping rules; L-BFGS is SciPy's, on the
compiled loss and gradient. In float64 the fitted coefficients agree with scikit-learn's to about 1e-14 relative
for sgd and adam, 1e-11 for lbfgs (tests/test_sklearn.py); what is compiled is each epoch's whole minibatch loop
(fastnn/kernels/sk_mlp.py) and each L-BFGS evaluation.

Sparse X (SciPy's matrices and arrays, any format scikit-learn's ``check_array`` takes; converted once to CSR) is
fitted and predicted without densifying: the first layer's products ``X @ W0`` and ``X.T @ delta`` run as compiled
sparse-dense kernels on the CSR arrays in scipy's order (so the numbers are scikit-learn's on CSR input); W0's
gradient is made row by row inside the optimizer's pass over the parameters, from the batch laid out by column. The
constructor parameters are checked when fit (or a first partial_fit) starts, by scikit-learn's own machinery
(``_fit_context``) against its MLP classes' ``_parameter_constraints``: the same values are refused, with the same
message and scikit-learn's ``InvalidParameterError``.

Differences: float32 input is computed in float32 throughout (scikit-learn mixes in float64 at places, e.g. Adam's
step size and L-BFGS), so float32 results agree to float32 rounding only; CSC input is converted to CSR (scikit-learn
computes on it as CSC: the weight gradient's sums may then differ in the last bit); the learned
``coefs_``/``intercepts_`` are views of one packed parameter vector (still one ndarray each; assigning new arrays is
picked up by the next fit or predict).
"""
import warnings
from numbers import Real

import numpy as np
import scipy.optimize
import scipy.sparse

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as err:  # pragma: no cover - the extra is missing
    raise ImportError("fastnn.sklearn needs scikit-learn: pip install scikit-learn") from err
from sklearn import neural_network as _sk
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_array, check_random_state, column_or_1d, shuffle
from sklearn.utils._param_validation import InvalidParameterError  # re-exported (__all__): scikit-learn's class
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from .kernels import sk_mlp as K
from .threads import _one_blas_thread

__all__ = ["MLPClassifier", "MLPRegressor", "InvalidParameterError"]

_ACTIVATIONS = {"identity": K.IDENTITY, "logistic": K.LOGISTIC, "tanh": K.TANH, "relu": K.RELU,
                "softmax": K.SOFTMAX, "exp": K.EXP}
_LOSSES = {"squared_error": K.SQUARED, "log_loss": K.LOG_LOSS, "binary_log_loss": K.BINARY_LOG_LOSS,
           "poisson": K.POISSON}
_SCIPY_HAS_IPRINT = tuple(int(p) for p in scipy.__version__.split(".")[:2]) < (1, 15)


# --- sparse X ------------------------------------------------------------------------------------------------------
class _SparseRows:
    """Rows of a checked CSR matrix as the sparse kernels take them: ``data`` (one float dtype), ``indices``,
    ``indptr`` and ``rows`` (int64; X is the matrix's rows ``rows``, in order) and ``n_features``."""

    def __init__(self, data, indices, indptr, rows, n_features):
        self.data, self.indices, self.indptr, self.rows = data, indices, indptr, rows
        self.shape = (rows.size, n_features)
        self.dtype = data.dtype

    def take(self, rows):
        """The rows ``rows`` (positions in self) of this X, sharing the arrays."""
        return _SparseRows(self.data, self.indices, self.indptr, self.rows[rows], self.shape[1])

    def arrays(self, dtype):
        """(data in dtype, indices, indptr, rows): the sparse kernels' arguments."""
        return self.data.astype(dtype, copy=False), self.indices, self.indptr, self.rows


def _sparse_rows(X, dtype):
    """The CSR matrix X (scikit-learn's check_array made it: finite data in a float dtype) as _SparseRows, data in
    ``dtype``, after the checks the compiled code relies on (a malformed matrix would make it read out of bounds):
    integer index arrays, an index pointer of n_rows + 1 entries from 0, never decreasing, ending within the
    stored entries, and column indices in [0, n_features). Unsorted and repeated column indices are valid CSR
    (scipy sums repeats) and are computed as scipy computes them."""
    n_rows, n_features = X.shape
    indptr, indices, data = np.asarray(X.indptr), np.asarray(X.indices), np.asarray(X.data)
    for name, a in (("indptr", indptr), ("indices", indices)):
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise ValueError(f"Sparse X's {name} must be a 1-d array of integers, got dtype {a.dtype} and shape "
                             f"{a.shape}.")
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"Sparse X's indptr has {indptr.shape[0]} entries, expected n_rows + 1 = {n_rows + 1}.")
    nnz = int(indptr[-1])
    if indptr[0] != 0 or np.any(indptr[1:] < indptr[:-1]) or nnz > min(indices.shape[0], data.shape[0]):
        raise ValueError("Sparse X's indptr is not a CSR index pointer: it must start at 0, never decrease and end "
                         f"at most at the number of stored entries ({min(indices.shape[0], data.shape[0])}).")
    indices = indices[:nnz]
    if nnz and (indices.min() < 0 or indices.max() >= n_features):
        raise ValueError(f"Sparse X has column indices outside [0, {n_features}): from {indices.min()} to "
                         f"{indices.max()}.")
    return _SparseRows(np.ascontiguousarray(data[:nnz], dtype=dtype), np.ascontiguousarray(indices, np.int64),
                       np.ascontiguousarray(indptr, np.int64), np.arange(n_rows, dtype=np.int64), n_features)


def _sample_weight(sample_weight, X):
    """scikit-learn's reading of sample_weight: None, one number for every row, or one finite value per row, not
    all zero; returned in X's dtype."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, Real):
        return np.full(X.shape[0], sample_weight, dtype=X.dtype)
    sw = check_array(sample_weight, ensure_2d=False, dtype=X.dtype, order="C", input_name="sample_weight")
    if sw.ndim != 1 or sw.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(X.shape[0],)}!")
    if not np.any(sw):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sw


def _weights(sample_weight, dtype):
    """(weights, use them): the kernels take an empty array for no weights."""
    return (np.empty(0, dtype), False) if sample_weight is None else (sample_weight, True)


def _epoch(est, theta, X, Y, sw, idx, batch_size, net, *optimizer):
    """One compiled epoch on the rows idx of X (an array or _SparseRows); ``optimizer``: the epoch kernels' solver
    arguments. Returns (the summed batch losses, Adam's step count after the epoch)."""
    if isinstance(X, _SparseRows):
        run, rows = K.stochastic_epoch_sparse, X.arrays(X.dtype)[:3]  # idx are rows of the whole matrix
    else:
        run, rows = K.stochastic_epoch, (X,)
    widest = max(c.size for c in est.coefs_)
    with _one_blas_thread(min(batch_size, len(idx)), widest):  # per batch: the products the epoch's loop runs
        return run(theta, *net, *rows, Y, *_weights(sw, X.dtype), idx, batch_size, est._hidden_code,
                   est._out_code, est._loss_code, est.alpha, *optimizer)


# --- the optimizers' state (packed like the parameters) ----------------------------------------------------------
class _Adam:
    def __init__(self, size, dtype, est):
        self.learning_rate_init = self.learning_rate = float(est.learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = est.beta_1, est.beta_2, est.epsilon
        self.t = 0
        self.ms, self.vs = np.zeros(size, dtype), np.zeros(size, dtype)

    def epoch(self, est, theta, X, Y, sw, idx, batch_size, net):
        loss, self.t = _epoch(est, theta, X, Y, sw, idx, batch_size, net, K.ADAM, self.ms, self.vs, self.t,
                              self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon, 0.0, False)
        return loss

    def iteration_ends(self, time_step):
        pass

    def trigger_stopping(self, msg, verbose):
        if verbose:
            print(msg + " Stopping.")
        return True


class _SGD:
    def __init__(self, size, dtype, est):
        self.learning_rate_init = est.learning_rate_init
        self.learning_rate = float(est.learning_rate_init)
        self.lr_schedule, self.power_t = est.learning_rate, est.power_t
        self.momentum, self.nesterov = est.momentum, est.nesterovs_momentum
        self.velocity = np.zeros(size, dtype)

    def epoch(self, est, theta, X, Y, sw, idx, batch_size, net):
        loss, _ = _epoch(est, theta, X, Y, sw, idx, batch_size, net, K.SGD, self.velocity, self.velocity, 0,
                         self.learning_rate, 0.0, 0.0, 1.0, self.momentum, bool(self.nesterov))
        return loss

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


# --- the shared estimator --------------------------------------------------------------------------------------
class _BaseMLP(BaseEstimator):
    _loss_name = None  # log_loss for the classifier; the regressor's ``loss`` parameter

    # packing: theta holds coefs_ then intercepts_ (scikit-learn's _pack order)
    def _layout(self):
        units = np.array([c.shape[0] for c in self.coefs_] + [self.coefs_[-1].shape[1]], dtype=np.int64)
        sizes = [c.size for c in self.coefs_] + [b.size for b in self.intercepts_]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        L = len(self.coefs_)
        return starts[:L + 1].copy(), starts[L:].copy(), units

    def _pack(self, dtype):
        return np.concatenate([np.ravel(p) for p in self.coefs_ + self.intercepts_]).astype(dtype)

    def _unpack(self, theta, layout):
        coef_at, icpt_at, units = layout
        self.coefs_ = [theta[coef_at[i]:coef_at[i + 1]].reshape(units[i], units[i + 1])
                       for i in range(len(units) - 1)]
        self.intercepts_ = [theta[icpt_at[i]:icpt_at[i + 1]] for i in range(len(units) - 1)]

    @property
    def _hidden_code(self):
        return _ACTIVATIONS[self.activation]

    @property
    def _out_code(self):
        return _ACTIVATIONS[self.out_activation_]

    @property
    def _loss_code(self):
        name = self._loss_name
        if name == "log_loss" and self.out_activation_ == "logistic":
            name = "binary_log_loss"
        return _LOSSES[name]

    # --- fitting --------------------------------------------------------------------------------------------
    def _initialize(self, y, layer_units, dtype):
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self.coefs_, self.intercepts_ = [], []
        factor = 2.0 if self.activation == "logistic" else 6.0
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))  # Glorot et al.
            self.coefs_.append(self._random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
            self.intercepts_.append(self._random_state.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        if self.solver in ("sgd", "adam"):
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.best_loss_, self.validation_scores_, self.best_validation_score_ = np.inf, None, None

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = list(self.hidden_layer_sizes) if hasattr(self.hidden_layer_sizes, "__iter__") \
            else [self.hidden_layer_sizes]
        if np.any(np.array(hidden) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % hidden)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        sample_weight = _sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        X = _sparse_rows(X, X.dtype) if scipy.sparse.issparse(X) else np.ascontiguousarray(X)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, y, sample_weight)
        else:
            self._fit_stochastic(X, y, sample_weight, incremental)
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        return self

    def _fit_lbfgs(self, X, y, sample_weight):
        layout = self._layout()
        Y = np.ascontiguousarray(y, dtype=X.dtype)
        sw, use_sw = _weights(sample_weight, X.dtype)
        size = K.workspace_size(layout[2], X.shape[0])
        acts, deltas = np.empty(size, X.dtype), np.empty(size, X.dtype)
        grad = np.empty(layout[0][-1] + layout[2][1:].sum(), X.dtype)

        def loss_and_grad(packed):
            theta = np.ascontiguousarray(packed, dtype=X.dtype)
            if isinstance(X, _SparseRows):
                loss = K.backprop_sparse(theta, *layout, *X.arrays(X.dtype), Y, sw, use_sw, self._hidden_code,
                                         self._out_code, self._loss_code, self.alpha, acts, deltas, grad)
            else:
                loss = K.backprop(theta, *layout, X, Y, sw, use_sw, self._hidden_code,
                                  self._out_code, self._loss_code, self.alpha, acts, deltas, grad)
            return loss, grad.astype(np.float64)

        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol}
        if _SCIPY_HAS_IPRINT:
            options["iprint"] = 1 if self.verbose is True or self.verbose >= 1 else -1
        res = scipy.optimize.minimize(loss_and_grad, self._pack(np.float64), method="L-BFGS-B", jac=True,
                                      options=options)
        self.n_iter_ = min(res.nit, self.max_iter)
        if res.status != 0:
            message = (f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={res.status}):\n"
                       f"{res.message}\n")
            if self.n_iter_ == self.max_iter:
                message += f"\nIncrease the number of iterations to improve the convergence (max_iter={self.max_iter})."
            message += ("\nYou might also want to scale the data as shown in:\n"
                        "    https://scikit-learn.org/stable/modules/preprocessing.html")
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        self.loss_ = res.fun
        self._unpack(np.ascontiguousarray(res.x, dtype=X.dtype), layout)

    def _validation_split(self, X, y, sample_weight):
        """(train_idx, X_val, y_val, sw_val): scikit-learn's train_test_split draws (they depend on the row count
        and, for single-output classifiers, y only), as row indices; the validation rows taken out of X."""
        stratify = y if self._is_classifier and self.n_outputs_ == 1 else None
        train_idx, val_idx = train_test_split(np.arange(X.shape[0]), random_state=self._random_state,
                                              test_size=self.validation_fraction, stratify=stratify)
        if val_idx.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             "your dataset.")
        y_val = y[val_idx]
        if self._is_classifier:
            y_val = self._label_binarizer.inverse_transform(y_val)
        X_val = X.take(val_idx) if isinstance(X, _SparseRows) else X[val_idx]
        return train_idx, X_val, y_val, None if sample_weight is None else sample_weight[val_idx]

    def _fit_stochastic(self, X, y, sample_weight, incremental):
        """The epochs of sgd or adam on X (an array or _SparseRows): the training rows go to the compiled epoch as
        indices into X, y and sample_weight in the epoch's order (nothing is copied out)."""
        theta = self._pack(X.dtype)
        layout = self._layout()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = (_SGD if self.solver == "sgd" else _Adam)(theta.size, X.dtype, self)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            train_idx, X_val, y_val, sw_val = self._validation_split(X, y, sample_weight)
        else:
            train_idx, X_val, y_val, sw_val = None, None, None, None
        Y = np.ascontiguousarray(y, dtype=X.dtype)
        n_samples = X.shape[0] if train_idx is None else train_idx.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        optimizer = self._optimizer
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = shuffle(sample_idx, random_state=self._random_state)
                idx = sample_idx if train_idx is None else train_idx[sample_idx]
                accumulated = optimizer.epoch(self, theta, X, Y, sample_weight,
                                              np.ascontiguousarray(idx, dtype=np.int64), batch_size, layout)
                self._unpack(theta, layout)
                self.n_iter_ += 1
                self.loss_ = accumulated / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                optimizer.iteration_ends(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score did not improve" if early_stopping else "Training loss did not improve"
                    msg = "%s more than tol=%f for %d consecutive epochs." % (what, self.tol, self.n_iter_no_change)
                    if optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                                  "hasn't converged yet." % self.max_iter, ConvergenceWarning, stacklevel=3)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
            self._unpack(theta, layout)
        if early_stopping:
            self.coefs_, self.intercepts_ = self._best_coefs, self._best_intercepts

    def _update_no_improvement_count(self, early_stopping, X, y, sample_weight):
        if early_stopping:
            score = self._score(X, y, sample_weight)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score(self, X, y, sample_weight):
        """The validation score on checked X: accuracy or R^2 (NaN for non-finite outputs), as scikit-learn."""
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    # --- predicting -----------------------------------------------------------------------------------------
    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse="csr", reset=False)
        dtype = np.result_type(X.dtype, self.coefs_[0].dtype, np.float32)
        out = np.empty((X.shape[0], self.n_outputs_), dtype)
        if scipy.sparse.issparse(X):
            X = _sparse_rows(X, dtype)
        if isinstance(X, _SparseRows):
            K.predict_sparse(self._pack(dtype), *self._layout(), *X.arrays(dtype), self._hidden_code,
                             self._out_code, out)
        else:
            K.predict(self._pack(dtype), *self._layout(), np.ascontiguousarray(X, dtype=dtype), self._hidden_code,
                      self._out_code, out)
        return out

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features; an array or a SciPy sparse matrix) and y (labels, or
        targets); returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _store_params(est, params):
    """Keep every constructor argument as the attribute of its name, unchanged (scikit-learn's convention)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


def _stochastic_solver(est):
    if est.solver not in ("sgd", "adam"):
        raise AttributeError("partial_fit is only available for stochastic optimizers. %s is not stochastic."
                             % est.solver)
    return True


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (scikit-learn's MLPClassifier, compiled): log-loss, softmax output
    for multi-class targets, logistic for binary and multi-label ones."""

    _loss_name = "log_loss"
    _is_classifier = True
    _parameter_constraints = dict(_sk.MLPClassifier._parameter_constraints)  # scikit-learn's entries
    _score_function = staticmethod(accuracy_score)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        _store_params(self, locals())

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    def predict(self, X):
        """The predicted classes of the rows of X."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    @available_if(_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y (sgd and adam); ``classes`` is required on the first call. Returns self."""
        first_call = getattr(self, "classes_", None) is None
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and not first_call and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError("`classes=%r` is not the same as on last call to partial_fit, was: %r"
                             % (classes, self.classes_))
        if first_call:
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = unique_labels(classes) if classes is not None else self._label_binarizer.classes_
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X):
        """Returns the class probabilities, (n_samples, n_classes); two columns for binary targets."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return np.vstack([1 - y_pred, y_pred]).T if y_pred.ndim == 1 else y_pred

    def predict_log_proba(self, X):
        """The logarithm of predict_proba."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (scikit-learn's MLPRegressor, compiled): squared error with an identity
    output, or Poisson deviance with an exp output."""

    _is_classifier = False
    _parameter_constraints = dict(_sk.MLPRegressor._parameter_constraints)
    _score_function = staticmethod(r2_score)

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        _store_params(self, locals())

    @property
    def _loss_name(self):
        return self.loss

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def predict(self, X):
        """The predicted targets of the rows of X: (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y (as scikit-learn, any solver: lbfgs runs a whole fit). Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
