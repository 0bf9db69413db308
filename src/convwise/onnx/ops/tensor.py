"""Layout and graph-plumbing ops: Concat, Flatten, Reshape, Transpose, Pad, Identity,
Dropout (inference: identity), Constant, and the small shape ops exporters emit around
``view``/``flatten``/``pad`` (Shape, Gather, Unsqueeze, Squeeze, Cast, ConstantOfShape, Slice)."""

from __future__ import annotations

import numpy as np

from .._graph import Node
from . import Op
from ._common import require_output

__all__ = ["OPS"]


def _axis(node: Node, axis: int, ndim: int, *, name: str = "axis", inclusive: bool = False) -> int:
    top = ndim + 1 if inclusive else ndim
    if not -top <= axis < top:
        raise ValueError(f"{node.where}: {name}={axis} is out of range for a {ndim}-D input")
    return axis % top if axis < 0 else axis


def _concat(node: Node, inputs, opset: int):
    parts = [v for v in inputs if v is not None]
    axis = _axis(node, int(node.attr("axis", 1 if opset < 4 else 0)), parts[0].ndim)
    shapes = {p.shape[:axis] + p.shape[axis + 1:] for p in parts}
    if len(shapes) != 1 or len({p.ndim for p in parts}) != 1:
        raise ValueError(f"{node.where}: inputs {[p.shape for p in parts]} differ outside axis {axis}")
    shape = list(parts[0].shape)
    shape[axis] = sum(p.shape[axis] for p in parts)
    require_output(node, shape, parts[0].dtype)
    return [np.concatenate(parts, axis=axis)]


def _flatten(node: Node, inputs, opset: int):
    x = inputs[0]
    axis = _axis(node, int(node.attr("axis", 1)), x.ndim, inclusive=True)
    return [x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))]


def _reshape(node: Node, inputs, opset: int):
    x = inputs[0]
    target = [int(v) for v in (node.attr("shape") if opset < 5 else inputs[1])]
    allow_zero = bool(node.attr("allowzero", 0))
    shape = [x.shape[i] if v == 0 and not allow_zero and i < x.ndim else v for i, v in enumerate(target)]
    if shape.count(-1) > 1 or any(v < -1 for v in shape):
        raise ValueError(f"{node.where}: shape {target} must hold at most one -1 and no other negative value")
    if -1 in shape:
        known = int(np.prod([v for v in shape if v != -1]))
        if known == 0 or x.size % known:
            raise ValueError(f"{node.where}: cannot reshape {x.shape} to {target}")
        shape[shape.index(-1)] = x.size // known
    if int(np.prod(shape)) != x.size:
        raise ValueError(f"{node.where}: cannot reshape {x.shape} ({x.size} elements) to {target}")
    return [x.reshape(shape)]


def _transpose(node: Node, inputs, opset: int):
    x = inputs[0]
    perm = node.attr("perm")
    perm = list(range(x.ndim))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"{node.where}: perm={perm} is not a permutation of the {x.ndim} axes")
    return [np.ascontiguousarray(np.transpose(x, perm))]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _pad(node: Node, inputs, opset: int):
    x = inputs[0]
    mode = node.attr("mode", "constant")
    if opset < 11:
        pads, value, axes = node.attr("pads"), node.attr("value", 0.0), None
    else:
        pads = inputs[1]
        value = inputs[2] if len(inputs) > 2 and inputs[2] is not None and inputs[2].size else 0
        axes = inputs[3] if len(inputs) > 3 else None
    pads = [int(p) for p in np.asarray(pads).ravel()]
    axes = list(range(x.ndim)) if axes is None else [_axis(node, int(a), x.ndim, name="axes") for a in axes]
    if len(pads) != 2 * len(axes):
        raise ValueError(f"{node.where}: pads has {len(pads)} entries, expected {2 * len(axes)} (begins, then ends)")
    width = [(0, 0)] * x.ndim
    crop = [slice(None)] * x.ndim
    for k, axis in enumerate(axes):
        lo, hi = pads[k], pads[k + len(axes)]
        if max(-lo, 0) + max(-hi, 0) > x.shape[axis]:
            raise ValueError(f"{node.where}: pads={pads} crop more than axis {axis} of shape {x.shape} holds")
        crop[axis] = slice(max(-lo, 0), x.shape[axis] - max(-hi, 0))
        width[axis] = (max(lo, 0), max(hi, 0))
    x = x[tuple(crop)]
    require_output(node, [s + lo + hi for s, (lo, hi) in zip(x.shape, width)], x.dtype)
    if mode == "constant":
        return [np.pad(x, width, mode="constant", constant_values=np.asarray(value).item())]
    if mode == "reflect" and any(max(lo, hi) >= s for s, (lo, hi) in zip(x.shape, width) if lo or hi):
        raise ValueError(f"{node.where}: reflect padding {pads} must be smaller than the padded dimension")
    if any((lo or hi) and s == 0 for s, (lo, hi) in zip(x.shape, width)):
        raise ValueError(f"{node.where}: cannot {mode}-pad an empty dimension")
    return [np.pad(x, width, mode=_PAD_MODES[mode])]  # type: ignore[call-overload]


def _check_pad(node: Node, opset: int) -> None:
    mode = node.attr("mode", "constant")
    if mode not in _PAD_MODES:
        raise ValueError(f"{node.where}: mode={mode!r} must be one of {', '.join(_PAD_MODES)}")


def _constant(node: Node, inputs, opset: int):
    for key, value in node.attrs.items():
        if key == "value":
            return [np.asarray(value)]
        if key in ("value_float", "value_int"):
            return [np.asarray(value, dtype=np.float32 if key == "value_float" else np.int64)]
        if key in ("value_floats", "value_ints"):
            return [np.asarray(value, dtype=np.float32 if key == "value_floats" else np.int64)]
    raise ValueError(f"{node.where}: needs a value, value_float(s) or value_int(s) attribute")


def _check_constant(node: Node, opset: int) -> None:
    if "sparse_value" in node.attrs or "value_string" in node.attrs or "value_strings" in node.attrs:
        raise ValueError(f"{node.where}: sparse or string constants are not supported")


def _shape(node: Node, inputs, opset: int):
    dims = inputs[0].shape
    start, end = node.attr("start", 0), node.attr("end")
    return [np.asarray(dims[start:end], dtype=np.int64)]


def _gather(node: Node, inputs, opset: int):
    data, indices = inputs[0], np.asarray(inputs[1])
    axis = _axis(node, int(node.attr("axis", 0)), data.ndim)
    size = data.shape[axis]
    if np.any((indices < -size) | (indices >= size)):
        raise ValueError(f"{node.where}: indices out of range for axis {axis} of size {size}")
    return [np.take(data, np.where(indices < 0, indices + size, indices), axis=axis)]


def _axes(node: Node, inputs, opset: int):
    if opset < 13:
        return node.attr("axes")
    return None if len(inputs) < 2 or inputs[1] is None else [int(a) for a in inputs[1]]


def _unsqueeze(node: Node, inputs, opset: int):
    x = inputs[0]
    axes = _axes(node, inputs, opset)
    if axes is None:
        raise ValueError(f"{node.where}: axes are required")
    ndim = x.ndim + len(axes)
    return [x.reshape(x.shape) if not axes else np.expand_dims(x, tuple(_axis(node, a, ndim, name="axes")
                                                                          for a in axes))]


def _squeeze(node: Node, inputs, opset: int):
    x = inputs[0]
    axes = _axes(node, inputs, opset)
    if axes is None:
        return [np.squeeze(x)]
    axes = tuple(_axis(node, a, x.ndim, name="axes") for a in axes)
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f"{node.where}: axes {list(axes)} of shape {x.shape} are not all of size 1")
    return [np.squeeze(x, axis=axes)]


def _cast(node: Node, inputs, opset: int):
    from onnx import helper

    try:
        dtype = helper.tensor_dtype_to_np_dtype(int(node.attr("to")))
    except Exception:
        raise ValueError(f"{node.where}: cannot cast to ONNX type {node.attr('to')!r}") from None
    return [np.asarray(inputs[0]).astype(dtype)]


def _constant_of_shape(node: Node, inputs, opset: int):
    shape = [int(v) for v in np.ravel(inputs[0])]
    if any(v < 0 for v in shape):
        raise ValueError(f"{node.where}: shape {shape} must be non-negative")
    value = node.attr("value")
    value = np.zeros(1, dtype=np.float32) if value is None else np.asarray(value)
    require_output(node, shape, value.dtype)
    return [np.full(shape, value.ravel()[0], dtype=value.dtype)]


def _slice(node: Node, inputs, opset: int):
    x = inputs[0]
    if opset < 10:
        starts, ends, axes, steps = node.attr("starts"), node.attr("ends"), node.attr("axes"), None
    else:
        starts, ends = inputs[1], inputs[2]
        axes = inputs[3] if len(inputs) > 3 else None
        steps = inputs[4] if len(inputs) > 4 else None
    starts, ends = [int(v) for v in np.ravel(starts)], [int(v) for v in np.ravel(ends)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.ravel(axes)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.ravel(steps)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError(f"{node.where}: starts, ends, axes and steps must have one length")
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise ValueError(f"{node.where}: steps must be non-zero")
        index[_axis(node, axis, x.ndim, name="axes")] = slice(start, end, step)
    return [np.ascontiguousarray(x[tuple(index)])]


def _identity(node: Node, inputs, opset: int):
    return [inputs[0]]


def _dropout(node: Node, inputs, opset: int):
    x = inputs[0]
    if len(inputs) > 2 and inputs[2] is not None and bool(np.asarray(inputs[2]).item()):
        raise ValueError(f"{node.where}: training_mode=True is not supported (inference only)")
    outputs = [x]
    if len(node.outputs) > 1 and node.outputs[1]:
        outputs.append(np.ones(x.shape, dtype=bool))
    return outputs


def _check_dropout(node: Node, opset: int) -> None:
    if opset < 7 and not node.attr("is_test", 0):
        raise ValueError(f"{node.where}: is_test=0 (training) is not supported")


OPS = {
    "Concat": Op(_concat), "Flatten": Op(_flatten), "Reshape": Op(_reshape), "Transpose": Op(_transpose),
    "Pad": Op(_pad, _check_pad), "Constant": Op(_constant, _check_constant), "Identity": Op(_identity),
    "Dropout": Op(_dropout, _check_dropout), "Shape": Op(_shape), "Gather": Op(_gather),
    "Unsqueeze": Op(_unsqueeze), "Squeeze": Op(_squeeze), "Cast": Op(_cast),
    "ConstantOfShape": Op(_constant_of_shape), "Slice": Op(_slice),
}
