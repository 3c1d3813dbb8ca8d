"""The comparison's cases: fastnn.bench's (``fastnn bench``) and the ones that only the comparison and the asv suite
time, in one registry, ``CASES`` (name -> fastnn.bench.Case; ``python -m benchmarks.compare --list``). Each case's
``make(batch, width, dtype)`` returns (fastnn_fn, reference_fn), two zero-argument callables doing the same work;
for ``pure`` cases they return the same values (tests/test_bench.py holds them to it over random shapes), the
network and training cases update a network or return parts of a result, checked case by case.

What the training cases time (ReLU nets, SGD with lr 0.1 everywhere; every competitor starts from the same initial
parameters and, where it draws batches, the same batches; float32 references are the book's nets given float32
copies of fastnn's parameters, see fastnn.bench.nets_pair):

* ``train_step``, ``train_step_digits``, ``train_step_deep``: ``net.gradient(x, t)`` + ``SGD.update(net.params,
  grads)`` on one fixed batch of pixel-like rows, for TwoLayerNet(784, hidden, 10), TwoLayerNet(64, hidden, 10)
  and MultiLayerNet(784, [hidden] * 5, 10); ``STEP_ROWS`` is the step table (``--steps``). ``train_step_book``
  adds the first book's Trainer step's ``net.loss(x, t)`` after the update.
* ``epoch_<data>``: one epoch of the first book's ``Trainer``: a fresh ``Trainer(epochs=1,
  evaluate_sample_num_per_epoch=100, verbose=False)`` and its ``train()``, as the book's scripts and ``fastnn
  train`` call it: ``int(n_train / batch)`` iterations (batch drawn with ``np.random.choice``, gradient, update,
  loss after the update, and the book's one evaluation, at the first step, on 100 train and 100 test rows), then the
  final test accuracy over the whole test set. fastnn's Trainer runs with its defaults (``check_finite=True``: one
  parameter copy per step). The digits case also runs at batch 32, ``fastnn train``'s default.
* ``epoch_<data>_no_after_loss``: the same epoch without the after-update forward pass: fastnn's
  ``Trainer(loss_after_update=False)`` records the loss of the pass that made the gradient; the reference runs that
  loop in the book's idiom (``book_loop``, which the PyTorch column runs too).

A case of fastnn.bench keeps fastnn.bench's definition (so an older fastnn's case runs as that commit defined it).
"""
import functools
import importlib.util
import os

import numpy as np

from fastnn import bench, datasets, gradient, nets, reference, trainer
from fastnn._constants import CE_DELTA
from fastnn._jit import CACHE
from fastnn.kernels import affine as affine_kernels
from fastnn.kernels import softmax as softmax_kernels
from fastnn.reference import functions as ref_functions
from fastnn.reference import nets as ref_nets
from fastnn.reference import optimizer as ref_optimizer
from fastnn.reference import trainer as ref_trainer

EXTRA = {}  # the cases fastnn.bench does not have


def case(name, what, shapes=bench.FUSED_SHAPES, **options):
    """A decorator that registers ``make(batch, width, dtype)`` as the comparison's case ``name`` (``options``: the
    other fastnn.bench.Case fields) and returns make unchanged."""
    def register(make):
        EXTRA[name] = bench.Case(name, what, tuple(shapes), make, **options)
        return make
    return register


# --- layer kernels ---------------------------------------------------------------------------------------------
def affine_data(batch, width, dtype):
    """[x (batch, width), W (width, width), b (width,), dout (batch, width)]: random normal, W scaled by 0.1."""
    rng = np.random.default_rng(bench.SEED)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in
              ((batch, width), (width, width), (width,), (batch, width))]
    arrays[1] *= 0.1
    return arrays


@case("softmax_ce_fwd_bwd", "SoftmaxWithLoss forward+backward: fused kernels into preallocated y, dx vs the "
      "book's softmax, cross_entropy_error, (y - t) / N; x (batch, width), integer labels t")
def _softmax_ce_fwd_bwd(batch, width, dtype):
    x, t = bench.scores(batch, width, dtype)
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


@case("affine_forward", "x @ W + b into a preallocated out; x (batch, width), W (width, width)")
def _affine_forward(batch, width, dtype):
    x, W, b, _ = affine_data(batch, width, dtype)
    out = np.empty((batch, width), dtype=dtype)

    def fast():
        affine_kernels.affine_forward(x, W, b, out)
        return out
    return fast, (lambda: reference.affine_forward(x, W, b))


@case("affine_backward", "dx, dW, db into preallocated arrays; x, dout (batch, width), W (width, width)")
def _affine_backward(batch, width, dtype):
    x, W, _, dout = affine_data(batch, width, dtype)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty(width, dtype=dtype)

    def fast():
        affine_kernels.affine_backward_params(x, dout, dW, db)
        affine_kernels.affine_backward_input(dout, W, dx)
        return dx, dW, db
    return fast, (lambda: reference.affine_backward(x, W, dout))


def function_2(x):
    """The book's function_2: the sum of squares of x, the f of the numerical-gradient case."""
    return np.sum(x ** 2)


@functools.cache
def jitted_function_2():
    """function_2 as a user would jit it: plain numba.njit (on first use, so importing compiles nothing), cached
    on disk (unless FASTNN_CACHE=0) so that each benchmark process does not compile it again."""
    import numba
    return numba.njit(function_2, cache=CACHE)


@case("numerical_gradient", "numerical_gradient(f, x) of a jitted f = sum(x**2) (the same f for both), "
      "x (batch, width)", shapes=((1, 10), (10, 10), (10, 100)))
def _numerical_gradient(batch, width, dtype):
    f = jitted_function_2()
    x = np.random.default_rng(bench.SEED).standard_normal((batch, width)).astype(dtype)
    return (lambda: gradient.numerical_gradient(f, x)), (lambda: reference.numerical_gradient(f, x))


# --- networks --------------------------------------------------------------------------------------------------
PREDICT_SHAPES = ((10000, 100), (100000, 100))


@case("predict", "TwoLayerNet(784, hidden, 10).predict(x), x (rows, 784) in [0, 1); torch: the same Sequential "
      "under inference_mode; shape rows x hidden", shapes=PREDICT_SHAPES)
def _predict(rows, width, dtype, input_size=bench.PIXELS):
    x, _ = bench.pixels(rows, input_size, dtype)
    fast_net, ref_net = bench.nets_pair(input_size, width, dtype)
    return (lambda: fast_net.predict(x)), (lambda: ref_net.predict(x))


@case("accuracy", "TwoLayerNet(784, hidden, 10).accuracy(x, t) (predict, argmax, compare; fastnn in chunks of "
      "8192 rows), x (rows, 784); shape rows x hidden", shapes=PREDICT_SHAPES,
      pure=False)  # float32 rounding may flip a near-tie argmax: the tests allow for it
def _accuracy(rows, width, dtype, input_size=bench.PIXELS):
    x, t = bench.pixels(rows, input_size, dtype)
    fast_net, ref_net = bench.nets_pair(input_size, width, dtype)
    return (lambda: fast_net.accuracy(x, t)), (lambda: ref_net.accuracy(x, t))


NETGRAD_REFERENCE_ELEMENTS = 200  # elements of W1 the reference's numerical gradient is timed on
CH4_ITERATIONS = 10_000  # chapter 4's training script: iters_num
CH4_LR = 0.1


def book_gradient_on_w1_slice(ref_net, x, t, elements=NETGRAD_REFERENCE_ELEMENTS):
    """A callable returning the book's numerical gradient over the first ``elements`` elements of W1 (every
    parameter costs the book two full forward passes, so the slice's time scales to all parameters): its ``scale``
    attribute is all parameters / the slice, and its ``note`` says so."""
    k = min(elements, ref_net.params["W1"].size)
    w1_slice = ref_net.params["W1"].reshape(-1)[:k]  # a view: the book's loop perturbs the net's own W1

    def ref():
        return ref_functions.numerical_gradient(lambda W: ref_net.loss(x, t), w1_slice)
    total = sum(p.size for p in ref_net.params.values())
    ref.scale = total / k
    ref.note = f"reference timed on {k} of {total} parameters and scaled by {total / k:.1f}"
    return ref


def _numerical_gradient_net(batch, width, dtype, input_size=bench.PIXELS):
    from fastnn import netgrad

    x, t = bench.pixels(batch, input_size, dtype)
    fast_net, ref_net = bench.nets_pair(input_size, width, dtype)
    return (lambda: netgrad.numerical_gradient(fast_net, x, t)), book_gradient_on_w1_slice(ref_net, x, t)


def chapter4_pair(input_size, width, dtype):
    """(fastnn, reference) TwoLayerNetCh4(input_size, width, 10) (sigmoid) with the same initial parameters."""
    np.random.seed(bench.SEED)
    fast_net = nets.TwoLayerNetCh4(input_size, width, bench.N_CLASSES, dtype=dtype)
    ref_net = ref_nets.TwoLayerNetCh4(input_size, width, bench.N_CLASSES)
    bench.adopt_params(ref_net, {key: array.copy() for key, array in fast_net.params.items()})
    return fast_net, ref_net


def chapter4_iteration(net, x, t):
    """A callable running one iteration of chapter 4's training script, net.numerical_gradient(x, t) then the SGD
    update, and returning the gradient; ``iterations``: the script's number of iterations."""
    def fast():
        grad = net.numerical_gradient(x, t)
        for key in bench.param_keys(net):
            net.params[key] -= CH4_LR * grad[key]
        return grad
    fast.iterations = CH4_ITERATIONS
    return fast


def _numerical_gradient_training(batch, width, dtype, input_size=bench.PIXELS):
    """Chapter 4's iteration on a one-hot batch. The reference's iteration is its numerical gradient (the update is
    ~1e-6 of it), timed on a slice of W1 and scaled; ``iterations`` asks for the projection to the whole run."""
    x, labels = bench.pixels(batch, input_size, dtype)
    t = np.eye(bench.N_CLASSES, dtype=dtype)[labels]
    fast_net, ref_net = chapter4_pair(input_size, width, dtype)
    return chapter4_iteration(fast_net, x, t), book_gradient_on_w1_slice(ref_net, x, t)


# fastnn.netgrad is younger than the suite: the cases exist where the module does.
if importlib.util.find_spec("fastnn.netgrad") is not None:
    case("numerical_gradient_net", "fastnn.netgrad.numerical_gradient(net, x, t) vs the book's "
         "net.numerical_gradient (2 forward passes per parameter) for TwoLayerNet(784, hidden, 10), x (batch, 784); "
         f"the reference is timed on {NETGRAD_REFERENCE_ELEMENTS} elements of W1 and scaled to all parameters; "
         "shape batch x hidden", shapes=((100, 50),), dtypes=("float64",), pure=False)(_numerical_gradient_net)
    case("numerical_gradient_training", "one iteration of chapter 4's training with numerical gradients: "
         "TwoLayerNetCh4(784, hidden, 10) (sigmoid), net.numerical_gradient(x, t) on a one-hot batch and the SGD "
         f"update (lr {CH4_LR}); the reference is its numerical gradient on {NETGRAD_REFERENCE_ELEMENTS} elements "
         f"of W1 scaled to all parameters; the note projects both to the script's {CH4_ITERATIONS} iterations; "
         "shape batch x hidden", shapes=((100, 50),), dtypes=("float64",), pure=False)(_numerical_gradient_training)


# --- training steps --------------------------------------------------------------------------------------------
DEEP = 5  # hidden layers of train_step_deep
DIGITS_PIXELS = 64  # one 8x8 image of the bundled optdigits
STEP_CASES = {"train_step": {}, "train_step_digits": {"input_size": DIGITS_PIXELS}, "train_step_deep": {"depth": DEEP}}
# The step table (--steps; benchmarks/steps.py): row -> (case, batch, hidden)
STEP_ROWS = {"784-50-10 b1": ("train_step", 1, 50), "64-100-10 b32": ("train_step_digits", 32, 100),
             "784-100x5-10 b100": ("train_step_deep", 100, 100), "784-100-10 b100": ("train_step", 100, 100)}
_STEP_WHAT = ("one SGD step: net.gradient(x, t) + SGD(lr=0.1).update(net.params, grads), x: rows of {} "
              "pixel-like values, integer labels; shape batch x hidden")
case("train_step_digits", f"TwoLayerNet(64, hidden, 10), the bundled digits' shape ({_STEP_WHAT.format(64)})",
     shapes=((32, 100),), pure=False)(functools.partial(bench.step_pair, input_size=DIGITS_PIXELS))
case("train_step_deep", f"MultiLayerNet(784, [hidden] * {DEEP}, 10) ({_STEP_WHAT.format(784)})",
     shapes=((100, 100),), pure=False)(functools.partial(bench.step_pair, depth=DEEP))
case("train_step_book", "train_step + the book Trainer's net.loss(x, t) after the update (torch: a no_grad "
     "forward + loss after its step); shape batch x hidden", shapes=bench.STEP_SHAPES[:1],
     pure=False)(functools.partial(bench.step_pair, book=True))


# --- epochs on real data ---------------------------------------------------------------------------------------
EVAL_SAMPLES = 100  # train and test rows the Trainer evaluates at an epoch's first step


@functools.cache
def _dataset(name):
    load = {"digits": datasets.load_digits, "fashion_mnist": datasets.load_fashion_mnist}[name]
    (x, t), (x_test, t_test) = load()
    (x, t), (x_test, t_test) = bench.capped(x, t), bench.capped(x_test, t_test)  # all rows unless a smoke run
    return (x, t.astype(np.intp)), (x_test, t_test.astype(np.intp))


def dataset(name, dtype):
    """((x_train, t_train), (x_test, t_test)): pixels in [0, 1] in ``dtype`` and intp labels (loaded once)."""
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
    """The iterations of one epoch of the book's Trainer: int(max(n_train / batch, 1))."""
    return int(max(n_train / batch, 1))


def trainer_run(trainer_cls, net, data, batch, epochs=1, **options):
    """A callable training ``net`` with a fresh first-book Trainer (``trainer_cls``: fastnn's or the reference's)
    and its ``train()``, as the book's scripts and ``fastnn train`` call it (the iterations, then the final test
    accuracy), from np.random.seed(SEED); it returns the parameters and the last recorded loss."""
    (x, t), (x_test, t_test) = data

    def run():
        np.random.seed(bench.SEED)  # the Trainer draws from np.random: each call and each side draws the same batches
        tr = trainer_cls(net, x, t, x_test, t_test, epochs=epochs, mini_batch_size=batch, optimizer="sgd",
                         optimizer_param={"lr": bench.LR}, evaluate_sample_num_per_epoch=EVAL_SAMPLES, verbose=False,
                         **options)
        tr.train()
        return (*bench.net_params(net), tr.train_loss_list[-1])
    return run


def book_loop(step, accuracy, data, batch, epochs=1):
    """The first book's Trainer loop for code without that Trainer; returns the last step's loss. From
    np.random.seed(SEED), int(epochs * n_train / batch) calls of ``step(mask) -> loss`` on the batches the Trainer
    draws (np.random.choice), ``accuracy(x, t)`` on 100 train and 100 test rows where the Trainer evaluates (at
    each epoch's start) and on the whole test set at the end (train()'s final accuracy)."""
    (x, _), (x_test, t_test) = data
    n, per_epoch = len(x), max(len(x) / batch, 1)
    np.random.seed(bench.SEED)
    for i in range(int(epochs * per_epoch)):
        loss = step(np.random.choice(n, batch))
        if i % per_epoch == 0:
            for xs, ts in data:
                accuracy(xs[:EVAL_SAMPLES], ts[:EVAL_SAMPLES])
    accuracy(x_test, t_test)
    return loss


def _reference_no_after_loss(net, data, batch):
    """fastnn's Trainer(loss_after_update=False) epoch in the book's idiom: the same draws, the same evaluations."""
    (x, t), _ = data
    sgd = ref_optimizer.SGD(lr=bench.LR)

    def step(mask):
        sgd.update(net.params, net.gradient(x[mask], t[mask]))
        return net.lastLayer.loss  # the loss of the forward pass that made the gradient

    return lambda: (*bench.net_params(net), book_loop(step, net.accuracy, data, batch))


def _epoch_pair(batch, width, dtype, name, after_loss):
    data = dataset(name, dtype)
    fast_net, ref_net = bench.nets_pair(data[0][0].shape[1], width, dtype)
    fast = trainer_run(trainer.Trainer, fast_net, data, batch, loss_after_update=after_loss)
    if after_loss:
        return fast, trainer_run(ref_trainer.Trainer, ref_net, data, batch)
    return fast, _reference_no_after_loss(ref_net, data, batch)


def _register_epochs(name, title, n_train, inputs, shapes=((100, 100),)):
    missing = DATASETS[name]
    case(f"epoch_{name}", f"one epoch of the book's Trainer on {title} ({n_train} train rows, int({n_train} / batch) "
         f"steps) with TwoLayerNet({inputs}, hidden, 10), SGD lr 0.1 (see benchmarks/cases.py); shape batch x hidden",
         shapes=shapes, pure=False, missing=missing)(functools.partial(_epoch_pair, name=name, after_loss=True))
    case(f"epoch_{name}_no_after_loss", f"epoch_{name} without the after-update loss: fastnn "
         f"Trainer(loss_after_update=False), the reference's loop, torch on the same batches, sklearn MLPClassifier "
         f"one-epoch fit ({epoch_steps(n_train, 100)} steps); shape batch x hidden", shapes=((100, 100),),
         pure=False, missing=missing)(functools.partial(_epoch_pair, name=name, after_loss=False))


_register_epochs("digits", "the bundled optdigits", 1437, 64, shapes=((32, 100), (100, 100)))  # 32: fastnn train
_register_epochs("fashion_mnist", "Fashion-MNIST", 60000, bench.PIXELS)

CASES = {**bench.CASES, **{name: c for name, c in EXTRA.items() if name not in bench.CASES}}
