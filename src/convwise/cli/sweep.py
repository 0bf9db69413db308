"""``convwise sweep``: parameters and forward time against each conv2d hyperparameter.

Examples::

    convwise sweep all --out sweeps/       # every hyperparameter, with a progress bar
    convwise sweep kernel                  # one figure: sweep-kernel_size.png (+ .csv)
    convwise sweep stride --quick          # tiny sizes, a few seconds
"""

from __future__ import annotations

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="plot params and time against conv2d hyperparameters",
                                   description="For each hyperparameter (in_channels, out_channels, kernel_size, "
                                   "stride, padding, dilation, groups): parameter count and measured forward time "
                                   "of convwise.conv2d (and torch, when installed), as a PNG and a CSV.")
    parser.add_argument("parameter", nargs="?", default="all",
                        help="all, in_channels, out_channels, kernel (kernel_size), stride, padding, dilation or "
                        "groups (default all)")
    parser.add_argument("-o", "--out", default=".", metavar="DIR", help="folder for the PNG and CSV files")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few values (seconds)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per point (median; default 5, quick 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: all cores; --quick: 1)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time CPU seconds instead of wall-clock (steadier on a busy machine; use --threads 1)")
    parser.add_argument("--no-torch", action="store_true", help="do not time torch even when installed")
    parser.set_defaults(func=run)


def run(args) -> int:
    from .._files import output_folder
    from ..viz import sweep as viz

    names = None if args.parameter == "all" else [viz.parameter_name(args.parameter)]
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be positive, got {args.threads}")
    if args.repeats is not None and args.repeats < 1:
        raise ValueError(f"--repeats must be positive, got {args.repeats}")
    with output_folder(args.out):               # a failed sweep leaves none of its files behind
        paths = viz.sweep_all(args.out, names, quick=args.quick, repeats=args.repeats,
                              use_torch=False if args.no_torch else None, threads=args.threads,
                              clock="cpu" if args.cpu_time else "wall")
    for path in paths:
        print(f"wrote {path}")
    return 0
