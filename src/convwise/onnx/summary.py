"""Per-node summary of an ONNX graph: shapes, params, MACs, groups, receptive fields, memory.

Shapes come from ONNX's own shape inference (``onnx.shape_inference``, with data
propagation for the ``Shape -> Reshape`` chains exporters emit) on the requested input
shape; window geometries from :mod:`convwise.onnx._geometry` (the same code the runtime
uses); counts from :mod:`convwise.arithmetic` (``conv_params``, ``conv_macs``,
``conv_transpose_macs``, ``receptive_field``).

**Parameters.** Every floating-point constant (initializer or ``Constant`` node) a node
reads as data is counted once, at its first reader: weights, biases, BatchNorm scale and
shift, a constant added or multiplied. BatchNorm's running mean and variance are
*buffers* (counted apart, as torch does); constants read as configuration (Clip bounds,
Pad amounts, Resize scales, Reshape shapes) are neither (nor is anything computed from them
only). So ``total_params + total_buffers`` counts every float constant that reaches a node
as data, and a torch model's
``total_params`` equals ``sum(p.numel() for p in model.parameters())``.

**MACs.** Conv: one per kernel tap per output; ConvTranspose counted on its *input* (each
input cell times every tap of its ``C_out/groups`` kernels); Gemm and MatMul ``M*K*N``;
elementwise ops count none. All for the whole batch.

**Receptive fields through branches.** For each tensor the summary keeps, per spatial
dimension, the jump ``J`` and the offsets ``lo, hi`` such that output unit ``j`` reads
input cells ``j*J + lo .. j*J + hi``. Windowed ops (Conv, pools, constant Pad) compose it;
elementwise ops keep it; Add/Sub/Mul/Div of same-sized tensors and Concat along channels
take the union of their inputs' fields (the bounding box of all paths, so a unit on a
skip connection reports the larger of its two paths). ``size = hi - lo + 1``, ``jump = J``
and ``start = (lo + hi) / 2`` (the centre of unit 0, negative inside the padding), as
:func:`convwise.arithmetic.receptive_field`. The field is undefined (``-``) after a
transposed convolution, a resize, a flatten/reshape/matmul, a broadcast of a spatially
smaller tensor, non-constant padding, or a union of paths whose jumps differ.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import arithmetic
from ..summary import SummaryTotals, plain
from ._fields import field_of, pad_field, window_field
from ._geometry import TransposeWindow, conv_window, pool_window, transpose_window
from .ops import OPS

__all__ = ["NodeSummary", "GraphSummary", "NodeGeometry", "summary", "geometries"]

_POOLS = {"MaxPool", "AveragePool", "LpPool"}
_CONFIG_INPUTS = {"ReduceMean": {1}, "ReduceMax": {1}, "ReduceSum": {1}, "Clip": {1, 2}, "Pad": {1, 2, 3},
                  "Resize": {1, 2, 3}, "Upsample": {1}, "Reshape": {1}, "Unsqueeze": {1}, "Squeeze": {1},
                  "Gather": {1}, "Dropout": {1, 2}}
_BUFFER_INPUTS = {"BatchNormalization": {3, 4}}
@dataclass(frozen=True)
class NodeSummary:
    """One node: shapes include the batch; ``rf_*`` are ``None`` where the field is undefined.

    ``rf_lo``/``rf_hi``: input cells unit 0 reads, from ``rf_lo`` to ``rf_hi`` (unit ``j``
    shifts by ``j * rf_jump``); a tiler's halo.
    """

    index: int
    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...]
    kernel_size: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple | None = None
    dilation: tuple[int, ...] | None = None
    groups: int | None = None
    params: int = 0
    buffers: int = 0
    macs: int = 0
    rf_size: tuple[int, ...] | None = None
    rf_jump: tuple[int, ...] | None = None
    rf_start: tuple[float, ...] | None = None
    rf_lo: tuple[int, ...] | None = None
    rf_hi: tuple[int, ...] | None = None
    activation_bytes: int = 0
    note: str = ""


@dataclass(frozen=True)
class NodeGeometry:
    """A windowed node's geometry for tilers (see :func:`geometries`)."""

    name: str
    op: str
    geometry: arithmetic.ConvGeometry | TransposeWindow
    rf_jump: tuple[int, ...] | None
    rf_lo: tuple[int, ...] | None
    rf_hi: tuple[int, ...] | None


@dataclass(frozen=True)
class GraphSummary(SummaryTotals):
    """The per-node rows and totals; ``str()`` is the text table, ``render("json"|"csv"|...)`` the rest."""

    input_shape: tuple[int, ...]
    layers: tuple[NodeSummary, ...]
    dtype_bytes: int = 4
    name: str = "model"
    outputs: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return self.input_shape[0]

    @property
    def total_buffers(self) -> int:
        return sum(layer.buffers for layer in self.layers)

    def to_dict(self) -> dict:
        """JSON-ready: lists instead of tuples, totals included."""
        return {"name": self.name, "input_shape": list(self.input_shape), "dtype_bytes": self.dtype_bytes,
                "layers": [{k: plain(v) for k, v in asdict(layer).items()} for layer in self.layers],
                "total_params": self.total_params, "total_buffers": self.total_buffers,
                "total_macs": self.total_macs, "total_activation_bytes": self.total_activation_bytes}

    HEADERS = ("#", "node", "op", "inputs", "output", "kernel", "stride", "pad", "dil", "groups", "params", "MACs",
               "RF", "jump", "start", "memory")

    def rows(self) -> list[list[str]]:
        return [[str(layer.index), layer.name, layer.type, ",".join(layer.inputs), _show(layer.output_shape, "x"),
                 _show(layer.kernel_size), _show(layer.stride), _show(layer.padding), _show(layer.dilation),
                 _show(layer.groups), f"{layer.params:,}", f"{layer.macs:,}",
                 _show(layer.rf_size) or "-", _show(layer.rf_jump) or "-", _show(layer.rf_start) or "-",
                 _human(layer.activation_bytes)] for layer in self.layers]

    def table(self, tablefmt: str = "simple") -> str:
        """A text table (any ``tabulate`` format) with the totals under it; ``'json'``/``'csv'`` as :meth:`render`."""
        from tabulate import tabulate

        if tablefmt in ("json", "csv"):
            return self.render(tablefmt)
        tablefmt = "simple" if tablefmt == "text" else tablefmt

        body = tabulate(self.rows(), headers=self.HEADERS, tablefmt=tablefmt, disable_numparse=True)
        return (f"{body}\ninput {_show(self.input_shape, 'x')} ({self.name})\n"
                f"total params: {self.total_params:,}" +
                (f" (+ {self.total_buffers:,} buffers)" if self.total_buffers else "") +
                f"\ntotal MACs:   {self.total_macs:,}\n"
                f"activations:  {_human(self.total_activation_bytes)} (sum of node outputs, "
                f"{self.dtype_bytes}-byte floats)")

    def to_csv(self) -> str:
        """One row per node (raw numbers, tuples joined with ``x``), totals left out."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        keys = list(NodeSummary.__dataclass_fields__)
        writer.writerow(keys)
        for layer in self.layers:
            writer.writerow([_show(getattr(layer, key), "x") if isinstance(getattr(layer, key), tuple)
                             else getattr(layer, key) for key in keys])
        return out.getvalue()

    def csv(self) -> str:
        """The same as :meth:`to_csv` (the name :class:`convwise.summary.ModelSummary` uses)."""
        return self.to_csv()

    def render(self, fmt: str = "text") -> str:
        """``'json'``, ``'csv'``, ``'text'`` (the table) or any other ``tabulate`` table format."""
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=1)
        if fmt == "csv":
            return self.to_csv()
        return self.table(fmt)

    def __str__(self) -> str:
        return self.table()


def _show(value, sep: str = ",") -> str:
    if value is None:
        return ""
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):
        if all(lo == hi for lo, hi in value):
            value = tuple(lo for lo, _ in value)
        else:
            return ",".join(f"{lo}/{hi}" for lo, hi in value)
    if isinstance(value, tuple):
        if sep == "," and value and len(set(value)) == 1:
            value = value[0]
        else:
            return sep.join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _human(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


# --------------------------------------------------------------------------- shapes


def _input_shape(model, input_shape, batch, fn: str) -> tuple[int, ...]:
    if len(model.input_names) != 1:
        raise ValueError(f"{fn}: only graphs with one input can be summarised, this one has {model.input_names}")
    declared = model.input_shapes[0]
    if batch is not None and (not arithmetic._is_int(batch) or batch < 1):
        raise ValueError(f"{fn}: batch must be a positive int, got {batch!r}")
    if input_shape is None:
        if not declared or any(d is None for d in declared[1:]):
            raise ValueError(f"{fn}: the model's input {model.input_names[0]!r} has shape "
                             f"{tuple('?' if d is None else d for d in declared)}; give input_shape, e.g. (3, 224, 224)")
        shape = ((batch or declared[0] or 1), *declared[1:])
    else:
        if not isinstance(input_shape, (tuple, list)) or not all(arithmetic._is_int(v) for v in input_shape):
            raise TypeError(f"{fn}: input_shape must be a tuple of ints, got {input_shape!r}")
        shape = tuple(int(v) for v in input_shape)
        if declared and len(shape) == len(declared) - 1:
            shape = (batch or 1, *shape)
        elif batch is not None and shape and shape[0] != batch:
            raise ValueError(f"{fn}: batch={batch} contradicts input_shape={tuple(input_shape)}")
        if declared and len(shape) != len(declared):
            raise ValueError(f"{fn}: input_shape={tuple(input_shape)} does not fit the model's "
                             f"{len(declared)}-D input {model.input_names[0]!r}")
    if any(v < 1 for v in shape):
        raise ValueError(f"{fn}: input_shape must be positive, got {shape}")
    return tuple(int(v) for v in shape)


def _infer_shapes(model, shape: tuple[int, ...], fn: str) -> dict[str, tuple[int, ...]]:
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    for value in proto.graph.input:
        if value.name == model.input_names[0]:
            value.type.tensor_type.ClearField("shape")
            for size in shape:
                value.type.tensor_type.shape.dim.add().dim_value = size
    del proto.graph.value_info[:]
    for value in proto.graph.output:
        value.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    except Exception as error:
        raise ValueError(f"{fn}: the graph does not fit input shape {shape}: {str(error).strip()}") from None
    shapes = {}
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim):
            shapes[value.name] = tuple(int(d.dim_value) for d in tensor.shape.dim)
    for name, array in model.graph.constants.items():
        shapes[name] = tuple(array.shape)
    missing = [name for node in model.graph.nodes for name in node.outputs if name and name not in shapes]
    if missing:  # ONNX's inference stops at e.g. a Resize whose scales are computed: run the graph on zeros
        values = model.run({model.input_names[0]: np.zeros(shape)}, outputs=missing)
        shapes.update({name: tuple(value.shape) for name, value in values.items()})
    return shapes


# --------------------------------------------------------------------------- the walk


def _as_model(source, fn: str):
    from .model import OnnxModel, load

    return source if isinstance(source, OnnxModel) else load(source, fn=fn)


def summary(model, input_shape=None, *, batch: int | None = None, dtype_bytes: int = 4,
            fn: str = "summary") -> GraphSummary:
    """Summarise an ONNX graph node by node (see the module docstring).

    Parameters
    ----------
    model : path, bytes, onnx.ModelProto or OnnxModel
    input_shape : tuple of ints, optional
        ``(N, C, *spatial)`` or ``(C, *spatial)``; default: the model's declared input shape.
    batch : int, optional
        The batch size when ``input_shape`` leaves it out (default 1).
    dtype_bytes : int
        Bytes per activation element for the memory column.
    """
    if not arithmetic._is_int(dtype_bytes) or dtype_bytes < 1:
        raise ValueError(f"{fn}: dtype_bytes must be a positive int, got {dtype_bytes!r}")
    onnx_model = _as_model(model, fn)
    shape = _input_shape(onnx_model, input_shape, batch, fn)
    shapes = _infer_shapes(onnx_model, shape, fn)
    graph = onnx_model.graph
    constants = dict(graph.constants)                       # base constants: initializers, Constant nodes
    origins = {name: {name} for name in constants}          # constant tensor -> the base constants it comes from
    values = dict(constants)                                # every constant tensor's value
    producer = {name: "input" for name in onnx_model.input_names}
    fields: dict[str, object] = {onnx_model.input_names[0]: tuple((1, 0, 0) for _ in shape[2:])}
    counted: set[str] = set()
    rows: list[NodeSummary] = []
    for node in graph.nodes:
        if node.op == "Constant":
            value = node.attr("value")
            if value is not None:
                constants[node.outputs[0]] = value
            origins.update({name: {name} for name in node.outputs if name})
        elif node.op == "Shape" and node.inputs[0] in shapes:  # static shapes: Shape is a constant
            start, end = node.attr("start", 0), node.attr("end")
            values[node.outputs[0]] = np.asarray(shapes[node.inputs[0]][start:end], dtype=np.int64)
            origins[node.outputs[0]] = set()
        elif node.inputs and all(name in origins for name in node.inputs if name):  # constant folding
            merged = set().union(*(origins[name] for name in node.inputs if name))
            origins.update({name: merged for name in node.outputs if name})
            outputs = OPS[node.op].run(node, [values.get(name) for name in node.inputs], graph.opset)
            values.update({name: value for name, value in zip(node.outputs, outputs) if name})
        if node.op == "Constant":
            values.update({name: constants[name] for name in node.outputs if name in constants})
        if all(name in origins for name in node.outputs if name):
            continue  # a constant computation, not a layer: its constants count where data meets them
        for name in node.outputs:
            if name and name not in shapes:
                raise ValueError(f"{fn}: cannot infer the shape of {name!r}, output of {node.where}")
        row = _row(node, shapes, constants, origins, counted, n=shape[0], fn=fn)
        if node.op == "Pad" and fields.get(node.inputs[0], "const") != "const":
            field_, note = pad_field(node, fields[node.inputs[0]], values, onnx_model)
        elif "window" in row:
            field_, note = window_field(node, fields, row)
        else:
            field_, note = field_of(node, fields, shapes, onnx_model)
        row.pop("window", None)
        for name in node.outputs:
            if name:
                fields[name] = field_
                producer[name] = node.name
        if isinstance(field_, tuple):
            row.update(rf_size=tuple(hi - lo + 1 for _, lo, hi in field_), rf_jump=tuple(j for j, _, _ in field_),
                       rf_start=tuple((lo + hi) / 2 for _, lo, hi in field_),
                       rf_lo=tuple(lo for _, lo, _ in field_), rf_hi=tuple(hi for _, _, hi in field_))
        out = shapes[node.outputs[0]]
        row.update(index=len(rows), name=node.name, type=node.op, output_shape=out,
                   inputs=tuple(producer.get(name, "const") for name in node.inputs
                                if name and name not in origins),
                   activation_bytes=sum(math.prod(shapes[o]) for o in node.outputs if o) * dtype_bytes,
                   note=row.get("note") or note)
        rows.append(NodeSummary(**row))
    return GraphSummary(input_shape=shape, layers=tuple(rows), dtype_bytes=dtype_bytes, name=graph.name,
                        outputs=tuple(onnx_model.output_names))


def _row(node, shapes, constants, origins, counted, *, n: int, fn: str) -> dict:
    """Geometry, params and MACs of one node."""
    row: dict = {}
    config = _CONFIG_INPUTS.get(node.op, set())
    buffers = _BUFFER_INPUTS.get(node.op, set())
    params = buffer_count = 0
    folding = node.op == "Constant" or (node.inputs and all(name in origins for name in node.inputs if name))
    for position, name in enumerate(node.inputs):
        if folding or position in config or name not in origins:
            continue
        for base in sorted(origins[name]):
            value = constants.get(base)
            if value is None or base in counted or value.dtype.kind != "f":
                continue
            counted.add(base)
            if position in buffers:
                buffer_count += value.size
            else:
                params += value.size
    row.update(params=params, buffers=buffer_count)
    x_shape: tuple[int, ...] = shapes.get(node.inputs[0], ()) if node.inputs else ()
    where = f"{fn}: {node.where}"
    window: arithmetic.ConvGeometry | TransposeWindow
    if node.op in ("Conv", "ConvTranspose"):
        w_shape = shapes[node.inputs[1]]
        kernel = tuple(w_shape[2:])
        groups = int(node.attr("group", 1))
        expects = w_shape[1] * groups if node.op == "Conv" else w_shape[0]
        if len(x_shape) != len(w_shape) or x_shape[1] != expects:
            raise ValueError(f"{where}: input shape {x_shape} does not fit weight {w_shape} with group={groups} "
                             f"(expects {expects} input channels)")
        if node.op == "Conv":
            window = conv_window(node, x_shape[2:], kernel)
            macs = arithmetic.conv_macs(x_shape[1], w_shape[0], kernel, window.output_size, groups, batch=n, fn=where)
            row["window"] = window
        else:
            window = transpose_window(node, x_shape[2:], kernel)
            macs = arithmetic.conv_transpose_macs(x_shape[1], w_shape[1] * groups, kernel, x_shape[2:], groups,
                                                  batch=n, fn=where)
        row.update(kernel_size=kernel, stride=window.stride, padding=window.padding, dilation=window.dilation,
                   groups=groups, macs=macs)
    elif node.op in _POOLS:
        kernel = tuple(int(k) for k in node.attr("kernel_shape"))
        window, pads = pool_window(node, x_shape[2:], kernel)
        row.update(kernel_size=kernel, stride=window.stride, padding=pads, dilation=window.dilation, window=window)
    elif node.op == "Gemm":
        a, b = shapes[node.inputs[0]], shapes[node.inputs[1]]
        m, k = (a[1], a[0]) if node.attr("transA", 0) else a
        row["macs"] = m * k * (b[0] if node.attr("transB", 0) else b[1])
    elif node.op == "MatMul":
        out = shapes[node.outputs[0]]
        a = shapes[node.inputs[0]]
        row["macs"] = math.prod(out) * a[-1]
    return row


def geometries(model, input_shape=None, *, batch: int | None = None) -> list[NodeGeometry]:
    """Each Conv, ConvTranspose and pooling node's geometry and receptive field, in graph order.

    ``geometry`` is a :class:`convwise.arithmetic.ConvGeometry` (Conv; pools, whose
    ``padding`` includes any ``ceil_mode`` overhang) or a :class:`TransposeWindow`;
    ``rf_jump``/``rf_lo``/``rf_hi`` locate the input cells each output unit of the node
    reads (``j * rf_jump + rf_lo .. j * rf_jump + rf_hi``, ``None`` where undefined).
    A tiler computing output rows ``a..b`` of the last node needs input rows
    ``a * jump + lo .. b * jump + hi``.
    """
    onnx_model = _as_model(model, "geometries")
    result = summary(onnx_model, input_shape, batch=batch, fn="geometries")
    shape = result.input_shape
    shapes = _infer_shapes(onnx_model, shape, "geometries")
    rows = {row.name: row for row in result.layers}
    items = []
    for node in onnx_model.graph.nodes:
        if node.op not in ("Conv", "ConvTranspose", *_POOLS) or node.name not in rows:
            continue
        row = rows[node.name]
        x_shape = shapes[node.inputs[0]]
        geometry: arithmetic.ConvGeometry | TransposeWindow
        if node.op == "Conv":
            geometry = conv_window(node, x_shape[2:], shapes[node.inputs[1]][2:])
        elif node.op == "ConvTranspose":
            geometry = transpose_window(node, x_shape[2:], shapes[node.inputs[1]][2:])
        elif node.op in _POOLS:
            geometry = pool_window(node, x_shape[2:], tuple(int(k) for k in node.attr("kernel_shape")))[0]
        items.append(NodeGeometry(node.name, node.op, geometry, row.rf_jump, row.rf_lo, row.rf_hi))
    return items


def parse_shape(text: str | None):
    """``'1,3,32,32'`` or ``'3x32x32'`` -> a tuple of ints (None stays None)."""
    if text is None:
        return None
    try:
        return tuple(int(part) for part in str(text).replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise ValueError(f"summary: --input-shape must be comma-separated ints, got {text!r}") from None


def run_cli(args) -> int:
    """``convwise summary model.onnx``: the hook :mod:`convwise.cli.summary` calls for ``.onnx`` files."""
    path = os.fspath(args.model)
    result = summary(path, parse_shape(getattr(args, "input_shape", None)), batch=getattr(args, "batch", None))
    fmt = "json" if getattr(args, "json", False) else (getattr(args, "format", None) or "text")
    print(result.render(fmt))
    return 0
