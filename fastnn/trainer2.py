"""The second book's ``common/trainer.py`` Trainer, reached as ``from fastnn.trainer import Trainer2`` or as
``Trainer(model, optimizer)``."""
import time

import numpy as np

from . import _checks
from .util import clip_grads, remove_duplicate

__all__ = ["Trainer2"]


def looks_like_optimizer(obj):
    """True when ``obj`` is an optimizer object (not a name): something with an update() method."""
    return not isinstance(obj, str) and callable(getattr(obj, "update", None))


class Trainer2:
    """The second book's trainer: ``Trainer2(model, optimizer).fit(x, t, ...)``.

    Each epoch shuffles with ``np.random.permutation(np.arange(data_size))`` and walks ``data_size // batch_size``
    consecutive mini-batches: ``model.forward(x, t)`` (the loss), ``model.backward()``, shared weights merged by
    ``remove_duplicate``, gradients clipped to ``max_grad`` (total norm) when given, ``optimizer.update``. Every
    ``eval_interval`` iterations the average loss since the last report is printed and appended to ``loss_list``.
    """

    def __init__(self, model, optimizer):
        _checks.require_methods(model, "model", ("forward", "backward"), ("params", "grads"))
        if not looks_like_optimizer(optimizer):
            raise TypeError(f"optimizer must be an optimizer object with an update(params, grads) method; "
                            f"got {type(optimizer).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20):
        """Train for ``max_epoch`` epochs of ``len(x) // batch_size`` updates (the book's loop and printed lines);
        returns None."""
        x, t = _checks.samples(x, t, "x", "t")
        max_epoch = _checks.integer(max_epoch, "max_epoch", minimum=0)
        batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
        if max_grad is not None:
            max_grad = _checks.real_number(max_grad, "max_grad", nonnegative=True)
        eval_interval = _checks.optional_integer(eval_interval, "eval_interval", 1)
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
        """One update: forward (the loss, returned), backward, shared weights merged, clipping, optimizer. A model
        with a fused step for this optimizer (fastnn.nets.CBOW/SkipGram with Adam) does it all in one call."""
        fused = getattr(self.model, "_fused_step", None)
        if fused is not None:
            loss = fused(batch_x, batch_t, self.optimizer, max_grad)
            if loss is not None:
                return loss
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
        """Show the recorded average losses against iterations (x eval_interval); needs matplotlib (imported
        here). Returns None."""
        import matplotlib.pyplot as plt

        x = np.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label='train')
        plt.xlabel('iterations (x' + str(self.eval_interval) + ')')
        plt.ylabel('loss')
        plt.show()
