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

from . import arithmetic

__all__ = ["LayerSummary", "ModelSummary", "summary", "load_model", "normalise_layers"]

_TYPES = {
    "conv": "conv", "conv1d": "conv", "conv2d": "conv", "conv3d": "conv",
    "convtranspose": "conv_transpose", "convtranspose1d": "conv_transpose", "convtranspose2d": "conv_transpose",
    "deconv": "conv_transpose",
    "maxpool": "max_pool", "maxpool1d": "max_pool", "maxpool2d": "max_pool", "maxpool3d": "max_pool",
    "avgpool": "avg_pool", "avgpool1d": "avg_pool", "avgpool2d": "avg_pool", "avgpool3d": "avg_pool",
    "adaptiveavgpool": "adaptive_avg_pool", "adaptiveavgpool1d": "adaptive_avg_pool",
    "adaptiveavgpool2d": "adaptive_avg_pool", "adaptivemaxpool": "adaptive_max_pool",
    "adaptivemaxpool1d": "adaptive_max_pool", "adaptivemaxpool2d": "adaptive_max_pool",
    "linear": "linear", "dense": "linear", "fc": "linear",
    "flatten": "flatten",
    "batchnorm": "batch_norm", "batchnorm1d": "batch_norm", "batchnorm2d": "batch_norm", "batchnorm3d": "batch_norm",
    "dropout": "dropout", "dropout1d": "dropout", "dropout2d": "dropout", "dropout3d": "dropout",
}
_ACTIVATIONS = {"relu", "relu6", "tanh", "sigmoid", "gelu", "leakyrelu", "elu", "selu", "silu", "mish", "softmax",
                "logsoftmax", "hardtanh", "hardswish", "hardsigmoid", "softplus", "identity", "prelu"}
_KEYS = {
    "conv": {"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
             "padding_mode"},
    "conv_transpose": {"in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                       "dilation", "groups", "bias"},
    "max_pool": {"kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"},
    "avg_pool": {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"},
    "adaptive_avg_pool": {"output_size"},
    "adaptive_max_pool": {"output_size", "return_indices"},
    "linear": {"in_features", "out_features", "bias"},
    "flatten": {"start_dim", "end_dim"},
    "batch_norm": {"num_features", "eps", "momentum", "affine", "track_running_stats"},
    "dropout": {"p", "inplace"},
    "activation": {"inplace", "negative_slope", "dim", "alpha", "num_parameters", "approximate", "min_val",
                   "max_val", "beta", "threshold"},
}
_REQUIRED = {"conv": ("out_channels", "kernel_size"), "conv_transpose": ("out_channels", "kernel_size"),
             "max_pool": ("kernel_size",), "avg_pool": ("kernel_size",), "adaptive_avg_pool": ("output_size",),
             "adaptive_max_pool": ("output_size",), "linear": ("out_features",)}


def _kind(name: str):
    key = str(name).lower().replace("_", "").replace("-", "")
    if key in _TYPES:
        return _TYPES[key]
    if key in _ACTIVATIONS:
        return "activation"
    return None


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


@dataclass(frozen=True)
class ModelSummary:
    """The per-layer rows and totals; ``str()`` gives the table (tabulate)."""

    input_shape: tuple[int, ...]
    batch: int | None
    layers: tuple[LayerSummary, ...]
    dtype_bytes: int = 4
    name: str = "model"
    extra: dict = field(default_factory=dict)

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

    def to_dict(self) -> dict:
        """JSON-ready: lists instead of tuples, totals included."""
        def plain(value):
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            return value

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
                if all(lo == hi for lo, hi in value):
                    value = tuple(lo for lo, _ in value)
                else:
                    return ",".join(f"{lo}/{hi}" for lo, hi in value)
            if isinstance(value, tuple):
                if len(set(value)) == 1:
                    value = value[0]
                else:
                    return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
            return f"{value:g}" if isinstance(value, float) else str(value)

        def shape(value):
            return "x".join(map(str, value)) if self.batch is None else "x".join(map(str, (self.batch, *value)))

        return [[layer.index, layer.name, shape(layer.output_shape), show(layer.kernel_size), show(layer.stride),
                 show(layer.padding), show(layer.dilation), show(layer.groups), f"{layer.params:,}",
                 f"{layer.macs:,}", show(layer.rf_size) or "-", show(layer.rf_jump) or "-",
                 show(layer.rf_start) or "-", _human(layer.activation_bytes)] for layer in self.layers]

    HEADERS = ("#", "layer", "output", "kernel", "stride", "pad", "dil", "groups", "params", "MACs", "RF", "jump",
               "start", "memory")

    def table(self, tablefmt: str = "simple") -> str:
        from tabulate import tabulate

        body = tabulate(self.rows(), headers=self.HEADERS, tablefmt=tablefmt, disable_numparse=True,
                        colalign=("right", "left", "left") + ("right",) * 11)
        shape = "x".join(map(str, self.input_shape if self.batch is None else (self.batch, *self.input_shape)))
        totals = (f"input {shape} ({self.name})\n"
                  f"total params: {self.total_params:,}\n"
                  f"total MACs:   {self.total_macs:,}{_scaled(self.total_macs)}\n"
                  f"activations:  {_human(self.total_activation_bytes)} "
                  f"(sum of layer outputs, {self.dtype_bytes}-byte floats)")
        return body + "\n" + totals

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
    kind = _kind(cls)
    if kind is None:
        return None
    spec = {"type": cls}
    if kind == "activation":
        return spec
    for key in _KEYS[kind]:
        if hasattr(module, key):
            value = getattr(module, key)
            if key == "bias":
                value = value is not None and value is not False
            if key == "output_size" or key in ("kernel_size", "stride", "padding", "dilation", "output_padding"):
                value = list(value) if isinstance(value, tuple) else value
            if key in ("return_indices", "inplace", "padding_mode", "eps", "momentum", "track_running_stats"):
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


def _spatial_tuple(value, ndim, *, fn, name):
    return arithmetic.ntuple(list(value) if isinstance(value, tuple) else value, ndim, fn=fn, name=name)


def summary(model, input_shape=None, *, batch: int | None = None, dtype_bytes: int = 4) -> ModelSummary:
    """Summarise a sequential ``model`` (see the module docstring) for ``input_shape``.

    ``input_shape`` is ``(C, *spatial)`` (or ``(N, C, *spatial)``, which sets ``batch``);
    built-in models and model files may supply their own. ``batch`` multiplies MACs and
    memory and shows in the output shapes.
    """
    name = "model"
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".onnx"):
        # ONNX graphs: per-node summary (convwise.onnx)
        from .onnx import summary as onnx_summary
        return onnx_summary(model, input_shape, batch=batch, dtype_bytes=dtype_bytes)
    if isinstance(model, (str, os.PathLike)):
        model, file_shape, name = load_model(model)
        if input_shape is None:
            input_shape = file_shape
    if input_shape is None:
        raise ValueError("summary: input_shape is required, e.g. (3, 224, 224)")
    # a torch module whose forward decides the order: traced through an ONNX export (convwise.onnx)
    from .onnx.from_torch import traced_summary
    traced = traced_summary(model, input_shape, batch=batch, dtype_bytes=dtype_bytes)
    if traced is not None:
        return traced
    if not isinstance(input_shape, (tuple, list)) or not all(arithmetic._is_int(v) for v in input_shape):
        raise TypeError(f"summary: input_shape must be a tuple of ints, got {input_shape!r}")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 4:  # (N, C, H, W)
        if batch is not None and batch != shape[0]:
            raise ValueError(f"summary: batch={batch} contradicts input_shape={input_shape}")
        batch, shape = shape[0], shape[1:]
    if len(shape) < 1 or any(v < 1 for v in shape):
        raise ValueError(f"summary: input_shape must be positive (C, *spatial), got {input_shape!r}")
    if batch is not None and (not arithmetic._is_int(batch) or batch < 1):
        raise ValueError(f"summary: batch must be a positive int, got {batch!r}")
    layers = normalise_layers(model)
    n = batch or 1
    rows = []
    rf_layers: list[dict] = []
    rf_broken = False
    current = shape
    for index, (label, spec) in enumerate(layers):
        raw = spec.get("type")
        kind = _kind(raw) if raw is not None else None
        where = f"summary: layer {index} ({raw})"
        if kind is None:
            raise ValueError(f"summary: layer {index}: unknown type {raw!r}; known: conv2d, conv_transpose2d, "
                             f"max_pool2d, avg_pool2d, adaptive_avg_pool2d, linear, flatten, batch_norm2d, dropout, "
                             f"relu, tanh, ...")
        unknown = set(spec) - _KEYS[kind] - {"type", "name"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS[kind])}")
        for key in _REQUIRED.get(kind, ()):
            if spec.get(key) is None:
                raise ValueError(f"{where}: missing {key!r}")
        row = dict(index=index, name=f"{label} ({raw})" if label and label != raw else str(raw), type=kind)
        spatial = current[1:]
        ndim = len(spatial)
        rf_layer = None
        if kind in ("conv", "conv_transpose", "max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool",
                    "batch_norm") and ndim == 0:
            raise ValueError(f"{where}: needs a (C, *spatial) input, got shape {current}")
        if kind in ("conv", "conv_transpose"):
            c_in = current[0]
            declared = spec.get("in_channels")
            if declared is not None and declared != c_in:
                raise ValueError(f"{where}: in_channels={declared} but the incoming shape {current} has {c_in} channels")
            c_out, groups = spec["out_channels"], spec.get("groups", 1)
            kernel = _spatial_tuple(spec["kernel_size"], ndim, fn=where, name="kernel_size")
            stride, padding, dilation = spec.get("stride", 1), spec.get("padding", 0), spec.get("dilation", 1)
            bias = bool(spec.get("bias", True))
            arithmetic.check_channels(c_in, c_out, groups, fn=where)
            if kind == "conv":
                g = arithmetic.conv_geometry(spatial, kernel, _list(stride), _list(padding), _list(dilation), fn=where)
                macs = arithmetic.conv_macs(c_in, c_out, kernel, g.output_size, groups, batch=n, fn=where)
                rf_layer = {"kernel_size": kernel, "stride": g.stride, "padding": g.padding, "dilation": g.dilation}
            else:
                g = arithmetic.conv_transpose_geometry(spatial, kernel, _list(stride), _list(padding),
                                                       _list(spec.get("output_padding", 0)), _list(dilation), fn=where)
                macs = arithmetic.conv_transpose_macs(c_in, c_out, kernel, spatial, groups, batch=n, fn=where)
                rf_broken = True
            row.update(kernel_size=g.kernel_size, stride=g.stride, padding=g.padding, dilation=g.dilation,
                       groups=groups, params=arithmetic.conv_params(c_in, c_out, kernel, groups, bias, fn=where),
                       macs=macs)
            current = (c_out, *g.output_size)
        elif kind in ("max_pool", "avg_pool"):
            dilation = spec.get("dilation", 1) if kind == "max_pool" else 1
            g = arithmetic.pool_geometry(spatial, _list(spec["kernel_size"]), _list(spec.get("stride")),
                                         _list(spec.get("padding", 0)), _list(dilation),
                                         bool(spec.get("ceil_mode", False)), fn=where)
            row.update(kernel_size=g.kernel_size, stride=g.stride, padding=g.padding, dilation=g.dilation)
            rf_layer = {"kernel_size": g.kernel_size, "stride": g.stride, "padding": g.padding, "dilation": g.dilation}
            current = (current[0], *g.output_size)
        elif kind in ("adaptive_avg_pool", "adaptive_max_pool"):
            windows = arithmetic.adaptive_windows(spatial, _list(spec["output_size"]), fn=where)
            out = tuple(len(w) for w in windows)
            if all(i % o == 0 for i, o in zip(spatial, out)):  # uniform windows: an ordinary pooling
                kernel = tuple(i // o for i, o in zip(spatial, out))
                rf_layer = {"kernel_size": kernel, "stride": kernel, "padding": 0, "dilation": 1}
                row.update(kernel_size=kernel, stride=kernel)
            else:
                rf_broken = True
                row["note"] = "non-uniform windows"
            current = (current[0], *out)
        elif kind == "flatten":
            start = spec.get("start_dim", 1)
            end = spec.get("end_dim", -1)
            if start != 1 or end != -1:
                raise ValueError(f"{where}: only start_dim=1, end_dim=-1 is supported, got {start}, {end}")
            current = (math.prod(current),)
            rf_broken = True
        elif kind == "linear":
            out_features = spec["out_features"]
            in_features = spec.get("in_features")
            if in_features is not None and current[-1] != in_features:
                if math.prod(current) == in_features:
                    current = (in_features,)
                    row["note"] = "flattened"
                    rf_broken = True
                else:
                    raise ValueError(f"{where}: in_features={in_features} does not match the incoming shape {current}")
            in_features = current[-1]
            bias = bool(spec.get("bias", True))
            lead = math.prod(current[:-1])
            row.update(params=in_features * out_features + (out_features if bias else 0),
                       macs=n * lead * in_features * out_features)
            current = (*current[:-1], out_features)
            if len(current) > 1:
                rf_broken = True
        elif kind == "batch_norm":
            declared = spec.get("num_features")
            if declared is not None and declared != current[0]:
                raise ValueError(f"{where}: num_features={declared} but the incoming shape {current} has "
                                 f"{current[0]} channels")
            row["params"] = 2 * current[0] if spec.get("affine", True) else 0
        # activation, dropout: shape unchanged
        if rf_layer is not None and not rf_broken:
            rf_layers.append(rf_layer)
        if not rf_broken and ndim:
            if rf_layers:
                field_ = arithmetic.receptive_field(rf_layers, ndim, fn=where)[-1]
                row.update(rf_size=field_.size, rf_jump=field_.jump, rf_start=field_.start)
            else:
                row.update(rf_size=(1,) * ndim, rf_jump=(1,) * ndim, rf_start=(0.0,) * ndim)
        row["output_shape"] = current
        row["activation_bytes"] = n * math.prod(current) * dtype_bytes
        rows.append(LayerSummary(**row))
    return ModelSummary(input_shape=shape, batch=batch, layers=tuple(rows), dtype_bytes=dtype_bytes, name=name)


def _list(value):
    """JSON gives lists; arithmetic takes ints, tuples or lists alike. Keep strings and None."""
    return list(value) if isinstance(value, tuple) else value


class _CallableModule(types.ModuleType):
    """Lets ``convwise.summary(model, input_shape)`` work while ``convwise.summary`` stays this module."""

    def __call__(self, model, input_shape=None, **options) -> ModelSummary:
        return summary(model, input_shape, **options)


sys.modules[__name__].__class__ = _CallableModule
