"""fastnn: the from-scratch NumPy neural-network code of "Deep Learning from Scratch" (books 1 and 2) and of
Raschka's "Python Machine Learning" ch. 12, with the same API and results, on Numba-compiled kernels.

Replace ``common`` by ``fastnn`` in the book's import lines (``from fastnn.layers import Affine``,
``from fastnn.trainer import Trainer``, ...). Importing ``fastnn`` compiles nothing and does not import numba:
submodules load on first use, kernels compile on first call (and are cached on disk), and :func:`warmup` compiles
the common signatures up front.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("functions", "gradient", "layers", "optimizer", "trainer", "util", "nets", "multi_layer_net",
               "multi_layer_net_extend", "datasets", "mnist", "io", "reference", "kernels", "bench", "cli", "mlp",
               "threads", "netgrad", "callbacks", "trainer2", "convolution", "convnets", "text", "config", "ptb",
               "negative_sampling_layer", "word2vec", "base_model", "sequence", "time_layers",
               "attention_layer")
# (fastnn.np, the second book's common/np.py, is imported by name only: in __all__, `from fastnn import *` would
# bind that module over the reader's NumPy `np`)

__all__ = ["__version__", "warmup", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from the on-disk cache) the kernels behind the functions, layers, a training step, the
    Trainer's fused loop, the convolutional layers and the second book's time layers and attention, for each dtype,
    by running them once on tiny inputs."""
    import numpy as np

    from . import nets

    if isinstance(dtypes, (str, type, np.dtype)):
        dtypes = (dtypes,)
    try:
        dtypes = [nets._dtype(d) for d in dtypes]
    except TypeError as exc:
        raise TypeError(f"dtypes must be a dtype or a sequence of float32/float64 dtypes: {exc}") from None
    state = np.random.get_state()  # the nets and the Trainer draw from np.random: leave the user's stream alone
    try:
        _warm(dtypes)
    finally:
        np.random.set_state(state)


def _warm(dtypes):
    """Run each compiled path once per dtype on tiny inputs."""
    import numpy as np

    from . import _jit  # noqa: F401 - numba loaded first: warmup compiles, so small calls must not run NumPy twins
    from . import functions, layers, nets, optimizer, trainer

    for dtype in dtypes:
        x = np.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4)
        labels = np.array([0, 1, 3])
        for f in (functions.sigmoid, functions.sigmoid_grad, functions.relu, functions.relu_grad,
                  functions.step_function, functions.softmax):
            f(x)
        functions.cross_entropy_error(functions.softmax(x), labels)
        functions.softmax_loss(x, labels)
        functions.sum_squared_error(x, x)
        affine = layers.Affine(np.ones((4, 2), dtype), np.zeros(2, dtype))  # the books' float32 images on float64
        affine.backward(affine.forward(x.astype(np.float32 if dtype == np.float64 else np.float64)))  # weights
        # the engine compiles separately for each set of layer kinds, target form (labels, one-hot rows), with and
        # without weight decay, and for each update rule with state (see kernels/network)
        for activation in ("relu", "sigmoid"):
            net = nets.MultiLayerNet(4, [5], 4, activation=activation, dtype=dtype)
            optimizer.SGD().update(net.params, net.gradient(x, labels))
            net.accuracy(x, labels)
        net.gradient(x, np.eye(4, dtype=dtype)[labels])  # the books' one-hot labels
        decay_net = nets.MultiLayerNet(4, [5], 4, weight_decay_lambda=0.1, dtype=dtype)
        optimizer.SGD().update(decay_net.params, decay_net.gradient(x, labels))
        bn_net = nets.MultiLayerNetExtend(4, [5], 4, use_batchnorm=True, dtype=dtype)
        for rule in (optimizer.Momentum(), optimizer.Adam()):
            rule.update(bn_net.params, bn_net.gradient(x, labels))
        bn_net.accuracy(x, labels)
        trainer.Trainer(net, x, labels, x, labels, epochs=1, mini_batch_size=3, verbose=False).train()
        # chapter 7's net on 26x26 images: 24x24 convolution planes take the direct-loop paths too
        images = np.linspace(0, 1, 3 * 26 * 26, dtype=dtype).reshape(3, 1, 26, 26)
        convnet = nets.SimpleConvNet((1, 26, 26), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
                                     hidden_size=3, output_size=4, dtype=dtype)
        optimizer.Adam().update(convnet.params, convnet.gradient(images, labels))
        convnet.accuracy(images, labels)
        _warm_recurrent(dtype)


def _warm_recurrent(dtype):
    """The second book's chapters 5-8: each Time layer's forward and backward, and attention, once."""
    import numpy as np

    from . import attention_layer, nets, time_layers

    ids = np.array([[0, 1, 2], [2, 1, 0]])
    xs = time_layers.TimeEmbedding(np.ones((3, 2), dtype)).forward(ids)
    for layer, gates in ((time_layers.TimeRNN, 1), (time_layers.TimeLSTM, 4), (time_layers.TimeGRU, 3)):
        rnn = layer(np.ones((2, 3 * gates), dtype), np.ones((3, 3 * gates), dtype), np.zeros(3 * gates, dtype))
        hs = rnn.forward(xs)
        rnn.backward(np.ones_like(hs))
    scores = time_layers.TimeAffine(np.ones((3, 3), dtype), np.zeros(3, dtype)).forward(hs)
    loss = time_layers.TimeSoftmaxWithLoss()
    loss.forward(scores, ids)
    loss.backward()
    attention = attention_layer.TimeAttention()
    attention.backward(attention.forward(hs, hs))
    for model in (nets.Seq2seq, nets.PeekySeq2seq, nets.AttentionSeq2seq):  # generate: one compiled call each
        model(3, 2, 3, dtype=dtype).generate(ids[:1], 0, 2)
