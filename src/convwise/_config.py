"""Settings: thread count, workspace and memory budgets (process default, per-thread overrides).

>>> import convwise as cw
>>> with cw.config(threads=1, workspace_mib=64):
...     cw.get_config().threads
1
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import operator
import os
import sys
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


#: Largest accepted ``threads`` and ``*_mib`` values (larger ones are typos, not machines).
MAX_THREADS = 2**16
MAX_MIB = float(2**40)

_default = Config()                            # the process default (set_config)
_default_lock = threading.Lock()
#: This thread's or task's overrides from ``config(...)`` blocks (empty: the default applies).
_overrides: contextvars.ContextVar[dict] = contextvars.ContextVar("convwise_config", default={})  # noqa: B039 (never mutated: replaced by set())
_merged: contextvars.ContextVar[tuple] = contextvars.ContextVar("convwise_config_merged", default=(None, None, None))


def get_config() -> Config:
    """The settings in force for the calling thread or asyncio task."""
    overrides = _overrides.get()
    if not overrides:
        return _default
    default, seen, merged = _merged.get()
    if default is _default and seen is overrides:
        return merged
    merged = replace(_default, **overrides)
    _merged.set((_default, overrides, merged))
    return merged


def carry_context(function):
    """``function`` bound to the caller's settings, for running on a pool thread.

    Pool threads do not inherit a :func:`config` block's settings (contextvars are per
    thread); submit ``carry_context(work)`` instead of ``work`` so that the worker sees the
    caller's ``threads``/``workspace_mib``/``memory_mib``:
    ``pool.submit(carry_context(work), part)``.
    """
    context = contextvars.copy_context()

    def run(*args, **kwargs):
        return context.copy().run(function, *args, **kwargs)

    return run


def _apply_threads(threads: int, *, rescan: bool = False) -> None:
    """Set the BLAS pools (NumPy's among them) to ``threads``, through the controllers found once
    (:func:`_blas_libraries`; ``rescan``: look again for libraries loaded since, as ``set_config``
    does): a fresh ``threadpool_limits`` scan of the loaded libraries took 0.9 ms per
    ``config(threads=...)`` block, and it also reset other libraries' OpenMP pools (torch's),
    which are theirs to set. Without threadpoolctl BLAS keeps its own setting."""
    global _blas
    if rescan:
        _blas = None
    for lib in _blas_libraries():
        lib.set_num_threads(threads)


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
    if flops_per_product < SMALL_GEMM_FLOPS and get_config().threads > 1:
        return single_threaded_blas()
    return contextlib.nullcontext()


def _check_int(function: str, name: str, value) -> int:
    """An int (NumPy integers too, via ``operator.index``), never a bool, 1 <= value <= 2**16."""
    if isinstance(value, (bool, _np_bool_types())):
        raise TypeError(f"{function}: {name} must be an int, got bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{function}: {name} must be an int, got {type(value).__name__} {value!r}") from None
    if not 1 <= number <= MAX_THREADS:
        raise ValueError(f"{function}: {name} must be between 1 and {MAX_THREADS}, got {name}={number}")
    return number


def _check_mib(function: str, name: str, value) -> float:
    """A positive finite number of MiB (ints, floats and NumPy scalars), never a bool."""
    if isinstance(value, (bool, _np_bool_types())) or not isinstance(value, numbers.Real):
        raise TypeError(f"{function}: {name} must be a number, got {type(value).__name__} {value!r}")
    try:
        mib = float(value)
    except OverflowError:
        mib = math.inf
    if not (math.isfinite(mib) and 0 < mib <= MAX_MIB):
        raise ValueError(f"{function}: {name} must be a positive finite number of MiB at most {MAX_MIB:g}, "
                         f"got {name}={value!r}")
    return mib


def _np_bool_types() -> tuple:
    """NumPy's bool scalar type, when NumPy is loaded (``bool`` otherwise)."""
    numpy = sys.modules.get("numpy")
    return (numpy.bool_,) if numpy is not None else (bool,)


def _changes(function: str, threads, workspace_mib, memory_mib) -> dict:
    changes: dict = {}
    if threads is not None:
        changes["threads"] = _check_int(function, "threads", threads)
    if workspace_mib is not None:
        changes["workspace_mib"] = _check_mib(function, "workspace_mib", workspace_mib)
    if memory_mib is not None:
        changes["memory_mib"] = _check_mib(function, "memory_mib", memory_mib)
    return changes


def set_config(*, threads: int | None = None, workspace_mib: float | None = None,
               memory_mib: float | None = None) -> Config:
    """Change the process-wide defaults; returns the previous defaults.

    Every thread and asyncio task sees the new values except for settings it has
    overridden inside a :func:`config` block. ``threads`` is an int (NumPy integers
    accepted) from 1 to 65536; ``workspace_mib`` and ``memory_mib`` are positive finite
    numbers. Bad values raise TypeError/ValueError and change nothing.
    """
    global _default
    changes = _changes("set_config", threads, workspace_mib, memory_mib)
    with _default_lock:
        previous = _default
        _default = replace(_default, **changes)
        current = _default
    if "threads" in changes and current.threads != previous.threads:
        _apply_threads(current.threads, rescan=True)
    if "workspace_mib" in changes and current.workspace_mib != previous.workspace_mib:
        from ._workspace import release
        from .algorithms import _filter_cache

        release()                       # a smaller budget should not leave a larger buffer held
        _filter_cache.clear()           # nor transforms kept under the larger one
    return previous


@contextlib.contextmanager
def config(*, threads: int | None = None, workspace_mib: float | None = None,
           memory_mib: float | None = None):
    """Change settings for the current thread or asyncio task only, inside a ``with`` block.

    The values live in a :mod:`contextvars` variable: other threads and tasks keep theirs,
    a task created inside the block inherits them, and on exit the previous values come
    back whatever other threads did meanwhile. Settings not given follow the process
    default (:func:`set_config`). BLAS has one process-wide thread pool: ``threads`` is
    applied to it only from the main thread (and restored on exit), as OpenBLAS ignores
    a raise of its thread count made from any other thread.
    """
    changes = _changes("config", threads, workspace_mib, memory_mib)
    outer = _overrides.get()
    before = get_config()
    token = _overrides.set({**outer, **changes})
    on_main = threading.current_thread() is threading.main_thread()
    applied = on_main and "threads" in changes and changes["threads"] != before.threads
    if applied:
        _apply_threads(changes["threads"])
    resized = "workspace_mib" in changes and changes["workspace_mib"] != before.workspace_mib
    if resized:
        from ._workspace import release
        from .algorithms import _filter_cache

        release()                       # scratch buffers are sized for the old budget
        _filter_cache.clear()
    try:
        yield get_config()
    finally:
        _overrides.reset(token)
        if applied:
            _apply_threads(get_config().threads)
        if resized:
            release()
