"""The books' ``common/util.py`` training helpers: same names, same results (to rounding).

* ``smooth_curve`` and ``shuffle_dataset`` come from the first book; ``shuffle_dataset`` draws from
  ``np.random.permutation`` exactly as the book does, so a seeded script shuffles the same way.
* ``clip_grads`` and ``remove_duplicate`` come from the second book and are what its ``Trainer.fit`` calls every
  iteration; both work in place on the gradient arrays, like the book.

These helpers are not compiled: each is a handful of whole-array NumPy calls, which Numba would not beat.
"""
import numpy as np

from . import _checks

__all__ = ["smooth_curve", "shuffle_dataset", "clip_grads", "remove_duplicate", "np"]  # np: as the book's star import

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
    if a.ndim != 2 or b.ndim != 2 or a.T.shape != b.shape:
        return False
    if _same_memory(a.T, b):  # b is a transposed view of a: equal without comparing every element
        return True
    return bool(np.array_equal(a.T, b))


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
