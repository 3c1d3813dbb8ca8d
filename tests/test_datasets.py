import gzip
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hostile import fed_fifo, peak_memory

from fastnn import datasets, mnist
from fastnn.datasets import load_digits, load_fashion_mnist, load_idx, load_mnist, load_spiral, to_one_hot

N_DIGITS = 1797


def idx_bytes(array, magic=None):
    """An IDX file's bytes for a uint8 array (header: magic 0x0000080<ndim>, then big-endian int32 dims)."""
    if magic is None:
        magic = 0x00000800 + array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


def write(path, data, gz):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ------------------------------------------------------------------------------------------------- to_one_hot
def test_to_one_hot_matches_eye():
    labels = np.array([3, 0, 9, 3], dtype=np.uint8)
    out = to_one_hot(labels, 10)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.eye(10)[labels])
    assert to_one_hot([1, 0], 2, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("labels, n_classes, exc, word", [
    ([0, 10], 10, ValueError, "labels"),
    ([-1, 2], 10, ValueError, "labels"),
    ([0.5, 1], 10, ValueError, "labels"),
    (["a"], 10, TypeError, "labels"),
    ([0], 0, ValueError, "n_classes"),
    ([0], 2.0, TypeError, "n_classes"),
])
def test_to_one_hot_refuses_bad_input(labels, n_classes, exc, word):
    with pytest.raises(exc, match=word):
        to_one_hot(labels, n_classes)


# ----------------------------------------------------------------------------------------------- bundled digits
def test_digits_default_shapes_dtypes_ranges():
    (x_train, t_train), (x_test, t_test) = load_digits()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == x_test.dtype == np.float32
    assert t_train.shape == (1437,) and t_train.dtype == t_test.dtype == np.uint8
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(t_train)) == set(range(10)) == set(np.unique(t_test))


@pytest.mark.parametrize("test_size", [0.01, 0.2, 0.5, 0.9])
def test_digits_split_sizes_and_partition(test_size):
    (x_train, t_train), (x_test, t_test) = load_digits(normalize=False, test_size=test_size, seed=3)
    n_test = int(np.ceil(test_size * N_DIGITS))
    assert len(x_test) == len(t_test) == n_test and len(x_train) == len(t_train) == N_DIGITS - n_test
    # train + test is a reordering of the whole bundled table
    images, labels = datasets._read_digits()
    rows = np.column_stack([np.vstack([x_train, x_test]), np.concatenate([t_train, t_test])])
    table = np.column_stack([images.reshape(N_DIGITS, 64), labels])
    np.testing.assert_array_equal(np.unique(rows, axis=0, return_counts=True)[1],
                                  np.unique(table, axis=0, return_counts=True)[1])
    np.testing.assert_array_equal(np.unique(rows, axis=0), np.unique(table, axis=0))


def test_digits_options_are_consistent():
    (raw, t_raw), (raw_test, _) = load_digits(normalize=False, seed=5)
    assert raw.dtype == np.uint8 and raw.max() == 16 and raw.min() == 0
    (x, _), _ = load_digits(seed=5)
    np.testing.assert_array_equal(x, raw.astype(np.float32) / np.float32(16))
    (img, _), (img_test, _) = load_digits(flatten=False, normalize=False, seed=5)
    assert img.shape == (len(raw), 1, 8, 8) and img_test.shape == (len(raw_test), 1, 8, 8)
    np.testing.assert_array_equal(img.reshape(len(raw), 64), raw)
    (_, t_hot), (_, t_hot_test) = load_digits(one_hot_label=True, seed=5)
    assert t_hot.shape == (len(raw), 10) and t_hot.dtype == np.float64 and t_hot_test.shape == (len(raw_test), 10)
    np.testing.assert_array_equal(t_hot.sum(axis=1), 1)
    np.testing.assert_array_equal(t_hot.argmax(axis=1), t_raw)


def test_digits_deterministic_and_leaves_global_rng_alone():
    state = np.random.get_state()
    a = load_digits(seed=7)
    b = load_digits(seed=7)
    c = load_digits(seed=8)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    for (xa, ta), (xb, tb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)
    assert not np.array_equal(a[1][0], c[1][0])


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"test_size": 0}, ValueError, "test_size"),
    ({"test_size": 1.0}, ValueError, "test_size"),
    ({"test_size": "0.2"}, TypeError, "test_size"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
])
def test_digits_refuses_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        load_digits(**kwargs)


# -------------------------------------------------------------------------------------------------- IDX reader
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.one_of(st.tuples(st.integers(0, 20)),
                       st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(1, 6))),
       gz=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_idx_round_trip(tmp_path, shape, gz, seed):
    array = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path = write(tmp_path / f"round-trip{'.gz' if gz else ''}", idx_bytes(array), gz)
    out = load_idx(path)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable and out.flags.c_contiguous


GOOD = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
CORRUPT = {
    "magic_2d": (idx_bytes(GOOD.reshape(6, 4)), "magic number 0x00000802"),
    "magic_type": (idx_bytes(GOOD, magic=0x00000903), "magic number 0x00000903"),
    "magic_garbage": (b"PK\x03\x04" + bytes(30), "magic number"),
    "too_short": (b"\x00\x00", "no 4-byte magic"),
    "short_header": (idx_bytes(GOOD)[:10], "truncated IDX header: expected 16 bytes, got 10"),
    "truncated": (idx_bytes(GOOD)[:-1], "truncated payload.*need exactly 24 bytes, got 23"),
    "trailing": (idx_bytes(GOOD) + b"\x00\x00", "trailing bytes.*need exactly 24 bytes, got (26|more)"),
    "negative_dim": (struct.pack(">Iiii", 0x803, -1, -2, 3) + bytes(6), "negative dimension"),
}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_idx_corrupt_files_name_the_file(tmp_path, case, gz):
    data, message = CORRUPT[case]
    path = write(tmp_path / f"bad-{case}", data, gz)
    with pytest.raises(ValueError, match=message) as info:
        load_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("mangle", [
    lambda z: z[:-12],                                   # gzip stream cut short
    lambda z: z[:12] + bytes(b ^ 0xFF for b in z[12:]),  # deflate data garbled
    lambda z: z[:-8] + b"\x00" * 8,                      # CRC/size trailer wrong
])
def test_idx_bad_gzip_names_the_file(tmp_path, mangle):
    path = tmp_path / "bad.gz"
    path.write_bytes(mangle(gzip.compress(idx_bytes(GOOD))))
    with pytest.raises(ValueError, match="corrupt gzip") as info:
        load_idx(path)
    assert str(path) in str(info.value)


def test_idx_gzip_is_decompressed_only_as_far_as_its_header_says(tmp_path):
    """A small .gz whose header declares 4 bytes but which inflates to 16 MiB: refused after reading 5 bytes of
    payload, not after decompressing everything."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">Iiii", 0x803, 1, 2, 2) + bytes(16 << 20)))
    assert path.stat().st_size < 100_000
    peak, error = peak_memory(lambda: load_idx(path))
    assert isinstance(error, ValueError) and "trailing bytes" in str(error) and str(path) in str(error)
    assert peak < 4 << 20, peak  # (decompressing it all: 16 MiB and more)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_declaring_a_huge_payload_allocates_nothing_of_it(tmp_path, gz):
    path = write(tmp_path / "huge", struct.pack(">Iiii", 0x803, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1) + bytes(64), gz)
    peak, error = peak_memory(lambda: load_idx(path))
    assert isinstance(error, ValueError) and "truncated payload" in str(error) and str(path) in str(error)
    assert "got 64" in str(error)
    assert peak < 4 << 20, peak


def test_idx_fifo_and_directory_are_refused(tmp_path):
    with fed_fifo(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8))) as fifo:
        for path in (fifo, tmp_path):
            with pytest.raises(ValueError, match="not a regular file") as info:
                load_idx(path)
            assert str(path) in str(info.value)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope-idx3-ubyte"):
        load_idx(tmp_path / "nope-idx3-ubyte")


# ------------------------------------------------------------------------------------------ MNIST-format dirs
def make_mnist_dir(directory, n_train=7, n_test=3, seed=0, gz=(True, False, False, True), size=28):
    """A tiny MNIST-format directory; ``gz`` says per file (in MNIST_FILES order) whether it is gzipped."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_img": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_label": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_img": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_label": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(exist_ok=True)
    for (key, name), zipped in zip(datasets.MNIST_FILES.items(), gz):
        write(directory / (name + (".gz" if zipped else "")), idx_bytes(arrays[key]), zipped)
    return arrays


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot_label", [True, False])
def test_load_mnist_book_semantics(tmp_path, normalize, flatten, one_hot_label):
    arrays = make_mnist_dir(tmp_path)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize, flatten, one_hot_label, path=tmp_path)
    for x, t, img, lab in ((x_train, t_train, arrays["train_img"], arrays["train_label"]),
                           (x_test, t_test, arrays["test_img"], arrays["test_label"])):
        n = len(lab)
        assert x.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        expected = img.astype(np.float32) / np.float32(255.0) if normalize else img
        assert x.dtype == expected.dtype
        np.testing.assert_array_equal(x.reshape(n, 28, 28), expected)
        if one_hot_label:
            assert t.shape == (n, 10) and t.dtype == np.float64
            np.testing.assert_array_equal(t, np.eye(10)[lab])
        else:
            assert t.dtype == np.uint8
            np.testing.assert_array_equal(t, lab)


def test_load_mnist_other_image_size_and_env_var(tmp_path, monkeypatch):
    arrays = make_mnist_dir(tmp_path, size=5, gz=(False,) * 4)
    monkeypatch.setenv("FASTNN_MNIST_DIR", str(tmp_path))
    (x_train, _), (x_test, _) = mnist.load_mnist(flatten=False, normalize=False)
    np.testing.assert_array_equal(x_train[:, 0], arrays["train_img"])
    assert x_test.shape == (3, 1, 5, 5)


def test_mnist_module_reexports_load_mnist():
    assert mnist.load_mnist is datasets.load_mnist


def test_load_mnist_without_a_directory_says_how(monkeypatch):
    monkeypatch.delenv("FASTNN_MNIST_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="FASTNN_MNIST_DIR"):
        load_mnist()


def test_load_mnist_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist.*FASTNN_MNIST_DIR"):
        load_mnist(path=tmp_path / "does-not-exist")


@pytest.mark.parametrize("name", list(datasets.MNIST_FILES.values()))
def test_load_mnist_names_the_missing_file(tmp_path, name):
    make_mnist_dir(tmp_path)
    for suffix in ("", ".gz"):
        if (tmp_path / (name + suffix)).exists():
            os.remove(tmp_path / (name + suffix))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(path=tmp_path)
    message = str(info.value)
    assert str(tmp_path / name) in message and "FASTNN_MNIST_DIR" in message
    others = [n for n in datasets.MNIST_FILES.values() if n != name]
    assert not any(f"missing {tmp_path / n}" in message for n in others)


@pytest.mark.parametrize("part", ["train", "test"])
def test_load_mnist_count_mismatch_names_both_files(tmp_path, part):
    make_mnist_dir(tmp_path, gz=(False,) * 4)
    label_name = datasets.MNIST_FILES[part + "_label"]
    (tmp_path / label_name).write_bytes(idx_bytes(np.zeros(2, dtype=np.uint8)))
    with pytest.raises(ValueError, match="but") as info:
        load_mnist(path=tmp_path)
    assert str(tmp_path / label_name) in str(info.value)
    assert str(tmp_path / datasets.MNIST_FILES[part + "_img"]) in str(info.value)


def test_load_mnist_refuses_labels_out_of_range(tmp_path):
    make_mnist_dir(tmp_path, gz=(False,) * 4)
    label_file = tmp_path / datasets.MNIST_FILES["test_label"]
    label_file.write_bytes(idx_bytes(np.array([1, 10, 2], dtype=np.uint8)))
    with pytest.raises(ValueError, match="labels must be in") as info:
        load_mnist(path=tmp_path)
    assert str(label_file) in str(info.value)


@pytest.mark.parametrize("key, array", [
    ("train_img", np.zeros(7, dtype=np.uint8)),              # a label file where images belong
    ("train_label", np.zeros((7, 28, 28), dtype=np.uint8)),  # and the reverse
])
def test_load_mnist_refuses_swapped_kinds(tmp_path, key, array):
    make_mnist_dir(tmp_path, gz=(False,) * 4)
    path = tmp_path / datasets.MNIST_FILES[key]
    path.write_bytes(idx_bytes(array))
    with pytest.raises(ValueError, match="expected a") as info:
        load_mnist(path=tmp_path)
    assert str(path) in str(info.value)


def test_load_fashion_mnist_path_env_and_missing(tmp_path, monkeypatch):
    arrays = make_mnist_dir(tmp_path / "fm")
    monkeypatch.setenv("FASTNN_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    (_, t_train), _ = load_fashion_mnist()
    np.testing.assert_array_equal(t_train, arrays["train_label"])
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(path=tmp_path / "missing")


# ------------------------------------------------------------------------------------------------- spiral data
def spiral_oracle(seed):
    """The book's spiral, vectorised: 300 legacy normal draws in one call give the same stream as 300 calls."""
    np.random.seed(seed)
    noise = np.random.randn(3, 100) * 0.2
    rate = np.arange(100) / 100
    theta = np.arange(3)[:, None] * 4.0 + 4.0 * rate + noise
    x = np.stack([rate * np.sin(theta), rate * np.cos(theta)], axis=-1).reshape(300, 2)
    return x, np.repeat(np.eye(3, dtype=np.int_), 100, axis=0)


@pytest.mark.parametrize("seed", [1984, 0, 12345])
def test_spiral_matches_the_book_algorithm(seed):
    x, t = load_spiral(seed)
    x_ref, t_ref = spiral_oracle(seed)
    assert x.shape == (300, 2) and x.dtype == np.float64
    assert t.shape == (300, 3) and t.dtype == np.int_
    np.testing.assert_allclose(x, x_ref, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(t, t_ref)
    assert np.all(np.hypot(x[:, 0], x[:, 1]) < 1.0)


def test_spiral_default_seed_is_deterministic():
    a, b = load_spiral(), load_spiral(1984)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(load_spiral(1)[0], a[0])


def test_spiral_reseeds_the_global_rng_like_the_book():
    np.random.seed(99)
    load_spiral(7)
    after_spiral = np.random.rand(5)
    np.random.seed(7)
    np.random.randn(300)
    np.testing.assert_array_equal(after_spiral, np.random.rand(5))


# --------------------------------------------------------------------------------------------------- real data
def test_fashion_mnist_real_data():
    directory = datasets.FASHION_MNIST_DIR
    present = all(os.path.exists(os.path.join(directory, n + ".gz")) or os.path.exists(os.path.join(directory, n))
                  for n in datasets.MNIST_FILES.values())
    if not present:
        message = f"Fashion-MNIST not found in {directory} (apt-get install dataset-fashion-mnist)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    (x_train, t_train), (x_test, t_test) = load_fashion_mnist(normalize=False, path=directory)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.uint8 and t_train.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(t_train, minlength=10), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(t_test, minlength=10), np.full(10, 1000))
    assert x_train.max() == 255 and x_train.min() == 0
