"""Both books' ``common/trainer.py`` trainers, with the same semantics, printed lines and RNG draws.

* ``Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100, optimizer='SGD',
  optimizer_param=None, evaluate_sample_num_per_epoch=None, verbose=True, *, seed=None, loss_after_update=True,
  callbacks=())`` is the first book's trainer: each ``train_step`` draws ``np.random.choice(train_size,
  mini_batch_size)`` (with replacement), updates with the named optimizer, appends the loss of that batch *after*
  the update to ``train_loss_list``, and whenever ``current_iter % iter_per_epoch == 0`` (the first step included)
  evaluates ``train_acc_list``/``test_acc_list``. Given the same ``np.random.seed``, network and data, a book
  script prints the same lines and records the same numbers (to the rounding of the compiled layers).
* ``Trainer(model, optimizer)`` (the second an optimizer object) is the second book's :class:`Trainer2`
  (``fit``, ``plot``; fastnn/trainer2.py); ``isinstance`` tells the two apart.
* ``RnnlmTrainer(model, optimizer)`` is the second book's trainer of language models (fastnn/trainer2.py).

The keyword-only extras change nothing unless used. ``seed``: draw the batches from ``np.random.default_rng(seed)``
(or the Generator given) instead of the global ``np.random`` state; another stream than the book's, but
independent of any other use of ``np.random``. ``loss_after_update=False``: when the network has
``loss_and_gradient(x, t) -> (loss, grads)``, record the loss of the pass that made the gradient and save the
book's second forward pass. ``callbacks``: :mod:`fastnn.callbacks` objects (validation set, early stopping,
checkpoints, progress bar, finite check) and plain callables ``f(trainer, epoch, logs)`` run after each epoch
evaluation (``False`` stops). ``history`` holds per-epoch lists (:class:`fastnn.callbacks.History`). The check
for NaN and inf (:class:`fastnn.callbacks.FiniteCheck`) is on unless ``FiniteCheck(enabled=False)`` is given.

Checkpoints: ``save_checkpoint(path)`` writes one .npz file (atomically, no pickle; the format is in fastnn/io.py)
with everything the rest of the run depends on (parameters, batch-norm statistics, optimizer state, counters,
lists, history, early-stopping bookkeeping, NumPy's global random state and the ``seed`` generator's);
``Trainer.resume(path, network, x_train, t_train, x_test, t_test, **same_kwargs)`` (or ``load_checkpoint``)
restores it after checking that it fits, and ``train()`` then gives bit for bit the uninterrupted run's results.

Input checks, before training starts (TypeError/ValueError naming the argument): the data sets hold real numbers
without NaN or inf, one row per sample, and fit the network (row width against its input; for fastnn's nets the
labels against its outputs too); with the finite check on, the parameters must be finite.
"""
import time

import numpy as np

from . import _checks
from . import optimizer as optimizers
from .callbacks import (BookLines, Callback, EarlyStopping, FiniteCheck, History, ProgressBar, Validation,
                        as_callbacks, first_non_finite, only)
from ._dispatch import lazy_kernels, lazy_module
from ._finite import FiniteGuard
from .trainer2 import RnnlmTrainer, Trainer2, looks_like_optimizer

engine_kernels = lazy_kernels("network")
# the first book's Trainer only: a script on the second book's Trainer does not pay their import (~20 ms)
engine_module, training_loop = lazy_module("fastnn.engine"), lazy_module("fastnn._training_loop")
io = lazy_module("fastnn.io")

__all__ = ["Trainer", "Trainer2", "RnnlmTrainer", "np"]  # np: as the book's star import

# the first book's lookup table (lower-cased names), its misspelt 'rmsprpo' kept and the obvious 'rmsprop' added
OPTIMIZER_NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
                   "rmsprpo": "RMSprop", "rmsprop": "RMSprop", "adam": "Adam"}
DEFAULT_OPTIMIZER_PARAM = {"lr": 0.01}
_LISTS = ("train_loss_list", "train_acc_list", "test_acc_list", "_epoch_losses")


def _fused_network_classes():
    """The networks whose training steps the compiled loop runs (exact classes: a subclass may change them)."""
    from . import nets

    return (nets.TwoLayerNet, nets.TwoLayerNetCh4, nets.MultiLayerNet, nets.MultiLayerNetExtend)


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
    return np.random.default_rng(_checks.integer(seed, "seed", minimum=0))


def _second_book_call(args, kwargs):
    """True for Trainer(model, optimizer) called the second book's way (optimizer an object with update())."""
    names = ("model", "optimizer")
    if len(args) > 2 or not set(kwargs) <= set(names[len(args):]):
        return False
    bound = dict(zip(names, args), **kwargs)
    return set(bound) == set(names) and looks_like_optimizer(bound["optimizer"])


def _fits(network, x, t, name_x, name_t):
    """Refuse a data set that does not fit the network: rows against its input width (fastnn's nets: their
    engine's; other nets: a 2-D params['W1'], else unchecked), labels against a fastnn net's outputs."""
    training_engine = getattr(network, "training_engine", None)
    engine = training_engine()[0] if callable(training_engine) else None
    if isinstance(engine, engine_module.Engine):
        n_in, n_out = engine.n_in, engine.n_out
    else:
        params = getattr(network, "params", None)
        w = params.get("W1") if isinstance(params, dict) else None
        n_in, n_out = (w.shape[0] if isinstance(w, np.ndarray) and w.ndim == 2 else None), None
    if n_in is not None and int(np.prod(x.shape[1:])) != n_in:
        raise ValueError(f"{name_x} must have {n_in} features per row to match the network's input; got shape "
                         f"{x.shape}")
    if n_out is not None:
        _checks.labels_or_onehot_for(t, len(t), n_out, name_t)


class Trainer:
    """The first book's trainer (see the module docstring); ``Trainer(model, optimizer)`` returns a Trainer2."""

    SPAN = 4096  # most steps per compiled call (spans also end at evaluations and at callbacks' max_span)

    def __new__(cls, *args, **kwargs):
        if cls is Trainer and _second_book_call(args, kwargs):
            return Trainer2(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param=None, evaluate_sample_num_per_epoch=None, verbose=True, *,
                 seed=None, loss_after_update=True, callbacks=()):
        _checks.require_methods(network, "network", ("gradient", "loss", "accuracy"), ("params",))
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = _checks.samples(x_train, t_train, "x_train", "t_train")
        self.x_test, self.t_test = _checks.samples(x_test, t_test, "x_test", "t_test")
        self.epochs = _checks.integer(epochs, "epochs", minimum=0)
        self.batch_size = _checks.integer(mini_batch_size, "mini_batch_size", minimum=1)
        self.evaluate_sample_num_per_epoch = _checks.optional_integer(
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
        self.loss_after_update = bool(loss_after_update)
        fused = getattr(network, "loss_and_gradient", None)
        self._loss_and_gradient = fused if callable(fused) and not self.loss_after_update else None
        given = as_callbacks(callbacks)
        self._validation, self._early = only(given, Validation), only(given, EarlyStopping)
        finite_check = only(given, FiniteCheck) or FiniteCheck()  # a setting: the checks are the guard's
        self._finite = FiniteGuard(finite_check.enabled)
        self._data = {"x_train": self.x_train, "t_train": self.t_train, "x_test": self.x_test, "t_test": self.t_test}
        if self._validation is not None:
            v = self._validation
            v.x_val, v.t_val = _checks.samples(v.x_val, v.t_val, "x_val", "t_val")
            self._data.update(x_val=v.x_val, t_val=v.t_val)
        for name, x in self._data.items():
            if name.startswith("x_"):
                _fits(network, x, self._data["t_" + name[2:]], name, "t_" + name[2:])
        self._history = History()
        self.history = self._history.history
        default = [self._history, BookLines()] + ([finite_check] if finite_check not in given else [])
        self.callbacks = tuple(sorted(default + given, key=lambda cb: cb.order))
        self._step_lines = not any(isinstance(cb, ProgressBar) for cb in given)  # a bar replaces them
        self._step_hooks = [cb for cb in self.callbacks if type(cb).on_step_end is not Callback.on_step_end]
        self._span_cap = min([self.SPAN] + [cb.max_span for cb in self.callbacks if cb.max_span])

        self.stop_training = False
        self.final_test_acc = None
        self._epoch_losses = []
        self._epoch_start = None
        self._started = False  # the parameters were checked before the first step
        self._target_iter = None  # the iteration the running (or resumed) train() stops at
        self._fingerprints = None  # of the data sets, computed on the first checkpoint
        self._loop = None  # the fused loop (fastnn._training_loop.TrainingLoop), built on the first span
        self._loop_updated = False  # that loop has updated the parameters (its backup is valid)
        self._training_data = None

    # -- one iteration -------------------------------------------------------------------------------------------
    def epoch_of(self, iteration):
        """Returns the epoch (1-based) that ``iteration`` (0-based) counts towards: the book evaluates epoch k
        right after iteration (k - 1) * iter_per_epoch."""
        return int(_checks.integer(iteration, "iteration", minimum=0) // self.iter_per_epoch) + 1

    def test_sample(self):
        """Returns (x, t): the test rows an epoch evaluation uses (the first evaluate_sample_num_per_epoch, else
        all)."""
        return self._evaluation_rows(self.x_test, self.t_test)

    def _evaluation_rows(self, x, t):
        n = self.evaluate_sample_num_per_epoch
        return (x, t) if n is None else (x[:n], t[:n])

    def _draw_batch(self):
        if self._rng is None:
            batch_mask = np.random.choice(self.train_size, self.batch_size)  # the book's draw
        else:
            batch_mask = self._rng.integers(0, self.train_size, self.batch_size)
        return self.x_train[batch_mask], self.t_train[batch_mask]

    def _update(self, grads):
        params = self.network.params
        self._finite.before_update(params)
        self.optimizer.update(params, grads)
        self._finite.after_update(self)

    def _fit_batch(self, x_batch, t_batch):
        """Gradient, update and the recorded loss of one mini-batch."""
        if self._loss_and_gradient is not None:
            loss, grads = self._loss_and_gradient(x_batch, t_batch)
            self._finite.check_loss(self, loss)  # the parameters that produced it came from the previous update
            self._update(grads)
            return loss
        self._update(self.network.gradient(x_batch, t_batch))
        loss = self.network.loss(x_batch, t_batch)
        self._finite.check_loss(self, loss)
        return loss

    def train_step(self):
        """One iteration of the book's loop: a batch, its gradient, the update, the recorded loss, and the epoch
        evaluation when the iteration count says so (one compiled call for fastnn's nets and optimizers); returns
        None."""
        self._advance(1)

    def _advance(self, most):
        """One step, or for fastnn's nets a span of up to ``most`` steps in one compiled call."""
        if not self._started:
            self._finite.check_start(self.network.params)
            self._started = True
        if self._epoch_start is None:
            self._epoch_start = time.perf_counter()
        fused = self._fused_loop()
        if fused is not None:
            self._train_span(*fused, most)
        else:
            self._record(self._fit_batch(*self._draw_batch()))

    def _record(self, loss):
        """One iteration's bookkeeping after its step: the book's lists, the step hooks, the evaluation."""
        i = self.current_iter
        self.train_loss_list.append(loss)
        self._epoch_losses.append(loss)
        self.current_iter = i + 1
        if self.verbose and self._step_lines:
            print("train loss:" + str(loss))
        for callback in self._step_hooks:
            callback.on_step_end(self, i, loss)
        if i % self.iter_per_epoch == 0:
            self._end_epoch()

    def _end_epoch(self):
        self.current_epoch += 1
        train_acc = self.network.accuracy(*self._evaluation_rows(self.x_train, self.t_train))
        test_acc = self.network.accuracy(*self.test_sample())
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        now = time.perf_counter()
        logs = {"epoch": self.current_epoch, "train_loss": float(np.mean(self._epoch_losses)),
                "train_acc": float(train_acc), "test_acc": float(test_acc), "epoch_time": now - self._epoch_start}
        self._epoch_start, self._epoch_losses = now, []
        for callback in self.callbacks:
            if callback.on_epoch_end(self, self.current_epoch, logs) is False:
                self.stop_training = True

    # -- the fused loop: many steps per compiled call ------------------------------------------------------------
    def _fused_loop(self):
        """(the compiled loop for this network and optimizer (fastnn._training_loop.TrainingLoop), the net's weight
        decay), or None when either is not one fastnn compiles (another network class, a subclass, parameters
        outside the engine's arena). The net's ``training_engine()`` and the optimizer's ``flat_plan()`` are the
        seams."""
        network = self.network
        if type(network) not in _fused_network_classes():
            return None
        engine, decay = network.training_engine()
        engine.sync()
        flat = self.optimizer.flat_plan(network.params, engine.grads_for(decay))
        if flat is None:
            return None
        loop = self._loop
        if loop is None or loop.engine is not engine or loop.flat is not flat:
            data = self._training_data
            if data is None or data.x.shape[0] != self.train_size:
                data = self._training_data = training_loop.TrainingData(engine, self.x_train, self.t_train)
            loop = self._loop = training_loop.TrainingLoop(engine, data, self.batch_size, flat)
            self._loop_updated = False  # a new backup buffer
        return loop, decay

    def _span_length(self, most):
        """How many iterations the next span runs: up to the next evaluated one, at most ``most`` (and SPAN, or
        the smallest max_span of the callbacks, e.g. 64 for a progress bar so that it redraws)."""
        cap = min(most, self._span_cap)
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

    def _train_span(self, loop, decay, most):
        """The iterations up to the next evaluation in one compiled call, then the book's bookkeeping for each
        (recorded losses, step hooks, evaluation), in the book's order."""
        k = self._span_length(most)
        batches, rands = self._draws(k, loop.plan.rand_size)
        coefs = self.optimizer.step_coefficients(k, loop.engine.dtype)  # counts k updates (Adam's iter)
        finite = self._finite
        losses, status = loop.run(batches, rands, coefs, decay, self.loss_after_update, finite.enabled)
        losses = losses.astype(loop.engine.dtype)
        bad_loss = None
        if status == engine_kernels.NONFINITE_LOSS:
            losses, bad_loss = losses[:-1], losses[-1]
        failed_update = status == engine_kernels.NONFINITE_PARAMS or (bad_loss is not None and self.loss_after_update)
        self.optimizer.unstep(k - len(losses) - int(failed_update))  # it counts only the updates made
        updated = self._loop_updated or len(losses) > 0 or failed_update
        self._loop_updated = updated
        if not finite.enabled and not np.isfinite(losses).all():
            finite.check_loss(self, losses[~np.isfinite(losses)][0])  # warns once per train(), as step by step
        for loss in losses:
            self._record(loss)
        if status == engine_kernels.NONFINITE_PARAMS:
            bad = first_non_finite(self.network.params)
            finite.fail(self, f"params[{bad!r}] holds NaN or inf after the update", loop.restore)
        if bad_loss is not None:
            finite.fail(self, f"training loss is {bad_loss} (not finite)", loop.restore if updated else None)

    # -- whole run -----------------------------------------------------------------------------------------------
    def train(self):
        """max_iter iterations (the book's loop), or the iterations a resumed run has left, then the callbacks'
        on_train_end (early stopping puts the best parameters back) and the final test accuracy
        (``final_test_acc``, printed when verbose); returns None."""
        self.stop_training = False
        self._finite.new_run()
        if self._target_iter is None:
            self._target_iter = self.current_iter + self.max_iter
        try:
            for callback in self.callbacks:
                callback.on_train_begin(self)
            while self.current_iter < self._target_iter and not self.stop_training:
                self._advance(self._target_iter - self.current_iter)
        except BaseException as error:
            for callback in self.callbacks:
                callback.on_exception(self, error)
            raise
        finally:
            self._target_iter = None
        for callback in self.callbacks:
            callback.on_train_end(self)
        self.final_test_acc = test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))

    # -- checkpoints ---------------------------------------------------------------------------------------------
    @classmethod
    def resume(cls, path, network, x_train, t_train, x_test, t_test, **kwargs):
        """Returns a trainer built with the arguments of the interrupted one (same data, epochs, batch size,
        optimizer, seed, callbacks...; any network of the same architecture), loaded from the checkpoint at
        ``path``: ``train()`` then runs the iterations that were left, with the same results, bit for bit, as an
        uninterrupted run."""
        trainer = cls(network, x_train, t_train, x_test, t_test, **kwargs)
        trainer.load_checkpoint(path)
        return trainer

    def _state(self):
        """What a checkpoint holds (fastnn.io.save_checkpoint's ``state``)."""
        if self._fingerprints is None:
            self._fingerprints = {name: io.fingerprint(a) for name, a in self._data.items()}
        target = self._target_iter if self._target_iter is not None else max(self.max_iter, self.current_iter)
        config = {"epochs": self.epochs, "mini_batch_size": self.batch_size, "train_size": self.train_size,
                  "evaluate_sample_num_per_epoch": self.evaluate_sample_num_per_epoch,
                  "optimizer": type(self.optimizer).__name__, "seeded": self._rng is not None,
                  "early_stopping": None if self._early is None else self._early.patience,
                  "validation_set": self._validation is not None, "loss_after_update": self.loss_after_update}
        counters = {"current_iter": self.current_iter, "current_epoch": self.current_epoch, "target_iter": target,
                    "stop_training": bool(self.stop_training)}
        callbacks = {"History": self._history.state_dict(),
                     "EarlyStopping": None if self._early is None else self._early.state_dict()}
        return {"config": config, "data": self._fingerprints, "params": self.network.params, "counters": counters,
                "lists": {name: getattr(self, name) for name in _LISTS}, "callbacks": callbacks,
                "optimizer": self.optimizer, "batchnorm": io.batchnorm_layers(self.network), "generator": self._rng}

    def save_checkpoint(self, path):
        """Write everything the rest of training depends on to one .npz file at ``path`` (atomically; see
        fastnn.io.save_checkpoint); returns None."""
        io.save_checkpoint(path, self._state())

    def load_checkpoint(self, path):
        """Restore what :meth:`save_checkpoint` wrote into this trainer, its network (in place), optimizer and
        callbacks, and NumPy's global random state; returns None. The file must come from a trainer with the
        same settings and data and a network with the same parameter keys, shapes and dtypes: a refused file
        (ValueError naming the file and the entry) leaves everything as it was."""
        values = io.load_checkpoint(path, self._state())
        # everything that could still fail comes before the first change
        lists = {name: list(values["lists"][name]) for name in _LISTS}
        if self._early is not None:  # (each callback checks its state before it changes anything)
            self._early.load_state_dict(values["callbacks"]["EarlyStopping"])
        self._history.load_state_dict(values["callbacks"]["History"])
        params = self.network.params
        for key, value in values["params"].items():
            np.copyto(params[key], value)
        for layer, stats in values["batchnorm"]:
            for stat, value in stats.items():
                setattr(layer, stat, value)
        self.optimizer.load_state_dict(values["optimizer"])
        for name in _LISTS:
            getattr(self, name)[:] = lists[name]
        c = values["counters"]
        self.current_iter, self.current_epoch = c["current_iter"], c["current_epoch"]
        self.stop_training = c["stop_training"]
        # a run that had stopped (early stopping, a callback) stays stopped: train() only finishes it
        self._target_iter = self.current_iter if c["stop_training"] else c["target_iter"]
        self.final_test_acc = None
        np.random.set_state(values["global_rng"])
        if values["generator"] is not None:
            self._rng, state = values["generator"]
            self._rng.bit_generator.state = state
