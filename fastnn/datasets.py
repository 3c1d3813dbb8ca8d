"""Data sets for the books' examples, all offline: MNIST-format IDX directories (MNIST, Fashion-MNIST, KMNIST...),
the bundled optdigits set, and the second book's spiral data.

Loaders return ``(x_train, t_train), (x_test, t_test)`` with the book's ``load_mnist`` conventions: images float32
in [0, 1] when ``normalize`` else uint8; flat rows when ``flatten`` else (N, 1, H, W); labels uint8, or one-hot
float64 rows when ``one_hot_label`` (the book builds them with ``np.zeros((N, 10))``). Nothing is ever downloaded.
"""
import gzip
import io
import math
import os
import zlib
from importlib import resources

import numpy as np

from . import _checks

__all__ = ["load_mnist", "load_fashion_mnist", "load_digits", "load_spiral", "load_idx", "to_one_hot"]

N_CLASSES = 10
MNIST_FILES = {
    "train_img": "train-images-idx3-ubyte",
    "train_label": "train-labels-idx1-ubyte",
    "test_img": "t10k-images-idx3-ubyte",
    "test_label": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_MNIST_HOWTO = ("put the 4 IDX files ({}, each raw or .gz) in one directory and pass path=... or set "
                "FASTNN_MNIST_DIR; fastnn never downloads".format(", ".join(MNIST_FILES.values())))
_FASHION_HOWTO = ("install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
                  "or put the 4 IDX files in a directory and pass path=... or set FASTNN_FASHION_MNIST_DIR")

# IDX magic numbers fastnn reads: type code 0x08 (unsigned byte), then the number of dimensions.
_IDX_MAGIC = {0x00000801: 1, 0x00000803: 3}


def to_one_hot(labels, n_classes, dtype=np.float64):
    """(N, n_classes) array with a 1 in each row's label column; labels must be integers in [0, n_classes)."""
    n_classes = _checks.integer(n_classes, "n_classes", minimum=1)
    labels = _checks.class_labels(labels, np.size(labels), n_classes, name="labels")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.kind not in "biuf":
        raise TypeError(f"dtype must be a bool, integer or float dtype; got {dtype!r}")
    dtype = resolved
    out = np.zeros((labels.size, n_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


# ---------------------------------------------------------------------------------------------------- IDX files
_CHUNK = 1 << 20


def _read_up_to(stream, n):
    """Up to ``n`` bytes of ``stream``, fewer only at its end; read in chunks, so that memory follows the bytes that
    are really there, never ``n`` (a header's claim)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(min(n - len(buf), _CHUNK))
        if not chunk:
            break
        buf += chunk
    return buf


def _parse_idx(filename, stream, size):
    """The IDX array in ``stream`` (``size``: its byte count when known, i.e. not gzipped). The header is read first;
    then at most the payload it declares plus one byte, enough to tell trailing data."""
    head = _read_up_to(stream, 4)
    if len(head) < 4:
        raise ValueError(f"{filename}: not an IDX file (only {len(head)} bytes, no 4-byte magic number)")
    magic = int.from_bytes(head, "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(f"{filename}: unsupported IDX magic number 0x{magic:08x}; expected 0x00000801 "
                         f"(uint8 labels) or 0x00000803 (uint8 images)")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    dims = _read_up_to(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{filename}: truncated IDX header: expected {header} bytes, got {4 + len(dims)}")
    shape = tuple(int.from_bytes(dims[i:i + 4], "big", signed=True) for i in range(0, 4 * ndim, 4))
    if min(shape) < 0:
        raise ValueError(f"{filename}: negative dimension in IDX header {shape}")
    expected = math.prod(shape)
    if size is not None and size - header != expected:  # a plain file: its size says it before reading
        actual = size - header
    else:
        payload = _read_up_to(stream, expected + 1)
        actual = len(payload)
    if actual != expected:
        problem = "truncated payload" if actual < expected else "trailing bytes after the payload"
        got = "more" if size is None and actual > expected else actual  # gzip: not read past the one byte
        raise ValueError(f"{filename}: {problem}: dimensions {shape} need exactly {expected} bytes, "
                         f"got {got}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)  # writable: a bytearray's memory


def load_idx(filename):
    """Reads one IDX file (raw or gzip) of unsigned bytes; returns labels (1-D) or images (3-D), a new uint8 array.

    The payload must hold exactly the number of bytes the header's dimensions call for. The file must be a regular
    file; a gzip file is decompressed only as far as the header's dimensions need (plus one byte).
    """
    filename = _checks.path(filename, "filename")
    with _checks.open_regular_file(filename, "filename") as f:
        zipped = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if not zipped:
            return _parse_idx(filename, f, os.fstat(f.fileno()).st_size)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _parse_idx(filename, stream, None)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; truncation raises EOFError
            raise ValueError(f"{filename}: corrupt gzip data ({exc})") from None


def _find_idx(directory, name, howto):
    for candidate in (name + ".gz", name):
        full = os.path.join(directory, candidate)
        if os.path.isfile(full):
            return full
    raise FileNotFoundError(f"missing {os.path.join(directory, name)}[.gz]: {howto}")


def _load_pair(directory, img_name, label_name, howto):
    img_file = _find_idx(directory, img_name, howto)
    label_file = _find_idx(directory, label_name, howto)
    images, labels = load_idx(img_file), load_idx(label_file)
    if images.ndim != 3:
        raise ValueError(f"{img_file}: expected a 3-D IDX image file, got {images.ndim}-D of shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{label_file}: expected a 1-D IDX label file, got {labels.ndim}-D of shape "
                         f"{labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{img_file} holds {len(images)} images but {label_file} holds {len(labels)} labels")
    if labels.size and labels.max() >= N_CLASSES:
        raise ValueError(f"{label_file}: labels must be in [0, {N_CLASSES}); found {labels.max()}")
    return images, labels


def _format(images, labels, normalize, flatten, one_hot_label, scale):
    """Apply the book's load_mnist options to uint8 images (N, H, W) and uint8 labels (N,)."""
    n, height, width = images.shape
    x = images.astype(np.float32) / np.float32(scale) if normalize else images
    x = x.reshape(n, height * width) if flatten else x.reshape(n, 1, height, width)
    t = to_one_hot(labels, N_CLASSES) if one_hot_label else labels
    return x, t


def _load_dir(directory, normalize=True, flatten=True, one_hot_label=False, *, howto=_MNIST_HOWTO):
    """Train and test sets from a directory holding the 4 MNIST-format IDX files."""
    directory = _checks.path(directory, "path")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"data directory {directory} does not exist: {howto}")
    sets = []
    for part in ("train", "test"):
        images, labels = _load_pair(directory, MNIST_FILES[part + "_img"], MNIST_FILES[part + "_label"], howto)
        sets.append(_format(images, labels, normalize, flatten, one_hot_label, scale=255))
    return tuple(sets)


def load_mnist(normalize=True, flatten=True, one_hot_label=False, *, path=None):
    """The book's ``load_mnist`` on a local MNIST-format directory: ``path``, else env ``FASTNN_MNIST_DIR``.

    Returns ``(x_train, t_train), (x_test, t_test)``; see the module docstring for dtypes and shapes.
    """
    if path is None:
        path = os.environ.get("FASTNN_MNIST_DIR")
    if path is None:
        raise FileNotFoundError(f"no MNIST directory given: {_MNIST_HOWTO}")
    return _load_dir(path, normalize, flatten, one_hot_label)


def load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False, *, path=None):
    """Returns Fashion-MNIST as ``load_mnist`` returns MNIST, ``((x_train, t_train), (x_test, t_test))``, from
    ``path``, env ``FASTNN_FASHION_MNIST_DIR`` or the Debian package's directory /usr/share/datasets/fashion-mnist."""
    if path is None:
        path = os.environ.get("FASTNN_FASHION_MNIST_DIR", FASHION_MNIST_DIR)
    return _load_dir(path, normalize, flatten, one_hot_label, howto=_FASHION_HOWTO)


# ------------------------------------------------------------------------------------------ bundled optdigits
def _read_digits():
    """The bundled optdigits table as (pixels (N, 8, 8) uint8, labels (N,) uint8), validated."""
    source = resources.files("fastnn") / "data" / "digits.csv.gz"
    text = gzip.decompress(source.read_bytes())
    table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"{source}: expected 65 columns (64 pixels + label), got {table.shape[1]}")
    pixels, labels = table[:, :64], table[:, 64]
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ValueError(f"{source}: labels must be in [0, {N_CLASSES}); got {labels.min()}..{labels.max()}")
    if pixels.min() < 0 or pixels.max() > 16:
        raise ValueError(f"{source}: pixels must be in [0, 16]; got {pixels.min()}..{pixels.max()}")
    return pixels.astype(np.uint8).reshape(-1, 8, 8), labels.astype(np.uint8)


def load_digits(normalize=True, flatten=True, one_hot_label=False, test_size=0.2, seed=0):
    """The bundled 8x8 optdigits set (1797 samples), split like load_mnist's return value.

    A ``np.random.default_rng(seed)`` permutation picks ``ceil(test_size * N)`` test samples (the global NumPy
    RNG is untouched). Pixels 0..16 become float32 in [0, 1] when ``normalize``; flatten=False gives (N, 1, 8, 8).
    """
    test_size = _checks.real_number(test_size, "test_size")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1); got {test_size}")
    seed = _checks.integer(seed, "seed", minimum=0)
    images, labels = _read_digits()
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(np.ceil(test_size * len(labels)))
    train, test = order[n_test:], order[:n_test]
    return (_format(images[train], labels[train], normalize, flatten, one_hot_label, scale=16),
            _format(images[test], labels[test], normalize, flatten, one_hot_label, scale=16))


# ------------------------------------------------------------------------------------------------ spiral data
def load_spiral(seed=1984):
    """The second book's spiral data (``dataset/spiral.py``): 3 classes of 100 points in 2-D.

    Like the book, this reseeds NumPy's global RNG with ``np.random.seed(seed)``, so the data (and every global
    draw after it) match the book's. Returns x (300, 2) float64 and one-hot t (300, 3) int.
    """
    if seed is not None:  # None: fresh entropy, as np.random.seed(None)
        seed = _checks.integer(seed, "seed", minimum=0)
        if seed >= 2 ** 32:
            raise ValueError(f"seed must be < 2**32 (np.random.seed's range); got {seed}")
    np.random.seed(seed)
    n, dim, n_classes = 100, 2, 3
    x = np.zeros((n * n_classes, dim))
    t = np.zeros((n * n_classes, n_classes), dtype=np.int_)
    for j in range(n_classes):
        for i in range(n):
            rate = i / n
            radius = 1.0 * rate
            theta = j * 4.0 + 4.0 * rate + np.random.randn() * 0.2
            ix = n * j + i
            x[ix] = radius * np.sin(theta), radius * np.cos(theta)
            t[ix, j] = 1
    return x, t
