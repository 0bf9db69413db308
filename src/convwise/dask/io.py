"""Arrays on disk for :mod:`convwise.dask`: lazy ``.npy``/Zarr reading and all-or-nothing Zarr writing.

``read_array`` never loads the whole file: a ``.npy`` is memory-mapped inside each task
(so a task graph sent to ``dask.distributed`` workers carries the path, not the data), a
Zarr array is read chunk by chunk. ``write_zarr`` writes chunk by chunk into a temporary
directory beside the target and renames it into place only when every chunk is written;
on any failure the temporary directory is removed, so nothing that looks complete is left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid

import dask.array as da
import numpy as np

from .model import compute

__all__ = ["read_array", "write_zarr"]


def _npy_block(path: str, block_info=None) -> np.ndarray:
    location = block_info[None]["array-location"]
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    return np.array(mapped[tuple(slice(lo, hi) for lo, hi in location)])


def read_array(path, chunks, *, fn: str = "read_array") -> da.Array:
    """A lazy Dask array of the ``.npy`` file or Zarr array at ``path``.

    ``chunks`` is dask's spelling of the chunks, or a function of the array's shape returning it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{fn}: no such input file: {path}")
    if os.path.isdir(path) or path.endswith(".zarr"):
        try:
            array = da.from_zarr(path)
        except (OSError, ValueError, KeyError, TypeError) as error:  # zarr's errors derive from ValueError
            raise ValueError(f"{fn}: {path} is not a readable Zarr array ({type(error).__name__}: {error})") from None
        return array.rechunk(chunks(array.shape) if callable(chunks) else chunks)
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{fn}: {path} is not a readable .npy array ({error})") from None
    if not isinstance(mapped, np.ndarray):
        raise TypeError(f"{fn}: {path} is not a .npy array (an .npz archive?)")
    shape, dtype = mapped.shape, mapped.dtype
    del mapped
    if not shape:
        raise ValueError(f"{fn}: {path} holds a 0-d array; expected (N, C, *spatial) or (C, *spatial)")
    template = da.empty(shape, dtype=dtype, chunks=chunks(shape) if callable(chunks) else chunks)
    return da.map_blocks(_npy_block, path, chunks=template.chunks, dtype=dtype, meta=np.empty((0,) * len(shape), dtype))


def write_zarr(array: da.Array, path, *, overwrite: bool = False, progress: bool = True, fn: str = "write_zarr"):
    """Compute ``array`` into a Zarr array at ``path``, chunk by chunk, all or nothing."""
    path = os.fspath(path).rstrip("/")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{fn}: output {path} already exists (pass overwrite / --overwrite to replace it)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"{fn}: output directory {parent} does not exist")
    temporary = os.path.join(parent, f".{os.path.basename(path)}.partial-{uuid.uuid4().hex[:8]}")
    if any(len(set(c[:-1])) > 1 or (len(c) > 1 and c[-1] > c[0]) for c in array.chunks):
        array = array.rechunk(tuple(max(c) if c else 1 for c in array.chunks))  # Zarr's chunks are regular
    try:
        writes = da.to_zarr(array, temporary, compute=False)
        compute(writes, progress=progress)
        if os.path.exists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(temporary)
        raise
