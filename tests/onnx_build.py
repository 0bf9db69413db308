"""Build one-node ONNX models with onnx.helper and run them in ONNX Runtime (the oracle)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def one_node(op: str, x_shape, attrs=None, *, weights=(), opset: int = 17, extra_inputs=(), outputs=1,
             dtype=np.float32) -> onnx.ModelProto:
    """A graph ``y = op(x, *weights)``; ``weights`` are arrays stored as initializers.

    An entry of ``weights`` that is ``None`` is an omitted optional input ('').
    """
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    names, inits = ["x"], []
    for index, value in enumerate(weights):
        if value is None:
            names.append("")
            continue
        name = f"w{index}"
        names.append(name)
        inits.append(numpy_helper.from_array(np.asarray(value), name))
    outs = [f"y{i}" for i in range(outputs)]
    node = helper.make_node(op, names, outs, **(attrs or {}))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", elem, list(x_shape))],
                              [helper.make_tensor_value_info(o, elem, None) for o in outs], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    return model


def ort_run(model: onnx.ModelProto, *arrays):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    result = session.run(None, dict(zip(names, arrays)))
    return result[0] if len(result) == 1 else result
