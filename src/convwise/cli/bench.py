"""``convwise bench``: time convwise against PyTorch on the fixed benchmark suite."""

from __future__ import annotations

import argparse


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="benchmark convwise against PyTorch on the fixed layer suite",
        description="Run the benchmark suite (benchmarks/suite.toml), interleaving convwise and torch (in blocks) in one "
                    "process with the same thread count; print a table and geometric means.")
    parser.add_argument("--quick", action="store_true", help="tiny shapes only (a smoke test, seconds)")
    parser.add_argument("--repeat", type=_positive, default=None, help="timed runs per layer (median; default 5, quick 2)")
    parser.add_argument("--threads", type=_positive, default=None, help="threads for both libraries (default: all cores)")
    parser.add_argument("--filter", metavar="SUBSTR", default=None, help="only layers whose name contains SUBSTR")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the full report as JSON")
    parser.add_argument("--suite", metavar="PATH", default=None, help="suite TOML file (default: benchmarks/suite.toml)")
    parser.add_argument("--no-torch", action="store_true", help="time convwise only")
    parser.add_argument("--against", action="append", default=[], choices=["onnxruntime"],
                        help="also time this engine in the same blocks (onnxruntime: a one-node ONNX model per layer, "
                             "CPU provider, --threads intra-op threads; needs the 'bench' extra)")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not load/compile the numba kernels first (time what a cold process runs)")
    parser.add_argument("--no-compiled", action="store_true",
                        help="time convwise without its numba kernels (NumPy algorithms only: the 'before')")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


def run(args) -> int:
    import json

    from ..bench import format_table, load_suite, run_suite

    layers = load_suite(args.suite, quick=args.quick, filter=args.filter)
    if not layers:
        raise ValueError(f"no suite layer matches --filter {args.filter!r}")
    repeat = args.repeat or (2 if args.quick else 5)
    report = run_suite(layers, repeat=repeat, threads=args.threads, use_torch=not args.no_torch,
                       progress=not args.no_progress, sgemm_size=256 if args.quick else 2048,
                       against=tuple(dict.fromkeys(args.against)), wait_for_kernels=not args.no_wait,
                       compiled=not args.no_compiled)
    print(format_table(report))
    if args.json:
        try:
            with open(args.json, "w") as handle:
                json.dump(report, handle, indent=2)
        except OSError as error:
            raise ValueError(f"cannot write --json {args.json!r}: {error.strerror}") from None
    return 0
