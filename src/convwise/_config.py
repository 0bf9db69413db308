"""Process-wide settings: thread count and workspace budget.

>>> import convwise as cw
>>> with cw.config(threads=1, workspace_mib=64):
...     cw.get_config().threads
1
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace

__all__ = ["Config", "get_config", "set_config", "config"]


@dataclass(frozen=True)
class Config:
    """``threads``: worker threads for BLAS and scipy.fft (default: all cores).
    ``workspace_mib``: the most scratch memory one operation may allocate besides its
    output; work that cannot be tiled under it is refused with a ValueError."""

    threads: int = os.cpu_count() or 1
    workspace_mib: float = 256.0

    @property
    def workspace_bytes(self) -> int:
        return int(self.workspace_mib * 2**20)


_current = Config()


def get_config() -> Config:
    return _current


def _apply_threads(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl is optional; without it BLAS keeps its own setting
        return
    threadpool_limits(threads)


_blas = None


def _blas_libraries() -> list:
    """threadpoolctl controllers of the loaded BLAS libraries (NumPy's among them), found once."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        except Exception:  # threadpoolctl is optional; without it BLAS keeps its own setting
            _blas = []
    return _blas


@contextlib.contextmanager
def blas_threads(threads: int):
    """BLAS limited to ``threads`` threads inside the block (about 2 us to set and restore).

    For stretches of small GEMMs, which OpenBLAS splits over its threads at a loss: the
    36 Winograd products of a 64-channel 56x56 layer (64 x 64 x 196 each) took 0.62 ms on
    two threads and 0.50 ms on one; the 32 per-group products of a groups=32 layer ran
    1.5x slower on two. Not thread safe across Python threads that also change it.
    """
    libs = _blas_libraries()
    previous = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(threads)
    try:
        yield
    finally:
        for lib, count in zip(libs, previous):
            lib.set_num_threads(count)


#: Products smaller than this (flops each) run on one BLAS thread: OpenBLAS splits them over
#: its threads at a loss (see :func:`blas_threads`).
SMALL_GEMM_FLOPS = 8e6


def small_gemm_threads(flops_per_product: float):
    """``blas_threads(1)`` around products of fewer than :data:`SMALL_GEMM_FLOPS` flops each
    (when more than one thread is configured), else a context that does nothing."""
    if flops_per_product < SMALL_GEMM_FLOPS and _current.threads > 1:
        return blas_threads(1)
    return contextlib.nullcontext()


def set_config(*, threads: int | None = None, workspace_mib: float | None = None) -> Config:
    """Change settings for the whole process; returns the previous ``Config``."""
    global _current
    previous = _current
    changes = {}
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"set_config: threads must be an int, got {threads!r}")
        if threads < 1:
            raise ValueError(f"set_config: threads must be positive, got threads={threads}")
        changes["threads"] = threads
    if workspace_mib is not None:
        if isinstance(workspace_mib, bool) or not isinstance(workspace_mib, (int, float)):
            raise TypeError(f"set_config: workspace_mib must be a number, got {workspace_mib!r}")
        if not workspace_mib > 0:
            raise ValueError(f"set_config: workspace_mib must be positive, got workspace_mib={workspace_mib}")
        changes["workspace_mib"] = float(workspace_mib)
    _current = replace(_current, **changes)
    if threads is not None and threads != previous.threads:
        _apply_threads(threads)
    if workspace_mib is not None and _current.workspace_mib != previous.workspace_mib:
        from ._workspace import release

        release()                       # a smaller budget should not leave a larger buffer held
    return previous


@contextlib.contextmanager
def config(*, threads: int | None = None, workspace_mib: float | None = None):
    """Temporarily change settings (a context manager)."""
    previous = set_config(threads=threads, workspace_mib=workspace_mib)
    try:
        yield _current
    finally:
        set_config(threads=previous.threads, workspace_mib=previous.workspace_mib)
