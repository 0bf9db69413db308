"""Elementwise activations and Softmax, in the input's dtype."""

from __future__ import annotations

import numpy as np
from scipy import special

from .._graph import Node
from . import Op
from ._common import float_input

__all__ = ["OPS"]


def _unary(function):
    def run(node: Node, inputs, opset: int):
        x = float_input(node, inputs[0])
        return [np.asarray(function(node, x), dtype=x.dtype)]
    return run


def _clip(node: Node, inputs, opset: int):
    x = float_input(node, inputs[0])
    if opset < 11:
        low, high = node.attr("min"), node.attr("max")
    else:
        low = inputs[1] if len(inputs) > 1 else None
        high = inputs[2] if len(inputs) > 2 else None
    y = x
    if low is not None:
        y = np.maximum(y, x.dtype.type(np.asarray(low).item()))
    if high is not None:
        y = np.minimum(y, x.dtype.type(np.asarray(high).item()))
    return [y if y is not x else x.copy()]


def _hard_sigmoid(node: Node, x: np.ndarray, alpha: float = 0.2, beta: float = 0.5) -> np.ndarray:
    alpha = x.dtype.type(node.attr("alpha", alpha))
    beta = x.dtype.type(node.attr("beta", beta))
    return np.clip(alpha * x + beta, 0, 1)


def _hard_swish(node: Node, x: np.ndarray) -> np.ndarray:
    return x * np.clip(x / x.dtype.type(6) + x.dtype.type(0.5), 0, 1)


def _leaky_relu(node: Node, x: np.ndarray) -> np.ndarray:
    alpha = x.dtype.type(node.attr("alpha", 0.01))
    return np.where(x < 0, alpha * x, x)


def _softmax(node: Node, inputs, opset: int):
    x = float_input(node, inputs[0])
    axis = int(node.attr("axis", -1 if opset >= 13 else 1))
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{node.where}: axis={axis} is out of range for a {x.ndim}-D input")
    axis %= x.ndim
    if opset < 13:  # the input is seen as 2-D: dimensions before axis x dimensions from axis on
        flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
        return [special.softmax(flat, axis=1).astype(x.dtype, copy=False).reshape(x.shape)]
    return [special.softmax(x, axis=axis).astype(x.dtype, copy=False)]


OPS = {
    "Relu": Op(_unary(lambda node, x: np.maximum(x, 0))),
    "Sigmoid": Op(_unary(lambda node, x: special.expit(x))),
    "Tanh": Op(_unary(lambda node, x: np.tanh(x))),
    "LeakyRelu": Op(_unary(_leaky_relu)),
    "HardSigmoid": Op(_unary(_hard_sigmoid)),
    "HardSwish": Op(_unary(_hard_swish)),
    "Clip": Op(_clip),
    "Softmax": Op(_softmax),
}
