"""The books' networks on fastnn's compiled layers: same constructors, ``params`` keys, layer names, RNG draws
and results as the NumPy reference (``fastnn.reference.nets``), which they share their code with.

fastnn adds: a keyword-only ``dtype`` (float64 like the books, or float32 end to end), validation of every
argument, ``save_params``/``load_params`` (.npz, atomic), ``loss_and_gradient`` (the loss of the forward pass that
the gradient used), and backward that skips the input gradient of the first layer, which nobody reads.
"""
import numpy as np

from . import _checks, functions, gradient, io, layers
from .mlp import NeuralNetMLP  # noqa: F401 - Raschka's network lives with its kernels
from .reference import nets as ref

__all__ = ["SimpleNet", "simpleNet", "TwoLayerNet", "TwoLayerNetCh4", "TwoLayerNetBook2", "MultiLayerNet",
           "MultiLayerNetExtend", "NeuralNetMLP"]


ACCURACY_CHUNK = 8192  # rows per forward pass in accuracy()


def _dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64; got {dtype!r} ({exc})") from None
    if dt not in _checks.FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64; got {dt}")
    return dt


def _size(v, name):
    return _checks.integer(v, name, minimum=1)


class _Fast:
    """fastnn's building blocks for the reference network code."""

    _layers = layers
    _fn = functions
    _numerical_gradient = staticmethod(gradient.numerical_gradient)
    dtype = np.dtype(np.float64)

    def _param(self, array):
        return np.ascontiguousarray(array, dtype=self.dtype)

    def _targets(self, x, t):
        t = _checks.as_array(t, "t")
        if t.shape[:1] != np.shape(x)[:1]:
            raise ValueError(f"t must have one row per row of x ({np.shape(x)[0]}); got shape {t.shape}")
        return t

    def save_params(self, file_name="params.npz"):
        io.save_arrays(file_name, self.params)

    def load_params(self, file_name="params.npz"):
        """Load saved parameters into this network's arrays in place (keys, shapes and dtypes must match)."""
        io.load_into(self.params, file_name)


class _Evaluable(_Fast):
    """accuracy and numerical_gradient, for the nets whose book classes have them."""

    def accuracy(self, x, t):
        """The book's accuracy, computed in chunks of ``ACCURACY_CHUNK`` rows so that memory stays bounded for
        large inputs (the activations of one chunk at a time); the same value as in one piece."""
        x = _checks.float_array(x, "x", min_ndim=2, allow_empty=False)
        n_out = getattr(self, "output_size", None) or self.params["b2"].size
        scores_shape = np.broadcast_to(np.empty(1), (x.shape[0], n_out))  # shape only, no memory
        _, t = _checks.labels_or_onehot(self._targets(x, t), scores_shape, "t")
        n = x.shape[0]
        if n <= ACCURACY_CHUNK:
            return super().accuracy(x, t)
        correct = 0
        for start in range(0, n, ACCURACY_CHUNK):
            stop = min(start + ACCURACY_CHUNK, n)
            correct += round(super().accuracy(x[start:stop], t[start:stop]) * (stop - start))
        return np.float64(correct) / float(n)

    def numerical_gradient(self, x, t, *, parallel=False):
        """The book's numerical gradient (central differences, h = 1e-4, every parameter in turn), computed by
        compiled code that knows the network's structure (fastnn.netgrad): the same values to rounding.
        Nets with dropout draw random masks per evaluation and keep the book's Python loop."""
        if getattr(self, "use_dropout", False):
            return super().numerical_gradient(x, t)
        from . import netgrad

        return netgrad.numerical_gradient(self, x, t, parallel=parallel)


_UNCHECKED_LAYERS = (layers.Affine, layers.Relu, layers.Sigmoid)


class _FastLayered(_Evaluable):
    """The first book's layered nets. When every layer is an Affine, Relu or Sigmoid (all of them except
    MultiLayerNetExtend with dropout or batch normalisation), x is checked once at the net's door and the layers run
    their unchecked halves (``_forward``/``_backward``): same arithmetic, less Python per step."""

    def _unchecked_stack(self):
        stack = list(self.layers.values())
        return stack if all(type(layer) in _UNCHECKED_LAYERS for layer in stack) else None

    def _checked_input(self, x, stack):
        """x as a C-contiguous batch in the net's dtype after checking it and every Affine's parameters against
        the chain of widths; None when a parameter was replaced by one of another dtype (checked path)."""
        x = _checks.float_array(x, "x", dtype=self.dtype, min_ndim=2, allow_empty=False)
        width = int(np.prod(x.shape[1:]))
        for k, layer in enumerate(stack):
            if type(layer) is layers.Affine:
                W, _ = layer._checked_params()
                if W.dtype != self.dtype or (k and W.shape[0] != width):
                    return None
                if W.shape[0] != width:
                    raise ValueError(f"x must have {W.shape[0]} features per row to match W1 of shape {W.shape}; "
                                     f"got input of shape {x.shape}")
                width = W.shape[1]
        return x

    def predict(self, x, *args, **kwargs):
        stack = self._unchecked_stack()
        x_checked = None if stack is None else self._checked_input(x, stack)
        self._unchecked_forward = x_checked is not None  # backward takes the same path
        if x_checked is None:
            return super().predict(x, *args, **kwargs)
        out = x_checked
        for layer in stack:
            if type(layer) is layers.Affine:
                out = layer._forward(out.shape, out.reshape(out.shape[0], -1))
            else:
                out = layer._forward(out)
        return out

    def _backward(self):
        """The reference backward through the layers' unchecked halves (their inputs come from the forward pass
        just run), except that the first Affine layer does not compute its dx, which nobody reads."""
        stack = list(self.layers.values())
        unchecked = getattr(self, "_unchecked_forward", False) and self._unchecked_stack() is not None
        dout = self.lastLayer._backward(1)
        for layer in reversed(stack[1:]):
            dout = layer._backward(dout) if unchecked else layer.backward(dout)
        first = stack[0]
        if type(first) is layers.Affine:
            (first._backward if unchecked else first.backward)(dout, need_dx=False)
        else:
            first.backward(dout)

    def _weight_decay(self):
        if not getattr(self, "weight_decay_lambda", 0):  # the book sums every W**2 to multiply it by 0
            return 0
        return super()._weight_decay()

    def loss_and_gradient(self, x, t):
        """(loss, grads) from one forward and one backward pass (``gradient`` discards that loss)."""
        grads = self.gradient(x, t)
        loss = self.lastLayer.loss
        if isinstance(self, ref.MultiLayerNet):
            loss = loss + self._weight_decay()
        return loss, grads


class SimpleNet(_Fast, ref.SimpleNet):
    def __init__(self, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        super().__init__()

    @property
    def params(self):
        return {"W": self.W}

    def predict(self, x):
        x = _checks.float_array(x, "x", dtype=self.dtype, ndim=(1, 2))
        if x.shape[-1] != self.W.shape[0]:
            raise ValueError(f"x must have {self.W.shape[0]} features to match W of shape {self.W.shape}; "
                             f"got shape {x.shape}")
        return super().predict(x)


simpleNet = SimpleNet  # the book's spelling


class TwoLayerNetCh4(_Evaluable, ref.TwoLayerNetCh4):
    """Chapter 4's two-layer net (sigmoid hidden layer, softmax output, one-hot targets)."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        super().__init__(_size(input_size, "input_size"), _size(hidden_size, "hidden_size"),
                         _size(output_size, "output_size"), _checks.real_number(weight_init_std, "weight_init_std"))

    def _onehot(self, x, t):
        t = self._targets(x, t)
        if t.shape != (np.shape(x)[0], self.params["b2"].size):
            raise ValueError(f"t must be one-hot rows of shape {(np.shape(x)[0], self.params['b2'].size)} "
                             f"(chapter 4's net); got shape {t.shape}")
        return _checks.float_array(t, "t", dtype=self.dtype)

    def predict(self, x):
        return super().predict(self._input(x))

    def _input(self, x):
        x = _checks.float_array(x, "x", dtype=self.dtype, ndim=2, allow_empty=False)
        if x.shape[1] != self.params["W1"].shape[0]:
            raise ValueError(f"x must have {self.params['W1'].shape[0]} columns; got shape {x.shape}")
        return x

    def accuracy(self, x, t):
        x = self._input(x)
        return super().accuracy(x, self._onehot(x, t))

    def gradient(self, x, t):
        return super().gradient(self._input(x), self._onehot(x, t))


class TwoLayerNet(_FastLayered, ref.TwoLayerNet):
    """Chapter 5's two-layer net: Affine1, Relu1, Affine2 + SoftmaxWithLoss ``lastLayer``."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        super().__init__(_size(input_size, "input_size"), _size(hidden_size, "hidden_size"),
                         _size(output_size, "output_size"), _checks.real_number(weight_init_std, "weight_init_std"))


_INIT_NAMES = ("relu", "he", "sigmoid", "xavier")


def _multi_layer_args(input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda):
    _size(input_size, "input_size")
    _size(output_size, "output_size")
    if isinstance(hidden_size_list, (str, bytes)) or not hasattr(hidden_size_list, "__len__"):
        raise TypeError(f"hidden_size_list must be a list of layer widths; got {type(hidden_size_list).__name__}")
    for i, size in enumerate(hidden_size_list):
        _size(size, f"hidden_size_list[{i}]")
    if activation not in ("relu", "sigmoid"):
        raise ValueError(f"activation must be 'relu' or 'sigmoid'; got {activation!r}")
    if isinstance(weight_init_std, str):
        if weight_init_std.lower() not in _INIT_NAMES:
            raise ValueError(f"weight_init_std must be a number or one of {_INIT_NAMES}; got {weight_init_std!r}")
    else:
        _checks.real_number(weight_init_std, "weight_init_std", nonnegative=True)
    _checks.real_number(weight_decay_lambda, "weight_decay_lambda", nonnegative=True)


class MultiLayerNet(_FastLayered, ref.MultiLayerNet):
    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        _multi_layer_args(input_size, hidden_size_list, output_size, activation, weight_init_std,
                          weight_decay_lambda)
        super().__init__(input_size, list(hidden_size_list), output_size, activation, weight_init_std,
                         weight_decay_lambda)


class MultiLayerNetExtend(_FastLayered, ref.MultiLayerNetExtend):
    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False, *,
                 dtype=np.float64):
        self.dtype = _dtype(dtype)
        _multi_layer_args(input_size, hidden_size_list, output_size, activation, weight_init_std,
                          weight_decay_lambda)
        ratio = _checks.real_number(dropout_ration, "dropout_ration")
        if not 0 <= ratio < 1:
            raise ValueError(f"dropout_ration must be in [0, 1); got {ratio}")
        super().__init__(input_size, list(hidden_size_list), output_size, activation, weight_init_std,
                         weight_decay_lambda, bool(use_dropout), ratio, bool(use_batchnorm))


class TwoLayerNetBook2(_Fast, ref.TwoLayerNetBook2):
    """The second book's chapter-1 TwoLayerNet (Affine, Sigmoid, Affine; ``params``/``grads`` lists)."""

    def __init__(self, input_size, hidden_size, output_size, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        super().__init__(_size(input_size, "input_size"), _size(hidden_size, "hidden_size"),
                         _size(output_size, "output_size"))

    def numerical_gradient(self, x, t, *, parallel=False):
        """Central differences of ``forward(x, t)`` for every parameter (a list in ``params`` order; an extra:
        the second book's net has no such method), compiled as for the first book's nets."""
        from . import netgrad

        return netgrad.numerical_gradient(self, x, t, parallel=parallel)

    def save_params(self, file_name="params.npz"):
        io.save_arrays(file_name, {str(i): p for i, p in enumerate(self.params)})

    def load_params(self, file_name="params.npz"):
        io.load_into({str(i): p for i, p in enumerate(self.params)}, file_name)
