"""Training on real data: the bundled digits through the CLI's default run, and Fashion-MNIST (required in CI,
where .ci/run installs Debian's dataset-fashion-mnist; elsewhere the test skips when the data is missing)."""
import json
import os

import numpy as np
import pytest

from fastnn import cli, datasets
from fastnn.nets import MultiLayerNet, TwoLayerNet
from fastnn.reference.nets import TwoLayerNet as ReferenceTwoLayerNet
from fastnn.reference.trainer import Trainer as ReferenceTrainer
from fastnn.trainer import Trainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fashion_mnist():
    try:
        return datasets.load_fashion_mnist(normalize=True, flatten=True)
    except FileNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Fashion-MNIST is required in CI: {exc}")
        pytest.skip(str(exc))


def test_cli_default_run_on_bundled_digits(tmp_path, capsys):
    out, history = tmp_path / "model.npz", tmp_path / "history.json"
    assert cli.main(["train", "--no-progress", "--out", str(out), "--plot", "", "--history-json", str(history)]) == 0
    printed = capsys.readouterr().out
    assert "epoch  40" in printed and "final test accuracy" in printed
    result = json.loads(history.read_text())
    assert result["test_acc"] >= 0.95
    # the saved model loads into a fresh network and reproduces the accuracy
    (_, _), (x_test, t_test) = datasets.load_digits()
    net = MultiLayerNet(64, [100], 10)
    net.load_params(out)
    assert net.accuracy(x_test, t_test) == pytest.approx(result["test_acc"])


def _train(net_class, trainer_class, data, seed=0):
    (x_train, t_train), (x_test, t_test) = data
    np.random.seed(seed)
    net = net_class(784, 100, 10)
    trainer = trainer_class(net, x_train, t_train, x_test, t_test, epochs=10, mini_batch_size=100,
                            optimizer="SGD", optimizer_param={"lr": 0.1}, verbose=False)
    trainer.train()
    return net.accuracy(x_test, t_test)


def test_fashion_mnist_two_layer_net_matches_reference(fashion_mnist):
    fast = _train(TwoLayerNet, Trainer, fashion_mnist)
    reference = _train(ReferenceTwoLayerNet, ReferenceTrainer, fashion_mnist)
    assert fast >= 0.85
    assert abs(fast - reference) <= 0.01
