"""``convwise summary MODEL``: per-layer shapes, params, MACs, receptive field and memory.

Examples::

    convwise summary alexnet
    convwise summary vgg16 --batch 8 --format json
    convwise summary lenet5 --format csv > lenet5.csv
    convwise summary my_net.json --input-shape 3x64x64
    convwise summary my_net.py            # a Python file that defines `model`
"""

from __future__ import annotations

import json

__all__ = ["register", "run"]


def _table_format(text: str) -> str:
    """argparse type: one of tabulate's table formats (checked when tabulate is installed)."""
    import argparse

    try:
        from tabulate import tabulate_formats
    except ImportError:
        return text
    if text not in tabulate_formats:
        raise argparse.ArgumentTypeError(f"unknown table format {text!r}; choose from {', '.join(tabulate_formats)}")
    return text


def register(subparsers) -> None:
    parser = subparsers.add_parser("summary", help="per-layer table of a network: shapes, params, MACs, RF",
                                   description="Summarise a sequential network layer by layer. MODEL is a built-in "
                                   "name (lenet5, alexnet, vgg16), a JSON file holding a list of layer dicts, or a "
                                   "Python file that defines `model`.")
    parser.add_argument("model", help="lenet5, alexnet, vgg16, FILE.json or FILE.py")
    parser.add_argument("--input-shape", default=None,
                        help="CxHxW or C,H,W, optionally with the batch first (default: the model's own, e.g. "
                        "3x224x224; a built-in model takes only its own rank and channel count)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (scales MACs and memory)")
    parser.add_argument("--format", default="text", choices=("text", "csv", "json"),
                        help="text (a table, default), csv or json")
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument("--style", default="simple", type=_table_format,
                        help="tabulate style of the text table (default simple; e.g. github, grid)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..notation import parse_ints
    from ..summary import summary

    shape = None
    if args.input_shape:
        shape = parse_ints(args.input_shape, fn="summary", name="--input-shape", minimum=1)
        shape = (shape,) if isinstance(shape, int) else shape
    if args.batch is not None and args.batch < 1:
        raise ValueError(f"--batch must be positive, got {args.batch}")
    result = summary(args.model, shape, batch=args.batch)
    if args.json or args.format == "json":
        print(json.dumps(result.to_dict(), indent=1))
    elif args.format == "csv":
        print(result.csv(), end="")
    else:
        from tabulate import tabulate_formats

        if args.style not in tabulate_formats:
            raise ValueError(f"summary: --style must be one of {', '.join(tabulate_formats)}, got {args.style!r}")
        print(result.table(args.style))
    return 0
