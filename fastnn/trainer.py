"""Both books' ``common/trainer.py`` trainers, with the same semantics, printed lines and RNG draws.

``from fastnn.trainer import Trainer`` serves both books:

* ``Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100, optimizer='SGD', ...)``
  is the first book's trainer: each ``train_step`` draws ``np.random.choice(train_size, mini_batch_size)``
  (with replacement), updates with the named optimizer, appends the loss of that batch *after* the update to
  ``train_loss_list``, and whenever ``current_iter % iter_per_epoch == 0`` (the first step included) evaluates
  ``train_acc_list``/``test_acc_list``.
* ``Trainer(model, optimizer)`` (two arguments, the second an optimizer object) builds the second book's trainer,
  :class:`Trainer2`, with ``fit(x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20)`` and ``plot``.
  That object is a ``Trainer2``, not a ``Trainer`` (``isinstance`` tells them apart).

Given the same ``np.random.seed``, network and data, a book script prints the same lines and records the same
numbers (to the rounding of the compiled layers) as with the book's ``common`` package.

Keyword-only extras of the first-book trainer (none changes the book's behaviour unless used):

``seed``
    draw the mini-batches from ``np.random.default_rng(seed)`` instead of the global ``np.random`` state. This is
    a different stream from the book's (the batches differ from ``np.random.seed(seed)``), but it is independent of
    any other use of ``np.random`` (dropout, weight init), so two runs with the same seed pick the same batches.
``progress``
    one self-overwriting progress line on stderr (epoch, iteration, loss) instead of a "train loss:" line per
    iteration; epoch summaries and the final accuracy still print when ``verbose``.
``x_val, t_val``
    a validation set: its loss and accuracy are recorded at every epoch evaluation.
``early_stopping``
    patience in epochs: stop when the validation loss (the test loss when there is no validation set) has not
    improved for that many epoch evaluations, then copy the best parameters back into the network's own arrays.
``callbacks``
    callables ``f(trainer, epoch, logs)`` run after each epoch evaluation (``logs`` is that epoch's dict of values);
    one returning ``False`` stops training.
``loss_after_update``
    True (the book): the recorded loss is a fresh forward pass on the batch after the update. False: when the
    network has ``loss_and_gradient(x, t) -> (loss, grads)``, record the loss of the pass that produced the
    gradient and save that forward pass; networks without it keep the book's way.
``check_finite``
    True (default): a non-finite loss raises FloatingPointError naming the iteration, after copying back the last
    parameters whose loss was finite (the optimizer's state, e.g. momentum, is not rolled back). An in-place update
    cannot be undone, so this copies all parameters once per iteration into a preallocated buffer: measured at
    5 us for a 784-50-10 TwoLayerNet (about 1% of a batch-100 step) and 43 us for a 784-[100]x5-10 MultiLayerNet
    (about 2.5%). False skips the check and the copy, as in the book, where training carries on with NaN.

``history`` holds per-epoch lists: 'train_loss' (mean batch loss since the previous evaluation), 'train_acc',
'test_acc', 'val_loss', 'val_acc', 'test_loss' (only filled when early stopping monitors it) and 'epoch_time'
(seconds since the previous evaluation).
"""
import sys
import time

import numpy as np

from . import _checks
from . import optimizer as optimizers
from .util import clip_grads, remove_duplicate

__all__ = ["Trainer", "Trainer2"]

# the first book's lookup table (lower-cased names), its misspelt 'rmsprpo' kept and the obvious 'rmsprop' added
OPTIMIZER_NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
                   "rmsprpo": "RMSprop", "rmsprop": "RMSprop", "adam": "Adam"}
DEFAULT_OPTIMIZER_PARAM = {"lr": 0.01}
HISTORY_KEYS = ("train_loss", "train_acc", "test_acc", "val_loss", "val_acc", "test_loss", "epoch_time")


# --- argument checks ----------------------------------------------------------------------------------------------
def _require_methods(obj, name, methods, attrs=()):
    missing = [m for m in methods if not callable(getattr(obj, m, None))]
    missing += [a for a in attrs if not hasattr(obj, a)]
    if missing:
        raise TypeError(f"{name} must provide {', '.join(methods + tuple(attrs))}; "
                        f"{type(obj).__name__} has no {', '.join(missing)}")


def _samples(x, t, name_x, name_t, *, allow_empty=False):
    """x and t as arrays with one row per sample, the same number of rows."""
    x = _checks.as_array(x, name_x)
    t = _checks.as_array(t, name_t)
    for a, name in ((x, name_x), (t, name_t)):
        if a.ndim == 0:
            raise ValueError(f"{name} must have one row per sample; got a 0-D array")
    if len(x) != len(t):
        raise ValueError(f"{name_x} and {name_t} must have the same number of samples; got {len(x)} and {len(t)}")
    if not allow_empty and len(x) == 0:
        raise ValueError(f"{name_x} must hold at least one sample; got shape {x.shape}")
    return x, t


def _make_optimizer(optimizer, optimizer_param):
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be an optimizer name (str); got {type(optimizer).__name__}")
    key = optimizer.lower()
    if key not in OPTIMIZER_NAMES:
        valid = ", ".join(repr(k) for k in OPTIMIZER_NAMES)
        raise ValueError(f"optimizer must be one of {valid} (any case); got {optimizer!r}")
    if optimizer_param is None:
        optimizer_param = DEFAULT_OPTIMIZER_PARAM
    if not isinstance(optimizer_param, dict):
        raise TypeError(f"optimizer_param must be a dict of keyword arguments for the optimizer; "
                        f"got {type(optimizer_param).__name__}")
    cls = getattr(optimizers, OPTIMIZER_NAMES[key])
    try:
        return cls(**optimizer_param)
    except TypeError as exc:
        raise TypeError(f"optimizer_param {optimizer_param!r} does not fit {cls.__name__}: {exc}") from exc


def _seed_rng(seed):
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    seed = _checks.integer(seed, "seed", minimum=0)
    return np.random.default_rng(seed)


def _optional_integer(v, name, minimum):
    return None if v is None else _checks.integer(v, name, minimum=minimum)


def _callbacks(callbacks):
    if callable(callbacks):
        callbacks = (callbacks,)
    try:
        callbacks = tuple(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a sequence of callables; got {type(callbacks).__name__}") from None
    for i, f in enumerate(callbacks):
        _checks.callable_arg(f, f"callbacks[{i}]")
    return callbacks


def _looks_like_optimizer(obj):
    return not isinstance(obj, str) and callable(getattr(obj, "update", None))


def _second_book_call(args, kwargs):
    """True for Trainer(model, optimizer) called the second book's way (optimizer an object with update())."""
    names = ("model", "optimizer")
    if len(args) > 2 or not set(kwargs) <= set(names[len(args):]):
        return False
    bound = dict(zip(names, args), **kwargs)
    return set(bound) == set(names) and _looks_like_optimizer(bound["optimizer"])


# --- parameter snapshots (in place, so layers that hold the arrays see the restored values) ----------------------
def _param_items(params):
    items = params.items() if isinstance(params, dict) else enumerate(params)
    return [(k, v) for k, v in items if isinstance(v, np.ndarray)]


def _save_params(params, buffers):
    """Copy every parameter array into ``buffers`` (dict key -> array), allocating only when shapes change."""
    for key, value in _param_items(params):
        buf = buffers.get(key)
        if buf is None or buf.shape != value.shape or buf.dtype != value.dtype:
            buffers[key] = value.copy()
        else:
            np.copyto(buf, value)


def _restore_params(params, buffers):
    """Copy ``buffers`` back into the very parameter arrays (never rebinding them)."""
    for key, value in _param_items(params):
        if key in buffers:
            np.copyto(value, buffers[key])


def _is_finite(loss):
    return bool(np.all(np.isfinite(loss)))


# --- progress line ------------------------------------------------------------------------------------------------
class _ProgressBar:
    """One line on a stream, rewritten with '\\r' at most every ``interval`` seconds."""

    WIDTH = 24

    def __init__(self, total, stream=None, interval=0.1):
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._last_draw = -np.inf
        self._shown = 0  # characters currently on the line

    def update(self, done, epoch, epochs, loss, force=False):
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        filled = int(self.WIDTH * done / self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        text = f"epoch {epoch}/{epochs} [{bar}] iter {done}/{self.total} loss {float(loss):.4f}"
        self.stream.write("\r" + text.ljust(self._shown))
        self.stream.flush()
        self._shown = len(text)

    def clear(self):
        """Blank the line so other output starts at column 0; the next update redraws it."""
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0
            self._last_draw = -np.inf

    def close(self):
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0


# --- first book ---------------------------------------------------------------------------------------------------
class Trainer:
    """The first book's trainer (see the module docstring); ``Trainer(model, optimizer)`` returns a Trainer2."""

    def __new__(cls, *args, **kwargs):
        if cls is Trainer and _second_book_call(args, kwargs):
            return Trainer2(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param=None, evaluate_sample_num_per_epoch=None, verbose=True, *,
                 seed=None, progress=False, x_val=None, t_val=None, early_stopping=None, callbacks=(),
                 loss_after_update=True, check_finite=True):
        _require_methods(network, "network", ("gradient", "loss", "accuracy"), ("params",))
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = _samples(x_train, t_train, "x_train", "t_train")
        self.x_test, self.t_test = _samples(x_test, t_test, "x_test", "t_test")
        self.epochs = _checks.integer(epochs, "epochs", minimum=0)
        self.batch_size = _checks.integer(mini_batch_size, "mini_batch_size", minimum=1)
        self.evaluate_sample_num_per_epoch = _optional_integer(
            evaluate_sample_num_per_epoch, "evaluate_sample_num_per_epoch", 1)
        self.optimizer = _make_optimizer(optimizer, optimizer_param)

        self.train_size = self.x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / self.batch_size, 1)
        self.max_iter = int(self.epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

        # extras
        self._rng = _seed_rng(seed)
        self.progress = bool(progress)
        if (x_val is None) != (t_val is None):
            raise ValueError("x_val and t_val must be given together (a validation set needs both)")
        self.x_val, self.t_val = (None, None) if x_val is None else _samples(x_val, t_val, "x_val", "t_val")
        self.early_stopping = _optional_integer(early_stopping, "early_stopping", 1)
        self.callbacks = _callbacks(callbacks)
        self.loss_after_update = bool(loss_after_update)
        self.check_finite = bool(check_finite)
        fused = getattr(network, "loss_and_gradient", None)
        self._loss_and_gradient = fused if callable(fused) and not self.loss_after_update else None

        self.history = {key: [] for key in HISTORY_KEYS}
        self.stop_training = False
        self.best_epoch = None  # epoch whose parameters early stopping kept
        self.final_test_acc = None
        self._best_loss = np.inf
        self._best_params = {}
        self._epochs_without_improvement = 0
        self._last_finite = {}  # parameters before the latest update (check_finite)
        self._epoch_losses = []
        self._epoch_start = None
        self._bar = None

    # -- one iteration -------------------------------------------------------------------------------------------
    def _epoch_of_iter(self, iteration=None):
        """The epoch (1-based) an iteration (default: the current one) counts towards: the book evaluates epoch k
        right after iteration (k - 1) * iter_per_epoch."""
        iteration = self.current_iter if iteration is None else iteration
        return int(iteration // self.iter_per_epoch) + 1

    def _draw_batch(self):
        if self._rng is None:
            batch_mask = np.random.choice(self.train_size, self.batch_size)  # the book's draw
        else:
            batch_mask = self._rng.integers(0, self.train_size, self.batch_size)
        return self.x_train[batch_mask], self.t_train[batch_mask]

    def _non_finite(self, loss):
        """Put back the last parameters whose loss was finite and raise."""
        restored = bool(self._last_finite)
        if restored:
            _restore_params(self.network.params, self._last_finite)
        kept = ("the parameters were restored to their values before the last update" if restored
                else "the parameters are unchanged (no update had been made)")
        raise FloatingPointError(f"training loss is {loss} (not finite) at iteration {self.current_iter} "
                                 f"(0-based, epoch {self._epoch_of_iter()}); {kept}. Try a smaller learning rate.")

    def _update(self, grads):
        if self.check_finite:
            _save_params(self.network.params, self._last_finite)
        self.optimizer.update(self.network.params, grads)

    def _fit_batch(self, x_batch, t_batch):
        """Gradient, update and the recorded loss of one mini-batch."""
        network = self.network
        if self._loss_and_gradient is not None:
            loss, grads = self._loss_and_gradient(x_batch, t_batch)
            if self.check_finite and not _is_finite(loss):
                self._non_finite(loss)  # the parameters that produced it came from the previous update
            self._update(grads)
            return loss
        grads = network.gradient(x_batch, t_batch)
        self._update(grads)
        loss = network.loss(x_batch, t_batch)
        if self.check_finite and not _is_finite(loss):
            self._non_finite(loss)
        return loss

    def train_step(self):
        if self._epoch_start is None:
            self._epoch_start = time.perf_counter()
        x_batch, t_batch = self._draw_batch()
        loss = self._fit_batch(x_batch, t_batch)
        self.train_loss_list.append(loss)
        self._epoch_losses.append(loss)
        if self._bar is not None:
            self._bar.update(self.current_iter + 1, self._epoch_of_iter(), self.epochs, loss)
        elif self.verbose:
            print("train loss:" + str(loss))

        if self.current_iter % self.iter_per_epoch == 0:
            self._end_epoch()
        self.current_iter += 1

    # -- epoch evaluation ----------------------------------------------------------------------------------------
    def _eval_samples(self):
        n = self.evaluate_sample_num_per_epoch
        if n is None:
            return self.x_train, self.t_train, self.x_test, self.t_test
        return self.x_train[:n], self.t_train[:n], self.x_test[:n], self.t_test[:n]

    def _end_epoch(self):
        self.current_epoch += 1
        network = self.network
        x_train_sample, t_train_sample, x_test_sample, t_test_sample = self._eval_samples()
        train_acc = network.accuracy(x_train_sample, t_train_sample)
        test_acc = network.accuracy(x_test_sample, t_test_sample)
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)

        logs = {"train_loss": float(np.mean(self._epoch_losses)), "train_acc": float(train_acc),
                "test_acc": float(test_acc)}
        if self.x_val is not None:
            logs["val_loss"] = float(network.loss(self.x_val, self.t_val))
            logs["val_acc"] = float(network.accuracy(self.x_val, self.t_val))
        elif self.early_stopping is not None:
            logs["test_loss"] = float(network.loss(x_test_sample, t_test_sample))
        now = time.perf_counter()
        logs["epoch_time"] = now - self._epoch_start
        self._epoch_start = now
        self._epoch_losses = []
        for key, value in logs.items():
            self.history[key].append(value)

        if self._bar is not None:
            self._bar.clear()  # epoch lines and callback output start at column 0; the bar redraws after
        if self.verbose:
            self._print_epoch(train_acc, test_acc, logs)
        if self.early_stopping is not None:
            self._watch(logs["val_loss"] if self.x_val is not None else logs["test_loss"])
        for callback in self.callbacks:
            if callback(self, self.current_epoch, dict(logs, epoch=self.current_epoch)) is False:
                self.stop_training = True

    def _print_epoch(self, train_acc, test_acc, logs):
        line = "=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc) + ", test acc:" + str(test_acc)
        if "val_loss" in logs:
            line += ", val loss:" + str(logs["val_loss"]) + ", val acc:" + str(logs["val_acc"])
        print(line + " ===")

    def _watch(self, loss):
        """Early stopping: keep the best parameters so far; stop after ``early_stopping`` epochs without gain."""
        if loss < self._best_loss:
            self._best_loss = loss
            self.best_epoch = self.current_epoch
            self._epochs_without_improvement = 0
            _save_params(self.network.params, self._best_params)
        else:
            self._epochs_without_improvement += 1
            if self._epochs_without_improvement >= self.early_stopping:
                self.stop_training = True

    # -- whole run -----------------------------------------------------------------------------------------------
    def train(self):
        self.stop_training = False
        if self.progress:
            self._bar = _ProgressBar(self.max_iter)
        try:
            for _ in range(self.max_iter):
                self.train_step()
                if self.stop_training:
                    break
            if self._bar is not None and self.train_loss_list:
                self._bar.update(self.current_iter, self._epoch_of_iter(self.current_iter - 1), self.epochs,
                                 self.train_loss_list[-1], force=True)
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        if self._best_params:
            _restore_params(self.network.params, self._best_params)

        test_acc = self.network.accuracy(self.x_test, self.t_test)
        self.final_test_acc = test_acc

        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))


# --- second book --------------------------------------------------------------------------------------------------
class Trainer2:
    """The second book's trainer: ``Trainer2(model, optimizer).fit(x, t, ...)``.

    Each epoch shuffles with ``np.random.permutation(np.arange(data_size))`` and walks ``data_size // batch_size``
    consecutive mini-batches: ``model.forward(x, t)`` (the loss), ``model.backward()``, shared weights merged by
    ``remove_duplicate``, gradients clipped to ``max_grad`` (total norm) when given, ``optimizer.update``. Every
    ``eval_interval`` iterations the average loss since the last report is printed and appended to ``loss_list``.
    """

    def __init__(self, model, optimizer):
        _require_methods(model, "model", ("forward", "backward"), ("params", "grads"))
        if not _looks_like_optimizer(optimizer):
            raise TypeError(f"optimizer must be an optimizer object with an update(params, grads) method; "
                            f"got {type(optimizer).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20):
        x, t = _samples(x, t, "x", "t")
        max_epoch = _checks.integer(max_epoch, "max_epoch", minimum=0)
        batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
        if max_grad is not None:
            max_grad = _checks.real_number(max_grad, "max_grad", nonnegative=True)
        eval_interval = _optional_integer(eval_interval, "eval_interval", 1)
        data_size = len(x)
        if batch_size > data_size:
            raise ValueError(f"batch_size ({batch_size}) is larger than the number of samples ({data_size}): "
                             f"no iteration would run")

        max_iters = data_size // batch_size
        self.eval_interval = eval_interval
        model, optimizer = self.model, self.optimizer
        total_loss = 0
        loss_count = 0

        start_time = time.time()
        for _ in range(max_epoch):
            idx = np.random.permutation(np.arange(data_size))  # the book's draw
            x = x[idx]
            t = t[idx]

            for iters in range(max_iters):
                batch_x = x[iters * batch_size:(iters + 1) * batch_size]
                batch_t = t[iters * batch_size:(iters + 1) * batch_size]

                loss = model.forward(batch_x, batch_t)
                model.backward()
                params, grads = remove_duplicate(model.params, model.grads)  # shared weights counted once
                if max_grad is not None:
                    clip_grads(grads, max_grad)
                optimizer.update(params, grads)
                total_loss += loss
                loss_count += 1

                if eval_interval is not None and iters % eval_interval == 0:
                    avg_loss = total_loss / loss_count
                    elapsed_time = time.time() - start_time
                    print("| epoch %d |  iter %d / %d | time %d[s] | loss %.2f"
                          % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, avg_loss))
                    self.loss_list.append(float(avg_loss))
                    total_loss, loss_count = 0, 0

            self.current_epoch += 1

    def plot(self, ylim=None):
        import matplotlib.pyplot as plt  # optional dependency (extra "plot"), only needed here

        x = np.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label="train")
        plt.xlabel("iterations (x" + str(self.eval_interval) + ")")
        plt.ylabel("loss")
        plt.show()
