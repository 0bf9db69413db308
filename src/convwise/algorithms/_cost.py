"""Shared pieces of the algorithms' cost models (seconds), with constants from one data file.

The constants live in ``calibration.json`` beside this module (``benchmarks/calibration.json``
links to it; ``benchmarks/calibrate.py`` checks them against measurements). Each algorithm
module models its own cost from these pieces; nothing here knows any algorithm.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

from .._config import get_config

__all__ = ["CALIBRATION", "threads", "gemm_rate", "gemm_seconds", "call_seconds", "copy_seconds", "pass_seconds",
           "few_channels_scale"]


def _load() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("calibration.json").read_text(encoding="utf-8")
    return {key: value for key, value in json.loads(text).items() if not key.startswith("_")}


#: The calibration constants (see ``calibration.json`` for units and provenance).
CALIBRATION: dict[str, Any] = _load()


def threads() -> int:
    return get_config().threads


def gemm_rate(itemsize: int) -> float:
    """Flops per second of a large GEMM with the configured threads."""
    slowdown = CALIBRATION["float64_slowdown"] if itemsize == 8 else 1.0
    return CALIBRATION["gemm_flops_per_thread"] * threads() / slowdown


def call_seconds(count: float = 1) -> float:
    """Fixed cost of ``count`` NumPy calls (ufunc or matmul dispatch)."""
    return count * CALIBRATION["call_seconds"]


def gemm_seconds(m: int, k: int, n: int, count: int, itemsize: int) -> float:
    """Time of ``count`` GEMMs ``(m x k) @ (k x n)``, with the small-matrix penalty."""
    efficiency = 1.0
    for size, half in zip((m, k, n), CALIBRATION["gemm_half"]):
        efficiency *= size / (size + half)
    if efficiency == 0.0:                 # an empty product (zero-size batch or output)
        return call_seconds(count)
    return count * (2.0 * m * k * n / (gemm_rate(itemsize) * efficiency) + CALIBRATION["call_seconds"])


def copy_seconds(nbytes: float, itemsize: int) -> float:
    """A strided gather of ``nbytes`` into a buffer (one thread)."""
    return nbytes / (CALIBRATION["copy_bytes_per_second"] * (1.0 if itemsize == 4 else 1.3))


def pass_seconds(nbytes: float, itemsize: int) -> float:
    """Element-wise passes over ``nbytes`` in cache (one thread)."""
    return nbytes / (CALIBRATION["pass_bytes_per_second"] * (1.0 if itemsize == 4 else 1.3))


def few_channels_scale(problem) -> float:
    """Measured / modelled time of GEMM-based algorithms on grouped layers with few channels
    per group (``C_in/g * C_out/g`` at most 2 or 16): their tiny products run at copy speed,
    not the penalised GEMM rate. Halved discount when strided (the strided gather dominates)."""
    if problem.groups == 1:
        return 1.0
    _, c_in, c_out, _, _ = problem.conv
    per_group = (c_in // problem.groups) * (c_out // problem.groups)
    strided = any(s > 1 for s in problem.geometry.stride)
    for limit, scale in CALIBRATION["few_channels_scale"]:
        if per_group <= limit:
            return min(1.0, 2.0 * scale) if strided else scale
    return 1.0


def is_pointwise(problem) -> bool:
    """Every kernel size is 1 (one input cell per output cell)."""
    return all(k == 1 for k in problem.geometry.kernel_size)


INF = math.inf
