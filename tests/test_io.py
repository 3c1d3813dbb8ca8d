"""fastnn.io and the networks' save_params/load_params: .npz round trips into the same arrays, readable errors for
files that do not fit, no unpickling, nothing allocated or decompressed from what a hostile file only declares, no
hang on a FIFO, and atomic saves (an exception or a SIGKILL mid-save leaves the old file; the next save of that
target removes what the killed one left)."""
import io as stdio
import os
import pickle
import signal
import struct
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
from hostile import fed_fifo, peak_memory

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


# --- hostile files: nothing is allocated or decompressed from what a file only declares -----------------------------
def npy_bytes(shape, descr="<f8", data=b""):
    """A .npy member: a header declaring ``shape`` and ``descr``, then ``data`` (whatever the header says)."""
    buf = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """An .npz of the .npy ``members`` {name: bytes}: with the rest of a TwoLayerNet(4, 3, 2)'s parameters (so that
    every loader gets past the key comparison to the member), stored unless ``compression``."""
    fillers = {f"{k}.npy": npy_bytes(v.shape, data=v.tobytes()) for k, v in params_dict(np.random.default_rng(0))
               .items()}
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in dict(fillers, **members).items():
            z.writestr(name, data)
    return path


def flip_data_byte(path, member):
    """Flip the last byte of a stored member's data: its CRC no longer matches, found only by reading it all."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size - 1] ^= 0xFF
    path.write_bytes(bytes(data))


def _loaders(rng):
    """(name, call(path), the arrays a refused load must leave unchanged) for every way to load a params file."""
    target = params_dict(rng)
    net = fn.TwoLayerNet(4, 3, 2)
    return [("load_arrays", io.load_arrays, {}), ("load_into", lambda p: io.load_into(target, p), target),
            ("TwoLayerNet.load_params", net.load_params, net.params)]


def assert_refused_and_unchanged(rng, path, message, max_peak=4 << 20):
    for name, load, arrays in _loaders(rng):
        before = {k: v.copy() for k, v in arrays.items()}
        peak, error = peak_memory(lambda: load(path))
        assert isinstance(error, ValueError), (name, repr(error))
        assert message in str(error) and str(path) in str(error), (name, str(error))
        assert peak < max_peak, (name, peak)
        np.testing.assert_equal({k: v.copy() for k, v in arrays.items()}, before)


def test_a_member_declaring_a_huge_shape_allocates_nothing(tmp_path, rng):
    """238 bytes whose member declares 8 TB (np.load: _ArrayMemoryError)."""
    path = write_zip(tmp_path / "p.npz", {"W1.npy": npy_bytes((10 ** 12,), data=bytes(16))})
    assert path.stat().st_size < 1000
    assert_refused_and_unchanged(rng, path, "declares shape (1000000000000,)")


def test_a_deflated_member_declaring_more_than_deflate_can_give_is_refused_unread(tmp_path, rng):
    """A deflated member whose zip entry (and .npy header) declare 1 GB from a few hundred bytes: np.load allocated
    the 1 GB before finding the data short."""
    header = len(npy_bytes((10 ** 8,)))
    count = (10 ** 9 - header) // 8
    real = npy_bytes((count,), data=bytes(1000))
    path = write_zip(tmp_path / "p.npz", {"W1.npy": real}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    for offset in (22, central + 24):  # the uncompressed size, in the local header and in the directory
        assert struct.unpack("<I", data[offset:offset + 4])[0] == len(real)
        data[offset:offset + 4] = struct.pack("<I", header + count * 8)
    path.write_bytes(bytes(data))
    assert_refused_and_unchanged(rng, path, "at most")


def test_keys_and_shapes_are_compared_before_any_data_is_read(tmp_path, rng):
    """load_into compares the key set from the zip directory, then each member's header, before it reads data: a
    member that is damaged (its CRC fails once read) but unwanted, or of the wrong shape, is refused for that,
    without reading it (np.load decompressed every member first). (64 KB of data each: zipfile reads a member's
    first 4 KB at once, so a smaller one would be read whole with its header.)"""
    target = params_dict(rng)
    before = {k: v.copy() for k, v in target.items()}
    extra = write_zip(tmp_path / "extra.npz", {"X.npy": npy_bytes((8000,), data=bytes(64000))})
    flip_data_byte(extra, "X.npy")
    wrong = write_zip(tmp_path / "wrong.npz", {"W1.npy": npy_bytes((40, 200), data=bytes(64000))})
    flip_data_byte(wrong, "W1.npy")
    for path, message in ((extra, "holds parameters ['W1', 'W2', 'X', 'b1', 'b2']"),
                          (wrong, "parameter 'W1' has shape (40, 200)")):
        _raises_naming(ValueError, message, io.load_into, target, path)
        np.testing.assert_equal(target, before)
    with pytest.raises(ValueError, match="CRC"):  # the damage is real: found once the data is read
        io.load_arrays(extra)


@pytest.mark.parametrize("label, members, message", [
    ("object dtype", {"W1.npy": npy_bytes((1,), "|O", bytes(8))}, "object arrays"),
    ("data shorter than declared", {"W1.npy": npy_bytes((4, 3), data=bytes(8))}, "member holds 8"),
    ("data longer than declared", {"W1.npy": npy_bytes((1,), data=bytes(800))}, "member holds 800"),
    ("negative dimension", {"W1.npy": npy_bytes((-1,), data=b"")}, "declares the shape (-1,)"),
    ("header too long", {"W1.npy": b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 31) + bytes(64)}, "header declares"),
    ("not .npy", {"W1.bin": bytes(8)}, "not a saved array"),
    ("two members of one name", None, "two members"),
])
def test_members_that_do_not_fit_their_declarations_are_refused(tmp_path, rng, label, members, message):
    path = tmp_path / "p.npz"
    if members is None:
        write_zip(path, {})
        with zipfile.ZipFile(path, "a") as z, pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("W1.npy", npy_bytes((4, 3), data=bytes(96)))
    else:
        write_zip(path, members)
    assert_refused_and_unchanged(rng, path, message)


@pytest.mark.parametrize("loader", ["load_arrays", "load_into", "TwoLayerNet.load_params", "load_pickle"])
def test_a_fifo_or_a_directory_is_refused_without_reading(tmp_path, rng, loader):
    """A FIFO given as the file to load blocked forever (until something wrote to it)."""
    loaders = dict((name, (load, arrays)) for name, load, arrays in _loaders(rng))
    loaders["load_pickle"] = (io.load_pickle, {})
    load, arrays = loaders[loader]
    before = {k: v.copy() for k, v in arrays.items()}
    saved = stdio.BytesIO()
    np.savez(saved, **params_dict(rng))
    with fed_fifo(tmp_path / "params.npz", saved.getvalue()) as fifo:
        for path in (fifo, tmp_path):
            _raises_naming(ValueError, f"{str(path)!r} is not a regular file", load, path)
    np.testing.assert_equal({k: v.copy() for k, v in arrays.items()}, before)


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


# --- pickles: what memo references let a small file make the restricted unpickler build -------------------------
def write_bytes(path, data):
    path.write_bytes(data)
    return path


def test_one_array_referenced_under_many_keys_is_refused_before_copying(tmp_path):
    """pickle memoizes: a dict naming one 64 KiB array under 200 keys is a 66 KB file whose load copied 12.8 MB
    (the attack's 1.1 MB file: 4,000 x 1 MiB, ~4 GiB)."""
    shared = np.ones(8192)
    path = write_bytes(tmp_path / "evil.pkl", pickle.dumps({f"W{i}": shared for i in range(200)}, protocol=4))
    assert path.stat().st_size < 70_000
    net = fn.TwoLayerNet(4, 3, 2)
    before = {k: v.copy() for k, v in net.params.items()}
    for load in (io.load_pickle, io.load_arrays, net.load_params):
        peak, error = peak_memory(lambda: load(path))
        assert isinstance(error, io.UnsafePickleError), repr(error)
        assert "memo references" in str(error) and "evil.pkl" in str(error), str(error)
        assert peak < 2 << 20, peak
    np.testing.assert_equal({k: v.copy() for k, v in net.params.items()}, before)


def test_one_string_encoded_many_times_is_refused_while_unpickling(tmp_path):
    """Protocol 2 writes bytes as _codecs.encode(str, 'latin1'): a hand-made pickle that calls it 200 times on one
    memoized 64 KiB string made 12.8 MB of bytes before anything was checked."""
    text = "a" * 65536
    data = (b"\x80\x02c_codecs\nencode\nq\x000X" + len(text).to_bytes(4, "little") + text.encode() + b"q\x010"
            + b"X\x06\x00\x00\x00latin1q\x020](" + b"h\x00h\x01h\x02\x86R" * 200 + b"e.")
    path = write_bytes(tmp_path / "evil.pkl", data)
    peak, error = peak_memory(lambda: io.load_pickle(path))
    assert isinstance(error, io.UnsafePickleError), repr(error)
    assert "memo references" in str(error) and "evil.pkl" in str(error), str(error)
    assert peak < 2 << 20, peak


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_an_array_saved_under_two_keys_still_loads(tmp_path, protocol):
    """The budget leaves room for an honest alias (tied weights): two independent copies."""
    shared = np.arange(4096.0)
    loaded = io.load_pickle(write_bytes(tmp_path / "tied.pkl", pickle.dumps({"W": shared, "W_tied": shared},
                                                                               protocol=protocol)))
    np.testing.assert_array_equal(loaded["W"], shared)
    np.testing.assert_array_equal(loaded["W_tied"], shared)
    loaded["W"][0] = -1
    assert loaded["W_tied"][0] == 0


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
    leftover = tmp_path / next(n for n in files_in(tmp_path) if n != "params.npz")
    io.save_arrays(path, {"W": np.ones(2)})
    assert leftover.exists()  # its writer is dead, but it was written too recently to be sure it was abandoned
    old = time.time() - io.STALE_AFTER - 5
    os.utime(leftover, (old, old))
    io.save_arrays(path, {"W": np.ones(3)})  # the next save of the same target removes it
    assert files_in(tmp_path) == ["params.npz"]
    np.testing.assert_array_equal(io.load_arrays(path)["W"], np.ones(3))


def _dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(ProcessLookupError):  # (not reused meanwhile)
        os.kill(proc.pid, 0)
    return proc.pid


def test_only_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    path, other = tmp_path / "params.npz", tmp_path / "other.npz"
    dead = _dead_pid()
    old = time.time() - io.STALE_AFTER - 5
    names = {
        "stale": io._temporary_name(str(path), dead),
        "another target's": io._temporary_name(str(other), dead),
        "this process's (another thread may be saving)": io._temporary_name(str(path)),
        "recent": io._temporary_name(str(path), dead),
        "not fastnn's pattern": ".tmp-0123456789abcdef.npz",
        "a directory": io._temporary_name(str(path), dead),
    }
    for label, name in names.items():
        if label == "a directory":
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(b"half a save")
        if label != "recent":
            os.utime(tmp_path / name, (old, old))
    io.save_arrays(path, {"W": np.ones(2)})
    kept = set(files_in(tmp_path))
    assert names["stale"] not in kept
    assert kept == {"params.npz"} | {n for label, n in names.items() if label != "stale"}


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
