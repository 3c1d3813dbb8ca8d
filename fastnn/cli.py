"""Command line: ``fastnn train`` (the main job), ``fastnn gradcheck`` (backprop vs numerical gradients),
``fastnn bench`` (side-by-side timings), ``fastnn sweep`` (hyper-parameter search on Dask, fastnn.sweep_cli).

``fastnn train`` trains a MultiLayerNet (or, with ``--model simple-convnet``, chapter 7's SimpleConvNet) with the
book's Trainer on the bundled optdigits set by default, or on an MNIST-format directory (``--data DIR``) or the
Debian-packaged Fashion-MNIST (``--dataset fashion-mnist``), prints per-epoch loss and accuracy with a progress bar,
saves the weights (.npz) and, when matplotlib is installed, a learning-curve PNG.
"""
import argparse
import json
import sys
import time

import numpy as np

from . import sweep_cli

DATASETS = ("digits", "fashion-mnist", "mnist")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
MODELS = ("mlp", "simple-convnet")
SMALL_IMAGE = 16  # images narrower than this (the 8x8 digits) get 3x3 filters by default, others the book's 5x5


def _train_parser(sub):
    p = sub.add_parser("train", help="train a network (default: bundled optdigits digits)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="bundled 'digits', Debian's 'fashion-mnist', or 'mnist' (needs --data or FASTNN_MNIST_DIR)")
    p.add_argument("--data", metavar="DIR", help="an MNIST-format directory of IDX files (MNIST, Fashion-MNIST, "
                                                 "KMNIST); implies the MNIST loader")
    p.add_argument("--model", choices=MODELS, default="mlp",
                   help="'mlp': MultiLayerNet; 'simple-convnet': chapter 7's conv-relu-pool-affine-relu-affine")
    p.add_argument("--hidden", type=int, nargs="+", default=[100], metavar="N",
                   help="hidden layer widths (simple-convnet: one width, its hidden Affine layer)")
    p.add_argument("--filters", type=int, default=30, help="simple-convnet: number of convolution filters")
    p.add_argument("--filter-size", type=int, default=None,
                   help=f"simple-convnet: filter side (default 3 for images under {SMALL_IMAGE} pixels, else 5)")
    p.add_argument("--eval-samples", type=int, default=None, metavar="N",
                   help="evaluate each epoch's accuracies on the first N rows only (default: all)")
    p.add_argument("--activation", choices=("relu", "sigmoid"), default="relu")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay lambda")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--seed", type=int, default=0, help="seeds numpy's global RNG (weights and batches)")
    p.add_argument("--out", default="fastnn-model.npz", help="where to save the trained weights (.npz)")
    p.add_argument("--plot", default="fastnn-learning-curve.png",
                   help="learning-curve PNG (needs matplotlib; skipped with a note when it is missing)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--history-json", metavar="PATH", help="also write the per-epoch history as JSON")


def _load(args):
    from . import datasets

    flatten = args.model == "mlp"  # the convolutional net takes (N, 1, H, W) images
    if args.data:
        return datasets.load_mnist(normalize=True, flatten=flatten, path=args.data), "mnist-format:" + args.data
    if args.dataset == "fashion-mnist":
        return datasets.load_fashion_mnist(normalize=True, flatten=flatten), "fashion-mnist"
    if args.dataset == "mnist":
        return datasets.load_mnist(normalize=True, flatten=flatten), "mnist"
    return datasets.load_digits(normalize=True, flatten=flatten), "digits (bundled optdigits)"


def _network(args, x_train, n_classes):
    """The network --model asks for, and its one-line description."""
    from .convnets import SimpleConvNet
    from .nets import MultiLayerNet

    if args.model == "mlp":
        net = MultiLayerNet(x_train.shape[1], args.hidden, n_classes, activation=args.activation,
                            weight_init_std=args.activation, weight_decay_lambda=args.weight_decay,
                            dtype=args.dtype)
        return net, f"MultiLayerNet({x_train.shape[1]}, {args.hidden}, {n_classes}, activation={args.activation!r})"
    if len(args.hidden) != 1:
        raise SystemExit(f"fastnn train: --model simple-convnet has one hidden layer; got --hidden {args.hidden}")
    if args.weight_decay:
        raise SystemExit("fastnn train: --model simple-convnet has no weight decay (the book's net has none)")
    size = args.filter_size or (3 if x_train.shape[-1] < SMALL_IMAGE else 5)
    conv = {"filter_num": args.filters, "filter_size": size, "pad": 0, "stride": 1}
    net = SimpleConvNet(x_train.shape[1:], conv, args.hidden[0], n_classes, dtype=args.dtype)
    return net, f"SimpleConvNet(input_dim={x_train.shape[1:]}, {args.filters} filters {size}x{size}, " \
                f"hidden {args.hidden[0]}, {n_classes} classes)"


def _whole_batches(x, t, batch_size):
    """The book's Trainer evaluates an epoch when ``iteration % (n / batch_size) == 0``, which never holds again
    when n is not a multiple of the batch size: keep the largest multiple so every epoch is reported."""
    keep = max(len(x) // batch_size, 1) * batch_size
    if keep < len(x):
        print(f"using {keep} of {len(x)} training samples (a multiple of the batch size {batch_size})")
    return x[:keep], t[:keep]


def _plot(trainer, path):
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no learning curve written (pip install 'fastnn[plot]')")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(trainer.history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, trainer.history["train_loss"])
    ax_loss.set(xlabel="epoch", ylabel="mean train loss", title="loss")
    ax_acc.plot(epochs, trainer.history["train_acc"], label="train")
    ax_acc.plot(epochs, trainer.history["test_acc"], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"learning curve: {path}")


def train(args):
    """``fastnn train``: load the data, build the network, train it with the book's Trainer (an epoch line
    per evaluation, a progress bar unless --no-progress), save the weights, history and plot; returns the exit
    status 0."""
    from .callbacks import ProgressBar
    from .trainer import Trainer

    np.random.seed(args.seed)
    ((x_train, t_train), (x_test, t_test)), name = _load(args)
    x_train, x_test = x_train.astype(args.dtype), x_test.astype(args.dtype)
    x_train, t_train = _whole_batches(x_train, t_train, args.batch_size)
    n_classes = int(max(t_train.max(), t_test.max())) + 1
    net, described = _network(args, x_train, n_classes)
    print(f"data: {name}: {len(x_train)} train / {len(x_test)} test samples of shape {x_train.shape[1:]}, "
          f"{n_classes} classes")
    print(f"net: {described}, {args.dtype}; optimizer {args.optimizer} lr {args.lr}, batch {args.batch_size}, "
          f"{args.epochs} epochs")
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=args.batch_size,
                      optimizer=args.optimizer, optimizer_param={"lr": args.lr},
                      evaluate_sample_num_per_epoch=args.eval_samples, verbose=False,
                      callbacks=[_print_epoch] + ([] if args.no_progress else [ProgressBar()]))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    test_acc = net.accuracy(x_test, t_test)
    print(f"final test accuracy {test_acc:.4f} ({seconds:.2f} s training)")
    net.save_params(args.out)
    print(f"weights: {args.out} (load with {type(net).__name__}(...).load_params({args.out!r}))")
    if args.history_json:
        with open(args.history_json, "w") as f:
            json.dump({"test_acc": float(test_acc), "history": trainer.history}, f, default=float)
    if args.plot:
        _plot(trainer, args.plot)
    return 0


def _print_epoch(trainer, epoch, logs):
    print(f"epoch {epoch:3d}  loss {logs['train_loss']:.4f}  train acc {logs['train_acc']:.4f}  "
          f"test acc {logs['test_acc']:.4f}", flush=True)


def _gradcheck_parser(sub):
    p = sub.add_parser("gradcheck", help="compare backprop with numerical gradients on a batch of digits",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--hidden", type=int, nargs="+", default=[50], metavar="N", help="hidden layer widths")
    p.add_argument("--activation", choices=("relu", "sigmoid"), default="relu")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay lambda")
    p.add_argument("--batchnorm", action="store_true", help="MultiLayerNetExtend with batch normalisation")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)


def gradcheck(args):
    """``fastnn gradcheck``: backprop against the compiled numerical gradient on a batch of digits, one line per
    parameter; returns the exit status: 0 when every max |difference| is below 1e-5, else 1."""
    from . import datasets
    from .gradient import gradient_check
    from .nets import MultiLayerNetExtend

    (x_train, t_train), _ = datasets.load_digits()
    x, t = x_train[:args.batch_size].astype(np.float64), t_train[:args.batch_size]
    np.random.seed(args.seed)
    net = MultiLayerNetExtend(x.shape[1], args.hidden, 10, activation=args.activation,
                              weight_init_std=args.activation, weight_decay_lambda=args.weight_decay,
                              use_batchnorm=args.batchnorm)
    print(f"MultiLayerNetExtend(64, {args.hidden}, 10, activation={args.activation!r}, "
          f"weight_decay_lambda={args.weight_decay}, use_batchnorm={args.batchnorm}), batch {len(x)} digits")
    print(f"{'param':>8}  {'mean |diff|':>12}  {'max |diff|':>12}")
    worst = 0.0
    for key, (mean_diff, max_diff) in gradient_check(net, x, t).items():
        print(f"{key:>8}  {mean_diff:12.3e}  {max_diff:12.3e}")
        worst = max(worst, max_diff)
    return 0 if worst < 1e-5 else 1


def main(argv=None):
    """``fastnn train|gradcheck|bench ...``: runs the subcommand; returns its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own parser (fastnn.bench): argparse's REMAINDER would not pass --options on
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _gradcheck_parser(sub)
    sweep_cli.add_parser(sub)
    sub.add_parser("bench", help="timings of fastnn vs its NumPy reference (fastnn bench --help; python -m "
                                 "benchmarks.compare in a checkout adds PyTorch, JAX, scikit-learn)")
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return sweep_cli.main(args)
    return gradcheck(args) if args.command == "gradcheck" else train(args)


if __name__ == "__main__":
    sys.exit(main())
