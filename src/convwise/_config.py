"""Process-wide settings: thread count and workspace budget.

>>> import convwise as cw
>>> with cw.config(threads=1, workspace_mib=64):
...     cw.get_config().threads
1
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field, replace

__all__ = ["Config", "get_config", "set_config", "config"]


@dataclass(frozen=True)
class Config:
    """``threads``: worker threads for BLAS and scipy.fft (default: all cores).
    ``workspace_mib``: the most scratch memory one operation may allocate besides its
    output; work that cannot be tiled under it is refused with a ValueError.
    ``memory_mib``: the most memory (output plus workspace) one operation may need in all;
    larger requests are refused by :mod:`convwise._guard` before anything is allocated
    (default: half the memory available when convwise is imported)."""

    threads: int = os.cpu_count() or 1
    workspace_mib: float = 256.0
    memory_mib: float = field(default_factory=lambda: _default_memory_mib())

    @property
    def workspace_bytes(self) -> int:
        return int(self.workspace_mib * 2**20)

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_mib * 2**20)


def _available_memory_bytes() -> int | None:
    """Memory the machine has available now (Linux ``MemAvailable``; ``None`` where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _default_memory_mib() -> float:
    """Default memory budget of one operation: half the available memory (4 GiB where unknown)."""
    available = _available_memory_bytes()
    return 4096.0 if available is None else max(64.0, available / 2 / 2**20)


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


_blas_lock = threading.Lock()
_blas_state = {"depth": 0, "previous": []}


def blas_controllable() -> bool:
    """Whether BLAS threads can be set (threadpoolctl installed and a BLAS library found)."""
    return bool(_blas_libraries())


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS on one thread while any caller is inside (reference counted across Python
    threads: the first one in saves and sets, the last one out restores; ~2 us).

    For stretches of small GEMMs, which OpenBLAS splits over its threads at a loss (the 36
    Winograd products of a 64-channel 56x56 layer, 64 x 64 x 196 each, took 0.62 ms on two
    threads and 0.50 ms on one), and for workers that each run their own GEMMs.

    Only the main thread changes the setting: OpenBLAS ignores a raise of its thread count
    made from any other thread, so a limit set there could never be lifted. Elsewhere the
    block does nothing (BLAS keeps its threads).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    libs = _blas_libraries()
    with _blas_lock:
        if _blas_state["depth"] == 0:
            _blas_state["previous"] = [lib.get_num_threads() for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        _blas_state["depth"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["depth"] -= 1
            if _blas_state["depth"] == 0:
                for lib, count in zip(libs, _blas_state["previous"]):
                    lib.set_num_threads(count)


#: Products smaller than this (flops each) run on one BLAS thread: OpenBLAS splits them over
#: its threads at a loss (see :func:`single_threaded_blas`).
SMALL_GEMM_FLOPS = 8e6


def small_gemm_threads(flops_per_product: float):
    """``single_threaded_blas()`` around products of fewer than :data:`SMALL_GEMM_FLOPS` flops each
    (when more than one thread is configured), else a context that does nothing."""
    if flops_per_product < SMALL_GEMM_FLOPS and _current.threads > 1:
        return single_threaded_blas()
    return contextlib.nullcontext()


def set_config(*, threads: int | None = None, workspace_mib: float | None = None,
               memory_mib: float | None = None) -> Config:
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
    if memory_mib is not None:
        if isinstance(memory_mib, bool) or not isinstance(memory_mib, (int, float)):
            raise TypeError(f"set_config: memory_mib must be a number, got {memory_mib!r}")
        if not 0 < memory_mib < float("inf"):
            raise ValueError(f"set_config: memory_mib must be a positive finite number, got memory_mib={memory_mib}")
        changes["memory_mib"] = float(memory_mib)
    _current = replace(_current, **changes)
    if threads is not None and threads != previous.threads:
        _apply_threads(threads)
    if workspace_mib is not None and _current.workspace_mib != previous.workspace_mib:
        from ._workspace import release

        release()                       # a smaller budget should not leave a larger buffer held
    return previous


@contextlib.contextmanager
def config(*, threads: int | None = None, workspace_mib: float | None = None,
           memory_mib: float | None = None):
    """Temporarily change settings (a context manager)."""
    previous = set_config(threads=threads, workspace_mib=workspace_mib, memory_mib=memory_mib)
    try:
        yield _current
    finally:
        set_config(threads=previous.threads, workspace_mib=previous.workspace_mib,
                   memory_mib=previous.memory_mib)
