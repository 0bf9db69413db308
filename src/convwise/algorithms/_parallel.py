"""The one parallel runner and the one tiling planner of the engine.

:func:`run` spreads independent tasks over worker threads (NumPy releases the GIL in
copies, ufuncs and BLAS calls); :func:`plan_tiles` cuts ``batch x rows`` work into
pieces whose scratch fits a byte limit (the workspace budget, or a cache-sized target).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .._config import blas_controllable, single_threaded_blas

__all__ = ["run", "plan_tiles"]

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A persistent pool of ``workers`` threads (creating one per call costs about a millisecond)."""
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="convwise")
    return pool


def run(tasks: Sequence[Callable[[], object]], workers: int, *, blas: bool = True) -> list:
    """Run ``tasks`` (callables writing disjoint outputs) and return their results in order.

    With ``workers > 1`` and more than one task, a pool of ``workers`` threads runs them
    while the caller waits. ``blas=True``: the tasks run their own GEMMs/FFTs, so BLAS is held
    at one thread meanwhile (on the shared 2-core dev VM that measured 2-30x faster than
    letting OpenBLAS split every small GEMM over its threads); without threadpoolctl they
    then run in order in this thread. ``blas=False``: ufunc-only tasks, BLAS untouched.
    """
    if workers < 2 or len(tasks) < 2 or (blas and not blas_controllable()):
        return [task() for task in tasks]
    pool = _pool(min(workers, len(tasks)))
    with single_threaded_blas() if blas else contextlib.nullcontext():
        futures = [pool.submit(task) for task in tasks]
        return [future.result() for future in futures]


def plan_tiles(batch: int, rows: int, tile_bytes: Callable[[int, int], int], limit: int,
               pieces: int = 1) -> list[tuple[slice, slice]]:
    """``(batch slice, row slice)`` tiles whose ``tile_bytes(samples, rows)`` stays within ``limit``.

    Whole samples are grouped while one fits (and at least ``pieces`` tiles result when the
    batch allows); otherwise each sample is cut into the most rows that fit (at least one
    row: callers check that the smallest tile fits the budget first), split evenly so no
    tiny last tile remains, and into at least ``pieces`` tiles in all where the rows allow.

    >>> [(b.start, b.stop) for b, _ in plan_tiles(5, 4, lambda b, r: b * r * 10, 80)]
    [(0, 2), (2, 4), (4, 5)]
    >>> [(r.start, r.stop) for _, r in plan_tiles(1, 10, lambda b, r: b * r * 10, 35)]
    [(0, 3), (3, 6), (6, 9), (9, 10)]
    """
    if batch <= 0 or rows <= 0:
        return []
    per_sample = tile_bytes(1, rows)
    if per_sample <= limit and batch >= pieces:
        step = max(1, min(batch, limit // max(per_sample, 1), -(-batch // pieces)))
        return [(slice(b, min(b + step, batch)), slice(0, rows)) for b in range(0, batch, step)]
    low, high = 1, rows                                   # most rows whose tile fits (at least one)
    while low < high:
        middle = (low + high + 1) // 2
        if tile_bytes(1, middle) <= limit:
            low = middle
        else:
            high = middle - 1
    low = min(low, -(-rows // -(-pieces // batch)))
    step = -(-rows // -(-rows // low))                    # even split: no tiny last tile
    return [(slice(b, b + 1), slice(r, min(r + step, rows))) for b in range(batch) for r in range(0, rows, step)]
