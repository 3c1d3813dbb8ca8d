"""Reference convolutional networks in the first book's idiom: chapter 7's ``SimpleConvNet`` and chapter 8's
``DeepConvNet``, layer by layer on the reference layers of this package (fastnn.convnets is written separately).

The same constructor arguments make the same ``np.random`` draws in the same order as the book's code.
``accuracy`` counts every row, including a last partial batch (the book's loop skips the last
``len(x) % batch_size`` rows but still divides by ``len(x)``); for whole batches the two agree.
"""
from collections import OrderedDict

import numpy as np

from .functions import numerical_gradient
from .layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss


def _labels(t):
    return t if t.ndim == 1 else np.argmax(t, axis=1)


def _batched_accuracy(predict, x, t, batch_size):
    """The fraction of rows whose argmax score is the label, computed batch_size rows at a time."""
    t = _labels(t)
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        y = np.argmax(predict(x[start:start + batch_size]), axis=1)
        correct += np.sum(y == t[start:start + batch_size])
    return correct / x.shape[0]


class SimpleConvNet:
    """Chapter 7: conv - relu - pool - affine - relu - affine - softmax."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},  # noqa: B006 (book's)
                 hidden_size=100, output_size=10, weight_init_std=0.01):
        filter_num, filter_size = conv_param["filter_num"], conv_param["filter_size"]
        pad, stride = conv_param["pad"], conv_param["stride"]
        conv_size = (input_dim[1] - filter_size + 2 * pad) // stride + 1
        pool_size = conv_size // 2
        self.params = {}
        self.params["W1"] = weight_init_std * np.random.randn(filter_num, input_dim[0], filter_size, filter_size)
        self.params["b1"] = np.zeros(filter_num)
        self.params["W2"] = weight_init_std * np.random.randn(filter_num * pool_size * pool_size, hidden_size)
        self.params["b2"] = np.zeros(hidden_size)
        self.params["W3"] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params["b3"] = np.zeros(output_size)

        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(self.params["W1"], self.params["b1"], stride, pad)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        """Returns the scores: x passed through the layers in order."""
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        """Returns the softmax cross-entropy of predict(x) against t."""
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x, t, batch_size=100):
        """Returns the fraction of correctly classified rows, predicted batch_size rows at a time."""
        return _batched_accuracy(self.predict, x, t, batch_size)

    def numerical_gradient(self, x, t):
        """Returns a dict W1, b1, ..., b3 of the loss's gradients by central differences."""
        loss_w = lambda w: self.loss(x, t)  # noqa: E731
        return {key: numerical_gradient(loss_w, self.params[key]) for key in self.params}

    def gradient(self, x, t):
        """Runs forward and backward; returns a dict W1, b1, ..., b3 of the layers' own dW and db arrays."""
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i, name in enumerate(("Conv1", "Affine1", "Affine2"), start=1):
            grads["W" + str(i)], grads["b" + str(i)] = self.layers[name].dW, self.layers[name].db
        return grads


DEEP_CONV_PARAMS = ({"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
                    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
                    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1})
DEEP_WEIGHTED_LAYERS = (0, 2, 5, 7, 10, 12, 15, 18)  # indices in ``layers`` of the layers holding W1..W8


class DeepConvNet:
    """Chapter 8: (conv - relu - conv - relu - pool) x 3 - affine - relu - dropout - affine - dropout - softmax,
    He initialisation."""

    def __init__(self, input_dim=(1, 28, 28), conv_param_1=DEEP_CONV_PARAMS[0], conv_param_2=DEEP_CONV_PARAMS[1],
                 conv_param_3=DEEP_CONV_PARAMS[2], conv_param_4=DEEP_CONV_PARAMS[3],
                 conv_param_5=DEEP_CONV_PARAMS[4], conv_param_6=DEEP_CONV_PARAMS[5], hidden_size=50, output_size=10):
        conv_params = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        # fan-in of every weighted layer; the book writes these numbers out for its default shapes
        channels, size = input_dim[0], input_dim[1]
        fan_in = []
        for i, p in enumerate(conv_params):
            fan_in.append(channels * p["filter_size"] ** 2)
            channels = p["filter_num"]
            size = (size + 2 * p["pad"] - p["filter_size"]) // p["stride"] + 1
            if i % 2 == 1:
                size //= 2
        fan_in += [channels * size * size, hidden_size]
        scales = np.sqrt(2.0 / np.array(fan_in))

        self.params = {}
        channels = input_dim[0]
        for i, p in enumerate(conv_params):
            self.params["W" + str(i + 1)] = scales[i] * np.random.randn(p["filter_num"], channels,
                                                                       p["filter_size"], p["filter_size"])
            self.params["b" + str(i + 1)] = np.zeros(p["filter_num"])
            channels = p["filter_num"]
        self.params["W7"] = scales[6] * np.random.randn(fan_in[6], hidden_size)
        self.params["b7"] = np.zeros(hidden_size)
        self.params["W8"] = scales[7] * np.random.randn(hidden_size, output_size)
        self.params["b8"] = np.zeros(output_size)

        self.layers = []
        for i, p in enumerate(conv_params):
            self.layers.append(Convolution(self.params["W" + str(i + 1)], self.params["b" + str(i + 1)],
                                           p["stride"], p["pad"]))
            self.layers.append(Relu())
            if i % 2 == 1:
                self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers += [Affine(self.params["W7"], self.params["b7"]), Relu(), Dropout(0.5),
                        Affine(self.params["W8"], self.params["b8"]), Dropout(0.5)]
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        """Returns the scores; dropout draws its masks only when ``train_flg``."""
        for layer in self.layers:
            x = layer.forward(x, train_flg) if isinstance(layer, Dropout) else layer.forward(x)
        return x

    def loss(self, x, t):
        """Returns the softmax cross-entropy of predict(x, train_flg=True) against t (draws dropout masks)."""
        return self.last_layer.forward(self.predict(x, train_flg=True), t)

    def accuracy(self, x, t, batch_size=100):
        """Returns the fraction of correctly classified rows (dropout off), batch_size rows at a time."""
        return _batched_accuracy(lambda xb: self.predict(xb, train_flg=False), x, t, batch_size)

    def gradient(self, x, t):
        """Runs forward (with dropout) and backward; returns a dict W1, b1, ..., b8 of the layers' dW and db."""
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for i, index in enumerate(DEEP_WEIGHTED_LAYERS, start=1):
            grads["W" + str(i)], grads["b" + str(i)] = self.layers[index].dW, self.layers[index].db
        return grads
