"""The books' networks: same constructors, ``params`` keys and order, layer names, RNG draws and results as the
book's code, each call of ``predict``/``loss``/``accuracy``/``gradient`` one compiled pass over the whole stack
(fastnn.engine). The convolutional nets of chapters 7 and 8 (SimpleConvNet, DeepConvNet) are exported here too;
they live in fastnn.convnets and run layer by layer (see there why).

fastnn adds: a keyword-only ``dtype`` (float64 like the books, or float32 end to end), validation of every
argument, ``save_params``/``load_params`` (.npz, atomic), ``loss_and_gradient`` (the loss of the forward pass that
the gradient used). The first layer's input gradient, which nobody reads, is not computed.

Buffers are reused: the arrays in the dict that ``gradient`` returns are the same arrays on every call (the
first book's TwoLayerNet returns its layers' ``dW`` the same way): copy them to keep a gradient.
"""
import copy
from collections import OrderedDict

import numpy as np

from . import _checks, _layer_kinds, functions, gradient, io, layers
from ._layer_kinds import LayerSpec
from .engine import Engine
from .kernels.codes import AFFINE, SIGMOID, SIGMOID_CH4
from ._dispatch import lazy_kernels
from .convnets import DeepConvNet, SimpleConvNet  # noqa: F401 - chapters 7 and 8, layer by layer (see there)
from .mlp import NeuralNetMLP  # noqa: F401 - Raschka's network lives with its kernels
from .word2vec import CBOW, SkipGram  # noqa: F401 - the second book's chapter 4 (see there)
from .rnnlm_nets import BetterRnnlm, BetterRnnlmGen, Rnnlm, RnnlmGen, SimpleRnnlm  # noqa: F401 - chapters 5-7
from .seq2seq_nets import (AttentionDecoder, AttentionEncoder, AttentionSeq2seq, Decoder, Encoder,  # noqa: F401
                           PeekyDecoder, PeekySeq2seq, Seq2seq)  # the second book's chapters 7 and 8 (see there)

nk = lazy_kernels("network")

__all__ = ["SimpleNet", "simpleNet", "TwoLayerNet", "TwoLayerNetCh4", "TwoLayerNetBook2", "MultiLayerNet",
           "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet", "NeuralNetMLP", "CBOW", "SkipGram",
           "SimpleRnnlm", "Rnnlm", "BetterRnnlm", "RnnlmGen", "BetterRnnlmGen",
           "Encoder", "Decoder", "Seq2seq", "PeekyDecoder", "PeekySeq2seq", "AttentionEncoder", "AttentionDecoder",
           "AttentionSeq2seq"]


# rows per compiled pass of a test-behaviour forward (predict, accuracy): the engine keeps a plan's buffers for
# reuse, ~14 KB a row for chapter 6's deep nets, so a 10,000-row test set in one pass kept ~140 MB
EVAL_CHUNK = 1024
_INIT_NAMES = ("relu", "he", "sigmoid", "xavier")


# --- argument checks ----------------------------------------------------------------------------------------------
_dtype = _checks.network_dtype  # (fastnn.warmup and fastnn.convnets use the same check)


def _size(v, name):
    return _checks.integer(v, name, minimum=1)


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


def _accuracy(scores, t):
    """The book's accuracy from scores and labels or one-hot rows."""
    y = np.argmax(scores, axis=1)
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    # the book's np.sum(y == t), as an np.float64 like the book's; count_nonzero is 7 us less at 32 rows
    return np.float64(np.count_nonzero(y == t)) / float(scores.shape[0])


# --- shared behaviour ---------------------------------------------------------------------------------------------
class _EngineNet:
    """predict/loss/accuracy/gradient of a net run by an Engine (``self._engine``), whose last layer is softmax +
    cross-entropy. Subclasses set ``dtype`` and build the engine."""

    dtype = np.dtype(np.float64)
    _engine = None

    def __deepcopy__(self, memo):
        """An independent net: its attributes deep-copied, then a new engine over the copies (an engine's views of
        its own buffers and its weak reference to its net, copied as they are, would still be the original's)."""
        new = object.__new__(type(self))
        memo[id(self)] = new
        for name, value in vars(self).items():
            if name != "_engine":
                vars(new)[name] = copy.deepcopy(value, memo)
        new._engine = self._engine.copy_for(new, memo)
        return new

    def __copy__(self):
        """A shallow copy shares everything with the original, its engine too (what copy.copy did before pickling
        was defined below; a new engine over shared layers would take their arrays from the original's)."""
        new = object.__new__(type(self))
        vars(new).update(vars(self))
        return new

    def __getstate__(self):
        """For pickle: the net's attributes, its engine replaced by the engine's blueprint (its buffers and its weak
        reference to the net cannot be pickled; an unpickled net lays out buffers of its own)."""
        state = dict(vars(self))
        state["_engine"] = self._engine.blueprint()
        return state

    def __setstate__(self, state):
        *args, options = state.pop("_engine")
        vars(self).update(state)
        self._engine = Engine(self, *args, **options)

    def _decay(self):
        return 0.0

    def training_engine(self):
        """(engine, decay): the fastnn.engine.Engine this net runs on (its arena, plans, ``sync()`` and
        ``grads_for(decay)``) and the weight-decay lambda its loss adds now (0.0 without weight decay; an invalid
        lambda raises ValueError as the loss would). What a trainer's compiled loop (fastnn.trainer) needs."""
        return self._engine, self._decay()

    def _scores(self, x, train_flg=False):
        """The last layer's scores (the engine's buffer: copy to keep). In test behaviour rows are independent (no
        dropout, running statistics), so more than EVAL_CHUNK rows run a chunk at a time into a fresh array (the
        layers' book attributes then hold the last chunk's values)."""
        if not train_flg and type(x) is np.ndarray and x.ndim >= 2 and x.shape[0] > EVAL_CHUNK:
            out = np.empty((x.shape[0], self._engine.n_out), dtype=self._engine.dtype)
            for start in range(0, x.shape[0], EVAL_CHUNK):
                out[start:start + EVAL_CHUNK] = self._engine.run(x[start:start + EVAL_CHUNK], None, nk.PREDICT,
                                                                 False)[1]
            return out
        plan, scores, _ = self._engine.run(x, None, nk.PREDICT, train_flg)
        return scores

    def _loss(self, x, t, train_flg=False):
        engine, decay = self._engine, self._decay()
        plan, _, _ = engine.run(x, t, nk.LOSS, train_flg, decay)
        ce, wd = engine.finish_loss(plan)
        return ce + float(wd) if decay else ce

    def numerical_gradient(self, x, t, *, parallel=False):
        """The book's numerical gradient (central differences, h = 1e-4, every parameter in turn), computed by
        compiled code that knows the network's structure (fastnn.netgrad): the same values to rounding."""
        from . import netgrad

        return netgrad.numerical_gradient(self, x, t, parallel=parallel)

    def save_params(self, file_name="params.npz"):
        """Write the parameters to an .npz file (atomically)."""
        io.save_arrays(file_name, self.params)

    def load_params(self, file_name="params.npz"):
        """Load saved parameters into this network's arrays in place (keys, shapes and dtypes must match)."""
        self._engine.sync()
        io.load_into(self.params, file_name)


class _TrainableNet(_EngineNet):
    """gradient, loss_and_gradient and accuracy: the first book's nets."""

    def loss_and_gradient(self, x, t):
        """(loss, grads) from one forward and one backward pass (``gradient`` discards that loss)."""
        engine, decay = self._engine, self._decay()
        plan, _, _ = engine.run(x, t, nk.GRADIENT, True, decay)
        ce, wd = engine.finish_loss(plan)
        return (ce + float(wd) if decay else ce), engine.grads_for(decay)

    def gradient(self, x, t):
        """The gradient of the loss by backpropagation: a dict key -> array (reused buffers, see the module)."""
        return self.loss_and_gradient(x, t)[1]

    def accuracy(self, x, t):
        """The book's accuracy (the forward in chunks of ``EVAL_CHUNK`` rows, so memory stays bounded for large
        inputs; the same value as in one piece)."""
        x = _checks.float_array(x, "x", min_ndim=2, allow_empty=False)
        t = _checks.as_array(t, "t")
        if t.shape[:1] != x.shape[:1]:
            raise ValueError(f"t must have one row per row of x ({x.shape[0]}); got shape {t.shape}")
        _checks.labels_or_onehot_for(t, x.shape[0], self._engine.n_out, "t", self.dtype)
        return _accuracy(self._scores(x), t)


class _BookOneNet(_TrainableNet):
    """The first book's layered nets: ``layers`` OrderedDict and a SoftmaxWithLoss last layer."""

    def predict(self, x):
        """The scores of the last Affine layer (a fresh array)."""
        return self._scores(x).copy()

    def loss(self, x, t):
        """The book's loss: softmax cross-entropy of predict(x) against t (plus weight decay where the net has it)."""
        return self._loss(x, t)

    def _build_engine(self, last_layer):
        stack, number, width = [], 0, None
        for layer in self.layers.values():
            kind = _layer_kinds.of_layer(layer)
            number += kind.numbered  # Affine{i} starts group i; the layers after it take i in their keys
            stack.append(kind.spec(layer, width, number))
            width = stack[-1].w_out
        self._engine = Engine(self, stack, last_layer, self.dtype, decay=hasattr(self, "weight_decay_lambda"))


def _new_param(array, dtype):
    return np.ascontiguousarray(array, dtype=dtype)


# --- chapter 4 ----------------------------------------------------------------------------------------------------
class SimpleNet:
    """Chapter 4's 2x3 ``simpleNet``: one weight matrix, softmax + cross-entropy loss."""

    def __init__(self, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        self.W = _new_param(np.random.randn(2, 3), self.dtype)

    @property
    def params(self):
        """{'W': W}, for the optimizers and the numerical-gradient helpers."""
        return {"W": self.W}

    def predict(self, x):
        """Returns the scores x @ W."""
        x = _checks.float_array(x, "x", dtype=self.dtype, ndim=(1, 2))
        if x.shape[-1] != self.W.shape[0]:
            raise ValueError(f"x must have {self.W.shape[0]} features to match W of shape {self.W.shape}; "
                             f"got shape {x.shape}")
        return np.dot(x, self.W)

    def loss(self, x, t):
        """Returns the cross-entropy of softmax(predict(x)) against t."""
        return functions.cross_entropy_error(functions.softmax(self.predict(x)), t)

    def save_params(self, file_name="params.npz"):
        """Write W to an .npz file (atomically)."""
        io.save_arrays(file_name, self.params)

    def load_params(self, file_name="params.npz"):
        """Load a saved W into this network's array in place."""
        io.load_into(self.params, file_name)


simpleNet = SimpleNet  # the book's spelling


class TwoLayerNetCh4(_EngineNet):
    """Chapter 4's two-layer net (sigmoid hidden layer, softmax output, one-hot targets); ``predict`` returns the
    softmax probabilities as in the book."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        i, h, o = _size(input_size, "input_size"), _size(hidden_size, "hidden_size"), _size(output_size, "output_size")
        std = _checks.real_number(weight_init_std, "weight_init_std")
        self.params = {"W1": std * np.random.randn(i, h), "b1": np.zeros(h),
                       "W2": std * np.random.randn(h, o), "b2": np.zeros(o)}
        stack = [LayerSpec(AFFINE, None, i, h, ("W1", "b1")), LayerSpec(SIGMOID_CH4, None, h, h),
                 LayerSpec(AFFINE, None, h, o, ("W2", "b2"))]
        self._engine = Engine(self, stack, None, self.dtype)

    def _onehot(self, x, t):
        n = np.shape(x)[0]
        t = _checks.as_array(t, "t")
        if t.dtype.kind in "USV":
            raise TypeError(f"t must hold one-hot rows of numbers (chapter 4's net); got dtype {t.dtype}")
        if t.shape != (n, self._engine.n_out):
            raise ValueError(f"t must be one-hot rows of shape {(n, self._engine.n_out)} (chapter 4's net); "
                             f"got shape {t.shape}")
        return _checks.float_array(t, "t", dtype=self.dtype)

    def _input(self, x):
        return _checks.float_array(x, "x", dtype=self.dtype, ndim=2, allow_empty=False)

    def predict(self, x):
        """Returns the probabilities softmax(sigmoid(x W1 + b1) W2 + b2)."""
        return functions.softmax(self._scores(self._input(x)))

    def loss(self, x, t):
        """Returns the cross-entropy of predict(x) against one-hot t."""
        x = self._input(x)
        return self._loss(x, self._onehot(x, t))

    def accuracy(self, x, t):
        """Returns the share of rows whose largest probability is at the one-hot target's class."""
        x = self._input(x)
        return _accuracy(self._scores(x), self._onehot(x, t))

    def gradient(self, x, t):
        """The book's hand-derived backward pass: {'W1', 'b1', 'W2', 'b2'}."""
        x = self._input(x)
        grads = _TrainableNet.loss_and_gradient(self, x, self._onehot(x, t))[1]
        return {key: grads[key] for key in ("W2", "b2", "W1", "b1")}  # the book's order


# --- chapter 5 ----------------------------------------------------------------------------------------------------
class TwoLayerNet(_BookOneNet):
    """Chapter 5's two-layer net: ``layers`` Affine1, Relu1, Affine2 and ``lastLayer`` SoftmaxWithLoss."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        i, h, o = _size(input_size, "input_size"), _size(hidden_size, "hidden_size"), _size(output_size, "output_size")
        std = _checks.real_number(weight_init_std, "weight_init_std")
        self.params = {"W1": _new_param(std * np.random.randn(i, h), self.dtype), "b1": np.zeros(h, self.dtype),
                       "W2": _new_param(std * np.random.randn(h, o), self.dtype), "b2": np.zeros(o, self.dtype)}
        self.layers = OrderedDict()
        self.layers["Affine1"] = layers.Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = layers.Relu()
        self.layers["Affine2"] = layers.Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = layers.SoftmaxWithLoss()
        self._build_engine(self.lastLayer)


# --- chapter 6: the multi-layer nets ------------------------------------------------------------------------------
class MultiLayerNet(_BookOneNet):
    """The first book's fully connected net: ``Affine{i}``/``Activation_function{i}`` layers, ``last_layer``,
    He ('relu') or Xavier ('sigmoid') initial scale, L2 weight decay in loss and gradient."""

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        _multi_layer_args(input_size, hidden_size_list, output_size, activation, weight_init_std,
                          weight_decay_lambda)
        self._setup(input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda)
        self._build_layers(activation)

    def _setup(self, input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda):
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = list(hidden_size_list)
        self.hidden_layer_num = len(hidden_size_list)
        self.weight_decay_lambda = weight_decay_lambda
        self.params = {}
        self._init_weight(weight_init_std)

    def _init_weight(self, weight_init_std):
        """The book's draws: W{i} = scale * randn, b{i} = 0, layer by layer."""
        sizes = [self.input_size] + self.hidden_size_list + [self.output_size]
        for idx in range(1, len(sizes)):
            scale = weight_init_std
            if str(weight_init_std).lower() in ("relu", "he"):
                scale = np.sqrt(2.0 / sizes[idx - 1])
            elif str(weight_init_std).lower() in ("sigmoid", "xavier"):
                scale = np.sqrt(1.0 / sizes[idx - 1])
            self.params["W" + str(idx)] = _new_param(scale * np.random.randn(sizes[idx - 1], sizes[idx]), self.dtype)
            self.params["b" + str(idx)] = np.zeros(sizes[idx], self.dtype)

    def _build_layers(self, activation):
        activation_layer = {"sigmoid": layers.Sigmoid, "relu": layers.Relu}[activation]
        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 2):
            self.layers["Affine" + str(idx)] = layers.Affine(self.params["W" + str(idx)], self.params["b" + str(idx)])
            if idx <= self.hidden_layer_num:
                self._add_hidden_extras(idx, activation_layer)
        self.last_layer = layers.SoftmaxWithLoss()
        self._build_engine(self.last_layer)

    def _add_hidden_extras(self, idx, activation_layer):
        self.layers["Activation_function" + str(idx)] = activation_layer()

    def _param_keys(self):
        """The parameter keys in the book's gradient order (W, b, then gamma, beta of each hidden layer)."""
        return list(self._engine.grads)

    @property
    def lastLayer(self):  # noqa: N802 - the chapter-5 spelling
        """The last layer under chapter 5's name."""
        return self.last_layer

    def _decay(self):
        lam = self.weight_decay_lambda
        if lam != getattr(self, "_checked_lambda", None):
            _checks.real_number(lam, "weight_decay_lambda", nonnegative=True)
            self._checked_lambda = lam
        return float(lam)


class MultiLayerNetExtend(MultiLayerNet):
    """MultiLayerNet with optional Dropout (``dropout_ration``, the book's spelling) and BatchNormalization
    (``gamma{i}``, ``beta{i}`` params) after each hidden Affine; ``train_flg`` selects training behaviour."""

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False, *,
                 dtype=np.float64):
        self.dtype = _dtype(dtype)
        _multi_layer_args(input_size, hidden_size_list, output_size, activation, weight_init_std,
                          weight_decay_lambda)
        ratio = _checks.real_number(dropout_ration, "dropout_ration")
        if not 0 <= ratio < 1:
            raise ValueError(f"dropout_ration must be in [0, 1); got {ratio}")
        self.use_dropout = bool(use_dropout)
        self.dropout_ration = ratio
        self.use_batchnorm = bool(use_batchnorm)
        self._setup(input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda)
        self._build_layers(activation)

    def _add_hidden_extras(self, idx, activation_layer):
        if self.use_batchnorm:
            size = self.hidden_size_list[idx - 1]
            self.params["gamma" + str(idx)] = np.ones(size, self.dtype)
            self.params["beta" + str(idx)] = np.zeros(size, self.dtype)
            self.layers["BatchNorm" + str(idx)] = layers.BatchNormalization(self.params["gamma" + str(idx)],
                                                                            self.params["beta" + str(idx)])
        self.layers["Activation_function" + str(idx)] = activation_layer()
        if self.use_dropout:
            self.layers["Dropout" + str(idx)] = layers.Dropout(self.dropout_ration)

    def predict(self, x, train_flg=False):
        """The scores; ``train_flg`` True draws dropout masks and uses (and moves) the batch statistics."""
        return self._scores(x, bool(train_flg)).copy()

    def loss(self, x, t, train_flg=False):
        """Returns the cross-entropy plus weight decay, in training or test behaviour."""
        return self._loss(x, t, bool(train_flg))

    def accuracy(self, X, T):  # noqa: N803 - the book's argument names
        """The book's accuracy in test behaviour (no dropout, running statistics)."""
        return super().accuracy(X, T)

    def numerical_gradient(self, X, T, *, parallel=False):  # noqa: N803
        """Returns the central differences of the training-mode loss, a dict like ``params``; compiled
        (fastnn.netgrad) unless the net has dropout, whose fresh masks per evaluation keep the book's Python loop."""
        if not self.use_dropout:
            return super().numerical_gradient(X, T, parallel=parallel)
        loss_W = lambda W: self.loss(X, T, train_flg=True)  # noqa: E731 - the book's idiom
        self._engine.sync()
        return {key: gradient.numerical_gradient(loss_W, self.params[key]) for key in self._engine.grads}


# --- the second book ----------------------------------------------------------------------------------------------
class TwoLayerNetBook2(_EngineNet):
    """The second book's chapter-1 TwoLayerNet (Affine, Sigmoid, Affine + SoftmaxWithLoss; ``params``/``grads``
    lists, ``forward(x, t)`` returns the loss, ``backward(dout=1)`` returns dx)."""

    def __init__(self, input_size, hidden_size, output_size, *, dtype=np.float64):
        self.dtype = _dtype(dtype)
        i, h, o = _size(input_size, "input_size"), _size(hidden_size, "hidden_size"), _size(output_size, "output_size")
        W1 = _new_param(0.01 * np.random.randn(i, h), self.dtype)
        b1 = np.zeros(h, self.dtype)
        W2 = _new_param(0.01 * np.random.randn(h, o), self.dtype)
        b2 = np.zeros(o, self.dtype)
        self.layers = [layers.Affine(W1, b1), layers.Sigmoid(), layers.Affine(W2, b2)]
        self.loss_layer = layers.SoftmaxWithLoss()
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads
        stack = [LayerSpec(AFFINE, self.layers[0], i, h, (0, 1)), LayerSpec(SIGMOID, self.layers[1], h, h),
                 LayerSpec(AFFINE, self.layers[2], h, o, (2, 3))]
        self._engine = Engine(self, stack, self.loss_layer, self.dtype, grads_list=self.grads)

    def predict(self, x):
        """The scores (a fresh array)."""
        return self._scores(x).copy()

    def forward(self, x, t):
        """The loss of x against t; the state for backward is kept."""
        return self._loss(x, t)

    def backward(self, dout=1):
        """Gradients into ``grads`` (in place); returns the gradient with respect to x."""
        return self._engine.backward(_checks.real_number(dout, "dout"))

    def numerical_gradient(self, x, t, *, parallel=False):
        """Returns the central differences of ``forward(x, t)`` for every parameter (a list in ``params`` order;
        an extra: the second book's net has no such method), compiled as for the first book's nets."""
        return super().numerical_gradient(x, t, parallel=parallel)

    def save_params(self, file_name="params.npz"):
        """Write the parameters (keys '0'..'3') to an .npz file (atomically)."""
        io.save_arrays(file_name, {str(i): p for i, p in enumerate(self.params)})

    def load_params(self, file_name="params.npz"):
        """Load saved parameters into this network's arrays in place."""
        self._engine.sync()
        io.load_into({str(i): p for i, p in enumerate(self.params)}, file_name)
