"""Reusable scratch memory for the algorithms: one growing buffer per thread.

A fresh NumPy array of more than a few hundred KiB is a fresh ``mmap``: the kernel
zero-fills every page on first touch, and glibc only starts recycling such blocks after
its adaptive threshold has grown past them. A convolution's scratch (tiles, columns,
spectra) is several MiB that is written once and thrown away, so in a new process the page
faults cost as much as the arithmetic (Winograd 64->64 56x56, one thread: 4.0 ms with
fresh scratch, 2.4 ms with scratch reused). oneDNN keeps a scratchpad per thread for the
same reason; this is that scratchpad.

>>> import numpy as np
>>> with scratch() as pad:
...     a = pad.empty((4, 8), np.float32)
...     b = pad.zeros(3, np.float64)
>>> a.shape, b.tolist()
((4, 8), [0.0, 0.0, 0.0])

Arrays from ``pad`` are views of the thread's buffer and are valid only inside the
``with`` block: never return them (copy out what must outlive it). Blocks nest (an inner
block allocates after the outer one's arrays and releases only its own). When a block
needs more than the buffer holds, the overflow gets ordinary arrays, and the buffer grows
to that block's total when the next outermost block starts (so no call holds both); the
next call then fits. Buffers above :data:`RETAIN_BYTES` are not kept. Algorithms keep
their scratch within the workspace budget (``convwise.get_config().workspace_bytes``);
this module only recycles it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading

import numpy as np

__all__ = ["scratch", "with_scratch", "release", "RETAIN_BYTES"]

#: Largest buffer a thread keeps between calls (bigger needs are served and then dropped).
RETAIN_BYTES = 64 * 2**20
_ALIGN = 64                                    # bytes: a cache line, and AVX-512 friendly

_local = threading.local()
_generation = 0                                # bumped by release(): every thread drops its buffer


class Scratch:
    """Bump allocator over one thread's buffer (see the module notes)."""

    def __init__(self, buffer: np.ndarray):
        self.buffer = buffer
        self.used = 0                          # bytes handed out from ``buffer``
        self.need = 0                          # bytes the open blocks asked for in all
        self.grow_to = 0                       # size for the buffer at the next outermost block
        self.generation = _generation          # release() count this buffer belongs to

    def empty(self, shape, dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype`` (valid until the block ends)."""
        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        nbytes = math.prod(shape) * dtype.itemsize
        start = -(-self.used // _ALIGN) * _ALIGN
        self.need = max(self.need, start + nbytes)
        if start + nbytes > self.buffer.nbytes:
            self.used = start + nbytes         # counts towards the size the buffer grows to
            return np.empty(shape, dtype)
        self.used = start + nbytes
        return self.buffer[start:start + nbytes].view(dtype).reshape(shape)

    def zeros(self, shape, dtype) -> np.ndarray:
        """A zero-filled array of ``shape`` and ``dtype`` (valid until the block ends)."""
        out = self.empty(shape, dtype)
        out.fill(0)
        return out


@contextlib.contextmanager
def scratch():
    """A block of scratch allocations on this thread's buffer (nestable)."""
    pad = getattr(_local, "pad", None)
    if pad is None:
        pad = _local.pad = Scratch(np.empty(0, np.uint8))
    outer = pad.used
    if outer == 0 and pad.generation != _generation:   # release() since this thread's last block
        pad.buffer, pad.grow_to, pad.generation = np.empty(0, np.uint8), 0, _generation
    if outer == 0 and pad.buffer.nbytes < pad.grow_to:
        pad.buffer = _aligned(pad.grow_to)     # now, not when the last block ended: its arrays were alive then
    try:
        yield pad
    finally:
        pad.used = outer
        if outer == 0:                         # the outermost block: remember what it needed
            need, pad.need = pad.need, 0
            if pad.buffer.nbytes < need <= RETAIN_BYTES:
                pad.grow_to = need


def with_scratch(function):
    """Decorator: call ``function(pad, *args, **kwargs)`` inside a :func:`scratch` block of
    the calling thread (for the per-tile/per-chunk workers of the algorithms)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with scratch() as pad:
            return function(pad, *args, **kwargs)
    return wrapper


def _aligned(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    skip = -raw.__array_interface__["data"][0] % _ALIGN
    return raw[skip:skip + nbytes]


def release() -> None:
    """Drop every thread's buffer: this thread's now, the others' when they next start a
    block (``set_config(workspace_mib=...)`` calls it, so that a smaller budget is not met
    with a buffer sized for a larger one)."""
    global _generation
    _generation += 1
    pad = getattr(_local, "pad", None)
    if pad is not None and pad.used == 0:
        pad.buffer, pad.grow_to, pad.generation = np.empty(0, np.uint8), 0, _generation
