"""Central differences over a jitted scalar function f(x), run entirely in compiled code.

``flat`` is a C-ordered 1-D view of ``x``: perturbing ``flat[i]`` is what f sees through x. ``h`` and ``lr``
arrive in x's dtype. These kernels take a dispatcher as argument, so they are not cached on disk.
"""
from .._jit import kernel


@kernel(cache=False)
def numerical_gradient(f, x, flat, h, grad):
    for i in range(flat.size):
        tmp = flat[i]
        flat[i] = tmp + h
        fxh1 = f(x)
        flat[i] = tmp - h
        fxh2 = f(x)
        grad[i] = (fxh1 - fxh2) / (2 * h)
        flat[i] = tmp


@kernel(cache=False)
def gradient_descent(f, x, flat, h, lr, step_num, grad):
    for _ in range(step_num):
        numerical_gradient(f, x, flat, h, grad)
        for i in range(flat.size):
            flat[i] -= lr * grad[i]
