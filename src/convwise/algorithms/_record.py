"""The two values the engine is built on: a :class:`Problem` and an :class:`Algorithm` record.

A ``Problem`` is what ``functional`` decided about one call (kind, shapes, validated
geometry, groups, dtype, and facts about the operands' values); an ``Algorithm`` is
everything the selector may know about one algorithm: its kernels, whether it is exact,
why it cannot run a problem, and how long it would take. The selector
(:mod:`convwise.algorithms.select`) only asks records; it names no algorithm.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Problem", "Algorithm", "KINDS", "operand_facts", "make_problem"]

#: The three kinds of problem a record may have a kernel for.
KINDS = ("forward", "transpose", "weight_grad")

#: Fast (transform) algorithms are allowed while ``||x|| * ||w|| * sqrt(terms)`` stays below
#: this: it bounds every partial sum in any transform domain (Cauchy-Schwarz with unit-modulus
#: transform entries), leaving a margin of 1e8 (float32) or 1e18 (float64) to overflow for the
#: transforms' constants. Past it only exact algorithms, which overflow exactly where torch does.
TAME_LIMIT = {"float32": 1e30, "float64": 1e290}


@dataclass(frozen=True)
class Problem:
    """One convolution problem, immutable and hashable (the selector's cache key).

    ``kind``: ``"forward"`` (``x`` ``(N, C_in, *S)``, ``w`` ``(C_out, C_in/g, *K)``, a
    :class:`ConvGeometry`), ``"transpose"`` (``w`` ``(C_in, C_out/g, *K)``, a
    :class:`TransposeGeometry`) or ``"weight_grad"`` (the forward problem's shapes and
    geometry; the second operand is ``grad_output``). ``finite``: no NaN/Inf in the
    operands; ``tame``: their magnitudes are far from overflow (:data:`TAME_LIMIT`).
    Fast algorithms run only problems that are both.
    """

    kind: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    geometry: Any                   # ConvGeometry (forward, weight_grad) or TransposeGeometry (transpose)
    groups: int
    dtype: str
    finite: bool = True
    tame: bool = True

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def batch(self) -> int:
        return self.x_shape[0]

    @property
    def conv(self) -> tuple[int, int, int, int, int]:
        """``(batch, C_in, C_out, taps, output positions)`` of the equivalent forward
        convolution (a transposed one does the work of the convolution it transposes)."""
        n, c_in = self.x_shape[0], self.x_shape[1]
        taps = math.prod(self.geometry.kernel_size)
        if self.kind == "transpose":
            return n, self.w_shape[1] * self.groups, c_in, taps, math.prod(self.geometry.input_size)
        return n, c_in, self.w_shape[0], taps, math.prod(self.geometry.output_size)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the result of the kind's kernel."""
        if self.kind == "weight_grad":
            return tuple(self.w_shape)
        channels = self.w_shape[1] * self.groups if self.kind == "transpose" else self.w_shape[0]
        return (self.x_shape[0], channels, *self.geometry.output_size)


@dataclass(frozen=True)
class Algorithm:
    """One algorithm: kernels, accuracy class, eligibility and cost.

    ``exact``: only the order of float sums differs from ``direct`` (float32 bound 1e-5,
    float64 1e-12); otherwise fast (1e-4 / 1e-10), and then never run on non-finite or
    untamed operands. ``why_ineligible(problem)`` is ``None`` or the reason the algorithm
    cannot run the problem within its bound; ``cost(problem)`` its predicted seconds
    (``inf``: never chosen by prediction). Kernels take ``(x, w_or_dy, geometry, groups)``.
    """

    name: str
    exact: bool
    why_ineligible: Callable[[Problem], str | None]
    cost: Callable[[Problem], float]
    forward: Callable | None = None
    transpose: Callable | None = None
    weight_grad: Callable | None = None
    notes: str = field(default="", compare=False)

    def kernel(self, kind: str) -> Callable[..., Any] | None:
        """The kernel for ``kind`` (``None`` if the algorithm has none)."""
        return getattr(self, kind)

    def run(self, kind: str, first, second, geometry, groups: int):
        """Run the ``kind`` kernel (which must exist)."""
        kernel = self.kernel(kind)
        if kernel is None:
            raise ValueError(f"{self.name}: it has no {kind} kernel")
        return kernel(first, second, geometry, groups)


def _norm(a: np.ndarray) -> float:
    """Euclidean norm by one BLAS pass (``inf``/``nan`` when the array holds them or overflows)."""
    flat = a.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return math.sqrt(float(np.dot(flat, flat))) if flat.size else 0.0


def operand_facts(first: np.ndarray, second: np.ndarray, terms: int) -> tuple[bool, bool]:
    """``(finite, tame)`` of two operands: one dot product each (an exact ``isfinite`` pass
    only when a dot overflowed)."""
    a, b = _norm(first), _norm(second)
    if math.isnan(a) or math.isnan(b):
        return False, False
    if math.isinf(a) or math.isinf(b):
        finite = bool(np.isfinite(first).all() and np.isfinite(second).all())
        return finite, False
    limit = TAME_LIMIT.get(np.dtype(first.dtype).name, 1e30)
    return True, a * b * math.sqrt(max(terms, 1)) < limit


def make_problem(kind: str, x_shape, w_shape, geometry, groups: int, dtype, *, finite: bool = True,
                 tame: bool = True) -> Problem:
    """A :class:`Problem` from loose arguments (shapes as tuples, dtype by name)."""
    if kind not in KINDS:
        raise ValueError(f"make_problem: kind must be one of {KINDS}, got kind={kind!r}")
    name = dtype if isinstance(dtype, str) else _dtype_name(dtype)
    return Problem(kind, _ints(x_shape), _ints(w_shape), geometry, int(groups), name, finite, tame)


@functools.lru_cache(maxsize=64)
def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def _ints(shape) -> tuple[int, ...]:
    return shape if type(shape) is tuple and all(type(v) is int for v in shape) else tuple(int(v) for v in shape)
