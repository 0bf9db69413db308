"""Summaries of torch modules that follow ``forward``: an ONNX export in memory, then the graph summary.

A module tree whose containers are all ``nn.Sequential`` (or hold layers without a
``forward`` of their own) runs its children in registration order, which the layer walk
of :mod:`convwise.summary` follows. Any container with its own ``forward`` may reorder,
reuse, branch, add or concatenate: such a model is traced (``torch.onnx.export``, the
TorchScript exporter, in eval mode, nothing folded) and summarised node by node with
:func:`convwise.onnx.summary`. A forward the trace cannot represent faithfully (control
flow on tensor values, Python-side state: torch's ``TracerWarning``), or one that uses an
op :func:`convwise.onnx.load` does not run, is refused with a ValueError — never
summarised wrong.
"""

from __future__ import annotations

import io
import sys
import warnings

__all__ = ["needs_trace", "traced_summary"]


def needs_trace(model) -> bool:
    """True for a torch module with a container whose own ``forward`` decides the order."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(model, torch.nn.Module):
        return False
    plain = (torch.nn.Module.forward, torch.nn.Sequential.forward)
    return any(next(module.children(), None) is not None and type(module).forward not in plain
               for module in model.modules())


def _shape(input_shape, batch, fn: str) -> tuple[int, ...]:
    from .. import arithmetic

    if input_shape is None:
        raise ValueError(f"{fn}: input_shape is required, e.g. (3, 224, 224)")
    if not isinstance(input_shape, (tuple, list)) or not all(arithmetic._is_int(v) for v in input_shape):
        raise TypeError(f"{fn}: input_shape must be a tuple of ints, got {input_shape!r}")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 4 or (batch is not None and len(shape) == 5):
        if batch is not None and batch != shape[0]:
            raise ValueError(f"{fn}: batch={batch} contradicts input_shape={tuple(input_shape)}")
        return shape
    return (batch or 1, *shape)


def traced_summary(model, input_shape=None, *, batch: int | None = None, dtype_bytes: int = 4,
                   fn: str = "summary"):
    """The :class:`~convwise.onnx.GraphSummary` of a traced torch module, or ``None`` when
    :func:`needs_trace` is false (the caller walks the layers then).

    ``input_shape`` is ``(C, *spatial)`` (batch from ``batch``, default 1) or ``(N, C, H, W)``.
    """
    if not needs_trace(model):
        return None
    import torch

    from .summary import summary

    name = type(model).__name__
    shape = _shape(input_shape, batch, fn)
    parameter = next(model.parameters(), None)
    x = torch.zeros(shape, dtype=parameter.dtype if parameter is not None else torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch.onnx.export(model, (x,), buffer,  # type: ignore[arg-type]  # a BytesIO is accepted
                              dynamo=False, do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL,
                              opset_version=17, input_names=["input"])
        except Exception as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"{fn}: cannot trace {name}.forward for input shape {shape}: {first}") from None
    tracer = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    if tracer:
        first = str(tracer[0].message).strip().splitlines()[0]
        raise ValueError(f"{fn}: {name}.forward cannot be followed faithfully (it depends on tensor values or "
                         f"Python state: {first}); not summarised")
    try:
        result = summary(buffer.getvalue(), shape, dtype_bytes=dtype_bytes, fn=fn)
    except ValueError as error:
        raise ValueError(f"{fn}: cannot summarise {name}: {error}") from None
    return type(result)(input_shape=result.input_shape, layers=result.layers, dtype_bytes=dtype_bytes, name=name,
                        outputs=result.outputs)
