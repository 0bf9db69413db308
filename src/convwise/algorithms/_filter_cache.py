"""Filter transforms kept between calls with the same weights.

A layer run again and again with the same weights (an inference loop, an nn module between
optimiser steps, a benchmark) transforms its filters the same way every time: FFT spectra,
Winograd's ``G g G^T``. Algorithms whose filter transform costs real time look it up here
first. An entry is found by the weight array's identity, shape and dtype plus the algorithm's
own key (transform sizes), and it is used only if the weight's bytes still equal the copy
kept with it: weights may be written in place (``Parameter.data[...] = ...``, optimisers), so
no version counter could be trusted, and the comparison (one pass, e.g. 0.23 ms over the 2.8
MB of a 64->64 13x13 filter bank) is far cheaper than the transforms it saves (8.6 ms there).
A changed weight is transformed again and replaces the entry.

Entries are evicted least-recently-used beyond :data:`LIMIT_BYTES` or the workspace budget,
whichever is smaller (transform plus copy; a transform larger than half of that is not kept);
:func:`clear` empties the cache, as changing ``workspace_mib`` does (with the scratch buffers).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .._config import get_config

__all__ = ["LIMIT_BYTES", "clear", "transform"]

#: Most bytes the cache holds (transforms plus weight copies)
LIMIT_BYTES = 96 * 2**20

_lock = threading.Lock()
_entries: OrderedDict = OrderedDict()
_held = 0


def _same_bytes(saved: np.ndarray, weight: np.ndarray) -> bool:
    """Bit-for-bit equality (NaN payloads and signed zeros included), without NumPy's float rules."""
    if saved.shape != weight.shape or saved.dtype != weight.dtype:
        return False
    view = np.uint64 if weight.itemsize == 8 else np.uint32 if weight.itemsize == 4 else np.uint16
    return bool(np.array_equal(saved.view(view), np.ascontiguousarray(weight).view(view)))


def transform(weight: np.ndarray, key, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``'s result for ``weight`` and ``key``: from the cache when the same weight (same
    bytes) was transformed under ``key`` before, else computed (and kept when it fits). The result
    is read-only: callers must not write to it."""
    global _held
    full_key = (id(weight), weight.shape, weight.dtype.str, key)
    with _lock:
        entry = _entries.get(full_key)
        if entry is not None:
            _entries.move_to_end(full_key)
    if entry is not None and _same_bytes(entry[0], weight):
        return entry[1]
    result = np.array(compute(), copy=True)
    result.flags.writeable = False
    size = result.nbytes + weight.nbytes
    limit = min(LIMIT_BYTES, get_config().workspace_bytes)
    if size > limit // 2:
        return result
    saved = np.array(weight, copy=True)
    with _lock:
        old = _entries.pop(full_key, None)
        if old is not None:
            _held -= old[0].nbytes + old[1].nbytes
        _entries[full_key] = (saved, result)
        _held += size
        while _held > limit and _entries:
            _, (w, t) = _entries.popitem(last=False)
            _held -= w.nbytes + t.nbytes
    return result


def clear() -> None:
    """Drop every kept transform."""
    global _held
    with _lock:
        _entries.clear()
        _held = 0
