"""fastnn under concurrency: threads training different networks at once, and the on-disk kernel cache when its
directory cannot be written or is shared by processes starting together.

Kernels are compiled with ``nogil=True`` and keep no global state, so two threads give what they give one after
the other. The cache tests run small scripts in fresh interpreters (with ``FASTNN_CACHE`` unset, so caching is
on, whatever the suite's own setting) and compare their numbers with the pure-NumPy reference.
"""
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import fastnn
from fastnn import functions as F
from fastnn import kernels, nets
from fastnn import layers as L
from fastnn import trainer as ft
from fastnn.reference import functions as R
from fastnn.reference import nets as rn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


# --- threads -----------------------------------------------------------------------------------------------------
def _data(seed, n=60, n_features=8, n_classes=4, dtype=np.float64):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, n_features)).astype(dtype)
    t = np.argmax(x @ r.normal(size=(n_features, n_classes)), axis=1)
    return x[:45], t[:45], x[45:], t[45:]


def _trainers():
    """Two different runs: a float64 TwoLayerNet with Adam, a float32 sigmoid MultiLayerNet with momentum. Batches
    come from each trainer's own seeded generator, and nothing draws from the global RNG while they train."""
    np.random.seed(0)
    a = ft.Trainer(nets.TwoLayerNet(8, 10, 4, weight_init_std=0.3), *_data(1), epochs=6, mini_batch_size=9,
                   optimizer="Adam", optimizer_param={"lr": 0.01}, verbose=False, seed=1)
    b = ft.Trainer(nets.MultiLayerNet(8, [9, 7], 4, activation="sigmoid", dtype=np.float32),
                   *_data(2, dtype=np.float32), epochs=6, mini_batch_size=5, optimizer="momentum",
                   optimizer_param={"lr": 0.1}, verbose=False, seed=2)
    return a, b


def _result(trainer):
    return {k: v.copy() for k, v in trainer.network.params.items()}, list(trainer.train_loss_list), \
        list(trainer.test_acc_list), trainer.final_test_acc


def _run_in_threads(functions):
    """Run the callables in one thread each, released together; re-raise the first error."""
    barrier = threading.Barrier(len(functions))
    results, errors = [None] * len(functions), []

    def run(i):
        try:
            barrier.wait()
            results[i] = functions[i]()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _train(trainer):
    trainer.train()
    return _result(trainer)


def test_two_threads_training_two_nets_give_the_sequential_results():
    sequential = [_train(trainer) for trainer in _trainers()]
    concurrent = _run_in_threads([lambda tr=tr: _train(tr) for tr in _trainers()])
    for seq, conc in zip(sequential, concurrent):
        np.testing.assert_equal(conc, seq)  # bit for bit


def test_threads_sharing_functions_and_layer_classes():
    """Many threads calling the same kernels on their own data (each with its own layer objects)."""
    rng = np.random.default_rng(3)
    inputs = [(rng.normal(scale=30, size=(16, 7)).astype(dtype), rng.integers(0, 7, 16))
              for dtype in (np.float64, np.float32) * 4]

    def work(x, t):
        layer, relu = L.SoftmaxWithLoss(), L.Relu()
        out = []
        for _ in range(20):
            out.append((F.softmax(x), F.sigmoid(x), F.softmax_loss(x, t), layer.forward(relu.forward(x), t),
                        relu.backward(layer.backward())))
        return out

    sequential = [work(*args) for args in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda args: work(*args), inputs))
    np.testing.assert_equal(concurrent, sequential)
    for (x, t), result in zip(inputs, sequential):
        np.testing.assert_allclose(result[0][0], R.softmax(x), rtol=1e-5)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: kernels are plain Python functions")
def test_every_kernel_releases_the_gil():
    modules = [importlib.import_module(f"fastnn.kernels.{m.name}") for m in pkgutil.iter_modules(kernels.__path__)]
    found = {f"{module.__name__}.{name}": obj for module in modules for name, obj in vars(module).items()
             if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__}
    assert len(found) > 30
    holding = sorted(name for name, k in found.items() if not k.targetoptions.get("nogil"))
    assert holding == []


# --- the on-disk cache -------------------------------------------------------------------------------------------
SCRIPT = """
import json, numpy as np
from fastnn import functions as F, nets, optimizer
x = np.linspace(-3, 3, 12).reshape(3, 4)
t = np.array([0, 1, 3])
np.random.seed(0)
net = nets.TwoLayerNet(4, 5, 4, weight_init_std=0.5)
optimizer.Adam(lr=0.1).update(net.params, net.gradient(x, t))
print(json.dumps({"softmax": F.softmax(x).tolist(), "sigmoid": F.sigmoid(x).tolist(),
                  "loss": float(F.softmax_loss(x, t)), "W1": net.params["W1"].tolist()}))
"""


def _expected():
    """SCRIPT's numbers from the pure-NumPy reference."""
    from fastnn.reference import optimizer as ro

    x = np.linspace(-3, 3, 12).reshape(3, 4)
    t = np.array([0, 1, 3])
    np.random.seed(0)
    net = rn.TwoLayerNet(4, 5, 4, weight_init_std=0.5)
    ro.Adam(lr=0.1).update(net.params, net.gradient(x, t))
    return {"softmax": R.softmax(x), "sigmoid": R.sigmoid(x), "loss": R.softmax_loss(x, t), "W1": net.params["W1"]}


def _env(tmp_path, pythonpath=REPO, **changes):
    env = {k: v for k, v in os.environ.items() if k not in ("FASTNN_CACHE", "NUMBA_CACHE_DIR")}
    env.update(PYTHONPATH=pythonpath, PYTHONDONTWRITEBYTECODE="1", XDG_CACHE_HOME=str(tmp_path / "xdg"),
               HOME=str(tmp_path / "home"))
    env.update({k: str(v) for k, v in changes.items() if v is not None})
    return env


def _start(env, cwd):
    return subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(process):
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    got = json.loads(out)
    for key, value in _expected().items():
        np.testing.assert_allclose(got[key], value, rtol=1e-12, atol=1e-15, err_msg=key)


def _cache_files(directory):
    return [os.path.join(d, f) for d, _, files in os.walk(directory) for f in files if f.endswith(".nbi")]


def _blocked(tmp_path):
    """A path under a regular file: no one, root included, can create or write a directory there."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    return blocker


def test_unwritable_numba_cache_dir_still_computes(tmp_path):
    env = _env(tmp_path, NUMBA_CACHE_DIR=_blocked(tmp_path) / "cache")
    _finish(_start(env, tmp_path))


def _read_only_package(tmp_path):
    """A copy of the package in which no __pycache__ directory can be created (as in a read-only install)."""
    root = tmp_path / "install"
    shutil.copytree(os.path.join(REPO, "fastnn"), root / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for directory, _, _ in os.walk(root / "fastnn"):
        with open(os.path.join(directory, "__pycache__"), "w") as f:
            f.write("a file where numba would create its in-tree cache directory")
    return root


def test_read_only_package_caches_in_the_user_directory(tmp_path):
    root = _read_only_package(tmp_path)
    _finish(_start(_env(tmp_path, pythonpath=root), tmp_path))
    user_cache = tmp_path / "xdg"
    if not numba.config.DISABLE_JIT:  # (without the JIT nothing is compiled, so nothing is cached)
        assert _cache_files(user_cache), "the kernels were not cached in the per-user directory"
    _finish(_start(_env(tmp_path, pythonpath=root), tmp_path))  # and a second run loads them


def test_no_writable_cache_location_at_all_still_computes(tmp_path):
    """Read-only install, HOME and NUMBA_CACHE_DIR unwritable (e.g. a container run as another user)."""
    blocked = _blocked(tmp_path)
    root = _read_only_package(tmp_path)
    env = _env(tmp_path, pythonpath=root, NUMBA_CACHE_DIR=blocked / "c", XDG_CACHE_HOME=blocked / "x",
               HOME=blocked / "h")
    _finish(_start(env, tmp_path))


def test_two_processes_starting_at_once_share_a_fresh_cache_dir(tmp_path):
    cache = tmp_path / "cache"
    env = _env(tmp_path, NUMBA_CACHE_DIR=cache)
    processes = [_start(env, tmp_path) for _ in range(2)]
    for process in processes:
        _finish(process)
    if not numba.config.DISABLE_JIT:
        assert _cache_files(cache)
    _finish(_start(env, tmp_path))  # a third process loads what the two wrote
