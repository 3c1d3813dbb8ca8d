"""Reference optimizers: the books' ``common/optimizer.py`` in their NumPy idiom, the oracle for fastnn.optimizer.

First book (``SGD`` ... ``Adam``): ``update(params, grads)`` walks the keys of two dicts, state is a dict.
Second book (``SGD2`` ... ``Adam2``): ``params`` and ``grads`` are lists, state is a list.
Both books use the same formulas, Nesterov included (``v *= momentum; v -= lr*grad;
params += momentum*momentum*v; params -= (1 + momentum)*lr*grad``); only the containers differ.
State (``v``, ``h``, ``m``) is created on the first update, as in the books.
"""
import numpy as np


# --- first book: dicts ------------------------------------------------------------------------------------------
class SGD:
    """The first book's common/optimizer.py SGD: params[key] -= lr * grads[key]."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        """Updates each params[key] in place by -lr * grads[key]; returns nothing."""
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class Momentum:
    """The first book's common/optimizer.py Momentum: v = momentum * v - lr * grad; params += v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        """Updates the velocities v and params in place (v created on the first call); returns nothing."""
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class Nesterov:
    """Nesterov's accelerated gradient in the books' form (the same in both books)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        """Updates the velocities v and params in place with the books' Nesterov step; returns nothing."""
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]


class AdaGrad:
    """The first book's common/optimizer.py AdaGrad: h += grad ** 2; params -= lr * grad / (sqrt(h) + 1e-7)."""

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        """Updates h and params in place (h created on the first call); returns nothing."""
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class RMSprop:
    """The first book's common/optimizer.py RMSprop: AdaGrad with h = decay_rate * h + (1 - decay_rate) * grad ** 2."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        """Updates h and params in place (h created on the first call); returns nothing."""
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class Adam:
    """Adam with the bias correction folded into the step size lr_t, as in the books."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        """Increments iter and updates m, v and params in place with the step lr_t; returns nothing."""
        if self.m is None:
            self.m = {key: np.zeros_like(val) for key, val in params.items()}
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


# --- second book: lists -----------------------------------------------------------------------------------------
class SGD2:
    """The second book's common/optimizer.py SGD: params[i] -= lr * grads[i] over lists."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        """Updates each params[i] in place by -lr * grads[i]; returns nothing."""
        for i in range(len(params)):
            params[i] -= self.lr * grads[i]


class Momentum2:
    """The second book's common/optimizer.py Momentum: the first book's formula on lists."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        """Updates the velocities v and params in place (v created on the first call); returns nothing."""
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.v[i] = self.momentum * self.v[i] - self.lr * grads[i]
            params[i] += self.v[i]


class Nesterov2:
    """The second book's Nesterov: the same formula as the first book's, on lists."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        """Updates the velocities v and params in place with the books' Nesterov step; returns nothing."""
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.v[i] *= self.momentum
            self.v[i] -= self.lr * grads[i]
            params[i] += self.momentum * self.momentum * self.v[i]
            params[i] -= (1 + self.momentum) * self.lr * grads[i]


class AdaGrad2:
    """The second book's common/optimizer.py AdaGrad: the first book's formula on lists."""

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        """Updates h and params in place (h created on the first call); returns nothing."""
        if self.h is None:
            self.h = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.h[i] += grads[i] * grads[i]
            params[i] -= self.lr * grads[i] / (np.sqrt(self.h[i]) + 1e-7)


class RMSprop2:
    """The second book's common/optimizer.py RMSprop: the first book's formula on lists."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        """Updates h and params in place (h created on the first call); returns nothing."""
        if self.h is None:
            self.h = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.h[i] *= self.decay_rate
            self.h[i] += (1 - self.decay_rate) * grads[i] * grads[i]
            params[i] -= self.lr * grads[i] / (np.sqrt(self.h[i]) + 1e-7)


class Adam2:
    """The second book's common/optimizer.py Adam: the first book's formula (lr_t bias correction) on lists."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        """Increments iter and updates m, v and params in place with the step lr_t; returns nothing."""
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for i in range(len(params)):
            self.m[i] += (1 - self.beta1) * (grads[i] - self.m[i])
            self.v[i] += (1 - self.beta2) * (grads[i] ** 2 - self.v[i])
            params[i] -= lr_t * self.m[i] / (np.sqrt(self.v[i]) + 1e-7)


BOOK1 = {cls.__name__: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)}
BOOK2 = {name: globals()[name + "2"] for name in BOOK1}
