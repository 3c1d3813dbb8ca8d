""".npz reading behind fastnn.io, bounded by what the file really holds: nothing is allocated or decompressed from
a size the file merely declares.

np.load trusts an .npz file's declarations: a member whose .npy header declares shape (10**12,) makes it allocate
8 TB, and reading a set of named arrays decompresses every member before the caller can compare the names. Here the
zip directory is read first (names, sizes, compression), then each member's .npy header alone, and these are checked
against each other and against the bytes the file really has before any array data is read:

* a member is stored or deflated (what np.savez and np.savez_compressed write), not encrypted, and lies inside the
  file; a stored member's size is its size in the file, a deflated member's at most _MAX_DEFLATE_RATIO times that
  (deflate's limit), so a member's declared size is bounded by the file's real bytes;
* its .npy header (format 1.0 or 2.0, at most _MAX_HEADER bytes, read by NumPy's own header parser from a buffer) has
  a dtype of kind bool, int, uint, float, complex, bytes or str, never object, and header + shape x itemsize is
  exactly the member's size;
* the data is read on request, in chunks, exactly the declared bytes (the zip CRC is checked at the end).

The caller (fastnn.io) compares names, shapes and dtypes with what it expects between these steps. Every problem is
a ValueError that starts with the caller's description of the file.
"""
import functools
import math
import struct
import zipfile
import zlib
from io import BytesIO

import numpy as np
from numpy.lib import format as npy_format

_MAX_DEFLATE_RATIO = 1032  # deflate's largest expansion: 258 bytes from one 2-bit code (zlib's technical notes)
_MAX_HEADER = 1 << 16  # NumPy refuses headers over 10,000 characters; a bound before reading, not a policy
_KINDS = "biufcSU"
_CHUNK = 1 << 20


class Member:
    """One member's checked declarations: ``key`` (the name without '.npy'), ``shape``, ``dtype``, ``fortran``,
    and where its data starts (``offset`` into the uncompressed member)."""
    __slots__ = ("key", "info", "shape", "dtype", "fortran", "offset")

    def __init__(self, key, info, shape, dtype, fortran, offset):
        self.key, self.info, self.shape, self.dtype, self.fortran, self.offset = (key, info, shape, dtype, fortran,
                                                                                  offset)

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


# what reading a damaged zip raises besides ValueError (RuntimeError, NotImplementedError: zipfile's own refusals)
_DAMAGED = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError)


def _described(method):
    """``method`` with its errors re-raised as one ValueError that starts with the file's description."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _DAMAGED as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ValueError(f"{self.where}: {exc}") from None
    return wrapper


class Npz:
    """The members of the .npz file open as binary ``f`` (a regular file), with their names and compression checked
    from the zip directory (:attr:`keys`); :meth:`member` reads and checks one member's header, :meth:`read` its
    data. Every problem raises ValueError starting with ``where`` (the caller's description of the file).
    ``stored_only`` refuses compressed members (fastnn writes none)."""

    @_described
    def __init__(self, f, where, stored_only=False):
        self.where = where
        self._size = f.seek(0, 2)
        f.seek(0)
        self._zip = zipfile.ZipFile(f)
        self._infos = {}
        for info in self._zip.infolist():
            self._infos[_key(info, self._infos)] = _checked_info(info, self._size, stored_only)
        self._members = {}

    @property
    def keys(self):
        """The member names (without '.npy'), from the directory: nothing is decompressed."""
        return list(self._infos)

    @_described
    def member(self, key):
        """The checked :class:`Member` ``key`` (its header is read once)."""
        m = self._members.get(key)
        if m is None:
            m = self._members[key] = _read_header(key, self._zip, self._infos[key])
        return m

    @_described
    def read(self, key):
        """The array ``key``: exactly its declared bytes, read in chunks (never more than the file holds)."""
        m = self.member(key)
        buf = bytearray()
        with self._zip.open(m.info) as fp:
            fp.seek(m.offset)
            left = m.nbytes
            while left:
                chunk = fp.read(min(left, _CHUNK))
                if not chunk:
                    raise ValueError(f"entry {key!r} ends after {m.nbytes - left} of its {m.nbytes} bytes of data")
                buf += chunk
                left -= len(chunk)
            fp.read(1)  # at the member's end: zipfile checks the CRC
        if m.nbytes == 0:
            return np.empty(m.shape, m.dtype, order="F" if m.fortran else "C")
        flat = np.frombuffer(buf, m.dtype)  # writable: a bytearray's memory, no copy
        return flat.reshape(m.shape, order="F" if m.fortran else "C")

    def close(self):
        self._zip.close()


def _key(info, seen):
    name = info.filename
    if not name.endswith(".npy"):
        raise ValueError(f"member {name[:200]!r} is not a saved array (.npy)")
    key = name[:-4]
    if key in seen:
        raise ValueError(f"the zip holds two members named {name[:200]!r}")
    return key


def _checked_info(info, file_size, stored_only):
    """``info`` after checking that its declared size is bounded by bytes the file really has."""
    name = info.filename[:200]
    if info.flag_bits & 0x1:
        raise ValueError(f"member {name!r} is encrypted")
    allowed = (zipfile.ZIP_STORED,) if stored_only else (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    if info.compress_type not in allowed:
        raise ValueError(f"member {name!r} uses zip compression method {info.compress_type}; "
                         f"{'only stored members are read here' if stored_only else 'stored or deflated expected'}")
    if info.header_offset + info.compress_size > file_size:
        raise ValueError(f"member {name!r} declares {info.compress_size} bytes at offset {info.header_offset}, past "
                         f"the end of the {file_size}-byte file")
    limit = info.compress_size * (1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO)
    if info.file_size > limit:
        raise ValueError(f"member {name!r} declares {info.file_size} bytes from {info.compress_size} bytes in the "
                         f"file (at most {limit} possible)")
    return info


def _read_header(key, zf, info):
    """The member's .npy header, read through a bounded buffer, checked against the member's declared size."""
    with zf.open(info) as fp:
        version = npy_format.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"entry {key!r}: .npy format version {version} (1.0 or 2.0 expected)")
        size_format = "<H" if version == (1, 0) else "<I"
        prefix = fp.read(struct.calcsize(size_format))
        if len(prefix) != struct.calcsize(size_format):
            raise ValueError(f"entry {key!r}: its .npy header is cut short")
        length = struct.unpack(size_format, prefix)[0]
        if length > _MAX_HEADER:
            raise ValueError(f"entry {key!r}: its .npy header declares {length} bytes (at most {_MAX_HEADER})")
        header = fp.read(length)
        offset = fp.tell()
    parse = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, fortran, dtype = parse(BytesIO(prefix + header))  # ValueError for a malformed header
    if dtype.hasobject or dtype.kind not in _KINDS or dtype.itemsize == 0:
        raise ValueError(f"entry {key!r} has dtype {dtype}: only bool, integer, float, complex and string arrays are "
                         f"read (object arrays would need pickle)")
    if any(n < 0 for n in shape):
        raise ValueError(f"entry {key!r} declares the shape {shape}")
    m = Member(key, info, shape, dtype, fortran, offset)
    if offset + m.nbytes != info.file_size:
        raise ValueError(f"entry {key!r} declares shape {shape} and dtype {dtype} ({m.nbytes} bytes of data), but the "
                         f"member holds {info.file_size - offset}")
    return m
