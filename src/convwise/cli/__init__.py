"""The ``convwise`` command: one entry point, each subcommand a thin adapter.

Subcommands are the modules of this package that define ``register(subparsers)``;
``register`` adds an argparse sub-parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit status. Modules import heavy optional libraries inside
``func`` so that ``convwise --help`` works with the core install alone.

Bad input never shows a traceback: a ``ValueError``/``TypeError``, an unreadable or
unwritable file (``OSError``, a corrupt archive), a syntax error in a model file, or an
argparse error prints one line on stderr and exits with status 2. Subcommands write their
files through :mod:`convwise._files`, so a failure leaves no partial output behind.
"""

from __future__ import annotations

import argparse
import importlib
import math
import pkgutil
import sys
import zipfile

__all__ = ["main", "build_parser", "UsageError", "positive_float"]


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


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``inf``, ``nan`` and ``0`` refused with one line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _describe(error: BaseException) -> str:
    """One line for an error caused by the user's input or files."""
    if isinstance(error, OSError) and error.filename is not None:
        reason = error.strerror or type(error).__name__
        return f"cannot use {error.filename!r}: {reason}"
    if isinstance(error, SyntaxError):
        where = f"{error.filename}, line {error.lineno}" if error.filename else f"line {error.lineno}"
        return f"syntax error in {where}: {error.msg}"
    if isinstance(error, MemoryError):
        return "out of memory (try smaller sizes, or lower convwise.set_config(memory_mib=...))"
    if isinstance(error, RecursionError):
        return "input nested too deeply"
    text = str(error) or type(error).__name__
    if isinstance(error, (zipfile.BadZipFile, EOFError, UnicodeError)):
        text = f"unreadable file ({type(error).__name__}: {text})"
    return text


#: Errors that bad input or bad files cause (others are bugs and keep their traceback).
_INPUT_ERRORS = (ValueError, TypeError, OSError, SyntaxError, EOFError, zipfile.BadZipFile, MemoryError,
                 RecursionError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `convwise predict w.npz | head -1`: the reader left, stop quietly
        sys.stderr.close()
        return 0
    except ImportError as error:
        sys.stderr.write(f"convwise {args.command}: error: {error} (install the extras: pip install 'convwise[all]')\n"
                         .replace("\n", " ").rstrip() + "\n")
        return 2
    except _INPUT_ERRORS as error:
        sys.stderr.write(" ".join(f"convwise {args.command}: error: {_describe(error)}".split()) + "\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
