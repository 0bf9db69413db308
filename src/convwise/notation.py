"""One notation for shapes and padding, written and read the same way everywhere.

Every view (``convwise shape``, ``summary``, ``animate``, ``sweep``, ``predict``, the
titles of pictures) writes and reads sizes through this module, so a learner sees one
spelling:

- a **shape** or per-dimension size is its numbers joined by ``x``: ``3x32x32``
  (a single number stays a number: ``5``); on input ``3,32,32`` is read the same;
- **padding** is one int when every side of every dimension is the same (``1``),
  per-dimension ints when each dimension is symmetric (``1x2``), and ``(lo,hi)``
  pairs where a dimension is not symmetric (``(0,1)`` for every dimension, or
  ``(0,1)x2`` per dimension); ``same`` and ``valid`` are words.

JSON always carries plain lists: a shape ``[3, 32, 32]``, padding ``[[lo, hi], ...]``.

>>> format_shape((3, 32, 32)), format_padding(((1, 1), (1, 1))), format_padding(((0, 1), (0, 1)))
('3x32x32', '1', '(0,1)')
>>> parse_ints("3,32,32", fn="summary", name="--input-shape"), parse_ints("3x32x32", fn="shape", name="INPUT")
((3, 32, 32), (3, 32, 32))
>>> parse_padding("(0,1)x2", fn="animate")
((0, 1), (2, 2))
"""

from __future__ import annotations

import re

__all__ = ["format_shape", "format_sizes", "format_padding", "parse_ints", "parse_padding", "SHAPE_HELP",
           "PADDING_HELP"]

SHAPE_HELP = "numbers joined by 'x' (3x32x32) or ',' (3,32,32)"
PADDING_HELP = "an int, per-dimension ints (1x2), (lo,hi) pairs ((0,1) or (0,1)x(1,1)), 'same' or 'valid'"

_SEP = re.compile(r"\s*[x×X,]\s*")


def format_shape(shape) -> str:
    """``(3, 32, 32)`` -> ``'3x32x32'``; ``()`` -> ``'scalar'``."""
    values = tuple(shape)
    return "x".join(str(int(v)) for v in values) if values else "scalar"


def format_sizes(values) -> str:
    """Per-dimension hyperparameters: one number when all agree (``3``), else ``5x3``."""
    values = tuple(values)
    if values and len(set(values)) == 1:
        return str(values[0])
    return "x".join(str(v) for v in values)


def format_padding(padding) -> str:
    """Canonical ``((lo, hi), ...)`` padding (or an int, or per-dimension ints) as text."""
    if isinstance(padding, str):
        return padding
    if isinstance(padding, int):
        return str(padding)
    pairs = tuple((p, p) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in padding)
    if not pairs:
        return "0"
    if all(lo == hi for lo, hi in pairs):
        return format_sizes(lo for lo, _ in pairs)
    if len(set(pairs)) == 1:
        lo, hi = pairs[0]
        return f"({lo},{hi})"
    return "x".join(str(lo) if lo == hi else f"({lo},{hi})" for lo, hi in pairs)


def parse_ints(text, *, fn: str, name: str, minimum: int | None = None, negative: bool = False):
    """``'5'`` -> ``5``; ``'3x32x32'`` or ``'3,32,32'`` -> ``(3, 32, 32)``.

    ValueError naming ``fn`` and the argument otherwise; ``minimum`` bounds every number.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise TypeError(f"{fn}: {name} must be text such as 3x32x32, got {type(text).__name__}")
    raw = str(text).strip()
    parts = _SEP.split(raw) if raw else []
    pattern = r"-?\d+" if negative else r"\d+"
    if not parts or not all(re.fullmatch(pattern, part) for part in parts):
        kind = "ints" if negative else "non-negative ints"
        raise ValueError(f"{fn}: {name} must be {kind} joined by 'x' or ',' (e.g. 3, 5x3 or 3,32,32), "
                         f"got {name}={text!r}")
    numbers = tuple(int(part) for part in parts)
    if minimum is not None and any(n < minimum for n in numbers):
        raise ValueError(f"{fn}: {name} must be >= {minimum} in every dimension, got {name}={text!r}")
    return numbers[0] if len(numbers) == 1 else numbers


_PAIR = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def parse_padding(text, *, fn: str, name: str = "padding", ndim: int | None = None):
    """Read padding written as :func:`format_padding` writes it (or ``3,2`` for per-dimension ints).

    Returns ``'same'``/``'valid'``, an int, a tuple of ints, or a tuple of ``(lo, hi)``
    pairs: what :mod:`convwise.arithmetic` accepts. One ``(lo,hi)`` pair applies to each of
    ``ndim`` dimensions when ``ndim`` is given.
    """
    raw = str(text).strip()
    if raw.lower() in ("same", "valid"):
        return raw.lower()
    if "(" not in raw:
        return parse_ints(raw, fn=fn, name=name)
    pairs = []
    for part in re.split(r"\s*[x×X]\s*(?![^()]*\))", raw):
        match = _PAIR.fullmatch(part)
        if match:
            pairs.append((int(match.group(1)), int(match.group(2))))
        elif re.fullmatch(r"\d+", part):
            pairs.append((int(part), int(part)))
        else:
            raise ValueError(f"{fn}: {name} must be {PADDING_HELP}, got {name}={text!r}")
    if len(pairs) == 1 and ndim is not None:  # one (lo,hi) pair for every dimension
        pairs = pairs * ndim
    return tuple(pairs)
