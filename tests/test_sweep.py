"""fastnn.sweep and ``fastnn sweep``: the book's random search, on one process, a LocalCluster and a real Dask
scheduler with two worker processes on 127.0.0.1 (started here, bounded in time, always cleaned up), one of them
SIGKILLed mid-sweep; results files valid after every append; resume; failures recorded; GridSearchCV on Dask;
hostile scheduler addresses and damaged results files refused in one line."""
import http.server
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from distributed import Client  # the test extra installs dask[distributed]: no skipping

from fastnn import cli, datasets, io
from fastnn import sweep as sw
from fastnn.sweep_cli import parse_space
from terminal import restore_sigint

BIN = Path(sys.executable).parent
VOLATILE = ("time_s", "worker")  # what may differ between two runs of the same trial


def digits(n=400):
    (x, t), _ = datasets.load_digits()
    return x[:n], t[:n]


def comparable(records):
    return sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in records), key=lambda r: r["trial"])


# --- trials --------------------------------------------------------------------------------------------------
def test_the_books_random_search_draws_reproducible_trials():
    trials = sw.make_trials(n_trials=50, seed=3)
    assert [tr["trial"] for tr in trials] == list(range(50))
    lr = np.array([tr["settings"]["lr"] for tr in trials])
    wd = np.array([tr["settings"]["weight_decay"] for tr in trials])
    assert np.all((1e-6 <= lr) & (lr <= 1e-2)) and np.all((1e-8 <= wd) & (wd <= 1e-4))
    assert np.ptp(np.log10(lr)) > 3 and np.ptp(np.log10(wd)) > 3  # spread over the decades
    assert trials == sw.make_trials(n_trials=50, seed=3) != sw.make_trials(n_trials=50, seed=4)
    assert len({tr["seed"] for tr in trials}) == 50
    assert sw.make_trials(n_trials=20, seed=3) == trials[:20]  # a longer sweep extends a shorter one


def test_a_space_of_lists_is_a_grid_and_specs_parse():
    space = parse_space(["lr=0.1,0.01", "hidden=50-50,20", "batch_size=32"])
    assert space == {"lr": [0.1, 0.01], "hidden": [[50, 50], [20]], "batch_size": [32]}
    grid = sw.make_trials(space, n_trials=1)
    assert sorted((tr["settings"]["lr"], tuple(tr["settings"]["hidden"])) for tr in grid) == \
        sorted((lr, h) for lr in (0.1, 0.01) for h in ((50, 50), (20,)))
    assert parse_space(["lr=log10:-3:-1"]) == {"lr": ("log10_uniform", -3.0, -1.0)}
    mixed = sw.make_trials({"lr": ("log10_uniform", -3, -1), "optimizer": ["sgd", "adam"]}, n_trials=20)
    assert {tr["settings"]["optimizer"] for tr in mixed} == {"sgd", "adam"}
    with pytest.raises(ValueError, match="unknown setting 'momentum'"):
        sw.make_trials({"momentum": [0.9]})
    with pytest.raises(ValueError, match="non-empty list"):
        sw.make_trials({"lr": []})


def exit_status(argv):
    """cli.main's exit status, whether returned or raised by argparse (SystemExit)."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("argv, message", [
    (["--trials", "0"], "argument --trials: must be >= 1; got 0"), (["--epochs", "0"], "argument --epochs"),
    (["--epochs", "-3"], "argument --epochs"), (["--workers", "-1"], "argument --workers: must be >= 0"),
    (["--seed", "-1"], "argument --seed"), (["--trials", "1.5"], "expected a whole number"),
    (["--train-size", "0"], "argument --train-size: must be >= 1; got 0"),  # was: every row, silently
    (["--train-size", "-5"], "argument --train-size"),  # was: all rows but the last five
    (["--train-size", "4"], "must be in [5, 1437]"),  # no validation row: every trial would fail
    (["--train-size", "99999"], "must be in [5, 1437]"),
    (["--space", "lr=log10:a:b"], "cannot read"), (["--space", "depth=3"], "expected KEY=SPEC"),
    (["--space", "lr=0,0.1"], "numbers > 0"), (["--space", "lr=log10:-1:-3"], "LO <= HI"),
    (["--space", "lr=log10:1:400"], "cannot read"),  # 10**400 is no float
    (["--space", "weight_decay=uniform:-1:0"], "numbers >= 0"), (["--space", "hidden=100-0"], "widths >= 1"),
    (["--space", "batch_size=0"], "whole numbers >= 1"), (["--space", "batch_size=uniform:1:9"], "whole numbers"),
    (["--space", "optimizer=adamw"], "among sgd"), (["--data", "/nonexistent"], "does not exist"),
    (["--best", "{out}"], "the same file"),
])
def test_cli_refuses_bad_options_with_a_message(argv, message, tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    argv = [a.format(out=out) for a in argv]
    assert exit_status(["sweep", "--workers", "0", "--no-progress", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_split_is_the_books_twenty_percent():
    x, t = digits(100)
    x_tr, t_tr, x_val, t_val = sw.split(x, t, seed=1)
    assert len(x_val) == 20 and len(x_tr) == 80
    assert sorted(map(tuple, np.vstack([x_tr, x_val]))) == sorted(map(tuple, x))


# --- running -------------------------------------------------------------------------------------------------
@pytest.mark.slow  # trains networks: the compiled pass only
def test_one_process_and_a_local_cluster_give_the_same_results(tmp_path):
    x, t = digits()
    kw = dict(trials=4, epochs=2, seed=5, progress=False)
    alone = sw.sweep(x, t, workers=0, out=tmp_path / "alone.jsonl", best_params=tmp_path / "a.npz", **kw)
    cluster = sw.sweep(x, t, workers=2, out=tmp_path / "dask.jsonl", best_params=tmp_path / "d.npz", **kw)
    assert comparable(alone) == comparable(cluster) and len(alone) == 4
    assert all(r["status"] == "ok" and r["val_acc"] and r["final_val_acc"] == r["val_acc"][-1] for r in alone)
    assert any(r["worker"].startswith("tcp://127.0.0.1") for r in cluster)
    best = max(alone, key=lambda r: r["final_val_acc"])
    for a, b in ((io.load_arrays(tmp_path / "a.npz"), io.load_arrays(tmp_path / "d.npz")),):
        assert set(a) == {f"W{i}" for i in range(1, 8)} | {f"b{i}" for i in range(1, 8)}
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert best["trial"] in {r["trial"] for r in alone}
    assert sw.read_results(tmp_path / "alone.jsonl") == alone


@pytest.mark.slow  # trains networks: the compiled pass only
def test_resume_skips_recorded_trials_and_the_file_is_never_overwritten(tmp_path):
    x, t = digits()
    out = tmp_path / "r.jsonl"
    first = sw.sweep(x, t, trials=3, epochs=1, workers=0, out=out, progress=False)
    with pytest.raises(FileExistsError, match="resume"):
        sw.sweep(x, t, trials=5, epochs=1, workers=0, out=out, progress=False)
    assert sw.read_results(out) == first
    both = sw.sweep(x, t, trials=5, epochs=1, workers=0, out=out, resume=True, progress=False)
    assert [r["trial"] for r in both] == [0, 1, 2, 3, 4]
    assert both[:3] == first  # the recorded trials untouched
    whole = sw.sweep(x, t, trials=5, epochs=1, workers=0, out=tmp_path / "w.jsonl", progress=False)
    assert comparable(whole) == comparable(both)
    assert oct(os.stat(out).st_mode & 0o777) != "0o600"  # an ordinary file, not a private temporary file's 0600


@pytest.mark.slow  # trains networks: the compiled pass only
def test_failing_trials_are_recorded_and_the_sweep_goes_on(tmp_path):
    x, t = digits()
    space = {"lr": [0.05, -1.0, 1e9]}  # fine; refused by SGD; diverges (FloatingPointError)
    records = sw.sweep(x, t, space=space, epochs=2, workers=0, out=tmp_path / "f.jsonl", progress=False)
    by_lr = {r["settings"]["lr"]: r for r in records}
    assert by_lr[0.05]["status"] == "ok"
    assert by_lr[-1.0]["status"] == "failed" and by_lr[-1.0]["error"].startswith("ValueError: lr must be > 0")
    assert by_lr[1e9]["status"] == "failed" and by_lr[1e9]["error"].startswith("FloatingPointError")


@pytest.mark.slow  # trains networks: the compiled pass only
def test_cli_prints_the_books_ranking_and_draws_the_figure(tmp_path, capsys):
    out, png = tmp_path / "c.jsonl", tmp_path / "best.png"
    assert cli.main(["sweep", "--trials", "3", "--epochs", "2", "--workers", "0", "--out", str(out), "--best",
                     str(tmp_path / "b.npz"), "--plot", str(png), "--train-size", "300", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "=========== Hyper-Parameter Optimization Result ===========" in text
    assert text.count("Best-") == 3 and "| lr:" in text and "weight_decay:" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(sw.read_results(out)) == 3


# --- a real cluster: scheduler and two workers on 127.0.0.1 ------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address, n, deadline):
    with Client(address, timeout=30) as client:
        while len(client.scheduler_info()["workers"]) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n} workers did not connect to {address}")
            time.sleep(0.2)


@pytest.fixture
def cluster_processes():
    """A `dask scheduler` and two `dask worker --no-nanny` processes (one thread each) on 127.0.0.1: (address,
    [worker Popen]); every process is killed at the end, whatever happened."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        workers = [subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                                     "--no-dashboard", "--host", "127.0.0.1"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        procs += workers
        _wait_for_workers(address, 2, time.monotonic() + 90)
        yield address, workers
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait(timeout=30)


@pytest.mark.slow  # trains networks: the compiled pass only
def test_sweep_on_a_cluster_survives_a_killed_worker(tmp_path, cluster_processes):
    address, workers = cluster_processes
    out = tmp_path / "cluster.jsonl"
    cmd = [str(BIN / "fastnn"), "sweep", "--trials", "12", "--epochs", "3", "--scheduler", address, "--out",
           str(out), "--best", str(tmp_path / "best.npz"), "--no-progress"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    deadline, killed, seen = time.monotonic() + 600, False, []
    try:
        while run.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the sweep did not finish in 10 minutes")
            if out.exists():
                lines = out.read_text().splitlines()  # never a partial file: every version parses
                seen.append([json.loads(line) for line in lines])
                if lines and not killed:
                    workers[0].send_signal(signal.SIGKILL)  # mid-sweep: it holds a running trial
                    killed = True
            time.sleep(0.05)
        stdout, stderr = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    assert killed and workers[0].wait(timeout=10) == -signal.SIGKILL
    records = sw.read_results(out)
    assert sorted(r["trial"] for r in records) == list(range(12))  # every trial, once
    assert all(r["status"] == "ok" for r in records)
    assert [len(v) for v in seen] == sorted(len(v) for v in seen)  # appends only, each a complete file
    (x, t), _ = datasets.load_digits()
    alone = sw.sweep(x, t, trials=12, epochs=3, workers=0, out=tmp_path / "alone.jsonl", progress=False)
    assert comparable(records) == comparable(alone)
    assert "Best-1(val acc:" in stdout


@pytest.mark.slow  # trains networks: the compiled pass only
def test_grid_search_cv_runs_on_the_dask_backend(cluster_processes):
    import joblib  # scikit-learn's dependency
    from sklearn.model_selection import GridSearchCV

    from fastnn.sklearn import MLPClassifier

    address, _ = cluster_processes
    (x, t), _ = datasets.load_digits()
    grid = {"hidden_layer_sizes": [(10,), (20,)], "alpha": [1e-4, 1e-1]}

    def search(n_jobs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return GridSearchCV(MLPClassifier(max_iter=5, random_state=0), grid, cv=2, n_jobs=n_jobs).fit(x, t)

    serial = search(None)
    with Client(address), joblib.parallel_backend("dask"):
        distributed = search(-1)
    assert distributed.best_params_ == serial.best_params_
    np.testing.assert_array_equal(distributed.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])


@pytest.mark.slow  # trains networks: the compiled pass only
@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path, workers):
    """SIGINT (Ctrl-C) after the first recorded trial, sent as a terminal does, to the whole process group (the
    local cluster's workers too): exit status 130, one line on stderr and no worker tracebacks (were ~60 lines of
    CancelledError/KeyboardInterrupt), the results file complete with the trials finished so far, and --resume
    runs exactly the rest."""
    out = tmp_path / "int.jsonl"
    cmd = [str(BIN / "fastnn"), "sweep", "--trials", "30", "--epochs", "3", "--workers", workers, "--out", str(out),
           "--best", str(tmp_path / "b.npz"), "--no-progress"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           preexec_fn=restore_sigint)
    deadline = time.monotonic() + 300
    try:
        while not (out.exists() and out.read_text().strip()):
            assert run.poll() is None and time.monotonic() < deadline, "no trial finished"
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGINT)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "CancelledError" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].endswith("--resume continues)"), stderr
    kept = sw.read_results(out)
    assert 1 <= len(kept) < 30 and len({r["trial"] for r in kept}) == len(kept)
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    records = sw.read_results(out)
    assert sorted(r["trial"] for r in records) == list(range(30))
    assert records[:len(kept)] == kept


# --- a scheduler address that is not a Dask scheduler (#25 G) ------------------------------------------------------
class _Listener:
    """A TCP server on 127.0.0.1 that treats each connection with ``reply(conn)`` in a thread; a context manager
    that closes the server and every connection it accepted."""

    def __init__(self, reply):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = "tcp://127.0.0.1:%d" % self.server.getsockname()[1]
        self.reply, self.conns = reply, []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed
                return
            self.conns.append(conn)
            self.reply(conn)

    def __enter__(self):
        self.thread.start()
        return self.address

    def __exit__(self, *exc):
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close() alone does not, on Linux)
        self.server.close()
        for conn in self.conns:
            conn.close()
        self.thread.join(timeout=30)


class _HttpServer:
    """``python -m http.server`` on 127.0.0.1 (a thread): it waits for a request line, and answers garbage with
    HTTP 400."""

    def __enter__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return "tcp://127.0.0.1:%d" % self.server.server_address[1]

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=30)


class _Nothing:
    """A port nothing listens on (bound, then closed)."""

    def __enter__(self):
        return "tcp://127.0.0.1:%d" % _free_port()

    def __exit__(self, *exc):
        pass


def _silent(conn):
    pass  # accepts, never answers


def _banner(conn):
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")  # speaks first, another protocol


def _fake_handshake(conn):
    conn.sendall(struct.pack("Q", 24) + b"\xff" * 24)  # a plausible length, then no Dask message


@pytest.mark.parametrize("server", [lambda: _Listener(_silent), _HttpServer, lambda: _Listener(_banner),
                                    lambda: _Listener(_fake_handshake), _Nothing],
                         ids=["silent", "http.server", "banner", "fake-handshake", "nothing-listening"])
def test_a_port_that_is_not_a_dask_scheduler_is_one_line_and_exit_2(server, tmp_path):
    """Was: > 150 s hung (silent, http.server), '_ArrayMemoryError: Unable to allocate 3.01 EiB' (a garbage
    handshake), a clear message only after 30 s (nothing listening). The subprocess's timeout only bounds the
    test; FASTNN_SWEEP_CONNECT_TIMEOUT lowers the sweep's own 10 s."""
    out = tmp_path / "s.jsonl"
    with server() as address:
        run = subprocess.run([str(BIN / "fastnn"), "sweep", "--scheduler", address, "--out", str(out), "--trials",
                              "2", "--epochs", "1"], capture_output=True, text=True, timeout=300,
                             env=dict(os.environ, FASTNN_SWEEP_CONNECT_TIMEOUT="1"))
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("trials ")]
    assert len(lines) == 1 and lines[0].startswith("fastnn sweep: error: ") and address in lines[0], run.stderr
    assert list(tmp_path.iterdir()) == []  # no results file, no weights


def test_the_connect_timeout_variable_is_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTNN_SWEEP_CONNECT_TIMEOUT", "soon")
    with _Nothing() as address:  # (not a silent server: this test runs in-process, with no time bound)
        assert exit_status(["sweep", "--scheduler", address, "--out", str(tmp_path / "s.jsonl")]) == 2
    assert "FASTNN_SWEEP_CONNECT_TIMEOUT must be a number of seconds" in capsys.readouterr().err


# --- a damaged results file under --resume (#25 H) ---------------------------------------------------------------
GOOD = {"trial": 0, "settings": {"lr": 0.01}, "seed": 7, "status": "ok", "train_acc": [0.5], "val_acc": [0.4],
        "final_train_acc": 0.5, "final_val_acc": 0.4, "time_s": 0.1, "worker": "local"}


@pytest.mark.parametrize("line, why", [
    (b"{}", "the record has no 'trial'"),  # was: KeyError traceback
    (json.dumps({k: v for k, v in GOOD.items() if k != "final_val_acc"}).encode(), "no 'final_val_acc'"),
    (json.dumps(GOOD).encode()[:40], "not a complete JSON record"),  # cut mid-way: was a JSON message, no file
    (b"[1, 2]", "expected a JSON object, got list"),
    (json.dumps({**GOOD, "final_val_acc": "high"}).encode(), "'final_val_acc' is 'high', not a number"),
    (json.dumps({**GOOD, "status": "failed"}).encode(), "no 'error'"),
    (json.dumps({**GOOD, "status": "done"}).encode(), "neither 'ok' nor 'failed'"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_resume_refuses_a_damaged_results_file_naming_file_and_line(line, why, tmp_path, capsys):
    out = tmp_path / "damaged.jsonl"
    content = json.dumps(GOOD).encode() + b"\n" + line + b"\n"
    out.write_bytes(content)
    assert exit_status(["sweep", "--workers", "0", "--resume", "--trials", "3", "--epochs", "1", "--out", str(out),
                        "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastnn sweep: error: results file ") and "Traceback" not in err
    assert str(out) in err and "line 2:" in err and why in err, err
    assert out.read_bytes() == content  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.jsonl"]
    with pytest.raises(ValueError, match="line 2"):
        sw.read_results(out)


# --- the best weights are named after the results file (#25 I) ---------------------------------------------------
def test_the_best_weights_file_is_named_after_the_results_file():
    assert sw.best_path("fastnn-sweep.jsonl") == "fastnn-sweep-best.npz"  # the README's default is unchanged
    assert sw.best_path(Path("runs") / "search.jsonl") == os.path.join("runs", "search-best.npz")
    assert sw.best_path("a.b.jsonl") == "a.b-best.npz" and sw.best_path("plain") == "plain-best.npz"


def test_two_sweeps_in_one_directory_keep_their_own_best_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["sweep", "--workers", "0", "--trials", "1", "--epochs", "1", "--train-size", "50", "--no-progress"]
    assert cli.main(common + ["--out", "a.jsonl", "--space", "hidden=10"]) == 0
    assert cli.main(common + ["--out", "b.jsonl", "--space", "hidden=20"]) == 0  # was: replaced a's weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-best.npz", "a.jsonl", "b-best.npz", "b.jsonl"]
    assert io.load_arrays("a-best.npz")["W1"].shape == (64, 10)
    assert io.load_arrays("b-best.npz")["W1"].shape == (64, 20)
