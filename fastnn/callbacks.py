"""The first-book Trainer's extras as callbacks: one small protocol (after Keras' and Lightning's).

``Trainer(..., callbacks=[Validation(x_val, t_val), EarlyStopping(patience=3), Checkpoint("ck-{epoch}.npz"),
ProgressBar()])``. A callback is a :class:`Callback` (override the hooks you need) or a plain callable
``f(trainer, epoch, logs)``, run as ``on_epoch_end``. The hooks, all no-ops by default:

``on_train_begin(trainer)``
    at the start of ``train()``.
``on_step_end(trainer, iteration, loss)``
    after each iteration (0-based ``iteration``; ``loss`` as appended to ``train_loss_list``). The compiled loop
    runs many iterations per call and then calls this hook for each of them, in order, before the epoch
    evaluation that ends the span; ``max_span`` bounds how many iterations one call may run.
``on_epoch_end(trainer, epoch, logs)``
    after each epoch evaluation; ``logs`` holds 'epoch', 'train_loss' (mean batch loss since the previous
    evaluation), 'train_acc', 'test_acc', 'epoch_time' (seconds since the previous evaluation) and what earlier
    callbacks added ('val_loss', 'val_acc', 'test_loss'); one dict, shared by the callbacks in turn. Returning
    False, or setting ``trainer.stop_training = True``, stops training after this evaluation.
``on_train_end(trainer)``
    when ``train()`` has run its iterations (or stopped), before the final test accuracy.
``on_exception(trainer, error)``
    when an exception ends ``train()`` (training-loss errors included); the exception then propagates.

In every hook ``trainer.current_iter`` counts the iterations done. Hooks run in ascending ``order`` (then in the
order given): the progress bar first (it clears its line before anything prints), then the callbacks that add to
``logs`` (:class:`Validation`, :class:`EarlyStopping`), then :class:`History` and the book's printed lines, then
the user's callbacks (order 0), then :class:`Checkpoint` (after everything that changes the state it saves). A
callback object keeps the state of one training run: give each Trainer its own. A callback whose state a resumed
run needs returns it from ``state_dict()`` as plain data and takes it back with ``load_state_dict(state)`` (as
Lightning's callbacks): the Trainer's checkpoints save :class:`History` and :class:`EarlyStopping` through these.

The Trainer always has a :class:`History` (``trainer.history``) and a :class:`FiniteCheck`, its NaN/inf-check
setting (unless one is given: ``FiniteCheck(enabled=False)`` turns the check off).
"""
import numbers
import os
import sys
import time
from collections.abc import Mapping

import numpy as np

from . import _checks

__all__ = ["Callback", "History", "ProgressBar", "Validation", "EarlyStopping", "FiniteCheck", "Checkpoint"]

HISTORY_KEYS = ("train_loss", "train_acc", "test_acc", "val_loss", "val_acc", "test_loss", "epoch_time")


class Callback:
    """The protocol: every hook a no-op. ``order`` sorts the callbacks; ``max_span`` (None: no limit) is the most
    iterations the compiled loop may run between two calls of this callback's ``on_step_end``."""

    order = 0
    max_span = None

    def on_train_begin(self, trainer):
        """At the start of ``train()``; returns None."""

    def on_step_end(self, trainer, iteration, loss):
        """After iteration ``iteration`` (0-based) recorded ``loss``; returns None."""

    def on_epoch_end(self, trainer, epoch, logs):
        """After the evaluation of epoch ``epoch`` (1-based); returns False to stop training, else None."""

    def on_train_end(self, trainer):
        """When ``train()`` has finished its iterations; returns None."""

    def on_exception(self, trainer, error):
        """When ``error`` ends ``train()`` (it propagates afterwards); returns None."""


class _Function(Callback):
    """A plain callable ``f(trainer, epoch, logs)`` as an ``on_epoch_end`` callback."""

    def __init__(self, f):
        self.f = f

    def on_epoch_end(self, trainer, epoch, logs):
        return self.f(trainer, epoch, logs)


def as_callbacks(callbacks):
    """The ``callbacks`` argument as a list of Callback objects (plain callables wrapped), or a TypeError."""
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = (callbacks,)
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a sequence of Callback objects or callables; got "
                        f"{type(callbacks).__name__}") from None
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            callbacks[i] = _Function(_checks.callable_arg(cb, f"callbacks[{i}]"))
    return callbacks


def only(callbacks, cls):
    """The one callback of class ``cls`` in ``callbacks``, or None; a ValueError when there are several."""
    found = [cb for cb in callbacks if isinstance(cb, cls)]
    if len(found) > 1:
        raise ValueError(f"callbacks holds {len(found)} {cls.__name__} objects; give at most one")
    return found[0] if found else None


# --- parameter snapshots (in place, so that layers holding the arrays see the restored values) -------------------
def param_items(params):
    """Returns [(key, array)] of a network's parameters (a dict or a list)."""
    items = params.items() if isinstance(params, dict) else enumerate(params)
    return [(k, v) for k, v in items if isinstance(v, np.ndarray)]


def first_non_finite(params):
    """The key of the first parameter holding NaN or inf, or None."""
    return next((key for key, value in param_items(params) if not np.isfinite(value).all()), None)


def save_params(params, buffers):
    """Copy every parameter array into ``buffers`` (dict key -> array; allocating only when shapes change);
    returns None."""
    for key, value in param_items(params):
        buf = buffers.get(key)
        if buf is None or buf.shape != value.shape or buf.dtype != value.dtype:
            buffers[key] = value.copy()
        else:
            np.copyto(buf, value)


def restore_params(params, buffers):
    """Copy ``buffers`` back into the very parameter arrays (never rebinding them); returns None."""
    for key, value in param_items(params):
        if key in buffers:
            np.copyto(value, buffers[key])


def _any_float(v, name):
    """A real number (NaN and inf included: a diverged run's losses) as a float, else TypeError."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(v).__name__}")
    return float(v)


def _same_keys(state, expected, cls):
    """Refuse a state that is not a dict with exactly the keys of ``expected`` (TypeError/ValueError)."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict from {cls}.state_dict(); got {type(state).__name__}")
    if set(state) != set(expected):
        raise ValueError(f"state must hold exactly the keys {sorted(expected)} of a {cls}; got {sorted(state)}")


# --- the extras -------------------------------------------------------------------------------------------------
class History(Callback):
    """``history``: per-epoch lists of the logs' values under :data:`HISTORY_KEYS` (a key stays empty when no
    callback provides it: 'val_*' need :class:`Validation`, 'test_loss' an :class:`EarlyStopping` without it)."""

    order = -50

    def __init__(self):
        self.history = {key: [] for key in HISTORY_KEYS}

    def on_epoch_end(self, trainer, epoch, logs):
        """Append this epoch's values; returns None."""
        for key, values in self.history.items():
            if key in logs:
                values.append(logs[key])

    def state_dict(self):
        """Returns the history as plain data: {key: list of floats} for every key of :data:`HISTORY_KEYS`."""
        return {key: [float(v) for v in values] for key, values in self.history.items()}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned, into the very lists of ``history`` (so ``trainer.history``
        shows it); returns None. Checked first (the keys, real numbers): on an error nothing changes."""
        _same_keys(state, self.history, "History")
        lists = {key: [_any_float(v, f"state[{key!r}]") for v in state[key]] for key in self.history}
        for key, values in lists.items():
            self.history[key][:] = values


class BookLines(Callback):
    """The first book's '=== epoch:' line after each evaluation when the Trainer is ``verbose`` (with the
    validation figures when there are any). The Trainer prints the book's 'train loss:' line of each iteration
    itself (unless a :class:`ProgressBar` replaces them) and the final accuracy."""

    order = -40

    def on_epoch_end(self, trainer, epoch, logs):
        """Print the book's epoch line (when verbose); returns None."""
        if not trainer.verbose:
            return
        line = ("=== epoch:" + str(epoch) + ", train acc:" + str(trainer.train_acc_list[-1]) + ", test acc:"
                + str(trainer.test_acc_list[-1]))
        if "val_loss" in logs:
            line += ", val loss:" + str(logs["val_loss"]) + ", val acc:" + str(logs["val_acc"])
        print(line + " ===")


class ProgressBar(Callback):
    """One self-overwriting line on ``stream`` (default: sys.stderr when training starts), redrawn at most every
    ``interval`` seconds: epoch, a bar, iteration and loss. It replaces the book's 'train loss:' lines; the epoch
    lines still print when the Trainer is ``verbose``. The compiled loop returns at least every ``max_span``
    iterations so that the bar moves."""

    order = -1000
    max_span = 64
    WIDTH = 24

    def __init__(self, stream=None, interval=0.1):
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must be a text stream with write(); got {type(stream).__name__}")
        self.stream = stream
        self.interval = _checks.real_number(interval, "interval", nonnegative=True)
        self._out = None  # the stream while training
        self._total = 1
        self._last_draw = -np.inf
        self._shown = 0  # characters currently on the line

    def on_train_begin(self, trainer):
        """Start a bar over the run's iterations; returns None."""
        self._out = self.stream if self.stream is not None else sys.stderr
        self._total = max(trainer.max_iter, 1)
        self._last_draw, self._shown = -np.inf, 0

    def on_step_end(self, trainer, iteration, loss):
        """Redraw (when ``interval`` has passed); returns None."""
        self._draw(trainer, iteration, loss)

    def on_epoch_end(self, trainer, epoch, logs):
        """Blank the line so that epoch lines and later output start at column 0; returns None."""
        if self._shown and self._out is not None:
            self._out.write("\r" + " " * self._shown + "\r")
            self._out.flush()
            self._shown, self._last_draw = 0, -np.inf

    def on_train_end(self, trainer):
        """Draw the final state and end the line; returns None."""
        if trainer.train_loss_list:
            self._draw(trainer, trainer.current_iter - 1, trainer.train_loss_list[-1], force=True)
        self.on_exception(trainer, None)

    def on_exception(self, trainer, error):
        """End the line; returns None."""
        if self._shown and self._out is not None:
            self._out.write("\n")
            self._out.flush()
        self._out, self._shown = None, 0

    def _draw(self, trainer, iteration, loss, force=False):
        now = time.monotonic()
        if self._out is None or (not force and now - self._last_draw < self.interval):
            return
        self._last_draw = now
        done = trainer.current_iter
        filled = int(self.WIDTH * done / self._total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        text = (f"epoch {trainer.epoch_of(iteration)}/{trainer.epochs} [{bar}] iter {done}/{self._total} "
                f"loss {float(loss):.4f}")
        self._out.write("\r" + text.ljust(self._shown))
        self._out.flush()
        self._shown = len(text)


class Validation(Callback):
    """A validation set: its loss and accuracy are added to each epoch's logs as 'val_loss' and 'val_acc' (so to
    ``history``, the verbose epoch line, and what :class:`EarlyStopping` monitors). The Trainer checks the data
    when it is built (as ``x_val``/``t_val``)."""

    order = -100

    def __init__(self, x_val, t_val):
        self.x_val, self.t_val = x_val, t_val

    def on_epoch_end(self, trainer, epoch, logs):
        """Add 'val_loss' and 'val_acc' to ``logs``; returns None."""
        logs["val_loss"] = float(trainer.network.loss(self.x_val, self.t_val))
        logs["val_acc"] = float(trainer.network.accuracy(self.x_val, self.t_val))


class EarlyStopping(Callback):
    """Stop when the validation loss (with :class:`Validation`; else the test loss of the evaluation sample,
    recorded as 'test_loss') has not improved for ``patience`` epoch evaluations; at the end of training, copy the
    best epoch's parameters back into the network's own arrays. ``best_epoch``, ``best_loss``,
    ``epochs_without_improvement`` and ``best_params`` hold the bookkeeping (``state_dict()``: what checkpoints
    save)."""

    order = -90

    def __init__(self, patience):
        self.patience = _checks.integer(patience, "patience", minimum=1)
        self.best_epoch = None
        self.best_loss = np.inf
        self.epochs_without_improvement = 0
        self.best_params = {}

    def on_epoch_end(self, trainer, epoch, logs):
        """Keep the parameters when the monitored loss improved; returns False after ``patience`` evaluations
        without improvement, else None."""
        if "val_loss" in logs:
            loss = logs["val_loss"]
        else:
            loss = logs["test_loss"] = float(trainer.network.loss(*trainer.test_sample()))
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.epochs_without_improvement = loss, epoch, 0
            save_params(trainer.network.params, self.best_params)
            return None
        self.epochs_without_improvement += 1
        return False if self.epochs_without_improvement >= self.patience else None

    def on_train_end(self, trainer):
        """Put the best parameters back (in place); returns None."""
        if self.best_params:
            restore_params(trainer.network.params, self.best_params)

    def state_dict(self):
        """Returns the bookkeeping a resumed run continues from, as plain data (arrays copied): {'best_epoch': int
        or None, 'best_loss': float, 'epochs_without_improvement': int, 'best_params': {key: array}}."""
        return {"best_epoch": self.best_epoch, "best_loss": float(self.best_loss),
                "epochs_without_improvement": self.epochs_without_improvement,
                "best_params": {key: np.array(value) for key, value in self.best_params.items()}}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (arrays copied); returns None. Checked first: on an error
        nothing changes."""
        _same_keys(state, self.state_dict(), "EarlyStopping")
        best_epoch = _checks.optional_integer(state["best_epoch"], "state['best_epoch']", 0)
        best_loss = _any_float(state["best_loss"], "state['best_loss']")
        waited = _checks.integer(state["epochs_without_improvement"], "state['epochs_without_improvement']",
                                 minimum=0)
        if not isinstance(state["best_params"], Mapping):
            raise TypeError(f"state['best_params'] must be a dict of arrays; got "
                            f"{type(state['best_params']).__name__}")
        best = {key: _checks.as_array(value, f"state['best_params'][{key!r}]").copy()
                for key, value in state["best_params"].items()}
        self.best_epoch, self.best_loss, self.epochs_without_improvement = best_epoch, best_loss, waited
        self.best_params = best


class FiniteCheck(Callback):
    """The Trainer's check for NaN and inf, on by default; ``FiniteCheck(enabled=False)`` among the callbacks
    turns it off. It is a setting that the Trainer reads (``enabled``), not a callback with hooks: the Trainer
    makes the checks in its step code and its compiled loop (fastnn/_finite.py), and adds a FiniteCheck() to its
    callbacks when none is given.

    When enabled, parameters that are not finite before the first step are refused (ValueError naming the
    parameter); a non-finite training loss, or a parameter holding NaN or inf after an update (a -inf bias behind a
    ReLU can leave the loss finite), raises FloatingPointError naming the iteration (and the parameter), after
    copying back the last parameters that were finite and gave a finite loss (the optimizer's state, e.g.
    momentum, is not rolled back). An in-place update cannot be undone, so the check copies all parameters once per
    iteration into a preallocated buffer (the compiled loop does it in the kernel): about 4% of a 784-50-10
    batch-100 step, 2% of a 784-[100]x5-10 one. Disabled, the checks and the copy are skipped, as in the book,
    where training carries on with NaN; a non-finite recorded loss then gives one RuntimeWarning per ``train()``."""

    def __init__(self, enabled=True):
        self.enabled = bool(enabled)


class Checkpoint(Callback):
    """``trainer.save_checkpoint(path)`` after every ``every``-th epoch evaluation; '{epoch}' in ``path`` is
    replaced by the epoch number (a file per epoch), else the file is replaced. It runs after the other
    callbacks, so the file holds what they decided (e.g. that training stops)."""

    order = 100

    def __init__(self, path, every=1):
        self.every = _checks.integer(every, "every", minimum=1)
        self.path = _checks.path(path, "path")
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ValueError(f"path {self.path!r}: directory {directory!r} does not exist")

    def on_epoch_end(self, trainer, epoch, logs):
        """Save when ``epoch`` is a multiple of ``every``; returns None."""
        if epoch % self.every == 0:
            trainer.save_checkpoint(self.path.replace("{epoch}", str(epoch)))
