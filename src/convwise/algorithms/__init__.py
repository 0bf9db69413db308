"""Convolution algorithms: one module and one :class:`Algorithm` record each, in one registry.

Every kernel has one signature, ``kernel(x, w_or_dy, geometry, groups) -> array``:

- ``forward(x, weight, geometry, groups)``: ``x`` batched ``(N, C_in, *S)`` (unpadded),
  ``weight`` ``(C_out, C_in/groups, *K)`` of the same dtype, ``geometry`` a validated
  :class:`convwise.arithmetic.ConvGeometry`; returns ``(N, C_out, *output_size)`` (no bias);
- ``transpose(x, weight, geometry, groups)``: ``weight`` ``(C_in, C_out/groups, *K)``,
  ``geometry`` a :class:`convwise.arithmetic.TransposeGeometry` (the adjoint of forward);
- ``weight_grad(x, grad_output, geometry, groups)``: the forward problem's geometry;
  returns the weight's shape.

Kernels never re-validate: :mod:`convwise.functional` checks arguments once and describes
the call as a :class:`Problem`. Adding an algorithm is one new module that ends with
``RECORD = Algorithm(...)`` and one line in :data:`_MODULES` below; the selector
(:mod:`.select`) and the test grid (``tests/algorithms/test_algorithm_grid.py``) pick it up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from ._record import KINDS, Algorithm, Problem, make_problem

__all__ = ["Algorithm", "Problem", "make_problem", "register", "records", "available", "explain", "RECORDS",
           "FORWARD", "TRANSPOSE", "WEIGHT_GRAD"]

#: Every registered record by name.
RECORDS: dict[str, Algorithm] = {}
#: Kernels by name, per kind (derived from :data:`RECORDS`; for callers that run a named kernel).
FORWARD: dict[str, Callable] = {}
TRANSPOSE: dict[str, Callable] = {}
WEIGHT_GRAD: dict[str, Callable] = {}
_TABLES = {"forward": FORWARD, "transpose": TRANSPOSE, "weight_grad": WEIGHT_GRAD}


def register(record: Algorithm) -> Algorithm:
    """Add (or replace) an algorithm; choices cached before may change, so they are forgotten."""
    if not isinstance(record, Algorithm):
        raise TypeError(f"register: record must be an Algorithm, got {type(record).__name__}")
    RECORDS[record.name] = record
    for kind, table in _TABLES.items():
        kernel = record.kernel(kind)
        if kernel is None:
            table.pop(record.name, None)
        else:
            table[record.name] = kernel
    select = sys.modules.get(f"{__name__}.select")
    if select is not None:
        select.clear_cache()
    return record


def unregister(name: str) -> None:
    """Remove a registered algorithm (tests, experiments)."""
    RECORDS.pop(name, None)
    for table in _TABLES.values():
        table.pop(name, None)
    select = sys.modules.get(f"{__name__}.select")
    if select is not None:
        select.clear_cache()


def records(kind: str | None = None) -> list[Algorithm]:
    """Registered records (with a kernel for ``kind``, if given), sorted by name."""
    return [RECORDS[name] for name in sorted(RECORDS) if kind is None or RECORDS[name].kernel(kind) is not None]


def available(kind: str = "forward") -> list[str]:
    """Names of the algorithms with a kernel for ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"available: kind must be one of {KINDS}, got kind={kind!r}")
    return [record.name for record in records(kind)]


def explain(kind: str, x_shape, w_shape, geometry, groups: int = 1, dtype="float32") -> list[dict]:
    """Every algorithm for one problem: eligible or the reason not, predicted seconds, and which
    one ``method="auto"`` picks (see :func:`convwise.algorithms.select.explain`).

    >>> from convwise import arithmetic
    >>> rows = explain("forward", (1, 8, 16, 16), (8, 8, 3, 3), arithmetic.conv_geometry((16, 16), 3, padding=1))
    >>> sum(row["chosen"] for row in rows), sorted(rows[0])
    (1, ['algorithm', 'chosen', 'exact', 'reason', 'seconds'])
    """
    from . import select

    return select.explain(make_problem(kind, x_shape, w_shape, geometry, groups, dtype))


#: The algorithm modules, in registration order (each exports ``RECORD``).
_MODULES = ("direct", "gemm", "pointwise", "shift", "depthwise", "winograd", "fft", "atrous", "compiled")

for _name in _MODULES:
    register(importlib.import_module(f"{__name__}.{_name}").RECORD)
