"""Side-by-side timings of fastnn and the NumPy reference, plus PyTorch CPU, JAX and scikit-learn when they are
installed (never required), all in one process.

    python -m fastnn.bench [--quick] [--repeat N] [--case NAME] [--shape 100x10] [--dtype float64] [--threads N]
                           [--steps] [--accuracy] [--no-torch] [--no-jax] [--no-sklearn] [--json PATH]
                           [--markdown PATH] [--list]

Each row: fastnn's median time, the reference's median time and their ratio (reference / fastnn, > 1 means fastnn
is faster), after a warm-up call that compiles. fastnn and the reference run with numba and both BLAS libraries
(NumPy's, and SciPy's, which numba's ``np.dot`` calls) pinned to ``--threads`` threads (default 1: serial
figures). The PyTorch column is the better of ``torch.set_num_threads(1)`` and ``(2)`` (the count is reported);
JAX's CPU backend starts with a ``--threads``-thread pool (see _jax); scikit-learn runs on NumPy's pinned BLAS.
``--accuracy`` adds the test accuracy after 10 epochs of each library.

The cases live in ``CASES``: a name, shapes, and ``make(batch, width, dtype) -> (fastnn_fn, reference_fn)``, two
zero-argument callables doing the same work. For ``pure`` cases they return the same values (tests/test_bench.py
holds them to it over random shapes); the network and training cases update a network or return parts of a
result, and the tests check them case by case. The asv suite in ``benchmarks/`` times the same callables.

What the training cases time (ReLU nets, SGD with lr 0.1 everywhere; every competitor starts from the same
initial parameters and, where it draws batches, the same batches; float32 references are the book's nets given
float32 copies of fastnn's parameters, see nets_pair):

* ``train_step``, ``train_step_digits``, ``train_step_deep``: ``net.gradient(x, t)`` + ``SGD.update(net.params,
  grads)`` on one fixed batch of pixel-like rows, for TwoLayerNet(784, hidden, 10), TwoLayerNet(64, hidden, 10)
  and MultiLayerNet(784, [hidden] * 5, 10); torch eager (``nn.Sequential`` + ``CrossEntropyLoss`` + ``optim.SGD``)
  and one ``jax.jit`` function (forward, backward, update; see jax_sgd_step). ``train_step`` also times its two
  large matrix products alone (``x @ W1``, ``x.T @ dout``, NumPy's BLAS: column ``products``, ratio step /
  products). ``--steps`` runs the step table (``STEP_ROWS``). ``train_step_book`` adds the first book's Trainer
  step's ``net.loss(x, t)`` after the update.
* ``epoch_<data>``: one epoch of the first book's ``Trainer``: a fresh ``Trainer(epochs=1,
  evaluate_sample_num_per_epoch=100, verbose=False)`` and its ``train()``, as the book's scripts and ``fastnn
  train`` call it: ``int(n_train / batch)`` iterations (batch drawn with ``np.random.choice``, gradient, update,
  loss after the update, and the book's one evaluation, at the first step, on 100 train and 100 test rows), then the
  final test accuracy over the whole test set. fastnn's Trainer runs with its defaults (``check_finite=True``: one
  parameter copy per step). The digits case also runs at batch 32, ``fastnn train``'s default.
* ``epoch_<data>_no_after_loss``: the same epoch without the after-update forward pass: fastnn's
  ``Trainer(loss_after_update=False)`` records the loss of the pass that made the gradient; the reference runs that
  loop in the book's idiom; PyTorch runs the same batches; scikit-learn fits ``MLPClassifier(hidden_layer_sizes=
  (hidden,), solver='sgd', batch_size=batch, momentum=0, alpha=0, learning_rate_init=0.1, max_iter=1,
  shuffle=True)`` for one epoch on the first ``int(n_train / batch) * batch`` rows (the same number of steps; its own
  initialisation and shuffling).
"""
import argparse
import functools
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import datasets, functions, gradient, nets, optimizer, reference, trainer
from ._constants import CE_DELTA
from .kernels import affine as affine_kernels
from .kernels import softmax as softmax_kernels
from .reference import functions as ref_functions
from .reference import nets as ref_nets
from .reference import optimizer as ref_optimizer
from .reference import trainer as ref_trainer

SEED = 0
DTYPES = ("float64", "float32")
FUSED_SHAPES = ((100, 10), (10000, 100), (100000, 10))  # the acceptance shapes for softmax+CE forward+backward


# --- the case registry -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    what: str  # one line: what is timed, and what the shape means
    shapes: tuple  # (batch, width) pairs for the table
    make: Callable  # (batch, width, dtype) -> (fastnn_fn, reference_fn)
    make_torch: Callable | None = None  # (batch, width, dtype) -> torch_fn; only called when torch imports
    make_sklearn: Callable | None = None  # (batch, width, dtype) -> sklearn_fn; only called when sklearn imports
    make_jax: Callable | None = None  # (batch, width, dtype) -> jax_fn; only called when jax imports (see jax_x64)
    make_products: Callable | None = None  # (batch, width, dtype) -> a bound timed beside fastnn (see _products)
    dtypes: tuple = DTYPES  # the dtypes the case runs in
    pure: bool = True  # fastnn_fn and reference_fn return the same values (the tests compare them element-wise)
    missing: Callable | None = None  # () -> why the case cannot run on this machine (say, data not installed)

    def unavailable(self):
        """None when the case can run here, else the reason it cannot."""
        return None if self.missing is None else self.missing()


CASES = {}


def case(name, what, shapes=FUSED_SHAPES, torch_make=None, **options):
    """Register ``make(batch, width, dtype)`` as the case ``name`` (``options``: the other Case fields)."""
    def register(make):
        CASES[name] = Case(name, what, tuple(shapes), make, torch_make, **options)
        return make
    return register


def _scores(batch, width, dtype):
    """Logits and integer labels, the same for every case of a given shape."""
    rng = np.random.default_rng(SEED)
    x = (3 * rng.standard_normal((batch, width))).astype(dtype)
    t = rng.integers(0, width, size=batch).astype(np.intp)
    return x, t


def _affine_data(batch, width, dtype):
    """x (batch, width), W (width, width), b (width,), dout (batch, width)."""
    rng = np.random.default_rng(SEED)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in
              ((batch, width), (width, width), (width,), (batch, width))]
    arrays[1] *= 0.1
    return arrays


def _torch_tensors(*arrays):
    import torch
    return [torch.from_numpy(a) for a in arrays]


# --- kernel cases ----------------------------------------------------------------------------------------------
def _torch_elementwise(name):
    def make(batch, width, dtype):
        import torch
        (x,) = _torch_tensors(_scores(batch, width, dtype)[0])
        op = getattr(torch, name)
        return lambda: op(x)
    return make


@case("sigmoid", "fastnn.functions.sigmoid(x), x (batch, width)", torch_make=_torch_elementwise("sigmoid"))
def _sigmoid(batch, width, dtype):
    x, _ = _scores(batch, width, dtype)
    return (lambda: functions.sigmoid(x)), (lambda: reference.sigmoid(x))


@case("relu", "fastnn.functions.relu(x), x (batch, width)", torch_make=_torch_elementwise("relu"))
def _relu(batch, width, dtype):
    x, _ = _scores(batch, width, dtype)
    return (lambda: functions.relu(x)), (lambda: reference.relu(x))


def _torch_softmax(batch, width, dtype):
    import torch
    (x,) = _torch_tensors(_scores(batch, width, dtype)[0])
    return lambda: torch.softmax(x, dim=-1)


@case("softmax", "fastnn.functions.softmax(x), x (batch, width)", torch_make=_torch_softmax)
def _softmax(batch, width, dtype):
    x, _ = _scores(batch, width, dtype)
    return (lambda: functions.softmax(x)), (lambda: reference.softmax(x))


def _torch_cross_entropy(batch, width, dtype):
    import torch
    x, t = _scores(batch, width, dtype)
    y, t = _torch_tensors(reference.softmax(x), t)
    rows = torch.arange(batch)
    return lambda: -torch.log(y[rows, t] + CE_DELTA).mean()


@case("cross_entropy_error", "fastnn.functions.cross_entropy_error(y, t), y (batch, width), integer labels t",
      torch_make=_torch_cross_entropy)
def _cross_entropy_error(batch, width, dtype):
    x, t = _scores(batch, width, dtype)
    y = reference.softmax(x)
    return (lambda: functions.cross_entropy_error(y, t)), (lambda: reference.cross_entropy_error(y, t))


def _torch_softmax_loss(batch, width, dtype):
    import torch.nn.functional as F
    x, t = _torch_tensors(*_scores(batch, width, dtype))
    return lambda: F.cross_entropy(x, t)


@case("softmax_loss", "fastnn.functions.softmax_loss(x, t), x (batch, width), integer labels t",
      torch_make=_torch_softmax_loss)
def _softmax_loss(batch, width, dtype):
    x, t = _scores(batch, width, dtype)
    return (lambda: functions.softmax_loss(x, t)), (lambda: reference.softmax_loss(x, t))


def _torch_softmax_ce_fwd_bwd(batch, width, dtype):
    import torch
    import torch.nn.functional as F
    x, t = _torch_tensors(*_scores(batch, width, dtype))
    x.requires_grad_(True)

    def run():
        loss = F.cross_entropy(x, t)
        (dx,) = torch.autograd.grad(loss, x)
        return loss, dx
    return run


@case("softmax_ce_fwd_bwd", "SoftmaxWithLoss forward+backward: fused kernels into preallocated y, dx vs the "
      "book's softmax, cross_entropy_error, (y - t) / N; x (batch, width), integer labels t",
      torch_make=_torch_softmax_ce_fwd_bwd)
def _softmax_ce_fwd_bwd(batch, width, dtype):
    x, t = _scores(batch, width, dtype)
    delta, dout = x.dtype.type(CE_DELTA), x.dtype.type(1)
    y, dx = np.empty_like(x), np.empty_like(x)

    def fast():
        loss = softmax_kernels.softmax_cross_entropy_labels(x, t, delta, y)
        softmax_kernels.softmax_cross_entropy_backward_labels(y, t, dout, dx)
        return loss, dx

    def ref():
        y_ref = reference.softmax(x)
        loss = reference.cross_entropy_error(y_ref, t)
        return loss, reference.softmax_cross_entropy_backward(y_ref, t, 1)
    return fast, ref


def _torch_affine_forward(batch, width, dtype):
    import torch
    x, W, b, _ = _torch_tensors(*_affine_data(batch, width, dtype))
    return lambda: torch.addmm(b, x, W)


@case("affine_forward", "x @ W + b into a preallocated out; x (batch, width), W (width, width)",
      torch_make=_torch_affine_forward)
def _affine_forward(batch, width, dtype):
    x, W, b, _ = _affine_data(batch, width, dtype)
    out = np.empty((batch, width), dtype=dtype)

    def fast():
        affine_kernels.affine_forward(x, W, b, out)
        return out
    return fast, (lambda: reference.affine_forward(x, W, b))


def _torch_affine_backward(batch, width, dtype):
    x, W, _, dout = _torch_tensors(*_affine_data(batch, width, dtype))
    return lambda: (dout @ W.T, x.T @ dout, dout.sum(0))


@case("affine_backward", "dx, dW, db into preallocated arrays; x, dout (batch, width), W (width, width)",
      torch_make=_torch_affine_backward)
def _affine_backward(batch, width, dtype):
    x, W, _, dout = _affine_data(batch, width, dtype)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty(width, dtype=dtype)

    def fast():
        affine_kernels.affine_backward_params(x, dout, dW, db)
        affine_kernels.affine_backward_input(dout, W, dx)
        return dx, dW, db
    return fast, (lambda: reference.affine_backward(x, W, dout))


def function_2(x):
    """The book's function_2 (sum of squares), the f of the numerical-gradient case."""
    return np.sum(x ** 2)


@functools.cache
def jitted_function_2():
    """function_2 as a user would jit it: plain numba.njit (on first use, so importing compiles nothing), cached
    on disk like fastnn's kernels so that each benchmark process does not compile it again."""
    import numba

    from ._jit import CACHE
    return numba.njit(function_2, cache=CACHE)


@case("numerical_gradient", "numerical_gradient(f, x) of a jitted f = sum(x**2) (the same f for both), "
      "x (batch, width)", shapes=((1, 10), (10, 10), (10, 100)))
def _numerical_gradient(batch, width, dtype):
    f = jitted_function_2()
    x = np.random.default_rng(SEED).standard_normal((batch, width)).astype(dtype)
    return (lambda: gradient.numerical_gradient(f, x)), (lambda: reference.numerical_gradient(f, x))


# --- networks: what the network and training cases share ----------------------------------------------------------
LR = 0.1  # the learning rate of the book's chapter-5 training script, used by every library here
N_CLASSES = 10
PIXELS = 784  # one 28x28 image: the input width of the MNIST-style cases
EVAL_SAMPLES = 100  # train and test rows the Trainer evaluates at an epoch's first step
ACCURACY_EPOCHS = 10
DIGITS_PIXELS = 64  # one 8x8 image of the bundled optdigits


def adopt_params(net, params):
    """Give a book-style net these parameter arrays (say, float32 copies of its float64 ones): each ``params``
    entry is replaced, and so is every layer attribute that held the old array (the book's layers hold the
    arrays themselves), so that the net's code keeps seeing one set of arrays."""
    held = {id(array): key for key, array in net.params.items()}
    for layer in getattr(net, "layers", {}).values():
        for attr, value in list(vars(layer).items()):
            if id(value) in held:
                setattr(layer, attr, params[held[id(value)]])
    net.params.update(params)


def nets_pair(input_size, hidden, dtype, depth=1):
    """fastnn's and the reference's net in ``dtype`` with the same initial parameters (drawn as in the book from
    the global np.random, which this seeds): TwoLayerNet(input_size, hidden, 10), or for depth > 1
    MultiLayerNet(input_size, [hidden] * depth, 10) (ReLU, He scale). The reference is built as the book builds
    it (float64) and then given copies of fastnn's arrays, so a float32 reference works in float32 throughout."""
    np.random.seed(SEED)
    if depth == 1:
        fast = nets.TwoLayerNet(input_size, hidden, N_CLASSES, dtype=dtype)
        ref = ref_nets.TwoLayerNet(input_size, hidden, N_CLASSES)
    else:
        fast = nets.MultiLayerNet(input_size, [hidden] * depth, N_CLASSES, dtype=dtype)
        ref = ref_nets.MultiLayerNet(input_size, [hidden] * depth, N_CLASSES)
    adopt_params(ref, {key: array.copy() for key, array in fast.params.items()})
    return fast, ref


def param_keys(net):
    """W1, b1, W2, b2, ... in layer order."""
    return [f"{kind}{i}" for i in range(1, len(net.params) // 2 + 1) for kind in "Wb"]


def net_params(net):
    """(W1, b1, W2, b2, ...): the arrays themselves, not copies."""
    return tuple(net.params[key] for key in param_keys(net))


def _batch(rows, input_size, dtype):
    """Pixel-like inputs in [0, 1) and integer labels."""
    rng = np.random.default_rng(SEED)
    x = rng.random((rows, input_size), dtype=np.dtype(dtype).type)
    t = rng.integers(0, N_CLASSES, size=rows).astype(np.intp)
    return x, t


# PyTorch: the same network as nn.Sequential(Linear, ReLU, Linear), CrossEntropyLoss (mean over the batch, as the
# book's SoftmaxWithLoss) and optim.SGD. Only imported when a torch column is asked for.
def _torch_dtype(dtype):
    import torch
    return getattr(torch, np.dtype(dtype).name)


def torch_model(net):
    """nn.Sequential(Linear, ReLU, ..., Linear) holding a copy of a net's parameters (torch keeps a Linear's weight
    as (out, in), the transpose of the book's W)."""
    import torch
    params = net_params(net)
    modules = []
    for W, b in zip(params[::2], params[1::2]):
        linear = torch.nn.Linear(*W.shape, dtype=_torch_dtype(W.dtype))
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T))
            linear.bias.copy_(torch.from_numpy(b))
        modules += [linear, torch.nn.ReLU()]
    return torch.nn.Sequential(*modules[:-1])


def torch_params(model):
    """A torch_model's (W1, b1, W2, b2, ...) in the book's layout (views, no copies)."""
    return tuple(p.detach() for m in model if hasattr(m, "weight") for p in (m.weight.T, m.bias))


def _torch_sgd(model):
    """(step(x, t) -> loss of the forward pass, loss_fn): one SGD step: zero the gradients, forward, loss, backward,
    update."""
    import torch
    sgd = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, t):
        sgd.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        sgd.step()
        return loss
    return step, loss_fn


def _torch_accuracy(model, x, t):
    import torch
    with torch.no_grad():
        return (model(x).argmax(dim=1) == t).double().mean().item()


# --- network cases -------------------------------------------------------------------------------------------------
PREDICT_SHAPES = ((10000, 100), (100000, 100))


def _torch_predict(rows, width, dtype, input_size=PIXELS):
    import torch
    x, _ = _batch(rows, input_size, dtype)
    model, x = torch_model(nets_pair(input_size, width, dtype)[0]), torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return model(x)
    return run


@case("predict", "TwoLayerNet(784, hidden, 10).predict(x), x (rows, 784) in [0, 1); torch: the same Sequential "
      "under inference_mode; shape rows x hidden", shapes=PREDICT_SHAPES, torch_make=_torch_predict)
def _predict(rows, width, dtype, input_size=PIXELS):
    x, _ = _batch(rows, input_size, dtype)
    fast_net, ref_net = nets_pair(input_size, width, dtype)
    return (lambda: fast_net.predict(x)), (lambda: ref_net.predict(x))


def _torch_accuracy_case(rows, width, dtype, input_size=PIXELS):
    import torch
    x, t = (torch.from_numpy(a) for a in _batch(rows, input_size, dtype))
    model = torch_model(nets_pair(input_size, width, dtype)[0])
    return lambda: _torch_accuracy(model, x, t)


@case("accuracy", "TwoLayerNet(784, hidden, 10).accuracy(x, t) (predict, argmax, compare; fastnn in chunks of "
      "8192 rows), x (rows, 784); shape rows x hidden", shapes=PREDICT_SHAPES, torch_make=_torch_accuracy_case,
      pure=False)  # float32 rounding may flip a near-tie argmax: the tests allow for it
def _accuracy(rows, width, dtype, input_size=PIXELS):
    x, t = _batch(rows, input_size, dtype)
    fast_net, ref_net = nets_pair(input_size, width, dtype)
    return (lambda: fast_net.accuracy(x, t)), (lambda: ref_net.accuracy(x, t))


NETGRAD_REFERENCE_ELEMENTS = 200  # elements of W1 the reference's numerical gradient is timed on


def _extrapolated(fn, timed, total):
    """Mark a reference callable that does ``timed`` of ``total`` equal units of work: its time is scaled by
    total / timed (``scale``), and ``note`` says so in the output."""
    fn.scale = total / timed
    fn.note = f"reference timed on {timed} of {total} parameters and scaled by {total / timed:.1f}"
    return fn


def _numerical_gradient_net(batch, width, dtype, input_size=PIXELS):
    """fastnn.netgrad's numerical gradient of the whole net vs the book's loop over a slice of W1: every parameter
    costs the book two full forward passes, so the slice's time scales to all parameters."""
    from . import netgrad

    x, t = _batch(batch, input_size, dtype)
    fast_net, ref_net = nets_pair(input_size, width, dtype)
    return (lambda: netgrad.numerical_gradient(fast_net, x, t)), _book_gradient_on_w1_slice(ref_net, x, t)


def _book_gradient_on_w1_slice(ref_net, x, t):
    """The book's numerical gradient loop over the first elements of W1, marked to scale to all parameters."""
    k = min(NETGRAD_REFERENCE_ELEMENTS, ref_net.params["W1"].size)
    w1_slice = ref_net.params["W1"].reshape(-1)[:k]  # a view: the book's loop perturbs the net's own W1

    def ref():
        return ref_functions.numerical_gradient(lambda W: ref_net.loss(x, t), w1_slice)
    return _extrapolated(ref, k, sum(p.size for p in ref_net.params.values()))


# fastnn.netgrad is younger than this script: the case exists where the module does.
if importlib.util.find_spec(f"{__package__}.netgrad") is not None:
    case("numerical_gradient_net", "fastnn.netgrad.numerical_gradient(net, x, t) vs the book's "
         "net.numerical_gradient (2 forward passes per parameter) for TwoLayerNet(784, hidden, 10), x (batch, 784); "
         f"the reference is timed on {NETGRAD_REFERENCE_ELEMENTS} elements of W1 and scaled to all parameters; "
         "shape batch x hidden", shapes=((100, 50),), dtypes=("float64",), pure=False)(_numerical_gradient_net)

CH4_ITERATIONS = 10_000  # chapter 4's training script: iters_num
CH4_LR = 0.1


def _numerical_gradient_training(batch, width, dtype, input_size=PIXELS):
    """One iteration of chapter 4's training script: TwoLayerNetCh4's numerical gradient on a one-hot batch, then
    the SGD update. The reference's iteration is its numerical gradient (the update is ~1e-6 of it), timed on a
    slice of W1 and scaled; ``iterations`` asks run_case for the projection to the whole run."""
    x, labels = _batch(batch, input_size, dtype)
    t = np.eye(N_CLASSES, dtype=dtype)[labels]
    np.random.seed(SEED)
    fast_net = nets.TwoLayerNetCh4(input_size, width, N_CLASSES, dtype=dtype)
    ref_net = ref_nets.TwoLayerNetCh4(input_size, width, N_CLASSES)
    adopt_params(ref_net, {key: array.copy() for key, array in fast_net.params.items()})

    def fast():
        grad = fast_net.numerical_gradient(x, t)
        for key in param_keys(fast_net):
            fast_net.params[key] -= CH4_LR * grad[key]
        return grad
    fast.iterations = CH4_ITERATIONS
    return fast, _book_gradient_on_w1_slice(ref_net, x, t)


if importlib.util.find_spec(f"{__package__}.netgrad") is not None:
    case("numerical_gradient_training", "one iteration of chapter 4's training with numerical gradients: "
         "TwoLayerNetCh4(784, hidden, 10) (sigmoid), net.numerical_gradient(x, t) on a one-hot batch and the SGD "
         f"update (lr {CH4_LR}); the reference is its numerical gradient on {NETGRAD_REFERENCE_ELEMENTS} elements "
         f"of W1 scaled to all parameters; the note projects both to the script's {CH4_ITERATIONS} iterations; "
         "shape batch x hidden", shapes=((100, 50),), dtypes=("float64",), pure=False)(_numerical_gradient_training)


# --- training cases ------------------------------------------------------------------------------------------------
STEP_SHAPES = ((100, 100), (1, 50), (1000, 100))  # (batch, hidden)
EPOCH_SHAPES = ((100, 100),)
DEEP = 5  # hidden layers of train_step_deep
# The step table (--steps; benchmarks/steps.py): row -> (case, batch, hidden)
STEP_ROWS = {"784-50-10 b1": ("train_step", 1, 50), "64-100-10 b32": ("train_step_digits", 32, 100),
             "784-100x5-10 b100": ("train_step_deep", 100, 100), "784-100-10 b100": ("train_step", 100, 100)}


def _step_pair(batch, width, dtype, input_size=PIXELS, book=False, depth=1):
    x, t = _batch(batch, input_size, dtype)
    fast_net, ref_net = nets_pair(input_size, width, dtype, depth)

    def stepper(net, sgd):
        def run():
            sgd.update(net.params, net.gradient(x, t))
            if book:  # the first book's Trainer records the batch's loss after the update
                return (net.loss(x, t), *net_params(net))
            return net_params(net)
        return run
    return stepper(fast_net, optimizer.SGD(lr=LR)), stepper(ref_net, ref_optimizer.SGD(lr=LR))


def _torch_step(batch, width, dtype, input_size=PIXELS, book=False, depth=1):
    import torch
    x, t = (torch.from_numpy(a) for a in _batch(batch, input_size, dtype))
    model = torch_model(nets_pair(input_size, width, dtype, depth)[0])
    step, loss_fn = _torch_sgd(model)

    def run():
        step(x, t)
        if book:
            with torch.no_grad():
                return (loss_fn(model(x), t), *torch_params(model))
        return torch_params(model)
    return run


# JAX: the same step as one jax.jit function (forward, backward, SGD update; parameters in, new parameters out).
# The gradient is that of the stable form, log_softmax, which is exactly the book's backward (y - t) / N; the loss
# it returns is the book's, -mean(log(y[t] + 1e-7)), from the same forward pass. float64 needs JAX's 64-bit mode:
# build and call a float64 step inside jax_x64(jax, dtype), which leaves float32 steps in JAX's default mode.
def jax_x64(jax, dtype):
    """The context a JAX step of ``dtype`` is built and called in: 64-bit types on for float64 only."""
    return jax.enable_x64(np.dtype(dtype) == np.float64)


@functools.cache
def jax_sgd_step():
    """jit(step)(params, x, t) -> (loss, new params); params: the tuple (W1, b1, W2, b2, ...)."""
    import jax
    import jax.numpy as jnp

    def losses(params, x, t):
        h = x
        for W, b in zip(params[:-2:2], params[1:-2:2]):
            h = jax.nn.relu(h @ W + b)
        picked = jnp.take_along_axis(jax.nn.log_softmax(h @ params[-2] + params[-1]), t[:, None], axis=1)
        return -jnp.mean(picked), -jnp.mean(jnp.log(jnp.exp(picked) + CE_DELTA))

    def step(params, x, t):
        (_, loss), grads = jax.value_and_grad(losses, has_aux=True)(params, x, t)
        return loss, tuple(p - LR * g for p, g in zip(params, grads))
    return jax.jit(step, donate_argnums=0)  # the old parameters' buffers may hold the new ones


def _jax_step(batch, width, dtype, input_size=PIXELS, depth=1):
    """The step on one fixed batch from fastnn's initial parameters; each call returns (loss, W1, b1, ...)."""
    import jax
    import jax.numpy as jnp
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        raise RuntimeError("a float64 JAX step must be built and called inside fastnn.bench.jax_x64(jax, dtype)")
    x, t = _batch(batch, input_size, dtype)
    x, t = jnp.asarray(x), jnp.asarray(t.astype(np.int32))
    state = [tuple(jnp.array(p) for p in net_params(nets_pair(input_size, width, dtype, depth)[0]))]  # copies
    step = jax_sgd_step()

    def run():
        loss, state[0] = step(state[0], x, t)
        return jax.block_until_ready((loss, *state[0]))
    return run


def _products(batch, width, dtype, input_size=PIXELS):
    """The step's two large matrix products with NumPy's BLAS (np.dot: np.matmul skips BLAS at batch 1) into
    preallocated outputs: x @ W1 (batch x input @ input x hidden) and x.T @ dout (input x batch @ batch x hidden),
    a bound the step cannot go below."""
    x, _ = _batch(batch, input_size, dtype)
    W1 = net_params(nets_pair(input_size, width, dtype)[0])[0]
    dout = np.random.default_rng(SEED).standard_normal((batch, width)).astype(dtype)
    a, dW = np.empty((batch, width), dtype), np.empty((input_size, width), dtype)

    def run():
        np.dot(x, W1, out=a)
        np.dot(x.T, dout, out=dW)
        return a, dW
    return run


def _step_case(name, what, shapes, input_size, depth=1, **options):
    """Register the step case ``name``: fastnn and the reference, torch eager, JAX jit."""
    def adapter(make):
        return functools.partial(make, input_size=input_size, depth=depth)
    case(name, what + "; shape batch x hidden", shapes=shapes, torch_make=adapter(_torch_step),
         make_jax=adapter(_jax_step), pure=False, **options)(adapter(_step_pair))


_STEP_WHAT = ("one SGD step: net.gradient(x, t) + SGD(lr=0.1).update(net.params, grads), x: rows of {} "
              "pixel-like values, integer labels; torch: Sequential(Linear, ReLU, ...) + CrossEntropyLoss + "
              "optim.SGD, eager; JAX: one jitted forward+backward+update")
_step_case("train_step", f"TwoLayerNet(784, hidden, 10) ({_STEP_WHAT.format(PIXELS)}; products: x @ W1 and "
           "x.T @ dout with NumPy's BLAS)", STEP_SHAPES, PIXELS, make_products=_products)
_step_case("train_step_digits", f"TwoLayerNet(64, hidden, 10), the bundled digits' shape "
           f"({_STEP_WHAT.format(DIGITS_PIXELS)})", ((32, 100),), DIGITS_PIXELS)
_step_case("train_step_deep", f"MultiLayerNet(784, [hidden] * {DEEP}, 10) ({_STEP_WHAT.format(PIXELS)})",
           ((100, 100),), PIXELS, depth=DEEP)


@case("train_step_book", "train_step + the book Trainer's net.loss(x, t) after the update (torch: a no_grad "
      "forward + loss after its step); shape batch x hidden", shapes=STEP_SHAPES[:1],
      torch_make=functools.partial(_torch_step, book=True), pure=False)
def _train_step_book(batch, width, dtype, input_size=PIXELS):
    return _step_pair(batch, width, dtype, input_size, book=True)


# Epochs on real data.
@functools.cache
def _dataset(name):
    """((x_train, t_train), (x_test, t_test)): float32 pixels in [0, 1] and intp labels, loaded once a process."""
    load = {"digits": datasets.load_digits, "fashion_mnist": datasets.load_fashion_mnist}[name]
    (x, t), (x_test, t_test) = load()
    return (x, t.astype(np.intp)), (x_test, t_test.astype(np.intp))


def dataset(name, dtype):
    (x, t), (x_test, t_test) = _dataset(name)
    return (x.astype(dtype, copy=False), t), (x_test.astype(dtype, copy=False), t_test)


def fashion_mnist_missing():
    """Why Fashion-MNIST cannot be loaded here, or None."""
    path = os.environ.get("FASTNN_FASHION_MNIST_DIR", datasets.FASHION_MNIST_DIR)
    for name in datasets.MNIST_FILES.values():
        if not any(os.path.isfile(os.path.join(path, name + ext)) for ext in (".gz", "")):
            return (f"Fashion-MNIST is not installed ({os.path.join(path, name)}[.gz] missing): apt-get install "
                    f"dataset-fashion-mnist, or set FASTNN_FASHION_MNIST_DIR")
    return None


DATASETS = {"digits": None, "fashion_mnist": fashion_mnist_missing}  # name -> missing() or None


def epoch_steps(n_train, batch):
    """Iterations of one epoch of the book's Trainer: int(max(n_train / batch, 1))."""
    return int(max(n_train / batch, 1))


def _trainer_epoch(trainer_cls, net, data, batch, **options):
    """One epoch of the first book's Trainer, as the module docstring describes: ``train()``, as the book's
    scripts and ``fastnn train`` call it (the iterations, then the final test accuracy)."""
    (x, t), (x_test, t_test) = data

    def run():
        np.random.seed(SEED)  # the Trainer draws from np.random: each call and each side draws the same batches
        tr = trainer_cls(net, x, t, x_test, t_test, epochs=1, mini_batch_size=batch, optimizer="sgd",
                         optimizer_param={"lr": LR}, evaluate_sample_num_per_epoch=EVAL_SAMPLES, verbose=False,
                         **options)
        tr.train()
        return (*net_params(net), tr.train_loss_list[-1])
    return run


def _reference_epoch_no_after_loss(net, data, batch):
    """fastnn's Trainer(loss_after_update=False) epoch in the book's idiom: the same draws, the same evaluation."""
    (x, t), (x_test, t_test) = data
    sgd, n, steps = ref_optimizer.SGD(lr=LR), len(x), epoch_steps(len(x), batch)

    def run():
        np.random.seed(SEED)
        losses = []
        for i in range(steps):
            mask = np.random.choice(n, batch)
            sgd.update(net.params, net.gradient(x[mask], t[mask]))
            losses.append(net.lastLayer.loss)  # the loss of the forward pass that made the gradient
            if i == 0:  # the Trainer's evaluation at the epoch's first step
                net.accuracy(x[:EVAL_SAMPLES], t[:EVAL_SAMPLES])
                net.accuracy(x_test[:EVAL_SAMPLES], t_test[:EVAL_SAMPLES])
        net.accuracy(x_test, t_test)  # train()'s final test accuracy
        return (*net_params(net), losses[-1])
    return run


def _epoch_pair(name, batch, width, dtype, after_loss):
    data = dataset(name, dtype)
    fast_net, ref_net = nets_pair(data[0][0].shape[1], width, dtype)
    fast = _trainer_epoch(trainer.Trainer, fast_net, data, batch, loss_after_update=after_loss)
    if after_loss:
        return fast, _trainer_epoch(ref_trainer.Trainer, ref_net, data, batch)
    return fast, _reference_epoch_no_after_loss(ref_net, data, batch)


def _torch_epoch(name, batch, width, dtype):
    """The no-after-loss epoch in PyTorch: the same initial parameters, batches and evaluation."""
    import torch
    (x, t), (x_test, t_test) = dataset(name, dtype)
    model = torch_model(nets_pair(x.shape[1], width, dtype)[0])
    x, t, x_test, t_test = (torch.from_numpy(a) for a in (x, t, x_test, t_test))
    step, _ = _torch_sgd(model)
    n, steps = len(x), epoch_steps(len(x), batch)

    def run():
        np.random.seed(SEED)
        losses = []
        for i in range(steps):
            mask = torch.from_numpy(np.random.choice(n, batch))
            losses.append(step(x[mask], t[mask]).item())
            if i == 0:
                _torch_accuracy(model, x[:EVAL_SAMPLES], t[:EVAL_SAMPLES])
                _torch_accuracy(model, x_test[:EVAL_SAMPLES], t_test[:EVAL_SAMPLES])
        _torch_accuracy(model, x_test, t_test)
        return (*torch_params(model), losses[-1])
    return run


def sklearn_mlp(width, batch, epochs):
    """scikit-learn's MLPClassifier configured as the book's TwoLayerNet with plain SGD."""
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=(width,), solver="sgd", batch_size=batch, momentum=0, alpha=0,
                         learning_rate_init=LR, max_iter=epochs, shuffle=True, random_state=SEED)


def sklearn_fit(clf, x, t):
    """clf.fit(x, t) without the ConvergenceWarning that a fixed, small max_iter always raises."""
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, t)


def _sklearn_epoch(name, batch, width, dtype):
    (x, t), _ = dataset(name, dtype)
    rows = epoch_steps(len(x), batch) * batch  # the Trainer epoch's number of steps
    x, t = x[:rows], t[:rows]
    return lambda: sklearn_fit(sklearn_mlp(width, batch, epochs=1), x, t)


def _register_epochs(name, title, n_train, inputs, shapes=EPOCH_SHAPES):
    missing = DATASETS[name]
    steps = epoch_steps(n_train, 100)
    case(f"epoch_{name}", f"one epoch of the book's Trainer on {title} ({n_train} train rows, int({n_train} / batch) "
         f"steps) with TwoLayerNet({inputs}, hidden, 10), SGD lr 0.1 (see the module docstring); shape batch x hidden",
         shapes=shapes, pure=False, missing=missing)(functools.partial(_epoch_pair, name, after_loss=True))
    case(f"epoch_{name}_no_after_loss", f"epoch_{name} without the after-update loss: fastnn "
         f"Trainer(loss_after_update=False), the reference's loop, torch on the same batches, sklearn MLPClassifier "
         f"one-epoch fit ({steps} steps); shape batch x hidden", shapes=EPOCH_SHAPES,
         torch_make=functools.partial(_torch_epoch, name), make_sklearn=functools.partial(_sklearn_epoch, name),
         pure=False, missing=missing)(functools.partial(_epoch_pair, name, after_loss=False))


_register_epochs("digits", "the bundled optdigits", 1437, 64, shapes=((32, 100),) + EPOCH_SHAPES)  # 32: fastnn train
_register_epochs("fashion_mnist", "Fashion-MNIST", 60000, PIXELS)


# --- test accuracy after training (--accuracy) ---------------------------------------------------------------------
def accuracy_comparison(name, dtype, torch=None, sklearn=False, epochs=ACCURACY_EPOCHS, batch=100, hidden=100):
    """Test accuracy and wall time of ``epochs`` epochs: the book's Trainer with fastnn and with the reference
    (evaluate_sample_num_per_epoch=100), the same initial parameters and batches through PyTorch, and
    scikit-learn's MLPClassifier (its own initialisation and shuffling, the same number of steps)."""
    data = dataset(name, dtype)
    (x, t), (x_test, t_test) = data
    row = {"dataset": name, "dtype": np.dtype(dtype).name, "epochs": epochs, "batch": batch, "hidden": hidden}
    fast_net, ref_net = nets_pair(x.shape[1], hidden, dtype)
    model = torch_model(fast_net) if torch is not None else None  # copied before fastnn trains fast_net

    for label, trainer_cls, net in (("fastnn", trainer.Trainer, fast_net), ("reference", ref_trainer.Trainer,
                                                                              ref_net)):
        start = time.perf_counter()
        np.random.seed(SEED)
        trainer_cls(net, x, t, x_test, t_test, epochs=epochs, mini_batch_size=batch, optimizer="sgd",
                    optimizer_param={"lr": LR}, evaluate_sample_num_per_epoch=EVAL_SAMPLES, verbose=False).train()
        row[label + "_s"] = time.perf_counter() - start
        row[label] = float(net.accuracy(x_test, t_test))

    if model is not None:
        step, _ = _torch_sgd(model)
        tx, tt = torch.from_numpy(x), torch.from_numpy(t)
        start = time.perf_counter()
        np.random.seed(SEED)  # the Trainer's int(epochs * n / batch) draws
        for _ in range(int(epochs * max(len(x) / batch, 1))):
            mask = torch.from_numpy(np.random.choice(len(x), batch))
            step(tx[mask], tt[mask])
        row["torch_s"] = time.perf_counter() - start
        row["torch"] = _torch_accuracy(model, torch.from_numpy(x_test), torch.from_numpy(t_test))
        row["torch_threads"] = torch.get_num_threads()

    if sklearn:
        rows = epoch_steps(len(x), batch) * batch
        start = time.perf_counter()
        clf = sklearn_fit(sklearn_mlp(hidden, batch, epochs), x[:rows], t[:rows])
        row["sklearn_s"] = time.perf_counter() - start
        row["sklearn"] = float(clf.score(x_test, t_test))
    return row


# --- timing ----------------------------------------------------------------------------------------------------
REPEAT = 7  # samples per figure
MIN_SAMPLE_S = 5e-3  # a sample repeats a short call until it lasts this long


def _calls_per_sample(fn, min_time):
    """How many back-to-back calls make a sample last at least ``min_time`` (from one timed call): short calls
    are not lost in timer resolution and call noise."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    return max(1, int(min_time / once) + 1) if once < min_time else 1


def _sample(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(fn, repeat, min_time=0.0):
    """Per-call seconds of ``repeat`` samples of fn (see _calls_per_sample)."""
    number = _calls_per_sample(fn, min_time)
    return [_sample(fn, number) for _ in range(repeat)]


def measure_interleaved(fns, repeat, min_time=0.0):
    """Per-call seconds of ``repeat`` samples of each callable, taken in turn (a, b, a, b, ...): a machine that
    speeds up or slows down during the run (other load, clock changes) moves every column alike, so their ratios
    stay fair."""
    numbers = [_calls_per_sample(fn, min_time) for fn in fns]
    samples = [[] for _ in fns]
    for _ in range(repeat):
        for fn, number, out in zip(fns, numbers, samples):
            out.append(_sample(fn, number))
    return samples


def measure_pair(fast, ref, repeat, min_time=0.0):
    """(fast samples, ref samples), interleaved (measure_interleaved)."""
    return tuple(measure_interleaved((fast, ref), repeat, min_time))


def best_time(fn, repeat=5, min_time=1e-3):
    """Minimum per-call time: the figure least disturbed by the rest of the machine (asv's track_speedup)."""
    return min(measure(fn, repeat, min_time))


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _sklearn():
    try:
        import sklearn
        import sklearn.neural_network
    except ImportError:
        return None
    return sklearn


def _jax(threads=1):
    """jax with its CPU backend started, or None when jax is not installed. XLA has no thread-count setting and
    sizes its CPU thread pool by the CPU affinity when the backend starts, so the backend starts with the process
    restricted to ``threads`` CPUs, and every thread's affinity is restored after (Linux; elsewhere not pinned)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax
    except ImportError:
        return None
    if not hasattr(os, "sched_setaffinity"):
        jax.devices("cpu")
        return jax
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(allowed)[:threads])
    try:
        jax.devices("cpu")
    finally:
        for task in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(task), allowed)
    return jax


def run_case(c, batch, width, dtype, repeat, min_time):
    """One table row: median seconds for fastnn and the reference, warm-up calls first. A reference callable with
    a ``scale`` attribute did part of the work (``note`` says which): its time is scaled up."""
    fns = c.make(batch, width, np.dtype(dtype))
    if c.make_products is not None:  # the bound, timed in turn with both
        fns = (*fns, c.make_products(batch, width, np.dtype(dtype)))
    for fn in fns:
        fn()  # warm-up: compiles fastnn's kernels for this dtype, fills caches
    medians = [statistics.median(samples) for samples in measure_interleaved(fns, repeat, min_time)]
    fast, ref = fns[:2]
    row = {"case": c.name, "batch": batch, "width": width, "dtype": dtype, "fastnn_s": medians[0],
           "reference_s": medians[1] * getattr(ref, "scale", 1.0)}
    if c.make_products is not None:
        row["products_s"] = medians[2]
        row["products_ratio"] = row["fastnn_s"] / row["products_s"]  # step / products: > 1
    if hasattr(ref, "note"):
        row["reference_note"] = ref.note
    row["ratio"] = row["reference_s"] / row["fastnn_s"]
    if hasattr(fast, "iterations"):  # a training iteration: project both to the whole run
        n = fast.iterations
        row["projection_note"] = (f"{n} iterations projected: fastnn {_fmt_duration(n * row['fastnn_s'])}, "
                                  f"reference {_fmt_duration(n * row['reference_s'])}")
    return row


def _fmt_duration(seconds):
    for unit, scale in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * scale:
            return f"{seconds / scale:.3g} {unit}"
    return _fmt_time(seconds)


def torch_thread_counts():
    return (1, 2) if (os.cpu_count() or 1) >= 2 else (1,)


def _competitor(row, kind, make):
    """The competitor's callable for a row, called once, or None (with a message) when it cannot run: an optional
    column, so another library version's API difference must not stop the table."""
    try:
        fn = make(row["batch"], row["width"], np.dtype(row["dtype"]))
        fn()
    except Exception as exc:  # noqa: BLE001
        print(f"  {row['case']}: no {kind} figure ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    return fn


def add_torch(row, repeat, min_time, torch):
    """Add the PyTorch figure to a row: the better median of 1 and 2 torch threads, and that count. Run after all
    fastnn/reference rows: torch's own allocations change how fast NumPy's large temporaries come back from
    malloc, so interleaving would shift the reference column."""
    c = CASES[row["case"]]
    fn = None if c.make_torch is None else _competitor(row, "torch", c.make_torch)
    if fn is None:
        return
    previous = torch.get_num_threads()
    try:
        for n in torch_thread_counts():
            torch.set_num_threads(n)
            fn()  # the first call at a new count starts the threads
            seconds = statistics.median(measure(fn, repeat, min_time))
            if "torch_s" not in row or seconds < row["torch_s"]:
                row["torch_s"], row["torch_threads"] = seconds, n
    finally:
        torch.set_num_threads(previous)
    row["torch_ratio"] = row["torch_s"] / row["fastnn_s"]


def _add_median(row, kind, make, repeat, min_time):
    fn = None if make is None else _competitor(row, kind, make)
    if fn is not None:
        row[f"{kind}_s"] = statistics.median(measure(fn, repeat, min_time))
        row[f"{kind}_ratio"] = row[f"{kind}_s"] / row["fastnn_s"]


def add_sklearn(row, repeat, min_time):
    """Add the scikit-learn figure to a row (NumPy's BLAS, pinned like fastnn's)."""
    _add_median(row, "sklearn", CASES[row["case"]].make_sklearn, repeat, min_time)


def add_jax(row, repeat, min_time, jax):
    """Add the JAX jit figure to a row (XLA's CPU pool as _jax started it), in the dtype's JAX mode."""
    with jax_x64(jax, row["dtype"]):
        _add_median(row, "jax", CASES[row["case"]].make_jax, repeat, min_time)


# --- machine and threads ---------------------------------------------------------------------------------------
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        value = os.environ.get("OPENBLAS_NUM_THREADS")
        return f"{value} (OPENBLAS_NUM_THREADS)" if value else "default (not pinned)"
    # the architecture is the kernel set OpenBLAS chose (OPENBLAS_CORETYPE can force an older, slower one)
    return ", ".join(f"{info['prefix']} {info['version']} ({info.get('architecture', '?')}): {info['num_threads']}"
                     for info in threadpool_info() if info["user_api"] == "blas") or "no BLAS found"


# Set on some machines for old-OpenBLAS safety; they slow current OpenBLAS builds, so the header says whether they
# were set (to measure without them: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m fastnn.bench ...).
OPENBLAS_TUNING_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _openblas_env():
    found = [f"{var}={os.environ[var]}" for var in OPENBLAS_TUNING_VARS if var in os.environ]
    return ", ".join(found) if found else "unset"


def machine_info(torch=None, sklearn=None, jax=None, threads=1):
    import numba
    import scipy
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__,
            "numba_threads": numba.get_num_threads(), "blas_threads": _blas_threads(),
            "openblas_env": _openblas_env(),
            "jit": "disabled (NUMBA_DISABLE_JIT=1)" if numba.config.DISABLE_JIT else "enabled"}
    if hasattr(os, "sched_getaffinity"):
        info["cores_usable"] = len(os.sched_getaffinity(0))
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = "best of " + " and ".join(map(str, torch_thread_counts()))
    if sklearn is not None:
        info["sklearn"] = sklearn.__version__
    if jax is not None:
        info["jax"] = jax.__version__
        info["jax_threads"] = threads if hasattr(os, "sched_setaffinity") else "not pinned"
    return info


# Pinned figures need a fixed BLAS thread count. OpenBLAS reads its thread count from the environment when it is
# loaded, which has happened by the time this module runs (it imports numpy). So: threadpoolctl when it is
# installed, otherwise the bench re-runs itself in a fresh interpreter started with these variables.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_PINNED_MARK = "_FASTNN_BENCH_PINNED"  # set in that interpreter's environment


def _pinned_environ(environ, n=1):
    return {**environ, **{var: str(n) for var in _THREAD_VARS}, _PINNED_MARK: str(n)}


def _pin_threads(n=1, torch=None):
    """n threads for numba and BLAS (and torch, until a torch column picks its own). False when BLAS cannot be
    pinned in this process (no threadpoolctl, and the process was not started with the variables)."""
    import numba
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return os.environ.get(_PINNED_MARK) == str(n)
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS numba's np.dot calls, so it is limited too)
    threadpool_limits(limits=n)
    return True


def _rerun_pinned(argv, n=1):
    """Run the bench in a fresh interpreter whose BLAS starts with n threads."""
    return subprocess.call([sys.executable, "-m", "fastnn.bench", *argv], env=_pinned_environ(os.environ, n))


# --- output ----------------------------------------------------------------------------------------------------
def _fmt_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _table(rows, with_torch, with_sklearn=False, with_jax=False, with_products=False):
    """(header, lines, notes): the timing table; a reference time marked * was extrapolated (see notes)."""
    header = ["case", "shape", "dtype", "fastnn", "reference", "ref/fastnn"]
    columns = [kind for kind, wanted in (("torch", with_torch), ("jax", with_jax), ("sklearn", with_sklearn),
                                         ("products", with_products)) if wanted]
    for kind in columns:
        header += [kind, "fastnn/products" if kind == "products" else f"{kind}/fastnn"]
        header += ["torch threads"] if kind == "torch" else []
    lines, notes = [], {}
    for r in rows:
        mark = "*" if "reference_note" in r else ""
        if mark:
            notes[r["case"]] = r["reference_note"]
        if "projection_note" in r:
            notes[r["case"]] = "; ".join(filter(None, (notes.get(r["case"]), r["projection_note"])))
        line = [r["case"], f"{r['batch']}x{r['width']}", r["dtype"], _fmt_time(r["fastnn_s"]),
                _fmt_time(r["reference_s"]) + mark, f"{r['ratio']:.2f}x"]
        for kind in columns:
            has = f"{kind}_s" in r
            line += [_fmt_time(r[f"{kind}_s"]), f"{r[f'{kind}_ratio']:.2f}x"] if has else ["-", "-"]
            line += ([str(r["torch_threads"]) if has else "-"] if kind == "torch" else [])
        lines.append(line)
    return header, lines, [f"* {name}: {note}" for name, note in notes.items()]


def _accuracy_table(results):
    """(header, lines): test accuracy (and the wall time of the whole training run) per library."""
    libraries = [lib for lib in ("fastnn", "reference", "torch", "sklearn") if any(lib in r for r in results)]
    header = ["dataset", "dtype", "epochs"] + libraries
    lines = [[r["dataset"], r["dtype"], str(r["epochs"])] +
             [f"{100 * r[lib]:.2f}% ({_fmt_time(r[lib + '_s'])})" if lib in r else "-" for lib in libraries]
             for r in results]
    return header, lines


def format_text(header, lines):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]

    def fmt(cells):  # text columns left-aligned, figures right-aligned
        return "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines])


def _markdown_table(header, lines):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|"]
    return out + ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]


def machine_line(machine):
    line = (f"Machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, numpy "
            f"{machine['numpy']}, numba {machine['numba']}, scipy {machine['scipy']}")
    line += "".join(f", {lib} {machine[lib]}" for lib in ("torch", "jax", "sklearn") if lib in machine)
    line += (f"; threads: numba {machine['numba_threads']}, BLAS {machine['blas_threads']}"
             + (f", torch {machine['torch_threads']}" if "torch" in machine else "")
             + (f", jax {machine['jax_threads']}" if "jax" in machine else "")
             + f"; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: {machine['openblas_env']}.")
    return line


def format_markdown(table, machine, settings, accuracy=None):
    header, lines, notes = table
    legend = (f"Median of {settings['repeat']} samples per figure; ratio = reference (or competitor) time / "
              f"fastnn time; torch threads: the torch thread count of the better of 1 and 2; jax: one jitted "
              f"step; products: x @ W1 and x.T @ dout with NumPy's BLAS, fastnn/products = how far the step is "
              f"from those two products alone.")
    out = ["# fastnn benchmark", "", machine_line(machine), "", f"Command: `{settings['command']}`", "", legend, ""]
    out += _markdown_table(header, lines)
    if notes:
        out += [""] + notes
    if accuracy:
        epochs = accuracy[0]["epochs"]
        out += ["", f"Test accuracy after {epochs} epochs (wall time of the whole training run):", ""]
        out += _markdown_table(*_accuracy_table(accuracy))
    out += ["", "Cases:", ""] + [f"- `{name}`: {what}" for name, what in settings["cases"].items()]
    return "\n".join(out) + "\n"


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --- command line ----------------------------------------------------------------------------------------------
def _shape(text):
    try:
        batch, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 100x10 (batch x width); got {text!r}") from None
    if batch < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"shape sizes must be >= 1; got {text!r}")
    return batch, width


def _parser():
    p = argparse.ArgumentParser(prog="fastnn bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=None, help="samples per figure (default 7, 3 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 3 samples, shorter samples, each case's first shape only")
    p.add_argument("--case", action="append", choices=sorted(CASES), help="only this case (repeatable)")
    p.add_argument("--shape", action="append", type=_shape,
                   help="BATCHxWIDTH instead of each case's shapes (repeatable)")
    p.add_argument("--dtype", action="append", choices=DTYPES, help="only this dtype (default: both)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for numba and BLAS in the fastnn, reference and sklearn figures (default 1)")
    p.add_argument("--accuracy", action="store_true",
                   help=f"also train {ACCURACY_EPOCHS} epochs with each library and report the test accuracy")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    p.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out even when it is installed")
    p.add_argument("--no-jax", action="store_true", help="leave JAX out even when it is installed")
    p.add_argument("--steps", action="store_true", help="only the step table's rows: " + ", ".join(
        f"{row} ({name})" for row, (name, *_) in STEP_ROWS.items()))
    p.add_argument("--list", action="store_true", help="list the cases and what each times, then exit")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    return p


def _plan(args):
    """[(case name, shapes)] in table order."""
    if args.steps:
        return [(name, [(batch, width)]) for name, batch, width in STEP_ROWS.values()]
    return [(name, args.shape or (CASES[name].shapes[:1] if args.quick else CASES[name].shapes))
            for name in args.case or CASES]


def _timing_rows(args, repeat, min_time):
    rows = []
    for name, shapes in _plan(args):
        c = CASES[name]
        reason = c.unavailable()
        if reason:
            print(f"  {name}: skipped ({reason})", file=sys.stderr, flush=True)
            continue
        for batch, width in shapes:
            for dtype in args.dtype or DTYPES:
                if dtype in c.dtypes:
                    rows.append(run_case(c, batch, width, dtype, repeat, min_time))
                    print(f"  {name} {batch}x{width} {dtype}: {rows[-1]['ratio']:.2f}x", file=sys.stderr,
                          flush=True)
    return rows


def _accuracy_rows(args, torch, sklearn):
    results = []
    for name, missing in DATASETS.items():
        reason = missing() if missing else None
        if reason:
            print(f"  accuracy on {name}: skipped ({reason})", file=sys.stderr, flush=True)
            continue
        for dtype in args.dtype or DTYPES:
            results.append(accuracy_comparison(name, dtype, torch=torch, sklearn=sklearn is not None))
            print(f"  accuracy {name} {dtype}: " + ", ".join(
                f"{lib} {100 * results[-1][lib]:.2f}%" for lib in ("fastnn", "reference", "torch", "sklearn")
                if lib in results[-1]), file=sys.stderr, flush=True)
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error(f"--repeat must be >= 1; got {args.repeat}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1; got {args.threads}")
    if args.steps and (args.case or args.shape):
        parser.error("--steps picks its own cases and shapes: leave out --case and --shape")
    if args.list:
        for c in CASES.values():
            reason = c.unavailable()
            print(f"{c.name:34}  {c.what}" + (f" [unavailable: {reason}]" if reason else ""))
        return 0
    torch = None if args.no_torch else _torch()
    sklearn = None if args.no_sklearn else _sklearn()
    if not _pin_threads(args.threads, torch):
        return _rerun_pinned(argv, args.threads)
    repeat = args.repeat or (3 if args.quick else REPEAT)
    min_time = 2e-4 if args.quick else MIN_SAMPLE_S
    names = list(dict.fromkeys(name for name, _ in _plan(args)))
    wants_jax = not args.no_jax and any(CASES[name].make_jax for name in names)
    jax = _jax(args.threads) if wants_jax else None  # (XLA's pool: started after the BLAS pinning)
    settings = {"repeat": repeat, "min_sample_s": min_time, "statistic": "median", "quick": args.quick,
                "threads": args.threads, "command": " ".join(["python -m fastnn.bench", *argv]),
                "cases": {name: CASES[name].what for name in names}}
    machine = machine_info(torch, sklearn, jax, args.threads)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()), flush=True)

    rows = _timing_rows(args, repeat, min_time)
    for row in rows:  # the competitors after every fastnn/reference row (see add_torch)
        if torch is not None:
            add_torch(row, repeat, min_time, torch)
        if jax is not None:
            add_jax(row, repeat, min_time, jax)
        if sklearn is not None:
            add_sklearn(row, repeat, min_time)
    accuracy = _accuracy_rows(args, torch, sklearn) if args.accuracy else []

    table = _table(rows, torch is not None, any("sklearn_s" in r for r in rows), jax is not None,
                   any("products_s" in r for r in rows))
    print("\n" + format_text(*table[:2]))
    for note in table[2]:
        print(note)
    if accuracy:
        print(f"\ntest accuracy after {ACCURACY_EPOCHS} epochs (wall time of the training run)")
        print(format_text(*_accuracy_table(accuracy)))
    if args.json:
        _write(args.json, json.dumps({"machine": machine, "settings": settings, "results": rows,
                                      "accuracy": accuracy}, indent=2) + "\n")
    if args.markdown:
        _write(args.markdown, format_markdown(table, machine, settings, accuracy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
