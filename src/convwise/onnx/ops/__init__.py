"""The ONNX operators convwise runs, one small module per family.

Each family module exports ``OPS``: a mapping from ONNX op_type to an :class:`Op`, whose
``run(node, inputs, opset)`` takes the node's input arrays (``None`` for an omitted
optional input) and returns the list of its output arrays, and whose optional
``check(node, opset)`` refuses, at load time, attribute values the runtime does not
implement (so that an unsupported model fails before it runs, naming the node).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Op", "OPS", "supported_ops"]


@dataclass(frozen=True)
class Op:
    """How to run one ONNX op_type (see the module docstring)."""

    run: Callable
    check: Callable | None = None


def _collect() -> dict[str, Op]:
    from . import activation, arith, conv, pool, reduce, resize, tensor

    table: dict[str, Op] = {}
    for module in (activation, arith, conv, pool, reduce, resize, tensor):
        table.update(module.OPS)
    return table


OPS: dict[str, Op] = _collect()


def supported_ops() -> list[str]:
    """The op_types :func:`convwise.onnx.load` accepts, sorted."""
    return sorted(OPS)
