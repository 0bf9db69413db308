"""Resize and Upsample with ``mode="nearest"`` (every coordinate transformation and rounding).

Each output index ``j`` along an axis maps back to an input coordinate (ONNX's
``coordinate_transformation_mode``), which ``nearest_mode`` rounds to an input index,
clamped to the axis; the result is one gather per resized axis. Before opset 11 (and for
Upsample) the coordinate is ``j / scale``, truncated when enlarging and rounded up when
shrinking, as ONNX Runtime does.
"""

from __future__ import annotations

import math

import numpy as np

from .._graph import Node
from . import Op
from ._common import require_output

__all__ = ["OPS"]

_TRANSFORMS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
               "tf_half_pixel_for_nn")
_ROUNDING = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _source(node: Node, j: np.ndarray, size_in: int, size_out: int, scale: float, opset: int) -> np.ndarray:
    """Input coordinate of each output index ``j`` (float64)."""
    if node.op == "Upsample" or opset < 11:
        return j / scale
    mode = node.attr("coordinate_transformation_mode", "half_pixel")
    if mode == "asymmetric":
        return j / scale
    if mode == "align_corners":
        return np.zeros_like(j) if size_out == 1 else j * (size_in - 1) / (size_out - 1)
    if mode == "pytorch_half_pixel":
        return (j + 0.5) / scale - 0.5 if size_out > 1 else np.zeros_like(j)
    if mode == "tf_half_pixel_for_nn":
        return (j + 0.5) / scale
    if mode == "half_pixel_symmetric":
        adjustment = size_out / (scale * size_in)
        return size_in / 2 * (1 - adjustment) + (j + 0.5) / scale - 0.5
    return (j + 0.5) / scale - 0.5  # half_pixel


def _round(node: Node, x: np.ndarray, shrinking: bool, opset: int) -> np.ndarray:
    if node.op == "Upsample" or opset < 11:
        return np.ceil(x) if shrinking else np.trunc(x)
    mode = node.attr("nearest_mode", "round_prefer_floor")
    if mode == "floor":
        return np.floor(x)
    if mode == "ceil":
        return np.ceil(x)
    halfway = (x - np.floor(x)) == 0.5
    return np.where(halfway, np.floor(x) if mode == "round_prefer_floor" else np.ceil(x), np.round(x))


def _sizes_and_scales(node: Node, inputs, opset: int, shape: tuple[int, ...]):
    scales = sizes = None
    if node.op == "Upsample":
        scales = node.attr("scales") if opset < 9 else inputs[1]
    elif opset < 11:
        scales = inputs[1]
    else:
        scales = inputs[2] if len(inputs) > 2 else None
        sizes = inputs[3] if len(inputs) > 3 else None
    scales = None if scales is None or np.asarray(scales).size == 0 else [float(s) for s in np.ravel(scales)]
    sizes = None if sizes is None or np.asarray(sizes).size == 0 else [int(s) for s in np.ravel(sizes)]
    axes = node.attr("axes")
    axes = list(range(len(shape))) if axes is None else [int(a) % len(shape) for a in axes]
    given = sizes if sizes is not None else scales
    if given is None:
        raise ValueError(f"{node.where}: needs scales or sizes")
    if len(given) != len(axes):
        raise ValueError(f"{node.where}: {len(given)} scales/sizes for {len(axes)} axes")
    full_scales = [1.0] * len(shape)
    out = list(shape)
    for axis, value in zip(axes, given):
        if sizes is not None:
            if value < 1:
                raise ValueError(f"{node.where}: sizes must be positive, got {sizes}")
            out[axis], full_scales[axis] = value, value / shape[axis]
        else:
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{node.where}: scales must be positive, got {scales}")
            out[axis], full_scales[axis] = max(int(math.floor(shape[axis] * value)), 1), value
    return out, full_scales


def resize(node: Node, inputs, opset: int):
    x = inputs[0]
    out, scales = _sizes_and_scales(node, inputs, opset, x.shape)
    require_output(node, out, x.dtype)
    y = x
    for axis, (size_in, size_out, scale) in enumerate(zip(x.shape, out, scales)):
        if size_in == size_out and scale == 1.0:
            continue
        j = np.arange(size_out, dtype=np.float64)
        source = _round(node, _source(node, j, size_in, size_out, scale, opset), scale < 1, opset)
        index = np.clip(source, 0, size_in - 1).astype(np.int64)
        y = np.take(y, index, axis=axis)
    return [y if y is not x else x.copy()]


def _check(node: Node, opset: int) -> None:
    mode = node.attr("mode", "nearest")
    if mode != "nearest":
        raise ValueError(f"{node.where}: mode={mode!r} is not supported (only 'nearest')")
    transform = node.attr("coordinate_transformation_mode", "half_pixel")
    if node.op == "Resize" and opset >= 11 and transform not in _TRANSFORMS:
        raise ValueError(f"{node.where}: coordinate_transformation_mode={transform!r} is not supported; "
                         f"supported: {', '.join(_TRANSFORMS)}")
    rounding = node.attr("nearest_mode", "round_prefer_floor")
    if rounding not in _ROUNDING:
        raise ValueError(f"{node.where}: nearest_mode={rounding!r} must be one of {', '.join(_ROUNDING)}")
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    if policy != "stretch":
        raise ValueError(f"{node.where}: keep_aspect_ratio_policy={policy!r} is not supported (only 'stretch')")


OPS = {"Resize": Op(resize, _check), "Upsample": Op(resize, _check)}
