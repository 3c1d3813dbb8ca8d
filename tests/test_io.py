"""fastnn.io and the networks' save_params/load_params: .npz round trips into the same arrays, readable errors for
files that do not fit, no unpickling, and atomic saves (an exception or a SIGKILL mid-save leaves the old file)."""
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastnn
from fastnn import io
from fastnn import nets as fn

REPO = Path(fastnn.__file__).resolve().parents[1]


def params_dict(rng, dtype=np.float64):
    return {"W1": rng.standard_normal((4, 3)).astype(dtype), "b1": rng.standard_normal(3).astype(dtype),
            "W2": rng.standard_normal((3, 2)).astype(dtype), "b2": rng.standard_normal(2).astype(dtype)}


def files_in(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def _raises_naming(exc, text, fn_, *args):
    with pytest.raises(exc) as info:
        fn_(*args)
    assert text in str(info.value), str(info.value)


# --- round trips ------------------------------------------------------------------------------------------------
key_names = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789_", min_size=1, max_size=8).filter(lambda k: k != "file")


@given(st.dictionaries(key_names, hnp.arrays(st.sampled_from([np.float32, np.float64]),
                                             hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)),
                       min_size=1, max_size=4),
       st.sampled_from(["params.npz", "weights.pkl", "no_extension", "dir.with.dots/p"]))
def test_save_load_arrays_round_trip(tmp_path_factory, arrays, name):
    directory = tmp_path_factory.mktemp("io")
    path = directory / name
    path.parent.mkdir(exist_ok=True)
    io.save_arrays(path, arrays)
    assert files_in(path.parent) == [path.name]  # the name is kept exactly (np.savez would append .npz)
    loaded = io.load_arrays(str(path))
    assert sorted(loaded) == sorted(arrays)
    for key, value in arrays.items():
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)


def test_load_into_is_in_place(tmp_path, rng, dtype):
    saved = params_dict(rng, dtype)
    io.save_arrays(tmp_path / "p.npz", saved)
    target = params_dict(rng, dtype)
    ids = {k: id(v) for k, v in target.items()}
    io.load_into(target, tmp_path / "p.npz")
    assert {k: id(v) for k, v in target.items()} == ids
    for key in saved:
        np.testing.assert_array_equal(target[key], saved[key])


@pytest.mark.parametrize("spec", ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "TwoLayerNetCh4",
                                  "SimpleNet", "TwoLayerNetBook2"])
def test_net_save_load_params_round_trip(tmp_path, monkeypatch, spec, dtype):
    def build(seed):
        np.random.seed(seed)
        if spec in ("MultiLayerNet", "MultiLayerNetExtend"):
            extra = dict(use_batchnorm=True) if spec == "MultiLayerNetExtend" else {}
            return getattr(fn, spec)(4, [5, 3], 2, dtype=dtype, **extra)
        if spec == "SimpleNet":
            return fn.SimpleNet(dtype=dtype)
        return getattr(fn, spec)(4, 5, 2, dtype=dtype)

    def arrays(net):
        return list(net.params.values()) if isinstance(net.params, dict) else list(net.params)

    trained, fresh = build(1), build(2)
    monkeypatch.chdir(tmp_path)
    trained.save_params()  # the book's default file name
    assert files_in(tmp_path) == ["params.npz"]
    before = [id(a) for a in arrays(fresh)]
    fresh.load_params()
    assert [id(a) for a in arrays(fresh)] == before  # loaded in place: the layers keep seeing these arrays
    for a, b in zip(arrays(fresh), arrays(trained)):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).standard_normal((3, arrays(fresh)[0].shape[0]))
    np.testing.assert_array_equal(fresh.predict(x), trained.predict(x))  # the layers see the loaded values
    trained.save_params("run-1.weights")
    assert "run-1.weights" in files_in(tmp_path)
    build(3).load_params(tmp_path / "run-1.weights")


# --- files that do not fit --------------------------------------------------------------------------------------
def test_load_wrong_keys_shapes_dtypes_names_the_key(tmp_path, rng):
    target = params_dict(rng)
    original = {k: v.copy() for k, v in target.items()}
    path = tmp_path / "p.npz"
    cases = [
        ({k: v for k, v in target.items() if k != "b2"}, "b2"),  # missing key
        (dict(target, gamma1=np.ones(3)), "gamma1"),  # extra key
        (dict(target, W2=np.ones((2, 3))), "W2"),  # wrong shape
        (dict(target, b1=target["b1"].astype(np.float32)), "b1"),  # wrong dtype
        (dict(target, W1=target["W1"].astype(np.int64)), "W1"),
    ]
    for saved, key in cases:
        io.save_arrays(path, saved)
        _raises_naming(ValueError, repr(key), io.load_into, target, path)
        for k in target:  # nothing was overwritten
            np.testing.assert_array_equal(target[k], original[k])


def test_load_into_read_only_target_changes_nothing(tmp_path, rng):
    target = params_dict(rng)
    original = {k: v.copy() for k, v in target.items()}
    io.save_arrays(tmp_path / "p.npz", params_dict(rng))
    target["b2"].flags.writeable = False
    _raises_naming(ValueError, "b2", io.load_into, target, tmp_path / "p.npz")
    for k in target:
        np.testing.assert_array_equal(target[k], original[k])


def test_net_load_params_of_another_net_names_the_key(tmp_path):
    small, big = fn.TwoLayerNet(4, 5, 3), fn.TwoLayerNet(4, 6, 3)
    small.save_params(tmp_path / "p.npz")
    _raises_naming(ValueError, "'W1'", big.load_params, tmp_path / "p.npz")
    _raises_naming(ValueError, "'W1'", fn.TwoLayerNet(4, 5, 3, dtype=np.float32).load_params, tmp_path / "p.npz")
    _raises_naming(ValueError, "W3", fn.MultiLayerNet(4, [5, 5], 3).load_params, tmp_path / "p.npz")


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flipped_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the array data: the zip member's CRC no longer matches
    path.write_bytes(bytes(data))


def _npy(path):
    with open(path, "wb") as f:
        np.save(f, np.ones(3))


def _member_not_npy(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("W1.npy", b"not an array")


CORRUPTIONS = {
    "truncated": _truncated, "flipped byte": _flipped_byte, "single .npy": _npy, "member not .npy": _member_not_npy,
    "empty": lambda p: p.write_bytes(b""), "text": lambda p: p.write_text("W1 = [1, 2, 3]\n"),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(300)),
}


@pytest.mark.parametrize("corrupt", sorted(CORRUPTIONS))
def test_corrupt_file_is_a_value_error(tmp_path, rng, corrupt):
    path = tmp_path / "p.npz"
    io.save_arrays(path, {"W1": rng.standard_normal((40, 40))})
    CORRUPTIONS[corrupt](path)
    _raises_naming(ValueError, "p.npz", io.load_arrays, path)
    _raises_naming(ValueError, "p.npz", io.load_into, {"W1": np.zeros((40, 40))}, path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load_arrays(tmp_path / "nothing.npz")


class _Canary:
    """Unpickling it creates a file: proof that pickled data was executed."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_object_arrays_are_never_unpickled(tmp_path):
    canary = tmp_path / "unpickled"
    evil = np.empty(1, dtype=object)
    evil[0] = _Canary(str(canary))
    as_npz, as_pickle = tmp_path / "evil-npz.npz", tmp_path / "evil-pickle.npz"
    np.savez(as_npz, W1=evil)  # an .npz whose array is pickled
    as_pickle.write_bytes(pickle.dumps({"W1": evil}))  # a plain pickle named .npz
    for path in (as_npz, as_pickle):
        _raises_naming(ValueError, path.name, io.load_arrays, path)
        _raises_naming(ValueError, path.name, fn.SimpleNet().load_params, path)
    assert not canary.exists()
    with np.load(as_npz, allow_pickle=True) as data:  # the canary works: unpickling would have been seen
        data["W1"]
    assert canary.exists()


# --- atomic saves -----------------------------------------------------------------------------------------------
def test_exception_while_saving_keeps_the_old_file(tmp_path, rng, monkeypatch):
    path = tmp_path / "params.npz"
    old = params_dict(rng)
    io.save_arrays(path, old)

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")  # partial output, then the failure
        raise RuntimeError("disk on fire")

    def interrupted_savez(file, **arrays):
        raise KeyboardInterrupt  # Ctrl-C mid-save: a BaseException, cleaned up too

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(RuntimeError, match="disk on fire"):
        io.save_arrays(path, params_dict(rng))
    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        io.save_arrays(path, params_dict(rng))
    monkeypatch.undo()
    assert files_in(tmp_path) == ["params.npz"]  # no temporary file left behind
    loaded = io.load_arrays(path)
    for key in old:
        np.testing.assert_array_equal(loaded[key], old[key])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_get_the_umask_permissions_of_an_ordinary_file(tmp_path, rng, umask):
    """The saved file is an ordinary new file: 0666 minus the process's umask (not a private temporary file's
    0600)."""
    old_umask = os.umask(umask)
    try:
        path = tmp_path / "params.npz"
        io.save_arrays(path, params_dict(rng))
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
        net = fn.TwoLayerNet(4, 3, 2)
        net.save_params(str(tmp_path / "net.npz"))
        assert os.stat(tmp_path / "net.npz").st_mode & 0o777 == 0o666 & ~umask
    finally:
        os.umask(old_umask)


def test_unsaveable_value_keeps_the_old_file(tmp_path):
    path = tmp_path / "params.npz"
    io.save_arrays(path, {"W": np.ones(3)})
    with pytest.raises(RuntimeError, match="cannot convert"):
        io.save_arrays(path, {"W": np.ones(2), "x": _Unsaveable()})
    assert files_in(tmp_path) == ["params.npz"]
    np.testing.assert_array_equal(io.load_arrays(path)["W"], np.ones(3))


def test_arrays_that_could_not_be_loaded_back_are_refused(tmp_path):
    path = tmp_path / "params.npz"
    io.save_arrays(path, {"W": np.ones(3)})
    _raises_naming(TypeError, "'W2'", io.save_arrays, path, {"W1": np.ones(2), "W2": np.array([{}], dtype=object)})
    _raises_naming(ValueError, "'file'", io.save_arrays, path, {"file": np.ones(2)})  # np.savez's parameter
    _raises_naming(ValueError, "'allow_pickle'", io.save_arrays, path, {"allow_pickle": np.ones(2)})
    _raises_naming(ValueError, "1", io.save_arrays, path, {1: np.ones(2)})
    assert files_in(tmp_path) == ["params.npz"]
    np.testing.assert_array_equal(io.load_arrays(path)["W"], np.ones(3))


class _Unsaveable:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("cannot convert")


_SAVER = r"""
import sys
import numpy as np
from fastnn import io

path, mode = sys.argv[1], sys.argv[2]
old = {"W": np.full((700, 700), 1.0), "b": np.full(700, 1.0)}  # ~4 MB: a save takes a while
new = {"W": np.full((700, 700), 2.0), "b": np.full(700, 2.0)}
io.save_arrays(path, old)
if mode == "hang":  # stop inside np.savez, after the temporary file is fully written
    real_savez = np.savez

    def savez_then_hang(file, **arrays):
        real_savez(file, **arrays)
        file.flush()
        print("writing", flush=True)
        sys.stdin.read()

    np.savez = savez_then_hang
    io.save_arrays(path, new)
print("saving", flush=True)
i = 0
while True:
    io.save_arrays(path, new if i % 2 == 0 else old)
    i += 1
"""


def _start_saver(path, mode):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    return proc, line.strip()


def _kill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL


def _assert_old_or_new(path):
    with np.load(path, allow_pickle=False) as data:  # a complete .npz
        W, b = data["W"], data["b"]
    assert W.shape == (700, 700) and b.shape == (700,)
    value = W[0, 0]
    assert value in (1.0, 2.0)
    assert np.all(W == value) and np.all(b == value)  # one whole save, not a mix


def test_sigkill_inside_savez_leaves_the_old_file(tmp_path):
    path = tmp_path / "params.npz"
    proc, line = _start_saver(path, "hang")
    try:
        assert line == "writing"
    finally:
        _kill(proc)
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["W"], np.full((700, 700), 1.0))
    assert len(files_in(tmp_path)) == 2  # the killed save's temporary file (nobody was left to remove it)


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.45])
def test_sigkill_during_repeated_saves_leaves_a_complete_file(tmp_path, delay):
    path = tmp_path / "params.npz"
    proc, line = _start_saver(path, "loop")
    try:
        assert line == "saving"
        time.sleep(delay)
    finally:
        _kill(proc)
    _assert_old_or_new(path)
    arrays = io.load_arrays(path)
    assert sorted(arrays) == ["W", "b"]
