"""Compiled kernels (numba), loaded lazily and never making a caller wait for the compiler.

``import convwise`` does not import numba. The first time an algorithm asks for a kernel
(:func:`ready`), a background thread imports numba, configures its threads and loads the
kernel from numba's on-disk cache, compiling it there if the cache is cold; until then
:func:`ready` answers ``False`` and the NumPy algorithms answer the call. ``convwise
warmup`` (:func:`warmup`) compiles every kernel ahead, in the foreground.

Threads follow ``convwise.get_config().threads`` (``numba.set_num_threads`` before each
launch). numba's workers use the OpenMP layer with a passive wait policy, set before the
layer starts: with the default (spinning) policy the idle workers took the cores BLAS
needed right after a kernel (see ``benchmarks/README.md``). Where OpenMP is missing numba
falls back to its ``workqueue`` layer, which must not be entered from two threads at
once; launches are then serialised by a lock.

The disk cache lives in ``__pycache__`` beside the kernel sources, or, where that
directory is not writable (a system-wide install), in numba's per-user cache directory
(``NUMBA_CACHE_DIR`` overrides both): numba chooses, and either way a second process
loads instead of compiling.

Kernels (name -> module function), each compiled for float32 and float64:
``conv_forward``, ``conv_transpose``, ``conv_weight_grad``, ``conv_weight_grad_planes`` (:mod:`.conv`), ``max_pool``,
``avg_pool``, ``lp_pool``, ``max_pool_backward``, ``avg_pool_backward`` (:mod:`.pool`), ``winograd_filter``,
``winograd_input``, ``winograd_output``, ``winograd_grad_output``, ``winograd_filter_grad`` (:mod:`.winograd`),
``im2col2d``, ``col2im2d`` (:mod:`.im2col`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._config import get_config

__all__ = [
    "DTYPES",
    "KERNELS",
    "PARALLEL_MIN_WORK",
    "cache_dir",
    "disabled",
    "get",
    "launch",
    "on_ready",
    "ready",
    "request",
    "status",
    "threads",
    "unavailable_reason",
    "wait",
    "warmup",
]

#: kernel name -> (module, function)
KERNELS = {
    "conv_forward": ("conv", "conv_forward"),
    "conv_transpose": ("conv", "conv_transpose"),
    "conv_weight_grad": ("conv", "conv_weight_grad"),
    "conv_weight_grad_planes": ("conv", "conv_weight_grad_planes"),
    "max_pool": ("pool", "max_pool"),
    "avg_pool": ("pool", "avg_pool"),
    "lp_pool": ("pool", "lp_pool"),
    "max_pool_backward": ("pool", "max_pool_backward"),
    "avg_pool_backward": ("pool", "avg_pool_backward"),
    "winograd_filter": ("winograd", "winograd_filter"),
    "winograd_input": ("winograd", "winograd_input"),
    "winograd_output": ("winograd", "winograd_output"),
    "winograd_grad_output": ("winograd", "winograd_grad_output"),
    "winograd_filter_grad": ("winograd", "winograd_filter_grad"),
    "im2col2d": ("im2col", "im2col2d"),
    "col2im2d": ("im2col", "col2im2d"),
}
DTYPES = ("float32", "float64")

_lock = threading.Lock()
_ready: set[tuple[str, str]] = set()
_queued: set[tuple[str, str]] = set()
_done = threading.Condition(_lock)
_jobs: queue.Queue = queue.Queue()
_worker: threading.Thread | None = None
_failure: str | None = None          # why numba cannot be used in this process, once known
_listeners: list[Callable[[], None]] = []
_serial: contextlib.AbstractContextManager = contextlib.nullcontext()   # a lock where launches cannot overlap
_numba: Any = None


def unavailable_reason() -> str | None:
    """Why compiled kernels cannot run in this process (numba missing or broken), else ``None``."""
    return _failure


def on_ready(listener: Callable[[], None]) -> None:
    """Call ``listener()`` (from the loading thread) each time a kernel becomes ready."""
    _listeners.append(listener)


@functools.lru_cache(maxsize=64)
def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name           # (a Python-level property in NumPy 2: cached, as every call asks)


_disabled = 0


@contextlib.contextmanager
def disabled():
    """Within this block (process-wide) no kernel counts as ready: the NumPy algorithms answer."""
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1


def ready(name: str, dtype, *, start: bool = True) -> bool:
    """Whether kernel ``name`` is loaded for ``dtype``; if not and ``start``, queue it for loading."""
    if _disabled:
        return False
    key = (name, _dtype_name(dtype))
    if key in _ready:
        return True
    if start and _failure is None and key[1] in DTYPES:
        request([name], [key[1]])
    return False


def status() -> dict[str, list[str]]:
    """``{"ready": [...], "loading": [...]}`` as ``"name[dtype]"`` strings."""
    with _lock:
        return {"ready": sorted(f"{n}[{d}]" for n, d in _ready),
                "loading": sorted(f"{n}[{d}]" for n, d in _queued - _ready)}


def request(names: Iterable[str] | None = None, dtypes: Iterable[str] | None = None) -> None:
    """Queue kernels for loading (from cache, else compiling) on the background thread."""
    global _worker
    keys = [(name, _dtype_name(dtype)) for name in (names or KERNELS) for dtype in (dtypes or DTYPES)]
    with _lock:
        fresh = [key for key in keys if key not in _queued]
        _queued.update(fresh)
        for key in fresh:
            _jobs.put(key)
        if fresh and (_worker is None or not _worker.is_alive()):
            _worker = threading.Thread(target=_work, name="convwise-kernels", daemon=True)
            _worker.start()


def wait(names: Iterable[str] | None = None, dtypes: Iterable[str] | None = None,
         timeout: float | None = None) -> bool:
    """Queue the kernels and block until they are ready (or numba failed); returns whether they are."""
    keys = {(name, _dtype_name(dtype)) for name in (names or KERNELS) for dtype in (dtypes or DTYPES)}
    request(names, dtypes)
    with _done:
        _done.wait_for(lambda: keys <= _ready or _failure is not None, timeout)
        return keys <= _ready


def warmup(progress: Callable[[str], None] | None = None) -> list[str]:
    """Load or compile every kernel for every dtype in this thread; returns their ``name[dtype]``.

    ``progress(label)`` is called after each one (the CLI's progress bar).
    """
    done = []
    for name in KERNELS:
        for dtype in DTYPES:
            _prepare(name, dtype)
            done.append(f"{name}[{dtype}]")
            if progress is not None:
                progress(done[-1])
    return done


def _work() -> None:
    while True:
        try:
            name, dtype = _jobs.get(timeout=1.0)
        except queue.Empty:
            return
        with contextlib.suppress(Exception):     # recorded in _failure, shown by why_ineligible
            _prepare(name, dtype)


def _load_numba():
    """Import numba once, with convwise's threading choices made before its layer starts."""
    global _numba, _failure
    if _numba is not None:
        return _numba
    try:
        import numba
        from numba.np.ufunc import parallel
    except Exception as error:
        _failure = f"numba could not be imported ({type(error).__name__}: {error})"
        raise
    if not getattr(parallel, "_is_initialized", False) and "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
        numba.config.THREADING_LAYER = "default"
    _numba = numba
    return numba


_env_lock = threading.Lock()


#: libgomp spin iterations before an idle numba worker sleeps (``GOMP_SPINCOUNT``). 0 (a purely
#: passive policy) made every launch pay the wake-up of a sleeping vCPU on both sides of the
#: fork-join, 0.1-0.2 ms: at two threads the Winograd input transform of 64@56 took 0.41 ms
#: against 0.31 on one thread, and 0.17 ms with 3000 spins; spinning far longer (30000, or
#: libgomp's default 300000) took the core BLAS and torch needed next.
SPIN_COUNT = 3000


@contextlib.contextmanager
def _passive_openmp():
    """``OMP_WAIT_POLICY=PASSIVE`` and a short ``GOMP_SPINCOUNT`` (:data:`SPIN_COUNT`) while
    numba's OpenMP layer may start (the first launch).

    libgomp reads them once, when it loads: numba's idle workers then spin briefly and sleep,
    instead of spinning on the cores BLAS needs next (measured: see ``benchmarks/README.md``).
    The variables are restored afterwards; an explicit user setting always wins. A library that
    loads ``libgomp.so.1`` later (torch imported after the kernels) finds this runtime already
    loaded under that name and shares it, spin policy included; one loaded before keeps its own
    (:func:`_own_openmp`).
    """
    with _env_lock:
        if _threads_started():
            yield
            return
        if "OMP_WAIT_POLICY" in os.environ:       # the user's policy, on numba's own runtime all the same
            _own_openmp()
            yield
            return
        added = {"OMP_WAIT_POLICY": "PASSIVE"}
        if "GOMP_SPINCOUNT" not in os.environ:
            added["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
        os.environ.update(added)
        try:
            _own_openmp()
            yield
        finally:
            for name in added:
                os.environ.pop(name, None)


def _own_openmp() -> None:
    """Load numba's OpenMP pool bound to its own GNU OpenMP runtime (``RTLD_DEEPBIND``, Linux).

    Where torch was imported first, its ``libgomp.so.1`` is in the process's global symbol scope
    and numba's pool (linked against the system's ``libgomp.so.1.0.0``, loaded beside it) would
    otherwise call torch's copy: its workers, started with torch's long spin, then took the core
    that OpenBLAS's workers needed, and every GEMM followed by a two-thread numba launch paid a
    scheduler tick (pointwise 256@28 then depthwise 256@28: 4.3 + 3.7 ms, against 0.44 + 0.22 ms
    with the pool's own runtime, which reads this block's spin settings as it loads). Nothing is
    done where the layer has started, another layer is asked for, the platform has no
    ``RTLD_DEEPBIND``, or ``LD_PRELOAD`` is set (a deep-bound library would bypass a preloaded
    allocator or sanitizer); a failure leaves numba's own import to try again (and choose its layer).
    """
    deep = getattr(os, "RTLD_DEEPBIND", 0)
    if not deep or os.environ.get("NUMBA_THREADING_LAYER", "omp") not in ("omp", "default", "threadsafe"):
        return
    if os.environ.get("LD_PRELOAD"):          # a preloaded allocator or sanitizer must stay in charge
        return
    try:
        spec = importlib.util.find_spec("numba.np.ufunc.omppool")
        if spec is not None and spec.origin:
            # the extension's file loaded first here, deep-bound; numba's import later opens the same
            # file and gets this copy, symbols already bound (no process-wide dlopen flags touched)
            _openmp_handles.append(ctypes.CDLL(spec.origin, mode=os.RTLD_NOW | deep))
    except (ImportError, OSError):      # no usable OpenMP layer: numba picks another one itself
        pass


_openmp_handles: list = []


def _prepare(name: str, dtype: str) -> None:
    """Load (or compile) kernel ``name`` for ``dtype`` by running it once on tiny arrays."""
    global _failure, _serial
    key = (name, dtype)
    if key in _ready:
        return
    try:
        numba = _load_numba()
        function = get(name)
        with _passive_openmp(), _serial:
            # one thread: the loading thread gets no OpenMP team of its own (with more OpenMP threads
            # than cores libgomp stops spinning and every launch pays the wake-ups; benchmarks/README.md)
            numba.set_num_threads(1)
            _launch_threads.__dict__.pop("count", None)      # this thread's next launch sets its count again
            _tiny_call(name, function, np.dtype(dtype))
        if numba.threading_layer() == "workqueue":
            _serial = threading.Lock()
    except Exception as error:
        with _done:
            if _failure is None:
                _failure = f"compiling kernel {name}[{dtype}] failed ({type(error).__name__}: {error})"
            _done.notify_all()
        raise
    with _done:
        _ready.add(key)
        _done.notify_all()
    for listener in _listeners:
        listener()


_dispatchers: dict[str, Callable] = {}


def _after_fork_in_child() -> None:
    """A forked child cannot use the parent's OpenMP workers (GNU OpenMP aborts the process on
    the next launch): once they have started, the child keeps to the NumPy algorithms."""
    global _lock, _done, _jobs, _worker, _failure
    _lock = threading.Lock()
    _done = threading.Condition(_lock)
    _jobs = queue.Queue()
    _worker = None
    _queued.clear()
    _queued.update(_ready)
    if _numba is not None and _threads_started():
        _failure = ("numba's OpenMP worker threads started before this process was forked, and GNU OpenMP "
                    "cannot run them in the child (the NumPy algorithms answer here)")
        _ready.clear()


def _threads_started() -> bool:
    try:
        from numba.np.ufunc import parallel
    except Exception:  # noqa: BLE001  (no numba layer: nothing started)
        return False
    return bool(getattr(parallel, "_is_initialized", False))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get(name: str):
    """The numba dispatcher of kernel ``name`` (imports numba and the kernel module)."""
    dispatcher = _dispatchers.get(name)
    if dispatcher is None:
        import importlib

        module, function = KERNELS[name]
        _load_numba()
        dispatcher = _dispatchers[name] = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    return dispatcher


def _tiny_call(name: str, function, dtype: np.dtype) -> None:
    geo = np.ones(12, dtype=np.int64)
    geo[9:] = 0
    if name.startswith("conv"):
        x = np.zeros((1, 1, 1, 1, 2), dtype=dtype)
        w = np.zeros((1, 1, 1, 1, 1), dtype=dtype)
        y = np.zeros((1, 1, 1, 1, 2), dtype=dtype)
        if name == "conv_forward":
            function(x, w, geo[:9], 1, 1, 1, y)
        elif name == "conv_transpose":
            function(x, w, geo[:9], 1, 1, y)
        elif name == "conv_weight_grad_planes":
            function(x, y, geo[:9], 1, 1, w)
        else:
            function(x, y, geo[:9], 1, w)                       # conv_weight_grad
    elif name == "col2im2d":
        function(np.zeros((1, 1, 1, 1, 2, 2), dtype=dtype), np.ones(6, dtype=np.int64),
                 np.zeros((1, 1, 2, 2), dtype=dtype))
    elif name == "im2col2d":
        function(np.zeros((1, 1, 2, 2), dtype=dtype), np.ones(6, dtype=np.int64), 0, 0,
                 np.zeros((1, 1, 1, 1, 2, 2), dtype=dtype))
    elif name.startswith("winograd"):
        c = np.ones(8, dtype=dtype)
        if name == "winograd_filter":
            function(np.zeros((1, 3, 3), dtype=dtype), c, np.zeros((36, 1), dtype=dtype))
        elif name == "winograd_filter_grad":
            function(np.zeros((36, 1), dtype=dtype), c, np.zeros((1, 3, 3), dtype=dtype))
        elif name == "winograd_grad_output":
            function(np.zeros((1, 1, 4, 4), dtype=dtype), c, 0, 1, np.zeros((36, 1, 1, 1, 2), dtype=dtype))
        elif name == "winograd_input":
            function(np.zeros((1, 1, 4, 4), dtype=dtype), c, -1, -1, 1, np.zeros((36, 1, 1, 1, 2), dtype=dtype))
        else:
            function(np.zeros((36, 1, 1, 1, 2), dtype=dtype), c, 0, 1, np.zeros((1, 1, 4, 4), dtype=dtype))
    elif name == "max_pool":
        x = np.zeros((1, 1, 1, 2), dtype=dtype)
        function(x, geo, True, np.zeros((1, 1, 1, 2), dtype=dtype), np.zeros((1, 1, 1, 2), dtype=np.int64))
    elif name == "lp_pool":
        function(np.zeros((1, 1, 1, 2), dtype=dtype), geo, 2, 4, dtype.type(1), np.zeros((1, 1, 1, 2), dtype=dtype))
    elif name == "max_pool_backward":
        function(np.zeros((1, 2), dtype=dtype), np.zeros((1, 2), dtype=np.int64), np.zeros((1, 2), dtype=dtype))
    else:                                   # avg_pool, avg_pool_backward
        x = np.zeros((1, 1, 1, 2), dtype=dtype)
        function(x, geo, True, 0, np.zeros((1, 1, 1, 2), dtype=dtype))


def cache_dir() -> str | None:
    """Where numba keeps the kernels' disk cache (beside the sources, or the per-user
    cache directory when that is not writable); ``None`` where numba found no place."""
    cache = getattr(get("conv_forward"), "_cache", None)
    return getattr(cache, "_cache_path", None)


#: Multiply-adds (or window taps) below which a launch runs on one thread, like torch's grain
#: size. A two-thread launch wakes a sleeping worker (numba's OpenMP workers spin only briefly,
#: :data:`SPIN_COUNT`), which on the 2-vCPU dev VM cost 0.1-0.3 ms whenever the previous launch
#: was more than a few calls ago. Measured in a process without torch, each layer in blocks of
#: five calls after a 0.1 s pause (medians, two runs; threshold 1e6 / never two threads):
#: depthwise 256@28 0.46-0.48 / 0.26-0.28 ms, grouped g32 128@28 0.44-0.51 / 0.27-0.28,
#: depthwise 144@56 s2 N8 2.5-3.1 / 2.4. In ``convwise bench`` (forward geometric mean, two runs
#: each): 1e6 0.90-0.93, 1e7 0.97-1.00, never 0.93-0.95. (With torch's OpenMP runtime in
#: charge, whose workers spin for milliseconds, two threads had paid from 1e6: see
#: :func:`_own_openmp` for why numba no longer runs on it.)
PARALLEL_MIN_WORK = 10_000_000


def threads(work: float | None = None) -> int:
    """numba threads for a launch: ``get_config().threads`` (at most numba's pool size), or one
    for less than :data:`PARALLEL_MIN_WORK` multiply-adds of ``work``."""
    if work is not None and work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(get_config().threads, _numba.config.NUMBA_NUM_THREADS))


def launch(name: str, *args, work: float | None = None):
    """Run a ready kernel with :func:`threads` ``(work)`` numba threads."""
    count = threads(work)
    with _serial:
        if getattr(_launch_threads, "count", None) != count:     # numba's setting is per thread, as is this
            _numba.set_num_threads(count)
            _launch_threads.count = count
        return get(name)(*args)


_launch_threads = threading.local()
