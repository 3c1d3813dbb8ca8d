"""The first book's convolutional networks: chapter 7's ``SimpleConvNet`` and chapter 8's ``DeepConvNet``.

Same constructors, ``params`` keys, ``layers`` (an OrderedDict Conv1 ... Affine2 for SimpleConvNet, the book's list
of 20 layers for DeepConvNet), ``last_layer``, RNG draws (weights, then dropout masks in the book's order) and
results as the book's code, on fastnn's compiled Convolution/Pooling/Affine/Relu layers (fastnn.convolution,
fastnn.layers).

Why layer by layer and not one compiled call per step like the dense nets (fastnn.engine): a convolutional step
costs milliseconds of arithmetic (SimpleConvNet, batch 100: ~0.5 GFLOP) and the Python between the layers a few
microseconds each, so a whole-step kernel would save well under 1% while adding seconds of first compilation
(README, "Convolutional networks"). Input is checked once at the door; the layers' unchecked paths run after it.

What is fused is each convolution - ReLU - 2 x 2 pooling triple (SimpleConvNet's one, DeepConvNet's three).
Forward, the ReLU and the pooling run as one pass over the convolution's output (relu is monotone: the maximum of
relu(c) is relu of the maximum of c), so relu(c) is never written. Backward, the three gradients come in one pass
from the pooled gradient (fastnn.convolution.Convolution._backward_pooled): the convolution's dout is zero but at
one pixel per window, so its products with col and W reduce to a quarter and the dout plane is never made. The
layers still show the book's state: ``Relu.mask``, ``Pooling.x`` and ``arg_max`` are made from the kept
convolution output on first read. Measured here (AMD EPYC, one thread, interleaved medians, batch 100, ms), the
triple's backward fused / as three layers: SimpleConvNet f64 8.4 / 15.1, f32 5.2 / 13.3; DeepConvNet's 16, 32
and 64 channels f64 92 / 159, 73 / 160, 59 / 149, f32 44 / 71, 37 / 86, 22 / 45; the fused ReLU - pooling
forward and backward of SimpleConvNet's 30 x 24 x 24 planes f64 9.7 / 16.5, f32 5.9 / 8.4.

Output sizes are floored as in the book's layers (``(size + 2*pad - filter) // stride + 1``; a 2 x 2 pooling of an
odd size leaves the last row or column out), and the first affine layer's weights are sized from the sizes the
layers really produce. Wherever the book's net runs, its weights have that size too; the book computes it apart
(chapter 7 from the unrounded ``(size - filter + 2*pad) / stride + 1`` of the height alone, chapter 8 as the fixed
64*4*4), so a geometry where the two disagree fails in the book's first forward but works here.

fastnn adds: a keyword-only ``dtype`` (float64 like the book, or float32 end to end), validation of every argument
(a geometry with an output size below 1 anywhere in the net, where the book fails too, is refused at
construction), ``loss_and_gradient``, ``save_params`` to .npz (atomic) and a ``load_params`` that reads .npz files
and the book's own pickles through a restricted unpickler (fastnn.io.load_pickle), in place.
``accuracy`` counts a last partial batch too: the book's loop skips the last ``len(x) % batch_size`` rows but
still divides by ``len(x)``; for whole batches (all the book's calls) the values are the same.
"""
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from . import _checks, gradient, io
from .layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss

__all__ = ["SimpleConvNet", "DeepConvNet"]

_CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")
DEEP_CONV_PARAMS = ({"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
                    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1})
DEEP_WEIGHTED_LAYERS = (0, 2, 5, 7, 10, 12, 15, 18)  # the book's indices in ``layers`` of the layers with W1..W8
POOL = 2  # both nets pool 2x2 with stride 2


# --- argument checks ----------------------------------------------------------------------------------------------
def _input_dim(input_dim):
    if isinstance(input_dim, (str, bytes)) or not hasattr(input_dim, "__len__") or len(input_dim) != 3:
        raise ValueError(f"input_dim must be (channels, height, width); got {input_dim!r}")
    return tuple(_checks.integer(v, f"input_dim[{i}]", minimum=1) for i, v in enumerate(input_dim))


def _conv_param(p, name):
    if not isinstance(p, Mapping):
        raise TypeError(f"{name} must be a dict with keys {_CONV_KEYS}; got {type(p).__name__}")
    missing = [k for k in _CONV_KEYS if k not in p]
    if missing:
        raise ValueError(f"{name} must have the keys {_CONV_KEYS}; {', '.join(missing)} missing")
    return {k: _checks.integer(p[k], f"{name}[{k!r}]", minimum=0 if k == "pad" else 1) for k in _CONV_KEYS}


def _out_size(size, filter_size, stride, pad, what):
    """The output size of a sliding window, floored as the book's layers do; refused when below 1 (the window does
    not fit the padded size, where the book's layers fail too)."""
    span = size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(f"{what}: a window of {filter_size} with stride {stride} and pad {pad} does not fit a "
                         f"size of {size} (output size (size + 2*pad - filter) // stride + 1 = "
                         f"{span // stride + 1}, below 1)")
    return span // stride + 1


def _randn(scale, shape, dtype):
    """The book's ``scale * np.random.randn(*shape)`` (float64 draws), then cast to the net's dtype."""
    return np.ascontiguousarray(scale * np.random.randn(*shape), dtype=dtype)


# --- shared behaviour ---------------------------------------------------------------------------------------------
class _ConvNet:
    """predict/loss/accuracy/gradient/save/load over ``self._stack`` (the layers in order), whose weighted layers
    ``self._weighted`` hold ``params`` W1, b1, W2, ... in that order."""

    def _set_stack(self):
        """``_stack``: the layers in order; ``_relu_pool``: the indices of the Pooling layers that follow a
        Convolution and a Relu: forward, the Relu and the Pooling run in one pass (Pooling._forward_relu);
        backward, all three (Convolution._backward_pooled). Both nets pool 2 x 2 with stride 2 and no pad (an odd
        convolution output's last row or column is in no window: its gradient is 0)."""
        self._stack = list(self.layers.values()) if isinstance(self.layers, Mapping) else list(self.layers)
        self._relu_pool = frozenset(k for k in range(2, len(self._stack)) if isinstance(self._stack[k], Pooling)
                                    and isinstance(self._stack[k - 1], Relu)
                                    and isinstance(self._stack[k - 2], Convolution))

    def _bind_params(self):
        """Point the weighted layers at the arrays now in ``params`` (the book's load_params assigns new arrays
        to both; a user may too): a few identity checks per call."""
        for i, layer in enumerate(self._weighted, start=1):
            W, b = self.params["W" + str(i)], self.params["b" + str(i)]
            if layer.params[0] is not W:
                layer.W = W
            if layer.params[1] is not b:
                layer.b = b

    def _input(self, x):
        x = _checks.float_array(x, "x", dtype=self.dtype, ndim=4, allow_empty=False)
        if x.shape[1:] != self.input_dim:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, self.input_dim))}) to match input_dim; "
                             f"got {x.shape}")
        return x

    def _forward(self, x, train_flg, for_backward=False):
        """Scores for checked x; dropout layers draw their masks only when ``train_flg``; ``for_backward`` lets
        the convolutions keep what their backward needs (else they may take a faster forward-only path)."""
        self._bind_params()
        stack, k = self._stack, 0
        while k < len(stack):
            layer = stack[k]
            k += 1
            if k in self._relu_pool:  # this Relu and the Pooling after it in one pass
                x = stack[k]._forward_relu(x, layer)
                k += 1
            elif isinstance(layer, Affine):
                x = layer._forward(x.shape, np.ascontiguousarray(x).reshape(x.shape[0], -1))
            elif isinstance(layer, Dropout):
                x = layer.forward(x, train_flg)
            elif isinstance(layer, (Convolution, Pooling)):
                x = layer._forward(x, for_backward)
            else:
                x = layer._forward(x)
        return x

    def _loss(self, x, t, train_flg, for_backward=False):
        return self.last_layer.forward(self._forward(self._input(x), train_flg, for_backward), t)

    def accuracy(self, x, t, batch_size=100):
        """The fraction of rows whose top score is the label (t: labels or one-hot rows), predicted batch_size
        rows at a time with dropout off; a last partial batch counts too (see the module docstring)."""
        x = self._input(x)
        t = _checks.as_array(t, "t")
        batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
        if t.shape[:1] != x.shape[:1]:
            raise ValueError(f"t must have one row per row of x ({x.shape[0]}); got shape {t.shape}")
        kind, labels = _checks.labels_or_onehot_for(t, x.shape[0], self._n_out, "t", self.dtype)
        if kind == "onehot":
            labels = np.argmax(labels, axis=1)
        correct = 0
        for start in range(0, x.shape[0], batch_size):
            scores = self._forward(x[start:start + batch_size], False)
            correct += int(np.sum(np.argmax(scores, axis=1) == labels[start:start + batch_size]))
        return correct / x.shape[0]

    def loss_and_gradient(self, x, t):
        """(loss, grads) from one forward pass with dropout on and one backward pass; grads is a dict W1, b1, ...
        of the layers' own dW and db arrays (overwritten by the next call: copy them to keep them)."""
        loss = self._loss(x, t, self._dropout, for_backward=True)
        dout = self.last_layer._backward(1)
        stack, k = self._stack, len(self._stack)
        while k > 0:
            k -= 1
            layer = stack[k]
            if k in self._relu_pool:  # conv - relu - pool, stack[k - 2:k + 1], backward in one pass
                dout = stack[k - 2]._backward_pooled(dout, layer, need_dx=k > 2)
                k -= 2
            elif isinstance(layer, Dropout):
                dout = layer.backward(dout)
            elif k == 0:  # nobody reads the input's gradient
                layer._backward(dout, need_dx=False)
            else:
                dout = layer._backward(dout)
        grads = {}
        for i, layer in enumerate(self._weighted, start=1):
            grads["W" + str(i)], grads["b" + str(i)] = layer.dW, layer.db
        return loss, grads

    def gradient(self, x, t):
        """The gradient of the loss by backpropagation: a dict W1, b1, ... (see loss_and_gradient)."""
        return self.loss_and_gradient(x, t)[1]

    def save_params(self, file_name="params.npz"):
        """Write the parameters to ``file_name`` as .npz content (atomically), whatever its extension."""
        io.save_arrays(file_name, self.params)

    def load_params(self, file_name="params.npz"):
        """Load parameters saved by save_params (.npz) or the book's pickle files (read by a restricted unpickler
        that runs no code) into this net's arrays in place; keys and shapes must match, values are cast to the
        net's dtype."""
        saved = io.load_arrays(file_name)
        if set(saved) != set(self.params):
            raise ValueError(f"file_name {file_name!r} holds parameters {sorted(saved)}, but the network has "
                             f"{sorted(self.params)}")
        self._bind_params()
        for key, value in saved.items():
            if value.shape != self.params[key].shape or value.dtype.kind not in "biuf":
                raise ValueError(f"file_name {file_name!r}: parameter {key!r} has shape {value.shape} and dtype "
                                 f"{value.dtype}, but the network expects {self.params[key].shape} real numbers")
        for key, value in saved.items():
            self.params[key][...] = value


# --- chapter 7 ----------------------------------------------------------------------------------------------------
class SimpleConvNet(_ConvNet):
    """Chapter 7's net: conv - relu - pool(2x2) - affine - relu - affine - softmax, N(0, weight_init_std^2)
    weights drawn W1, W2, W3 in the book's order."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},  # noqa: B006 (book's)
                 hidden_size=100, output_size=10, weight_init_std=0.01, *, dtype=np.float64):
        self.dtype = _checks.network_dtype(dtype)
        self.input_dim = _input_dim(input_dim)
        p = _conv_param(conv_param, "conv_param")
        hidden_size = _checks.integer(hidden_size, "hidden_size", minimum=1)
        output_size = _checks.integer(output_size, "output_size", minimum=1)
        weight_init_std = _checks.real_number(weight_init_std, "weight_init_std", nonnegative=True)
        channels, height, width = self.input_dim
        conv_h = _out_size(height, p["filter_size"], p["stride"], p["pad"], "the convolution (height)")
        conv_w = _out_size(width, p["filter_size"], p["stride"], p["pad"], "the convolution (width)")
        pooled = p["filter_num"] * _out_size(conv_h, POOL, POOL, 0, "the pooling (height)") \
            * _out_size(conv_w, POOL, POOL, 0, "the pooling (width)")

        self.params = {}
        self.params["W1"] = _randn(weight_init_std, (p["filter_num"], channels, p["filter_size"],
                                                     p["filter_size"]), self.dtype)
        self.params["b1"] = np.zeros(p["filter_num"], self.dtype)
        self.params["W2"] = _randn(weight_init_std, (pooled, hidden_size), self.dtype)
        self.params["b2"] = np.zeros(hidden_size, self.dtype)
        self.params["W3"] = _randn(weight_init_std, (hidden_size, output_size), self.dtype)
        self.params["b3"] = np.zeros(output_size, self.dtype)

        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(self.params["W1"], self.params["b1"], p["stride"], p["pad"])
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=POOL, pool_w=POOL, stride=POOL)
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
        self.last_layer = SoftmaxWithLoss()
        self._set_stack()
        self._weighted = [self.layers[name] for name in ("Conv1", "Affine1", "Affine2")]
        self._n_out = output_size
        self._dropout = False  # the net has no dropout layer

    def predict(self, x):
        """The scores of the last Affine layer, shape (N, output_size)."""
        return self._forward(self._input(x), False)

    def loss(self, x, t):
        """The book's loss: softmax cross-entropy of predict(x) against t (labels or one-hot rows)."""
        return self._loss(x, t, False)

    def numerical_gradient(self, x, t):
        """The book's numerical gradient: central differences (h = 1e-4) of the loss, every parameter element in
        turn (two forward passes per element: use small nets); returns a dict W1, b1, ..., b3 of new arrays."""
        x = self._input(x)
        loss_w = lambda w: self.loss(x, t)  # noqa: E731 - the book's closure over the net
        return {key: gradient.numerical_gradient(loss_w, self.params[key]) for key in self.params}


# --- chapter 8 ----------------------------------------------------------------------------------------------------
class DeepConvNet(_ConvNet):
    """Chapter 8's net: (conv - relu - conv - relu - pool) x 3 - affine - relu - dropout(0.5) - affine -
    dropout(0.5) - softmax, He initialisation (sqrt(2 / fan-in)), ``params`` W1..W8/b1..b8."""

    def __init__(self, input_dim=(1, 28, 28), conv_param_1=DEEP_CONV_PARAMS[0], conv_param_2=DEEP_CONV_PARAMS[1],
                 conv_param_3=DEEP_CONV_PARAMS[2], conv_param_4=DEEP_CONV_PARAMS[3],
                 conv_param_5=DEEP_CONV_PARAMS[4], conv_param_6=DEEP_CONV_PARAMS[5], hidden_size=50,
                 output_size=10, *, dtype=np.float64):
        self.dtype = _checks.network_dtype(dtype)
        self.input_dim = _input_dim(input_dim)
        conv_params = [_conv_param(p, f"conv_param_{i}") for i, p in enumerate(
            (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6), start=1)]
        hidden_size = _checks.integer(hidden_size, "hidden_size", minimum=1)
        output_size = _checks.integer(output_size, "output_size", minimum=1)

        # fan-in of every weighted layer (the book writes these numbers out for its default shapes)
        channels, height, width = self.input_dim
        fan_in = []
        for i, p in enumerate(conv_params, start=1):
            fan_in.append(channels * p["filter_size"] ** 2)
            channels = p["filter_num"]
            height = _out_size(height, p["filter_size"], p["stride"], p["pad"], f"convolution {i} (height)")
            width = _out_size(width, p["filter_size"], p["stride"], p["pad"], f"convolution {i} (width)")
            if i % 2 == 0:
                height = _out_size(height, POOL, POOL, 0, f"the pooling after convolution {i} (height)")
                width = _out_size(width, POOL, POOL, 0, f"the pooling after convolution {i} (width)")
        fan_in += [channels * height * width, hidden_size]
        scales = np.sqrt(2.0 / np.array(fan_in))

        self.params = {}
        channels = self.input_dim[0]
        for i, p in enumerate(conv_params, start=1):
            self.params["W" + str(i)] = _randn(scales[i - 1], (p["filter_num"], channels, p["filter_size"],
                                                               p["filter_size"]), self.dtype)
            self.params["b" + str(i)] = np.zeros(p["filter_num"], self.dtype)
            channels = p["filter_num"]
        self.params["W7"] = _randn(scales[6], (fan_in[6], hidden_size), self.dtype)
        self.params["b7"] = np.zeros(hidden_size, self.dtype)
        self.params["W8"] = _randn(scales[7], (hidden_size, output_size), self.dtype)
        self.params["b8"] = np.zeros(output_size, self.dtype)

        self.layers = []
        for i, p in enumerate(conv_params, start=1):
            self.layers.append(Convolution(self.params["W" + str(i)], self.params["b" + str(i)], p["stride"],
                                           p["pad"]))
            self.layers.append(Relu())
            if i % 2 == 0:
                self.layers.append(Pooling(pool_h=POOL, pool_w=POOL, stride=POOL))
        self.layers += [Affine(self.params["W7"], self.params["b7"]), Relu(), Dropout(0.5),
                        Affine(self.params["W8"], self.params["b8"]), Dropout(0.5)]
        self.last_layer = SoftmaxWithLoss()
        self._set_stack()
        self._weighted = [self.layers[k] for k in DEEP_WEIGHTED_LAYERS]
        self._n_out = output_size
        self._dropout = True  # the book's loss (and so its gradient) runs with dropout on

    def predict(self, x, train_flg=False):
        """The scores of the last layer; with ``train_flg`` the dropout layers draw new masks (the book's
        ``np.random.rand`` calls), else they scale by 0.5."""
        return self._forward(self._input(x), bool(train_flg))

    def loss(self, x, t):
        """The book's loss: softmax cross-entropy of predict(x, train_flg=True) against t (draws dropout
        masks)."""
        return self._loss(x, t, True)
