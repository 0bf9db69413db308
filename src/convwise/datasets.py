"""Read the MNIST IDX files a user already has (gzipped or not); nothing is downloaded.

The IDX format (LeCun et al.) is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element
type, ``DD`` the number of dimensions), ``DD`` big-endian uint32 sizes, then the values,
big-endian, row-major. MNIST ships four of them::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

(the ``.idx3-ubyte`` spelling of some mirrors is accepted too). :func:`read_idx` checks the
magic number, the type code, the sizes against the bytes present and refuses trailing
bytes, each with a ``ValueError`` naming the file.

>>> import io, struct
>>> raw = struct.pack(">BBBB", 0, 0, 0x08, 1) + struct.pack(">I", 3) + bytes([7, 8, 9])
>>> parse_idx(raw, name="example").tolist()
[7, 8, 9]
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from ._guard import require_memory

__all__ = ["read_idx", "parse_idx", "load_mnist", "find_mnist_files", "MNIST_URL", "MNIST_FILES"]

MNIST_URL = "https://yann.lecun.org/exdb/mnist/ (mirrors: https://ossci-datasets.s3.amazonaws.com/mnist/)"

#: split -> (images stem, labels stem)
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

# IDX type code -> big-endian NumPy dtype
_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(data: bytes, *, name: str = "IDX data") -> np.ndarray:
    """Decode the bytes of one IDX file into an array of its native-endian dtype."""
    if len(data) < 4:
        raise ValueError(f"read_idx: {name} is truncated: {len(data)} bytes, fewer than the 4-byte header")
    zero1, zero2, code, ndim = struct.unpack(">BBBB", data[:4])
    if zero1 or zero2 or code not in _TYPES:
        raise ValueError(f"read_idx: {name} is not an IDX file: bad magic number {data[:4].hex()} "
                         f"(expected 0000 then a type code in {sorted(f'{c:02x}' for c in _TYPES)} and the rank)")
    if ndim == 0:
        raise ValueError(f"read_idx: {name} declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"read_idx: {name} is truncated inside its header ({len(data)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    present = len(data) - header
    if present < expected:
        raise ValueError(f"read_idx: {name} is truncated: shape {shape} needs {expected} bytes of data, "
                         f"found {present}")
    if present > expected:
        raise ValueError(f"read_idx: {name} has {present - expected} unexpected bytes after the data of shape {shape}")
    return np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not, by content) into an array.

    Raises ``ValueError`` for a missing, unreadable, truncated or malformed file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            start = handle.read(2)
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise ValueError(f"read_idx: no such file: {path}") from None
    except OSError as error:
        raise ValueError(f"read_idx: cannot read {path}: {error.strerror or error}") from None
    compressed = start == b"\x1f\x8b"
    require_memory("read_idx", size * (8 if compressed else 2), what=f"reading {os.path.basename(path)}")
    try:
        if compressed:
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"read_idx: {path} is not a readable gzip file ({error})") from None
    return parse_idx(data, name=path)


def find_mnist_files(directory, split: str = "train") -> tuple[str, str]:
    """Paths of the images and labels files of ``split`` (``'train'`` or ``'test'``) in ``directory``.

    Raises ``ValueError`` naming the missing file and where to get it.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got split={split!r}")
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"load_mnist: --data {directory} is not a folder; put the four MNIST IDX files "
                         f"(train-images-idx3-ubyte.gz, ...) in a folder and pass it; get them from {MNIST_URL}")
    found = []
    for stem in MNIST_FILES[split]:
        dotted = stem.replace("-idx", ".idx")
        candidates = [stem, stem + ".gz", dotted, dotted + ".gz"]
        paths = [os.path.join(directory, c) for c in candidates if os.path.isfile(os.path.join(directory, c))]
        if not paths:
            raise ValueError(f"load_mnist: {stem}[.gz] not found in {directory}; download the MNIST IDX files "
                             f"from {MNIST_URL} (nothing is downloaded by convwise)")
        found.append(paths[0])
    return found[0], found[1]


def load_mnist(directory, split: str = "train", dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of an MNIST split: images ``(N, 1, 28, 28)`` in [0, 1], labels int64.

    Checks that the images are ``(N, rows, cols)`` unsigned bytes, the labels ``(N,)``
    with values 0..9, and that the counts agree.
    """
    images_path, labels_path = find_mnist_files(directory, split)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"load_mnist: {images_path} must hold (N, rows, cols) unsigned bytes, got "
                         f"{images.ndim}D {images.dtype}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"load_mnist: {labels_path} must hold (N,) unsigned bytes, got {labels.ndim}D {labels.dtype}")
    if len(images) != len(labels):
        raise ValueError(f"load_mnist: {images_path} has {len(images)} images but {labels_path} has "
                         f"{len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"load_mnist: {labels_path} holds label {int(labels.max())}; MNIST labels are 0..9")
    dtype = np.dtype(dtype)
    x = images[:, None].astype(dtype) / dtype.type(255)
    return x, labels.astype(np.int64)
