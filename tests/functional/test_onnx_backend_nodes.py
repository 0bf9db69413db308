"""The ONNX project's own backend node tests, run through convwise.functional (an independent check).

The ``onnx`` package ships the node test cases as Python generators
(``onnx.backend.test.case.node``; pip wheels leave out the ``data/node`` folder of
``.pb`` files, so the cases are built in memory by importing the op's case module, as
``collect_testcases`` does: the same ``model.onnx`` and input/output tensors the files
hold). Each case is one ONNX node; its attributes (``auto_pad``, ``pads``, ``strides``,
``dilations``, ``group``, ``ceil_mode``, ``count_include_pad``,
``output_shape``/``output_padding``, ``p``, ...) are mapped onto the matching convwise
function and the outputs compared.

Every case of the covered op types runs (:data:`NOT_RUN` would list exceptions with their
reasons; it is empty). Where ONNX goes beyond torch.nn.functional the case is mapped onto
convwise primitives: dilated average/Lp pooling as depthwise convolutions with a kernel of
ones, 3D col2im as a grouped transposed convolution. Op types outside convwise's scope
(quantised, deformable, RoI) are listed in :data:`OUT_OF_SCOPE` with their reasons.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import helper  # noqa: E402

import convwise.functional as cf  # noqa: E402

OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
       "MaxUnpool", "Pad", "Col2Im")

#: op types whose node tests are not run: outside convwise's scope
OUT_OF_SCOPE = {
    "ConvInteger": "quantised (integer) convolution with zero points",
    "QLinearConv": "quantised convolution (scales and zero points)",
    "DeformConv": "deformable convolution (learned sampling offsets)",
    "MaxRoiPool": "region-of-interest pooling",
    "RoiAlign": "region-of-interest pooling",
    "CausalConvWithState": "a stateful streaming op composed of Pad/Conv/Slice, not a torch.nn.functional op",
}

#: cases of the covered op types that are not run, with the reason (none: every case runs)
NOT_RUN: dict[str, str] = {}

#: cases whose expected values are written out rounded (to 4 decimals): the tolerance that rounding needs
ROUNDED = {"test_averagepool_2d_ceil_last_window_starts_on_pad": 1e-3}


def _collect():
    """The node cases of :data:`OPS`: importing a case module runs its exports, which register the cases."""
    import importlib

    from onnx.backend.test.case import node as node_cases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for module in ("conv", "convtranspose", "maxpool", "averagepool", "globalaveragepool", "globalmaxpool",
                       "lppool", "maxunpool", "pad", "col2im"):
            importlib.import_module(f"onnx.backend.test.case.node.{module}")
    seen, result = set(), []
    for case in node_cases._NodeTestCases:
        nodes = case.model.graph.node
        if case.name in seen or len(nodes) != 1 or nodes[0].op_type not in OPS:
            continue
        seen.add(case.name)
        result.append(case)
    return result


CASES = _collect()


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _auto_pads(auto_pad: str, sizes, kernel, strides, dilations, *, pooling_ceil=False):
    """(lo, hi) pairs of ONNX's auto_pad for each spatial dimension (None for NOTSET)."""
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", ""):
        return None
    if auto_pad == "VALID":
        return tuple((0, 0) for _ in sizes)
    pairs = []
    for i, k, s, d in zip(sizes, kernel, strides, dilations):
        out = -(-i // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - i, 0)
        small, large = total // 2, total - total // 2
        pairs.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return tuple(pairs)


def _window_args(node, x, default_kernel=None):
    attrs = _attrs(node)
    spatial = x.ndim - 2
    kernel = tuple(attrs.get("kernel_shape", default_kernel))
    strides = tuple(attrs.get("strides", (1,) * spatial))
    dilations = tuple(attrs.get("dilations", (1,) * spatial))
    pads = attrs.get("pads", (0,) * (2 * spatial))
    pairs = tuple((pads[i], pads[i + spatial]) for i in range(spatial))
    auto = _auto_pads(attrs.get("auto_pad", "NOTSET"), x.shape[2:], kernel, strides, dilations)
    return attrs, kernel, strides, dilations, auto if auto is not None else pairs


def _conv(node, x, w, b=None):
    attrs, kernel, strides, dilations, pairs = _window_args(node, x, w.shape[2:])
    fn = getattr(cf, f"conv{x.ndim - 2}d")
    return [fn(x, w, b, strides, pairs, dilations, attrs.get("group", 1))]


def _conv_transpose(node, x, w, b=None):
    attrs = _attrs(node)
    spatial = x.ndim - 2
    kernel = tuple(attrs.get("kernel_shape", w.shape[2:]))
    strides = tuple(attrs.get("strides", (1,) * spatial))
    dilations = tuple(attrs.get("dilations", (1,) * spatial))
    output_padding = tuple(attrs.get("output_padding", (0,) * spatial))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    full = [s * (i - 1) + op + (k - 1) * d + 1 for i, s, op, k, d in zip(x.shape[2:], strides, output_padding, kernel,
                                                                         dilations)]
    if "output_shape" in attrs or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        shape = attrs.get("output_shape", [i * s for i, s in zip(x.shape[2:], strides)])[-spatial:]
        pairs = []
        for f, o in zip(full, shape):
            total = f - o
            half = total // 2
            pairs.append((half, total - half) if auto_pad == "SAME_UPPER" else (total - half, half))
    else:
        pads = attrs.get("pads", (0,) * (2 * spatial))
        pairs = [(pads[i], pads[i + spatial]) for i in range(spatial)]
    fn = getattr(cf, f"conv_transpose{spatial}d")
    y = fn(x, w, None, strides, 0, 0, attrs.get("group", 1), dilations)     # the full output, then pad/crop
    # output_padding and negative pads (an output_shape larger than the full output) add zeros
    y = np.pad(y, [(0, 0), (0, 0)] + [(max(-lo, 0), op + max(-hi, 0)) for op, (lo, hi) in zip(output_padding, pairs)])
    y = y[(Ellipsis,) + tuple(slice(max(lo, 0), max(lo, 0) + f - lo - hi) for (lo, hi), f in zip(pairs, full))]
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * spatial)
    return [y]


def _max_pool(node, x):
    attrs, kernel, strides, dilations, pairs = _window_args(node, x)
    spatial = x.ndim - 2
    fn = getattr(cf, f"max_pool{spatial}d")
    y, index = fn(x, kernel, strides, pairs, dilations, bool(attrs.get("ceil_mode", 0)), True)
    if attrs.get("storage_order", 0) == 1:        # column-major positions in each plane
        index = np.ravel_multi_index(np.unravel_index(index, x.shape[2:]), x.shape[2:], order="F")
    plane = math.prod(x.shape[2:])
    offsets = np.arange(x.shape[0] * x.shape[1], dtype=np.int64).reshape(x.shape[:2] + (1,) * spatial) * plane
    return [y, index + offsets]          # ONNX indices count over the whole tensor


def _pool_by_conv(x, kernel, strides, dilations, pairs, ceil_mode, count_include_pad, p=None):
    """Dilated average (or Lp) pooling, which torch's pooling lacks, as depthwise convolutions.

    The window sums are ``conv(x, ones)``; the divisor is the same convolution of a mask of
    ones over the cells that count (the padded input, or the input only). Output sizes
    follow the pooling rule, with ``ceil_mode``'s last window dropped when it starts past
    the input and left padding.
    """
    spatial, channels = x.ndim - 2, x.shape[1]
    out, his = [], []
    for i, k, s, d, (lo, hi) in zip(x.shape[2:], kernel, strides, dilations, pairs):
        span = i + lo + hi - (k - 1) * d - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= i + lo:
            o -= 1
        out.append(o)
        his.append(max(hi, (o - 1) * s + (k - 1) * d + 1 - i - lo))
    conv = getattr(cf, f"conv{spatial}d")
    ones = np.ones((channels, 1) + tuple(kernel), x.dtype)
    crop = (Ellipsis,) + tuple(slice(0, o) for o in out)
    extended = tuple((lo, h) for (lo, _), h in zip(pairs, his))
    values = x if p is None else np.abs(x) ** x.dtype.type(p)
    total = conv(values, ones, None, strides, extended, dilations, channels)[crop]
    if p is not None:
        return total ** x.dtype.type(1.0 / p)
    if count_include_pad:
        mask = np.pad(np.ones_like(x), [(0, 0), (0, 0)] + list(pairs))
        extra = tuple((0, h - hi) for (_, hi), h in zip(pairs, his))
        divisor = conv(mask, ones, None, strides, extra, dilations, channels)[crop]
    else:
        divisor = conv(np.ones_like(x), ones, None, strides, extended, dilations, channels)[crop]
    return total / np.maximum(divisor, 1)


def _avg_pool(node, x):
    attrs, kernel, strides, dilations, pairs = _window_args(node, x)
    spatial = x.ndim - 2
    if any(d != 1 for d in dilations):
        return [_pool_by_conv(x, kernel, strides, dilations, pairs, bool(attrs.get("ceil_mode", 0)),
                              bool(attrs.get("count_include_pad", 0)))]
    fn = getattr(cf, f"avg_pool{spatial}d")
    return [fn(x, kernel, strides, pairs, bool(attrs.get("ceil_mode", 0)), bool(attrs.get("count_include_pad", 0)))]


def _lp_pool(node, x):
    attrs, kernel, strides, dilations, pairs = _window_args(node, x)
    spatial = x.ndim - 2
    if any(d != 1 for d in dilations):
        return [_pool_by_conv(x, kernel, strides, dilations, pairs, bool(attrs.get("ceil_mode", 0)), True,
                              p=float(attrs.get("p", 2)))]
    flat = tuple(v for lo, hi in reversed(pairs) for v in (lo, hi))
    padded = cf.pad(np.abs(x), flat)           # ONNX: (sum |x|**p) ** (1/p); zero padding adds nothing
    fn = getattr(cf, f"lp_pool{spatial}d")
    kernel_arg = kernel[0] if spatial == 1 else kernel
    stride_arg = strides[0] if spatial == 1 else strides
    return [fn(padded, float(attrs.get("p", 2)), kernel_arg, stride_arg, bool(attrs.get("ceil_mode", 0)))]


def _max_unpool(node, x, indices, output_shape=None):
    attrs = _attrs(node)
    spatial = x.ndim - 2
    kernel = tuple(attrs["kernel_shape"])
    strides = tuple(attrs.get("strides", (1,) * spatial))
    pads = attrs.get("pads", (0,) * (2 * spatial))
    padding = tuple(pads[:spatial])
    size = tuple((i - 1) * s + k - 2 * p for i, s, k, p in zip(x.shape[2:], strides, kernel, padding))
    plane = math.prod(size)
    offsets = np.arange(x.shape[0] * x.shape[1], dtype=np.int64).reshape(x.shape[:2] + (1,) * spatial) * plane
    fn = getattr(cf, f"max_unpool{spatial}d")
    y = fn(x, indices - offsets, kernel, strides, padding)
    if output_shape is not None:
        # ONNX: indices address the default-size output, which is then padded at the end to output_shape
        # (torch's output_size instead re-addresses the indices in the larger plane)
        y = np.pad(y, [(0, 0), (0, 0)] + [(0, int(o) - d) for o, d in zip(output_shape[2:], size)])
    return [y]


def _pad(node, data, pads, constant_value=None, axes=None):
    attrs = _attrs(node)
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    mode = {"edge": "replicate", "wrap": "circular"}.get(mode, mode)
    axes = list(range(data.ndim)) if axes is None else [int(a) % data.ndim for a in axes]
    count = len(axes)
    per_axis = {a: (int(pads[i]), int(pads[i + count])) for i, a in enumerate(axes)}
    first = min(per_axis) if mode == "constant" else data.ndim - 3 if data.ndim > 3 else min(per_axis)
    flat = []
    for axis in range(data.ndim - 1, first - 1, -1):
        flat.extend(per_axis.get(axis, (0, 0)))
    value = 0.0 if constant_value is None or constant_value.size == 0 else constant_value.item()
    if mode != "constant":
        while len(flat) > 2 and flat[-2:] == [0, 0]:      # pad only the trailing dimensions that change
            flat = flat[:-2]
        return [cf.pad(data, tuple(flat), mode)]
    return [cf.pad(data, tuple(flat), "constant", value)]


def _col2im_by_transpose(x, image, block, dilations, pads, strides):
    """N-dimensional col2im (torch's fold is 2D) as a grouped transposed convolution.

    Column row ``c * K + j`` holds kernel cell ``j`` of channel ``c``; a one-hot kernel per
    row sends it back to cell ``j`` of its window, and ``groups=C`` keeps channels apart.
    """
    n = len(image)
    volume = math.prod(block)
    channels = x.shape[1] // volume
    grid = [(i + pads[d] + pads[d + n] - dil * (k - 1) - 1) // s + 1
            for d, (i, k, dil, s) in enumerate(zip(image, block, dilations, strides))]
    weight = np.eye(volume, dtype=x.dtype).reshape((volume, 1) + tuple(block))
    weight = np.tile(weight, (channels, 1) + (1,) * n)
    y = getattr(cf, f"conv_transpose{n}d")(x.reshape(x.shape[:2] + tuple(grid)), weight, None, tuple(strides), 0, 0,
                                           channels, tuple(dilations))
    full = y.shape[2:]
    y = np.pad(y, [(0, 0), (0, 0)] + [(0, max(0, pads[d] + i - f)) for d, (i, f) in enumerate(zip(image, full))])
    return y[(Ellipsis,) + tuple(slice(pads[d], pads[d] + i) for d, i in enumerate(image))]


def _col2im(node, x, image_shape, block_shape):
    attrs = _attrs(node)
    n = len(image_shape)
    if n != 2:
        return [_col2im_by_transpose(x, [int(v) for v in image_shape], [int(v) for v in block_shape],
                                     attrs.get("dilations", (1,) * n), attrs.get("pads", (0,) * (2 * n)),
                                     attrs.get("strides", (1,) * n))]
    pads = attrs.get("pads", (0, 0, 0, 0))
    if pads[0] != pads[2] or pads[1] != pads[3]:
        pytest.fail("asymmetric col2im padding is not supported by fold")
    return [cf.fold(x, tuple(int(v) for v in image_shape), tuple(int(v) for v in block_shape),
                    tuple(attrs.get("dilations", (1, 1))), tuple(pads[:2]), tuple(attrs.get("strides", (1, 1))))]


RUNNERS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _max_pool, "AveragePool": _avg_pool,
    "GlobalAveragePool": lambda node, x: [cf.adaptive_avg_pool2d(x, 1) if x.ndim == 4 else
                                          getattr(cf, f"adaptive_avg_pool{x.ndim - 2}d")(x, 1)],
    "GlobalMaxPool": lambda node, x: [getattr(cf, f"adaptive_max_pool{x.ndim - 2}d")(x, 1)],
    "LpPool": _lp_pool, "MaxUnpool": _max_unpool, "Pad": _pad, "Col2Im": _col2im,
}


def test_the_onnx_cases_were_found():
    ops = {case.model.graph.node[0].op_type for case in CASES}
    assert ops == set(OPS), set(OPS) - ops
    assert len(CASES) >= 80
    names = {case.name for case in CASES}
    assert set(NOT_RUN) <= names, set(NOT_RUN) - names


def test_col2im_by_transpose_agrees_with_fold():
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((2, 3 * 6, 5 * 2))
    ours = _col2im_by_transpose(cols, [5, 6], [2, 3], [2, 1], [1, 0, 1, 0], [1, 2])
    assert np.allclose(ours, cf.fold(cols, (5, 6), (2, 3), (2, 1), (1, 0), (1, 2)))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_onnx_node_case(case):
    if case.name in NOT_RUN:
        pytest.skip(NOT_RUN[case.name])
    node = case.model.graph.node[0]
    graph_inputs = [i.name for i in case.model.graph.input]
    for inputs, expected in case.data_sets:
        named = dict(zip(graph_inputs, inputs))
        args = [named.get(name) if name else None for name in node.input]
        while args and args[-1] is None:
            args.pop()
        outputs = RUNNERS[node.op_type](node, *args)
        for ours, reference in zip(outputs, expected):
            reference = np.asarray(reference)
            assert ours.shape == reference.shape, (ours.shape, reference.shape)
            if reference.dtype.kind in "iub":
                assert ours.dtype == reference.dtype and np.array_equal(ours, reference)
            else:
                np.testing.assert_allclose(ours, reference, rtol=ROUNDED.get(case.name, 1e-4), atol=1e-5)
