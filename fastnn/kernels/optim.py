"""In-place optimizer updates on 1-D C-contiguous arrays of one dtype (callers pass ravelled views).

Each kernel makes one pass that updates the parameter and its state together, where the book's NumPy code makes
several whole-array passes. Scalars arrive in the arrays' dtype, already combined the way the book's Python
expressions combine them before they meet an array (e.g. ``(1 + momentum) * lr`` is one Python float there), and
the per-element operations keep the book's order, so float64 results match the book to the last bit or two.
"""
import numpy as np

from .._jit import kernel


@kernel
def sgd(param, grad, lr):
    # params -= lr * grads
    for i in range(param.size):
        param[i] -= lr * grad[i]


@kernel
def momentum(param, grad, v, mu, lr):
    # v = mu * v - lr * grads;  params += v
    for i in range(param.size):
        vi = mu * v[i] - lr * grad[i]
        v[i] = vi
        param[i] += vi


@kernel
def nesterov(param, grad, v, mu, lr, mu_sq, lr_ahead):
    # v *= mu;  v -= lr * grads;  params += mu*mu * v;  params -= (1 + mu)*lr * grads
    for i in range(param.size):
        g = grad[i]
        vi = v[i] * mu
        vi -= lr * g
        v[i] = vi
        p = param[i] + mu_sq * vi
        param[i] = p - lr_ahead * g


@kernel
def adagrad(param, grad, h, lr, eps):
    # h += grads * grads;  params -= lr * grads / (sqrt(h) + eps)
    for i in range(param.size):
        g = grad[i]
        hi = h[i] + g * g
        h[i] = hi
        param[i] -= lr * g / (np.sqrt(hi) + eps)


@kernel
def rmsprop(param, grad, h, decay, one_minus_decay, lr, eps):
    # h *= decay;  h += (1 - decay) * grads * grads;  params -= lr * grads / (sqrt(h) + eps)
    for i in range(param.size):
        g = grad[i]
        hi = h[i] * decay
        hi += one_minus_decay * g * g
        h[i] = hi
        param[i] -= lr * g / (np.sqrt(hi) + eps)


@kernel
def adam(param, grad, m, v, one_minus_beta1, one_minus_beta2, lr_t, eps):
    # m += (1 - beta1) * (grads - m);  v += (1 - beta2) * (grads**2 - v);  params -= lr_t * m / (sqrt(v) + eps)
    for i in range(param.size):
        g = grad[i]
        mi = m[i]
        mi += one_minus_beta1 * (g - mi)
        m[i] = mi
        vi = v[i]
        vi += one_minus_beta2 * (g * g - vi)
        v[i] = vi
        param[i] -= lr_t * mi / (np.sqrt(vi) + eps)
