"""Plans: what a (transposed) convolution's forward call decided, kept for its backward.

``functional`` validates the arguments once and builds a :class:`ConvPlan` (canonical
shapes, the validated geometry, groups, the requested method and the algorithm chosen for
the forward kernel). :meth:`ConvPlan.run` runs it; :meth:`ConvPlan.backward` computes the
gradients with the backward geometries derived by :mod:`convwise.arithmetic`, without
validating or deriving anything again. The backward kernels are chosen on the first
backward call and kept in the plan; ``nn`` modules keep the plan of their last forward call.

Operand facts (:func:`convwise.algorithms._record.operand_facts`: NaN/Inf, magnitudes near
overflow) cost one pass over each operand, so they are computed only when the choice is a
fast algorithm, which may not run on such operands; the choice is then made again with them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import arithmetic
from .._config import get_config
from .._guard import require_memory
from ..algorithms import select
from ..algorithms._record import Algorithm, Problem, make_problem, operand_facts

__all__ = ["ConvPlan", "make_plan"]


def _require(fn: str, output_shape, inputs: int, itemsize: int) -> None:
    """Memory guard: the output plus the workspace (the budget, or about the operands' size when smaller)."""
    output = math.prod(output_shape) * itemsize
    workspace = min(get_config().workspace_bytes, 2 * (inputs + output))
    require_memory(fn, output + workspace, what="output and workspace")


@dataclass
class ConvPlan:
    """A validated (transposed) convolution: shapes are batched ``(N, C, *spatial)``."""

    fn: str
    transposed: bool
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    geometry: Any                    # ConvGeometry, or TransposeGeometry when ``transposed``
    groups: int
    dtype: str
    method: str
    problem: Problem
    record: Algorithm
    _backward: dict = field(default_factory=dict, repr=False)

    @property
    def output_shape(self) -> tuple[int, ...]:
        channels = self.w_shape[1] * self.groups if self.transposed else self.w_shape[0]
        return (self.x_shape[0], channels, *self.geometry.output_size)

    def matches(self, x: np.ndarray, w: np.ndarray) -> bool:
        """Whether arrays of these shapes and dtype may reuse the plan."""
        return x.shape == self.x_shape and w.shape == self.w_shape and x.dtype.name == self.dtype

    def run(self, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """The forward output for batched, validated ``x`` and ``w`` (plus ``bias`` per channel)."""
        shape = self.output_shape
        if x.shape[0] == 0:
            y = np.zeros(shape, dtype=x.dtype)
        else:
            _require(self.fn, shape, x.nbytes + w.nbytes, x.itemsize)
            y = self.record.run(self.problem.kind, np.ascontiguousarray(x), np.ascontiguousarray(w), self.geometry,
                                self.groups)
        if bias is not None:
            y += bias.reshape((-1,) + (1,) * (y.ndim - 2))
        return y

    def _choose(self, kind: str, first: np.ndarray, second: np.ndarray, geometry, w_shape) -> Algorithm:
        shape = (max(first.shape[0], 1), *first.shape[1:])
        problem = make_problem(kind, shape, w_shape, geometry, self.groups, self.dtype)
        record = self._backward.get(kind)
        if record is None:
            record = self._backward[kind] = select.resolve(self.method, problem, fn=self.fn)
        return _checked(record, problem, first, second, self.method, self.fn)

    def backward(self, dy: np.ndarray, x: np.ndarray, w: np.ndarray, needs=(True, True, True)):
        """``(grad_input, grad_weight, grad_bias)`` for batched ``dy`` of the output's shape
        (``None`` where not needed). Input gradient: the adjoint op (a transposed convolution
        for a convolution, a convolution for a transposed one); weight gradient: a
        correlation of the input with ``dy``; bias gradient: a sum."""
        dy = np.ascontiguousarray(dy)
        x = np.ascontiguousarray(x)
        w = np.ascontiguousarray(w)
        grad_input = grad_weight = grad_bias = None
        if self.transposed:
            adjoint = self.geometry.forward                         # TransposeGeometry -> the conv it transposes
            input_kind, input_geometry, weight_args = "forward", adjoint, (dy, x)
        else:
            adjoint = self.geometry
            input_kind, input_geometry = "transpose", arithmetic.input_gradient_geometry(self.geometry)
            weight_args = (x, dy)
        if needs[0]:
            if x.shape[0] == 0:
                grad_input = np.zeros_like(x)
            else:
                _require(self.fn, x.shape, dy.nbytes + w.nbytes, x.itemsize)
                record = self._choose(input_kind, dy, w, input_geometry, self.w_shape)
                grad_input = record.run(input_kind, dy, w, input_geometry, self.groups)
        if needs[1]:
            if x.shape[0] == 0:
                grad_weight = np.zeros_like(w)
            else:
                record = self._choose("weight_grad", *weight_args, adjoint, self.w_shape)
                grad_weight = record.run("weight_grad", *weight_args, adjoint, self.groups)
        if needs[2]:
            grad_bias = dy.sum(axis=(0, *range(2, dy.ndim)))
        return grad_input, grad_weight, grad_bias


def _checked(record: Algorithm, problem: Problem, first: np.ndarray, second: np.ndarray, method, fn: str):
    """``record`` if it is exact or the operands are finite and tame; else the choice for the
    operands as they are (an explicit fast method then raises, saying why). The operand facts
    cost one dot product per operand, so they are computed only when a fast record was chosen."""
    if record.exact or first.size == 0:
        return record
    n, c_in, _, taps, positions = problem.conv            # terms summed per output value:
    terms = n * positions if problem.kind == "weight_grad" else c_in // problem.groups * taps
    finite, tame = operand_facts(first, second, terms)
    if finite and tame:
        return record
    return select.resolve(method, dataclasses.replace(problem, finite=finite, tame=tame), fn=fn)


def make_plan(fn: str, transposed: bool, x: np.ndarray, w: np.ndarray, geometry, groups: int, method) -> ConvPlan:
    """Choose the forward kernel for validated batched arrays and their geometry."""
    kind = "transpose" if transposed else "forward"
    shape = (max(x.shape[0], 1), *x.shape[1:])            # an empty batch still checks the method
    problem = make_problem(kind, shape, w.shape, geometry, groups, x.dtype)
    record = _checked(select.resolve(method, problem, fn=fn), problem, x, w, method, fn)
    return ConvPlan(fn, transposed, tuple(x.shape), tuple(w.shape), geometry, groups, x.dtype.name, method, problem,
                    record)
