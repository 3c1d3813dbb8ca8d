import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from fastnn import nets, optimizer
from fastnn.threads import blas_libraries, threads


def _train(n_threads, steps=5):
    rng = np.random.default_rng(0)
    x, t = rng.random((64, 30)), rng.integers(0, 4, 64)
    np.random.seed(0)
    net = nets.MultiLayerNet(30, [20, 10], 4)
    opt = optimizer.Adam()
    with threads(n_threads):
        for _ in range(steps):
            opt.update(net.params, net.gradient(x, t))
    return net.params


def test_threads_restores_numba_setting():
    before = numba.get_num_threads()
    with threads(1) as n:
        assert n == 1 and numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_results_do_not_depend_on_thread_count():
    one, two = _train(1), _train(2)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])


@pytest.mark.parametrize("bad, error", [(0, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_bad_thread_count(bad, error):
    with pytest.raises(error, match="n must"):
        with threads(bad):
            pass


# --- BLAS: always pinned through threadpoolctl (a dependency), never silently left alone ---------------------------
ROOT = Path(__file__).resolve().parents[1]


def _blas_counts():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


@pytest.mark.parametrize("outside, inside", [(1, 2), (2, 1)])
def test_threads_sets_and_restores_both_blas_limits(outside, inside):
    with threadpool_limits(limits=outside, user_api="blas"):
        with threads(inside):
            counts = _blas_counts()
            assert len(counts) >= 2  # NumPy's OpenBLAS and SciPy's, which numba's np.dot calls
            assert counts == [inside] * len(counts)
        assert _blas_counts() == [outside] * len(counts)


def test_a_refused_thread_count_leaves_blas_alone():
    with threadpool_limits(limits=1, user_api="blas"):
        with pytest.raises(ValueError):
            with threads(0):
                pass
        assert set(_blas_counts()) == {1}


def test_threads_reaches_scipys_blas_even_before_it_is_loaded():
    code = ("import sys, numpy\n"
            "from fastnn.threads import threads, blas_libraries\n"
            "assert 'scipy.linalg' not in sys.modules\n"
            "with threads(2):\n"
            "    print(blas_libraries())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1")).stdout
    assert out.count("): 2") == 2 and "): 1" not in out  # both libraries, each at 2 threads


def test_without_threadpoolctl_the_module_does_not_import():
    """No silent fallback: a fastnn without threadpoolctl fails at import instead of leaving BLAS at its own count
    (the old behaviour: a warning, and unpinned BLAS figures)."""
    code = "import sys\nsys.modules['threadpoolctl'] = None\nimport fastnn.threads\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0
    assert "ModuleNotFoundError" in proc.stderr and "threadpoolctl" in proc.stderr


def test_threadpoolctl_is_a_runtime_dependency():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0] for req in project["dependencies"]]
    assert "threadpoolctl" in names


def test_blas_libraries_names_each_library_and_its_thread_count():
    with threads(1):
        line = blas_libraries()
    parts = line.split(", ")
    assert len(parts) == len(_blas_counts()) >= 2
    assert all(re.fullmatch(r"\S+ \S+ \(\S+\): 1", part) for part in parts)


def test_fastnn_threads_is_callable_as_documented():
    import fastnn

    before = _blas_counts()
    with fastnn.threads(1) as n:
        assert n == 1 and set(_blas_counts()) == {1}
    assert _blas_counts() == before


def test_overlapping_scopes_in_two_threads_restore_the_process_setting():
    """Thread A enters, thread B enters, A leaves, B leaves: BLAS is back at its count from before A (the old
    save-and-restore per scope left it at one thread). In a fresh process: threadpoolctl lets only one Python thread
    (the first to set a limit) change OpenBLAS's count, so a test process whose main thread set one hides the bug."""
    script = textwrap.dedent("""
        import threading
        from threadpoolctl import threadpool_info
        import fastnn

        counts = lambda: sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        with fastnn.threads(1):  # loads both BLAS libraries; its exit restores the start-up counts
            pass
        before = counts()
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

        def a():
            with fastnn.threads(1):
                a_in.set()
                b_in.wait(10)
            a_out.set()

        def b():
            a_in.wait(10)
            with fastnn.threads(1):
                b_in.set()
                a_out.wait(10)

        workers = [threading.Thread(target=f) for f in (a, b)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(20)
        print(before, counts())
        """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    before, after = out.stdout.strip().split("] [")
    assert before + "]" == "[" + after and "2" in before, out.stdout


def test_fastnn_compiled_steps_run_blas_at_one_thread_and_restore_it(monkeypatch):
    """Issue #25's thread policy: a batch-100 step of a 784-100-10 net runs its compiled call with one BLAS thread
    (two programs at once no longer spin against each other); a whole-data-set call (PIN_BELOW_ROWS rows or more),
    a product OpenBLAS keeps on one thread anyway and a call inside a user's threads(n) scope are left alone; the
    process's counts are restored after each call."""
    import fastnn.engine as engine_module
    from fastnn import threads as threads_module

    monkeypatch.setattr(threads_module, "_others_busy", lambda: True)  # a busy machine (tested on its own below)
    seen = []
    run = engine_module.nk.run

    def recording_run(*args):
        seen.append(sorted(set(_blas_counts())))
        return run(*args)

    monkeypatch.setattr(engine_module.nk, "run", recording_run)
    rng = np.random.default_rng(0)
    net = nets.TwoLayerNet(784, 100, 10)
    small = nets.TwoLayerNet(4, 3, 2)
    with threadpool_limits(limits=2, user_api="blas"):
        net.gradient(rng.random((100, 784)), rng.integers(0, 10, 100))
        # (a loss, not predict: a test-behaviour predict runs EVAL_CHUNK rows at a time, each chunk a batch)
        rows = threads_module.PIN_BELOW_ROWS
        net.loss(rng.random((rows, 784)), rng.integers(0, 10, rows))
        small.predict(rng.random((100, 4)))
        with threads(2):
            net.predict(rng.random((100, 784)))
        after = sorted(set(_blas_counts()))
    assert seen == [[1], [2], [2], [2]] and after == [2]


def test_standalone_affine_and_sklearn_epochs_pin_blas_too(monkeypatch):
    """The book's layers used on their own (a chapter-local net on fastnn.layers) and fastnn.sklearn's epochs run
    their products at one BLAS thread too (same rule as the engine's calls)."""
    import fastnn.layers as layers_module
    import fastnn.sklearn as sk_module
    from fastnn import threads as threads_module

    monkeypatch.setattr(threads_module, "_others_busy", lambda: True)
    from fastnn.layers import Affine
    from fastnn.sklearn import MLPClassifier

    seen = []

    def recording(name, module):
        original = getattr(module, name)

        def record(*args):
            seen.append((name, sorted(set(_blas_counts()))))
            return original(*args)
        monkeypatch.setattr(module, name, record)

    recording("affine_forward", layers_module.affine)
    recording("affine_backward_params", layers_module.affine)
    recording("stochastic_epoch", sk_module.K)
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=2, user_api="blas"):
        layer = Affine(rng.standard_normal((784, 100)), np.zeros(100))
        layer.backward(layer.forward(rng.random((100, 784))))
        MLPClassifier(hidden_layer_sizes=(100,), max_iter=1, batch_size=100, random_state=0).fit(
            rng.random((200, 784)), rng.integers(0, 3, 200))
        after = sorted(set(_blas_counts()))
    assert seen == [("affine_forward", [1]), ("affine_backward_params", [1]), ("stochastic_epoch", [1])]
    assert after == [2]


def test_the_pin_follows_other_programs_cpu_use(monkeypatch):
    """BLAS is pinned while other processes use more than OTHERS_BUSY_CORES cores (a quiet machine keeps OpenBLAS's
    threads: 0.47 ms against 0.75 ms a 784-100-10 batch-100 step, measured); it is re-sampled every
    BUSY_SAMPLE_SECONDS, and pinned where /proc/stat cannot be read."""
    from fastnn import threads as threads_module

    samples = iter([(0.0, 100.0, 10.0), (1.0, 101.2, 11.0),   # machine +1.2 s, this process +1.0: others 0.2
                    (2.0, 103.2, 11.5)])                       # machine +2.0 s, this process +0.5: others 1.5
    monkeypatch.setattr(threads_module, "_cpu_sample", lambda: next(samples))
    monkeypatch.setattr(threads_module, "_sample", None)
    monkeypatch.setattr(threads_module, "_busy", True)
    clock = iter([10.0, 20.0, 30.0])
    monkeypatch.setattr(threads_module.time, "monotonic", lambda: next(clock))
    assert threads_module._others_busy()  # no interval yet: the safe side
    assert not threads_module._others_busy()  # quiet
    assert threads_module._others_busy()  # busy

    def unreadable():
        raise OSError("no /proc here")
    monkeypatch.setattr(threads_module, "_cpu_sample", unreadable)
    monkeypatch.setattr(threads_module, "_sample", None)
    assert threads_module._others_busy()
