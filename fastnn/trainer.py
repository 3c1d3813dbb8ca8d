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
    True (default): a non-finite loss, or a parameter holding NaN or inf after an update (a -inf bias behind a
    ReLU can leave the loss finite), raises FloatingPointError naming the iteration (and the parameter), after
    copying back the last parameters that were finite and gave a finite loss (the optimizer's state, e.g.
    momentum, is not rolled back). An in-place update cannot be undone, so this copies all parameters once per
    iteration into a preallocated buffer and checks them after the update: copy and check measured at 15 us for a
    784-50-10 TwoLayerNet (about 4% of a 0.4 ms batch-100 step) and 51 us for a 784-[100]x5-10 MultiLayerNet
    (about 2%). False skips the checks and the copy, as in the book, where training carries on with NaN.
``checkpoint_every``, ``checkpoint_path``
    save a checkpoint (see below) to ``checkpoint_path`` after every ``checkpoint_every``-th epoch evaluation;
    ``'{epoch}'`` in the path is replaced by the epoch number (one file per epoch), else the file is replaced.

Checkpoints: ``trainer.save_checkpoint(path)`` writes one .npz file (atomically; no pickle: a JSON ``meta`` entry
describes the arrays) with the network's parameters and batch-norm running statistics, the optimizer's
hyper-parameters and state (``state_dict()``), the counters, recorded lists, history and early-stopping
bookkeeping, and the random states (NumPy's global MT19937 state, which the book's batches and dropout draw from,
and the ``seed`` generator's). ``Trainer.resume(path, network, x_train, t_train, x_test, t_test, **same_kwargs)``
(or ``trainer.load_checkpoint(path)``) restores all of it, after checking that the file fits (settings, the
data's checksums, parameter keys, shapes and dtypes), and sets NumPy's global random state; ``train()`` then runs
the iterations that were left. Resuming gives bit for bit the results of the uninterrupted run.

``history`` holds per-epoch lists: 'train_loss' (mean batch loss since the previous evaluation), 'train_acc',
'test_acc', 'val_loss', 'val_acc', 'test_loss' (only filled when early stopping monitors it) and 'epoch_time'
(seconds since the previous evaluation).

Input checks: the data sets must hold real numbers (bool, int or float; not cast here, the network casts them)
without NaN or inf, one row per sample, and every argument is checked before training starts
(TypeError/ValueError naming it).
"""
import json
import os
import sys
import time
import zlib
from collections.abc import Mapping

import numpy as np

from . import _checks, io
from . import engine as engine_module
from .kernels import network as engine_kernels
from . import optimizer as optimizers
from .util import clip_grads, remove_duplicate

__all__ = ["Trainer", "Trainer2", "np"]  # np: as the book's star import

# the first book's lookup table (lower-cased names), its misspelt 'rmsprpo' kept and the obvious 'rmsprop' added
OPTIMIZER_NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
                   "rmsprpo": "RMSprop", "rmsprop": "RMSprop", "adam": "Adam"}
DEFAULT_OPTIMIZER_PARAM = {"lr": 0.01}
HISTORY_KEYS = ("train_loss", "train_acc", "test_acc", "val_loss", "val_acc", "test_loss", "epoch_time")


def _fused_network_classes():
    """The networks whose training steps the compiled loop runs (exact classes: a subclass may change them)."""
    from . import nets

    return (nets.TwoLayerNet, nets.TwoLayerNetCh4, nets.MultiLayerNet, nets.MultiLayerNetExtend)


# --- argument checks ----------------------------------------------------------------------------------------------
def _require_methods(obj, name, methods, attrs=()):
    missing = [m for m in methods if not callable(getattr(obj, m, None))]
    missing += [a for a in attrs if not hasattr(obj, a)]
    if missing:
        raise TypeError(f"{name} must provide {', '.join(methods + tuple(attrs))}; "
                        f"{type(obj).__name__} has no {', '.join(missing)}")


def _samples(x, t, name_x, name_t, *, allow_empty=False):
    """x and t as arrays of real numbers (not cast: the network casts) with one row per sample, the same number
    of rows, and no NaN or inf (a NaN in the data would only surface later as a non-finite loss)."""
    x = _checks.numeric_array(x, name_x)
    t = _checks.numeric_array(t, name_t)
    for a, name in ((x, name_x), (t, name_t)):
        if a.ndim == 0:
            raise ValueError(f"{name} must have one row per sample; got a 0-D array")
        _checks.finite(a, name)
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


# --- checkpoints ----------------------------------------------------------------------------------------------------
CHECKPOINT_FORMAT = "fastnn.trainer.Trainer checkpoint"
CHECKPOINT_VERSION = 1
_LISTS = ("train_loss_list", "train_acc_list", "test_acc_list", "_epoch_losses")
_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _checkpoint_path(path, every):
    if every is None:
        if path is not None:
            raise ValueError("checkpoint_path is given but checkpoint_every is None; give both to save checkpoints")
        return None
    if path is None:
        raise ValueError("checkpoint_every needs checkpoint_path (the file to write, may contain '{epoch}')")
    path = _checks.path(path, "checkpoint_path")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"checkpoint_path {path!r}: directory {directory!r} does not exist")
    return path


def _fingerprint(a):
    """Shape, dtype and CRC-32 of an array's bytes: enough to tell that a resumed run got other data."""
    return [list(a.shape), str(a.dtype), zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1))]


def _json_default(value):
    """json.dumps hook for the few non-JSON values in a state: NumPy scalars and arrays (MT19937's key)."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


def _json_hook(obj):
    return np.array(obj["__ndarray__"], dtype=obj["dtype"]) if "__ndarray__" in obj else obj


def _batchnorm_layers(network):
    """{layer name: layer} of the layers that keep running statistics (BatchNormalization), in network order."""
    layers = getattr(network, "layers", None)
    items = layers.items() if isinstance(layers, Mapping) else enumerate(layers) if isinstance(layers, list) else ()
    return {key: layer for key, layer in items if hasattr(layer, "running_mean") and hasattr(layer, "running_var")}


def _store(arrays, prefix, items):
    """Put a dict (or list) of arrays into ``arrays`` as prefix/0, prefix/1, ...; returns the keys in order."""
    keys = list(items.keys()) if isinstance(items, Mapping) else list(range(len(items)))
    for i, key in enumerate(keys):
        arrays[f"{prefix}/{i}"] = np.asarray(items[key])
    return keys


class _CheckpointFile:
    """The arrays of a checkpoint file and its parsed meta data, with accessors that refuse what does not fit."""

    def __init__(self, path):
        self.path = path
        self.arrays = io.load_arrays(path)
        meta = self.arrays.get("meta")
        if meta is None or meta.shape != () or meta.dtype.kind != "U":
            self.fail("it has no 'meta' entry: not a fastnn Trainer checkpoint")
        try:
            self.meta = json.loads(str(meta), object_hook=_json_hook)
        except ValueError as exc:
            self.fail(f"its meta data is not valid JSON ({exc})")
        if not isinstance(self.meta, dict) or self.meta.get("format") != CHECKPOINT_FORMAT:
            self.fail("not a fastnn Trainer checkpoint")
        if self.meta.get("version") != CHECKPOINT_VERSION:
            self.fail(f"checkpoint format version {self.meta.get('version')!r}; this fastnn reads version "
                      f"{CHECKPOINT_VERSION}")

    def fail(self, why):
        raise ValueError(f"checkpoint file {self.path!r}: {why}")

    def get(self, *keys):
        """meta[keys[0]][keys[1]]..., or a ValueError naming the missing entry."""
        value = self.meta
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                self.fail(f"meta data has no entry {'/'.join(keys)!r}")
            value = value[key]
        return value

    def array(self, key, like=None, ndim=None):
        """Entry ``key``; with ``like``, checked to have its shape and dtype."""
        a = self.arrays.get(key)
        if a is None:
            self.fail(f"entry {key!r} is missing")
        if like is not None and (a.shape != like.shape or a.dtype != like.dtype):
            self.fail(f"entry {key!r} has shape {a.shape} and dtype {a.dtype}, but this trainer's network "
                      f"needs {like.shape} {like.dtype} there")
        if ndim is not None and a.ndim != ndim:
            self.fail(f"entry {key!r} must be {ndim}-D; got shape {a.shape}")
        return a

    def integer(self, *keys, minimum=0, optional=False):
        value = self.get(*keys)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(f"meta entry {'/'.join(keys)!r} must be an integer >= {minimum}; got {value!r}")
        return value

    def number(self, *keys, optional=False):
        value = self.get(*keys)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"meta entry {'/'.join(keys)!r} must be a number; got {value!r}")
        return value

    def arrays_for(self, prefix, keys, like, *, every=False):
        """{key: entry prefix/i} for the listed keys (all keys of ``like`` when ``every``), each checked against
        like[key]."""
        if not isinstance(keys, list):
            self.fail(f"meta entry {prefix!r} must list parameter keys; got {keys!r}")
        unknown = [k for k in keys if not isinstance(k, (str, int)) or k not in like]
        if unknown or len(set(keys)) != len(keys) or (every and len(keys) != len(like)):
            self.fail(f"it holds {prefix} for the parameters {keys}, but this trainer's network has {list(like)}")
        return {key: self.array(f"{prefix}/{i}", like[key]) for i, key in enumerate(keys)}


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
                 loss_after_update=True, check_finite=True, checkpoint_every=None, checkpoint_path=None):
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
        self._target_iter = None  # the iteration the running (or resumed) train() stops at
        self.checkpoint_every = _optional_integer(checkpoint_every, "checkpoint_every", 1)
        self.checkpoint_path = _checkpoint_path(checkpoint_path, self.checkpoint_every)
        self._fingerprints = None  # of the data sets, computed on the first checkpoint
        self._loop = None  # the fused loop (fastnn.engine.TrainingLoop), built on the first span
        self._training_data = None
        self._fused_updates = False  # a fused step has updated the parameters (its backup is valid)

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
        params = self.network.params
        if self.check_finite:
            _save_params(params, self._last_finite)
        self.optimizer.update(params, grads)
        if self.check_finite:
            bad = next((key for key, value in _param_items(params) if not np.isfinite(value).all()), None)
            if bad is not None:  # e.g. a -inf bias behind a ReLU can leave the loss finite: check the weights
                _restore_params(params, self._last_finite)
                raise FloatingPointError(
                    f"params[{bad!r}] holds NaN or inf after the update at iteration {self.current_iter} "
                    f"(0-based, epoch {self._epoch_of_iter()}); the parameters were restored to their values "
                    f"before that update. Try a smaller learning rate.")

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
        """One iteration of the book's loop: a batch, its gradient, the update, the recorded loss, and the epoch
        evaluation when the iteration count says so. One compiled call for fastnn's nets and optimizers."""
        loop = self._fused_loop()
        if loop is not None:
            self._train_span(loop, 1)
            return
        if self._epoch_start is None:
            self._epoch_start = time.perf_counter()
        x_batch, t_batch = self._draw_batch()
        self._record(self._fit_batch(x_batch, t_batch))

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

    # -- the fused loop: many steps per compiled call ------------------------------------------------------------
    SPAN = 4096  # most steps per compiled call (spans also end at evaluations)

    def _fused_loop(self):
        """The compiled loop for this network and optimizer (fastnn.engine.TrainingLoop), or None when either is
        not one fastnn compiles (another network class, a subclass, parameters outside the engine's arena)."""
        network = self.network
        if type(network) not in _fused_network_classes():
            return None
        engine = network._engine
        engine.sync()
        decay = network._decay()
        flat = self.optimizer._flat_plan(network.params, engine.grads_for(decay))
        if flat is None:
            return None
        loop = self._loop
        if loop is None or loop.engine is not engine or loop.flat is not flat:
            data = self._training_data
            if data is None or data.x.shape[0] != self.train_size:
                data = self._training_data = engine_module.TrainingData(engine, self.x_train, self.t_train)
            loop = self._loop = engine_module.TrainingLoop(engine, data, self.batch_size, flat)
        return loop

    def _span_length(self, most):
        """How many iterations the next span runs: up to the next evaluated one, at most ``most`` (and SPAN, or 64
        with a progress bar, so that it redraws)."""
        cap = min(most, 64 if self._bar is not None else self.SPAN)
        i = j = self.current_iter
        while j % self.iter_per_epoch != 0 and j - i + 1 < cap:
            j += 1
        return j - i + 1

    def _draws(self, k, rand_size):
        """The batches (and dropout draws) of k steps, drawn as the book's loop draws them."""
        n, b = self.train_size, self.batch_size
        if self._rng is None and rand_size == 0:
            return np.random.choice(n, k * b).reshape(k, b), np.zeros((k, 1))  # one draw: the same stream
        batches = np.empty((k, b), dtype=np.intp)
        rands = np.zeros((k, max(rand_size, 1)))
        for s in range(k):
            batches[s] = np.random.choice(n, b) if self._rng is None else self._rng.integers(0, n, b)
            if rand_size:
                rands[s] = np.random.rand(rand_size)
        return batches, rands

    def _train_span(self, loop, most):
        """The iterations up to the next evaluation in one compiled call, then the book's bookkeeping for each
        (recorded losses, printed lines, progress, evaluation, checkpoint), in the book's order."""
        if self._epoch_start is None:
            self._epoch_start = time.perf_counter()
        k = self._span_length(most)
        batches, rands = self._draws(k, loop.plan.rand_size)
        optimizer = self.optimizer
        optimizer._checked()
        iter_before = getattr(optimizer, "iter", None)
        coefs = np.array([optimizer._coefficients() for _ in range(k)], dtype=loop.engine.dtype).reshape(k, -1)
        losses, status = loop.run(batches, rands, coefs, self.network._decay(), self.loss_after_update,
                                  self.check_finite)
        losses = losses.astype(loop.engine.dtype)
        bad_loss = None
        if status == engine_kernels.NONFINITE_LOSS:
            losses, bad_loss = losses[:-1], losses[-1]
        if iter_before is not None:  # Adam counts only the updates made
            updated = len(losses) + (status == engine_kernels.NONFINITE_PARAMS)
            updated += bad_loss is not None and self.loss_after_update
            optimizer.iter = iter_before + int(updated)
        for loss in losses:
            self._record(loss)
        if status != engine_kernels.OK:
            self._fused_failure(loop, status, bad_loss)
        self._fused_updates = True

    def _record(self, loss):
        """One iteration's bookkeeping after its step: the book's lists and line, evaluation, checkpoint."""
        self.train_loss_list.append(loss)
        self._epoch_losses.append(loss)
        if self._bar is not None:
            self._bar.update(self.current_iter + 1, self._epoch_of_iter(), self.epochs, loss)
        elif self.verbose:
            print("train loss:" + str(loss))
        evaluated = self.current_iter % self.iter_per_epoch == 0
        if evaluated:
            self._end_epoch()
        self.current_iter += 1
        if evaluated and self.checkpoint_every is not None and self.current_epoch % self.checkpoint_every == 0:
            self.save_checkpoint(self.checkpoint_path.format(epoch=self.current_epoch))

    def _fused_failure(self, loop, status, loss):
        """Restore the last finite parameters and raise, as the step-by-step path does."""
        where = f"at iteration {self.current_iter} (0-based, epoch {self._epoch_of_iter()})"
        if status == engine_kernels.NONFINITE_PARAMS:
            bad = next((key for key, value in _param_items(self.network.params) if not np.isfinite(value).all()),
                       None)
            loop.restore()
            raise FloatingPointError(f"params[{bad!r}] holds NaN or inf after the update {where}; the parameters "
                                     f"were restored to their values before that update. Try a smaller learning "
                                     f"rate.")
        restored = self.loss_after_update or self._fused_updates
        if restored:
            loop.restore()
        kept = ("the parameters were restored to their values before the last update" if restored
                else "the parameters are unchanged (no update had been made)")
        raise FloatingPointError(f"training loss is {loss} (not finite) {where}; {kept}. Try a smaller learning "
                                 f"rate.")

    # -- whole run -----------------------------------------------------------------------------------------------
    def train(self):
        """max_iter iterations (the book's loop), or the iterations a resumed run has left, then the final test
        accuracy (after copying back the best parameters when early stopping kept some)."""
        self.stop_training = False
        if self._target_iter is None:
            self._target_iter = self.current_iter + self.max_iter
        if self.progress:
            self._bar = _ProgressBar(self.max_iter)
        try:
            while self.current_iter < self._target_iter:
                loop = self._fused_loop()
                if loop is None:
                    self.train_step()
                else:
                    self._train_span(loop, self._target_iter - self.current_iter)
                if self.stop_training:
                    break
            if self._bar is not None and self.train_loss_list:
                self._bar.update(self.current_iter, self._epoch_of_iter(self.current_iter - 1), self.epochs,
                                 self.train_loss_list[-1], force=True)
        finally:
            self._target_iter = None
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

    # -- checkpoints ---------------------------------------------------------------------------------------------
    @classmethod
    def resume(cls, path, network, x_train, t_train, x_test, t_test, **kwargs):
        """A trainer built with the arguments of the interrupted one (same data, epochs, batch size, optimizer,
        seed...; any network of the same architecture), loaded from the checkpoint at ``path``: ``train()`` then
        runs the iterations that were left, with the same results, bit for bit, as an uninterrupted run."""
        trainer = cls(network, x_train, t_train, x_test, t_test, **kwargs)
        trainer.load_checkpoint(path)
        return trainer

    def save_checkpoint(self, path):
        """Write everything the rest of training depends on to one .npz file (atomically, through
        fastnn.io.save_arrays): the network's parameters and batch-norm running statistics, the optimizer's
        hyper-parameters and state, the counters, recorded lists and history, the early-stopping bookkeeping and
        the random number generator states (NumPy's global one, which the book's batches and dropout draw from,
        and the ``seed`` generator). A JSON ``meta`` entry describes the arrays; no pickle is involved."""
        arrays = {}
        meta = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": self._checkpoint_config(),
                "data": self._data_fingerprints()}
        meta["params"] = _store(arrays, "params", self._param_dict())
        meta["best"] = _store(arrays, "best", self._best_params)
        target = self._target_iter if self._target_iter is not None else max(self.max_iter, self.current_iter)
        meta["counters"] = {"current_iter": self.current_iter, "current_epoch": self.current_epoch,
                            "target_iter": target, "stop_training": bool(self.stop_training),
                            "best_epoch": self.best_epoch, "best_loss": float(self._best_loss),
                            "epochs_without_improvement": self._epochs_without_improvement}
        for name in _LISTS:
            arrays[f"lists/{name}"] = np.asarray(getattr(self, name))
        for key, values in self.history.items():
            arrays[f"history/{key}"] = np.asarray(values, dtype=np.float64)

        optimizer_meta = {}
        for name, value in self.optimizer.state_dict().items():
            if name in self.optimizer._state_names and value is not None:
                value = {"kind": "dict" if isinstance(value, Mapping) else "list",
                         "keys": _store(arrays, f"optimizer/{name}", value)}
            optimizer_meta[name] = value
        meta["optimizer"] = optimizer_meta

        meta["batchnorm"] = []
        for i, (name, layer) in enumerate(_batchnorm_layers(self.network).items()):
            stats = {}
            for stat in ("running_mean", "running_var"):
                value = getattr(layer, stat)
                stats[stat] = value is not None
                if value is not None:
                    arrays[f"batchnorm/{i}/{stat}"] = np.asarray(value)
            meta["batchnorm"].append({"layer": name, **stats})

        _, key, pos, has_gauss, cached = np.random.get_state(legacy=True)  # ('MT19937', key, pos, ...)
        arrays["rng/global_key"] = key
        meta["rng"] = {"global": {"pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
                       "generator": None if self._rng is None else self._rng.bit_generator.state}
        arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
        io.save_arrays(_checks.path(path, "path"), arrays)

    def load_checkpoint(self, path):
        """Restore what :meth:`save_checkpoint` wrote, into this trainer, its network (in place) and optimizer,
        and NumPy's global random state. The file must come from a trainer with the same settings and data
        (checked: epochs, batch size, optimizer class, seed or not, early stopping, validation set, the data's
        shapes, dtypes and checksums) and a network with the same parameter keys, shapes and dtypes. Everything
        is checked before anything changes: a refused file (ValueError naming the file and the entry) leaves the
        trainer, network, optimizer and random state as they were."""
        values = self._read_checkpoint(_CheckpointFile(_checks.path(path, "path")))
        params = self._param_dict()
        for key, value in values["params"].items():
            np.copyto(params[key], value)
        for layer, stats in values["batchnorm"]:
            for stat, value in stats.items():
                setattr(layer, stat, value)
        self.optimizer.load_state_dict(values["optimizer"])
        for name in _LISTS:
            getattr(self, name)[:] = list(values["lists"][name])
        for key, array in values["history"].items():
            self.history[key][:] = [float(v) for v in array]
        self._best_params = {key: value.copy() for key, value in values["best"].items()}
        c = values["counters"]
        self.current_iter, self.current_epoch = c["current_iter"], c["current_epoch"]
        self.best_epoch, self._best_loss = c["best_epoch"], c["best_loss"]
        self._epochs_without_improvement = c["epochs_without_improvement"]
        self.stop_training = c["stop_training"]
        # a run that had stopped (early stopping, a callback) stays stopped: train() only finishes it
        self._target_iter = self.current_iter if c["stop_training"] else c["target_iter"]
        self.final_test_acc = None
        np.random.set_state(values["global_rng"])
        if values["generator"] is not None:
            rng, state = values["generator"]
            rng.bit_generator.state = state
            self._rng = rng

    def _checkpoint_config(self):
        """The settings that a resumed run must share with the saved one for its results to be the same."""
        return {"epochs": self.epochs, "mini_batch_size": self.batch_size, "train_size": self.train_size,
                "evaluate_sample_num_per_epoch": self.evaluate_sample_num_per_epoch,
                "optimizer": type(self.optimizer).__name__, "seeded": self._rng is not None,
                "early_stopping": self.early_stopping, "validation_set": self.x_val is not None,
                "loss_after_update": self.loss_after_update}

    def _data_fingerprints(self):
        if self._fingerprints is None:
            sets = {"x_train": self.x_train, "t_train": self.t_train, "x_test": self.x_test, "t_test": self.t_test}
            if self.x_val is not None:
                sets.update(x_val=self.x_val, t_val=self.t_val)
            self._fingerprints = {name: _fingerprint(a) for name, a in sets.items()}
        return self._fingerprints

    def _param_dict(self):
        """The network's parameters as {key: array}; a checkpoint stores arrays under str or int keys only."""
        params = self.network.params
        items = params.items() if isinstance(params, Mapping) else enumerate(params)
        out = {}
        for key, value in items:
            if not isinstance(key, (str, int)) or not isinstance(value, np.ndarray):
                raise TypeError(f"network.params[{key!r}] must be a NumPy array under a str or int key to be saved "
                                f"in a checkpoint; got {type(value).__name__}")
            out[key] = value
        return out

    def _read_checkpoint(self, ck):
        """Everything in the checkpoint, checked against this trainer, as plain values (nothing changed yet)."""
        config, saved = self._checkpoint_config(), ck.get("config")
        diffs = [f"{k}: checkpoint {saved.get(k)!r}, this trainer {v!r}" for k, v in config.items()
                 if not isinstance(saved, dict) or k not in saved or saved[k] != v]
        if diffs:
            ck.fail(f"it was saved by a trainer with other settings ({'; '.join(diffs)}); build the trainer with "
                    f"the same arguments to resume")
        data = ck.get("data")
        diffs = [name for name, fp in self._data_fingerprints().items()
                 if not isinstance(data, dict) or data.get(name) != fp]
        if diffs or set(data) != set(self._data_fingerprints()):
            ck.fail(f"it was saved while training on other data (differs: {', '.join(diffs) or 'the data sets'}): "
                    f"resume with the same data")

        params = self._param_dict()
        values = {"params": ck.arrays_for("params", ck.get("params"), params, every=True)}
        for key, p in params.items():
            if not p.flags.writeable:
                raise ValueError(f"network.params[{key!r}] is read-only, but loading a checkpoint writes into it")
        values["best"] = ck.arrays_for("best", ck.get("best"), params)
        values["counters"] = self._read_counters(ck)
        values["lists"] = {name: ck.array(f"lists/{name}", ndim=1) for name in _LISTS}
        stored = {key[len("history/"):] for key in ck.arrays if key.startswith("history/")}
        if stored != set(HISTORY_KEYS):
            ck.fail(f"its history holds {sorted(stored)}; expected {sorted(HISTORY_KEYS)}")
        values["history"] = {key: ck.array(f"history/{key}", ndim=1) for key in HISTORY_KEYS}
        values["optimizer"] = self._read_optimizer(ck, params)
        values["batchnorm"] = self._read_batchnorm(ck)
        values["global_rng"] = self._read_global_rng(ck)
        values["generator"] = self._read_generator(ck)
        return values

    def _read_counters(self, ck):
        c = {name: ck.integer("counters", name) for name in ("current_iter", "current_epoch", "target_iter",
                                                              "epochs_without_improvement")}
        c["best_epoch"] = ck.integer("counters", "best_epoch", optional=True)
        c["best_loss"] = float(ck.number("counters", "best_loss"))
        c["stop_training"] = ck.get("counters", "stop_training")
        if not isinstance(c["stop_training"], bool):
            ck.fail(f"meta entry 'counters/stop_training' must be true or false; got {c['stop_training']!r}")
        if c["target_iter"] < c["current_iter"]:
            ck.fail(f"its target iteration {c['target_iter']} is before its current one {c['current_iter']}")
        return c

    def _read_optimizer(self, ck, params):
        saved = ck.get("optimizer")
        if not isinstance(saved, dict):
            ck.fail(f"meta entry 'optimizer' must be a dict; got {saved!r}")
        state = {}
        for name, value in saved.items():
            if name in self.optimizer._state_names and value is not None:
                if not isinstance(value, dict) or value.get("kind") not in ("dict", "list"):
                    ck.fail(f"meta entry 'optimizer/{name}' must describe a dict or list of arrays; got {value!r}")
                value = ck.arrays_for(f"optimizer/{name}", value.get("keys"), params, every=True)
                if saved[name]["kind"] == "list":
                    value = list(value.values())
            state[name] = value
        try:
            self.optimizer._checked_state_dict(state)
        except (TypeError, ValueError) as exc:
            ck.fail(f"its optimizer state does not fit this trainer's {type(self.optimizer).__name__}: {exc}")
        return state

    def _read_batchnorm(self, ck):
        """[(layer, {stat: array or None})] for the network's batch-norm layers."""
        layers, saved = _batchnorm_layers(self.network), ck.get("batchnorm")
        if not isinstance(saved, list) or not all(isinstance(entry, dict) for entry in saved):
            ck.fail(f"meta entry 'batchnorm' must be a list of layer entries; got {saved!r}")
        names = [entry.get("layer") for entry in saved]
        if names != list(layers):
            ck.fail(f"it holds running statistics for the layers {names}, but this trainer's network has batch-norm "
                    f"layers {list(layers)}")
        out = []
        for i, (entry, layer) in enumerate(zip(saved, layers.values())):
            size = np.size(layer.gamma) if hasattr(layer, "gamma") else None
            stats = {}
            for stat in ("running_mean", "running_var"):
                if entry.get(stat) is not True:
                    stats[stat] = None
                    continue
                a = ck.array(f"batchnorm/{i}/{stat}", ndim=1)
                if a.dtype not in _checks.FLOAT_DTYPES or (size is not None and a.shape != (size,)):
                    ck.fail(f"entry 'batchnorm/{i}/{stat}' must be a float array of shape ({size},); got "
                            f"{a.dtype} {a.shape}")
                stats[stat] = a.copy()
            out.append((layer, stats))
        return out

    def _read_global_rng(self, ck):
        key = ck.array("rng/global_key")
        pos, has_gauss = ck.integer("rng", "global", "pos"), ck.integer("rng", "global", "has_gauss")
        if key.shape != (624,) or key.dtype != np.uint32 or pos > 624 or has_gauss > 1:
            ck.fail(f"its global random state is not a valid MT19937 state (key {key.dtype} {key.shape}, "
                    f"pos {pos}, has_gauss {has_gauss})")
        return "MT19937", key, pos, has_gauss, float(ck.number("rng", "global", "cached_gaussian"))

    def _read_generator(self, ck):
        """The ``seed`` generator with the saved state (None for a trainer without ``seed``)."""
        state = ck.get("rng", "generator")
        if (state is None) != (self._rng is None):
            ck.fail("seed: the checkpoint and this trainer disagree on whether batches come from a seeded generator")
        if state is None:
            return None
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name not in _GENERATORS:
            ck.fail(f"its generator state names bit generator {name!r}; expected one of {_GENERATORS}")
        rng = self._rng if type(self._rng.bit_generator).__name__ == name else \
            np.random.Generator(getattr(np.random, name)())
        try:
            getattr(np.random, name)().state = state  # NumPy's own checks, on a throwaway bit generator
        except (TypeError, ValueError, KeyError) as exc:
            ck.fail(f"its generator state is not a valid {name} state: {exc}")
        return rng, state


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
        """Train for ``max_epoch`` epochs of ``len(x) // batch_size`` updates (the book's loop and printed lines)."""
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
        total_loss, loss_count = 0, 0  # since the last report; the book's int 0 start, so sums keep the loss type
        start_time = time.time()
        for _ in range(max_epoch):
            # the book re-shuffles the previous epoch's order (x = x[idx]): a seeded script sees the same batches
            idx = np.random.permutation(np.arange(data_size))
            x, t = x[idx], t[idx]
            for iters in range(max_iters):
                batch = slice(iters * batch_size, (iters + 1) * batch_size)
                total_loss += self._step(x[batch], t[batch], max_grad)
                loss_count += 1
                if eval_interval is not None and iters % eval_interval == 0:
                    self._report(iters, max_iters, time.time() - start_time, total_loss / loss_count)
                    total_loss, loss_count = 0, 0
            self.current_epoch += 1

    def _step(self, batch_x, batch_t, max_grad):
        """One update: forward (the loss, returned), backward, shared weights merged, clipping, optimizer."""
        loss = self.model.forward(batch_x, batch_t)
        self.model.backward()
        params, grads = remove_duplicate(self.model.params, self.model.grads)
        if max_grad is not None:
            clip_grads(grads, max_grad)
        self.optimizer.update(params, grads)
        return loss

    def _report(self, iters, max_iters, elapsed_time, avg_loss):
        print('| epoch %d |  iter %d / %d | time %d[s] | loss %.2f'
              % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, avg_loss))
        self.loss_list.append(float(avg_loss))

    def plot(self, ylim=None):
        """The recorded average losses against iterations (x eval_interval); needs matplotlib (imported here)."""
        import matplotlib.pyplot as plt

        x = np.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label='train')
        plt.xlabel('iterations (x' + str(self.eval_interval) + ')')
        plt.ylabel('loss')
        plt.show()
