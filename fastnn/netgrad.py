"""The networks' ``numerical_gradient(x, t)`` as compiled code that knows the network's structure, and the book's
chapter-5 ``gradient_check`` for any of the networks.

The book's numerical gradient takes every parameter array in ``params`` order (W1, b1, W2, b2, ...; with batch
normalisation W1, b1, gamma1, beta1, W2, ...), every element in C order, writes ``p[i] = tmp + h``, evaluates the
loss, writes ``tmp - h``, evaluates again, and keeps ``(f1 - f2) / 2h`` (h = 1e-4; loss = mean softmax
cross-entropy with 1e-7 inside the log, plus 0.5 * lambda * sum(W**2) over every W for MultiLayerNet(Extend)).
:func:`numerical_gradient` returns the same values without the 2 * n_params Python-level forward passes: one
base forward pass, then, per parameter, only what its perturbation changes (fastnn/kernels/netgrad.py explains
how). The perturbation is the book's effective one (fl(w + h) - w), so the values agree with the book's loop to
rounding: typically ~1e-11 absolute in float64 (where gradients are large, e.g. ~100 for a batch-norm column of
nearly equal rows, the forward pass's own rounding divided by 2h leaves both ~1e-9 from the exact central
difference). fastnn takes each loss difference row by row, which is more accurate than the book's difference
of two rounded means. In float32 the book's loop subtracts two float32 losses (rounding alone puts ~1e-3 noise
into the gradient); fastnn computes the perturbed values in float32 but takes the loss differences in float64,
so it is closer to the exact central difference than the book's loop.

Side effects, as in the book, and what differs:

* parameters, x and t are never written (the book restores its writes; nothing here writes at all).
* batch normalisation: the book evaluates the loss in training mode, and each evaluation moves every BN layer's
  ``running_mean``/``running_var`` one momentum step (0.9) towards that evaluation's batch statistics: 2 *
  n_params steps in the book's order. fastnn applies exactly that recurrence, per evaluation, in the kernel, so the
  running statistics end as the book's (to rounding); they are assigned as new arrays, as the book assigns them
  (initialised to zeros first if the net never ran forward). The final values are dominated by the last few
  hundred evaluations (0.9**k decays), i.e. by the perturbations of the last parameters (W_L, b_L).
* the book leaves its layers' forward caches (``Relu.mask``, ``lastLayer.loss``, ...) holding the last perturbed
  evaluation; fastnn does not touch them.
* dropout draws new random masks in every evaluation, so a net with ``use_dropout=True`` is refused.
* NaN and inf: where the book's base loss is NaN or inf (a NaN or inf parameter or input reaching the scores, or
  MultiLayerNet's weight-decay term 0.5 * lambda * sum(W**2) not finite, with lambda 0 too), every one of its
  evaluations is non-finite and every entry is NaN; fastnn returns NaN everywhere then, also for the entries its
  row-sparse differences would skip (zero inputs, unchanged units).
"""
from collections.abc import Mapping

import numpy as np

from . import _checks
from ._constants import BN_EPS, CE_DELTA, H
from ._dispatch import lazy_kernels
from ._layer_kinds import KINDS, LayerSpec
from .kernels import codes

kernels, netgrad_bn = lazy_kernels("netgrad"), lazy_kernels("netgrad_bn")

__all__ = ["gradient_check", "numerical_gradient"]

_TWO_LAYER_KEYS = ("W1", "b1", "W2", "b2")


class _Net:
    """What the kernels need to know about a network: its parameter arrays in the book's order, layer widths,
    hidden activation, weight decay and BN layers."""

    def __init__(self, keys, arrays, act, lam=None, batchnorms=(), chapter4=False, as_list=False):
        # lam None: the net's loss has no weight-decay term (MultiLayerNet's has one even when lambda is 0)
        self.decay_term = lam is not None
        self.keys, self.arrays, self.act, self.lam = list(keys), list(arrays), act, float(lam or 0.0)
        self.batchnorms, self.chapter4, self.as_list = list(batchnorms), chapter4, as_list
        self.dtype = self._dtype()
        self.sizes = self._sizes()

    def _dtype(self):
        for key, p in zip(self.keys, self.arrays):
            if not isinstance(p, np.ndarray) or p.dtype not in _checks.FLOAT_DTYPES:
                raise TypeError(f"net parameter {key} must be a float32 or float64 array; got "
                                f"{getattr(p, 'dtype', type(p).__name__)}")
        dtypes = {p.dtype for p in self.arrays}
        if len(dtypes) != 1:
            raise TypeError(f"net parameters must share one dtype; got {sorted(map(str, dtypes))}")
        return dtypes.pop()

    def _sizes(self):
        """Layer widths from the W shapes; every b, gamma, beta checked against them."""
        weights = [(k, p) for k, p in zip(self.keys, self.arrays) if p.ndim == 2]
        sizes = [weights[0][1].shape[0]] + [p.shape[1] for _, p in weights]
        layer = 0
        for key, p in zip(self.keys, self.arrays):
            if p.ndim == 2:
                layer += 1
                expected = (sizes[layer - 1], sizes[layer])
            else:
                expected = (sizes[layer],)
            if layer == 0 or p.shape != expected:
                raise ValueError(f"net parameter {key} must have shape {expected} to fit the layers before it; "
                                 f"got {p.shape}")
        return np.array(sizes, dtype=np.int64)


# --- describing a net: the engine's LayerSpec stack, read by one function -------------------------------------------
# the hidden activations the kernels run, by layer code (chapter 4's sigmoid differs only in its backward)
_HIDDEN = {codes.RELU: codes.RELU, codes.SIGMOID: codes.SIGMOID, codes.SIGMOID_CH4: codes.SIGMOID}
_DROPOUT_REFUSED = ("numerical_gradient cannot run on a net with use_dropout=True: dropout draws new random masks in "
                    "every loss evaluation, so the central differences would be noise; build the net with "
                    "use_dropout=False to check its gradient")


def _from_stack(stack, params, lam):
    """The kernels' view of a net described by its LayerSpec ``stack`` (fastnn._layer_kinds) over ``params`` (a
    dict or a list, indexed by the specs' keys). ``lam``: the weight-decay lambda, None when the loss has no
    weight-decay term. The widths are read from the parameter arrays themselves (_Net checks them)."""
    layer_codes = [spec.code for spec in stack]
    if codes.DROPOUT in layer_codes:
        raise ValueError(_DROPOUT_REFUSED)
    hidden = _check_structure(layer_codes)
    names, arrays, number = [], [], 0
    for spec in stack:
        kind = KINDS[spec.code]
        number += kind.numbered
        names += kind.keys(number)  # the books' params keys (W1, b1, gamma1, ...), also for a params list
        arrays += [params[key] for key in spec.keys or ()]
    batchnorms = [spec.layer for spec in stack if spec.code == codes.BATCHNORM]
    act = _HIDDEN[hidden] if hidden is not None else codes.RELU  # no hidden layer: the activation is never used
    return _Net(names, arrays, act, lam, batchnorms, chapter4=codes.SIGMOID_CH4 in layer_codes,
                as_list=isinstance(params, list))


def _check_structure(layer_codes):
    """The hidden activation's code (None without hidden layers) of a stack the kernels run: groups of Affine,
    BatchNorm (in every group or none) and one activation, ReLU or sigmoid, the same in every group; then Affine."""
    hidden = {code for code in layer_codes if code not in (codes.AFFINE, codes.BATCHNORM)}
    group = [codes.AFFINE] + [codes.BATCHNORM] * (codes.BATCHNORM in layer_codes) + list(hidden)
    groups = (len(layer_codes) - 1) // len(group)
    if len(hidden) != min(1, groups) or not hidden <= set(_HIDDEN) or layer_codes != group * groups + [codes.AFFINE]:
        raise ValueError("numerical_gradient runs nets of (Affine, BatchNorm, activation) or (Affine, activation) "
                         "groups and a last Affine, with one hidden activation, ReLU or sigmoid")
    return hidden.pop() if hidden else None


def _from_engine(net):
    """The kernels' view of one of fastnn's nets, from the stack its engine runs (replaced arrays adopted first, as
    every engine call does)."""
    engine, decay = net.training_engine()
    engine.sync()
    return _from_stack(engine.stack, net.params, decay if engine.decay else None)


def _activation(layer, where):
    """The LayerSpec of a hidden activation layer, by the books' class names (fastnn's layers, their reference
    twins and the books' own are all named Relu and Sigmoid)."""
    name = type(layer).__name__
    if name not in ("Relu", "Sigmoid"):
        raise ValueError(f"{where} must be a Relu or Sigmoid layer; got {name}")
    return _spec(codes.RELU if name == "Relu" else codes.SIGMOID, layer)


def _spec(code, layer, keys=None):
    return LayerSpec(code, layer, None, None, keys)  # no widths: _from_stack reads them from the arrays


def _same_array(param, used, key):
    if param is not used:
        raise ValueError(f"net parameter {key} is not the array its layer computes with (was it replaced?); its "
                         f"numerical gradient would be meaningless")


def _checked_spec(net, code, layer, keys, attributes):
    """The LayerSpec of a layer with parameters, each params entry checked to be the array the layer computes with."""
    for key, attribute in zip(keys, attributes):
        _same_array(net.params[key], getattr(layer, attribute), key)
    return _spec(code, layer, keys)


def _multi_layer_stack(net):
    """MultiLayerNet(Extend): the layers its loss runs, by the book's names."""
    if getattr(net, "use_dropout", False):
        raise ValueError(_DROPOUT_REFUSED)
    bn = bool(getattr(net, "use_batchnorm", False))
    stack = []
    for idx in range(1, net.hidden_layer_num + 2):
        stack.append(_checked_spec(net, codes.AFFINE, net.layers[f"Affine{idx}"], (f"W{idx}", f"b{idx}"), "Wb"))
        if idx <= net.hidden_layer_num:
            if bn:
                stack.append(_checked_spec(net, codes.BATCHNORM, net.layers[f"BatchNorm{idx}"],
                                           (f"gamma{idx}", f"beta{idx}"), ("gamma", "beta")))
            where = f"Activation_function{idx}"
            stack.append(_activation(net.layers[where], where))
    return stack


_CHAPTER5_LAYERS = ("Affine1", "Relu1", "Affine2")


def _two_layer_stack(net):
    """Chapter 5's TwoLayerNet: the layers Affine1, Relu1, Affine2 over the params dict."""
    return [_checked_spec(net, codes.AFFINE, net.layers["Affine1"], _TWO_LAYER_KEYS[:2], "Wb"),
            _activation(net.layers["Relu1"], "Relu1"),
            _checked_spec(net, codes.AFFINE, net.layers["Affine2"], _TWO_LAYER_KEYS[2:], "Wb")]


def _book2_stack(net):
    """The second book's TwoLayerNet: a list of three layers over a list of four params."""
    if len(net.params) != 4:
        raise ValueError(f"net.params must hold W1, b1, W2, b2; got {len(net.params)} arrays")
    for key, p, q in zip(_TWO_LAYER_KEYS, net.params, net.layers[0].params + net.layers[2].params):
        _same_array(p, q, key)
    return [_spec(codes.AFFINE, net.layers[0], (0, 1)), _activation(net.layers[1], "layers[1]"),
            _spec(codes.AFFINE, net.layers[2], (2, 3))]


def _from_attributes(net):
    """The kernels' view of a net without an engine, from the attributes the books' nets have (so fastnn.reference's
    twins and the books' own classes are described alike, and this module imports no net), translated into the
    engine's LayerSpec stack: MultiLayerNet(Extend) has ``hidden_layer_num`` and named ``layers``; chapter 5's
    TwoLayerNet the layers Affine1, Relu1, Affine2; the second book's TwoLayerNet a list of three layers and a list of
    params; chapter 4's TwoLayerNet no layers and the params W1, b1, W2, b2 (sigmoid hidden units)."""
    layers, params = getattr(net, "layers", None), getattr(net, "params", None)
    if isinstance(layers, Mapping) and hasattr(net, "hidden_layer_num"):
        lam = _checks.real_number(net.weight_decay_lambda, "net.weight_decay_lambda", nonnegative=True)
        return _from_stack(_multi_layer_stack(net), params, lam)
    if isinstance(layers, Mapping) and tuple(layers) == _CHAPTER5_LAYERS and isinstance(params, Mapping):
        return _from_stack(_two_layer_stack(net), params, None)
    if layers is None and isinstance(params, Mapping) and set(params) == set(_TWO_LAYER_KEYS):
        stack = [_spec(codes.AFFINE, None, _TWO_LAYER_KEYS[:2]), _spec(codes.SIGMOID_CH4, None),
                 _spec(codes.AFFINE, None, _TWO_LAYER_KEYS[2:])]
        return _from_stack(stack, params, None)
    if isinstance(layers, list) and len(layers) == 3 and isinstance(params, list):
        return _from_stack(_book2_stack(net), params, None)
    raise TypeError("net must be one of fastnn.nets TwoLayerNet, TwoLayerNetCh4, TwoLayerNetBook2, MultiLayerNet, "
                    f"MultiLayerNetExtend (or their fastnn.reference twins, or the books' own classes of that "
                    f"structure); got {type(net).__name__}")


def _describe(net):
    """The kernels' view of ``net``: fastnn's nets are described by their engine's stack, other nets (the reference
    twins, the books' own classes) by their attributes."""
    if callable(getattr(net, "training_engine", None)):
        return _from_engine(net)
    return _from_attributes(net)


def _inputs(spec, x, t):
    """x as a C-contiguous (N, D_0) array in the net's dtype; t as (checked t for the net's own methods, labels)."""
    n_in, n_out = int(spec.sizes[0]), int(spec.sizes[-1])
    if spec.chapter4:  # chapter 4's net computes np.dot(x, W1): x must be 2-D
        x = _checks.float_array(x, "x", dtype=spec.dtype, ndim=2, allow_empty=False)
    else:  # Affine flattens (N, ...) input to (N, -1)
        x = _checks.float_array(x, "x", dtype=spec.dtype, min_ndim=2, allow_empty=False)
        x = x.reshape(x.shape[0], -1)
    if x.shape[1] != n_in:
        raise ValueError(f"x must have {n_in} features per row to match W1 of shape {spec.arrays[0].shape}; got "
                         f"{x.shape[1]}")
    t = _checks.as_array(t, "t")
    scores = np.empty((x.shape[0], n_out), dtype=spec.dtype)
    if spec.chapter4 and t.shape != scores.shape:
        raise ValueError(f"t must be one-hot rows of shape {scores.shape} (chapter 4's net); got shape {t.shape}")
    kind, checked = _checks.labels_or_onehot(t, scores, "t")
    if kind == "onehot":  # the book's cross_entropy_error reduces one-hot rows to their argmax
        if spec.chapter4:
            checked = checked.reshape(t.shape)
        return x, checked, np.ascontiguousarray(np.argmax(checked, axis=1), dtype=np.intp)
    return x, checked, checked


def _running_stats(spec):
    """Every BN layer's running mean and variance (zeros if it never ran forward), concatenated, in the net's
    dtype, with the momentum and 1 - momentum of each layer."""
    means, variances = [], []
    for idx, norm in enumerate(spec.batchnorms, 1):
        size = int(spec.sizes[idx])
        for name, out in (("running_mean", means), ("running_var", variances)):
            stat = getattr(norm, name)
            stat = np.zeros(size) if stat is None else np.asarray(stat)
            if stat.shape != (size,):
                raise ValueError(f"BatchNorm{idx}.{name} must have shape ({size},); got {stat.shape}")
            out.append(stat)
        _checks.real_number(norm.momentum, f"BatchNorm{idx}.momentum")
    mom = np.array([norm.momentum for norm in spec.batchnorms], dtype=spec.dtype)
    cmom = np.array([1 - norm.momentum for norm in spec.batchnorms], dtype=spec.dtype)  # the book's (1 - momentum)
    return _joined(means, spec.dtype), _joined(variances, spec.dtype), mom, cmom


def _joined(parts, dtype):
    return np.ascontiguousarray(np.concatenate(parts or [np.empty(0)]), dtype=dtype)


def _compute(spec, x, labels, parallel):
    dt = spec.dtype
    P = np.concatenate([np.ravel(p) for p in spec.arrays]).astype(dt, copy=False)
    grad = np.empty_like(P)
    h, delta, lam = dt.type(H), dt.type(CE_DELTA), np.float64(spec.lam)
    X = x.reshape(-1)
    sizes = spec.sizes
    if spec.batchnorms:
        rm, rv, mom, cmom = _running_stats(spec)
        netgrad_bn.batchnorm_netgrad(X, labels, sizes, spec.act, P, lam, h, delta, dt.type(BN_EPS), mom, cmom, rm,
                                  rv, grad)
        start = 0
        for idx, norm in enumerate(spec.batchnorms, 1):
            size = int(sizes[idx])
            norm.running_mean, norm.running_var = rm[start:start + size].copy(), rv[start:start + size].copy()
            start += size
    else:
        run = kernels.dense_netgrad_parallel if parallel else kernels.dense_netgrad
        run(X, labels, sizes, spec.act, P, lam, h, delta, grad)
    if not _decay_is_finite(spec):
        grad[:] = np.nan  # every one of the book's losses is NaN or inf: (f1 - f2) / 2h is NaN everywhere
    grads, start = [], 0
    for p in spec.arrays:
        grads.append(grad[start:start + p.size].reshape(p.shape))
        start += p.size
    return grads


def _decay_is_finite(spec):
    """True unless the book's weight-decay term, 0.5 * lambda * sum(W ** 2) over every W in the net's dtype, is NaN
    or inf (a NaN or inf weight, or W ** 2 overflowing; with lambda 0 too, since 0 * inf is NaN)."""
    if not spec.decay_term:
        return True
    with np.errstate(all="ignore"):
        total = sum(0.5 * spec.lam * np.sum(p ** 2) for key, p in zip(spec.keys, spec.arrays) if key[0] == "W")
    return bool(np.isfinite(total))


def numerical_gradient(net, x, t, *, parallel=False):
    """The book's ``net.numerical_gradient(x, t)``, compiled: a dict key -> gradient array (a list W1, b1, W2, b2
    for the second book's TwoLayerNetBook2), in the net's dtype.

    ``net``: a TwoLayerNet, TwoLayerNetCh4 (one-hot t only, as its book chapter), TwoLayerNetBook2, MultiLayerNet
    or MultiLayerNetExtend without dropout, from fastnn.nets (or fastnn.reference.nets, or the books' own classes
    of these structures). ``x``: (N, features), ``t``: N integer labels or (N, classes) one-hot rows.
    ``parallel=True`` spreads the parameters over numba's threads (same values bit for bit; nets with batch
    normalisation always run serially, because their running statistics form one sequential recurrence over the
    evaluations). See the module docstring for side effects.
    """
    if not isinstance(parallel, (bool, np.bool_)):
        raise TypeError(f"parallel must be True or False; got {type(parallel).__name__}")
    spec = _describe(net)
    x, _, labels = _inputs(spec, x, t)
    grads = _compute(spec, x, labels, bool(parallel))
    return grads if spec.as_list else dict(zip(spec.keys, grads))


def _backprop(net, spec, x, t):
    if spec.as_list:
        net.forward(x, t)
        net.backward()
        return [g.copy() for g in net.grads]
    grads = net.gradient(x, t)
    return [np.array(grads[k], copy=True) for k in spec.keys]


def gradient_check(net, x, t):
    """The book's chapter-5 gradient check for any of the networks: {key: (mean |backprop - numerical|,
    max |backprop - numerical|)} over each parameter's elements, as Python floats. Keys are the ``params`` keys
    (W1, b1, W2, b2 for TwoLayerNetBook2, whose params are a list). As in the book the numerical gradient runs
    first, then ``net.gradient`` (so a BN net's running statistics move as they do in the book's script)."""
    spec = _describe(net)
    x, checked_t, labels = _inputs(spec, x, t)
    numerical = _compute(spec, x, labels, False)
    backprop = _backprop(net, spec, x, checked_t)
    result = {}
    for key, num, bp in zip(spec.keys, numerical, backprop):
        diff = np.abs(np.asarray(bp, dtype=np.float64) - num)
        result[key] = (float(np.mean(diff)), float(np.max(diff)))
    return result

