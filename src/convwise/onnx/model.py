"""A loaded ONNX graph that runs on convwise: ``model(x)`` or ``model.run({name: array})``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._graph import Graph, Node, load_proto, read_graph
from .ops import OPS, supported_ops

__all__ = ["OnnxModel", "load"]


def load(path, *, fn: str = "onnx.load") -> OnnxModel:
    """Load an ONNX model for inference on NumPy arrays.

    Parameters
    ----------
    path : str, os.PathLike, bytes or onnx.ModelProto
        An ``.onnx`` file, its bytes, or a loaded ``ModelProto``.

    Returns
    -------
    OnnxModel
        Call it with the input arrays (``model(x)``) or a mapping (``model.run({"input": x})``).

    Raises
    ------
    ValueError
        For a file that is not an ONNX model, or a graph with an op (or an attribute value)
        convwise does not run: the message names the op and the node.

    Examples
    --------
    >>> import numpy as np, onnx
    >>> from onnx import helper, TensorProto
    >>> node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])
    >>> graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3, 3])],
    ...                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    >>> model = load(helper.make_model(graph))
    >>> model(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3))[0, 0].tolist()
    [[4.0, 5.0], [7.0, 8.0]]
    """
    proto = load_proto(path, fn=fn)
    graph = read_graph(proto, fn=fn)
    for node in graph.nodes:
        op = OPS.get(node.op) if node.domain in ("", "ai.onnx") else None
        if op is None:
            domain = f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else ""
            raise ValueError(f"{fn}: unsupported op {node.op}{domain} in node {node.name!r}; convwise runs "
                             f"{', '.join(supported_ops())}")
        if op.check is not None:
            op.check(node, graph.opset)
    return OnnxModel(graph, proto)


class OnnxModel:
    """An ONNX graph whose nodes run on :mod:`convwise.functional` and NumPy.

    Attributes
    ----------
    graph : the decoded graph (nodes in topological order, constants, opset)
    input_names, output_names : list of str
    input_shapes : list of tuple, the declared input shapes (``None`` for symbolic dimensions)
    """

    def __init__(self, graph: Graph, proto=None):
        self.graph = graph
        self.proto = proto
        self.input_names = [name for name, _ in graph.inputs]
        self.input_shapes = [shape for _, shape in graph.inputs]
        self.output_names = list(graph.outputs)
        last_use: dict[str, int] = {}
        for index, node in enumerate(graph.nodes):
            for value in node.inputs:
                last_use[value] = index
        self._last_use = last_use

    def __repr__(self) -> str:
        return (f"OnnxModel({self.graph.name!r}, {len(self.graph.nodes)} nodes, opset {self.graph.opset}, "
                f"inputs {self.input_names}, outputs {self.output_names})")

    def __call__(self, *arrays):
        """Run on positional input arrays; one output is returned as an array, several as a tuple."""
        if len(arrays) != len(self.input_names):
            raise ValueError(f"OnnxModel: the model takes {len(self.input_names)} input(s) "
                             f"{self.input_names}, got {len(arrays)}")
        result = self.run(dict(zip(self.input_names, arrays)))
        values = [result[name] for name in self.output_names]
        return values[0] if len(values) == 1 else tuple(values)

    def _feed(self, name: str, shape, value) -> np.ndarray:
        from onnx import helper

        try:
            dtype = helper.tensor_dtype_to_np_dtype(self.graph.elem_types.get(name, 1))
        except Exception:
            dtype = np.dtype(np.float32)
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"OnnxModel: input {name!r} must be numeric, got {array.dtype}")
        if shape and array.ndim != len(shape):
            raise ValueError(f"OnnxModel: input {name!r} must be {len(shape)}-D (declared shape "
                             f"{tuple('?' if d is None else d for d in shape)}), got shape {array.shape}")
        return np.ascontiguousarray(array, dtype=dtype)

    def run(self, feeds: dict, outputs=None) -> dict[str, np.ndarray]:
        """Run the graph on ``feeds`` (``{input name: array}``); return ``{output name: array}``.

        Inputs are converted to the dtype the graph declares (float32 for most models);
        spatial sizes other than the declared ones are allowed where the graph permits.
        ``outputs`` picks which graph outputs (or intermediate tensors) to return.
        """
        if not isinstance(feeds, dict):
            raise TypeError(f"OnnxModel.run: feeds must be a dict {{input name: array}}, got {type(feeds).__name__}")
        missing = [name for name in self.input_names if name not in feeds]
        unknown = [name for name in feeds if name not in self.input_names]
        if missing or unknown:
            raise ValueError(f"OnnxModel.run: feeds must name exactly the inputs {self.input_names}; "
                             f"missing {missing}, unknown {unknown}")
        wanted = list(self.output_names if outputs is None else outputs)
        values: dict[str, Any] = dict(self.graph.constants)
        values[""] = None
        for name, shape in self.graph.inputs:
            values[name] = self._feed(name, shape, feeds[name])
        keep = set(wanted) | set(self.graph.constants) | {""}
        produced = {v for node in self.graph.nodes for v in node.outputs} | set(values)
        absent = [name for name in wanted if name not in produced]
        if absent:
            raise ValueError(f"OnnxModel.run: no tensor named {absent}")
        for index, node in enumerate(self.graph.nodes):
            self._run_node(node, values)
            for value in node.inputs:
                if self._last_use.get(value) == index and value not in keep:
                    values.pop(value, None)
        return {name: values[name] for name in wanted}

    def _run_node(self, node: Node, values: dict) -> None:
        args = [values[name] for name in node.inputs]
        while args and args[-1] is None:
            args.pop()
        try:
            results = OPS[node.op].run(node, args, self.graph.opset)
        except (ValueError, TypeError, IndexError, ArithmeticError) as error:
            message = str(error)
            if not message.startswith(node.where):
                message = f"{node.where}: {message}"
            raise (TypeError if isinstance(error, TypeError) else ValueError)(message) from None
        for name, result in zip(node.outputs, results):
            if name:
                values[name] = result

    def summary(self, input_shape=None, *, batch: int | None = None, dtype_bytes: int = 4):
        """Per-node summary (shapes, params, MACs, receptive fields); see :func:`convwise.onnx.summary`."""
        from .summary import summary

        return summary(self, input_shape, batch=batch, dtype_bytes=dtype_bytes)

    def geometries(self, input_shape=None, *, batch: int | None = None):
        """Per windowed node, its geometry and receptive field, for tilers; see :func:`convwise.onnx.geometries`."""
        from .summary import geometries

        return geometries(self, input_shape, batch=batch)
