"""The books' ``common/util.py`` training helpers: same names, same results (to rounding).

* ``smooth_curve`` and ``shuffle_dataset`` come from the first book; ``shuffle_dataset`` draws from
  ``np.random.permutation`` exactly as the book does, so a seeded script shuffles the same way.
* ``clip_grads`` and ``remove_duplicate`` come from the second book and are what its ``Trainer.fit`` calls every
  iteration; both work in place on the gradient arrays, like the book.
* ``eval_perplexity`` and ``eval_seq2seq`` come from the second book (chapters 6-8): the same batches, calls on
  the model and printed lines; eval_perplexity builds each batch with one gather instead of the book's double loop.
* ``conv_output_size``, ``im2col`` and ``col2im`` come from the first book (chapter 7); im2col/col2im run compiled
  kernels (fastnn.kernels.conv), the others are a handful of whole-array NumPy calls, which Numba would not beat.
* The second book's text utilities (chapters 2-4: ``preprocess``, ``create_co_matrix``, ``cos_similarity``,
  ``most_similar``, ``ppmi``, ``convert_one_hot``, ``create_contexts_target``, ``analogy``, ``normalize``,
  ``to_cpu``, ``to_gpu``) live in ``fastnn.text`` and are re-exported here, where the book's scripts import them.

Output sizes are the book's: ``(H + 2*pad - filter_h) // stride + 1``, rounded down like the book's (and
PyTorch's) integer division, so a stride that does not divide ``H + 2*pad - filter_h`` leaves the last input rows
(or columns) in no window: im2col never reads them and col2im gives them zero. Only an output size below 1 (a
filter larger than the padded input), where the book's code fails too, is refused, with a ValueError before any
compiled code runs. ``conv_output_size`` alone keeps the book's true division (see there).

Where im2col/col2im differ from the book: float32 input stays float32 (the book's im2col always returns float64;
integer and bool input becomes float64, float16 float32), and the results are new C-contiguous arrays (the book's
col2im returns a view into a larger padded array).
"""
import numbers
import os
import sys

import numpy as np

from . import _checks
from ._dispatch import lazy_kernels
from .text import __all__ as _text_names
from .text import (analogy, convert_one_hot, cos_similarity, create_co_matrix, create_contexts_target,  # noqa: F401
                   most_similar, normalize, ppmi, preprocess, to_cpu, to_gpu)

_conv = lazy_kernels("conv")

__all__ = ["smooth_curve", "shuffle_dataset", "clip_grads", "remove_duplicate", "eval_perplexity", "eval_seq2seq",
           "conv_output_size", "im2col",
           "col2im", *_text_names, "np"]  # np: as the book's star import

SMOOTH_WINDOW = 11  # the book's Kaiser window: 11 points, beta 2
SMOOTH_BETA = 2
CLIP_EPS = 1e-6  # the book's guard in max_norm / (total_norm + eps)


def smooth_curve(x):
    """Returns a 1-D curve (e.g. a loss history) smoothed with a normalised 11-point Kaiser window; the ends are
    reflected so the result has the same length as ``x``. float32 stays float32."""
    x = _checks.float_array(x, "x", ndim=1)
    if x.shape[0] < SMOOTH_WINDOW:
        raise ValueError(f"x must have at least {SMOOTH_WINDOW} points to be smoothed with an "
                         f"{SMOOTH_WINDOW}-point window; got {x.shape[0]}")
    half = SMOOTH_WINDOW // 2
    # mirror SMOOTH_WINDOW - 1 points onto each end exactly as the book's np.r_ does: the head mirror skips x[0],
    # the tail mirror starts with x[-1] (asymmetric, kept for identical results)
    padded = np.concatenate((x[SMOOTH_WINDOW - 1:0:-1], x, x[-1:-SMOOTH_WINDOW:-1]))
    w = np.kaiser(SMOOTH_WINDOW, SMOOTH_BETA).astype(x.dtype)
    y = np.convolve(w / w.sum(), padded, mode="valid")
    return y[half:len(y) - half]


def shuffle_dataset(x, t):
    """Shuffle the rows of x and t with the same ``np.random.permutation`` draw; returns new arrays.

    Works for x of any ndim >= 1 (the book handles 2-D and 4-D only)."""
    x = _checks.as_array(x, "x")
    t = _checks.as_array(t, "t")
    if x.ndim == 0 or t.ndim == 0:
        raise ValueError(f"x and t must have at least one dimension (one row per sample); got shapes "
                         f"{x.shape} and {t.shape}")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"x and t must have the same number of rows; got {x.shape[0]} and {t.shape[0]}")
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]


def _grad_arrays(grads, name):
    """The gradient arrays of a list/tuple (book 2) or dict (book 1), checked for in-place scaling."""
    if isinstance(grads, dict):
        items = list(grads.items())
    elif isinstance(grads, (list, tuple)):
        items = list(enumerate(grads))
    else:
        raise TypeError(f"{name} must be a list (or dict) of gradient arrays; got {type(grads).__name__}")
    return [_checks.writable_float_array(g, f"{name}[{key!r}]") for key, g in items]


def clip_grads(grads, max_norm):
    """Scale all gradients in place by max_norm / (total_norm + 1e-6) when that rate is below 1, where
    total_norm is the L2 norm of all gradients taken together. ``grads`` is a list (or dict) of arrays. Gradients
    holding NaN or inf are left unchanged (the book would turn inf into NaN with a RuntimeWarning)."""
    arrays = _grad_arrays(grads, "grads")
    max_norm = _checks.real_number(max_norm, "max_norm", nonnegative=True)
    # a dot product per array: one pass and no temporary, unlike sum(grad ** 2)
    total_norm = np.sqrt(sum(float(np.vdot(g, g)) for g in arrays))
    if not np.isfinite(total_norm):  # NaN/inf gradients are left as they are (the book's inf * 0 makes NaN)
        return
    rate = max_norm / (total_norm + CLIP_EPS)
    if rate < 1:
        for g in arrays:
            g *= g.dtype.type(rate)


def _same_memory(a, b):
    """True when b is exactly a's memory seen through a's layout (same data pointer, shape and strides)."""
    return (a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _tied_transposed(a, b):
    """The book's weight-tying rule: two matrices where b equals a.T element for element."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1] or a.shape[1] != b.shape[0]:
        return False
    if _same_memory(a.T, b):  # b is a transposed view of a: equal without comparing every element
        return True
    if b.size and not _sample_equal(a, b):  # one differing element decides: no full comparison
        return False
    return bool(np.array_equal(a.T, b))


TYING_SAMPLE = 32  # elements compared before a full comparison (matrices that differ almost always differ there)


def _sample_equal(a, b):
    """Whether b equals a.T at TYING_SAMPLE elements spread evenly over b (first and last included): False
    proves them unequal (the full comparison would say the same), True leaves it open."""
    flat = np.linspace(0, b.size - 1, min(TYING_SAMPLE, b.size)).astype(np.intp)
    rows, cols = np.divmod(flat, b.shape[1])
    return bool(np.array_equal(a[cols, rows], b[rows, cols]))


def remove_duplicate(params, grads):
    """Merge parameters that several layers share into one entry and add up their gradients (book 2).

    Two rules, applied to every pair (i < j) in list order: ``params[j] is params[i]`` (the same array) ->
    ``grads[i] += grads[j]``; two matrices with ``params[j] == params[i].T`` element-wise (weight tying) ->
    ``grads[i] += grads[j].T``. Entry j is then dropped. The gradient arrays are added to in place, as in the
    book; the returned lists are new. One pass gives the book's result: its restart after each merge re-checks
    only pairs already known not to match.

    One deliberate shortcut: a matrix that is a transposed *view* of an earlier one is merged without comparing
    values, so a tied matrix holding NaN is merged here, where the book's ``==`` test would not merge it.
    """
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of parameter arrays; got {type(params).__name__}")
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list of gradient arrays; got {type(grads).__name__}")
    if len(params) != len(grads):
        raise ValueError(f"params and grads must have the same length; got {len(params)} and {len(grads)}")
    for i, (p, g) in enumerate(zip(params, grads)):
        if not isinstance(p, np.ndarray) or not isinstance(g, np.ndarray):
            raise TypeError(f"params[{i}] and grads[{i}] must be NumPy arrays; got {type(p).__name__} and "
                            f"{type(g).__name__}")
        if p.shape != g.shape:
            raise ValueError(f"params[{i}] and grads[{i}] must have the same shape; got {p.shape} and {g.shape}")

    params, grads = list(params), list(grads)
    i = 0
    while i < len(params) - 1:
        j = i + 1
        while j < len(params):
            if params[i] is params[j]:
                grads[i] += grads[j]
            elif _tied_transposed(params[i], params[j]):
                grads[i] += grads[j].T
            else:
                j += 1
                continue
            del params[j], grads[j]  # the next candidate moved into position j
        i += 1
    return params, grads


# --- the second book's evaluation helpers (chapters 6-8) ------------------------------------------------------------
def _corpus(corpus):
    """A 1-D integer array of word ids, or an error naming ``corpus``."""
    a = _checks.as_array(corpus, "corpus")
    if a.dtype.kind not in "iu":
        raise TypeError(f"corpus must hold integer word ids; got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"corpus must be a 1-D array of word ids; got shape {a.shape}")
    if a.size and a.min() < 0:
        raise ValueError(f"corpus must hold word ids >= 0; got {a.min()}")
    return a


def _forward_eval(model, xs, ts):
    """The loss of one batch, with train_flg=False when the model's forward takes it (the book's try/except)."""
    try:
        return model.forward(xs, ts, train_flg=False)
    except TypeError:
        return model.forward(xs, ts)


def eval_perplexity(model, corpus, batch_size=10, time_size=35):
    """The book's perplexity of a language model on ``corpus`` (1-D word ids): returns exp of the mean loss of
    ``(len(corpus) - 1) // (batch_size * time_size)`` batches. Row i of batch k reads the time_size words from
    position ``k * time_size + i * ((len(corpus) - 1) // batch_size)`` (wrapping around), the targets one word
    later; the model keeps its state between batches (a stateful model: call reset_state() first, as the book's
    scripts do). Prints 'evaluating perplexity ...' and the book's '\\r%d / %d' progress."""
    _checks.require_methods(model, "model", ("forward",))
    corpus = _corpus(corpus)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
    time_size = _checks.integer(time_size, "time_size", minimum=1)
    corpus_size = len(corpus)
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    if max_iters == 0:
        raise ValueError(f"corpus holds {corpus_size} words, too few for one batch of batch_size * time_size + 1 = "
                         f"{batch_size} * {time_size} + 1")
    print('evaluating perplexity ...')
    jump = (corpus_size - 1) // batch_size
    starts = np.arange(batch_size)[:, None] * jump + np.arange(time_size)[None, :]
    total_loss = 0
    for iters in range(max_iters):
        idx = starts + iters * time_size
        xs = corpus[idx % corpus_size].astype(np.int32)
        ts = corpus[(idx + 1) % corpus_size].astype(np.int32)
        total_loss += _forward_eval(model, xs, ts)
        sys.stdout.write('\r%d / %d' % (iters, max_iters))
        sys.stdout.flush()
    print('')
    return np.exp(total_loss / max_iters)


SEQ2SEQ_COLORS = {'ok': '\033[92m', 'fail': '\033[91m', 'close': '\033[0m'}  # the book's ANSI colours


def _text(ids, id_to_char, name):
    """The characters of ``ids`` looked up in id_to_char, or a ValueError naming ``name`` and the missing id."""
    try:
        return ''.join([id_to_char[int(c)] for c in ids])
    except KeyError as exc:
        raise ValueError(f"{name} holds id {exc.args[0]}, which id_to_char does not have") from None


def eval_seq2seq(model, question, correct, id_to_char, verbose=False, is_reverse=False):
    """The book's check of one seq2seq answer: returns 1 when ``model.generate(question, correct[0],
    len(correct) - 1)`` gives the characters of ``correct[1:]`` (``correct`` flattened; its first id is the
    start-of-answer mark), else 0. With ``verbose`` it prints the book's lines: 'Q' and the question (reversed back
    when ``is_reverse``), 'T' and the correct answer, the guess after a green ☑ or red ☒ ('O'/'X' on Windows),
    '---'."""
    _checks.require_methods(model, "model", ("generate",))
    correct = _checks.as_array(correct, "correct").flatten()
    if correct.dtype.kind not in "iu":
        raise TypeError(f"correct must hold integer ids; got dtype {correct.dtype}")
    if correct.size < 2:
        raise ValueError(f"correct must hold the start id (correct[0]) and at least one answer id; got "
                         f"{correct.size} id(s)")
    if not isinstance(id_to_char, dict):
        raise TypeError(f"id_to_char must be a dict of id -> character; got {type(id_to_char).__name__}")
    # every id is looked up before the model runs, the start mark included (a character of the book's data)
    question = _checks.as_array(question, "question")
    if question.ndim != 2 or question.shape[0] != 1:
        raise ValueError(f"question must be one question of shape (1, T) (e.g. x_test[[i]]); got shape "
                         f"{question.shape}")
    question_text = _text(question.flatten(), id_to_char, "question")
    _text(correct, id_to_char, "correct")
    guess = model.generate(question, int(correct[0]), correct.size - 1)
    question, correct = question_text, _text(correct[1:], id_to_char, "correct")
    guess = _text(guess, id_to_char, "the model's guess")

    if verbose:
        if is_reverse:
            question = question[::-1]
        print('Q', question)
        print('T', correct)
        ok = correct == guess
        if os.name == 'nt':
            mark = 'O' if ok else 'X'
        else:
            mark = SEQ2SEQ_COLORS['ok' if ok else 'fail'] + ('☑' if ok else '☒') + SEQ2SEQ_COLORS['close']
        print(mark + ' ' + guess)
        print('---')

    return 1 if guess == correct else 0


# --- chapter 7: convolution helpers --------------------------------------------------------------------------------
def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """The book's ``(input_size + 2*pad - filter_size) / stride + 1``, returned as the book returns it: a Python
    float from true division (24.0 for (28, 5); 5.5 for (9, 2, stride=2, pad=1)), fractional or negative values
    included, so scripts that compute with it (chapter 7's SimpleConvNet sizes its weights from this formula) get
    the book's numbers. It is not rounded: im2col, col2im and the layers use its floor (``math.floor`` of the
    value: 5 windows for 5.5) and refuse a geometry whose floor is below 1. Arguments are integers, stride >= 1,
    pad >= 0."""
    input_size = _checks.integer(input_size, "input_size", minimum=0)
    filter_size = _checks.integer(filter_size, "filter_size", minimum=1)
    stride = _checks.integer(stride, "stride", minimum=1)
    pad = _checks.integer(pad, "pad", minimum=0)
    return (input_size + 2 * pad - filter_size) / stride + 1


def _window_size(size, filter_size, stride, pad, name, what, filter_name):
    """The number of window positions along one axis, ``(size + 2*pad - filter) // stride + 1`` (floored, as in
    the book), or a ValueError naming the clashing arguments when that is below 1 (the book fails there too)."""
    span = size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(f"{filter_name} ({filter_size}) must not exceed the padded {what} of {name} ({size} + "
                         f"2*pad = {size + 2 * pad}, pad={pad}): the output {what} ({what} + 2*pad - "
                         f"{filter_name}) // stride + 1 = ({size} + {2 * pad} - {filter_size}) // {stride} + 1 = "
                         f"{span // stride + 1} would be below 1")
    return span // stride + 1


def _window_geometry(shape, filter_h, filter_w, stride, pad, name, filter_names=("filter_h", "filter_w")):
    """(filter_h, filter_w, stride, pad, out_h, out_w) as ints for an input of 4-D ``shape`` (N, C, H, W) named
    ``name``, each argument checked (integers, filters >= 1, stride >= 1, pad >= 0, the filter within the padded
    input, so both output sizes are >= 1; they are floored); shared by im2col/col2im and fastnn.convolution."""
    filter_h = _checks.integer(filter_h, filter_names[0], minimum=1)
    filter_w = _checks.integer(filter_w, filter_names[1], minimum=1)
    stride = _checks.integer(stride, "stride", minimum=1)
    pad = _checks.integer(pad, "pad", minimum=0)
    out_h = _window_size(shape[2], filter_h, stride, pad, name, "height", filter_names[0])
    out_w = _window_size(shape[3], filter_w, stride, pad, name, "width", filter_names[1])
    return filter_h, filter_w, stride, pad, out_h, out_w


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """The book's im2col: returns a new 2-D array ``col`` of shape (N*out_h*out_w, C*filter_h*filter_w) whose row
    (n, oy, ox) holds the window of sample n at output position (oy, ox), columns in (c, ky, kx) order, over
    input_data (N, C, H, W) zero-padded by ``pad`` on each side, windows ``stride`` apart, out_h =
    (H + 2*pad - filter_h) // stride + 1 (floored as in the book; likewise out_w). float32 stays float32 (the book
    returns float64); see the module docstring for what is refused."""
    x = _checks.float_array(input_data, "input_data", ndim=4)
    fh, fw, stride, pad, oh, ow = _window_geometry(x.shape, filter_h, filter_w, stride, pad, "input_data")
    n, c = x.shape[:2]
    col = np.empty((n * oh * ow, c * fh * fw), dtype=x.dtype)
    if col.size:
        _conv.im2col(x, fh, fw, stride, pad, col.reshape(n, oh * ow, c * fh * fw))
    return col


def _input_shape(input_shape):
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__") or len(input_shape) != 4:
        raise ValueError(f"input_shape must be the 4-D shape (N, C, H, W) of the image; got {input_shape!r}")
    for i, v in enumerate(input_shape):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"input_shape[{i}] must be an integer; got {type(v).__name__}")
        if v < 0:
            raise ValueError(f"input_shape[{i}] must be >= 0; got {v}")
    return tuple(int(v) for v in input_shape)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The book's col2im, im2col's adjoint: returns a new array of ``input_shape`` (N, C, H, W) where each pixel is
    the sum of the col entries that im2col would have read from it (overlapping windows add up; entries that fall
    in the padding are dropped; pixels no window reaches, past the last window of a floored output size, are 0).
    ``col`` must have im2col's shape (N*out_h*out_w, C*filter_h*filter_w); its float dtype is kept (integer input
    becomes float64)."""
    shape = _input_shape(input_shape)
    col = _checks.float_array(col, "col", ndim=2)
    fh, fw, stride, pad, oh, ow = _window_geometry(shape, filter_h, filter_w, stride, pad, "input_shape")
    n, c = shape[:2]
    expected = (n * oh * ow, c * fh * fw)
    if col.shape != expected:
        raise ValueError(f"col must have shape {expected} (N*out_h*out_w, C*filter_h*filter_w) for input_shape "
                         f"{shape}, filter {fh}x{fw}, stride {stride}, pad {pad}; got {col.shape}")
    img = np.zeros(shape, dtype=col.dtype)
    if col.size:
        _conv.col2im(col.reshape(n, oh * ow, c * fh * fw), fh, fw, stride, pad, img)
    return img
