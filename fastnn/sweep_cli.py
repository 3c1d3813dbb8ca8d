"""``fastnn sweep``: the book's chapter-6 hyper-parameter search (fastnn.sweep) from the command line.

    fastnn sweep [--trials 100] [--epochs 50] [--scheduler tcp://HOST:PORT] [--workers N] [--out FILE] [--resume]
                 [--space KEY=SPEC ...] [--dataset digits|fashion-mnist|mnist] [--data DIR] [--train-size N]
                 [--seed S] [--best FILE.npz] [--plot FILE.png] [--no-progress]

SPEC: ``log10:LO:HI`` (10**U(LO, HI)), ``uniform:LO:HI`` or a comma list (``0.1,0.01``; hidden widths joined by
``-``: ``hidden=100-100,50``). Without ``--space`` the book's space: lr=log10:-6:-2, weight_decay=log10:-8:-4.
Prints the book's ranking (``Best-1(val acc:...) | lr:..., weight decay:...``) at the end.
"""
import argparse
import sys

from . import sweep as sw

KINDS = {"log10": "log10_uniform", "uniform": "uniform"}


def _value(key, text):
    if key == "hidden":
        return [int(w) for w in text.split("-")]
    if key == "optimizer":
        return text
    return int(text) if key == "batch_size" else float(text)


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
                lo, hi = (float(b) for b in bounds.split(":"))
                space[key] = (KINDS[kind], lo, hi)
            else:
                space[key] = [_value(key, v) for v in spec.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--space {item!r}: cannot read {spec!r}") from None
    return space


def add_parser(sub):
    """The ``sweep`` subcommand's options on the argparse subparsers ``sub``; returns the parser."""
    p = sub.add_parser("sweep", help="hyper-parameter search on Dask (the book's chapter-6 random search)")
    p.add_argument("--trials", type=int, default=100, help="trials of a random search (default 100)")
    p.add_argument("--epochs", type=int, default=50, help="epochs per trial (default 50, the book's)")
    p.add_argument("--scheduler", metavar="ADDR", help="an existing Dask scheduler (default: "
                   "$DASK_SCHEDULER_ADDRESS, else a local cluster)")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core; 0: no Dask, "
                   "trials one after another in this process)")
    p.add_argument("--out", default="fastnn-sweep.jsonl", help="results file, JSON lines (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out, skipping recorded trials")
    p.add_argument("--space", action="append", metavar="KEY=SPEC", help="a searched setting (repeatable)")
    p.add_argument("--dataset", choices=("digits", "fashion-mnist", "mnist"), default="digits")
    p.add_argument("--data", metavar="DIR", help="an MNIST-format directory instead of --dataset")
    p.add_argument("--train-size", type=int, help="use the first N training images (the book uses 500)")
    p.add_argument("--seed", type=int, default=0, help="draws the trials and the validation split")
    p.add_argument("--best", default="fastnn-sweep-best.npz", help="the best trial's weights (.npz)")
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
    return (x[:args.train_size], t[:args.train_size]) if args.train_size else (x, t)


def main(args):
    """Run ``fastnn sweep`` with parsed ``args``; returns the exit status (130 after Ctrl-C)."""
    try:
        space = parse_space(args.space)
        x, t = _training_set(args)
        records = sw.sweep(x, t, space=space, trials=args.trials, epochs=args.epochs, seed=args.seed,
                           scheduler=args.scheduler, workers=args.workers, out=args.out, resume=args.resume,
                           best_params=args.best, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {args.out} holds the trials finished so far (--resume continues)", file=sys.stderr)
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
