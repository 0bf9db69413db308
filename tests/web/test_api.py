"""The explorer's JSON API, in process: sizes, numbers, errors, limits, models.

Oracles: torch 2.13 (shapes and values of real calls, autograd for gradients),
convwise.arithmetic for sizes (the single source of truth the API must agree with),
and the definitions of receptive fields and sliding windows.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the explorer needs the web extra (fastapi, uvicorn)")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convwise import arithmetic, summary
from convwise.web import operation

F = torch.nn.functional


def _listify(value):
    return list(value) if isinstance(value, tuple) else value


def explain(client, **body):
    response = client.post("/api/explain", json=body)
    assert response.status_code < 500, response.text
    return response


# ------------------------------------------------------------------ sizes agree with arithmetic and torch

CONV_CASES = [  # input, kernel, stride, padding, dilation
    ((5, 5), 3, 1, 0, 1), ((7, 9), (3, 2), (2, 1), (1, 0), 1), ((8, 8), 3, 2, 1, 2), ((6, 5), 2, 3, 0, 1),
    ((227, 227), 11, 4, 2, 1), ((9, 9), 4, 1, "same", 1), ((9, 9), 3, 1, "valid", 2),
]


@pytest.mark.parametrize("size, kernel, stride, padding, dilation", CONV_CASES)
def test_conv2d_sizes_equal_arithmetic_and_torch(client, size, kernel, stride, padding, dilation):
    listify = _listify
    data = explain(client, op="conv2d", input_size=list(size), kernel_size=listify(kernel), stride=listify(stride),
                   padding=listify(padding), dilation=dilation, in_channels=2, out_channels=4).json()
    expected = arithmetic.conv_output_size(size, kernel, stride, padding, dilation)
    assert tuple(data["output_size"]) == expected
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    y = F.conv2d(torch.zeros(1, 2, *size), torch.zeros(4, 2, *k), stride=stride, padding=padding, dilation=dilation)
    assert data["output_shape"] == list(y.shape)
    assert data["params"] == 4 * 2 * k[0] * k[1] + 4
    assert data["macs"] == 4 * 2 * k[0] * k[1] * int(np.prod(expected))
    assert data["steps"] == int(np.prod(expected))
    assert data["formula"] == arithmetic.explain(arithmetic.conv_geometry(size, kernel, stride, padding, dilation))


@pytest.mark.parametrize("size, kernel, stride, padding, output_padding, dilation, groups", [
    (4, 3, 2, 1, 1, 1, 1), ((3, 5), (2, 3), (3, 2), (0, 1), (2, 0), 1, 2), ((4, 4), 3, 2, 2, 1, 2, 2)])
def test_conv_transpose_sizes_equal_arithmetic_and_torch(client, size, kernel, stride, padding, output_padding,
                                                         dilation, groups):
    listify = _listify
    ndim = len(size) if isinstance(size, tuple) else 1
    op = f"conv_transpose{ndim}d"
    data = explain(client, op=op, input_size=listify(size), kernel_size=listify(kernel), stride=listify(stride),
                   padding=listify(padding), output_padding=listify(output_padding), dilation=dilation,
                   in_channels=2, out_channels=4, groups=groups).json()
    assert tuple(data["output_size"]) == arithmetic.conv_transpose_output_size(size, kernel, stride, padding,
                                                                               output_padding, dilation)
    spatial = size if isinstance(size, tuple) else (size,)
    k = kernel if isinstance(kernel, tuple) else (kernel,) * ndim
    y = getattr(F, op)(torch.zeros(1, 2, *spatial), torch.zeros(2, 4 // groups, *k), stride=stride, padding=padding,
                       output_padding=output_padding, dilation=dilation, groups=groups)
    assert data["output_shape"] == list(y.shape)


@pytest.mark.parametrize("op, size, kernel, stride, padding, dilation, ceil_mode", [
    ("max_pool2d", (5, 5), 2, None, 0, 1, True), ("max_pool2d", (7, 6), 3, 2, 1, 2, False),
    ("avg_pool2d", (5, 7), (2, 3), (2, 2), (1, 1), 1, True), ("max_pool1d", 9, 3, 2, 1, 1, True),
    ("avg_pool1d", 8, 3, None, 0, 1, False)])
def test_pool_sizes_and_values_equal_torch(client, op, size, kernel, stride, padding, dilation, ceil_mode):
    listify = _listify
    body = dict(op=op, input_size=listify(size), kernel_size=listify(kernel), stride=listify(stride),
                padding=listify(padding), ceil_mode=ceil_mode, in_channels=2)
    if op.startswith("max"):
        body["dilation"] = dilation
    data = explain(client, **body).json()
    x = torch.tensor(data["values"]["input"], dtype=torch.float64)[None]
    if op.startswith("max"):
        y = getattr(F, op)(x, kernel, stride, padding, dilation, ceil_mode)
    else:
        y = getattr(F, op)(x, kernel, stride, padding, ceil_mode)
    assert data["output_shape"] == list(y.shape)
    assert np.allclose(data["values"]["output"], y[0].numpy())
    assert data["params"] == 0 and data["weight_shape"] is None


def test_numbers_are_what_torch_computes_forward_and_backward(client):
    data = explain(client, op="conv2d", input_size=[6, 5], kernel_size=[3, 2], stride=[2, 1], padding=1, dilation=1,
                   in_channels=4, out_channels=6, groups=2, seed=3).json()
    v = data["values"]
    x = torch.tensor(v["input"], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(v["weight"], dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x[None], w, stride=(2, 1), padding=1, groups=2)[0]
    assert np.allclose(v["output"], y.detach().numpy())
    y.backward(torch.tensor(v["grad_output"], dtype=torch.float64))
    assert np.allclose(v["grad_input"], x.grad.numpy())
    assert np.allclose(v["grad_weight"], w.grad.numpy())
    assert data["channels"] == [[0, 1]] * 3 + [[2, 3]] * 3  # groups: which inputs each output reads


def test_transposed_numbers_and_trace_reproduce_torch(client):
    data = explain(client, op="conv_transpose2d", input_size=[3, 4], kernel_size=3, stride=2, padding=1,
                   output_padding=[1, 0], in_channels=2, out_channels=2).json()
    v, trace = data["values"], data["trace"]
    x = torch.tensor(v["input"], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(v["weight"], dtype=torch.float64, requires_grad=True)
    y = F.conv_transpose2d(x[None], w, stride=2, padding=1, output_padding=(1, 0))[0]
    assert np.allclose(v["output"], y.detach().numpy())
    y.backward(torch.tensor(v["grad_output"], dtype=torch.float64))
    assert np.allclose(v["grad_input"], x.grad.numpy())
    assert np.allclose(v["grad_weight"], w.grad.numpy())
    # summing input x weight along the served trace gives torch's output (what the page shows as products)
    walked = np.zeros_like(y.detach().numpy())
    for step in trace["steps"]:
        for co in range(2):
            for ci in range(2):
                for tap in step["taps"]:
                    if tap["source"] is not None:
                        walked[(co, *step["output"])] += x[(ci, *tap["source"])].item() * w[(ci, co, *tap["weight"])].item()
    assert np.allclose(walked, y.detach().numpy())
    assert len(data["grid"]["kinds"]) == int(np.prod(trace["grid_size"]))
    assert data["receptive_field"] is None and data["stretched_size"] == [5, 7]


def test_receptive_field_and_uncovered_cells_by_definition(client):
    data = explain(client, op="conv1d", input_size=9, kernel_size=2, stride=3).json()
    assert data["receptive_field"]["size"] == [2] and data["receptive_field"]["jump"] == [3]
    read = {j * 3 + t for j in range(data["output_size"][0]) for t in range(2)}
    assert data["uncovered"]["cells"] == [[i for i in range(9) if i not in read]]


def test_code_snippets_run_and_give_the_promised_shape(client):
    data = explain(client, op="conv2d", input_size=[9, 7], kernel_size=3, stride=[2, 1], padding=1, dilation=2,
                   in_channels=4, out_channels=2, groups=2).json()
    namespace: dict = {}
    exec(data["code"]["pytorch"], namespace)  # noqa: S102 - our own generated snippet
    assert list(namespace["y"].shape) == data["output_shape"]
    namespace = {}
    exec(data["code"]["convwise"], namespace)  # noqa: S102
    assert list(namespace["y"].shape) == data["output_shape"]


# ------------------------------------------------------------------ errors: 4xx with the engine's message

@pytest.mark.parametrize("body, field, message", [
    (dict(op="conv2d", input_size=[5, 5], in_channels=4, out_channels=6, groups=3), "groups",
     "conv2d: groups=3 must divide in_channels=4"),
    (dict(op="conv2d", input_size=[5, 5], kernel_size=7), "kernel_size", "effective kernel size 7 exceeds"),
    (dict(op="conv2d", input_size=[5, 5], stride=2, padding="same"), "padding", "padding='same' is not supported"),
    (dict(op="conv_transpose2d", input_size=[5, 5], stride=2, output_padding=2), "output_padding",
     "output_padding must be smaller than either stride or dilation"),
    (dict(op="max_pool2d", input_size=[5, 5], kernel_size=2, padding=2), "padding", "at most half of kernel_size"),
    (dict(op="avg_pool2d", input_size=[5, 5], kernel_size=2, dilation=2), "dilation", "avg_pool has no dilation"),
    (dict(op="conv2d", input_size=[5, 5], stride=0), "stride", "stride must be positive"),
    (dict(op="conv2d", input_size=[5, 5, 5]), "input_size", "input_size must be an int or 2 ints"),
    (dict(op="conv2d", input_size=[5, 5], kernel_size="3"), "kernel_size", "valid integer"),
    (dict(op="conv2d", input_size=[5, 5], stride=True), "stride", "valid integer"),
    (dict(op="conv4d", input_size=[5, 5]), "op", "conv4d"),
    (dict(op="conv2d", input_size=[5, 5], colour="red"), "colour", "Extra inputs are not permitted"),
    (dict(op="conv2d"), "input_size", "Field required"),
])
def test_bad_parameters_answer_422_with_the_message_and_the_field(client, body, field, message):
    response = explain(client, **body)
    assert response.status_code == 422
    data = response.json()
    assert message in data["detail"] and data["field"] == field, data


def test_malformed_json_is_422_not_500(client):
    response = client.post("/api/explain", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


# ------------------------------------------------------------------ limits

def test_limits_are_documented_and_enforced(client):
    limits = client.get("/api/limits").json()
    assert limits["max_size"] == operation.LIMITS["max_size"]
    over = limits["max_size"] + 1
    response = explain(client, op="conv2d", input_size=[over, 5])
    assert response.status_code == 422 and f"limit of {limits['max_size']}" in response.json()["detail"]
    response = explain(client, op="conv2d", input_size=[5, 5], in_channels=limits["max_channels"] + 1)
    assert response.status_code == 422 and response.json()["field"] == "in_channels"
    schema = client.get("/openapi.json").json()
    assert str(limits["max_size"]) in schema["info"]["description"]


def test_big_but_valid_answers_sizes_without_a_drawing(client):
    data = explain(client, op="conv2d", input_size=[227, 227], kernel_size=11, stride=4, in_channels=3,
                   out_channels=96).json()
    assert data["output_size"] == [55, 55] and data["trace"] is None and data["values"] is None
    assert "not drawn" in data["not_drawn"] and "window taps" in data["not_drawn"]
    limit = operation.LIMITS["max_draw_grid"]
    data = explain(client, op="conv2d", input_size=[limit + 6, 8], kernel_size=1, stride=8).json()
    assert data["trace"] is None and f"limit of {limit} per side" in data["not_drawn"]
    data = explain(client, op="conv1d", input_size=limit, kernel_size=1).json()
    assert data["trace"] is not None  # at the limit it is drawn
    data = explain(client, op="conv1d", input_size=limit + 1, kernel_size=1).json()
    assert data["trace"] is None


# ------------------------------------------------------------------ the solver

def _brute(op, i, k, stride, padding, dilation, output_padding, ceil):
    """The output size by arithmetic, or None where the setting is invalid."""
    try:
        if op == "conv":
            return arithmetic.conv_output_size(i, k, stride, padding, dilation)[0]
        if op == "conv_transpose":
            return arithmetic.conv_transpose_output_size(i, k, stride, padding, output_padding, dilation)[0]
        return arithmetic.pool_output_size(i, k, stride, padding, dilation, ceil)[0]
    except ValueError:
        return None


@pytest.mark.parametrize("op", arithmetic.SOLVE_OPS)
@pytest.mark.parametrize("i, k", [(7, 3), (8, 2), (5, 4), (12, 5)])
def test_solver_lists_exactly_the_settings_that_give_each_size(op, i, k):
    dilations = [1] if op == "avg_pool" else range(1, arithmetic.SOLVE_MAX_DILATION + 1)
    for wanted in range(1, 2 * i + 2):
        found = set(arithmetic.solve_output_size(i, wanted, k, op=op)[0])
        brute = set()
        for s, d, p in itertools.product(range(1, arithmetic.SOLVE_MAX_STRIDE + 1), dilations,
                                         range(arithmetic.SOLVE_MAX_PADDING + 1)):
            if op == "conv" and p >= d * (k - 1) + 1:
                continue  # documented: no padding of a whole effective kernel or more
            for op_ in (range(max(s, d)) if op == "conv_transpose" else [0]):
                for ceil in ((False, True) if op.endswith("pool") else (False,)):
                    if _brute(op, i, k, s, p, d, op_, ceil) == wanted:
                        brute.add(arithmetic.Setting(s, p, d, op_, ceil))
        assert found == brute, (op, i, k, wanted)


def test_solver_settings_give_the_size_in_torch():
    for s in arithmetic.solve_output_size((7, 10), (4, 5), 3, op="conv")[0][:3]:
        y = F.conv2d(torch.zeros(1, 1, 7, 10), torch.zeros(1, 1, 3, 3), stride=s.stride, padding=s.padding,
                     dilation=s.dilation)
        assert y.shape[2] == 4
    for s in arithmetic.solve_output_size(4, 9, 3, op="conv_transpose")[0]:
        y = F.conv_transpose1d(torch.zeros(1, 1, 4), torch.zeros(1, 1, 3), stride=s.stride, padding=s.padding,
                               output_padding=s.output_padding, dilation=s.dilation)
        assert y.shape[2] == 9


def test_solver_holds_given_parameters_fixed_and_checks_its_arguments():
    found = arithmetic.solve_output_size(7, 4, 3, stride=2, dilation=1)[0]
    assert [(s.stride, s.padding, s.dilation) for s in found] == [(2, 1, 1)]
    assert arithmetic.solve_output_size(7, 100, 3, stride=2)[0] == ()
    with pytest.raises(ValueError, match="solve_output_size: op must be one of"):
        arithmetic.solve_output_size(7, 4, 3, op="deconv")
    with pytest.raises(ValueError, match="output_padding belongs to conv_transpose"):
        arithmetic.solve_output_size(7, 4, 3, output_padding=1)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        arithmetic.solve_output_size(7, 4, 0)


def test_solve_endpoint(client):
    response = client.post("/api/solve", json={"op": "conv2d", "input_size": [7, 7], "output_size": [4, 4],
                                               "kernel_size": 3, "dilation": 1})
    data = response.json()
    assert response.status_code == 200
    for dim in data["settings"]:
        assert [(s["stride"], s["padding"]) for s in dim] == [(2, 1)]  # (3, 3) would pad a whole kernel
        for s in dim:
            assert arithmetic.conv_output_size(7, 3, s["stride"], s["padding"], 1) == (4,)
    response = client.post("/api/solve", json={"op": "conv2d", "input_size": [7, 7], "output_size": [4, 4, 4]})
    assert response.status_code == 422 and response.json()["field"] == "output_size"


def test_cli_solve_output(tmp_path):
    import convwise

    env_path = str(__import__("pathlib").Path(convwise.__file__).parents[1])
    run = subprocess.run([sys.executable, "-m", "convwise", "shape", "7x7", "-k", "3", "-s", "2", "--solve-output",
                          "4x4"], capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": ""})
    assert run.returncode == 0, run.stderr
    assert "stride=2 padding=1 dilation=1" in run.stdout
    run = subprocess.run([sys.executable, "-m", "convwise", "shape", "7x7", "-k", "3", "--solve-output", "4x"],
                         capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": ""})
    assert run.returncode == 2 and run.stdout == "" and len(run.stderr.splitlines()) == 1
    assert "--solve-output" in run.stderr


# ------------------------------------------------------------------ the network view

def test_network_summary_is_convwise_summary(client):
    data = client.post("/api/network", json={"model": "lenet5"}).json()
    assert data["total_params"] == summary("lenet5").total_params == 61706
    seed = client.post("/api/network", json={"model": "seed"}).json()
    y = F.max_pool2d(F.conv2d(torch.zeros(1, 1, 28, 28), torch.zeros(5, 1, 5, 5)), 2)
    assert seed["layers"][-1]["output_shape"] == list(y.shape[1:])
    posted = client.post("/api/network", json={"layers": [{"type": "conv2d", "out_channels": 3, "kernel_size": 3}],
                                               "input_shape": [1, 9, 9]}).json()
    assert posted["layers"][0]["output_shape"] == [3, 7, 7]
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert {"seed", "lenet5", "alexnet", "vgg16", "digits.npz"} <= set(models) and models["digits.npz"]["trained"]


def test_network_field_is_the_window_the_unit_reads(client):
    # AlexNet's first conv: k=11, s=4, p=2 -> unit j reads input 4j-2 .. 4j+8 (clipped at 0)
    data = client.post("/api/network/field", json={"model": "alexnet", "layer": 0, "unit": [0, 5]}).json()
    assert data["window"] == [[-2, 8], [18, 28]] and data["clipped"] == [[0, 8], [18, 28]]
    # the defining property: unit j's window is exactly the input cells its taps read
    geometry = arithmetic.conv_geometry(224, 11, 4, 2)
    for j in (0, 5, 54):
        taps = [geometry.window_start(0, j) + t for t in range(11)]
        field = arithmetic.receptive_field([{"kernel_size": 11, "stride": 4, "padding": 2}], ndim=1)[-1]
        assert arithmetic.receptive_window(field, (j,)) == ((taps[0], taps[-1]),)
    # through the first max pool (k=3, s=2): unit j of layer 2 reads conv units 2j..2j+2
    data = client.post("/api/network/field", json={"model": "alexnet", "layer": 2, "unit": [3, 3]}).json()
    assert data["window"] == [[4 * 6 - 2, 4 * 8 + 8]] * 2
    assert data["maps"] == {"1": [[6, 8], [6, 8]], "0": [[6, 8], [6, 8]]}  # the pool's window on the conv output
    for body, message in [({"model": "alexnet", "layer": 99, "unit": [0, 0]}, "layer=99"),
                          ({"model": "alexnet", "layer": 0, "unit": [55, 0]}, "unit=[55, 0]"),
                          ({"model": "lenet5", "layer": 7, "unit": [0]}, "no receptive field"),
                          ({"model": "nope", "layer": 0, "unit": [0, 0]}, "unknown model='nope'")]:
        response = client.post("/api/network/field", json=body)
        assert response.status_code == 422 and message in response.json()["detail"]


def test_network_forward_is_the_trained_model(client, digits_npz):
    from convwise import train

    image = np.zeros((8, 8))
    image[1:7, 3:5] = 1.0
    data = client.post("/api/network/forward", json={"model": "digits.npz", "image": image.tolist()}).json()
    model, _ = train.load(digits_npz)
    logits = model(image[None, None].astype(np.float32))[0].astype(np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose(data["probabilities"], expected, atol=1e-4)
    assert data["prediction"] == int(np.argmax(logits))
    assert [layer["shape"] for layer in data["layers"]][:3] == [[16, 8, 8], [16, 8, 8], [16, 4, 4]]
    for image, message in [(np.zeros((7, 8)), "must be 8x8"), (np.full((8, 8), 2.0), "in [0, 1]")]:
        response = client.post("/api/network/forward", json={"model": "digits.npz", "image": image.tolist()})
        assert response.status_code == 422 and message in response.json()["detail"]
    response = client.post("/api/network/forward", json={"model": "lenet5", "image": image.tolist()})
    assert response.status_code == 422 and "no trained weights" in response.json()["detail"]


# ------------------------------------------------------------------ the page, the GIF, the schema

def test_page_and_schema_are_served(client):
    page = client.get("/?op=conv2d&input_size=227x227&kernel_size=11&stride=4")
    assert page.status_code == 200 and "convwise explorer" in page.text
    for name in ("explorer.js", "draw.js", "network.js", "style.css"):
        assert client.get(f"/{name}").status_code == 200
    schema = client.get("/openapi.json").json()
    fields = schema["components"]["schemas"]["ExplainRequest"]["properties"]
    assert {"op", "input_size", "kernel_size", "stride", "padding", "dilation", "groups", "in_channels",
            "out_channels", "output_padding", "ceil_mode"} <= set(fields)
    assert "/api/explain" in schema["paths"] and "/api/solve" in schema["paths"]


def test_gif_has_one_frame_per_output_position(client):
    from PIL import Image

    response = client.post("/api/gif", json={"op": "conv2d", "input_size": [5, 5], "stride": 2, "padding": 1})
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert Image.open(io.BytesIO(response.content)).n_frames == 1 + 9  # an intro frame, then each output
    response = client.post("/api/gif", json={"op": "conv2d", "input_size": [227, 227], "kernel_size": 11})
    assert response.status_code == 422 and "no GIF" in response.json()["detail"]


def test_serve_refuses_bad_arguments_in_one_line():
    import convwise

    env = {"PYTHONPATH": str(__import__("pathlib").Path(convwise.__file__).parents[1]), "PATH": ""}
    for args, message in [(["--port", "70000"], "--port must be in 0..65535"),
                          (["--model", "missing.json"], "no such model file"),
                          (["--model", "weights.txt"], "must be a .json layer list or a .npz")]:
        run = subprocess.run([sys.executable, "-m", "convwise", "serve", *args], capture_output=True, text=True,
                             env=env, timeout=60)
        assert run.returncode == 2 and message in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr


# ------------------------------------------------------------------ fuzz: never a 5xx

_sizes = st.one_of(st.integers(-2, 40), st.lists(st.integers(-1, 40), min_size=0, max_size=3))
_bodies = st.fixed_dictionaries({
    "op": st.sampled_from(list(operation.OPS) + ["conv3d"]),
    "input_size": _sizes,
}, optional={
    "kernel_size": _sizes, "stride": st.one_of(st.none(), _sizes),
    "padding": st.one_of(_sizes, st.sampled_from(["same", "valid", "full"])),
    "dilation": _sizes, "groups": st.integers(-1, 6), "in_channels": st.integers(-1, 8),
    "out_channels": st.one_of(st.none(), st.integers(-1, 8)), "output_padding": _sizes,
    "ceil_mode": st.one_of(st.booleans(), st.integers(0, 1)), "count_include_pad": st.booleans(),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_fuzz_explain_never_answers_5xx(client, body):
    response = client.post("/api/explain", json=body)
    assert response.status_code in (200, 422), (body, response.text)
    if response.status_code == 422:
        assert response.json()["detail"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.fixed_dictionaries({"op": st.sampled_from(list(operation.OPS)), "input_size": _sizes,
                                   "output_size": _sizes}, optional={"kernel_size": _sizes, "stride": _sizes,
                                                                      "padding": _sizes, "dilation": _sizes}))
def test_fuzz_solve_never_answers_5xx(client, body):
    response = client.post("/api/solve", json=body)
    assert response.status_code in (200, 422), (body, response.text)


_values = st.one_of(st.integers(-2, 12), st.lists(st.integers(-1, 12), max_size=3), st.none(), st.booleans(),
                    st.sampled_from(["same", "valid", "x"]))
_layers = st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
                              "linear", "flatten", "relu", "batch_norm2d", "dropout", "bogus"])},
    optional={"out_channels": _values, "kernel_size": _values, "stride": _values, "padding": _values,
              "dilation": _values, "groups": _values, "output_size": _values, "out_features": _values,
              "ceil_mode": _values}), max_size=5)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=_layers, shape=st.lists(st.integers(-1, 40), max_size=4), layer=st.integers(-1, 5),
       unit=st.lists(st.integers(-1, 30), max_size=3))
def test_fuzz_network_never_answers_5xx(client, layers, shape, layer, unit):
    response = client.post("/api/network", json={"layers": layers, "input_shape": shape})
    assert response.status_code in (200, 422), (layers, shape, response.text)
    response = client.post("/api/network/field", json={"layers": layers, "input_shape": shape, "layer": layer,
                                                       "unit": unit})
    assert response.status_code in (200, 422), (layers, shape, layer, unit, response.text)


# ------------------------------------------------------------------ ONNX graphs in the network view

def test_network_view_of_an_onnx_graph(tmp_path):
    pytest.importorskip("onnx")
    from fastapi.testclient import TestClient

    import convwise.onnx as cwo
    from convwise.web import create_app

    class TwoBranch(torch.nn.Module):  # a strided 3x3 branch and a 1x1 branch, concatenated, then a 3x3 conv
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(2, 3, 3, 2, 1)
            self.b = torch.nn.Conv2d(2, 2, 1, 2)
            self.head = torch.nn.Conv2d(5, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.head(torch.cat([self.a(x), self.b(x)], dim=1)))

    path = tmp_path / "branches.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TwoBranch().eval(), (torch.zeros(1, 2, 12, 10),), str(path), dynamo=False,
                          input_names=["input"], output_names=["output"])
    client = TestClient(create_app([path]), raise_server_exceptions=False)
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert models["branches.onnx"]["input_shape"] == [2, 12, 10]
    data = client.post("/api/network", json={"model": "branches.onnx"}).json()
    expected = cwo.summary(str(path))
    assert [row["name"] for row in data["layers"]] == [row.name for row in expected.layers]
    assert data["layers"][-1]["output_shape"] == [4, 6, 5] and data["total_params"] == expected.total_params
    # the head's unit (r, c) reads branch units r-1..r+1, i.e. input rows 2(r-1)-1 .. 2(r+1)+1
    head = next(i for i, row in enumerate(data["layers"]) if row["type"] == "Conv" and row["name"].startswith("/head"))
    data = client.post("/api/network/field", json={"model": "branches.onnx", "layer": head, "unit": [0, 2]}).json()
    assert data["window"] == [[-3, 3], [1, 7]] and data["clipped"] == [[0, 3], [1, 7]] and data["maps"] == {}
    # checked against autograd: the input cells the unit's gradient reaches lie inside the window (any weights)
    net = TwoBranch().eval()
    x = torch.randn(1, 2, 12, 10, requires_grad=True)
    net.head(torch.cat([net.a(x), net.b(x)], dim=1))[0, 0, 0, 2].backward()
    rows, cols = np.nonzero(x.grad[0].abs().sum(0).numpy())
    assert rows.min() >= 0 and rows.max() <= 3 and cols.min() >= 1 and cols.max() <= 7
    response = client.post("/api/network/field", json={"model": "branches.onnx", "layer": head, "unit": [6, 0]})
    assert response.status_code == 422 and "unit=[6, 0]" in response.json()["detail"]

