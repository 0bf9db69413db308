"""What the network view shows: model summaries, receptive fields, feature maps. A thin adapter.

Per-layer shapes, parameters, MACs and receptive fields come from
:func:`convwise.summary.summary` (which asks :mod:`convwise.arithmetic`); feature maps
and predictions from running a trained :mod:`convwise.train` model layer by layer on
the engine. Models are the built-in ones (:mod:`convwise.models` plus the first network
of the seed examples), files given to ``convwise serve --model`` (``.json`` layer lists,
``.npz`` weights written by ``convwise train``, ``.onnx`` graphs summarised per node by
:func:`convwise.onnx.summary`) and layer lists posted by the page.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from .. import arithmetic
from .. import summary as _summary
from ..models import MODELS

__all__ = ["SEED_MODEL", "Registry", "field_window", "NETWORK_LIMITS"]

#: the first network of the seed examples: 1x28x28 -> Conv2d(1, 5, 5) -> MaxPool2d(2)
SEED_MODEL = [{"type": "conv2d", "out_channels": 5, "kernel_size": 5}, {"type": "max_pool2d", "kernel_size": 2}]

#: bounds on posted models and drawn inputs
NETWORK_LIMITS = {"max_layers": 64, "max_input_elements": 3 * 512 * 512, "max_feature_channels": 64}


@dataclass
class Entry:
    """One model the page can pick."""

    name: str
    description: str
    layers: Any                      # a list of layer dicts, or a convwise.nn module
    input_shape: tuple[int, ...]
    trained: Any = None              # a convwise.nn.Sequential with weights (digits models)
    metadata: dict = field(default_factory=dict)

    def info(self) -> dict:
        return {"name": self.name, "description": self.description, "input_shape": list(self.input_shape),
                "trained": self.trained is not None,
                "test_accuracy": self.metadata.get("test_accuracy")}


class Registry:
    """The models served: built-ins first, then the files given on the command line."""

    def __init__(self, paths=()):
        self.entries: dict[str, Entry] = {
            "seed": Entry("seed", "1x28x28 -> Conv2d(1, 5, 5) -> MaxPool2d(2), the first example network",
                          SEED_MODEL, (1, 28, 28)),
        }
        for name, model in MODELS.items():
            self.entries[name] = Entry(name, model.description, list(model.layers), model.input_shape)
        for path in paths:
            self.add_file(path)

    def add_file(self, path) -> Entry:
        """Add a ``.json`` layer list or a ``.npz`` trained model; ValueError when unreadable."""
        path = os.fspath(path)
        name = os.path.basename(path)
        if path.endswith(".npz"):
            from ..train import load

            model, metadata = load(path)
            shape = (1, 8, 8) if metadata.get("dataset") == "digits" else tuple(metadata.get("input_shape", ()))
            if not shape:
                raise ValueError(f"serve: {path}: the weights file does not say its input shape")
            entry = Entry(name, f"trained {metadata.get('architecture', 'model')} from {name}", model, shape,
                          trained=model, metadata=metadata)
        elif path.endswith(".json"):
            layers, shape, _ = _summary.load_model(path)
            if shape is None:
                raise ValueError(f"serve: {path}: a JSON model needs its input shape: "
                                 f"{{\"input_shape\": [1, 28, 28], \"layers\": [...]}}")
            entry = Entry(name, f"layers from {name}", layers, tuple(shape))
            _summary.summary(entry.layers, entry.input_shape)  # refuse a broken file now, not on every request
        elif path.endswith(".onnx"):
            from ..onnx import load as load_onnx

            graph = load_onnx(path, fn="serve")
            declared = graph.input_shapes[0] if len(graph.input_shapes) == 1 else ()
            if len(declared) < 3 or any(not isinstance(d, int) or d < 1 for d in declared[1:]):
                raise ValueError(f"serve: {path}: the explorer shows ONNX graphs with one input of a fixed "
                                 f"(N, C, *spatial) shape, got {declared or graph.input_names}")
            entry = Entry(name, f"ONNX graph from {name}", graph, tuple(declared[1:]), metadata={"onnx": True})
            describe_entry(entry, entry.input_shape)  # refuse a graph the summary cannot walk now
        else:
            raise ValueError(f"serve: --model must be a .json layer list or a .npz from convwise train (or an "
                             f".onnx graph), got {path!r}")
        self.entries[name] = entry
        return entry

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            raise ValueError(f"network: unknown model={name!r}; served models are {', '.join(self.entries)}")
        return self.entries[name]


def _check_posted(layers, input_shape) -> None:
    if len(layers) > NETWORK_LIMITS["max_layers"]:
        raise ValueError(f"network: {len(layers)} layers, over the limit of {NETWORK_LIMITS['max_layers']}")
    if input_shape is not None and math.prod(input_shape) > NETWORK_LIMITS["max_input_elements"]:
        raise ValueError(f"network: input_shape={list(input_shape)} has over "
                         f"{NETWORK_LIMITS['max_input_elements']:,} elements, the explorer's limit")


def describe(registry: Registry, name: str | None, layers, input_shape) -> dict:
    """Summary of a served model (by ``name``) or of posted ``layers`` (with ``input_shape``)."""
    if name is not None:
        entry = registry.get(name)
        model, shape = entry.layers, tuple(input_shape) if input_shape else entry.input_shape
        info = entry.info()
    else:
        if layers is None:
            raise ValueError("network: give model (a served model's name) or layers (a list of layer dicts)")
        if not input_shape:
            raise ValueError("network: input_shape is required with posted layers, e.g. [1, 28, 28]")
        model, shape = layers, tuple(input_shape)
        info = {"name": "posted", "description": "posted layers", "input_shape": list(shape), "trained": False}
    _check_posted(model if isinstance(model, list) else [], shape)
    if name is not None and entry.metadata.get("onnx"):
        result = describe_entry(entry, shape)
    else:
        result = _summary.summary(model, shape).to_dict()
    result["model"] = info
    return result


def describe_entry(entry: Entry, shape) -> dict:
    """An ONNX entry's per-node summary, shaped like a layer summary: shapes without the batch axis."""
    from ..onnx import summary as onnx_summary

    result = onnx_summary(entry.layers, (1, *shape), fn="network").to_dict()
    result["input_shape"] = result["input_shape"][1:]
    for row in result["layers"]:
        row["output_shape"] = row["output_shape"][1:]
    result["onnx"] = True
    return result


def field_window(summary: dict, layer: int, unit) -> dict:
    """The input window that one unit of ``layer`` sees (per dimension ``[first, last]``, and clipped).

    From the layer's receptive field in the summary, by :func:`convwise.arithmetic.receptive_window`.
    """
    rows = summary["layers"]
    if not isinstance(layer, int) or not 0 <= layer < len(rows):
        raise ValueError(f"network: layer={layer!r} must be in 0..{len(rows) - 1}")
    row = rows[layer]
    if row["rf_size"] is None:
        raise ValueError(f"network: layer={layer} ({row['name']}) has no receptive field on the input "
                         f"(after a flatten, a transposed convolution or a non-uniform adaptive pooling)")
    spatial = row["output_shape"][1:]
    if len(unit) != len(spatial) or not all(isinstance(u, int) and 0 <= u < n for u, n in zip(unit, spatial)):
        raise ValueError(f"network: unit={list(unit)} must index the layer's spatial output "
                         f"{'x'.join(map(str, spatial))}")
    if summary.get("onnx"):  # a graph's field is the bounding box over its branches: unit j reads j*jump + lo..hi
        window = tuple((u * j + lo, u * j + hi) for u, j, lo, hi in zip(unit, row["rf_jump"], row["rf_lo"],
                                                                         row["rf_hi"]))
    else:
        field = arithmetic.ReceptiveField(tuple(row["rf_size"]), tuple(row["rf_jump"]), tuple(row["rf_start"]))
        window = arithmetic.receptive_window(field, tuple(unit), fn="network")
    maps = {} if summary.get("onnx") else _intermediate_windows(rows, layer, tuple(unit))
    clipped = [[max(first, 0), min(last, n - 1)] for (first, last), n in zip(window, summary["input_shape"][1:])]
    return {"layer": layer, "unit": list(unit), "window": [list(w) for w in window], "clipped": clipped,
            "size": row["rf_size"], "maps": maps}


def _intermediate_windows(rows: list[dict], layer: int, unit: tuple[int, ...]) -> dict:
    """``{index: [[first, last], ...]}``: the unit's window on the output of every earlier layer, clipped."""
    result = {}
    chain: list[dict] = []
    for index in range(layer, -1, -1):
        if index < layer and rows[index]["rf_size"] is not None and len(rows[index]["output_shape"]) > 1:
            ndim = len(unit)
            if chain:
                field = arithmetic.receptive_field(chain, ndim, fn="network")[-1]
                window = arithmetic.receptive_window(field, unit, fn="network")
            else:
                window = tuple((u, u) for u in unit)
            spatial = rows[index]["output_shape"][1:]
            result[index] = [[max(a, 0), min(b, n - 1)] for (a, b), n in zip(window, spatial)]
        row = rows[index]
        if row["kernel_size"] is not None:  # this layer's window joins the chain (innermost first)
            chain.insert(0, {"kernel_size": row["kernel_size"], "stride": row["stride"],
                             "padding": row["padding"] or 0, "dilation": row["dilation"] or 1})
    return result


def forward(entry: Entry, image) -> dict:
    """Run a trained model layer by layer: every layer's output and the class probabilities."""
    import numpy as np

    if entry.trained is None:
        raise ValueError(f"network: model={entry.name!r} has no trained weights; pick a .npz from convwise train")
    x = np.asarray(image, dtype=np.float64)
    if x.shape != entry.input_shape[1:] and x.shape != entry.input_shape:
        raise ValueError(f"network: image must be {'x'.join(map(str, entry.input_shape[1:]))} pixels, "
                         f"got shape {list(x.shape)}")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError("network: image pixels must be finite numbers in [0, 1]")
    x = x.reshape((1, *entry.input_shape)).astype(np.float32)  # pixels in [0, 1], as convwise train feeds them
    layers = []
    for index, module in enumerate(entry.trained):
        x = module(x)
        layers.append({"index": index, "name": type(module).__name__, "shape": list(x.shape[1:]),
                       "values": np.round(x[0], 4).tolist()
                       if x.ndim == 2 or x.shape[1] <= NETWORK_LIMITS["max_feature_channels"] else None})
    logits = x[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    return {"model": entry.name, "layers": layers, "probabilities": np.round(probabilities, 5).tolist(),
            "prediction": int(np.argmax(probabilities))}
