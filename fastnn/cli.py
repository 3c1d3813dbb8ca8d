"""Command line: ``fastnn train`` (the main job), ``fastnn gradcheck`` (backprop vs numerical gradients),
``fastnn bench`` (side-by-side timings), ``fastnn sweep`` (hyper-parameter search on Dask, fastnn.sweep_cli),
``fastnn ptb-format`` (plain text written as the Penn Treebank files the second book reads, fastnn.ptb).

``fastnn train`` trains a MultiLayerNet (or, with ``--model simple-convnet``, chapter 7's SimpleConvNet) with the
book's Trainer on the bundled optdigits set by default, or on an MNIST-format directory (``--data DIR``) or the
Debian-packaged Fashion-MNIST (``--dataset fashion-mnist``), prints per-epoch loss and accuracy with a progress bar,
saves the weights (.npz) and, when matplotlib is installed, a learning-curve image.

Every option and path is checked before anything is loaded or compiled; a mistake is one line
(``fastnn train: error: ...``, exit status 2), never a traceback. Ctrl-C during training saves the weights of the
last finished epoch to ``--out`` and exits with status 130.
"""
import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

from . import __version__, sweep_cli
from ._usage import UsageError
from ._argtypes import whole_number as _whole_number

DESCRIPTION = 'fastnn: the neural networks of "Deep Learning from Scratch" on compiled kernels.'
DATASETS = ("digits", "fashion-mnist", "mnist")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
MODELS = ("mlp", "simple-convnet", "seq2seq", "rnnlm")  # the last two: fastnn.cli_sequence
# per-model defaults: the convolutional net does not learn with the MLP's SGD at 0.1 (test accuracy 0.08 after an
# epoch on the digits); Adam at 0.01 reaches 0.69-0.81 after one epoch and 0.97-0.99 after ten (seeds 0-3)
MODEL_DEFAULTS = {"mlp": {"optimizer": "sgd", "lr": 0.1, "epochs": 40},
                  "simple-convnet": {"optimizer": "adam", "lr": 0.01, "epochs": 10}}
CONVNET_FILTERS = 30
SMALL_IMAGE = 16  # images narrower than this (the 8x8 digits) get 3x3 filters by default, others the book's 5x5
# what a cold numba cache costs, said up front: measured with an empty NUMBA_CACHE_DIR on a 2-core AMD EPYC, numba
# 0.68 (launch to the first epoch line: mlp 5.4-6.0 s, simple-convnet 6.6-8.6 s; gradcheck 14-15 s; warm: 1 s;
# the sequence models' compiling alone, as their final line reports it: seq2seq 8-10 s, rnnlm 6 s)
COMPILE_SECONDS = {"mlp": 6, "simple-convnet": 8, "gradcheck": 15, "seq2seq": 9, "rnnlm": 6}
SEED_MAX = 2 ** 32 - 1  # np.random.seed's range


class _Parser(argparse.ArgumentParser):
    """A subcommand's parser: an unknown option is reported with this subcommand's usage, not the top level's."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error("unrecognized arguments: " + " ".join(extras))
        return namespace, extras


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default once: '(default: X)' is appended unless the help text already says it; flags
    and options whose default is None (their help says what happens) get nothing appended."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "default" in text or not action.option_strings or default is None or default is False \
                or default == argparse.SUPPRESS:
            return text
        shown = " ".join(map(str, action.default)) if isinstance(action.default, list) else "%(default)s"
        return f"{text} (default: {shown})"


# --- option values (argparse types: a bad value is 'argument --lr: ...', exit status 2) --------------------------
def _real_number(positive):
    def convert(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(f"must be a finite number {'> 0' if positive else '>= 0'}; got {text}")
        return value
    return convert


_COUNT = _whole_number(1)
_SEED = _whole_number(0, SEED_MAX)
_POSITIVE = _real_number(positive=True)
_NONNEGATIVE = _real_number(positive=False)


# --- parsers ----------------------------------------------------------------------------------------------------
def _train_parser(sub):
    p = sub.add_parser("train", help="train a network (default: on the bundled 8x8 digits)",
                       description="Train a network with the book's Trainer; Ctrl-C saves the last finished "
                                   "epoch's weights to --out.", formatter_class=_HelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, help="the bundled 8x8 'digits', Debian's 'fashion-mnist' "
                      "(apt-get install dataset-fashion-mnist) or 'mnist' (with --data DIR or FASTNN_MNIST_DIR; "
                      "nothing is downloaded) (default: digits)")
    data.add_argument("--data", metavar="DIR", help="a directory of the 4 MNIST-format IDX files (MNIST, "
                      "Fashion-MNIST, KMNIST), raw or .gz (default: none, the --dataset's files)")
    data.add_argument("--eval-samples", type=_COUNT, metavar="N",
                      help="evaluate each epoch's accuracies on the first N rows only (default: all rows)")
    net = p.add_argument_group("network")
    net.add_argument("--model", choices=MODELS, default="mlp",
                     help="'mlp': MultiLayerNet; 'simple-convnet': chapter 7's conv-relu-pool-affine-relu-affine")
    net.add_argument("--hidden", type=_COUNT, nargs="+", default=[100], metavar="N",
                     help="hidden layer widths (simple-convnet: one width, its hidden Affine layer)")
    net.add_argument("--activation", choices=("relu", "sigmoid"), default="relu",
                     help="hidden-layer activation (simple-convnet: relu only)")
    net.add_argument("--filters", type=_COUNT, metavar="N",
                     help=f"simple-convnet: number of convolution filters (default: {CONVNET_FILTERS})")
    net.add_argument("--filter-size", type=_COUNT, metavar="N", help=f"simple-convnet: filter side (default: 3 on "
                     f"images under {SMALL_IMAGE} pixels, else the book's 5)")
    net.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="floating-point precision")
    fit = p.add_argument_group("training")
    fit.add_argument("--optimizer", choices=OPTIMIZERS, help="the optimizer " + _per_model("optimizer"))
    fit.add_argument("--lr", type=_POSITIVE, help="learning rate " + _per_model("lr"))
    fit.add_argument("--weight-decay", type=_NONNEGATIVE, default=0.0, metavar="LAMBDA",
                     help="L2 weight decay lambda (mlp only)")
    fit.add_argument("--epochs", type=_COUNT, metavar="N", help="passes over the training set " + _per_model("epochs"))
    fit.add_argument("--batch-size", type=_COUNT, default=32, metavar="N", help="mini-batch size")
    fit.add_argument("--seed", type=_SEED, default=0, metavar="N",
                     help="seeds NumPy's global RNG (weights and batches)")
    fit.add_argument("--threads", type=_COUNT, metavar="N", help="BLAS and numba threads for the whole run "
                     "(default: fastnn's policy: one BLAS thread for a training step, the process's setting for "
                     "whole-data-set evaluations)")
    out = p.add_argument_group("output")
    out.add_argument("--out", default="fastnn-model.npz", metavar="FILE.npz", help="where to save the weights")
    out.add_argument("--plot", default="fastnn-learning-curve.png", metavar="FILE",
                     help="learning-curve image, any suffix matplotlib writes (png, pdf, svg...); '' for none")
    out.add_argument("--history-json", metavar="FILE", help="also write the per-epoch history as JSON "
                                                            "(default: none)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar (none either when stderr "
                                                                 "is not a terminal)")


def _per_model(key):
    mlp, conv = MODEL_DEFAULTS["mlp"][key], MODEL_DEFAULTS["simple-convnet"][key]
    return f"(default: {mlp} for mlp, {conv} for simple-convnet)"


def _gradcheck_parser(sub):
    p = sub.add_parser("gradcheck", help="compare backprop with numerical gradients on a batch of digits",
                       description="Backprop against numerical gradients, per parameter, on a batch of the "
                                   "bundled digits (exit status 1 when a difference exceeds 1e-5).",
                       formatter_class=_HelpFormatter)
    p.add_argument("--hidden", type=_COUNT, nargs="+", default=[50], metavar="N", help="hidden layer widths")
    p.add_argument("--activation", choices=("relu", "sigmoid"), default="relu", help="hidden-layer activation")
    p.add_argument("--weight-decay", type=_NONNEGATIVE, default=0.0, metavar="LAMBDA", help="L2 weight decay lambda")
    p.add_argument("--batchnorm", action="store_true", help="MultiLayerNetExtend with batch normalisation")
    p.add_argument("--batch-size", type=_COUNT, default=10, metavar="N", help="digits in the batch")
    p.add_argument("--seed", type=_SEED, default=0, metavar="N", help="seeds NumPy's global RNG (the weights)")


def _fraction(text):
    value = _real_number(positive=False)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1); got {text}")
    return value


def _ptb_parser(sub):
    from .ptb import VOCAB_SIZE

    p = sub.add_parser("ptb-format", help="write a plain text as PTB's ptb.train/valid/test.txt (offline corpus)",
                       description="Write a plain text in the Penn Treebank's format for the second book's "
                                   "chapters 2-8 (fastnn.ptb.write_ptb_format): lower case, punctuation dropped, "
                                   "numbers as N, one sentence a line, the training part's most frequent words "
                                   "kept and the rest <unk>, split in order into train, valid, test. Example: "
                                   "bible -f gen1:1-rev22:21 | fastnn ptb-format - --drop-first-word "
                                   "(Debian's bible-kjv).", formatter_class=_HelpFormatter)
    p.add_argument("text", metavar="TEXT", help="a UTF-8 text file, or - for standard input")
    p.add_argument("--out", default="dataset", metavar="DIR", help="the directory to write ptb.train.txt, "
                   "ptb.valid.txt and ptb.test.txt in (created when missing)")
    p.add_argument("--vocab", type=_whole_number(3), default=VOCAB_SIZE, metavar="N",
                   help="the vocabulary the book's loader sees, <unk> and <eos> included (PTB's)")
    p.add_argument("--valid", type=_fraction, default=0.1, metavar="F",
                   help="the fraction of the sentences for ptb.valid.txt (after the training part)")
    p.add_argument("--test", type=_fraction, default=0.1, metavar="F",
                   help="the fraction of the sentences for ptb.test.txt (the last ones)")
    p.add_argument("--drop-first-word", action="store_true",
                   help="drop each line's first word first (the verse references such as Ge1:1 of bible -f)")
    p.add_argument("--force", action="store_true", help="replace PTB files already in DIR")


def build_parser():
    """The top-level ArgumentParser and {subcommand: its parser}."""
    parser = argparse.ArgumentParser(prog="fastnn", description=DESCRIPTION,
                                     epilog="'fastnn COMMAND --help' shows a command's options.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _train_parser(sub)
    _gradcheck_parser(sub)
    sweep_cli.add_parser(sub)
    _ptb_parser(sub)
    sub.add_parser("bench", help="time fastnn against its NumPy reference ('fastnn bench --help')")
    return parser, dict(sub.choices)


# --- checks before anything is loaded or compiled ---------------------------------------------------------------
def _writable_file(option, path, suffixes=None):
    """Refuses (UsageError) a ``path`` for ``option`` that cannot be written: empty, an existing directory, a
    suffix not among ``suffixes``, or a missing or unwritable directory. Probed with a nameless temporary file, so
    the verdict is the file system's (read-only mounts, root) and no message names a temporary file."""
    if not path:
        raise UsageError(f"{option}: give a file name")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a directory, not a file")
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffixes is not None and suffix not in suffixes:
        wanted = ", ".join("." + s for s in sorted(suffixes))
        raise UsageError(f"{option} {path}: the file name must end in {wanted}; got "
                         f"{'.' + suffix if suffix else 'no suffix'}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path}: directory {directory} does not exist")
    try:
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write in {directory} ({exc.strerror})") from None


def _image_suffixes():
    """The file suffixes matplotlib can save figures in, or None when matplotlib is not installed."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return None
    return set(FigureCanvasBase.get_supported_filetypes())


def _check_outputs(args):
    _writable_file("--out", args.out, {"npz"})
    if args.history_json is not None:
        _writable_file("--history-json", args.history_json)
    if args.plot:
        suffixes = _image_suffixes()
        if suffixes is None:
            print("matplotlib is not installed: no learning curve (pip install matplotlib)", file=sys.stderr)
            args.plot = None
        else:
            _writable_file("--plot", args.plot, suffixes)


def _idx_directory(option, directory):
    """Refuses (UsageError) a ``directory`` for ``option`` that is missing, not a directory or without the 4
    MNIST-format files; returns None."""
    from .datasets import MNIST_FILES

    if not os.path.exists(directory):
        raise UsageError(f"{option} {directory}: no such directory")
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {directory}: not a directory (give the directory that holds the MNIST-format "
                         f"files)")
    missing = [name for name in MNIST_FILES.values()
               if not any(os.path.isfile(os.path.join(directory, name + ext)) for ext in (".gz", ""))]
    if missing:
        raise UsageError(f"{option} {directory}: missing {', '.join(missing)} (each raw or .gz; fastnn never "
                         f"downloads)")


def _fashion_mnist_dir():
    from .datasets import FASHION_MNIST_DIR

    return os.environ.get("FASTNN_FASHION_MNIST_DIR", FASHION_MNIST_DIR)


def _data_source(args):
    """(what to load, where, the option to name in messages): checks --dataset and --data and the directory they
    lead to."""
    if args.data is not None:
        if args.dataset not in (None, "mnist"):
            raise UsageError(f"--data and --dataset {args.dataset}: give one of them")
        _idx_directory("--data", args.data)
        return "mnist-dir", args.data, "--data " + args.data
    dataset = args.dataset or "digits"
    if dataset == "digits":
        return "digits", None, "--dataset digits"
    if dataset == "fashion-mnist":
        directory = _fashion_mnist_dir()
        try:
            _idx_directory("--dataset fashion-mnist:", directory)
        except UsageError as exc:
            raise UsageError(f"{exc}; apt-get install dataset-fashion-mnist, set FASTNN_FASHION_MNIST_DIR or give "
                             f"--data DIR") from None
        return "fashion-mnist", directory, "--dataset fashion-mnist"
    directory = os.environ.get("FASTNN_MNIST_DIR")
    if directory is None:
        offered = "digits (bundled)" + (", fashion-mnist" if _has_fashion_mnist() else "")
        raise UsageError(f"--dataset mnist: fastnn never downloads MNIST; give its directory with --data DIR or "
                         f"FASTNN_MNIST_DIR (offered here without files: {offered})")
    _idx_directory("--dataset mnist: FASTNN_MNIST_DIR", directory)
    return "mnist-dir", directory, "--dataset mnist (FASTNN_MNIST_DIR)"


def _has_fashion_mnist():
    try:
        _idx_directory("", _fashion_mnist_dir())
    except UsageError:
        return False
    return True


def _check_model_options(args):
    """Refuses (UsageError) options the chosen model cannot honour and fills in the per-model defaults."""
    convnet = args.model == "simple-convnet"
    if convnet:
        if len(args.hidden) != 1:
            raise UsageError(f"--hidden: --model simple-convnet has one hidden layer; got {len(args.hidden)} "
                             f"widths")
        if args.weight_decay:
            raise UsageError("--weight-decay: --model simple-convnet has no weight decay (the book's net has none)")
        if args.activation != "relu":
            raise UsageError("--activation: --model simple-convnet uses relu only")
    else:
        for option, value in (("--filters", args.filters), ("--filter-size", args.filter_size)):
            if value is not None:
                raise UsageError(f"{option}: applies to --model simple-convnet only")
    for key, value in MODEL_DEFAULTS[args.model].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if convnet and args.filters is None:
        args.filters = CONVNET_FILTERS


# --- training -----------------------------------------------------------------------------------------------------
def _load(args, source):
    """((x_train, t_train), (x_test, t_test)) and the data's name; a corrupt file is a UsageError naming the
    option."""
    from . import datasets

    kind, directory, option = source
    flatten = args.model == "mlp"  # the convolutional net takes (N, 1, H, W) images
    if kind == "digits":
        return datasets.load_digits(normalize=True, flatten=flatten), "digits (bundled optdigits)"
    try:
        data = datasets.load_mnist(normalize=True, flatten=flatten, path=directory)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{option}: {exc}") from None
    return data, ("fashion-mnist" if kind == "fashion-mnist" else "mnist-format:" + directory)


def _check_against_data(args, x_train):
    """Refuses (UsageError) a batch larger than the training set or filters that do not fit the images."""
    if args.batch_size > len(x_train):
        raise UsageError(f"--batch-size {args.batch_size}: larger than the {len(x_train)} training samples")
    if args.model == "simple-convnet":
        side = min(x_train.shape[-2:])
        args.filter_size = args.filter_size or (3 if side < SMALL_IMAGE else 5)
        if args.filter_size > side - 1:  # the 2x2 pooling after the convolution needs an output of 2x2 or more
            raise UsageError(f"--filter-size {args.filter_size}: too big for the {side}x{side} images; at most "
                             f"{side - 1}")


def _network(args, x_train, n_classes):
    """The network --model asks for, and its one-line description."""
    from .convnets import SimpleConvNet
    from .nets import MultiLayerNet

    if args.model == "mlp":
        net = MultiLayerNet(x_train.shape[1], args.hidden, n_classes, activation=args.activation,
                            weight_init_std=args.activation, weight_decay_lambda=args.weight_decay,
                            dtype=args.dtype)
        return net, f"MultiLayerNet({x_train.shape[1]}, {args.hidden}, {n_classes}, activation={args.activation!r})"
    size = args.filter_size
    conv = {"filter_num": args.filters, "filter_size": size, "pad": 0, "stride": 1}
    net = SimpleConvNet(x_train.shape[1:], conv, args.hidden[0], n_classes, dtype=args.dtype)
    return net, f"SimpleConvNet(input_dim={x_train.shape[1:]}, {args.filters} filters {size}x{size}, " \
                f"hidden {args.hidden[0]}, {n_classes} classes)"


def _whole_batches(x, t, batch_size):
    """The book's Trainer evaluates an epoch when ``iteration % (n / batch_size) == 0``, which never holds again
    when n is not a multiple of the batch size: keep the largest multiple so every epoch is reported."""
    keep = len(x) // batch_size * batch_size
    if keep < len(x):
        print(f"using {keep} of {len(x)} training samples (a multiple of the batch size {batch_size})")
    return x[:keep], t[:keep]


@contextlib.contextmanager
def compile_watch(estimate_s):
    """A context whose value's ``seconds`` is the time numba spends compiling inside it. The first compilation
    says so once on stderr. numba broadcasts its 'numba:compile' event only for a kernel that is not in its
    on-disk cache (Dispatcher.compile tries the cache first), so a run on a warm cache says nothing."""
    from numba.core import event

    from ._jit import CACHE

    when = "first run only" if CACHE else "every run: FASTNN_CACHE=0"

    class Watch(event.Listener):
        seconds, depth, said, start = 0.0, 0, False, 0.0

        def on_start(self, ev):
            if not self.said:
                self.said = True
                print(f"compiling fastnn's kernels ({when}, about {estimate_s} s) ...", file=sys.stderr, flush=True)
            if self.depth == 0:  # kernels compile the kernels they call: time the outermost only
                self.start = time.perf_counter()
            self.depth += 1

        def on_end(self, ev):
            self.depth -= 1
            if self.depth == 0:
                self.seconds += time.perf_counter() - self.start

    watch = Watch()
    with event.install_listener("numba:compile", watch):
        yield watch


class _LastEpoch:
    """An epoch callback keeping a copy of the parameters after each finished epoch (what Ctrl-C saves). It runs
    before the epoch line prints, so the last epoch a user saw is the one saved."""

    def __init__(self):
        self.saved = None  # (epoch, {key: array}), replaced in one assignment so Ctrl-C never sees half of it

    def __call__(self, trainer, epoch, logs):
        self.saved = (epoch, {key: np.array(value) for key, value in trainer.network.params.items()})


def _progress(args):
    """True when a progress bar is wanted: not --no-progress, and stderr is a terminal (a bar redrawn with carriage
    returns would clutter a log file)."""
    return not args.no_progress and sys.stderr.isatty()


def _print_epoch(trainer, epoch, logs):
    print(f"epoch {epoch:3d}  loss {logs['train_loss']:.4f}  train acc {logs['train_acc']:.4f}  "
          f"test acc {logs['test_acc']:.4f}", flush=True)


def _check_train(args):
    """Every check that needs no data: returns the data source (see _data_source)."""
    _check_model_options(args)
    source = _data_source(args)
    _check_outputs(args)
    return source


def train(args):
    """``fastnn train``: check the options, load the data, build the network, train it with the book's Trainer
    (an epoch line per evaluation, a progress bar on a terminal), save the weights, history and plot;
    returns the exit status (0, or 130 after Ctrl-C, the last finished epoch's weights saved)."""
    if args.model in ("seq2seq", "rnnlm"):
        from . import cli_sequence
        return cli_sequence.train(args, sys.modules[__name__])
    source = _check_train(args)
    last = _LastEpoch()
    try:
        if args.threads is None:
            return _train(args, source, last)
        from .threads import threads
        with threads(args.threads):
            return _train(args, source, last)
    except KeyboardInterrupt:
        return _interrupted(args, last.saved)


def _train(args, source, last):
    """The run after the checks: returns 0. ``last`` (a _LastEpoch) keeps each finished epoch's weights."""
    from . import io
    from .callbacks import ProgressBar
    from .trainer import Trainer

    np.random.seed(args.seed)
    ((x_train, t_train), (x_test, t_test)), name = _load(args, source)
    _check_against_data(args, x_train)
    x_train, x_test = x_train.astype(args.dtype), x_test.astype(args.dtype)
    x_train, t_train = _whole_batches(x_train, t_train, args.batch_size)
    n_classes = int(max(t_train.max(), t_test.max())) + 1
    with compile_watch(COMPILE_SECONDS[args.model]) as compiling:
        net, described = _network(args, x_train, n_classes)
        print(f"data: {name}: {len(x_train)} train / {len(x_test)} test samples of shape {x_train.shape[1:]}, "
              f"{n_classes} classes")
        print(f"net: {described}, {args.dtype}; optimizer {args.optimizer} lr {args.lr}, batch {args.batch_size}, "
              f"{args.epochs} epoch{'s' if args.epochs > 1 else ''}")
        trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                          mini_batch_size=args.batch_size, optimizer=args.optimizer,
                          optimizer_param={"lr": args.lr}, evaluate_sample_num_per_epoch=args.eval_samples,
                          verbose=False,
                          callbacks=[last, _print_epoch] + ([ProgressBar()] if _progress(args) else []))
        start, compiled_before = time.perf_counter(), compiling.seconds
        trainer.train()
        seconds = time.perf_counter() - start - (compiling.seconds - compiled_before)
        test_acc = net.accuracy(x_test, t_test)
    compiled = f"; {compiling.seconds:.1f} s compiling" if compiling.seconds else ""
    print(f"final test accuracy {test_acc:.4f} ({seconds:.2f} s training{compiled})")
    net.save_params(args.out)
    print(f"weights: {args.out} (load with {type(net).__name__}(...).load_params({args.out!r}))")
    if args.history_json:
        record = {"test_acc": float(test_acc), "history": trainer.history}
        io.write_atomically(args.history_json, lambda f: json.dump(record, f, default=float), text=True,
                            name="--history-json")
    if args.plot:
        _plot(trainer, args.plot)
    return 0


def _interrupted(args, saved):
    """After Ctrl-C: saves the last finished epoch's weights to --out (atomically); returns 130."""
    from . import io

    if saved is None:
        print("interrupted before the first epoch finished: nothing saved", file=sys.stderr)
        return 130
    epoch, params = saved
    try:
        io.save_arrays(args.out, params)
    except KeyboardInterrupt:  # a second Ctrl-C: the atomic writer has removed its temporary file
        print("interrupted again while saving: nothing saved", file=sys.stderr)
        return 130
    print(f"interrupted: saved the weights of epoch {epoch} to {os.path.abspath(args.out)}", file=sys.stderr)
    return 130


def _plot(trainer, path):
    import matplotlib

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


# --- gradcheck ----------------------------------------------------------------------------------------------------
def gradcheck(args):
    """``fastnn gradcheck``: backprop against the compiled numerical gradient on a batch of digits, one line per
    parameter; returns the exit status: 0 when every max |difference| is below 1e-5, else 1."""
    from . import datasets
    from .gradient import gradient_check
    from .nets import MultiLayerNetExtend

    (x_train, t_train), _ = datasets.load_digits()
    if args.batch_size > len(x_train):
        raise UsageError(f"--batch-size {args.batch_size}: larger than the {len(x_train)} training digits")
    x, t = x_train[:args.batch_size].astype(np.float64), t_train[:args.batch_size]
    np.random.seed(args.seed)
    with compile_watch(COMPILE_SECONDS["gradcheck"]):
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


# --- ptb-format ---------------------------------------------------------------------------------------------------
def ptb_format(args):
    """``fastnn ptb-format``: read the text (bounded: fastnn.ptb.read_text), write the three PTB files and say what
    they hold; returns 0. Every mistake (paths, a binary or too short text) is a UsageError, before any file is
    written."""
    from . import ptb

    if args.text != "-" and not os.path.isfile(args.text):
        raise UsageError(f"TEXT {args.text}: {'not a regular file' if os.path.exists(args.text) else 'no such file'}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: is a file, not a directory")
    parent = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(parent):
        raise UsageError(f"--out {args.out}: directory {parent} does not exist")
    existing = [name for name in ptb.FILES.values() if os.path.exists(os.path.join(args.out, name))]
    if existing and not args.force:
        raise UsageError(f"--out {args.out}: already holds {', '.join(existing)} (--force replaces them)")
    if args.valid + args.test >= 1:
        raise UsageError(f"--valid {args.valid} and --test {args.test} leave nothing for the training part")
    try:
        text = ptb.read_text(args.text, name="TEXT")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        summary = ptb.write_ptb_format(text, args.out, vocab_size=args.vocab, valid=args.valid, test=args.test,
                                       drop_first_word=args.drop_first_word, overwrite=args.force)
    except ValueError as exc:  # too few sentences
        raise UsageError(f"TEXT {args.text}: {exc}") from None
    for kind, name in ptb.FILES.items():
        part = summary[kind]
        print(f"{part['path']}: {part['sentences']} sentences, {part['words']} words ({part['unknown']} <unk>)")
    print(f"vocabulary: {summary['vocabulary']} words, <unk> and <eos> included. Read them with "
          f"fastnn.ptb.load_data('train', {args.out!r}), or with the book's dataset/ptb.py from its dataset/ "
          f"directory")
    return 0


COMMANDS = {"train": train, "gradcheck": gradcheck, "sweep": sweep_cli.main, "ptb-format": ptb_format}


def main(argv=None):
    """``fastnn train|gradcheck|sweep|ptb-format|bench ...``: runs the subcommand; returns its exit status. A mistake in
    the options exits with status 2 and one error line under the subcommand's usage (SystemExit)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own parser (fastnn.bench): argparse's REMAINDER would not pass --options on
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser, subparsers = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        subparsers[args.command].error(str(exc))
    except KeyboardInterrupt:  # train handles its own (it saves); the others have nothing to keep
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"fastnn {args.command}: error: not enough memory for this network and data", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the disk filled up while saving
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
