"""Elementwise activations and math (what exporters emit for GELU, SiLU, ...), Softmax and
LogSoftmax, in the input's dtype. Out-of-domain inputs give NaN/Inf as in ONNX Runtime."""

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
        with np.errstate(all="ignore"):
            return [np.asarray(function(node, x), dtype=x.dtype)]
    return run


_SELU = (1.67326319217681884765625, 1.05070102214813232421875)


def _elu(node: Node, x: np.ndarray) -> np.ndarray:
    alpha = x.dtype.type(node.attr("alpha", 1.0))
    return np.where(x < 0, alpha * np.expm1(x), x)


def _selu(node: Node, x: np.ndarray) -> np.ndarray:
    alpha, gamma = (x.dtype.type(node.attr(key, default)) for key, default in zip(("alpha", "gamma"), _SELU))
    return gamma * np.where(x <= 0, alpha * np.expm1(x), x)


def _gelu(node: Node, x: np.ndarray) -> np.ndarray:
    if node.attr("approximate", "none") == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
        return 0.5 * x * (1 + np.tanh(inner))
    return 0.5 * x * (1 + special.erf(x / np.sqrt(2)))


def _check_gelu(node: Node, opset: int) -> None:
    if node.attr("approximate", "none") not in ("none", "tanh"):
        raise ValueError(f"{node.where}: approximate={node.attr('approximate')!r} must be 'none' or 'tanh'")


def _prelu(node: Node, inputs, opset: int):
    x = float_input(node, inputs[0])
    slope = np.asarray(inputs[1], dtype=x.dtype)
    try:
        np.broadcast_shapes(slope.shape, x.shape)
    except ValueError:
        raise ValueError(f"{node.where}: slope {slope.shape} does not broadcast to the input {x.shape}") from None
    return [np.where(x < 0, slope * x, x).astype(x.dtype, copy=False)]


def _pow(node: Node, inputs, opset: int):
    x = float_input(node, inputs[0])
    with np.errstate(all="ignore"):
        return [np.power(x, np.asarray(inputs[1]).astype(x.dtype)).astype(x.dtype, copy=False)]


def _variadic(function):
    def run(node: Node, inputs, opset: int):
        parts = [float_input(node, v) for v in inputs if v is not None]
        try:
            np.broadcast_shapes(*(p.shape for p in parts))
        except ValueError:
            raise ValueError(f"{node.where}: shapes {[p.shape for p in parts]} do not broadcast") from None
        result = parts[0]
        for part in parts[1:]:
            result = function(result, part)
        if node.op == "Mean":
            result = result / result.dtype.type(len(parts))
        return [np.array(result, dtype=parts[0].dtype)]
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
    function = special.log_softmax if node.op == "LogSoftmax" else special.softmax
    axis = int(node.attr("axis", -1 if opset >= 13 else 1))
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{node.where}: axis={axis} is out of range for a {x.ndim}-D input")
    axis %= x.ndim
    if opset < 13:  # the input is seen as 2-D: dimensions before axis x dimensions from axis on
        flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
        return [function(flat, axis=1).astype(x.dtype, copy=False).reshape(x.shape)]
    return [function(x, axis=axis).astype(x.dtype, copy=False)]


OPS = {
    "Relu": Op(_unary(lambda node, x: np.maximum(x, 0))),
    "Sigmoid": Op(_unary(lambda node, x: special.expit(x))),
    "Tanh": Op(_unary(lambda node, x: np.tanh(x))),
    "LeakyRelu": Op(_unary(_leaky_relu)),
    "HardSigmoid": Op(_unary(_hard_sigmoid)),
    "HardSwish": Op(_unary(_hard_swish)),
    "Clip": Op(_clip),
    "Softmax": Op(_softmax),
    "LogSoftmax": Op(_softmax),
    "Elu": Op(_unary(_elu)),
    "Selu": Op(_unary(_selu)),
    "Gelu": Op(_unary(_gelu), _check_gelu),
    "Softplus": Op(_unary(lambda node, x: np.logaddexp(x.dtype.type(0), x))),
    "Erf": Op(_unary(lambda node, x: special.erf(x))),
    "Exp": Op(_unary(lambda node, x: np.exp(x))),
    "Log": Op(_unary(lambda node, x: np.log(x))),
    "Sqrt": Op(_unary(lambda node, x: np.sqrt(x))),
    "Neg": Op(_unary(lambda node, x: -x)),
    "Abs": Op(_unary(lambda node, x: np.abs(x))),
    "Reciprocal": Op(_unary(lambda node, x: 1 / x)),
    "PRelu": Op(_prelu),
    "Pow": Op(_pow),
    "Max": Op(_variadic(np.maximum)),
    "Min": Op(_variadic(np.minimum)),
    "Sum": Op(_variadic(np.add)),
    "Mean": Op(_variadic(np.add)),
}
