"""Each op's attribute corner cases against ONNX Runtime (float32 relative error <= 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import rel_error

pytest.importorskip("onnxruntime")
from onnx import load_from_string as onnx_proto  # noqa: E402

import convwise.onnx as cwo  # noqa: E402
from onnx_build import one_node, ort_run  # noqa: E402

RNG = np.random.default_rng(7)


def check(model, x, tolerance=1e-4):
    ours = cwo.load(model)(x)
    reference = ort_run(model, x)
    assert ours.shape == reference.shape
    assert ours.dtype == reference.dtype
    assert rel_error(ours, reference) <= tolerance
    return ours


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


POOL_CASES = [
    dict(kernel_shape=[3, 3]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 2, 0]),                      # asymmetric
    dict(kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    dict(kernel_shape=[3, 2], strides=[3, 2], pads=[0, 0, 2, 1], ceil_mode=1),          # overhang past pads
    dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(kernel_shape=[4, 4], strides=[3, 3], auto_pad="SAME_LOWER"),
    dict(kernel_shape=[2, 2], auto_pad="VALID", strides=[1, 2]),
    dict(kernel_shape=[3, 3], pads=[2, 0, 0, 2]),
]


@pytest.mark.parametrize("attrs", POOL_CASES)
def test_max_pool(attrs):
    check(one_node("MaxPool", (2, 3, 10, 11), attrs), rand(2, 3, 10, 11))


def test_max_pool_dilation_1d_3d():
    check(one_node("MaxPool", (1, 2, 13), dict(kernel_shape=[3], dilations=[2], pads=[2, 1])), rand(1, 2, 13))
    check(one_node("MaxPool", (1, 2, 5, 6, 7), dict(kernel_shape=[2, 2, 3], strides=[2, 1, 2], ceil_mode=1)),
          rand(1, 2, 5, 6, 7))


@pytest.mark.parametrize("attrs", POOL_CASES)
@pytest.mark.parametrize("include", [0, 1])
def test_average_pool(attrs, include):
    check(one_node("AveragePool", (2, 3, 10, 11), {**attrs, "count_include_pad": include}), rand(2, 3, 10, 11))


def test_average_pool_default_excludes_padding():
    x = np.ones((1, 1, 3, 3), dtype=np.float32)
    y = check(one_node("AveragePool", x.shape, dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])), x)
    assert np.all(y == 1)           # count_include_pad=0: the corners average 4 ones, not 4/9


def test_average_pool_1d_3d_and_dilation():
    check(one_node("AveragePool", (2, 2, 12), dict(kernel_shape=[3], strides=[2], pads=[1, 2])), rand(2, 2, 12))
    check(one_node("AveragePool", (1, 2, 6, 5, 7), dict(kernel_shape=[3, 2, 2], pads=[1, 0, 1, 1, 1, 0],
                                                         count_include_pad=1)), rand(1, 2, 6, 5, 7))
    check(one_node("AveragePool", (1, 2, 9, 9), dict(kernel_shape=[3, 3], dilations=[2, 2], pads=[1, 1, 1, 1]),
                   opset=19), rand(1, 2, 9, 9))


@pytest.mark.parametrize("attrs", [dict(kernel_shape=[3, 3]), dict(kernel_shape=[2, 3], strides=[2, 1], p=3,
                                                                      pads=[1, 0, 0, 2]),
                                   dict(kernel_shape=[2, 2], p=1, auto_pad="SAME_UPPER", strides=[2, 2])])
def test_lp_pool(attrs):
    check(one_node("LpPool", (2, 3, 8, 9), attrs), rand(2, 3, 8, 9))


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
def test_global_pools(op):
    check(one_node(op, (2, 3, 5, 7), {}), rand(2, 3, 5, 7))


CONV_CASES = [
    dict(),
    dict(strides=[2, 1], pads=[0, 1, 2, 0], dilations=[1, 2]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 3]),
    dict(auto_pad="VALID", strides=[3, 2]),
]


@pytest.mark.parametrize("attrs", CONV_CASES)
@pytest.mark.parametrize("group", [1, 2])
def test_conv(attrs, group):
    w, b = rand(6, 4 // group, 3, 4), rand(6)
    check(one_node("Conv", (2, 4, 11, 10), {**attrs, "group": group}, weights=[w, b]), rand(2, 4, 11, 10))


def test_conv_1d_3d_depthwise_no_bias():
    check(one_node("Conv", (2, 3, 15), dict(pads=[2, 0], strides=[2]), weights=[rand(5, 3, 4)]), rand(2, 3, 15))
    check(one_node("Conv", (1, 4, 6, 7, 5), dict(group=4, auto_pad="SAME_UPPER"), weights=[rand(4, 1, 2, 3, 3)]),
          rand(1, 4, 6, 7, 5))


TRANSPOSE_CASES = [
    dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
    dict(strides=[2, 3], pads=[0, 2, 1, 0]),
    dict(strides=[2, 2], output_shape=[13, 12]),
    dict(strides=[2, 2], output_shape=[14, 11]),                       # one past the full result: zeros + bias
    dict(strides=[2, 2], output_shape=[12, 13], auto_pad="SAME_UPPER"),
    dict(strides=[3, 1], kernel_shape=[1, 4], auto_pad="SAME_UPPER"),  # SAME never pads negatively
    dict(strides=[2, 1], auto_pad="SAME_UPPER"),
    dict(strides=[3, 2], auto_pad="SAME_LOWER", dilations=[1, 2]),
    dict(strides=[2, 2], pads=[1, 0, 0, 1], output_padding=[1, 0], dilations=[2, 1]),
]


@pytest.mark.parametrize("attrs", TRANSPOSE_CASES)
@pytest.mark.parametrize("group", [1, 2])
def test_conv_transpose(attrs, group):
    w, b = rand(4, 6 // group, *attrs.get("kernel_shape", (3, 4))), rand(6)
    check(one_node("ConvTranspose", (2, 4, 6, 5), {**attrs, "group": group}, weights=[w, b]), rand(2, 4, 6, 5))


def test_batch_norm_and_activations():
    c = 3
    weights = [RNG.uniform(0.5, 2, c), RNG.standard_normal(c), RNG.standard_normal(c), RNG.uniform(0.2, 3, c)]
    check(one_node("BatchNormalization", (2, c, 4, 5), dict(epsilon=1e-3),
                   weights=[w.astype(np.float32) for w in weights]), rand(2, c, 4, 5))
    x = rand(2, 3, 4, 5) * 5
    for op, attrs in [("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("LeakyRelu", {"alpha": 0.2}),
                      ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}),
                      ("Softmax", {}), ("Softmax", {"axis": 1}), ("Identity", {}), ("Dropout", {})]:
        check(one_node(op, x.shape, attrs), x)
    check(one_node("Softmax", x.shape, {"axis": 1}, opset=11), x)     # coerced to 2-D before opset 13
    check(one_node("Clip", x.shape, {}, weights=[np.float32(0), np.float32(6)]), x)
    check(one_node("Clip", x.shape, {}, weights=[None, np.float32(1)]), x)
    check(one_node("Clip", x.shape, {"min": -1.0, "max": 2.0}, opset=10), x)


def test_binary_gemm_matmul_and_layout_ops():
    x = rand(2, 3, 4, 5)
    for op in ("Add", "Sub", "Mul", "Div"):
        check(one_node(op, x.shape, {}, weights=[rand(3, 1, 1) + 3]), x)
    flat = rand(4, 6)
    check(one_node("Gemm", flat.shape, dict(transB=1, alpha=0.5, beta=2.0), weights=[rand(5, 6), rand(5)]), flat)
    check(one_node("Gemm", flat.shape, dict(transA=1), weights=[rand(4, 3)]), flat)
    check(one_node("MatMul", x.shape, {}, weights=[rand(5, 2)]), x)
    check(one_node("Flatten", x.shape, dict(axis=2)), x)
    check(one_node("Reshape", x.shape, {}, weights=[np.array([0, -1, 5], dtype=np.int64)]), x)
    check(one_node("Transpose", x.shape, dict(perm=[0, 2, 3, 1])), x)
    check(one_node("Concat", x.shape, dict(axis=1), weights=[rand(2, 2, 4, 5)]), x)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(mode):
    x = rand(1, 2, 5, 6)
    pads = np.array([0, 0, 2, -1, 0, 1, 1, 3], dtype=np.int64)
    weights = [pads, np.float32(1.5)] if mode == "constant" else [pads]
    check(one_node("Pad", x.shape, dict(mode=mode), weights=weights), x)
    check(one_node("Pad", x.shape, dict(mode=mode, pads=[0, 0, 1, 2, 0, 0, 2, 1]), opset=10), x)


RESIZE_CASES = [
    dict(coordinate_transformation_mode="asymmetric", nearest_mode="floor"),     # torch's nn.Upsample
    dict(),                                                                        # half_pixel, round_prefer_floor
    dict(coordinate_transformation_mode="align_corners", nearest_mode="round_prefer_ceil"),
    dict(coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="ceil"),
    dict(coordinate_transformation_mode="tf_half_pixel_for_nn"),
]


@pytest.mark.parametrize("attrs", RESIZE_CASES)
@pytest.mark.parametrize("scales", [[1, 1, 2, 3], [1, 1, 0.5, 1.5], None])
def test_resize_nearest(attrs, scales):
    x = rand(1, 2, 6, 7)
    if scales is None:
        weights = [None, None, np.array([1, 2, 9, 5], dtype=np.int64)]
    else:
        weights = [None, np.array(scales, dtype=np.float32)]
    check(one_node("Resize", x.shape, {**attrs, "mode": "nearest"}, weights=weights, opset=13), x)


def test_upsample_and_resize_opset10():
    x = rand(1, 2, 3, 4)
    check(one_node("Upsample", x.shape, dict(mode="nearest"), weights=[np.array([1, 1, 2, 2], np.float32)],
                   opset=9), x)
    check(one_node("Resize", x.shape, dict(mode="nearest"), weights=[np.array([1, 1, 2, 3], np.float32)],
                   opset=10), x)


def test_conv_transpose_output_shape_too_large_is_refused():
    model = one_node("ConvTranspose", (1, 4, 6, 5), dict(strides=[2, 2], output_shape=[16, 16]),
                     weights=[rand(4, 2, 3, 4)])
    with pytest.raises(ValueError, match="ConvTranspose node .*output_shape"):
        cwo.load(model)(rand(1, 4, 6, 5))


def test_float64_graph_against_torch():
    torch = pytest.importorskip("torch")
    x, w = RNG.standard_normal((1, 2, 6, 6)), RNG.standard_normal((3, 2, 3, 3))
    model = one_node("Conv", x.shape, dict(pads=[1, 0, 0, 1]), weights=[w], dtype=np.float64)
    ours = cwo.load(model)(x)
    reference = torch.nn.functional.conv2d(torch.nn.functional.pad(torch.from_numpy(x), (0, 1, 1, 0)),
                                           torch.from_numpy(w)).numpy()
    assert ours.dtype == np.float64 and rel_error(ours, reference) <= 1e-12


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceMax", "ReduceSum"])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reductions(op, keepdims):
    x = rand(2, 3, 4, 5)
    check(one_node(op, x.shape, {"keepdims": keepdims}, weights=[np.array([2, -1], dtype=np.int64)], opset=18), x)
    check(one_node(op, x.shape, {"keepdims": keepdims, "axes": [1]}, opset=13 if op != "ReduceSum" else 11), x)
    check(one_node(op, x.shape, {"keepdims": keepdims}), x)


@pytest.mark.parametrize("auto", ["SAME_UPPER", "SAME_LOWER"])
def test_dilated_same_padding_follows_the_standard(auto):
    """ONNX Runtime refuses (Conv) or ignores the dilation (pools) here; onnx's reference evaluator
    and shape inference follow the standard: output = ceil(input / stride)."""
    from onnx import shape_inference
    from onnx.reference import ReferenceEvaluator

    x = rand(1, 2, 9, 10)
    cases = [one_node("Conv", x.shape, {"auto_pad": auto, "strides": [2, 3], "dilations": [2, 1]},
                      weights=[rand(3, 2, 3, 4)])]
    if auto == "SAME_UPPER":  # the reference evaluator mis-sizes dilated SAME_LOWER pools
        cases.append(one_node("MaxPool", x.shape, {"auto_pad": auto, "kernel_shape": [3, 2], "strides": [2, 3],
                                                   "dilations": [2, 1]}))
    for model in cases:
        ours = cwo.load(model)(x)
        inferred = shape_inference.infer_shapes(model).graph.output[0].type.tensor_type.shape
        assert ours.shape == tuple(d.dim_value for d in inferred.dim) == (1, ours.shape[1], 5, 4)
        assert rel_error(ours, ReferenceEvaluator(model).run(None, {"x": x})[0]) <= 1e-5


def test_slice():
    x = rand(2, 3, 6, 7)
    starts, ends = np.array([1, -1, 0], np.int64), np.array([3, -100, 10**9], np.int64)
    axes, steps = np.array([1, 3, 2], np.int64), np.array([1, -2, 2], np.int64)
    check(one_node("Slice", x.shape, {}, weights=[starts, ends, axes, steps], opset=13), x)
    check(one_node("Slice", x.shape, {"starts": [0, 2], "ends": [1, 5], "axes": [0, 2]}, opset=9), x)


def _pool_attrs(draw, st, ndim: int):
    kernel = [draw(st.integers(1, 4)) for _ in range(ndim)]
    attrs = {"kernel_shape": kernel, "strides": [draw(st.integers(1, 3)) for _ in range(ndim)],
             "ceil_mode": draw(st.integers(0, 1))}
    if draw(st.booleans()):
        attrs["auto_pad"] = draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER", "VALID"]))
    else:
        attrs["pads"] = [draw(st.integers(0, k - 1)) for k in kernel] + [draw(st.integers(0, k - 1)) for k in kernel]
    return attrs


def _runtime_accepts(attrs, size) -> bool:
    """ONNX Runtime fails where SAME padding would be negative (a stride past the kernel); the
    standard pads 0 there, as convwise does (checked by the dilated SAME test above)."""
    if attrs.get("auto_pad") not in ("SAME_UPPER", "SAME_LOWER"):
        return True
    dilations = attrs.get("dilations", [1] * len(size))
    return all((-(-i // s) - 1) * s + d * (k - 1) + 1 - i >= 0
               for i, s, k, d in zip(size, attrs["strides"], attrs["kernel_shape"], dilations))


def test_random_pools_equal_onnxruntime():
    """Random kernels, strides, pads, auto_pad and ceil_mode (within what ONNX Runtime accepts)."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
    @hypothesis.given(st.data())
    def run(data):
        ndim = data.draw(st.integers(1, 2))
        op = data.draw(st.sampled_from(["MaxPool", "AveragePool", "LpPool"]))
        attrs = _pool_attrs(data.draw, st, ndim)
        if op == "AveragePool":
            attrs["count_include_pad"] = data.draw(st.integers(0, 1))
        if op == "LpPool":
            attrs.pop("ceil_mode")
        size = [data.draw(st.integers(k, 9)) for k in attrs["kernel_shape"]]
        hypothesis.assume(_runtime_accepts(attrs, size))
        x = rand(1, 2, *size)
        check(one_node(op, x.shape, attrs), x)

    run()


def test_random_convolutions_equal_onnxruntime():
    """Random Conv / ConvTranspose attributes, groups included."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
    @hypothesis.given(st.data())
    def run(data):
        op = data.draw(st.sampled_from(["Conv", "ConvTranspose"]))
        ndim = data.draw(st.integers(1, 2))
        group = data.draw(st.sampled_from([1, 2]))
        kernel = [data.draw(st.integers(1, 4)) for _ in range(ndim)]
        strides = [data.draw(st.integers(1, 3)) for _ in range(ndim)]
        attrs = {"group": group, "strides": strides}
        mode = data.draw(st.sampled_from(["pads", "SAME_UPPER", "SAME_LOWER", "VALID"]))
        if mode == "pads":
            attrs["pads"] = [data.draw(st.integers(0, k - 1)) for k in kernel * 2]
            attrs["dilations"] = [data.draw(st.integers(1, 2)) for _ in range(ndim)]
        else:
            attrs["auto_pad"] = mode
        if op == "ConvTranspose" and mode == "pads":
            attrs["output_padding"] = [data.draw(st.integers(0, s - 1)) for s in strides]
        dilations = attrs.get("dilations", [1] * ndim)
        size = [data.draw(st.integers(d * (k - 1) + 1, 9)) for k, d in zip(kernel, dilations)]
        hypothesis.assume(op == "ConvTranspose" or _runtime_accepts({**attrs, "kernel_shape": kernel}, size))
        c_in, c_out = 2 * group, 3 * group
        w = rand(c_out, c_in // group, *kernel) if op == "Conv" else rand(c_in, c_out // group, *kernel)
        x = rand(1, c_in, *size)
        check(one_node(op, x.shape, attrs, weights=[w, rand(c_out)]), x)

    run()


def test_more_elementwise_ops():
    x = rand(2, 3, 4, 5) * 3
    positive = np.abs(x) + 0.1
    for op, attrs, data in [("Elu", {}, x), ("Elu", {"alpha": 0.5}, x), ("Selu", {}, x), ("Softplus", {}, x),
                            ("Erf", {}, x), ("Exp", {}, x), ("Log", {}, positive), ("Sqrt", {}, positive),
                            ("Neg", {}, x), ("Abs", {}, x), ("Reciprocal", {}, positive),
                            ("LogSoftmax", {"axis": 1}, x), ("LogSoftmax", {}, x)]:
        check(one_node(op, data.shape, attrs), data)
    check(one_node("Gelu", x.shape, {}, opset=20), x)
    check(one_node("Gelu", x.shape, {"approximate": "tanh"}, opset=20), x)
    check(one_node("PRelu", x.shape, {}, weights=[rand(3, 1, 1)]), x)
    check(one_node("Pow", positive.shape, {}, weights=[np.float32(1.7)]), positive)
    for op in ("Max", "Min", "Sum", "Mean"):
        check(one_node(op, x.shape, {}, weights=[rand(3, 1, 1), rand(5)]), x)


def test_torch_gelu_and_silu_graphs():
    torch = pytest.importorskip("torch")
    import io
    import warnings

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GELU(), torch.nn.Conv2d(4, 4, 1), torch.nn.SiLU(),
                              torch.nn.Conv2d(4, 2, 1), torch.nn.ELU(), torch.nn.Softplus())
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.zeros(1, 3, 8, 8),), buffer, dynamo=False, opset_version=17)
    model = onnx_proto(buffer.getvalue())
    x = rand(1, 3, 8, 8)
    check(model, x)
