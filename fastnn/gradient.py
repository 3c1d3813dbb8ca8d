"""The book's ``common/gradient.py`` (and chapter 4's ``gradient_descent``): central differences with h = 1e-4.

``numerical_gradient(f, x)`` perturbs ``x`` in place, element by element in C order, calls ``f(x)`` twice per
element and restores the element bit-exactly afterwards (also when f raises). Callers rely on that aliasing: the
book's networks pass ``lambda W: net.loss(x, t)``, which ignores its argument and sees the perturbation through the
parameter array it shares with ``x``.

Fast path: when ``f`` is a numba-jitted function (``@numba.njit``) and ``x`` is C-contiguous, the whole loop
runs compiled, with no Python call per element. Any other callable gets the book's Python loop.
"""
import sys

import numpy as np

from . import _checks
from ._constants import H
from ._dispatch import lazy_kernels

numgrad = lazy_kernels("numgrad")

# np: the book's star import of this module gives it too, and scripts rely on that
__all__ = ["numerical_diff", "numerical_gradient", "numerical_gradient_2d", "gradient_descent", "gradient_check", "np"]


def numerical_diff(f, x):
    """(f(x + h) - f(x - h)) / 2h, for x a real number or an array of them (computed in float64, or in x's
    float dtype)."""
    _checks.callable_arg(f, "f")
    x = _checks.float_array(x, "x")
    x = x[()] if x.ndim == 0 else x  # a scalar stays a scalar for f
    h = x.dtype.type(H)
    return (f(x + h) - f(x - h)) / (2 * h)


def _is_jitted(f):
    if "numba" not in sys.modules:  # nothing can be jitted yet (fastnn imports numba only when it needs it)
        return False
    from numba.core.registry import CPUDispatcher
    return isinstance(f, CPUDispatcher)


def _python_loop(f, x, h, grad):
    for idx in np.ndindex(x.shape):
        tmp_val = x[idx]
        try:
            x[idx] = tmp_val + h
            fxh1 = f(x)
            x[idx] = tmp_val - h
            fxh2 = f(x)
        finally:
            x[idx] = tmp_val
        grad[idx] = (fxh1 - fxh2) / (2 * h)


def _compiled(run, x):
    """Run a compiled loop over x; on any error put x back exactly as it was. False if f cannot be compiled
    for x (the caller then takes the Python loop)."""
    from numba.core.errors import TypingError  # f is jitted: numba is loaded

    saved = x.copy()
    try:
        run()
    except TypingError:
        x[...] = saved
        return False
    except BaseException:
        x[...] = saved
        raise
    return True


def numerical_gradient(f, x):
    """Returns the gradient of the scalar function f at x by central differences, same dtype and shape as x."""
    _checks.callable_arg(f, "f")
    x = _checks.writable_float_array(x, "x")
    grad = np.zeros_like(x, order="C")
    h = x.dtype.type(H)
    if _is_jitted(f) and x.flags.c_contiguous and x.size:
        flat = x.reshape(-1)
        if _compiled(lambda: numgrad.numerical_gradient(f, x, flat, h, grad.reshape(-1)), x):
            return grad
    _python_loop(f, x, H, grad)
    return grad


# the book's private names for the same loop on 1-D input
_numerical_gradient_1d = _numerical_gradient_no_batch = numerical_gradient


def numerical_gradient_2d(f, X):
    """The book's plotting helper: for a 2-D X each row is a separate point, f is called on that row."""
    _checks.callable_arg(f, "f")
    X = _checks.writable_float_array(X, "X")
    if X.ndim == 1:
        return numerical_gradient(f, X)
    if X.ndim != 2:
        raise ValueError(f"X must be 1-D or 2-D; got a {X.ndim}-D array of shape {X.shape}")
    grad = np.zeros_like(X, order="C")
    for idx in range(X.shape[0]):
        grad[idx] = numerical_gradient(f, X[idx])
    return grad


def gradient_descent(f, init_x, lr=0.01, step_num=100, *, return_history=False):
    """step_num steps of x -= lr * numerical_gradient(f, x), updating ``init_x`` in place (as the book does) and
    returning it. ``return_history=True`` also returns the array of x before each step (chapter 4's plot)."""
    _checks.callable_arg(f, "f")
    x = _checks.writable_float_array(init_x, "init_x")
    lr = _checks.real_number(lr, "lr", positive=True)
    step_num = _checks.integer(step_num, "step_num", minimum=0)
    if not return_history and _is_jitted(f) and x.flags.c_contiguous and x.size:
        flat = x.reshape(-1)
        grad = np.zeros(x.size, dtype=x.dtype)
        dtype = x.dtype.type
        if _compiled(lambda: numgrad.gradient_descent(f, x, flat, dtype(H), dtype(lr), step_num, grad), x):
            return x
    history = []
    for _ in range(step_num):
        if return_history:
            history.append(x.copy())
        x -= lr * numerical_gradient(f, x)
    return (x, np.array(history)) if return_history else x


def gradient_check(net, x, t):
    """Returns, per parameter, the (mean, max) absolute difference between the net's backprop gradient and its
    numerical gradient: the book's chapter-5 check for any fastnn (or reference) network. See fastnn.netgrad."""
    from .netgrad import gradient_check as check

    return check(net, x, t)
