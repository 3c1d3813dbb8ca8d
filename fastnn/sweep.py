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
trials one after another in this process, without Dask. The data are scattered to the workers once. Connecting to a
scheduler gives up after ``CONNECT_TIMEOUT`` seconds (10; the environment variable ``FASTNN_SWEEP_CONNECT_TIMEOUT``
overrides it) with a ``SchedulerError`` naming the address, also when the port answers but is not a Dask scheduler.

Results are never lost: each finished trial is appended to a JSON-lines file (rewritten to a temporary file,
fsync'ed and renamed over the old one, so the file on disk is always complete); ``resume`` skips the trials
already recorded with the same settings and seed. A trial that raises (a bad setting, or FloatingPointError when
training diverges) is recorded as failed with its error and the sweep goes on; a worker that dies mid-trial only
costs that trial, which Dask runs again elsewhere; Ctrl-C stops the sweep, the file as it was after the last trial
(the local cluster's workers ignore the terminal's Ctrl-C: the client cancels their trials and closes them, quietly).
A results file that is not one record per line (a cut line, a record without its fields) is refused by
``read_results`` and ``resume`` with a ``ValueError`` naming the file and the line, and is left as it is.
``fastnn sweep`` saves the best trial's weights next to the results file: ``best_path(out)``, ``<out stem>-best.npz``
(``fastnn-sweep.jsonl`` -> ``fastnn-sweep-best.npz``), so two sweeps with different ``--out`` keep their own.
"""
import contextlib
import itertools
import json
import logging
import math
import numbers
import os
import signal
import socket
import struct
import sys
import threading
import time
import warnings

import numpy as np

from . import _checks, io
from .multi_layer_net import MultiLayerNet
from .threads import threads
from .trainer import Trainer

__all__ = ["BOOK_SPACE", "make_trials", "run_trial", "split", "sweep", "read_results", "best_records", "plot",
           "best_path", "SchedulerError"]

BOOK_SPACE = {"lr": ("log10_uniform", -6.0, -2.0), "weight_decay": ("log10_uniform", -8.0, -4.0)}
DEFAULTS = {"lr": 0.01, "weight_decay": 0.0, "hidden": [100] * 6, "batch_size": 100, "optimizer": "sgd"}
VALIDATION_RATE = 0.20  # the book's
MIN_ROWS = math.ceil(1 / VALIDATION_RATE)  # fewer rows leave the validation split empty and every trial fails
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler; FASTNN_SWEEP_CONNECT_TIMEOUT overrides it
HANDSHAKE_MAX = 1 << 20  # bytes: a Dask handshake is a few hundred; more means the port speaks something else


class SchedulerError(ConnectionError):
    """The scheduler address cannot be used: nothing listens there, it does not answer in time, or it answers but
    not as a Dask scheduler. The message names the address."""


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
_FIELDS = {"trial": int, "seed": int, "settings": dict, "status": str}
_FIELDS_OK = {"final_val_acc": numbers.Real, "final_train_acc": numbers.Real, "val_acc": list, "train_acc": list}
_FIELDS_FAILED = {"error": str}


def read_results(path):
    """Returns the records of a results file (JSON lines; [] when it does not exist). A line that is not a whole
    record raises ValueError naming the file, the line number and what is wrong (the file is only read)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return [_record(line, path, number) for number, line in enumerate(lines, start=1) if line.strip()]


def _record(line, path, number):
    """One line of a results file as a record, or ValueError saying where and why it is not one."""
    def bad(why):
        return ValueError(f"results file {os.fspath(path)!r}, line {number}: {why} (fix or delete that line, or "
                          f"choose another --out)")
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise bad(f"not a complete JSON record ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise bad(f"expected a JSON object, got {type(record).__name__}")
    for fields in (_FIELDS, _FIELDS_OK if record.get("status") == "ok" else _FIELDS_FAILED):
        for key, kind in fields.items():
            if key not in record:
                raise bad(f"the record has no {key!r}")
            if not isinstance(record[key], kind) or isinstance(record[key], bool):
                raise bad(f"{key!r} is {record[key]!r}, not {'a number' if kind is numbers.Real else kind.__name__}")
        if record["status"] not in ("ok", "failed"):
            raise bad(f"status {record['status']!r} is neither 'ok' nor 'failed'")
    return record


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


def best_path(out):
    """Returns the path ``fastnn sweep`` saves the best weights of the sweep in ``out`` to: ``<out stem>-best.npz``
    in the same directory (``search.jsonl`` -> ``search-best.npz``)."""
    return os.path.splitext(os.fspath(out))[0] + "-best.npz"


def _same_file(a, b):
    return os.path.realpath(os.fspath(a)) == os.path.realpath(os.fspath(b))


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
    if len(x) < MIN_ROWS:
        raise ValueError(f"x has {len(x)} rows; the {VALIDATION_RATE:.0%} validation split needs at least {MIN_ROWS}")
    if best_params is not None and _same_file(best_params, out):
        raise ValueError(f"best_params and out are the same file ({os.fspath(out)!r}): the weights would replace the "
                         f"results")
    epochs = _checks.integer(epochs, "epochs", minimum=1)
    if workers is not None:
        workers = _checks.integer(workers, "workers", minimum=0)
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

    try:
        if workers == 0 and scheduler is None:
            for trial in todo:
                finished(run_trial(data, trial, epochs))
        else:
            _run_on_dask(data, todo, epochs, scheduler, workers, finished)
    finally:
        if progress and count < total:
            stream.write("\n")  # an error or Ctrl-C message then starts on its own line
    return results.records


def _run_on_dask(data, todo, epochs, scheduler, workers, finished):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("fastnn sweep runs on dask.distributed: pip install 'dask[distributed]' (or workers=0 to run "
                          "the trials in this process)") from exc
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    cluster = None
    if address is None:
        n = workers or max(1, os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               preload=[__name__])  # dask_setup (below) in every worker process
        client = Client(cluster)
    else:
        client = _connect(address, _connect_timeout())
    interrupted = False
    try:
        _collect(client, data, todo, epochs, finished)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # after Ctrl-C the caller says what happened; the shutdown's warnings would only bury that line
        with _quiet_logs() if interrupted else contextlib.nullcontext():
            client.close()
            if cluster is not None:
                cluster.close()


def _collect(client, data, todo, epochs, finished):
    from distributed import as_completed

    shared = client.scatter(list(data), broadcast=True)  # sent once, not with every trial
    futures = [client.submit(run_trial, shared, trial, epochs, key=f"fastnn-trial-{trial['trial']}-"
                             f"{trial['seed']}", pure=False) for trial in todo]
    try:
        for future in as_completed(futures):
            finished(future.result())
    except KeyboardInterrupt:
        client.cancel(futures)
        raise


@contextlib.contextmanager
def _quiet_logs():
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def dask_setup(worker):
    """Dask's preload hook, run in each worker process of the local cluster ``sweep`` starts; returns None.
    Ctrl-C in a terminal reaches every process of its group: the workers ignore it (the client cancels their trials
    and closes the cluster), and the warning a running trial's cancellation logs at that close is dropped."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker.state_machine").addFilter(
        lambda record: "ended with CancelledError" not in record.getMessage())


# --- reaching a scheduler -------------------------------------------------------------------------------------
def _connect_timeout():
    text = os.environ.get("FASTNN_SWEEP_CONNECT_TIMEOUT")
    if text is None:
        return CONNECT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ValueError(f"FASTNN_SWEEP_CONNECT_TIMEOUT must be a number of seconds > 0; got {text!r}")
    return value


def _connect(address, timeout):
    """A Client of the scheduler at ``address``, or SchedulerError naming it: distributed bounds the connection
    by ``timeout`` but not the handshake read after it, hence the probe first."""
    from distributed import Client

    _probe(address, timeout)
    try:
        return Client(address, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - whatever a wrong server provokes, MemoryError included
        raise _unusable(address, f"{type(exc).__name__}: {exc}") from None


def _unusable(address, why):
    why = " ".join(str(why).split())  # one line
    return SchedulerError(f"cannot use the Dask scheduler at {address!r}: {why}")


def _probe(address, timeout):
    """Checks that a tcp:// address opens with a Dask handshake (the server speaks first: an 8-byte length, then
    that many bytes) within ``timeout``; SchedulerError otherwise. Other schemes are left to the Client."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        get_backend(scheme)  # an unknown scheme, said before a Client half-starts on it
        if scheme != "tcp":
            return
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise _unusable(address, exc) from None
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            header = _receive(conn, 8, deadline)
            (size,) = struct.unpack("Q", header)  # distributed.comm.tcp's length prefix
            if not 0 < size <= HANDSHAKE_MAX or not _is_handshake(_receive(conn, size, deadline)):
                raise _unusable(address, f"it answered {header!r}..., not a Dask handshake")
    except TimeoutError:
        raise _unusable(address, f"no Dask handshake within {timeout:g} s (is it a Dask scheduler's port? the "
                                 f"timeout is FASTNN_SWEEP_CONNECT_TIMEOUT)") from None
    except SchedulerError:
        raise
    except OSError as exc:
        raise _unusable(address, exc.strerror or exc) from None


def _is_handshake(body):
    """Whether ``body`` decodes as distributed's handshake (a dict with the peer's settings): anything else is
    refused here, before a Client meets it (a Client that fails mid-handshake is left half-started)."""
    from distributed.protocol import loads
    from distributed.protocol.utils import unpack_frames

    try:
        frames, missing = unpack_frames(body, partial=True)
        message = None if missing else loads(frames, deserialize=False)
    except Exception:  # noqa: BLE001 - garbage can fail to decode in many ways
        return False
    return isinstance(message, dict) and "compression" in message


def _receive(conn, n, deadline):
    data = b""
    while len(data) < n:
        conn.settimeout(max(deadline - time.monotonic(), 1e-3))
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("it closed the connection without a Dask handshake")
        data += chunk
    return data


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
