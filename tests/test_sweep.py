"""fastnn.sweep and ``fastnn sweep``: the book's random search, on one process, a LocalCluster and a real Dask
scheduler with two worker processes on 127.0.0.1 (started here, bounded in time, always cleaned up), one of them
SIGKILLed mid-sweep; results files valid after every append; resume; failures recorded; GridSearchCV on Dask."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from distributed import Client  # the test extra installs dask[distributed]: no skipping

from fastnn import cli, datasets, io
from fastnn import sweep as sw
from fastnn.sweep_cli import parse_space

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


@pytest.mark.parametrize("argv, message", [
    (["--trials", "0"], "n_trials must be"), (["--epochs", "0"], "epochs must be"),
    (["--space", "lr=log10:a:b"], "cannot read"), (["--space", "depth=3"], "expected KEY=SPEC"),
    (["--data", "/nonexistent"], "does not exist"),
])
def test_cli_refuses_bad_options_with_a_message(argv, message, tmp_path, capsys):
    assert cli.main(["sweep", "--workers", "0", "--out", str(tmp_path / "x.jsonl"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


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
    """SIGINT (Ctrl-C) after the first recorded trial: exit status 130, the results file complete with the trials
    finished so far, and --resume runs exactly the rest."""
    out = tmp_path / "int.jsonl"
    cmd = [str(BIN / "fastnn"), "sweep", "--trials", "30", "--epochs", "3", "--workers", workers, "--out", str(out),
           "--best", str(tmp_path / "b.npz"), "--no-progress"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    try:
        while not (out.exists() and out.read_text().strip()):
            assert run.poll() is None and time.monotonic() < deadline, "no trial finished"
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    assert "--resume continues" in stderr
    kept = sw.read_results(out)
    assert 1 <= len(kept) < 30 and len({r["trial"] for r in kept}) == len(kept)
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    records = sw.read_results(out)
    assert sorted(r["trial"] for r in records) == list(range(30))
    assert records[:len(kept)] == kept
