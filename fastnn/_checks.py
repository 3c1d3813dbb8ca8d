"""Input checks and casts shared by the public API. Everything a kernel receives passes through here first, so a
user's mistake becomes a TypeError/ValueError that names the argument, never a numba TypingError or an
out-of-bounds read.

Dtype policy (NumPy's, for math functions): float32 and float64 are kept; float16 is computed in float32; bool
and integer input is cast to float64; complex, object, string and other dtypes are refused.
"""
import math
import numbers
import os
import stat
import sys
import warnings

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = FLOAT_DTYPES
_INTP = np.dtype(np.intp)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _describe(a):
    return f"{a.dtype} array of shape {a.shape}"


def as_array(x, name):
    """np.asarray with a readable error for ragged or unconvertible input."""
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be array-like with a regular shape; got {type(x).__name__} ({exc})") from None


def float_dtype(dtype, name):
    """The dtype fastnn computes in for input of ``dtype`` (float32 or float64), or TypeError."""
    dtype = np.dtype(dtype)
    if dtype in FLOAT_DTYPES:
        return dtype
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"{name} must hold real numbers (float32 or float64; bool/int/float16 are cast); "
                    f"got dtype {dtype}")


def float_array(x, name, *, dtype=None, ndim=None, min_ndim=0, allow_empty=True):
    """x as a C-contiguous float32/float64 array (a copy only when needed).

    ``dtype`` forces the result dtype (after checking that x holds real numbers); ``ndim`` is an int or a tuple of
    allowed ndims.
    """
    if (type(x) is np.ndarray and (x.dtype is _F64 or x.dtype is _F32) and x.flags.c_contiguous
            and (dtype is None or x.dtype is dtype) and x.ndim >= min_ndim
            and (ndim is None or x.ndim == ndim or (type(ndim) is tuple and x.ndim in ndim))
            and (allow_empty or x.size)):
        return x  # the usual call: nothing to cast, copy or refuse (~0.2 us instead of ~2)
    a = as_array(x, name)
    target = float_dtype(a.dtype, name)
    if dtype is not None:
        target = np.dtype(dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if a.ndim not in allowed:
            expected = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {expected}; got a {a.ndim}-D {_describe(a)}")
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s); got {_describe(a)}")
    if not allow_empty and a.size == 0:
        raise ValueError(f"{name} must not be empty; got {_describe(a)}")
    return np.asarray(a, dtype=target, order="C")  # (ascontiguousarray would turn 0-D into 1-D)


def network_dtype(dtype):
    """The dtype a network computes in: float32 or float64 exactly (nothing is cast), else TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64; got {dtype!r} ({exc})") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64; got {dt}")
    return dt


def common_float_dtype(*arrays):
    """NumPy's result dtype for arithmetic between already-checked float arrays."""
    return np.result_type(*arrays)


def writable_float_array(x, name):
    """An ndarray of float32/float64 that fastnn will modify in place (it must not be copied or cast)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (it is modified in place); got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array (it is modified in place, so it cannot be "
                        f"cast); got dtype {x.dtype}")
    if not x.flags.writeable:
        raise ValueError(f"{name} is read-only, but it is modified in place; pass a writable array "
                         f"(e.g. {name}.copy())")
    return x


def class_labels(t, n_rows, n_classes, name="t"):
    """Integer class labels as a C-contiguous intp vector of length n_rows, each in [0, n_classes).

    Any integer dtype is accepted, and floats that are whole numbers; everything else is refused.
    """
    if (type(t) is np.ndarray and t.dtype is _INTP and t.shape == (n_rows,) and t.flags.c_contiguous
            and (not n_rows or int(t.view(np.uintp).max()) < n_classes)):
        return t  # the usual call, in one range check (negative labels wrap to huge unsigned values); else below
    t = as_array(t, name)
    if t.size != n_rows:
        raise ValueError(f"{name} must hold one label per row ({n_rows}) or be one-hot of the same shape as "
                         f"the scores; got {_describe(t)}")
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError(f"{name} holds float labels that are not whole numbers; class labels must be "
                             f"integers in [0, {n_classes})")
    elif t.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels (or one-hot rows); got dtype {t.dtype}")
    labels = np.ascontiguousarray(t.reshape(-1), dtype=np.intp)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name} holds labels out of range: expected integers in [0, {n_classes}), got values "
                         f"from {labels.min()} to {labels.max()}")
    return labels


def labels_or_onehot(t, y2d, name="t"):
    """Classify targets for scores ``y2d`` of shape (N, C) the book's way: same size as y -> one-hot rows
    (returned as a float array in y's dtype), otherwise integer labels. Returns (kind, array)."""
    n_rows, n_classes = y2d.shape
    return labels_or_onehot_for(t, n_rows, n_classes, name, y2d.dtype)


def labels_or_onehot_for(t, n_rows, n_classes, name="t", dtype=np.float64):
    """labels_or_onehot for scores of shape (n_rows, n_classes) in ``dtype`` that need not exist yet; returns
    (kind, array)."""
    t = as_array(t, name)
    if _is_onehot(t, n_rows, n_classes, name):
        onehot = _onehot_rows_in(t, n_rows, n_classes, dtype)
        if t.dtype.kind == "f":  # (bool and integer rows are finite, also in float32)
            finite_onehot(onehot, name)
        return "onehot", onehot
    return "labels", class_labels(t, n_rows, n_classes, name)


def _is_onehot(t, n_rows, n_classes, name):
    """The book's rule for targets of scores (n_rows, n_classes): the same size means one-hot rows (checked here:
    numbers, rows of n_classes), otherwise class labels (checked by the caller)."""
    if t.size != n_rows * n_classes:
        return False
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be one-hot rows or integer labels; got dtype {t.dtype}")
    if t.ndim >= 2 and n_rows > 1 and t.shape[-1] != n_classes:  # e.g. transposed one-hot rows
        raise ValueError(f"{name} must be one-hot rows of width {n_classes} (the number of classes) or "
                         f"integer labels; got {_describe(t)}")
    return True


def _onehot_rows_in(t, n_rows, n_classes, dtype):
    """One-hot targets t as C-contiguous (n_rows, n_classes) rows in ``dtype`` (a value too large for it becomes
    inf, for the caller's finiteness check to refuse)."""
    if t.dtype.kind == "f" and t.dtype.itemsize > np.dtype(dtype).itemsize:
        with np.errstate(over="ignore"):
            return np.ascontiguousarray(t.reshape(n_rows, n_classes), dtype=dtype)
    return np.ascontiguousarray(t.reshape(n_rows, n_classes), dtype=dtype)


def target_labels(t, n_rows, n_classes, name="t", dtype=np.float64):
    """Class labels for the book's cross-entropy of scores (n_rows, n_classes) in ``dtype``, which reads one entry
    per row: integer labels (checked as in class_labels), or one-hot rows (the same size as the scores) reduced to
    their argmax, as labels_or_onehot_for would give them (NaN and inf refused) but cast only when they are wider
    than ``dtype``. Returns a C-contiguous intp vector of length n_rows."""
    t = as_array(t, name)
    if not _is_onehot(t, n_rows, n_classes, name):
        return class_labels(t, n_rows, n_classes, name)
    if t.dtype.kind != "f":  # bool and integer rows are finite
        return t.reshape(n_rows, n_classes).argmax(axis=1)
    narrower = t.dtype if t.dtype.itemsize <= np.dtype(dtype).itemsize else np.dtype(dtype)
    rows = _onehot_rows_in(t, n_rows, n_classes, narrower)  # never widened: only the argmax is read
    finite_onehot(rows, name)
    return rows.argmax(axis=1)


def finite_onehot(onehot, name):
    """Refuse NaN and inf in C-contiguous one-hot rows (a NaN row gave a finite loss and a NaN gradient); returns
    None. It runs per call, so one dot product (NaN or inf anywhere makes it non-finite; ~1 us for 100 x 10), and
    the full check only then (a product can also overflow)."""
    flat = onehot.reshape(-1)
    if not math.isfinite(np.dot(flat, flat)):
        finite(onehot, name)


def finite(a, name):
    """Refuse NaN and inf in a numeric array (a ValueError that says where the first one is)."""
    # min and max propagate NaN and show inf: two passes without a temporary as large as the data
    if a.dtype.kind in "fc" and a.size and not (np.isfinite(a.min()) and np.isfinite(a.max())):
        bad = np.argwhere(~np.isfinite(a))
        where = f" at index {tuple(int(i) for i in bad[0])}" if a.ndim else ""
        raise ValueError(f"{name} must hold finite numbers; got {len(bad)} NaN or inf value(s), the first "
                         f"{a[tuple(bad[0])]}{where}")
    return a


def numeric_array(x, name, *, kinds="biuf"):
    """x as an array whose dtype kind is in ``kinds`` (bool, int, unsigned, float by default), not cast and not
    copied: for data that a network casts itself (training sets, word ids)."""
    a = as_array(x, name)
    if a.dtype.kind not in kinds:
        names = {"b": "bool", "i": "integer", "u": "unsigned integer", "f": "float"}
        expected = "/".join(names[k] for k in kinds)
        raise TypeError(f"{name} must hold real numbers ({expected}); got dtype {a.dtype}")
    return a


def same_shape(a, b, name_a, name_b):
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape; got {a.shape} and {b.shape}")


def path(p, name):
    """A file-system path argument as a str (os.fspath), or a TypeError that names it."""
    try:
        p = os.fspath(p)
    except TypeError:
        raise TypeError(f"{name} must be a path (str or os.PathLike); got {type(p).__name__}") from None
    if not isinstance(p, str):  # bytes paths: fine for the OS, but every message here formats paths as str
        raise TypeError(f"{name} must be a str path (or os.PathLike); got {type(p).__name__}")
    return p


def open_regular_file(p, name):
    """Open the file at ``p`` (a str path) for binary reading, refusing (ValueError naming ``name``) anything but a
    regular file: a FIFO would block the read forever, a device could stream without end. os.stat before opening
    (opening some devices acts), then fstat of what was opened (without blocking) in case the path changed."""
    if not stat.S_ISREG(os.stat(p).st_mode):  # FileNotFoundError as open would raise it
        raise ValueError(f"{name} {p!r} is not a regular file")
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{name} {p!r} is not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def callable_arg(f, name):
    if not callable(f):
        raise TypeError(f"{name} must be callable; got {type(f).__name__}")
    return f


def real_number(v, name, *, positive=False, nonnegative=False):
    if type(v) is int and not (positive or nonnegative):
        return float(v)  # the usual call (e.g. the books' backward(dout=1)): exact in float, nothing to check
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite; got {v}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be > 0; got {v}")
    if nonnegative and not v >= 0:
        raise ValueError(f"{name} must be >= 0; got {v}")
    return v


def integer(v, name, *, minimum=None):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(v).__name__}")
    v = int(v)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {v}")
    return v


def warn_if_not_finite(value, what, cause):
    """One RuntimeWarning when ``value`` (a loss) is NaN or inf, naming ``what`` and its likely ``cause``, pointed
    at the first caller outside fastnn; returns ``value``. The book's NumPy code warns on the way there (overflow,
    invalid value) where compiled code cannot; filter it with the warnings module. Comparisons only: nothing is
    added to a finite value's path."""
    if not -math.inf < value < math.inf:
        frame, level = sys._getframe(1), 2
        while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            frame, level = frame.f_back, level + 1
        warnings.warn(f"{what} is {value}: {cause}", RuntimeWarning, stacklevel=level)
    return value


def warn_non_finite(loss):
    """Where the book's NumPy code warns (overflow or invalid value in dot, square, subtract) as a network
    diverges, the compiled passes cannot: one RuntimeWarning saying that the loss came out non-finite, at the
    caller's line. Returns nothing."""
    warn_if_not_finite(loss, "the network's loss", "overflow or invalid value (NaN) in the forward pass; "
                       "the network is diverging (try a smaller learning rate or weight scale)")


def require_methods(obj, name, methods, attrs=()):
    """Refuse (TypeError naming ``name``) an object without the listed methods and attributes; returns None."""
    missing = [m for m in methods if not callable(getattr(obj, m, None))]
    missing += [a for a in attrs if not hasattr(obj, a)]
    if missing:
        raise TypeError(f"{name} must provide {', '.join(methods + tuple(attrs))}; "
                        f"{type(obj).__name__} has no {', '.join(missing)}")


def samples(x, t, name_x, name_t):
    """(x, t) as arrays of real numbers (not cast: the network casts) with one row per sample, the same number
    of rows, at least one, and no NaN or inf (a NaN in the data would only surface later as a non-finite loss)."""
    x = numeric_array(x, name_x)
    t = numeric_array(t, name_t)
    for a, name in ((x, name_x), (t, name_t)):
        if a.ndim == 0:
            raise ValueError(f"{name} must have one row per sample; got a 0-D array")
        finite(a, name)
    if len(x) != len(t):
        raise ValueError(f"{name_x} and {name_t} must have the same number of samples; got {len(x)} and {len(t)}")
    if len(x) == 0:
        raise ValueError(f"{name_x} must hold at least one sample; got shape {x.shape}")
    return x, t


def optional_integer(v, name, minimum):
    """None, or ``v`` checked to be an integer >= minimum."""
    return None if v is None else integer(v, name, minimum=minimum)
