"""``fastnn sweep``: the book's chapter-6 hyper-parameter search (fastnn.sweep) from the command line.

    fastnn sweep [--trials 100] [--epochs 50] [--scheduler tcp://HOST:PORT] [--workers N] [--out FILE] [--resume]
                 [--space KEY=SPEC ...] [--dataset digits|fashion-mnist|mnist] [--data DIR] [--train-size N]
                 [--seed S] [--best FILE.npz] [--plot FILE.png] [--no-progress]

SPEC: ``log10:LO:HI`` (10**U(LO, HI)), ``uniform:LO:HI`` or a comma list (``0.1,0.01``; hidden widths joined by
``-``: ``hidden=100-100,50``). Without ``--space`` the book's space: lr=log10:-6:-2, weight_decay=log10:-8:-4.
Prints the book's ranking (``Best-1(val acc:...) | lr:..., weight decay:...``) at the end. The best trial's
weights go to ``--best``, by default named after the results file: ``--out search.jsonl`` -> ``search-best.npz``
(the default ``fastnn-sweep.jsonl`` -> ``fastnn-sweep-best.npz``).

A mistake is one line, ``fastnn sweep: error: ...``, exit status 2: an option out of range, a damaged results file
(its line number), a scheduler address that does not answer as a Dask scheduler within 10 s
(``FASTNN_SWEEP_CONNECT_TIMEOUT=SECONDS`` changes that). Ctrl-C: exit status 130, the results file as it was after
the last finished trial.
"""
import argparse
import math
import sys

from . import sweep as sw
from .trainer import OPTIMIZER_NAMES
from ._argtypes import whole_number as _whole_number
from ._usage import UsageError

KINDS = {"log10": "log10_uniform", "uniform": "uniform"}
LOG10_LIMIT = 300  # 10**x for |x| beyond this is not a float
OPTIMIZERS = tuple(OPTIMIZER_NAMES)  # the Trainer's names


def _value(key, text):
    """One value of setting ``key``; ValueError when it is not one (every trial with it would fail)."""
    if key == "optimizer":
        if text not in OPTIMIZERS:
            raise ValueError
        return text
    if key in ("hidden", "batch_size"):
        widths = [int(w) for w in text.split("-")]
        if min(widths) < 1 or (key == "batch_size" and len(widths) > 1):
            raise ValueError
        return widths if key == "hidden" else widths[0]
    value = float(text)
    if not math.isfinite(value) or value < 0 or (key == "lr" and value == 0):
        raise ValueError
    return value


def _range(key, kind, bounds):
    """(kind, lo, hi) of a log10:LO:HI or uniform:LO:HI spec; ValueError when its draws would not be settings."""
    lo_text, hi_text = bounds.split(":")  # ValueError unless exactly two
    lo, hi = float(lo_text), float(hi_text)
    if not lo <= hi or key not in ("lr", "weight_decay"):  # (also refuses NaN; the others are lists)
        raise ValueError
    if kind == "log10" and not -LOG10_LIMIT <= lo <= hi <= LOG10_LIMIT:
        raise ValueError
    if kind == "uniform":
        _value(key, lo_text), _value(key, hi_text)
    return KINDS[kind], lo, hi


def parse_space(items):
    """{setting: spec} from KEY=SPEC strings (see the module docstring); None for no items."""
    if not items:
        return None
    space = {}
    for item in items:
        key, sep, spec = item.partition("=")
        if not sep or key not in sw.DEFAULTS:
            raise argparse.ArgumentTypeError(f"--space {item!r}: expected KEY=SPEC with KEY among "
                                             f"{sorted(sw.DEFAULTS)}")
        kind, _, bounds = spec.partition(":")
        try:
            if kind in KINDS:
                space[key] = _range(key, kind, bounds)
            else:
                space[key] = [_value(key, v) for v in spec.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--space {item!r}: cannot read {spec!r} ({HINTS[key]})") from None
    return space


HINTS = {"lr": "numbers > 0, or log10:LO:HI / uniform:LO:HI with LO <= HI",
         "weight_decay": "numbers >= 0, or log10:LO:HI / uniform:LO:HI with LO <= HI",
         "hidden": "widths >= 1 joined by '-', lists by ','", "batch_size": "whole numbers >= 1",
         "optimizer": "among " + ", ".join(OPTIMIZERS)}


def add_parser(sub):
    """The ``sweep`` subcommand's options on the argparse subparsers ``sub``; returns the parser."""
    p = sub.add_parser("sweep", help="hyper-parameter search on Dask (the book's chapter-6 random search)")
    p.add_argument("--trials", type=_whole_number(1), default=100, help="trials of a random search (default 100)")
    p.add_argument("--epochs", type=_whole_number(1), default=50, help="epochs per trial (default 50, the book's)")
    p.add_argument("--scheduler", metavar="ADDR", help="an existing Dask scheduler (default: "
                   f"$DASK_SCHEDULER_ADDRESS, else a local cluster); given up after {sw.CONNECT_TIMEOUT:g} s "
                   "($FASTNN_SWEEP_CONNECT_TIMEOUT seconds)")
    p.add_argument("--workers", type=_whole_number(0), help="local worker processes (default: one per core; 0: no "
                   "Dask, trials one after another in this process)")
    p.add_argument("--out", default="fastnn-sweep.jsonl", help="results file, JSON lines (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out, skipping recorded trials")
    p.add_argument("--space", action="append", metavar="KEY=SPEC", help="a searched setting (repeatable)")
    p.add_argument("--dataset", choices=("digits", "fashion-mnist", "mnist"), default="digits")
    p.add_argument("--data", metavar="DIR", help="an MNIST-format directory instead of --dataset")
    p.add_argument("--train-size", type=_whole_number(1), metavar="N",
                   help=f"use the first N training images, {sw.MIN_ROWS} to all (the book uses 500)")
    p.add_argument("--seed", type=_whole_number(0), default=0, help="draws the trials and the validation split")
    p.add_argument("--best", metavar="FILE.npz", help="the best trial's weights (default: named after --out, "
                   "FILE.jsonl -> FILE-best.npz)")
    p.add_argument("--plot", metavar="PNG", help="draw the book's figure of the 20 best trials (matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def _training_set(args):
    from . import datasets

    if args.data:
        (x, t), _ = datasets.load_mnist(path=args.data)
    elif args.dataset == "fashion-mnist":
        (x, t), _ = datasets.load_fashion_mnist()
    elif args.dataset == "mnist":
        (x, t), _ = datasets.load_mnist()
    else:
        (x, t), _ = datasets.load_digits()
    if args.train_size is None:
        return x, t
    if not sw.MIN_ROWS <= args.train_size <= len(x):
        raise UsageError(f"argument --train-size: must be in [{sw.MIN_ROWS}, {len(x)}] (the training images); "
                         f"got {args.train_size}")
    return x[:args.train_size], t[:args.train_size]


def main(args):
    """Run ``fastnn sweep`` with parsed ``args``; returns the exit status (130 after Ctrl-C)."""
    try:
        space = parse_space(args.space)
        x, t = _training_set(args)
        records = sw.sweep(x, t, space=space, trials=args.trials, epochs=args.epochs, seed=args.seed,
                           scheduler=args.scheduler, workers=args.workers, out=args.out, resume=args.resume,
                           best_params=args.best or sw.best_path(args.out), progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"interrupted: {args.out} holds the trials finished so far (--resume continues)", file=sys.stderr)
        return 130
    except (argparse.ArgumentTypeError, ValueError, TypeError, OSError) as exc:  # bad options, files, data
        print(f"fastnn sweep: error: {exc}", file=sys.stderr)
        return 2
    print("=========== Hyper-Parameter Optimization Result ===========")
    for i, r in enumerate(sw.best_records(records), start=1):
        s = r["settings"]
        print(f"Best-{i}(val acc:{r['final_val_acc']}) | " + ", ".join(f"{k}:{v}" for k, v in sorted(s.items())))
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        print(f"{len(failed)} trial(s) failed: " + "; ".join(f"#{r['trial']}: {r['error']}" for r in failed[:5]))
    if args.plot and sw.best_records(records):
        print("figure:", sw.plot(records, args.plot))
    return 0
