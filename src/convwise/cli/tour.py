"""``convwise tour``: a one-minute guided tour of convolution arithmetic (see :mod:`convwise.tour`)."""

from __future__ import annotations

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("tour", help="a one-minute guided tour: sizes, a worked example, an animation, "
                                   "a sweep and a model summary",
                                   description="Walk through convolution arithmetic in seven steps, writing the "
                                   "pictures and tables to a folder.")
    parser.add_argument("-o", "--out", default="convwise-tour", metavar="DIR",
                        help="folder for the files (default ./convwise-tour)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    from .._files import output_folder
    from ..tour import tour

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out!r} exists and is not a folder")
    with output_folder(args.out):               # a failed tour leaves none of its files behind
        tour(args.out)
    return 0
