"""Add, Sub, Mul, Div (NumPy broadcasting is ONNX's), Gemm, MatMul, BatchNormalization."""

from __future__ import annotations

import numpy as np

from .._graph import Node
from . import Op
from ._common import float_input, require_output

__all__ = ["OPS"]


def _binary(function):
    def run(node: Node, inputs, opset: int):
        a, b = inputs[0], inputs[1]
        if a.dtype != b.dtype:
            raise TypeError(f"{node.where}: inputs must have one dtype, got {a.dtype} and {b.dtype}")
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{node.where}: shapes {a.shape} and {b.shape} do not broadcast") from None
        require_output(node, shape, a.dtype)
        return [np.asarray(function(a, b), dtype=a.dtype)]
    return run


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):  # ONNX integer division truncates toward zero
        if np.any(b == 0):
            raise ValueError("Div: integer division by zero")
        return np.trunc(a / b).astype(a.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def _gemm(node: Node, inputs, opset: int):
    a, b = float_input(node, inputs[0], "A"), float_input(node, inputs[1], "B")
    c = inputs[2] if len(inputs) > 2 else None
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{node.where}: A and B must be 2-D, got shapes {a.shape} and {b.shape}")
    if node.attr("transA", 0):
        a = a.T
    if node.attr("transB", 0):
        b = b.T
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"{node.where}: A {a.shape} and B {b.shape} (after transA/transB) do not multiply")
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    y = a @ b
    if alpha != 1.0:
        y *= a.dtype.type(alpha)
    if c is not None and beta != 0.0:
        y += (c if beta == 1.0 else c * c.dtype.type(beta)).astype(a.dtype, copy=False)
    return [y]


def _matmul(node: Node, inputs, opset: int):
    a, b = inputs[0], inputs[1]
    try:
        return [np.matmul(a, b)]
    except ValueError:
        raise ValueError(f"{node.where}: shapes {a.shape} and {b.shape} do not multiply") from None


def _batch_norm(node: Node, inputs, opset: int):
    x = float_input(node, inputs[0])
    if x.ndim < 2:
        raise ValueError(f"{node.where}: input must be (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    scale, bias, mean, var = (np.asarray(v, dtype=x.dtype) for v in inputs[1:5])
    for name, value in zip(("scale", "B", "mean", "var"), (scale, bias, mean, var)):
        if value.shape != (c,):
            raise ValueError(f"{node.where}: {name} must have shape ({c},), got {value.shape}")
    eps = x.dtype.type(node.attr("epsilon", 1e-5))
    factor = scale / np.sqrt(var + eps)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return [(x - mean.reshape(shape)) * factor.reshape(shape) + bias.reshape(shape)]


def _check_batch_norm(node: Node, opset: int) -> None:
    if node.attr("training_mode", 0) or any(node.outputs[1:]):
        raise ValueError(f"{node.where}: training mode (batch statistics, running-stat outputs) is not "
                         f"supported; export the model in eval mode")
    if node.attr("spatial", 1) != 1:
        raise ValueError(f"{node.where}: spatial=0 (per-position statistics) is not supported")


OPS = {
    "Add": Op(_binary(np.add)),
    "Sub": Op(_binary(np.subtract)),
    "Mul": Op(_binary(np.multiply)),
    "Div": Op(_binary(_divide)),
    "Gemm": Op(_gemm),
    "MatMul": Op(_matmul),
    "BatchNormalization": Op(_batch_norm, _check_batch_norm),
}
