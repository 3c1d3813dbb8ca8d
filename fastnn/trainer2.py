"""The second book's ``common/trainer.py`` trainers: ``Trainer``, reached as ``from fastnn.trainer import Trainer2``
or as ``Trainer(model, optimizer)``, and ``RnnlmTrainer`` (``from fastnn.trainer import RnnlmTrainer``)."""
import time

import numpy as np

from . import _checks
from .util import clip_grads, remove_duplicate

__all__ = ["Trainer2", "RnnlmTrainer"]


def looks_like_optimizer(obj):
    """True when ``obj`` is an optimizer object (not a name): something with an update() method."""
    return not isinstance(obj, str) and callable(getattr(obj, "update", None))


def train_step(model, optimizer, batch_x, batch_t, max_grad):
    """The book's update: ``model.forward`` (the loss, returned), ``model.backward()``, shared weights merged by
    ``remove_duplicate``, gradients clipped to ``max_grad`` (total norm) when given, ``optimizer.update``."""
    loss = model.forward(batch_x, batch_t)
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)
    if max_grad is not None:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    return loss


def plot_curve(values, eval_interval, ylabel, ylim=None):
    """The book's learning curve: ``values`` against iterations (x eval_interval), shown with matplotlib (imported
    here); returns None."""
    if ylim is not None and (isinstance(ylim, str) or np.shape(ylim) != (2,)):
        raise TypeError(f"ylim must be None or a (bottom, top) pair; got {ylim!r}")
    import matplotlib.pyplot as plt

    x = np.arange(len(values))
    if ylim is not None:
        plt.ylim(*ylim)
    plt.plot(x, values, label='train')
    plt.xlabel('iterations (x' + str(eval_interval) + ')')
    plt.ylabel(ylabel)
    plt.show()


def _checked_model(model, optimizer):
    """Refuse a model without forward/backward/params/grads or an optimizer without update (TypeError)."""
    _checks.require_methods(model, "model", ("forward", "backward"), ("params", "grads"))
    if not looks_like_optimizer(optimizer):
        raise TypeError(f"optimizer must be an optimizer object with an update(params, grads) method; "
                        f"got {type(optimizer).__name__}")


def _loop_args(max_epoch, batch_size, max_grad, eval_interval):
    """(max_epoch, batch_size, max_grad, eval_interval) of a fit call, checked (errors name the argument)."""
    max_epoch = _checks.integer(max_epoch, "max_epoch", minimum=0)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
    if max_grad is not None:
        max_grad = _checks.real_number(max_grad, "max_grad", nonnegative=True)
    return max_epoch, batch_size, max_grad, _checks.optional_integer(eval_interval, "eval_interval", 1)


class Trainer2:
    """The second book's trainer: ``Trainer2(model, optimizer).fit(x, t, ...)``.

    Each epoch shuffles with ``np.random.permutation(np.arange(data_size))`` and walks ``data_size // batch_size``
    consecutive mini-batches: ``model.forward(x, t)`` (the loss), ``model.backward()``, shared weights merged by
    ``remove_duplicate``, gradients clipped to ``max_grad`` (total norm) when given, ``optimizer.update``. Every
    ``eval_interval`` iterations the average loss since the last report is printed and appended to ``loss_list``.
    """

    def __init__(self, model, optimizer):
        _checked_model(model, optimizer)
        self.model = model
        self.optimizer = optimizer
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20):
        """Train for ``max_epoch`` epochs of ``len(x) // batch_size`` updates (the book's loop and printed lines);
        returns None."""
        x, t = _checks.samples(x, t, "x", "t")
        max_epoch, batch_size, max_grad, eval_interval = _loop_args(max_epoch, batch_size, max_grad, eval_interval)
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
        """One update (see train_step); returns the loss. A model with a fused step for this optimizer
        (fastnn.nets.CBOW/SkipGram with Adam) does it all in one call."""
        fused = getattr(self.model, "_fused_step", None)
        if fused is not None:
            loss = fused(batch_x, batch_t, self.optimizer, max_grad)
            if loss is not None:
                return loss
        return train_step(self.model, self.optimizer, batch_x, batch_t, max_grad)

    def _report(self, iters, max_iters, elapsed_time, avg_loss):
        print('| epoch %d |  iter %d / %d | time %d[s] | loss %.2f'
              % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, avg_loss))
        self.loss_list.append(float(avg_loss))

    def plot(self, ylim=None):
        """Show the recorded average losses against iterations (x eval_interval); needs matplotlib (imported
        here). Returns None."""
        plot_curve(self.loss_list, self.eval_interval, 'loss', ylim)


def _token_ids(a, name):
    """A 1-D integer array (a corpus of word ids), or TypeError/ValueError naming ``name``."""
    a = _checks.as_array(a, name)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer word ids; got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D corpus of word ids; got shape {a.shape}")
    return a


def corpus_batch(x, t, batch_size, time_size, time_idx):
    """The book's RnnlmTrainer batch at ``time_idx`` (checked input): int32 (batch_x, batch_t) of shape
    (batch_size, time_size), row i the words at ``(i * (len(x) // batch_size) + time_idx + k) % len(x)``."""
    offsets = np.arange(batch_size) * (len(x) // batch_size)
    idx = (offsets[:, None] + (time_idx + np.arange(time_size))[None, :]) % len(x)
    return x[idx].astype(np.int32), t[idx].astype(np.int32)


def corpus_pair(xs, ts, names=("xs", "ts")):
    """(xs, ts): 1-D integer arrays of the same length (inputs and next-word targets), or an error naming them."""
    xs, ts = _token_ids(xs, names[0]), _token_ids(ts, names[1])
    if len(xs) != len(ts):
        raise ValueError(f"{names[0]} and {names[1]} must have the same length; got {len(xs)} and {len(ts)}")
    return xs, ts


class RnnlmTrainer:
    """The second book's trainer of language models: ``RnnlmTrainer(model, optimizer).fit(xs, ts, ...)``.

    The corpus is read as ``batch_size`` parallel streams starting ``len(xs) // batch_size`` apart; each iteration
    takes the next ``time_size`` words of every stream (``get_batch``; ``time_idx`` counts the words read, across
    epochs) for one update (forward, backward, ``remove_duplicate``, ``clip_grads`` when ``max_grad``, the
    optimizer's update). Every ``eval_interval`` iterations the perplexity (exp of the average loss since the last
    report) is printed as the book prints it and appended to ``ppl_list``.
    """

    def __init__(self, model, optimizer):
        _checked_model(model, optimizer)
        self.model = model
        self.optimizer = optimizer
        self.time_idx = None
        self.ppl_list = None
        self.eval_interval = None
        self.current_epoch = 0

    def get_batch(self, x, t, batch_size, time_size):
        """The next (batch_x, batch_t), int32 arrays of shape (batch_size, time_size): row i holds the words at
        positions ``(i * (len(x) // batch_size) + time_idx + k) % len(x)``, k < time_size; advances ``time_idx``
        by time_size. Only after fit has set ``time_idx`` (or after setting it yourself)."""
        if self.time_idx is None:
            raise RuntimeError("RnnlmTrainer.get_batch called before fit (time_idx is None; fit sets it to 0)")
        x, t = corpus_pair(x, t, ("x", "t"))
        batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
        time_size = _checks.integer(time_size, "time_size", minimum=1)
        if len(x) == 0:
            raise ValueError("x must hold at least one word id; got an empty corpus")
        batch = corpus_batch(x, t, batch_size, time_size, self.time_idx)
        self.time_idx += time_size
        return batch

    def fit(self, xs, ts, max_epoch=10, batch_size=20, time_size=35, max_grad=None, eval_interval=20):
        """Train for ``max_epoch`` epochs of ``len(xs) // (batch_size * time_size)`` updates (the book's loop and
        printed perplexity lines); resets ``time_idx`` and ``ppl_list``. Returns None."""
        xs, ts = corpus_pair(xs, ts)
        max_epoch, batch_size, max_grad, eval_interval = _loop_args(max_epoch, batch_size, max_grad, eval_interval)
        time_size = _checks.integer(time_size, "time_size", minimum=1)
        data_size = len(xs)
        max_iters = data_size // (batch_size * time_size)
        if max_iters == 0:
            raise ValueError(f"xs holds {data_size} words, fewer than one batch of batch_size * time_size = "
                             f"{batch_size} * {time_size}: no iteration would run")

        self.time_idx = 0
        self.ppl_list = []
        self.eval_interval = eval_interval
        total_loss, loss_count = 0, 0  # the book's int 0 start
        start_time = time.time()
        for _ in range(max_epoch):
            for iters in range(max_iters):
                batch_x, batch_t = self.get_batch(xs, ts, batch_size, time_size)
                total_loss += train_step(self.model, self.optimizer, batch_x, batch_t, max_grad)
                loss_count += 1
                if eval_interval is not None and iters % eval_interval == 0:
                    ppl = np.exp(total_loss / loss_count)
                    elapsed_time = time.time() - start_time
                    print('| epoch %d |  iter %d / %d | time %d[s] | perplexity %.2f'
                          % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, ppl))
                    self.ppl_list.append(float(ppl))
                    total_loss, loss_count = 0, 0
            self.current_epoch += 1

    def plot(self, ylim=None):
        """Show the recorded perplexities against iterations (x eval_interval); needs matplotlib (imported here).
        Returns None."""
        if self.ppl_list is None:
            raise RuntimeError("RnnlmTrainer.plot called before fit: no perplexity recorded yet")
        plot_curve(self.ppl_list, self.eval_interval, 'perplexity', ylim)
