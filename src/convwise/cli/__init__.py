"""The ``convwise`` command: one entry point, each subcommand a thin adapter.

Subcommands are the modules of this package that define ``register(subparsers)``;
``register`` adds an argparse sub-parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit status. Modules import heavy optional libraries inside
``func`` so that ``convwise --help`` works with the core install alone.

Bad input never shows a traceback: a ``ValueError``/``TypeError`` (or an argparse error)
prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser", "UsageError"]


class UsageError(ValueError):
    """Bad command-line input detected after parsing."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        sys.stderr.write(f"convwise: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="convwise", description="PyTorch-exact convolution for NumPy, with its arithmetic made visible.")
    parser.add_argument("--version", action="version", version=f"convwise {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError) as error:
        sys.stderr.write(f"convwise {args.command}: error: {error}\n".replace("\n", " ").rstrip() + "\n")
        return 2
    except ImportError as error:
        sys.stderr.write(f"convwise {args.command}: error: {error} (install the extras: pip install 'convwise[all]')\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `convwise predict w.npz | head -1`: the reader left, stop quietly
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
