"""Whole networks on chunked arrays: ``apply_model``, the halo compiler, memory estimates, progress.

A convwise network (an :class:`~convwise.nn.Sequential` of convolutions, pools and
pointwise layers) becomes a list of tile ops over one list of
:class:`~convwise.dask.LayerGeometry` values. The *spatial prefix* of the network (every
layer up to the first one that needs whole planes: ``Flatten``, ``Linear``, adaptive
pooling, ...) runs tile by tile with halos from the geometry list; the rest, if any, runs
on whole planes per batch chunk. Either way the stitched result equals the untiled model.

>>> import numpy as np, dask.array as da
>>> from convwise import nn
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),
...                       nn.Conv2d(4, 4, 3, padding=1, rng=1))
>>> halo(model)
Halo(receptive_field=(8, 8), alignment=(2, 2), before=(3, 3), after=(3, 3))
>>> x = np.random.default_rng(0).standard_normal((2, 1, 40, 40)).astype(np.float32)
>>> y = apply_model(model, da.from_array(x, chunks=(1, 1, 8, 8)))
>>> y.chunks[2:]
((6, 4, 4, 4, 2), (6, 4, 4, 4, 2))
>>> float(np.abs(y.compute() - model(x)).max()) < 1e-5
True
"""

from __future__ import annotations

import contextlib
import copy

import dask
import dask.array as da
import numpy as np

from .. import arithmetic, nn
from . import _halo
from ._halo import Halo, LayerGeometry
from ._onnx import is_onnx, onnx_apply, onnx_field, onnx_halo
from ._ops import AvgPoolOp, ConvOp, MaxPoolOp, PointwiseOp, TransposeOp
from ._tiling import plan_chain
from .functional import _batched, as_dask, output_chunks, run_ops

__all__ = ["POINTWISE", "apply_model", "compute", "estimate_memory", "halo", "layer_geometries"]

#: Layers without spatial coupling, by class name (activations from other modules join by name).
POINTWISE = frozenset({"ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
                       "Sigmoid", "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign",
                       "Tanhshrink", "Identity", "Dropout", "Dropout2d", "BatchNorm1d", "BatchNorm2d",
                       "BatchNorm3d"})


def _layers(model) -> list:
    if isinstance(model, nn.Sequential):
        result = []
        for child in model:
            result += _layers(child)
        return result
    return [model]


def _tuple(value, n: int, name: str, layer: str) -> tuple[int, ...]:
    return arithmetic.ntuple(value, n, fn=f"apply_model: {layer}", name=name)


def _op(module, index: int, method: str):
    """The tile op of one module, or ``None`` when the module needs whole planes."""
    kind = type(module).__name__
    where = f"layer {index} ({kind})"
    if kind in POINTWISE:
        if kind.startswith(("BatchNorm", "Dropout")) and getattr(module, "training", False):
            raise ValueError(f"apply_model: {where} is in training mode (batch statistics or random masks differ "
                             f"per tile); call model.eval() first")
        return PointwiseOp(LayerGeometry("pointwise"), module)
    spatial = getattr(module, "_spatial", 0)
    if isinstance(module, nn.conv._ConvNd):
        weight = np.ascontiguousarray(module.weight.data)
        bias = None if module.bias is None else module.bias.data
        if module._transposed:
            pairs = tuple((p, p) for p in module.padding)
            geometry = LayerGeometry("transpose", module.kernel_size, module.stride, pairs, module.dilation,
                                     module.output_padding)
            return TransposeOp(geometry, weight, bias, module.groups, method)
        pairs = arithmetic.resolve_padding(module.padding, module.kernel_size, module.stride, module.dilation,
                                           ndim=spatial, fn=f"apply_model: {where}")
        geometry = LayerGeometry("conv", module.kernel_size, module.stride, pairs, module.dilation,
                                 padding_mode=module.padding_mode)
        return ConvOp(geometry, weight, bias, module.groups, method)
    if kind.startswith(("MaxPool", "AvgPool")) and spatial:
        kernel = _tuple(module.kernel_size, spatial, "kernel_size", where)
        stride = _tuple(module.stride if module.stride is not None else module.kernel_size, spatial, "stride", where)
        pads = _tuple(module.padding, spatial, "padding", where)
        dilation = _tuple(getattr(module, "dilation", 1), spatial, "dilation", where)
        geometry = LayerGeometry("pool", kernel, stride, tuple((p, p) for p in pads), dilation,
                                 ceil_mode=module.ceil_mode)
        if kind.startswith("MaxPool"):
            if module.return_indices:
                raise ValueError(f"apply_model: {where} has return_indices=True; indices are not supported")
            return MaxPoolOp(geometry)
        return AvgPoolOp(geometry, module.count_include_pad, getattr(module, "divisor_override", None))
    return None


def _split(model, method: str = "auto") -> tuple[list, list]:
    """(tile ops of the spatial prefix, the remaining modules, run on whole planes)."""
    modules = _layers(model)
    ops: list = []
    for index, module in enumerate(modules):
        op = _op(module, index, method)
        if op is None:
            return ops, modules[index:]
        ops.append(op)
    return ops, []


def layer_geometries(model) -> list[LayerGeometry]:
    """The :class:`LayerGeometry` list of the model's spatial prefix (what :func:`halo` compiles).

    Other model types (e.g. loaded ONNX graphs) can feed :func:`halo` such a list directly.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"layer_geometries: model must be a convwise nn.Module, got {type(model).__name__}")
    return [op.geometry for op in _split(model)[0]]


def halo(model, ndim: int | None = None, *, input_shape=None) -> Halo:
    """The halo compiler: receptive field, tile alignment (product of strides) and halo, per spatial axis.

    ``model`` is a convwise network, a list of :class:`LayerGeometry` or a loaded ONNX graph
    (:func:`convwise.onnx.load`; ``input_shape`` defaults to its declared one, and the
    field is the bounding box over all branches). An output tile
    ``[A, B)`` of the network's spatial prefix needs input ``[A*alignment - before,
    B*alignment + after)``; cells outside the array are the layers' own padding.

    >>> from convwise import nn
    >>> halo(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, 3, dilation=2)))
    Halo(receptive_field=(11, 11), alignment=(2, 2), before=(1, 1), after=(8, 8))
    """
    if is_onnx(model):
        return onnx_halo(model, input_shape)
    layers = layer_geometries(model) if isinstance(model, nn.Module) else list(model)
    if not all(isinstance(layer, LayerGeometry) for layer in layers):
        raise TypeError("halo: model must be a convwise nn.Module or a list of LayerGeometry")
    if ndim is None:
        ndims = {len(layer.kernel_size) for layer in layers if layer.kind != "pointwise"}
        if len(ndims) != 1:
            raise ValueError(f"halo: cannot tell the number of spatial dimensions from the layers (found {ndims}); "
                             f"pass ndim=")
        ndim = ndims.pop()
    return _halo.halo(layers, ndim)


def _prefix(model, x: da.Array, method: str, fn: str):
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be a convwise nn.Module, got {type(model).__name__}")
    ops, rest = _split(model, method)
    spatial = next((len(op.geometry.kernel_size) for op in ops if op.geometry.kind != "pointwise"), x.ndim - 2)
    x, unbatched = _batched(x, spatial, fn)
    return ops, rest, x, unbatched


def _probe_prefix(ops, x: da.Array) -> tuple[int, ...]:
    """The output shape of the tiled prefix, computed by the in-memory layers on a zero-sample input."""
    sizes = _halo.output_sizes([op.geometry for op in ops], tuple(x.shape[2:]), fn="apply_model")
    channels = x.shape[1]
    for op in ops:
        if isinstance(op, (ConvOp, TransposeOp)):
            expected = op.weight.shape[1] * op.groups if isinstance(op, ConvOp) else op.weight.shape[0]
            if channels != expected:
                raise ValueError(f"apply_model: a layer expects {expected} input channels, got {channels} "
                                 f"(input shape {x.shape})")
            if op.weight.dtype != x.dtype:
                raise TypeError(f"apply_model: input ({x.dtype}) and weight ({op.weight.dtype}) must have the "
                                f"same dtype")
            channels = op.out_channels
    return (x.shape[0], channels, *sizes[-1])


def estimate_memory(model, x, *, chunks=None) -> int:
    """Bytes one task of :func:`apply_model` holds at most (block with halo, layer buffers, output), before computing."""
    x = as_dask(x, fn="estimate_memory")
    if is_onnx(model):
        shape = model.input_shapes[0] if model.input_shapes else ()
        x, _ = _batched(x, len(shape) - 2 if len(shape) > 2 else x.ndim - 2, "estimate_memory")
        tile = (max(x.chunks[0]), x.shape[1], *(max(c) for c in x.chunks[2:]))
        return onnx_field(model, tile, fn="estimate_memory")[4] + 2 * int(np.prod(tile)) * x.dtype.itemsize
    ops, rest, x, _ = _prefix(model, x, "auto", "estimate_memory")
    shape = _probe_prefix(ops, x)
    chain = plan_chain(ops, x.shape, output_chunks(chunks, x.ndim - 2, "estimate_memory"), x.chunks[2:],
                       fn="estimate_memory")
    channels = x.shape[1] if chain.mixes_channels else max(x.chunks[1])
    need = chain.task_bytes(max(x.chunks[0]), channels, x.dtype.itemsize)
    if rest:
        plane = int(np.prod(shape[1:])) * x.dtype.itemsize * max(x.chunks[0])
        need = max(need, 4 * plane)  # whole-plane layers: input, output and their scratch
    return need


def _run_rest(block: np.ndarray, modules) -> np.ndarray:
    for module in modules:
        block = np.asarray(module.forward(block))
    return block


def apply_model(model, x, *, method: str = "auto", chunks=None) -> da.Array:
    """Run a convwise network over a (spatially) chunked Dask array; lazy, exact.

    Parameters
    ----------
    model : convwise ``nn.Module`` (``Sequential`` of convolutions, pools, activations, ...), or a
        loaded ONNX graph (:func:`convwise.onnx.load`) whose nodes are all spatially local
        (convolutions, pools, pointwise ops, BatchNorm, Add/Concat skips): tiled with the
        halo and alignment of its receptive field; other graphs are refused naming the node
    x : Dask (or NumPy) array ``(N, C, *spatial)`` or ``(C, *spatial)``, float32 or float64
    method : the in-memory convolution algorithm, ``'auto'`` by default
    chunks : wished output chunk size per spatial axis; default: tile by the input's chunks

    The memory one task needs (:func:`estimate_memory`) is checked against
    ``convwise.get_config().memory_mib`` before anything runs.
    """
    x = as_dask(x, fn="apply_model")
    if is_onnx(model):
        shape = model.input_shapes[0] if model.input_shapes else ()
        x, unbatched = _batched(x, len(shape) - 2 if len(shape) > 2 else x.ndim - 2, "apply_model")
        y = onnx_apply(model, x, output_chunks(chunks, x.ndim - 2, "apply_model"))
        return y[0] if unbatched else y
    ops, rest, x, unbatched = _prefix(model, x, method, "apply_model")
    _probe_prefix(ops, x)  # channels and dtypes, with the layers' own messages
    y = run_ops(x, ops, False, chunks, fn="apply_model") if ops else x
    if rest:
        y = y.rechunk({axis: -1 for axis in range(1, y.ndim)})
        sample = _run_rest(np.zeros((1, *y.shape[1:]), dtype=y.dtype), [_fresh(m) for m in rest])
        drop = list(range(sample.ndim, y.ndim))
        payload = dask.delayed(tuple(rest), pure=True, traverse=False)
        y = da.map_blocks(_run_rest, y, payload, chunks=(y.chunks[0], *((s,) for s in sample.shape[1:])),
                         drop_axis=drop, dtype=sample.dtype, meta=np.empty((0,) * sample.ndim, sample.dtype))
    return y[0] if unbatched else y


def _fresh(module):
    return copy.copy(module)


def compute(*collections, progress: bool = True, **kwargs):
    """``dask.compute`` with a progress bar: distributed's when a ``Client`` is active, else dask's ``ProgressBar``."""
    client = None
    with contextlib.suppress(ImportError, ValueError):
        from distributed import default_client

        client = default_client()
    if client is not None:
        futures = client.compute(list(collections), **kwargs)
        if progress:
            from distributed import progress as show

            show(futures)
        return tuple(client.gather(futures))
    if not progress:
        return dask.compute(*collections, **kwargs)
    import sys

    from dask.diagnostics import ProgressBar

    with ProgressBar(out=sys.stderr):
        return dask.compute(*collections, **kwargs)
