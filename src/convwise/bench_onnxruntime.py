"""ONNX Runtime as a benchmark peer (``convwise bench --against onnxruntime``).

Each suite layer becomes a one-node ONNX model built with ``onnx.helper`` (``Conv``,
``ConvTranspose``, ``MaxPool`` or ``AveragePool`` with the layer's attributes) and runs
in an ``InferenceSession`` on the CPU execution provider with ``threads`` intra-op
threads, one inter-op thread and sequential execution: the engine a user deploying the
model would pick. Backward layers have no ONNX Runtime counterpart (``None``).

Needs the ``bench`` extra (``pip install 'convwise[bench]'``: onnx, onnxruntime).
"""

from __future__ import annotations

import numpy as np

__all__ = ["session_callable"]


def _ints(value, n: int) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)] * n


def _node(layer: dict):
    """``(op_type, attributes, has_weight)`` of the ONNX node equivalent to a suite layer, or None."""
    op, kw = layer["op"], layer["kwargs"]
    spatial = len(layer["input"]) - 2
    padding = kw.get("padding", 0)
    if isinstance(padding, str):
        return None
    pads = _ints(padding, spatial) * 2
    if op.startswith("conv_transpose"):
        return "ConvTranspose", {"kernel_shape": list(layer["weight"][2:]), "strides": _ints(kw.get("stride", 1), spatial),
                                 "pads": pads, "dilations": _ints(kw.get("dilation", 1), spatial),
                                 "output_padding": _ints(kw.get("output_padding", 0), spatial),
                                 "group": int(kw.get("groups", 1))}, True
    if op.startswith("conv") and not op.endswith("_backward"):
        return "Conv", {"kernel_shape": list(layer["weight"][2:]), "strides": _ints(kw.get("stride", 1), spatial),
                        "pads": pads, "dilations": _ints(kw.get("dilation", 1), spatial),
                        "group": int(kw.get("groups", 1))}, True
    if op.startswith(("max_pool", "avg_pool")):
        kernel = _ints(kw["kernel_size"], spatial)
        stride = kw.get("stride")
        attributes = {"kernel_shape": kernel, "strides": kernel if stride is None else _ints(stride, spatial),
                      "pads": pads, "ceil_mode": int(bool(kw.get("ceil_mode", False)))}
        if op.startswith("max_pool"):
            attributes["dilations"] = _ints(kw.get("dilation", 1), spatial)
            return "MaxPool", attributes, False
        if kw.get("divisor_override") is not None:
            return None
        attributes["count_include_pad"] = int(bool(kw.get("count_include_pad", True)))
        return "AveragePool", attributes, False
    return None


def session_callable(layer: dict, x: np.ndarray, w: np.ndarray | None, threads: int):
    """A zero-argument callable running ``layer`` in ONNX Runtime on ``x`` (and weight ``w``).

    ``None`` where ONNX has no such node (backward layers, ``divisor_override``);
    ``ValueError`` where ONNX Runtime refuses the model.
    """
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    node = _node(layer)
    if node is None:
        return None
    op_type, attributes, has_weight = node
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
    initializers = [numpy_helper.from_array(np.ascontiguousarray(w), name="w")] if has_weight else []
    graph = helper.make_graph([helper.make_node(op_type, ["x", "w"] if has_weight else ["x"], ["y"], **attributes)],
                              "layer", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = min(model.ir_version, 9)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001  (ORT's own exception types: report, do not crash the suite)
        raise ValueError(f"onnxruntime refused the {op_type} node: {error}") from None
    feed = {"x": np.ascontiguousarray(x)}
    return lambda: session.run(None, feed)
