"""Reference networks in the books' idiom: chapter 4's simpleNet and two-layer net, chapter 5's layered
TwoLayerNet, ``MultiLayerNet``/``MultiLayerNetExtend`` (first book) and the second book's chapter-1 TwoLayerNet.

Plain book code on the reference layers and functions of this package (fastnn.nets is written separately), so
the two sides share no network code; the same constructor arguments make the same ``np.random`` draws.
"""
from collections import OrderedDict

import numpy as np

from .functions import cross_entropy_error, numerical_gradient, sigmoid, sigmoid_grad, softmax
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss


def _accuracy(y, t, n):
    y = np.argmax(y, axis=1)
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    return np.sum(y == t) / float(n)


class SimpleNet:
    """Chapter 4's 2x3 ``simpleNet``: one weight matrix, softmax + cross-entropy loss."""

    def __init__(self):
        self.W = np.random.randn(2, 3)

    def predict(self, x):
        """Returns the scores x @ W."""
        return np.dot(x, self.W)

    def loss(self, x, t):
        """Returns the cross-entropy loss of softmax(x @ W) against t."""
        z = self.predict(x)
        y = softmax(z)
        return cross_entropy_error(y, t)


class TwoLayerNetCh4:
    """Chapter 4's two-layer net: sigmoid hidden layer, softmax output, one-hot targets."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {}
        self.params["W1"] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

    def predict(self, x):
        """Returns softmax(sigmoid(x @ W1 + b1) @ W2 + b2), the class probabilities, shape (N, output_size)."""
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]
        z1 = sigmoid(np.dot(x, W1) + b1)
        return softmax(np.dot(z1, W2) + b2)

    def loss(self, x, t):
        """Returns the cross-entropy loss of predict(x) against t."""
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x, t):
        """Returns the fraction of rows whose argmax prediction matches the argmax of the one-hot t."""
        y = np.argmax(self.predict(x), axis=1)
        return np.sum(y == np.argmax(t, axis=1)) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        """Returns a dict W1, b1, W2, b2 of the loss's gradients by central differences."""
        loss_W = lambda W: self.loss(x, t)  # noqa: E731 - the book's idiom: W is reached through aliasing
        return {key: numerical_gradient(loss_W, self.params[key]) for key in ("W1", "b1", "W2", "b2")}

    def gradient(self, x, t):
        """Returns a dict W1, b1, W2, b2 of the loss's gradients by hand-written backpropagation (one-hot t)."""
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]
        grads = {}
        batch_num = x.shape[0]
        a1 = np.dot(x, W1) + b1
        z1 = sigmoid(a1)
        y = softmax(np.dot(z1, W2) + b2)
        dy = (y - t) / batch_num
        grads["W2"] = np.dot(z1.T, dy)
        grads["b2"] = np.sum(dy, axis=0)
        dz1 = sigmoid_grad(a1) * np.dot(dy, W2.T)
        grads["W1"] = np.dot(x.T, dz1)
        grads["b1"] = np.sum(dz1, axis=0)
        return grads


class _LayeredNet:
    """predict/accuracy/backward shared by the layered nets of the first book."""

    def predict(self, x):
        """Returns the scores: x passed through the layers in order (lastLayer not included)."""
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def accuracy(self, x, t):
        """Returns the fraction of samples whose argmax score matches t (class indices or one-hot)."""
        return _accuracy(self.predict(x), t, x.shape[0])

    def _backward(self):
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)


class TwoLayerNet(_LayeredNet):
    """Chapter 5's two-layer net: ``layers`` OrderedDict Affine1, Relu1, Affine2 and ``lastLayer``."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {}
        self.params["W1"] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss()

    def loss(self, x, t):
        """Returns the SoftmaxWithLoss loss of predict(x) against t."""
        return self.lastLayer.forward(self.predict(x), t)

    def numerical_gradient(self, x, t):
        """Returns a dict W1, b1, W2, b2 of the loss's gradients by central differences."""
        loss_W = lambda W: self.loss(x, t)  # noqa: E731
        return {key: numerical_gradient(loss_W, self.params[key]) for key in ("W1", "b1", "W2", "b2")}

    def gradient(self, x, t):
        """Runs forward and backward; returns a dict W1, b1, W2, b2 of the Affine layers' own dW and db arrays."""
        self.loss(x, t)
        self._backward()
        return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
                "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db}


class MultiLayerNet(_LayeredNet):
    """The first book's fully connected net: ``Affine{i}``/``Activation_function{i}`` layers, ``last_layer``,
    He ('relu') or Xavier ('sigmoid') initial scale, L2 weight decay in loss and gradient."""

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0):
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden_size_list)
        self.weight_decay_lambda = weight_decay_lambda
        self.params = {}
        self._init_weight(weight_init_std)
        activation_layer = {"sigmoid": Sigmoid, "relu": Relu}
        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self._add_hidden_layers(idx, activation_layer[activation])
        idx = self.hidden_layer_num + 1
        self.layers["Affine" + str(idx)] = Affine(self.params["W" + str(idx)], self.params["b" + str(idx)])
        self.last_layer = SoftmaxWithLoss()

    @property
    def lastLayer(self):  # the chapter-5 spelling, so _LayeredNet serves both
        """The last layer, last_layer under its chapter-5 name."""
        return self.last_layer

    def _add_hidden_layers(self, idx, activation):
        self.layers["Affine" + str(idx)] = Affine(self.params["W" + str(idx)], self.params["b" + str(idx)])
        self.layers["Activation_function" + str(idx)] = activation()

    def _init_weight(self, weight_init_std):
        all_size_list = [self.input_size] + list(self.hidden_size_list) + [self.output_size]
        for idx in range(1, len(all_size_list)):
            scale = weight_init_std
            if str(weight_init_std).lower() in ("relu", "he"):
                scale = np.sqrt(2.0 / all_size_list[idx - 1])
            elif str(weight_init_std).lower() in ("sigmoid", "xavier"):
                scale = np.sqrt(1.0 / all_size_list[idx - 1])
            self.params["W" + str(idx)] = scale * np.random.randn(all_size_list[idx - 1], all_size_list[idx])
            self.params["b" + str(idx)] = np.zeros(all_size_list[idx])

    def _weight_decay(self):
        weight_decay = 0
        for idx in range(1, self.hidden_layer_num + 2):
            W = self.params["W" + str(idx)]
            weight_decay += 0.5 * self.weight_decay_lambda * np.sum(W ** 2)
        return weight_decay

    def loss(self, x, t):
        """Returns the softmax cross-entropy of predict(x) against t plus 0.5 * lambda * sum(W ** 2) over all W."""
        return self.last_layer.forward(self.predict(x), t) + self._weight_decay()

    def _param_keys(self):
        for idx in range(1, self.hidden_layer_num + 2):
            yield "W" + str(idx)
            yield "b" + str(idx)

    def numerical_gradient(self, x, t):
        """Returns a dict W1, b1, ... of the loss's gradients (weight decay included) by central differences."""
        loss_W = lambda W: self.loss(x, t)  # noqa: E731
        return {key: numerical_gradient(loss_W, self.params[key]) for key in self._param_keys()}

    def _affine_grads(self):
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            affine = self.layers["Affine" + str(idx)]
            grads["W" + str(idx)] = affine.dW + self.weight_decay_lambda * affine.W
            grads["b" + str(idx)] = affine.db
        return grads

    def gradient(self, x, t):
        """Runs forward and backward; returns a dict of gradients: dW + lambda * W for each W{i}, db for each b{i}."""
        self.loss(x, t)
        self._backward()
        return self._affine_grads()


class MultiLayerNetExtend(MultiLayerNet):
    """MultiLayerNet with optional Dropout (``dropout_ration``, the book's spelling) and BatchNormalization
    (``gamma{i}``, ``beta{i}`` params) after each hidden Affine; ``train_flg`` selects training behaviour."""

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False):
        self.use_dropout = use_dropout
        self.dropout_ration = dropout_ration
        self.use_batchnorm = use_batchnorm
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std,
                         weight_decay_lambda)

    def _add_hidden_layers(self, idx, activation):
        self.layers["Affine" + str(idx)] = Affine(self.params["W" + str(idx)], self.params["b" + str(idx)])
        if self.use_batchnorm:
            size = self.hidden_size_list[idx - 1]
            self.params["gamma" + str(idx)] = np.ones(size)
            self.params["beta" + str(idx)] = np.zeros(size)
            self.layers["BatchNorm" + str(idx)] = BatchNormalization(self.params["gamma" + str(idx)],
                                                                     self.params["beta" + str(idx)])
        self.layers["Activation_function" + str(idx)] = activation()
        if self.use_dropout:
            self.layers["Dropout" + str(idx)] = Dropout(self.dropout_ration)

    def predict(self, x, train_flg=False):
        """Returns the scores of the layers in order, train_flg given to the Dropout and BatchNorm layers."""
        for key, layer in self.layers.items():
            if "Dropout" in key or "BatchNorm" in key:
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        """Returns the softmax cross-entropy of predict(x, train_flg) against t plus the L2 weight decay."""
        return self.last_layer.forward(self.predict(x, train_flg), t) + self._weight_decay()

    def accuracy(self, X, T):
        """Returns the fraction of samples whose argmax test-mode score matches T (class indices or one-hot)."""
        return _accuracy(self.predict(X, train_flg=False), T, X.shape[0])

    def _param_keys(self):
        for idx in range(1, self.hidden_layer_num + 2):
            yield "W" + str(idx)
            yield "b" + str(idx)
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                yield "gamma" + str(idx)
                yield "beta" + str(idx)

    def numerical_gradient(self, X, T):
        """Returns a dict of the training-mode loss's gradients by central differences: W, b and, with batch norm,
        gamma, beta per layer."""
        loss_W = lambda W: self.loss(X, T, train_flg=True)  # noqa: E731
        return {key: numerical_gradient(loss_W, self.params[key]) for key in self._param_keys()}

    def gradient(self, x, t):
        """Runs a training-mode forward and backward and returns a dict of gradients: W (plus weight decay), b and, with
        batch norm, gamma, beta per layer."""
        self.loss(x, t, train_flg=True)
        self._backward()
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):  # the book's order: W, b, then gamma, beta per layer
            affine = self.layers["Affine" + str(idx)]
            grads["W" + str(idx)] = affine.dW + self.weight_decay_lambda * self.params["W" + str(idx)]
            grads["b" + str(idx)] = affine.db
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                grads["gamma" + str(idx)] = self.layers["BatchNorm" + str(idx)].dgamma
                grads["beta" + str(idx)] = self.layers["BatchNorm" + str(idx)].dbeta
        return grads


class TwoLayerNetBook2:
    """The second book's chapter-1 net: Affine, Sigmoid, Affine + SoftmaxWithLoss, ``params``/``grads`` lists,
    ``forward(x, t)`` returns the loss, ``backward(dout=1)``."""

    def __init__(self, input_size, hidden_size, output_size):
        I, H, O = input_size, hidden_size, output_size
        W1 = 0.01 * np.random.randn(I, H)
        b1 = np.zeros(H)
        W2 = 0.01 * np.random.randn(H, O)
        b2 = np.zeros(O)
        self.layers = [Affine(W1, b1), Sigmoid(), Affine(W2, b2)]
        self.loss_layer = SoftmaxWithLoss()
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads

    def predict(self, x):
        """Returns the scores: x passed through Affine, Sigmoid, Affine."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def forward(self, x, t):
        """Returns the SoftmaxWithLoss loss of predict(x) against t."""
        return self.loss_layer.forward(self.predict(x), t)

    def backward(self, dout=1):
        """Backpropagates dout through all layers, filling grads in place; returns dx, the gradient for x."""
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout
