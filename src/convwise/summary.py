"""Per-layer summary of a sequential network: shapes, params, MACs, receptive field, memory.

``summary(model, input_shape)`` walks the layers once, asking :mod:`convwise.arithmetic`
for every output size (:func:`~convwise.arithmetic.conv_geometry`,
:func:`~convwise.arithmetic.pool_geometry`, ...), parameter count
(:func:`~convwise.arithmetic.conv_params`), multiply-accumulate count
(:func:`~convwise.arithmetic.conv_macs`) and receptive field
(:func:`~convwise.arithmetic.receptive_field`).

``model`` may be

- a built-in name (``"lenet5"``, ``"alexnet"``, ``"vgg16"``; see :mod:`convwise.models`),
- a list of layer dicts (``{"type": "conv2d", "out_channels": 64, "kernel_size": 3}``;
  ``in_channels``/``in_features`` are inferred),
- a path to a JSON file holding such a list (or ``{"input_shape": [...], "layers": [...]}``)
  or to a Python file that defines ``model`` (and optionally ``input_shape``),
- a module tree with torch's attribute names (``convwise.nn`` or ``torch.nn``):
  recognised by class name (``Conv2d``, ``MaxPool2d``, ``Linear``, ``ReLU``, ...);
  containers (``Sequential`` or anything with children) are walked in order. A
  ``Linear`` that meets a multi-dimensional input whose size matches ``in_features``
  flattens it implicitly (as ``torch.flatten`` in torchvision's ``forward``).

Memory is the size of each layer's output (float32 unless ``dtype_bytes`` says
otherwise); the receptive field is ``size``/``jump``/``start`` in input pixels and is
undefined (``-``) after a transposed convolution, a non-uniform adaptive pooling, or a
flatten.

>>> s = summary("lenet5")
>>> s.total_params, s.layers[0].output_shape, s.layers[-1].output_shape
(61706, (6, 28, 28), (10,))
"""

from __future__ import annotations

import json
import math
import os
import sys
import types
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import arithmetic
from .layer_kinds import KINDS, kind_of
from .layer_walk import window_step
from .notation import format_padding, format_shape

if TYPE_CHECKING:
    from .onnx.summary import GraphSummary

__all__ = ["LayerSummary", "ModelSummary", "SummaryTotals", "summary", "load_model", "normalise_layers"]

#: the settings of a module that a layer dict does not carry (state, not shape)
_SKIPPED = ("return_indices", "inplace", "padding_mode", "eps", "momentum", "track_running_stats")


@dataclass(frozen=True)
class LayerSummary:
    """One row of the summary; ``rf_*`` are ``None`` where the receptive field is undefined."""

    index: int
    name: str
    type: str
    output_shape: tuple[int, ...]
    kernel_size: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple | None = None
    dilation: tuple[int, ...] | None = None
    groups: int | None = None
    params: int = 0
    macs: int = 0
    rf_size: tuple[int, ...] | None = None
    rf_jump: tuple[int, ...] | None = None
    rf_start: tuple[float, ...] | None = None
    activation_bytes: int = 0
    note: str = ""


def plain(value):
    """JSON-ready: tuples (nested too) as lists."""
    return [plain(v) for v in value] if isinstance(value, tuple) else value


class SummaryTotals:
    """Totals over ``layers`` (rows with ``params``, ``macs``, ``activation_bytes``, ``output_shape``),
    shared by :class:`ModelSummary` and :class:`convwise.onnx.summary.GraphSummary`."""

    layers: tuple
    input_shape: tuple[int, ...]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_activation_bytes(self) -> int:
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].output_shape if self.layers else self.input_shape


@dataclass(frozen=True)
class ModelSummary(SummaryTotals):
    """The per-layer rows and totals; ``str()`` gives the table (tabulate)."""

    input_shape: tuple[int, ...]
    batch: int | None
    layers: tuple[LayerSummary, ...]
    dtype_bytes: int = 4
    name: str = "model"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: lists instead of tuples, totals included."""
        return {"name": self.name, "input_shape": list(self.input_shape), "batch": self.batch,
                "dtype_bytes": self.dtype_bytes,
                "layers": [{k: plain(v) for k, v in asdict(layer).items()} for layer in self.layers],
                "total_params": self.total_params, "total_macs": self.total_macs,
                "total_activation_bytes": self.total_activation_bytes}

    def rows(self) -> list[list]:
        def show(value):
            if value is None:
                return ""
            if isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):  # (lo, hi) pairs
                return format_padding(value)
            if isinstance(value, tuple):
                if len(set(value)) == 1:
                    value = value[0]
                else:
                    return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
            return f"{value:g}" if isinstance(value, float) else str(value)

        def shape(value):
            return format_shape(value if self.batch is None else (self.batch, *value))

        return [[layer.index, layer.name, shape(layer.output_shape), show(layer.kernel_size), show(layer.stride),
                 show(layer.padding), show(layer.dilation), show(layer.groups), f"{layer.params:,}",
                 f"{layer.macs:,}", show(layer.rf_size) or "-", show(layer.rf_jump) or "-",
                 show(layer.rf_start) or "-", _human(layer.activation_bytes)] for layer in self.layers]

    HEADERS = ("#", "layer", "output", "kernel", "stride", "padding", "dilation", "groups", "params", "MACs", "RF",
               "jump", "start", "memory")

    def table(self, tablefmt: str = "simple") -> str:
        from tabulate import tabulate

        body = tabulate(self.rows(), headers=self.HEADERS, tablefmt=tablefmt, disable_numparse=True,
                        colalign=("right", "left", "left") + ("right",) * 11)
        shape = format_shape(self.input_shape if self.batch is None else (self.batch, *self.input_shape))
        totals = (f"input {shape} ({self.name})\n"
                  f"total params: {self.total_params:,}\n"
                  f"total MACs:   {self.total_macs:,}{_scaled(self.total_macs)}\n"
                  f"activations:  {_human(self.total_activation_bytes)} "
                  f"(sum of layer outputs, {self.dtype_bytes}-byte floats)")
        return body + "\n" + totals

    def csv(self) -> str:
        """The rows as CSV (the table's columns; numbers without thousands separators)."""
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.HEADERS)
        for layer, row in zip(self.layers, self.rows()):
            writer.writerow(row[:8] + [layer.params, layer.macs] + row[10:13] + [layer.activation_bytes])
        return buffer.getvalue()

    def __str__(self) -> str:
        return self.table()


def _scaled(count: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"  ({count / scale:.3g} {unit})"
    return ""


def _human(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


# --------------------------------------------------------------------------- reading models


def load_model(source):
    """``(layers, input_shape or None, name)`` from a built-in name, a .json or a .py file."""
    from .models import get_model

    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"summary: model must be a name, a path, a list of layer dicts or a module, "
                        f"got {type(source).__name__}")
    path = os.fspath(source)
    if path.endswith(".json"):
        try:
            with open(path) as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise ValueError(f"summary: no such model file {path!r}") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"summary: {path} is not valid JSON: {error}") from None
        if isinstance(data, dict):
            if "layers" not in data:
                raise ValueError(f"summary: {path} must hold a list of layers or {{'input_shape': ..., 'layers': ...}}")
            return data["layers"], data.get("input_shape"), os.path.basename(path)
        return data, None, os.path.basename(path)
    if path.endswith(".py"):
        import runpy

        if not os.path.isfile(path):
            raise ValueError(f"summary: no such model file {path!r}")
        namespace = runpy.run_path(path)
        if "model" not in namespace:
            raise ValueError(f"summary: {path} must define a variable named 'model'")
        return namespace["model"], namespace.get("input_shape"), os.path.basename(path)
    builtin = get_model(path)
    return list(builtin.layers), builtin.input_shape, builtin.name


def _module_spec(module) -> dict | None:
    """A layer dict from a torch-like module (by class name and attributes), None for containers."""
    cls = type(module).__name__
    kind = kind_of(cls)
    if kind is None:
        return None
    spec: dict[str, Any] = {"type": cls}
    if kind == "activation":
        return spec
    for key in sorted(KINDS[kind].keys):
        if hasattr(module, key):
            value = getattr(module, key)
            if key == "bias":
                value = value is not None and value is not False
            if key == "output_size" or key in ("kernel_size", "stride", "padding", "dilation", "output_padding"):
                value = list(value) if isinstance(value, tuple) else value
            if key in _SKIPPED:
                continue
            spec[key] = value
    if kind == "batch_norm":
        spec["affine"] = bool(getattr(module, "affine", True))
    return spec


def _children(module):
    if hasattr(module, "named_children"):
        return list(module.named_children())
    modules = getattr(module, "_modules", None)
    if isinstance(modules, dict):
        return list(modules.items())
    try:
        return [(str(i), child) for i, child in enumerate(module)]
    except TypeError:
        return None


def normalise_layers(model, prefix: str = "") -> list[tuple[str, dict]]:
    """``(name, spec)`` pairs from a list of dicts or a module tree."""
    if isinstance(model, (list, tuple)) and all(isinstance(layer, dict) for layer in model):
        return [(str(layer.get("name", "")), dict(layer)) for layer in model]
    spec = _module_spec(model)
    if spec is not None:
        return [(prefix or type(model).__name__.lower(), spec)]
    children = _children(model)
    if children is None or (not children and not isinstance(model, (list, tuple))):
        raise ValueError(f"summary: cannot summarise a {type(model).__name__}: not a layer convwise knows "
                         f"(conv, pool, linear, activation, ...) nor a container of layers")
    result = []
    for name, child in children:
        result += normalise_layers(child, f"{prefix}.{name}" if prefix else str(name))
    return result


# --------------------------------------------------------------------------- the walk


@dataclass
class _Walk:
    """What the walk carries from layer to layer."""

    shape: tuple[int, ...]          # the incoming (C, *spatial) or (features,)
    batch: int                      # multiplies MACs and memory
    rf_layers: list = field(default_factory=list)
    rf_broken: bool = False


def _channels(walk, spec, key, where):
    declared = spec.get(key)
    if declared is not None and declared != walk.shape[0]:
        raise ValueError(f"{where}: {key}={declared} but the incoming shape {format_shape(walk.shape)} has "
                         f"{walk.shape[0]} channels")
    return walk.shape[0]


def _window(walk, spec, row, where):
    """Convolution, transposed convolution, max and average pooling: one shared step."""
    if row["type"] in ("conv", "conv_transpose"):
        _channels(walk, spec, "in_channels", where)
    step = window_step(row["type"], spec, walk.shape, batch=walk.batch, fn=where)
    g = step.geometry
    row.update(kernel_size=g.kernel_size, stride=g.stride, padding=g.padding, params=step.params, macs=step.macs,
               dilation=None if row["type"] == "avg_pool" else g.dilation,  # average pooling has no dilation
               groups=step.groups if row["type"] in ("conv", "conv_transpose") else None)
    if step.is_window_of_input:
        walk.rf_layers.append({"kernel_size": g.kernel_size, "stride": g.stride, "padding": g.padding,
                               "dilation": g.dilation})
    else:
        walk.rf_broken = True
    walk.shape = step.output_shape


def _adaptive(walk, spec, row, where):
    spatial = walk.shape[1:]
    windows = arithmetic.adaptive_windows(spatial, _list(spec["output_size"]), fn=where)
    out = tuple(len(w) for w in windows)
    if all(i % o == 0 for i, o in zip(spatial, out)):  # uniform windows: an ordinary pooling
        kernel = tuple(i // o for i, o in zip(spatial, out))
        walk.rf_layers.append({"kernel_size": kernel, "stride": kernel, "padding": 0, "dilation": 1})
        row.update(kernel_size=kernel, stride=kernel)
    else:
        walk.rf_broken = True
        row["note"] = "non-uniform windows"
    walk.shape = (walk.shape[0], *out)


def _flatten(walk, spec, row, where):
    start, end = spec.get("start_dim", 1), spec.get("end_dim", -1)
    if start != 1 or end != -1:
        raise ValueError(f"{where}: only start_dim=1, end_dim=-1 is supported, got {start}, {end}")
    walk.shape = (math.prod(walk.shape),)
    walk.rf_broken = True


def _linear(walk, spec, row, where):
    out_features, in_features = spec["out_features"], spec.get("in_features")
    if in_features is not None and walk.shape[-1] != in_features:
        if math.prod(walk.shape) != in_features:
            raise ValueError(f"{where}: in_features={in_features} does not match the incoming shape "
                             f"{format_shape(walk.shape)}")
        walk.shape = (in_features,)
        row["note"] = "flattened"
        walk.rf_broken = True
    in_features = walk.shape[-1]
    bias = bool(spec.get("bias", True))
    row.update(params=in_features * out_features + (out_features if bias else 0),
               macs=walk.batch * math.prod(walk.shape[:-1]) * in_features * out_features)
    walk.shape = (*walk.shape[:-1], out_features)
    if len(walk.shape) > 1:
        walk.rf_broken = True


def _batch_norm(walk, spec, row, where):
    channels = _channels(walk, spec, "num_features", where)
    row["params"] = 2 * channels if spec.get("affine", True) else 0


def _unchanged(walk, spec, row, where):
    """Activation, dropout: the shape passes through."""


#: how each kind of the shared table (:data:`convwise.layer_kinds.KINDS`) changes the walk
_HANDLERS = {"conv": _window, "conv_transpose": _window, "max_pool": _window, "avg_pool": _window,
             "adaptive_avg_pool": _adaptive, "adaptive_max_pool": _adaptive, "flatten": _flatten,
             "linear": _linear, "batch_norm": _batch_norm, "dropout": _unchanged, "activation": _unchanged}
assert set(_HANDLERS) == set(KINDS), "every layer kind needs a summary handler"


def _read_shape(input_shape, expected, name, batch):
    """``(shape, batch)``: ``input_shape`` as ``(C, *spatial)``, checked against the model's own shape."""
    if not isinstance(input_shape, (tuple, list)) or not all(arithmetic._is_int(v) for v in input_shape):
        raise TypeError(f"summary: input_shape must be a tuple of ints, got {input_shape!r}")
    shape = tuple(int(v) for v in input_shape)
    if any(v < 1 for v in shape) or not shape:
        raise ValueError(f"summary: input_shape must be positive (C, *spatial), got {input_shape!r}")
    if expected is not None:
        rank = len(expected)
        if len(shape) == rank + 1:
            given_batch, shape = shape[0], shape[1:]
        elif len(shape) == rank:
            given_batch = None
        else:
            dims = ",".join(("C", "L") if rank == 2 else ("C", "H", "W") if rank == 3 else ("C", "D", "H", "W"))
            raise ValueError(f"summary: {name} takes input_shape {dims} like {format_shape(expected)} "
                             f"({rank} numbers, or {rank + 1} with the batch first), got {format_shape(shape)}")
        if shape[0] != expected[0]:
            raise ValueError(f"summary: {name} takes {expected[0]} input channel{'s' if expected[0] != 1 else ''} "
                             f"(e.g. {format_shape(expected)}), got input_shape {format_shape(shape)}")
    elif len(shape) == 4:  # (N, C, H, W)
        given_batch, shape = shape[0], shape[1:]
    else:
        given_batch = None
    if given_batch is not None:
        if batch is not None and batch != given_batch:
            raise ValueError(f"summary: batch={batch} contradicts input_shape={format_shape(input_shape)}")
        batch = given_batch
    if batch is not None and (not arithmetic._is_int(batch) or batch < 1):
        raise ValueError(f"summary: batch must be a positive int, got {batch!r}")
    return shape, batch


def summary(model, input_shape=None, *, batch: int | None = None, dtype_bytes: int = 4) -> ModelSummary | GraphSummary:
    """Summarise a sequential ``model`` (see the module docstring) for ``input_shape``.

    ``input_shape`` is ``(C, *spatial)`` (or ``(N, C, *spatial)``, which sets ``batch``);
    built-in models and model files may supply their own, and then a given
    ``input_shape`` must have the same rank and channel count (a different spatial size
    is fine where the layers allow it). ``batch`` multiplies MACs and memory and shows
    in the output shapes.
    """
    name, expected = "model", None
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".onnx"):
        # ONNX graphs: per-node summary (convwise.onnx)
        from .onnx import summary as onnx_summary
        return onnx_summary(model, input_shape, batch=batch, dtype_bytes=dtype_bytes)
    if isinstance(model, (str, os.PathLike)):
        model, expected, name = load_model(model)
        expected = None if expected is None else tuple(expected)
        if input_shape is None:
            input_shape = expected
    if input_shape is None:
        raise ValueError("summary: input_shape is required, e.g. (3, 224, 224)")
    # a torch module whose forward decides the order: traced through an ONNX export (convwise.onnx)
    from .onnx.from_torch import traced_summary
    traced = traced_summary(model, input_shape, batch=batch, dtype_bytes=dtype_bytes)
    if traced is not None:
        return traced
    shape, batch = _read_shape(input_shape, expected, name, batch)
    walk = _Walk(shape, batch or 1)
    rows = []
    for index, (label, spec) in enumerate(normalise_layers(model)):
        raw = spec.get("type")
        kind = kind_of(raw)
        where = f"summary: layer {index} ({raw})"
        if kind is None:
            raise ValueError(f"summary: layer {index}: unknown type {raw!r}; known: conv2d, conv_transpose2d, "
                             f"max_pool2d, avg_pool2d, adaptive_avg_pool2d, linear, flatten, batch_norm2d, dropout, "
                             f"relu, tanh, ...")
        allowed = KINDS[kind].keys
        unknown = set(spec) - allowed - {"type", "name"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        for key in KINDS[kind].required:
            if spec.get(key) is None:
                raise ValueError(f"{where}: missing {key!r}")
        ndim = len(walk.shape) - 1
        if KINDS[kind].spatial and ndim == 0:
            raise ValueError(f"{where}: needs a (C, *spatial) input, got shape {format_shape(walk.shape)}")
        row: dict[str, Any] = dict(index=index, name=f"{label} ({raw})" if label and label != raw else str(raw), type=kind)
        _HANDLERS[kind](walk, spec, row, where)
        if not walk.rf_broken and ndim:
            if walk.rf_layers:
                field_ = arithmetic.receptive_field(walk.rf_layers, ndim, fn=where)[-1]
                row.update(rf_size=field_.size, rf_jump=field_.jump, rf_start=field_.start)
            else:
                row.update(rf_size=(1,) * ndim, rf_jump=(1,) * ndim, rf_start=(0.0,) * ndim)
        row["output_shape"] = walk.shape
        row["activation_bytes"] = walk.batch * math.prod(walk.shape) * dtype_bytes
        rows.append(LayerSummary(**row))
    return ModelSummary(input_shape=shape, batch=batch, layers=tuple(rows), dtype_bytes=dtype_bytes, name=name)


def _list(value):
    """JSON gives lists; arithmetic takes ints, tuples or lists alike. Keep strings and None."""
    return list(value) if isinstance(value, tuple) else value


class _CallableModule(types.ModuleType):
    """Lets ``convwise.summary(model, input_shape)`` work while ``convwise.summary`` stays this module."""

    def __call__(self, model, input_shape=None, **options) -> ModelSummary | GraphSummary:
        return summary(model, input_shape, **options)


sys.modules[__name__].__class__ = _CallableModule
