"""Hyper-parameter sweeps on a Dask cluster: the first book's chapter-6 random search
(``hyperparameter_optimization.py``) as a library call and ``fastnn sweep``, each trial one training run on
``dask.distributed`` (``pip install 'dask[distributed]'``).

The book's search by default: ``lr = 10**U(-6, -2)``, ``weight_decay = 10**U(-8, -4)``, its network
(``MultiLayerNet`` with six hidden layers of 100, SGD, batches of 100) and validation split (20% of the training
set, shuffled). A space can also hold lists (``{"lr": [0.1, 0.01]}``): when every entry is a list the search is
their full grid, otherwise lists are drawn from uniformly. Settings: ``lr``, ``weight_decay``, ``hidden`` (a list
of widths), ``batch_size``, ``optimizer`` (the Trainer's names).

Each trial draws its settings and its seed from ``np.random.default_rng(seed)`` on the client, in trial order, and
trains with the global NumPy RNG seeded by its own seed (the book's draws: weights, batches), BLAS and numba on
one thread: its result depends only on its settings and seed, so one process, a local cluster and a remote one
give the same numbers. Where it runs: with no address a ``LocalCluster`` of worker processes (one thread each);
with ``scheduler="tcp://HOST:PORT"`` (or ``DASK_SCHEDULER_ADDRESS``) an existing cluster; ``workers=0`` runs the
trials one after another in this process, without Dask. The data are scattered to the workers once.

Results are never lost: each finished trial is appended to a JSON-lines file (rewritten to a temporary file,
fsync'ed and renamed over the old one, so the file on disk is always complete); ``resume`` skips the trials
already recorded with the same settings and seed. A trial that raises (a bad setting, or FloatingPointError when
training diverges) is recorded as failed with its error and the sweep goes on; a worker that dies mid-trial only
costs that trial, which Dask runs again elsewhere; Ctrl-C stops the sweep, the file as it was after the last trial.
"""
import itertools
import json
import math
import os
import socket
import sys
import time
import warnings

import numpy as np

from . import _checks, io
from .multi_layer_net import MultiLayerNet
from .threads import threads
from .trainer import Trainer

__all__ = ["BOOK_SPACE", "make_trials", "run_trial", "split", "sweep", "read_results", "best_records", "plot"]

BOOK_SPACE = {"lr": ("log10_uniform", -6.0, -2.0), "weight_decay": ("log10_uniform", -8.0, -4.0)}
DEFAULTS = {"lr": 0.01, "weight_decay": 0.0, "hidden": [100] * 6, "batch_size": 100, "optimizer": "sgd"}
VALIDATION_RATE = 0.20  # the book's


# --- trials ----------------------------------------------------------------------------------------------------
def _check_space(space):
    if not isinstance(space, dict) or not space:
        raise TypeError(f"space must be a non-empty dict of setting -> list or ('log10_uniform', lo, hi); got "
                        f"{space!r}")
    for key, spec in space.items():
        if key not in DEFAULTS:
            raise ValueError(f"space: unknown setting {key!r}; the settings are {sorted(DEFAULTS)}")
        is_range = isinstance(spec, tuple) and len(spec) == 3 and spec[0] in ("log10_uniform", "uniform")
        if not is_range and not (isinstance(spec, list) and spec):
            raise ValueError(f"space[{key!r}] must be a non-empty list or ('log10_uniform' | 'uniform', lo, hi); "
                             f"got {spec!r}")


def make_trials(space=None, n_trials=100, seed=0):
    """Returns the sweep's trials, [{"trial": i, "settings": {...}, "seed": s}], drawn from
    ``np.random.default_rng(seed)`` trial after trial (its settings in sorted key order, then its seed), so the
    first trials of a longer sweep are the trials of a shorter one; a space of lists only gives its full grid
    (``n_trials`` is then ignored)."""
    space = dict(BOOK_SPACE if space is None else space)
    _check_space(space)
    rng = np.random.default_rng(_checks.integer(seed, "seed", minimum=0))
    keys = sorted(space)
    if all(isinstance(space[k], list) for k in keys):
        grid = [dict(zip(keys, values)) for values in itertools.product(*(space[k] for k in keys))]
        return [{"trial": i, "settings": s, "seed": int(rng.integers(2**31 - 1))} for i, s in enumerate(grid)]
    trials = []
    for i in range(_checks.integer(n_trials, "n_trials", minimum=1)):  # trial i's draws do not depend on n_trials
        settings = {k: _draw(space[k], rng) for k in keys}
        trials.append({"trial": i, "settings": settings, "seed": int(rng.integers(2**31 - 1))})
    return trials


def _draw(spec, rng):
    if isinstance(spec, list):
        return spec[int(rng.integers(len(spec)))]
    kind, lo, hi = spec
    value = float(rng.uniform(lo, hi))
    return float(10 ** value) if kind == "log10_uniform" else value


def split(x, t, validation_rate=VALIDATION_RATE, seed=0):
    """The book's split: rows shuffled (``np.random.default_rng(seed)``), the first validation_rate of them held
    out; returns (x_train, t_train, x_val, t_val)."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(len(x) * validation_rate)
    x, t = x[order], t[order]
    return x[n_val:], t[n_val:], x[:n_val], t[:n_val]


def run_trial(data, trial, epochs):
    """One training run (on a worker): the book's MultiLayerNet and Trainer with the trial's settings, the global
    NumPy RNG seeded with its seed, one thread. Returns the record: trial, settings, seed, status ("ok" or
    "failed"), train_acc/val_acc per epoch, final accuracies, time_s, worker, and (not written to the results
    file) the trained params."""
    x_train, t_train, x_val, t_val = data
    s = {**DEFAULTS, **trial["settings"]}
    record = {"trial": trial["trial"], "settings": trial["settings"], "seed": trial["seed"], "worker": _worker()}
    start = time.perf_counter()
    try:
        with threads(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow on the way to a divergence: it raises next
            np.random.seed(trial["seed"])
            net = MultiLayerNet(x_train.shape[1], list(s["hidden"]), int(t_train.max()) + 1,
                                weight_decay_lambda=s["weight_decay"])
            trainer = Trainer(net, x_train, t_train, x_val, t_val, epochs=epochs, mini_batch_size=s["batch_size"],
                              optimizer=s["optimizer"], optimizer_param={"lr": s["lr"]}, verbose=False)
            trainer.train()
        record.update(status="ok", train_acc=[float(a) for a in trainer.train_acc_list],
                      val_acc=[float(a) for a in trainer.test_acc_list])
        record.update(final_train_acc=record["train_acc"][-1], final_val_acc=record["val_acc"][-1])
        record["params"] = {k: np.array(v) for k, v in net.params.items()}
    except Exception as exc:  # noqa: BLE001 - any failure of one trial is that trial's result
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    record["time_s"] = time.perf_counter() - start
    return record


def _worker():
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"local:{socket.gethostname()}:{os.getpid()}"


# --- the results file ------------------------------------------------------------------------------------------
def read_results(path):
    """Returns the records of a results file (JSON lines; [] when it does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class _ResultsFile:
    """A JSON-lines file that is complete on disk after every append: each append writes the whole file to a
    temporary file in the same directory, fsyncs it, renames it over the old one and fsyncs the directory."""

    def __init__(self, path, resume):
        self.path = _checks.path(path, "out")
        io.existing_directory(self.path, "out")
        self.records = read_results(self.path) if resume else []
        if not resume and os.path.exists(self.path):
            raise FileExistsError(f"out {self.path!r} exists: pass resume=True (--resume) to continue that sweep, "
                                  f"or choose another file")

    def append(self, record):
        self.records.append(record)
        io.write_atomically(self.path, lambda f: f.writelines(json.dumps(r, sort_keys=True) + "\n"
                                                            for r in self.records), text=True, name="out")


def _done(records):
    return {(r["trial"], json.dumps(r["settings"], sort_keys=True), r["seed"]) for r in records}


def _key(trial):
    return trial["trial"], json.dumps(trial["settings"], sort_keys=True), trial["seed"]


# --- running ---------------------------------------------------------------------------------------------------
def _progress(done, total, best, stream):
    width = 30
    filled = width * done // max(total, 1)
    best_text = "-" if best is None else f"{best:.4f}"
    stream.write(f"\rtrials {done}/{total} [{'#' * filled}{'.' * (width - filled)}] best val acc {best_text}")
    if done == total:
        stream.write("\n")
    stream.flush()


def sweep(x, t, *, space=None, trials=100, epochs=50, seed=0, scheduler=None, workers=None, out="fastnn-sweep.jsonl",
          resume=False, best_params=None, progress=True):
    """Run a sweep over (x, t) (the training set; a validation split is held out as the book does) and return
    every record of the results file ``out`` (this run's and, with ``resume``, the earlier ones). ``best_params``:
    a .npz path for the best trial's trained parameters (highest final validation accuracy)."""
    x = _checks.float_array(x, "x", ndim=2, allow_empty=False)
    t = np.asarray(t)
    if t.ndim != 1 or len(t) != len(x) or t.dtype.kind not in "iu":
        raise ValueError(f"t must be 1-D integer labels, one per row of x ({len(x)}); got {t.dtype} {t.shape}")
    epochs = _checks.integer(epochs, "epochs", minimum=1)
    planned = make_trials(space, trials, seed)
    results = _ResultsFile(out, resume)
    done = _done(results.records)
    todo = [tr for tr in planned if _key(tr) not in done]
    data = split(x, t, seed=seed)
    best = max((r["final_val_acc"] for r in results.records if r.get("status") == "ok"), default=None)
    count, total = len(planned) - len(todo), len(planned)
    stream = sys.stderr
    if progress:
        _progress(count, total, best, stream)

    def finished(record):
        nonlocal best, count
        params = record.pop("params", None)
        results.append(record)
        count += 1
        if record["status"] == "ok" and (best is None or record["final_val_acc"] > best):
            best = record["final_val_acc"]
            if best_params is not None and params is not None:
                io.save_arrays(best_params, params)
        if progress:
            _progress(count, total, best, stream)

    if workers == 0 and scheduler is None:
        for trial in todo:
            finished(run_trial(data, trial, epochs))
    else:
        _run_on_dask(data, todo, epochs, scheduler, workers, finished)
    return results.records


def _run_on_dask(data, todo, epochs, scheduler, workers, finished):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError("fastnn sweep runs on dask.distributed: pip install 'dask[distributed]' (or workers=0 to run "
                          "the trials in this process)") from exc
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    cluster = None
    if address is None:
        n = workers or max(1, os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(address or cluster)
    try:
        shared = client.scatter(list(data), broadcast=True)  # sent once, not with every trial
        futures = [client.submit(run_trial, shared, trial, epochs, key=f"fastnn-trial-{trial['trial']}-"
                                 f"{trial['seed']}", pure=False) for trial in todo]
        try:
            for future in as_completed(futures):
                finished(future.result())
        except KeyboardInterrupt:
            client.cancel(futures)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def best_records(records, n=20):
    """Returns the n best successful records, highest final validation accuracy first (the book's ranking)."""
    ok = [r for r in records if r.get("status") == "ok"]
    return sorted(ok, key=lambda r: r["final_val_acc"], reverse=True)[:n]


def plot(records, path, n=20):
    """The book's figure: the n best trials' validation (solid) and training (dashed) accuracy per epoch, five
    per row, saved to ``path``; returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = best_records(records, n)
    rows = max(1, math.ceil(len(best) / 5))
    fig = plt.figure(figsize=(12, 2.2 * rows))
    for i, r in enumerate(best):
        ax = fig.add_subplot(rows, 5, i + 1)
        ax.set_title(f"Best-{i + 1}")
        ax.set_ylim(0.0, 1.0)
        ax.set_xticks([])
        if i % 5:
            ax.set_yticks([])
        epochs = np.arange(len(r["val_acc"]))
        ax.plot(epochs, r["val_acc"])
        ax.plot(epochs, r["train_acc"], "--")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
