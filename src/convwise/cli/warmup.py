"""``convwise warmup``: compile (or load from the disk cache) every numba kernel ahead of use."""

from __future__ import annotations

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "warmup", help="compile every compiled (numba) kernel now, so no later call waits for it",
        description="Compile the numba kernels for float32 and float64, or load them from numba's disk cache "
                    "when an earlier run compiled them. Takes about half a minute the first time; later calls "
                    "compile nothing. Until a kernel is ready, convwise answers with its NumPy algorithms.")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


def run(args) -> int:
    import time

    from .. import kernels

    start = time.perf_counter()
    names = [f"{name}[{dtype}]" for name in kernels.KERNELS for dtype in kernels.DTYPES]
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is an optional extra: warm up without the bar
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=len(names), desc="convwise warmup", unit="kernel", leave=False)

    def step(label: str) -> None:
        if bar is not None:
            bar.set_postfix_str(label)
            bar.update()

    try:
        kernels.warmup(step)
    except Exception as error:  # noqa: BLE001  (numba missing or failing: one line, exit 2)
        raise ValueError(kernels.unavailable_reason() or f"{type(error).__name__}: {error}") from None
    finally:
        if bar is not None:
            bar.close()
    import numba

    print(f"{len(names)} kernels ready in {time.perf_counter() - start:.1f} s "
          f"(numba {numba.__version__}, threading layer {numba.threading_layer()}, "
          f"cache {kernels.cache_dir() or 'not writable: kernels will compile in each process'})")
    return 0
