"""Receptive fields through a graph: per tensor and spatial dimension ``(jump, lo, hi)``.

Output unit ``j`` of a tensor reads input cells ``j*jump + lo .. j*jump + hi``; ``None``
marks an undefined field, ``'const'`` a tensor computed from constants only. Windows
compose the field (the step itself from :func:`convwise.arithmetic.receptive_field`),
elementwise ops keep it, and merges (Add, Concat along channels, ...) take the bounding
box of their inputs' fields. See :mod:`convwise.onnx.summary`.
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic

__all__ = ["field_of", "pad_field", "through", "union", "window_field"]

_POINTWISE = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "BatchNormalization",
              "Dropout", "Identity", "Cast", "Elu", "Selu", "Gelu", "Softplus", "Erf", "Exp", "Log", "Sqrt", "Neg",
              "Abs", "Reciprocal"}
_BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Max", "Min", "Sum", "Mean"}
_GLOBAL = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
_REDUCE = {"ReduceMean", "ReduceMax", "ReduceSum"}
_UNDEFINED_NOTES = {"ConvTranspose": "transposed", "Resize": "resized", "Upsample": "resized",
                    "Flatten": "flattened", "Reshape": "reshaped", "Gemm": "dense", "MatMul": "dense",
                    "Transpose": "transposed layout"}


def through(field_, kernel, stride, padding, dilation):
    """Compose a field with one window op (kernel, stride, (lo, hi) pairs, dilation)."""
    if field_ is None:
        return None
    ndim = len(kernel)
    step = arithmetic.receptive_field([{"kernel_size": kernel, "stride": stride, "padding": padding,
                                        "dilation": dilation}], ndim)[0]
    result = []
    for (jump, lo, hi), size, s, start in zip(field_, step.size, step.jump, step.start):
        first, last = round(start - (size - 1) / 2), round(start + (size - 1) / 2)
        result.append((jump * s, lo + first * jump, hi + last * jump))
    return tuple(result)


def union(fields):
    fields = [f for f in fields if f != "const"]
    if not fields:
        return "const"
    if any(f is None for f in fields) or len({len(f) for f in fields}) != 1:
        return None
    result = []
    for dims in zip(*fields):
        if len({jump for jump, _, _ in dims}) != 1:
            return None
        result.append((dims[0][0], min(lo for _, lo, _ in dims), max(hi for _, _, hi in dims)))
    return tuple(result)


def field_of(node, fields, shapes, model):
    """The field of the node's first output (``'const'`` when it depends on constants only), and a note."""
    ins = [fields.get(name, "const") for name in node.inputs if name]
    if all(f == "const" for f in ins):
        return "const", ""
    x = fields.get(node.inputs[0], "const")
    op = node.op
    rank = len(shapes.get(node.inputs[0], ()))
    if op in _POINTWISE:
        return x, ""
    if op in ("Softmax", "LogSoftmax"):
        axis = node.attr("axis", -1 if model.graph.opset >= 13 else 1) % max(rank, 1)
        spatial_mixed = axis >= 2 or (model.graph.opset < 13 and rank > 2)
        return (None, "softmax over space") if spatial_mixed else (x, "")
    if op in _BINARY:
        out = shapes.get(node.outputs[0])
        same = all(shapes.get(name, ())[2:] == out[2:] or fields.get(name, "const") == "const"
                   for name in node.inputs if name) if out else False
        return (union(ins), "") if same else (None, "broadcast")
    if op == "Concat":
        axis = int(node.attr("axis", 0)) % max(rank, 1)
        return (union(ins), "") if axis < 2 else (None, "concatenated along space")
    if op in _REDUCE:  # over all the spatial axes, keeping them: a global pool
        from .ops.reduce import reduced_axes

        axes = reduced_axes(node, [model.graph.constants.get(name) for name in node.inputs], model.graph.opset, rank)
        if axes != tuple(range(2, rank)) or not node.attr("keepdims", 1):
            return None, "reduced"
    if op in _GLOBAL or op in _REDUCE:
        spatial = shapes[node.inputs[0]][2:]
        return through(x, spatial, (1,) * len(spatial), ((0, 0),) * len(spatial), (1,) * len(spatial)), ""
    return None, _UNDEFINED_NOTES.get(op, "")


def pad_field(node, x, values, model):
    """The field after a Pad node (constant mode only: a shift by the low padding)."""
    if x is None:
        return None, ""
    if node.attr("mode", "constant") != "constant":
        return None, "non-constant padding"
    pads = node.attr("pads") if model.graph.opset < 11 else values.get(node.inputs[1])
    axes = values.get(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    if pads is None or axes is not None:
        return None, "padding not a constant"
    pads = [int(p) for p in np.ravel(pads)]
    rank = len(pads) // 2
    lows = pads[2:rank]
    return tuple((jump, lo - p * jump, hi - p * jump) for (jump, lo, hi), p in zip(x, lows)), ""


def window_field(node, fields, row):
    window = row["window"]
    x = fields.get(node.inputs[0])
    if x == "const" or x is None:
        return None, ""
    return through(x, window.kernel_size, window.stride, window.padding, window.dilation), ""
