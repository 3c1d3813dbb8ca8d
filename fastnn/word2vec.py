"""The second book's chapter-4 word2vec models with negative sampling, ``CBOW`` (``ch04/cbow.py``) and ``SkipGram``
(``ch04/skip_gram.py``), reached as ``fastnn.nets.CBOW`` and ``fastnn.nets.SkipGram``.

Same constructors, RNG draws (W_in, then W_out: ``0.01 * np.random.randn(V, H)`` as float32), attributes
(``in_layers``/``in_layer``, ``ns_loss``/``loss_layers``, ``word_vecs``) and ``params``/``grads`` lists in the
book's order, built from fastnn's layers (:mod:`fastnn.layers`, :mod:`fastnn.negative_sampling_layer`):
``forward``/``backward`` run them as the book runs its own.

What they add: a fused training step that the second book's Trainer (:class:`fastnn.trainer.Trainer`) takes with
fastnn's ``Adam`` (and no ``max_grad``). The layered step writes a dense gradient matrix per Embedding layer
(16 of 10,000 x 100 for the book's CBOW), adds them up per shared matrix and runs Adam; the fused step adds up only
the rows the batch touched and runs Adam over the matrices with zeros elsewhere (fastnn/kernels/word2vec.py). It
draws the same negative samples, returns the same loss and leaves the same parameters and Adam state, bit for bit,
as the layered step with compiled kernels; it does not fill ``grads`` (``backward`` does). Any other optimizer, a
``max_grad``, or parameters and optimizer state that are not the model's own take the layered step.
"""
import numpy as np

from . import _checks
from ._dispatch import lazy_kernels, numpy_suffices
from .layers import Embedding
from .negative_sampling_layer import NegativeSamplingLoss
from .optimizer import Adam

w2v = lazy_kernels("word2vec")

__all__ = ["CBOW", "SkipGram"]

POWER, SAMPLE_SIZE = 0.75, 5  # the book's models build their NegativeSamplingLoss with these


def _sizes(vocab_size, hidden_size, window_size):
    """The three sizes, each checked to be an integer >= 1."""
    return tuple(_checks.integer(v, name, minimum=1) for v, name in
                 ((vocab_size, "vocab_size"), (hidden_size, "hidden_size"), (window_size, "window_size")))


def _embedding_matrices(V, H):
    """W_in and W_out as the book draws them."""
    W_in = 0.01 * np.random.randn(V, H).astype('f')
    W_out = 0.01 * np.random.randn(V, H).astype('f')
    return W_in, W_out


def _ids(a, name, shape, bound):
    """Word ids of the given shape ((rows, cols), or (rows,)), each in [0, bound), as a C-contiguous intp array."""
    a = _checks.as_array(a, name)
    if a.ndim != len(shape) or any(want is not None and got != want for got, want in zip(a.shape, shape)):
        wanted = "x".join("N" if s is None else str(s) for s in shape)
        raise ValueError(f"{name} must have shape ({wanted}); got {a.shape}")
    return _checks.class_labels(a, a.size, bound, name).reshape(a.shape)


class _FusedStep:
    """The fused Trainer step shared by both models (see the module docstring)."""

    def _fused_step(self, x, t, optimizer, max_grad):
        """One Trainer step (forward, backward, shared gradients merged, Adam) on batch (x, t); returns the loss, or
        None when the fused step does not apply and the Trainer should take the layered one."""
        W_in, W_out = self.params[0], self.params[-1]
        if (max_grad is not None or type(optimizer) is not Adam or not self._own_params(W_in, W_out)
                or not _adam_state_fits(optimizer, W_in, W_out) or numpy_suffices(2 * W_in.size)):
            return None
        samplers = self._samplers()
        if any(s.word_p.dtype != np.float64 or s.sample_size != layer.sample_size
               for s, layer in zip(samplers, self._ns_layers())):
            return None
        return self._step(x, t, W_in, W_out, optimizer)

    def _own_params(self, W_in, W_out):
        """params still the layers' two float matrices (the book's order), usable by the kernels as they are."""
        layers = self._in_layers() + [d for layer in self._ns_layers() for d in layer.embed_dot_layers]
        if len(self.params) != len(layers) or any(p is not layer.params[0] for p, layer in zip(self.params, layers)):
            return False
        n_in = len(self._in_layers())
        if not all(p is W_in for p in self.params[:n_in]) or not all(p is W_out for p in self.params[n_in:]):
            return False
        return all(type(W) is np.ndarray and W.dtype in _checks.FLOAT_DTYPES and W.flags.c_contiguous
                   and W.flags.writeable and W.dtype == W_in.dtype and W.ndim == 2 and W.shape[1] == W_in.shape[1]
                   for W in (W_in, W_out))

    def _samplers(self):
        return [layer.sampler for layer in self._ns_layers()]

    def _adam(self, optimizer, W_in, W_out, merged):
        """Adam on both matrices: merged = ((slot_of, gradient rows) of W_in, the same of W_out). Its
        hyper-parameters are checked here, after the backward pass, where the layered path's update checks them."""
        coefficients = optimizer.step_coefficients(1, W_in.dtype)[0]  # counts the step (Adam's iter)
        if optimizer.m is None:
            optimizer.m = [np.zeros_like(W_in), np.zeros_like(W_out)]
            optimizer.v = [np.zeros_like(W_in), np.zeros_like(W_out)]
        zeros = np.zeros(W_in.shape[1], W_in.dtype)
        for W, m, v, (slot_of, rows) in zip((W_in, W_out), optimizer.m, optimizer.v, merged):
            w2v.adam_rows(W, m, v, slot_of, rows, zeros, *coefficients)


def _adam_state_fits(optimizer, W_in, W_out):
    """Adam's m and v: not created yet, or one C-contiguous array per matrix of its shape and dtype."""
    if optimizer.m is None and optimizer.v is None:
        return True
    for state in (optimizer.m, optimizer.v):
        if not isinstance(state, list) or len(state) != 2:
            return False
        for s, W in zip(state, (W_in, W_out)):
            if (type(s) is not np.ndarray or s.shape != W.shape or s.dtype != W.dtype or not s.flags.c_contiguous
                    or not s.flags.writeable):
                return False
    return True


def _losses(W_out, h, ids):
    """(loss as the NegativeSamplingLoss sums it, y, per-layer scores): ids (K, N), row 0 the targets."""
    dtype = W_out.dtype.type
    k, n = ids.shape
    scores, y = np.empty((k, n), W_out.dtype), np.empty((k, n), W_out.dtype)
    losses = np.empty(k, W_out.dtype)
    w2v.losses_forward(W_out, h, ids, scores, y, dtype(1e-7), losses, np.empty(h.shape[1], W_out.dtype))
    loss = losses[0]
    for value in losses[1:]:
        loss += value
    _checks.warn_if_not_finite(loss, "the negative-sampling loss", "NaN or inf in the scores")
    return loss, y


def _loss_gradients(W_out, h, ids, y, dout=1.0):
    """(dscore (K, N), dh): SigmoidWithLoss's and EmbeddingDot's backward for every layer, dh summed in order."""
    dtype = W_out.dtype.type
    dscore, dh = np.empty(y.shape, W_out.dtype), np.empty(h.shape, W_out.dtype)
    w2v.losses_backward(W_out, h, ids, y, dtype(dout), dtype(ids.shape[1]), dscore, dh)
    return dscore, dh


class _Merged:
    """The compact, merged gradient of one matrix: a slot per distinct word the step touched."""

    def __init__(self, vocab_rows, width, all_ids, dtype):
        self.slot_of = np.full(vocab_rows, w2v.NO_SLOT, dtype=np.intp)
        slot_rows = np.empty(sum(a.size for a in all_ids), dtype=np.intp)
        n = 0
        for ids in all_ids:
            n = w2v.assign_slots(ids, self.slot_of, slot_rows, n)
        self.rows = np.zeros((n, width), dtype)
        self._acc = np.empty((n, width), dtype)
        self._stamp = np.full(n, -1, dtype=np.intp)
        self._layer = 0

    def add_layer(self, rows, scale, src):
        """One Embedding layer whose gradient rows are scale[n] * src[n] at rows[n], merged after the earlier ones."""
        w2v.add_layer(rows, scale, src, self.slot_of, self._stamp, self._layer, self._acc, self.rows)
        self._layer += 1

    def pair(self):
        return self.slot_of, self.rows


class CBOW(_FusedStep):
    """The book's continuous bag of words: ``forward(contexts, target)`` returns the negative-sampling loss of
    predicting each target from the mean of its 2 * window_size context words' input vectors."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus):
        V, H, window = _sizes(vocab_size, hidden_size, window_size)
        W_in, W_out = _embedding_matrices(V, H)
        self.in_layers = [Embedding(W_in) for _ in range(2 * window)]
        self.ns_loss = NegativeSamplingLoss(W_out, corpus, power=POWER, sample_size=SAMPLE_SIZE)
        self.params, self.grads = [], []
        for layer in self.in_layers + [self.ns_loss]:
            self.params += layer.params
            self.grads += layer.grads
        self.word_vecs = W_in

    def forward(self, contexts, target):
        """Returns the loss (a float32 scalar) of the batch; the layers keep what backward needs."""
        contexts = _ids(contexts, "contexts", (None, len(self.in_layers)), self.params[0].shape[0])
        target = _ids(target, "target", (contexts.shape[0],), self.params[-1].shape[0])
        h = 0
        for i, layer in enumerate(self.in_layers):
            h += layer.forward(contexts[:, i])
        h *= 1 / len(self.in_layers)
        return self.ns_loss.forward(h, target)

    def backward(self, dout=1):
        """Writes every layer's gradient into ``grads``; returns None."""
        dh = self.ns_loss.backward(dout)
        dh *= 1 / len(self.in_layers)
        for layer in self.in_layers:
            layer.backward(dh)
        return None

    def _in_layers(self):
        return self.in_layers

    def _ns_layers(self):
        return [self.ns_loss]

    def _step(self, contexts, target, W_in, W_out, optimizer):
        contexts = _ids(contexts, "contexts", (None, len(self.in_layers)), W_in.shape[0])
        target = _ids(target, "target", (contexts.shape[0],), W_out.shape[0])
        negative = self.ns_loss.sampler.get_negative_sample(target)
        ids = np.concatenate([target[None, :], negative.T.astype(np.intp)])
        scale = W_in.dtype.type(1 / len(self.in_layers))
        h = np.empty((ids.shape[1], W_in.shape[1]), W_in.dtype)
        w2v.mean_of_rows(W_in, contexts, scale, h)
        loss, y = _losses(W_out, h, ids)
        dscore, dh = _loss_gradients(W_out, h, ids, y)
        dh *= 1 / len(self.in_layers)
        columns = np.ascontiguousarray(contexts.T)
        merged_in = _Merged(W_in.shape[0], W_in.shape[1], [columns], W_in.dtype)
        ones = np.ones(ids.shape[1], W_in.dtype)
        for column in columns:
            merged_in.add_layer(column, ones, dh)
        merged_out = _Merged(W_out.shape[0], W_out.shape[1], [ids], W_out.dtype)
        for k in range(ids.shape[0]):
            merged_out.add_layer(ids[k], dscore[k], h)
        self._adam(optimizer, W_in, W_out, (merged_in.pair(), merged_out.pair()))
        return loss


class SkipGram(_FusedStep):
    """The book's skip-gram: ``forward(contexts, target)`` returns the sum over the 2 * window_size context
    positions of the negative-sampling loss of predicting that context word from the target's input vector."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus):
        V, H, window = _sizes(vocab_size, hidden_size, window_size)
        W_in, W_out = _embedding_matrices(V, H)
        self.in_layer = Embedding(W_in)
        self.loss_layers = [NegativeSamplingLoss(W_out, corpus, power=POWER, sample_size=SAMPLE_SIZE)
                            for _ in range(2 * window)]
        self.params, self.grads = [], []
        for layer in [self.in_layer] + self.loss_layers:
            self.params += layer.params
            self.grads += layer.grads
        self.word_vecs = W_in

    def forward(self, contexts, target):
        """Returns the loss (a float32 scalar) of the batch; the layers keep what backward needs."""
        contexts = _ids(contexts, "contexts", (None, len(self.loss_layers)), self.params[-1].shape[0])
        target = _ids(target, "target", (contexts.shape[0],), self.params[0].shape[0])
        h = self.in_layer.forward(target)
        loss = 0
        for i, layer in enumerate(self.loss_layers):
            loss += layer.forward(h, contexts[:, i])
        return loss

    def backward(self, dout=1):
        """Writes every layer's gradient into ``grads``; returns None."""
        dh = 0
        for layer in self.loss_layers:
            dh += layer.backward(dout)
        self.in_layer.backward(dh)
        return None

    def _in_layers(self):
        return [self.in_layer]

    def _ns_layers(self):
        return self.loss_layers

    def _step(self, contexts, target, W_in, W_out, optimizer):
        contexts = _ids(contexts, "contexts", (None, len(self.loss_layers)), W_out.shape[0])
        target = _ids(target, "target", (contexts.shape[0],), W_in.shape[0])
        negatives = [layer.sampler.get_negative_sample(contexts[:, i]) for i, layer in enumerate(self.loss_layers)]
        h = W_in[target]
        blocks = [np.concatenate([contexts[:, i][None, :], neg.T]).astype(np.intp) for i, neg in enumerate(negatives)]
        loss, dh, grads_out = 0, 0, []
        for ids in blocks:
            block_loss, y = _losses(W_out, h, ids)
            loss += block_loss
            dscore, block_dh = _loss_gradients(W_out, h, ids, y)
            dh += block_dh
            grads_out.append(dscore)
        merged_in = _Merged(W_in.shape[0], W_in.shape[1], [target[None, :]], W_in.dtype)
        merged_in.add_layer(target, np.ones(target.size, W_in.dtype), dh)
        merged_out = _Merged(W_out.shape[0], W_out.shape[1], blocks, W_out.dtype)
        for ids, dscore in zip(blocks, grads_out):
            for k in range(ids.shape[0]):
                merged_out.add_layer(ids[k], dscore[k], h)
        self._adam(optimizer, W_in, W_out, (merged_in.pair(), merged_out.pair()))
        return loss
