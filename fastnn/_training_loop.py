"""The state of the first book Trainer's compiled loop (fastnn.trainer): the training set as the loop reads it
(:class:`TrainingData`) and the buffers of one loop over an engine's plan (:class:`TrainingLoop`), which runs many
training steps in one call of fastnn.kernels.network.train_steps."""
import numpy as np

from . import _checks
from ._dispatch import lazy_kernels
from .threads import _one_blas_thread

nk = lazy_kernels("network")


class TrainingData:
    """A Trainer's training set as the fused loop reads it: x as (N, D) float32/float64 rows, t as intp labels
    or one-hot rows in the net's dtype (checked once)."""

    def __init__(self, engine, x, t):
        x = np.asarray(x)
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != engine.n_in:
            raise ValueError(f"x_train must have {engine.n_in} features per row to match the network; got shape "
                             f"{x.shape}")
        if x2.dtype not in _checks.FLOAT_DTYPES or not x2.flags.c_contiguous:
            x2 = np.ascontiguousarray(x2, dtype=engine.dtype if x2.dtype not in _checks.FLOAT_DTYPES else x2.dtype)
        self.x = x2
        kind, checked = _checks.labels_or_onehot_for(t, x2.shape[0], engine.n_out, "t_train", engine.dtype)
        # labels or one-hot rows, the other None: the kernel compiles for the form given only
        self.labels, self.onehot = (None, checked) if kind == "onehot" else (checked, None)


class TrainingLoop:
    """The state of a Trainer's fused loop: the plan of its batch size, the optimizer's flat plan, the buffers
    the kernel writes (gathered batch, losses, parameter backup)."""

    def __init__(self, engine, data, batch_size, flat):
        self.engine, self.data, self.flat = engine, data, flat
        self.plan = engine.plan(batch_size)
        self.xb = np.zeros((batch_size, engine.n_in), dtype=engine.dtype)
        self.labels = np.zeros(batch_size, dtype=np.intp)
        self.onehot = np.zeros((batch_size, engine.n_out), dtype=engine.dtype)
        self.backup = np.zeros(engine.n_params, dtype=engine.dtype)
        self.res = np.zeros(3, dtype=np.float64)
        self.pass_res = np.zeros(3, dtype=np.float64)  # the result of each pass's run (fastnn.kernels.network)

    def run(self, batches, rands, coefs, decay, loss_after_update, check_finite):
        """Steps for the rows of ``batches``; returns (losses of the steps done, status)."""
        engine, plan, flat, data = self.engine, self.plan, self.flat, self.data
        engine.activate(plan)
        losses = np.zeros(len(batches), dtype=np.float64)
        use_onehot = data.onehot is not None
        targets = (None, self.onehot) if use_onehot else (self.labels, None)
        with _one_blas_thread(self.xb.shape[0], engine.row_work):
            # decay None without weight decay, as the engine's calls pass it (same compiled run)
            nk.train_steps(plan.net, (data.x, data.labels, data.onehot), (self.xb, *targets, self.pass_res),
                           (flat.code, *flat.states, flat.segments), batches, rands, coefs, decay or None,
                           loss_after_update, check_finite, self.backup, losses, self.res)
        done = int(self.res[0])
        first = engine.stack[0].layer
        if first is not None:
            first.x, first.original_x_shape = self.xb, self.xb.shape
        if engine.loss_layer is not None:
            engine.loss_layer.t = (self.onehot if use_onehot else self.labels).copy()
        return losses[:done + (self.res[1] == nk.NONFINITE_LOSS)], int(self.res[1])

    def restore(self):
        """Put back the parameters from before the last update."""
        self.engine.arena[:self.engine.n_params] = self.backup
