"""The explorer's ASGI app: a JSON API (documented at ``/openapi.json``) and the static page.

Every answer is computed by convwise (:mod:`.operation`, :mod:`.network`); this module
only declares the request shapes and turns convwise's ``ValueError``/``TypeError`` into
``422`` answers ``{"detail": message, "field": argument}`` (the page shows the message
beside the control named by ``field``). Nothing here should answer 5xx for bad input.
"""

from __future__ import annotations

import os
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from .. import __version__, arithmetic
from . import network as net
from . import operation

__all__ = ["create_app", "ExplainRequest", "SolveRequest", "NetworkRequest"]

IntOrInts = StrictInt | list[StrictInt]
Op = Literal["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d",
             "avg_pool2d"]
_LIMIT = operation.LIMITS["max_size"]


class ExplainRequest(BaseModel):
    """One convolution or pooling, with the argument names of convwise.arithmetic / torch."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"op": "conv2d", "input_size": [5, 5], "kernel_size": 3, "stride": 2, "padding": 1}]})

    op: Op = Field("conv2d", description="operation, named as in convwise.functional")
    input_size: IntOrInts = Field(..., description=f"spatial input size (H, W) or L; each at most {_LIMIT}")
    kernel_size: IntOrInts = Field(3, description="kernel (window) size")
    stride: IntOrInts | None = Field(None, description="stride; null: 1 for convolutions, kernel_size for pooling")
    padding: IntOrInts | Literal["same", "valid"] = Field(0, description="ints, or 'same'/'valid' (convolution)")
    dilation: IntOrInts = Field(1, description="spacing between kernel taps")
    groups: StrictInt = Field(1, description="channel groups (convolutions); in_channels for depthwise")
    in_channels: StrictInt = Field(1, description="input channels")
    out_channels: StrictInt | None = Field(None, description="output channels; null: in_channels")
    output_padding: IntOrInts = Field(0, description="transposed convolution: extra cells on the high side")
    ceil_mode: StrictBool = Field(False, description="pooling: round the output size up")
    count_include_pad: StrictBool = Field(True, description="average pooling: divide by the padded window size")
    seed: StrictInt = Field(0, ge=0, le=2**31, description="seed of the example input and weight")


class SolveRequest(BaseModel):
    """The inverse question: which settings turn input_size into output_size?"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"op": "conv2d", "input_size": [7, 7], "output_size": [4, 4], "kernel_size": 3, "stride": 2}]})

    op: Op = "conv2d"
    input_size: IntOrInts
    output_size: IntOrInts
    kernel_size: IntOrInts = 3
    stride: IntOrInts | None = Field(None, description="held fixed when given, else searched")
    padding: IntOrInts | None = Field(None, description="held fixed when given, else searched")
    dilation: IntOrInts | None = Field(None, description="held fixed when given, else searched")
    output_padding: IntOrInts | None = Field(None, description="transposed only; held fixed when given")
    ceil_mode: StrictBool | None = Field(None, description="pooling only; held fixed when given")


class NetworkRequest(BaseModel):
    """A served model by name, or posted layers (the JSON model-file format) with an input shape."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"model": "lenet5"}]})

    model: str | None = Field(None, description="name of a served model (GET /api/models)")
    layers: list[dict] | None = Field(None, description="layer dicts, e.g. {'type': 'conv2d', 'out_channels': 6, "
                                                        "'kernel_size': 5}")
    input_shape: list[StrictInt] | None = Field(None, description="(C, H, W)")


class FieldRequest(NetworkRequest):
    """Which input cells one unit of one layer sees."""

    layer: StrictInt = Field(..., description="layer index (0-based, as in the summary)")
    unit: list[StrictInt] = Field(..., description="spatial index of the unit in that layer's output, e.g. [3, 4]")


class ForwardRequest(BaseModel):
    """Run a trained model on one image (pixels in [0, 1])."""

    model_config = ConfigDict(extra="forbid")

    model: str
    image: list[list[float]] = Field(..., description="rows of pixels in [0, 1], e.g. 8x8 for digits")


def _problem(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": message, "field": operation.error_field(message)}, status_code=status)


def _validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    name = location[0] if location else None
    if first.get("type") == "json_invalid":
        return "request: the body is not valid JSON", None
    value = first.get("input")
    shown = f", got {name}={value!r}" if name and not isinstance(value, dict) else ""
    return f"request: {name or 'body'}: {first.get('msg', 'invalid')}{shown}", name


def create_app(models=()) -> FastAPI:
    """The explorer app; ``models`` are paths of ``.json``/``.npz`` model files to serve."""
    registry = net.Registry(models)
    app = FastAPI(title="convwise explorer", version=__version__,
                  description="Convolution, pooling and network arithmetic, computed by convwise. "
                              f"Limits (GET /api/limits): {operation.LIMITS}; bad parameters answer 422 with "
                              "{detail: the engine's message, field: the argument it names}.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        message, name = _validation_message(error)
        return JSONResponse({"detail": message, "field": name}, status_code=422)

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, error: ValueError):
        return _problem(str(error))

    @app.exception_handler(TypeError)
    async def _bad_type(request: Request, error: TypeError):
        return _problem(str(error))

    @app.get("/api/limits", tags=["api"], summary="the bounds that keep every request fast")
    def limits() -> dict:
        return {**operation.LIMITS, **net.NETWORK_LIMITS, "solve_max_stride": arithmetic.SOLVE_MAX_STRIDE,
                "solve_max_dilation": arithmetic.SOLVE_MAX_DILATION,
                "solve_max_padding": arithmetic.SOLVE_MAX_PADDING, "ops": list(operation.OPS)}

    @app.post("/api/explain", tags=["api"], summary="sizes, formula, counts, trace and numbers of one operation")
    def explain(body: ExplainRequest) -> dict:
        return operation.explain(body.model_dump())

    @app.post("/api/gif", tags=["api"], summary="the sliding-window GIF of one operation",
              responses={200: {"content": {"image/gif": {}}}})
    def gif(body: ExplainRequest) -> Response:
        data = operation.gif(body.model_dump())
        return Response(data, media_type="image/gif",
                        headers={"Content-Disposition": f'attachment; filename="{body.op}.gif"'})

    @app.post("/api/solve", tags=["api"], summary="every small setting that gives the wanted output size")
    def solve(body: SolveRequest) -> dict:
        request = body.model_dump()
        kind, ndim = operation.OPS[request["op"]]
        for name in ("input_size", "output_size", "kernel_size", "stride", "padding", "dilation"):
            values = request[name] if isinstance(request[name], list) else [request[name]]
            if any(isinstance(v, int) and v > _LIMIT for v in values):
                raise ValueError(f"{body.op}: {name}={request[name]} is over the explorer's limit of {_LIMIT}")
            if isinstance(request[name], list) and len(request[name]) not in (1, ndim):
                raise ValueError(f"{body.op}: {name} must be an int or {ndim} ints, got {name}={request[name]}")
        size = arithmetic.ntuple(request["input_size"], ndim, fn=body.op, name="input_size", minimum=1)
        found = arithmetic.solve_output_size(
            size, request["output_size"], request["kernel_size"], op=kind, stride=request["stride"],
            padding=request["padding"], dilation=request["dilation"], output_padding=request["output_padding"],
            ceil_mode=request["ceil_mode"], fn=body.op)
        return {"op": body.op, "input_size": list(size), "settings": [[s.to_dict() for s in dim] for dim in found],
                "limits": {"stride": arithmetic.SOLVE_MAX_STRIDE, "dilation": arithmetic.SOLVE_MAX_DILATION,
                           "padding": arithmetic.SOLVE_MAX_PADDING}}

    @app.get("/api/models", tags=["api"], summary="the models the network view can pick")
    def models_list() -> list[dict]:
        return [entry.info() for entry in registry.entries.values()]

    @app.post("/api/network", tags=["api"], summary="per-layer shapes, params, MACs and receptive fields")
    def network(body: NetworkRequest) -> dict:
        return net.describe(registry, body.model, body.layers, body.input_shape)

    @app.post("/api/network/field", tags=["api"], summary="the input window one unit of one layer sees")
    def network_field(body: FieldRequest) -> dict:
        described = net.describe(registry, body.model, body.layers, body.input_shape)
        return net.field_window(described, body.layer, body.unit)

    @app.post("/api/network/forward", tags=["api"], summary="feature maps and prediction of a trained model")
    def network_forward(body: ForwardRequest) -> dict:
        return net.forward(registry.get(body.model), body.image)

    static = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")  # package data
    app.mount("/", StaticFiles(directory=static, html=True), name="static")
    return app
