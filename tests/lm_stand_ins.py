"""Tiny language models in plain NumPy with the second book's model interface (``params``, ``grads``,
``forward(xs, ts) -> loss``, ``backward(dout=1)``, ``reset_state``, ``generate``), standing in for the book's
Rnnlm and Seq2seq in the tests of the trainers and evaluation helpers: the time layers are not needed for them."""
import numpy as np


class EmbedAffineLM:
    """Each word's embedding, then an affine layer over the vocabulary and softmax cross-entropy averaged over
    all (row, time) positions. ``tie``: the affine weight is the embedding transposed (BetterRnnlm's weight
    tying: the same matrix twice in ``params``). Records the batches it sees in ``seen``."""

    def __init__(self, vocab_size=13, wordvec_size=4, seed=0, dtype=np.float32, tie=False):
        r = np.random.default_rng(seed)
        V, D = vocab_size, wordvec_size
        self.embed_W = (r.normal(size=(V, D)) / 10).astype(dtype)
        self.W = self.embed_W.T if tie else (r.normal(size=(D, V)) / np.sqrt(D)).astype(dtype)
        self.b = np.zeros(V, dtype=dtype)
        self.params = [self.embed_W, self.W, self.b]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.seen, self.train_flags, self.resets = [], [], 0

    def forward(self, xs, ts):
        """The mean cross-entropy loss of predicting ts from xs (int arrays of shape (N, T))."""
        self.seen.append((xs.copy(), ts.copy()))
        self.xs, self.ts = xs, ts
        self.h = self.embed_W[xs]
        score = self.h @ self.W + self.b
        score = score - score.max(axis=-1, keepdims=True)
        self.p = np.exp(score) / np.exp(score).sum(axis=-1, keepdims=True)
        picked = np.take_along_axis(self.p, ts[..., None], axis=-1)
        return -np.log(picked + 1e-7).mean()

    def backward(self, dout=1):
        """Gradients into ``grads`` (in place); returns None."""
        dscore = self.p.copy()
        np.put_along_axis(dscore, self.ts[..., None], np.take_along_axis(dscore, self.ts[..., None], -1) - 1, -1)
        dscore *= dout / self.ts.size
        V = dscore.shape[-1]
        D = self.h.shape[-1]
        self.grads[1][...] = self.h.reshape(-1, D).T @ dscore.reshape(-1, V)
        self.grads[2][...] = dscore.reshape(-1, V).sum(axis=0)
        dh = dscore @ self.W.T
        self.grads[0][...] = 0
        np.add.at(self.grads[0], self.xs.reshape(-1), dh.reshape(-1, D))

    def reset_state(self):
        """Counts the calls (the model has no state); returns None."""
        self.resets += 1


class DropoutLM(EmbedAffineLM):
    """Takes ``train_flg`` as BetterRnnlm's forward does, and records it."""

    def forward(self, xs, ts, train_flg=True):
        """The loss; records train_flg."""
        self.train_flags.append(train_flg)
        return super().forward(xs, ts)


class LookupSeq2seq:
    """A seq2seq stand-in: ``generate(question, start_id, size)`` returns the ids of ``answers[question row]``
    (a dict from the question's ids as a tuple), or ``wrong`` for an unknown question; records its calls."""

    def __init__(self, answers, wrong):
        self.answers, self.wrong, self.calls = answers, wrong, []

    def generate(self, question, start_id, sample_size):
        """The ids of the stored answer (as a list of ints), cut to ``sample_size``."""
        self.calls.append((np.array(question).copy(), start_id, sample_size))
        ids = self.answers.get(tuple(np.asarray(question).flatten().tolist()), self.wrong)
        return list(ids)[:sample_size]
