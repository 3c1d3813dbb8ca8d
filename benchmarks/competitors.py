"""The competitors' side of the comparison (python -m benchmarks.compare): PyTorch CPU, JAX jit and scikit-learn,
each optional (never a fastnn dependency: without the library its column is left out), and the "products" bound.

For a case name, ``TORCH``, ``JAX``, ``SKLEARN`` and ``PRODUCTS`` map to ``make(batch, width, dtype) -> fn``, a
zero-argument callable doing the case's work in that library; only called when the library imports. Every adapter
starts from fastnn's initial parameters (benchmarks.cases / fastnn.bench.nets_pair) and, where batches are drawn,
the same batches; tests/test_bench.py holds each to the reference's results.

* PyTorch: the same network as ``nn.Sequential(Linear, ReLU, ..., Linear)``, ``CrossEntropyLoss`` (mean over the
  batch, as the book's SoftmaxWithLoss) and ``optim.SGD``, eager.
* JAX: one ``jax.jit`` function per step (forward, backward, SGD update; parameters in, new parameters out). Its
  gradient is that of the stable form, log_softmax, which is exactly the book's backward (y - t) / N; the loss it
  returns is the book's, -mean(log(y[t] + 1e-7)), from the same forward pass. float64 needs JAX's 64-bit mode:
  build and call a float64 step inside ``jax_x64(jax, dtype)``, which leaves float32 steps in JAX's default mode.
* scikit-learn: ``MLPClassifier(hidden_layer_sizes=(hidden,), solver='sgd', batch_size=batch, momentum=0, alpha=0,
  learning_rate_init=0.1, max_iter=1, shuffle=True)`` for one epoch of the same number of steps (its own
  initialisation and shuffling).
* products: the step's two large matrix products alone with NumPy's BLAS, the floor of any implementation.
* The convolutional steps (chapters 7 and 8): the book's SimpleConvNet/DeepConvNet as ``nn.Sequential`` (Conv2d,
  MaxPool2d, Linear, Dropout) with ``optim.Adam(lr=0.001)``, and as one jitted JAX step (``conv_general_dilated``,
  ``reduce_window``, the book's Adam update).
"""
import functools
import os
import warnings

import numpy as np

from fastnn import bench, reference
from fastnn._constants import CE_DELTA

from . import cases

TORCH, JAX, SKLEARN, PRODUCTS = {}, {}, {}, {}


def adapter(registry, *names, **options):
    """A decorator that registers ``make`` for these case names in ``registry`` (``options``: keyword arguments
    bound into make) and returns make unchanged."""
    def register(make):
        for name in names:
            registry[name] = functools.partial(make, **options) if options else make
        return make
    return register


# --- the libraries, when installed -------------------------------------------------------------------------------
def torch_module():
    """torch, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def sklearn_module():
    """sklearn (with sklearn.neural_network loaded), or None when it is not installed."""
    try:
        import sklearn
        import sklearn.neural_network  # noqa: F401
    except ImportError:
        return None
    return sklearn


def jax_module(threads=1):
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


def torch_thread_counts():
    """The torch thread counts a torch figure is the better of: (1, 2), or (1,) on one core."""
    return (1, 2) if (os.cpu_count() or 1) >= 2 else (1,)


# --- PyTorch ---------------------------------------------------------------------------------------------------
def _tensors(*arrays):
    import torch
    return [torch.from_numpy(a) for a in arrays]


def torch_model(net):
    """nn.Sequential(Linear, ReLU, ..., Linear) holding a copy of a net's parameters (torch keeps a Linear's weight
    as (out, in), the transpose of the book's W)."""
    import torch
    params = bench.net_params(net)
    modules = []
    for W, b in zip(params[::2], params[1::2]):
        linear = torch.nn.Linear(*W.shape, dtype=getattr(torch, W.dtype.name))
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T))
            linear.bias.copy_(torch.from_numpy(b))
        modules += [linear, torch.nn.ReLU()]
    return torch.nn.Sequential(*modules[:-1])


def torch_params(model):
    """A torch_model's (W1, b1, W2, b2, ...) in the book's layout (views, no copies)."""
    return tuple(p.detach() for m in model if hasattr(m, "weight") for p in (m.weight.T, m.bias))


def torch_sgd(model):
    """(step(x, t) -> loss of the forward pass, loss_fn): one SGD step: zero the gradients, forward, loss, backward,
    update."""
    import torch
    sgd = torch.optim.SGD(model.parameters(), lr=bench.LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, t):
        sgd.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        sgd.step()
        return loss
    return step, loss_fn


def torch_accuracy(model, x, t):
    """The model's accuracy on (x, t), a float."""
    import torch
    with torch.no_grad():
        return (model(x).argmax(dim=1) == t).double().mean().item()


def _elementwise(batch, width, dtype, name):
    import torch
    (x,) = _tensors(bench.scores(batch, width, dtype)[0])
    op = getattr(torch, name)
    return lambda: op(x)


for _name in ("sigmoid", "relu"):
    adapter(TORCH, _name, name=_name)(_elementwise)


@adapter(TORCH, "softmax")
def _softmax(batch, width, dtype):
    import torch
    (x,) = _tensors(bench.scores(batch, width, dtype)[0])
    return lambda: torch.softmax(x, dim=-1)


@adapter(TORCH, "cross_entropy_error")
def _cross_entropy(batch, width, dtype):
    import torch
    x, t = bench.scores(batch, width, dtype)
    y, t = _tensors(reference.softmax(x), t)
    rows = torch.arange(batch)
    return lambda: -torch.log(y[rows, t] + CE_DELTA).mean()


@adapter(TORCH, "softmax_loss")
def _softmax_loss(batch, width, dtype):
    import torch.nn.functional as F
    x, t = _tensors(*bench.scores(batch, width, dtype))
    return lambda: F.cross_entropy(x, t)


@adapter(TORCH, "softmax_ce_fwd_bwd")
def _softmax_ce_fwd_bwd(batch, width, dtype):
    import torch
    import torch.nn.functional as F
    x, t = _tensors(*bench.scores(batch, width, dtype))
    x.requires_grad_(True)

    def run():
        loss = F.cross_entropy(x, t)
        (dx,) = torch.autograd.grad(loss, x)
        return loss, dx
    return run


@adapter(TORCH, "affine_forward")
def _affine_forward(batch, width, dtype):
    import torch
    x, W, b, _ = _tensors(*cases.affine_data(batch, width, dtype))
    return lambda: torch.addmm(b, x, W)


@adapter(TORCH, "affine_backward")
def _affine_backward(batch, width, dtype):
    x, W, _, dout = _tensors(*cases.affine_data(batch, width, dtype))
    return lambda: (dout @ W.T, x.T @ dout, dout.sum(0))


@adapter(TORCH, "predict")
def _predict(rows, width, dtype, input_size=bench.PIXELS):
    import torch
    x, _ = bench.pixels(rows, input_size, dtype)
    model, x = torch_model(bench.nets_pair(input_size, width, dtype)[0]), torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return model(x)
    return run


@adapter(TORCH, "accuracy")
def _accuracy(rows, width, dtype, input_size=bench.PIXELS):
    x, t = _tensors(*bench.pixels(rows, input_size, dtype))
    model = torch_model(bench.nets_pair(input_size, width, dtype)[0])
    return lambda: torch_accuracy(model, x, t)


def _step(batch, width, dtype, input_size=bench.PIXELS, book=False, depth=1):
    """The step of the step cases (the book's loss after the update too, when ``book``); each call returns the
    parameters (after that loss)."""
    import torch
    x, t = _tensors(*bench.pixels(batch, input_size, dtype))
    model = torch_model(bench.nets_pair(input_size, width, dtype, depth)[0])
    step, loss_fn = torch_sgd(model)

    def run():
        step(x, t)
        if book:
            with torch.no_grad():
                return (loss_fn(model(x), t), *torch_params(model))
        return torch_params(model)
    return run


for _name, _options in cases.STEP_CASES.items():
    adapter(TORCH, _name, **_options)(_step)
adapter(TORCH, "train_step_book", book=True)(_step)


def torch_trainer(model, data, batch):
    """A function ``train(epochs=1) -> the last step's loss`` that trains a torch_model on ``data`` (NumPy arrays,
    as cases.dataset returns them) as the first book's Trainer trains a net: cases.book_loop, so the same batches
    and evaluations."""
    import torch
    tensors = tuple(tuple(_tensors(*pair)) for pair in data)
    (x, t), _ = tensors
    step, _ = torch_sgd(model)

    def train_step(mask):
        mask = torch.from_numpy(mask)
        return step(x[mask], t[mask]).item()

    def train(epochs=1):
        return cases.book_loop(train_step, functools.partial(torch_accuracy, model), tensors, batch, epochs)
    return train


def _epoch(batch, width, dtype, name):
    """The no-after-loss epoch: the same initial parameters, batches and evaluations; returns (*params, loss)."""
    data = cases.dataset(name, dtype)
    model = torch_model(bench.nets_pair(data[0][0].shape[1], width, dtype)[0])
    train = torch_trainer(model, data, batch)
    return lambda: (*torch_params(model), train())


# --- JAX -------------------------------------------------------------------------------------------------------
def jax_x64(jax, dtype):
    """The context a JAX step of ``dtype`` is built and called in: 64-bit types on for float64 only."""
    return jax.enable_x64(np.dtype(dtype) == np.float64)


@functools.cache
def jax_sgd_step():
    """The jitted step: jit(step)(params, x, t) -> (loss, new params); params: the tuple (W1, b1, W2, b2, ...)."""
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
        return loss, tuple(p - bench.LR * g for p, g in zip(params, grads))
    return jax.jit(step, donate_argnums=0)  # the old parameters' buffers may hold the new ones


def _jax_step(batch, width, dtype, input_size=bench.PIXELS, depth=1):
    """The step on one fixed batch from fastnn's initial parameters; each call returns (loss, W1, b1, ...)."""
    import jax
    import jax.numpy as jnp
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        raise RuntimeError("a float64 JAX step must be built and called inside "
                           "benchmarks.competitors.jax_x64(jax, dtype)")
    x, t = bench.pixels(batch, input_size, dtype)
    x, t = jnp.asarray(x), jnp.asarray(t.astype(np.int32))
    state = [tuple(jnp.array(p) for p in bench.net_params(bench.nets_pair(input_size, width, dtype, depth)[0]))]
    step = jax_sgd_step()

    def run():
        loss, state[0] = step(state[0], x, t)
        return jax.block_until_ready((loss, *state[0]))
    return run


for _name, _options in cases.STEP_CASES.items():
    adapter(JAX, _name, **_options)(_jax_step)


# --- scikit-learn ----------------------------------------------------------------------------------------------
def sklearn_mlp(width, batch, epochs):
    """An unfitted MLPClassifier configured as the book's TwoLayerNet with plain SGD."""
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=(width,), solver="sgd", batch_size=batch, momentum=0, alpha=0,
                         learning_rate_init=bench.LR, max_iter=epochs, shuffle=True, random_state=bench.SEED)


def sklearn_fit(clf, x, t):
    """clf.fit(x, t) (the fitted clf) without the ConvergenceWarning that a fixed, small max_iter always raises."""
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, t)


def _sklearn_epoch(batch, width, dtype, name):
    (x, t), _ = cases.dataset(name, dtype)
    rows = cases.epoch_steps(len(x), batch) * batch  # the Trainer epoch's number of steps
    x, t = x[:rows], t[:rows]
    return lambda: sklearn_fit(sklearn_mlp(width, batch, epochs=1), x, t)


for _name in cases.DATASETS:
    adapter(TORCH, f"epoch_{_name}_no_after_loss", name=_name)(_epoch)
    adapter(SKLEARN, f"epoch_{_name}_no_after_loss", name=_name)(_sklearn_epoch)


# --- the convolutional networks (chapters 7 and 8): Adam(lr=0.001) steps on one fixed batch of 28x28 images -----
def _conv_layout(kind):
    """The book's layer sequence of SimpleConvNet/DeepConvNet as (op, options) pairs shared by both adapters:
    ("conv", (stride, pad)), ("relu", None), ("pool", None), ("affine", None), ("dropout", None)."""
    if kind == "simple":
        return [("conv", (1, 0)), ("relu", None), ("pool", None), ("affine", None), ("relu", None),
                ("affine", None)]
    layout = []
    for i, pad in enumerate((1, 1, 1, 2, 1, 1)):
        layout += [("conv", (1, pad)), ("relu", None)] + ([("pool", None)] if i % 2 else [])
    return layout + [("affine", None), ("relu", None), ("dropout", None), ("affine", None), ("dropout", None)]


def _torch_convnet(kind, params):
    """nn.Sequential of the book's convnet holding copies of the (W1, b1, ...) arrays (Linear weights
    transposed); dropout is torch's (inverted, the same work)."""
    import torch
    nn = torch.nn
    params, modules, flat = list(params), [], False
    for op, options in _conv_layout(kind):
        if op in ("conv", "affine"):
            W, b = params.pop(0), params.pop(0)
            if op == "conv":
                m = nn.Conv2d(W.shape[1], W.shape[0], W.shape[2:], stride=options[0], padding=options[1],
                              dtype=getattr(torch, W.dtype.name))
                weight = torch.from_numpy(W)
            else:
                if not flat:
                    modules.append(nn.Flatten())
                    flat = True
                m = nn.Linear(*W.shape, dtype=getattr(torch, W.dtype.name))
                weight = torch.from_numpy(W.T.copy())
            with torch.no_grad():
                m.weight.copy_(weight)
                m.bias.copy_(torch.from_numpy(b))
            modules.append(m)
        else:
            modules.append({"relu": nn.ReLU, "pool": lambda: nn.MaxPool2d(2, 2),
                            "dropout": lambda: nn.Dropout(0.5)}[op]())
    return nn.Sequential(*modules)


def _torch_convnet_step(batch, hidden, dtype, kind):
    import torch
    x, t = _tensors(*bench.images(batch, dtype))
    model = _torch_convnet(kind, bench.net_params(bench.convnet_pair(kind, hidden, dtype)[0]))
    adam = torch.optim.Adam(model.parameters(), lr=bench.CONV_LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        adam.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        adam.step()
        return loss
    return run


@functools.cache
def jax_convnet_step(kind):
    """The jitted Adam step of the book's convnet: step(params, m, v, it, x, t, key) -> (loss, params, m, v)."""
    import jax
    import jax.numpy as jnp
    layout = _conv_layout(kind)

    def scores(params, x, key):
        params, h = list(params), x
        for op, options in layout:
            if op == "conv":
                W, b = params.pop(0), params.pop(0)
                pad = options[1]
                h = jax.lax.conv_general_dilated(h, W, (options[0],) * 2, [(pad, pad)] * 2,
                                                 dimension_numbers=("NCHW", "OIHW", "NCHW")) + b[None, :, None, None]
            elif op == "affine":
                W, b = params.pop(0), params.pop(0)
                h = h.reshape(h.shape[0], -1) @ W + b
            elif op == "relu":
                h = jax.nn.relu(h)
            elif op == "pool":
                h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            else:
                key, sub = jax.random.split(key)
                h = h * (jax.random.uniform(sub, h.shape) > 0.5)
        return h

    def loss(params, x, t, key):
        picked = jnp.take_along_axis(jax.nn.log_softmax(scores(params, x, key)), t[:, None], axis=1)
        return -jnp.mean(picked)

    def step(params, m, v, it, x, t, key):
        value, grads = jax.value_and_grad(loss)(params, x, t, key)
        beta1, beta2 = 0.9, 0.999
        lr_t = bench.CONV_LR * jnp.sqrt(1 - beta2 ** it) / (1 - beta1 ** it)  # the book's Adam
        m = tuple(mi + (1 - beta1) * (g - mi) for mi, g in zip(m, grads))
        v = tuple(vi + (1 - beta2) * (g ** 2 - vi) for vi, g in zip(v, grads))
        params = tuple(p - lr_t * mi / (jnp.sqrt(vi) + 1e-7) for p, mi, vi in zip(params, m, v))
        return value, params, m, v
    return jax.jit(step, donate_argnums=(0, 1, 2))


def _jax_convnet_step(batch, hidden, dtype, kind):
    import jax
    import jax.numpy as jnp
    x, t = bench.images(batch, dtype)
    x, t = jnp.asarray(x), jnp.asarray(t.astype(np.int32))
    params = tuple(jnp.array(p) for p in bench.net_params(bench.convnet_pair(kind, hidden, dtype)[0]))
    state = [params, tuple(jnp.zeros_like(p) for p in params), tuple(jnp.zeros_like(p) for p in params), 0]
    step, key = jax_convnet_step(kind), jax.random.PRNGKey(bench.SEED)

    def run():
        state[3] += 1
        loss, state[0], state[1], state[2] = step(state[0], state[1], state[2], state[3], x, t, key)
        return jax.block_until_ready((loss, *state[0]))
    return run


for _kind in ("simple", "deep"):
    adapter(TORCH, f"{_kind}_convnet_step", kind=_kind)(_torch_convnet_step)
    adapter(JAX, f"{_kind}_convnet_step", kind=_kind)(_jax_convnet_step)


# --- the products bound ----------------------------------------------------------------------------------------
@adapter(PRODUCTS, "train_step")
def products(batch, width, dtype, input_size=bench.PIXELS):
    """A callable running the step's two large matrix products with NumPy's BLAS (np.dot: np.matmul skips BLAS at
    batch 1) into preallocated outputs, returning them: x @ W1 (batch x input @ input x hidden) and x.T @ dout
    (input x batch @ batch x hidden), a bound the step cannot go below."""
    x, _ = bench.pixels(batch, input_size, dtype)
    W1 = bench.net_params(bench.nets_pair(input_size, width, dtype)[0])[0]
    dout = np.random.default_rng(bench.SEED).standard_normal((batch, width)).astype(dtype)
    a, dW = np.empty((batch, width), dtype), np.empty((input_size, width), dtype)

    def run():
        np.dot(x, W1, out=a)
        np.dot(x.T, dout, out=dW)
        return a, dW
    return run
