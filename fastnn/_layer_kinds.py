"""The network engine's layer kinds: one class per kind, everything the engine's Python half knows about it.

A kind says, in one place:

* its code (fastnn.kernels.codes; fastnn.kernels.network holds its forward and backward) and which of the books'
  layer classes it runs (``layer_class``, None for kinds that nets build without a layer object);
* how a net's layer becomes a :class:`LayerSpec` (widths, params keys, scalar);
* its parameters (shapes, the layer attributes that hold them and their gradients beside the layer's
  ``params``/``grads`` lists) and its running statistics, which fastnn.engine lays out in the arena;
* the scratch blocks, mask and uniform draws its kernel code uses beside its output (table columns and sizes);
* the book attributes that show the last call's state (views of a plan's buffers) and the attributes the engine
  watches for replacement;
* its marker (fastnn.kernels.codes.MARKERS), if its kernel code compiles only for nets that have the kind.

fastnn.engine and fastnn.nets loop over :data:`KINDS` instead of testing codes.
"""
from . import layers
from .kernels import codes


class LayerSpec:
    """One layer as the engine sees it: its code, its layer object (None for nets without layer objects), its
    widths, the params keys of its parameters (Affine W, b; batch norm gamma, beta; None for kinds without
    parameters) and its scalar (batch-norm momentum, dropout ratio)."""

    __slots__ = ("code", "layer", "w_in", "w_out", "keys", "scalar")

    def __init__(self, code, layer, w_in, w_out, keys=None, scalar=0.0):
        self.code, self.layer, self.w_in, self.w_out, self.keys, self.scalar = code, layer, w_in, w_out, keys, scalar


class Kind:
    """An elementwise kind without parameters, statistics or scratch (the defaults the kinds below override)."""

    code = None
    layer_class = None  # the books' layer class this kind runs (None: nets build its LayerSpec themselves)
    param_names = ()  # the params-key prefixes of its parameters, in order; the key adds the layer's number
    param_attributes = ()  # the layer attributes that hold its parameters beside its params list (if any)
    grad_attributes = ()  # the same for their gradients beside its grads list
    numbered = False  # the layer starts a new number for the params keys (Affine1, Affine2, ...)
    stats = ()  # the layer attributes of its running statistics (one width each, kept in the arena)
    scratch = ()  # (table column, True for n x width or False for width) of its scratch blocks beside its output
    mask = False  # an n x width boolean mask (bmask)
    rand = False  # n x width uniform draws per training forward
    watched = ()  # layer attributes the engine watches for replacement (identity)
    watched_lists = ()  # layer lists whose parameter entries the engine watches
    marker = None  # its kind marker (codes.MARKERS): compiled only for nets that have it; None: always compiled

    def spec(self, layer, width, number):
        """The LayerSpec of ``layer``, which follows a layer of ``width`` outputs, in the stack's ``number``-th
        group of parameters."""
        return LayerSpec(self.code, layer, width, width)

    def keys(self, number):
        """The params keys of its parameters in group ``number`` (the book's 'W1', 'gamma2', ...)."""
        return tuple(name + str(number) for name in self.param_names)

    def param_shapes(self, spec):
        """The shapes of its parameters, in param_names order."""
        return ()

    def param_of(self, layer, i):
        """The layer's i-th parameter (None without a layer object)."""
        if layer is None:
            return None
        return getattr(layer, self.param_attributes[i]) if self.param_attributes else layer.params[i]

    def bind_param(self, layer, i, view):
        """Point the layer's i-th parameter at the arena's view."""
        _bind(layer, "params", self.param_attributes, i, view)

    def bind_grad(self, layer, i, view):
        """Point the layer's i-th gradient at the arena's view."""
        _bind(layer, "grads", self.grad_attributes, i, view)

    def book_attributes(self, plan, k, spec):
        """(name, value) of the layer's book attributes that are views of ``plan``'s buffers (layer k)."""
        return ()


def _bind(layer, listname, names, i, view):
    if layer is None:
        return
    getattr(layer, listname)[i] = view
    if names:
        setattr(layer, names[i], view)


class Affine(Kind):
    code, layer_class = codes.AFFINE, layers.Affine
    param_names, numbered = ("W", "b"), True
    watched = watched_lists = ("params", "grads")

    def spec(self, layer, width, number):
        w_in, w_out = layer.W.shape
        return LayerSpec(self.code, layer, w_in, w_out, self.keys(number))

    def param_shapes(self, spec):
        return (spec.w_in, spec.w_out), (spec.w_out,)

    def book_attributes(self, plan, k, spec):
        if k == 0:  # the first layer's input is the caller's x, set per call
            return ()
        x = plan.out(k - 1, spec.w_in)
        return ("x", x), ("original_x_shape", x.shape)


class BatchNorm(Kind):
    code, layer_class = codes.BATCHNORM, layers.BatchNormalization
    marker = "batchnorm"
    param_names = param_attributes = ("gamma", "beta")
    grad_attributes = ("dgamma", "dbeta")
    stats = ("running_mean", "running_var")
    scratch = ((codes.COL_XC, True), (codes.COL_XN, True), (codes.COL_STD, False), (codes.COL_WORK0, False),
               (codes.COL_WORK1, False))
    watched = ("gamma", "beta", "running_mean", "running_var", "dgamma")

    def spec(self, layer, width, number):
        return LayerSpec(self.code, layer, width, width, self.keys(number), float(layer.momentum))

    def param_shapes(self, spec):
        return (spec.w_out,), (spec.w_out,)

    def book_attributes(self, plan, k, spec):
        n, w = plan.n, spec.w_out
        return (("xc", plan.block(k, codes.COL_XC, (n, w))), ("xn", plan.block(k, codes.COL_XN, (n, w))),
                ("std", plan.block(k, codes.COL_STD, (w,))), ("batch_size", n), ("input_shape", (n, w)))


class Relu(Kind):
    code, layer_class = codes.RELU, layers.Relu
    mask = True

    def book_attributes(self, plan, k, spec):
        return (("mask", plan.mask(k, spec.w_out)),)


class Sigmoid(Kind):
    code, layer_class = codes.SIGMOID, layers.Sigmoid
    marker = "sigmoid"

    def book_attributes(self, plan, k, spec):
        return (("out", plan.out(k, spec.w_out)),)


class SigmoidCh4(Sigmoid):
    code, layer_class = codes.SIGMOID_CH4, None  # chapter 4's TwoLayerNet has no layer objects


class Dropout(Kind):
    code, layer_class = codes.DROPOUT, layers.Dropout
    mask = rand = True
    marker = "dropout"

    def spec(self, layer, width, number):
        return LayerSpec(self.code, layer, width, width, scalar=float(layer.dropout_ratio))

    def book_attributes(self, plan, k, spec):
        return (("mask", plan.mask(k, spec.w_out)),)


class Tanh(Kind):
    code = codes.TANH  # no book layer class: a net puts it in its own stack (LayerSpec), with any layer object
    marker = "tanh"

    def book_attributes(self, plan, k, spec):
        return (("out", plan.out(k, spec.w_out)),)


KINDS = {kind.code: kind for kind in (Affine(), BatchNorm(), Relu(), Sigmoid(), SigmoidCh4(), Dropout(), Tanh())}


def of_layer(layer):
    """The kind that runs the books' layer object ``layer``; TypeError for a layer the engine cannot run."""
    for kind in KINDS.values():
        if kind.layer_class is not None and isinstance(layer, kind.layer_class):
            return kind
    raise TypeError(f"the network engine has no layer kind for {type(layer).__name__} layers")
