"""ONNX CNN graphs on convwise: load and run them on NumPy arrays, summarise them.

>>> import convwise.onnx as cwo                     # doctest: +SKIP
>>> model = cwo.load("resnet.onnx")                 # doctest: +SKIP
>>> y = model(x)                                    # doctest: +SKIP
>>> print(cwo.summary("resnet.onnx"))               # doctest: +SKIP

Needs the ``onnx`` package (``pip install convwise[onnx]``). See ``docs/onnx.md``.
"""

from .model import OnnxModel, load
from .ops import supported_ops
from .summary import GraphSummary, NodeGeometry, NodeSummary, geometries, summary

__all__ = ["load", "OnnxModel", "supported_ops", "summary", "geometries", "GraphSummary", "NodeSummary",
           "NodeGeometry"]
