"""The drop-in promise, scenario by scenario: a book script whose imports say ``fastnn`` prints the same numbers
as the same script on the NumPy reference, under the same seed. Each scenario is written once, as the book
writes it, and run against both module sets."""
import re
import types

import numpy as np
import pytest

import fastnn.nets
import fastnn.optimizer
import fastnn.reference.mlp
import fastnn.reference.nets
import fastnn.reference.optimizer
import fastnn.reference.trainer
import fastnn.trainer
from fastnn.datasets import load_digits, load_spiral
from fastnn.mlp import NeuralNetMLP

FASTNN = types.SimpleNamespace(TwoLayerNet=fastnn.nets.TwoLayerNet, TwoLayerNetBook2=fastnn.nets.TwoLayerNetBook2,
                               MultiLayerNet=fastnn.nets.MultiLayerNet, SGD=fastnn.optimizer.SGD,
                               Trainer=fastnn.trainer.Trainer, Trainer2=fastnn.trainer.Trainer,
                               NeuralNetMLP=NeuralNetMLP)
REFERENCE = types.SimpleNamespace(TwoLayerNet=fastnn.reference.nets.TwoLayerNet,
                                  TwoLayerNetBook2=fastnn.reference.nets.TwoLayerNetBook2,
                                  MultiLayerNet=fastnn.reference.nets.MultiLayerNet,
                                  SGD=fastnn.reference.optimizer.SGD, SGD2=fastnn.reference.optimizer.SGD2,
                                  Trainer=fastnn.reference.trainer.Trainer, Trainer2=fastnn.reference.trainer.Trainer2,
                                  NeuralNetMLP=fastnn.reference.mlp.NeuralNetMLP)
NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?|-?\d+")


def book1_chapter5_train_neuralnet(m):
    """Chapter 5's train_neuralnet.py (digits instead of MNIST): a hand-written SGD loop on TwoLayerNet that
    updates ``network.params[key]`` in place and relies on the layers seeing it."""
    (x_train, t_train), (x_test, t_test) = load_digits(one_hot_label=True)
    np.random.seed(0)
    network = m.TwoLayerNet(input_size=64, hidden_size=50, output_size=10)
    iters_num, train_size, batch_size, learning_rate = 300, x_train.shape[0], 100, 0.1
    iter_per_epoch = max(train_size / batch_size, 1)
    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        grad = network.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]
        loss = network.loss(x_batch, t_batch)
        if i % 50 == 0:
            print("loss", loss)
        if i % int(iter_per_epoch) == 0:
            print(network.accuracy(x_train, t_train), network.accuracy(x_test, t_test))


def book1_trainer(m):
    """Chapter 6-style experiment: MultiLayerNet trained by the book's Trainer, verbose."""
    (x_train, t_train), (x_test, t_test) = load_digits()
    x_train, t_train = x_train[:400], t_train[:400]
    np.random.seed(1)
    network = m.MultiLayerNet(64, [40, 30], 10, weight_decay_lambda=0.01)
    trainer = m.Trainer(network, x_train, t_train, x_test, t_test, epochs=3, mini_batch_size=100,
                        optimizer="SGD", optimizer_param={"lr": 0.1}, verbose=True)
    trainer.train()


def book2_chapter1_spiral(m):
    """The second book's ch01/train.py: spiral data, TwoLayerNet, SGD(lr=1.0), Trainer(model, optimizer).fit."""
    x, t = load_spiral()
    model = m.TwoLayerNetBook2(input_size=2, hidden_size=10, output_size=3)
    optimizer = m.SGD2(lr=1.0) if hasattr(m, "SGD2") else m.SGD(lr=1.0)
    trainer = m.Trainer2(model, optimizer)
    trainer.fit(x, t, max_epoch=30, batch_size=30, eval_interval=10)
    print(trainer.loss_list)


def raschka_chapter12(m):
    (x_train, y_train), (x_test, y_test) = load_digits()
    nn = m.NeuralNetMLP(n_hidden=30, l2=0.01, epochs=5, eta=0.0005, minibatch_size=20, shuffle=True, seed=1)
    nn.fit(x_train[:1000], y_train[:1000], x_train[1000:], y_train[1000:])
    print(nn.eval_)
    print(np.sum(nn.predict(x_test) == y_test))


def _run(scenario, modules, capsys):
    scenario(modules)
    captured = capsys.readouterr()
    text = re.sub(r"time \d+\[s\]", "time _[s]", captured.out)  # wall-clock time is not a result
    return text


@pytest.mark.parametrize("scenario", [book1_chapter5_train_neuralnet, book1_trainer, book2_chapter1_spiral,
                                      raschka_chapter12])
def test_book_script_prints_the_same_numbers(scenario, capsys):
    out_fast = _run(scenario, FASTNN, capsys)
    out_ref = _run(scenario, REFERENCE, capsys)
    assert NUMBER.sub("#", out_fast) == NUMBER.sub("#", out_ref)  # same lines, same words
    fast = np.array([float(v) for v in NUMBER.findall(out_fast)])
    ref = np.array([float(v) for v in NUMBER.findall(out_ref)])
    assert len(fast) > 5
    # printed with str(): the last digit may differ by rounding
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12)
