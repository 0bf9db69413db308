"""Read an ONNX ``ModelProto`` into plain Python: nodes, constants, inputs and outputs.

Everything the runtime and the summary need is decoded once here, so that no other
module touches protobuf objects: attributes become Python values (ints, floats,
strings, lists, NumPy arrays for tensors), initializers become NumPy arrays, and the
nodes are checked to be in topological order (as the ONNX standard requires).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Node", "Graph", "read_graph"]


@dataclass(frozen=True)
class Node:
    """One ONNX node: ``op`` (op_type), ``name`` (made unique), input and output names, attributes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict = field(default_factory=dict, hash=False, compare=False)
    domain: str = ""

    def attr(self, key: str, default=None):
        """The attribute ``key`` (decoded), or ``default`` when the node does not set it."""
        return self.attrs.get(key, default)

    @property
    def where(self) -> str:
        """``'Conv node "/layer1/conv/Conv"'``: how error messages name the node."""
        return f'{self.op} node "{self.name}"'


@dataclass
class Graph:
    """A decoded ONNX graph (main graph only; subgraphs are refused by the op check)."""

    nodes: list[Node]
    constants: dict[str, np.ndarray]     # initializers (and nothing else)
    inputs: list[tuple[str, tuple]]      # (name, shape with None for unknown dims), initializers excluded
    outputs: list[str]
    opset: int
    name: str = "model"
    elem_types: dict[str, int] = field(default_factory=dict)


def _attribute(proto):
    from onnx import helper, numpy_helper

    value = helper.get_attribute_value(proto)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    if hasattr(value, "dims") and hasattr(value, "data_type"):  # TensorProto
        return numpy_helper.to_array(value)
    return value


def _dims(type_proto) -> tuple:
    tensor = type_proto.tensor_type
    if not tensor.HasField("shape"):
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


def load_proto(source, *, fn: str = "onnx.load"):
    """A ``ModelProto`` from a path, bytes or an already loaded ``ModelProto``."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - the extra is installed in the test environment
        raise ImportError(f"{fn}: reading ONNX files needs the 'onnx' package: pip install convwise[onnx]") from None
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray)):
        try:
            return onnx.load_from_string(bytes(source))
        except Exception as error:  # protobuf's DecodeError and friends
            raise ValueError(f"{fn}: the bytes are not an ONNX model: {error}") from None
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a file path, bytes or an onnx.ModelProto, got {type(source).__name__}")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise ValueError(f"{fn}: no such ONNX file {path!r}")
    try:
        return onnx.load(path)
    except Exception as error:
        raise ValueError(f"{fn}: {path} is not an ONNX model: {error}") from None


def read_graph(proto, *, fn: str = "onnx.load") -> Graph:
    """Decode ``proto`` (a ``ModelProto``); raise ValueError for graphs convwise cannot read."""
    from onnx import numpy_helper

    opset = None
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            opset = int(entry.version)
    if opset is None:
        raise ValueError(f"{fn}: the model imports no version of the default ONNX operator set")
    graph = proto.graph
    constants: dict[str, np.ndarray] = {}
    for tensor in graph.initializer:
        if tensor.data_location == 1:  # EXTERNAL
            raise ValueError(f"{fn}: initializer {tensor.name!r} is stored in an external file; "
                             f"load the model with onnx.load(path) first and pass the ModelProto")
        constants[tensor.name] = numpy_helper.to_array(tensor)
    if len(graph.sparse_initializer):
        raise ValueError(f"{fn}: sparse initializers are not supported")
    inputs = [(v.name, _dims(v.type)) for v in graph.input if v.name not in constants]
    elem_types = {v.name: v.type.tensor_type.elem_type for v in graph.input}
    outputs = [v.name for v in graph.output]
    nodes: list[Node] = []
    known = set(constants) | {name for name, _ in inputs} | {""}
    used_names: set[str] = set()
    for index, proto_node in enumerate(graph.node):
        name = proto_node.name or f"{proto_node.op_type}_{index}"
        while name in used_names:
            name = f"{name}_{index}"
        used_names.add(name)
        node = Node(name=name, op=proto_node.op_type, inputs=tuple(proto_node.input),
                    outputs=tuple(proto_node.output),
                    attrs={a.name: _attribute(a) for a in proto_node.attribute}, domain=proto_node.domain)
        for value in node.inputs:
            if value not in known:
                raise ValueError(f"{fn}: {node.where} reads {value!r}, which no earlier node produces "
                                 f"(the graph is not in topological order or is incomplete)")
        known.update(node.outputs)
        nodes.append(node)
    for value in outputs:
        if value not in known:
            raise ValueError(f"{fn}: graph output {value!r} is produced by no node")
    return Graph(nodes=nodes, constants=constants, inputs=inputs, outputs=outputs, opset=opset,
                 name=graph.name or "model", elem_types=elem_types)
