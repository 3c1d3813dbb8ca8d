"""The first book Trainer's check for NaN and inf (its setting: fastnn.callbacks.FiniteCheck): parameters refused
before the first step, a backup before each step-by-step update, the loss and the parameters checked after it, and
the FloatingPointError that says where training broke. The compiled loop makes the same checks in its kernel and
reports them through :meth:`FiniteGuard.fail`."""
import numpy as np

from . import _checks
from .callbacks import first_non_finite, restore_params, save_params


class FiniteGuard:
    """The checks of one Trainer, on when ``enabled``; with them off, a non-finite loss warns once per run."""

    def __init__(self, enabled):
        self.enabled = bool(enabled)
        self._backup = {}  # parameters before the latest update (the step-by-step path)
        self._warned = False

    def new_run(self):
        """Re-arm the warning of a disabled check (at the start of each train()); returns None."""
        self._warned = False

    def check_start(self, params):
        """Refuse parameters that hold NaN or inf before training (only when enabled); returns None."""
        bad = first_non_finite(params) if self.enabled else None
        if bad is not None:
            raise ValueError(f"network.params[{bad!r}] holds NaN or inf before training: nothing to start from "
                             f"(initialise or load finite parameters)")

    def before_update(self, params):
        """Back the parameters up (when enabled); returns None."""
        if self.enabled:
            save_params(params, self._backup)

    def after_update(self, trainer):
        """Raise (restoring the backup) when a parameter holds NaN or inf; returns None."""
        if self.enabled:
            bad = first_non_finite(trainer.network.params)
            if bad is not None:
                self.fail(trainer, f"params[{bad!r}] holds NaN or inf after the update",
                          lambda: restore_params(trainer.network.params, self._backup))

    def check_loss(self, trainer, loss):
        """Raise for a non-finite loss (restoring the parameters before the last update, when one was made), or
        warn once when disabled; returns None."""
        if np.all(np.isfinite(loss)):
            return
        if not self.enabled:
            if not self._warned:
                self._warned = True
                _checks.warn_non_finite(loss)
            return
        backup = self._backup
        self.fail(trainer, f"training loss is {loss} (not finite)",
                  (lambda: restore_params(trainer.network.params, backup)) if backup else None)

    @staticmethod
    def fail(trainer, problem, restore):
        """Call ``restore`` (None: no update had been made) and raise FloatingPointError saying ``problem`` at
        the trainer's current iteration; returns nothing."""
        if restore is not None:
            restore()
        kept = ("the parameters were restored to their values before the last update" if restore is not None
                else "the parameters are unchanged (no update had been made)")
        i = trainer.current_iter
        raise FloatingPointError(f"{problem} at iteration {i} (0-based, epoch {trainer.epoch_of(i)}); {kept}. "
                                 f"Try a smaller learning rate.")
