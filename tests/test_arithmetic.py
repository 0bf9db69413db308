"""convwise.arithmetic against PyTorch 2.13 and against its defining properties.

Every size is compared with the shape torch produces for the same configuration, and
every configuration torch rejects must be rejected here with ValueError/TypeError. The
configurations are drawn so that a fair share of them is invalid. Parameter and MAC
counts are checked against torch modules and output sizes; receptive fields against a
brute-force oracle (the support of the gradient of one output through a chain of
ones-weight convolutions), never against a copy of the formula.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convwise import arithmetic as ar

MANY = settings(max_examples=500, deadline=None)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
CONV_MODULE = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
CONV_T_MODULE = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}


def zeros(*shape):
    # float64: torch's float32 oneDNN path for strided 2-D/3-D transposed convolution accepts an
    # output size of 0 (returning an empty tensor) where its float64 path, and 1-D in any dtype,
    # reject it; arithmetic is dtype-independent and follows the checked paths.
    return torch.zeros(*shape, dtype=torch.float64)


def torch_spatial(call):
    """Spatial output shape of a torch call, or None when torch rejects the configuration."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'same' with even kernels warns about a padded copy
        try:
            out = call()
        except (RuntimeError, ValueError, TypeError):
            return None
    if isinstance(out, tuple):
        out = out[0]
    return tuple(out.shape[2:])


def ours(call, fn):
    """Our output size, or None when rejected; a rejection must be a ValueError/TypeError naming ``fn``."""
    try:
        return tuple(call())
    except (ValueError, TypeError) as error:
        assert str(error).startswith(f"{fn}:"), str(error)
        return None


@st.composite
def spatial(draw, ndim, *, low=1):
    high = 8 if ndim == 3 else 20
    return tuple(draw(st.integers(low, high)) for _ in range(ndim))


def per_dim(ndim, elements):
    """An int or an ndim-tuple drawn from ``elements``."""
    return st.one_of(elements, st.tuples(*[elements] * ndim))


def as_tuple(value, ndim):
    return tuple(value) if isinstance(value, tuple) else (value,) * ndim


# --------------------------------------------------------------------------- sizes vs torch


@st.composite
def conv_cases(draw):
    ndim = draw(st.integers(1, 3))
    size = draw(spatial(ndim))
    kmax = 4 if ndim == 3 else 6
    kernel = draw(per_dim(ndim, st.integers(1, kmax)))
    stride = draw(per_dim(ndim, st.integers(1, 3)))
    dilation = draw(per_dim(ndim, st.integers(1, 3)))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]), per_dim(ndim, st.integers(0, 4))))
    return ndim, size, kernel, stride, padding, dilation


@MANY
@given(conv_cases())
def test_conv_size_matches_torch(case):
    ndim, size, kernel, stride, padding, dilation = case
    fn = f"conv{ndim}d"
    expected = torch_spatial(lambda: CONV[ndim](zeros(1, 1, *size), zeros(1, 1, *as_tuple(kernel, ndim)),
                                                stride=stride, padding=padding, dilation=dilation))
    got = ours(lambda: ar.conv_output_size(size, kernel, stride, padding, dilation, fn=fn), fn)
    assert got == expected, (case, got, expected)


@st.composite
def transpose_cases(draw):
    ndim = draw(st.integers(1, 3))
    size = draw(spatial(ndim))
    kernel = draw(per_dim(ndim, st.integers(1, 4 if ndim == 3 else 5)))
    stride = draw(per_dim(ndim, st.integers(1, 4)))
    dilation = draw(per_dim(ndim, st.integers(1, 3)))
    padding = draw(per_dim(ndim, st.integers(0, 4)))
    output_padding = draw(per_dim(ndim, st.integers(0, 4)))
    return ndim, size, kernel, stride, padding, output_padding, dilation


@MANY
@given(transpose_cases())
def test_conv_transpose_size_matches_torch(case):
    ndim, size, kernel, stride, padding, output_padding, dilation = case
    fn = f"conv_transpose{ndim}d"
    expected = torch_spatial(lambda: CONV_T[ndim](
        zeros(1, 1, *size), zeros(1, 1, *as_tuple(kernel, ndim)), stride=stride, padding=padding,
        output_padding=output_padding, dilation=dilation))
    got = ours(lambda: ar.conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation,
                                                     fn=fn), fn)
    assert got == expected, (case, got, expected)


@st.composite
def pool_cases(draw, *, dilated):
    ndim = draw(st.integers(1, 3))
    size = draw(spatial(ndim))
    kernel = draw(per_dim(ndim, st.integers(1, 5)))
    stride = draw(st.one_of(st.none(), per_dim(ndim, st.integers(1, 4))))
    padding = draw(per_dim(ndim, st.integers(0, 3)))
    dilation = draw(per_dim(ndim, st.integers(1, 3))) if dilated else 1
    ceil_mode = draw(st.booleans())
    return ndim, size, kernel, stride, padding, dilation, ceil_mode


@MANY
@given(pool_cases(dilated=True))
def test_max_pool_size_matches_torch(case):
    ndim, size, kernel, stride, padding, dilation, ceil_mode = case
    fn = f"max_pool{ndim}d"
    expected = torch_spatial(lambda: MAX_POOL[ndim](zeros(1, 1, *size), kernel, stride, padding, dilation,
                                                    ceil_mode))
    got = ours(lambda: ar.pool_output_size(size, kernel, stride, padding, dilation, ceil_mode, fn=fn), fn)
    assert got == expected, (case, got, expected)


@MANY
@given(pool_cases(dilated=False))
def test_avg_pool_size_matches_torch(case):
    ndim, size, kernel, stride, padding, _dilation, ceil_mode = case
    fn = f"avg_pool{ndim}d"
    expected = torch_spatial(lambda: AVG_POOL[ndim](zeros(1, 1, *size), kernel, stride, padding, ceil_mode))
    got = ours(lambda: ar.pool_output_size(size, kernel, stride, padding, 1, ceil_mode, fn=fn), fn)
    assert got == expected, (case, got, expected)


# --------------------------------------------------------------------------- channels, params, MACs vs torch


@st.composite
def channel_cases(draw):
    ndim = draw(st.integers(1, 3))
    in_channels = draw(st.integers(1, 6))
    out_channels = draw(st.integers(1, 6))
    groups = draw(st.integers(1, 4))
    kernel = draw(per_dim(ndim, st.integers(1, 3)))
    bias = draw(st.booleans())
    return ndim, in_channels, out_channels, groups, kernel, bias


@MANY
@given(channel_cases(), st.booleans())
def test_params_and_group_check_match_torch_modules(case, transposed):
    ndim, cin, cout, groups, kernel, bias = case
    module = (CONV_T_MODULE if transposed else CONV_MODULE)[ndim]
    try:
        layer = module(cin, cout, kernel, groups=groups, bias=bias)
    except ValueError:
        layer = None
    fn = f"conv{ndim}d"
    try:
        params = ar.conv_params(cin, cout, kernel, groups, bias, fn=fn, ndim=ndim)
    except ValueError as error:
        assert layer is None, (case, error)
        assert str(error).startswith(f"{fn}: groups={groups} must divide ")
        return
    assert layer is not None, case
    assert params == sum(p.numel() for p in layer.parameters())


@MANY
@given(channel_cases(), st.integers(1, 2), st.data())
def test_conv_macs_match_torch_output(case, batch, data):
    ndim, cin, cout, groups, kernel, _bias = case
    assume(cin % groups == 0 and cout % groups == 0)
    kernel = as_tuple(kernel, ndim)
    size = data.draw(spatial(ndim, low=3))
    stride = data.draw(st.integers(1, 2))
    out = CONV[ndim](zeros(batch, cin, *size), zeros(cout, cin // groups, *kernel), stride=stride,
                     groups=groups)
    expected = out.numel() * (cin // groups) * math.prod(kernel)  # one MAC per tap per output element
    output_size = ar.conv_output_size(size, kernel, stride)
    assert ar.conv_macs(cin, cout, kernel, output_size, groups, batch) == expected


@MANY
@given(channel_cases(), st.integers(1, 2), st.data())
def test_conv_transpose_macs_counted_on_input(case, batch, data):
    ndim, cin, cout, groups, kernel, _bias = case
    assume(cin % groups == 0 and cout % groups == 0)
    kernel = as_tuple(kernel, ndim)
    size = data.draw(spatial(ndim))
    stride = data.draw(st.integers(1, 3))
    x = zeros(batch, cin, *size)
    weight = zeros(cin, cout // groups, *kernel)
    out = CONV_T[ndim](x, weight, stride=stride, groups=groups)
    assert tuple(out.shape[2:]) == ar.conv_transpose_output_size(size, kernel, stride)
    # every input element is scattered through each tap of its C_out/groups kernels
    expected = x.numel() * (cout // groups) * math.prod(kernel)
    assert ar.conv_transpose_macs(cin, cout, kernel, size, groups, batch) == expected


# --------------------------------------------------------------------------- receptive field vs brute force


LENGTH = 400  # long enough that the two middle outputs' fields lie well inside the input


def receptive_oracle(layers):
    """(size, jump, start) after ``layers``, measured on the gradient of two middle outputs.

    Every layer becomes a ones-weight convolution (a pooling window is one with stride =
    kernel), so the gradient of an output is positive exactly on the input cells it reads;
    the ends of that support are the ends of its receptive field.
    """
    x = torch.zeros(LENGTH, dtype=torch.float64, requires_grad=True)
    y = x.reshape(1, 1, LENGTH)
    for layer in layers:
        k, d = layer["kernel_size"], layer.get("dilation", 1)
        s = layer.get("stride", 1)
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=k if s is None else s,
                     padding=layer.get("padding", 0), dilation=d)
    y = y.flatten()
    assert y.numel() >= 2, "LENGTH too small for this chain"
    first = y.numel() // 2 - 1
    supports = []
    for j in (first, first + 1):
        (gradient,) = torch.autograd.grad(y[j], x, retain_graph=True)
        cells = torch.nonzero(gradient).flatten().tolist()
        assert 0 < cells[0] and cells[-1] < LENGTH - 1, "field clipped: LENGTH too small for this chain"
        supports.append((cells[0], cells[-1]))
    (lo0, hi0), (lo1, _hi1) = supports
    jump = lo1 - lo0
    return hi0 - lo0 + 1, jump, (lo0 + hi0) / 2 - first * jump


@st.composite
def layer_chains(draw):
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "same", "pool"]))
        kernel = draw(st.integers(1, 4))
        if kind == "pool":
            layers.append({"kernel_size": kernel, "stride": None, "padding": draw(st.integers(0, kernel // 2))})
        elif kind == "same":
            layers.append({"kernel_size": kernel, "padding": "same", "dilation": draw(st.integers(1, 2))})
        else:
            layers.append({"kernel_size": kernel, "stride": draw(st.integers(1, 2)),
                           "padding": draw(st.integers(0, 2)), "dilation": draw(st.integers(1, 2))})
    return layers


@MANY
@given(layer_chains())
def test_receptive_field_matches_gradient_support(layers):
    fields = ar.receptive_field(layers, ndim=1)
    assert len(fields) == len(layers)
    for depth in range(1, len(layers) + 1):
        size, jump, start = measured = receptive_oracle(layers[:depth])
        field = fields[depth - 1]
        assert (field.size, field.jump, field.start) == ((size,), (jump,), (start,)), (layers[:depth], measured)


def test_receptive_field_is_per_dimension():
    layers = [{"kernel_size": (3, 5), "stride": (1, 2), "padding": (1, 0), "dilation": (2, 1)},
              {"kernel_size": 2, "stride": None}]
    both = ar.receptive_field(layers, ndim=2)
    for dim in range(2):
        one = ar.receptive_field([{key: (value[dim] if isinstance(value, tuple) else value)
                                   for key, value in layer.items()} for layer in layers], ndim=1)
        assert [f.size[dim] for f in both] == [f.size[0] for f in one]
        assert [f.jump[dim] for f in both] == [f.jump[0] for f in one]
        assert [f.start[dim] for f in both] == [f.start[0] for f in one]


def test_receptive_field_rejects_transposed_layer():
    with pytest.raises(ValueError, match=r"^receptive_field: layer 1 is a transposed convolution"):
        ar.receptive_field([{"kernel_size": 3}, {"kernel_size": 3, "transposed": True}], ndim=1)


# --------------------------------------------------------------------------- defining properties


@MANY
@given(st.integers(1, 60), st.integers(1, 9), st.integers(1, 6), st.integers(0, 5), st.integers(0, 5),
       st.integers(1, 4))
def test_conv_defining_inequality(i, k, s, lo, hi, d):
    k_eff = d * (k - 1) + 1
    padded = i + lo + hi
    if k_eff > padded:
        with pytest.raises(ValueError, match=rf"effective kernel size {k_eff} exceeds padded input size {padded}"):
            ar.conv_output_size(i, k, s, ((lo, hi),), d)
        return
    (out,) = ar.conv_output_size(i, k, s, ((lo, hi),), d)
    # the last window fits, and one more would not
    assert (out - 1) * s + k_eff <= padded < out * s + k_eff


@MANY
@given(st.integers(1, 60), st.integers(1, 9), st.integers(1, 6), st.integers(0, 4), st.integers(1, 4),
       st.booleans())
def test_pool_defining_inequality(i, k, s, p, d, ceil_mode):
    assume(p <= k // 2)
    k_eff = d * (k - 1) + 1
    padded = i + 2 * p
    accepted = padded - k_eff > -s if ceil_mode else padded >= k_eff
    if not accepted:
        with pytest.raises(ValueError, match=r"output size -?\d+ is too small"):
            ar.pool_output_size(i, k, s, p, d, ceil_mode)
        return
    (out,) = ar.pool_output_size(i, k, s, p, d, ceil_mode)
    if not ceil_mode:
        assert (out - 1) * s + k_eff <= padded < out * s + k_eff
        return
    # ceil mode: every window starts inside the input or its left padding ...
    assert (out - 1) * s < i + p
    # ... each window but the last falls short of the padded end (else the last would be redundant) ...
    assert out == 1 or (out - 2) * s + k_eff < padded
    # ... and there is no room for another: it would start in the right padding, or the last reaches the end
    assert out * s >= i + p or (out - 1) * s + k_eff >= padded
    floor_out = (padded - k_eff) // s + 1
    assert out in (floor_out, floor_out + 1)


@MANY
@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 5), st.integers(0, 4), st.integers(0, 4),
       st.integers(1, 3))
def test_transposed_conv_inverts_the_forward_size(i, k, s, p, op, d):
    assume(op < s)  # with s <= op < dilation, the forward conv no longer lands on i
    try:
        geometry = ar.conv_transpose_geometry(i, k, s, p, op, d)
    except ValueError as error:
        assert "output size" in str(error) and "too small" in str(error)
        assert (i - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1
        return
    (out,) = geometry.output_size
    # the transposed conv is the input gradient of the conv mapping out -> i; op is that conv's leftover
    assert ar.conv_output_size(out, k, s, p, d) == (i,)
    assert out + 2 * p - (d * (k - 1) + 1) - (i - 1) * s == op
    assert geometry.forward.output_size == (i,)


def _windows_union(geometry):
    """Brute force: per dimension, the set of input cells some kernel tap reads."""
    result = []
    for dim in range(geometry.ndim):
        size = geometry.input_size[dim]
        cells = set()
        for j in range(geometry.output_size[dim]):
            start = geometry.window_start(dim, j)
            cells |= {start + t * geometry.dilation[dim] for t in range(geometry.kernel_size[dim])}
        result.append({c for c in cells if 0 <= c < size})
    return result


@st.composite
def any_window_geometry(draw):
    ndim = draw(st.integers(1, 2))
    size = draw(spatial(ndim))
    kernel = draw(per_dim(ndim, st.integers(1, 5)))
    stride = draw(per_dim(ndim, st.integers(1, 7)))
    dilation = draw(per_dim(ndim, st.integers(1, 3)))
    try:
        if draw(st.booleans()):
            padding = draw(st.one_of(per_dim(ndim, st.integers(0, 3)),
                                     st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3))] * ndim)))
            return ar.conv_geometry(size, kernel, stride, padding, dilation)
        kernel = as_tuple(kernel, ndim)
        padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
        return ar.pool_geometry(size, kernel, stride, padding, dilation, draw(st.booleans()))
    except ValueError:
        assume(False)


@MANY
@given(any_window_geometry())
def test_uncovered_is_the_complement_of_the_union_of_windows(geometry):
    unions = _windows_union(geometry)
    cells = ar.uncovered_cells(geometry)
    trailing = ar.uncovered_input(geometry)
    for dim, union in enumerate(unions):
        everything = set(range(geometry.input_size[dim]))
        assert set(cells[dim]) == everything - union
        assert list(cells[dim]) == sorted(cells[dim])
        # uncovered_input: exactly the cells past the last tap of the last window
        last = max(union) if union else -1
        last_window = geometry.window_start(dim, geometry.output_size[dim] - 1) \
            + geometry.dilation[dim] * (geometry.kernel_size[dim] - 1)
        assert set(trailing[dim]) == {x for x in everything if x > max(last, last_window)}
        assert set(trailing[dim]) <= set(cells[dim])


# --------------------------------------------------------------------------- worked examples


def test_worked_examples():
    assert ar.conv_output_size(227, kernel_size=11, stride=4) == (55,)
    assert ar.conv_output_size((7, 7), kernel_size=3, stride=2, padding=1, dilation=2) == (3, 3)
    assert ar.resolve_padding("same", kernel_size=4) == ((1, 2),)
    # the chain 1x28x28 -> conv 5x5 to 5 channels -> 2x2 max pool
    conv = ar.conv_output_size((28, 28), 5)
    pool = ar.pool_output_size(conv, 2)
    assert (conv, pool) == ((24, 24), (12, 12))
    assert ar.conv_params(1, 5, (5, 5)) == 5 * 25 + 5


def test_same_padding_even_kernel_matches_torch():
    x = torch.arange(36.0, dtype=torch.float64).reshape(1, 1, 6, 6)
    w = torch.arange(1.0, 17.0, dtype=torch.float64).reshape(1, 1, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = F.conv2d(x, w, padding="same")
    ((top, bottom), (left, right)) = ar.resolve_padding("same", (4, 4), ndim=2)
    assert ((top, bottom), (left, right)) == ((1, 2), (1, 2))
    explicit = F.conv2d(F.pad(x, (left, right, top, bottom)), w)  # torch puts the extra cell on the high side
    assert torch.equal(explicit, expected)
    assert ar.conv_output_size((6, 6), 4, padding="same") == tuple(expected.shape[2:])


def test_explain_substitutes_the_numbers():
    (line,) = ar.explain(ar.conv_geometry(227, 11, 4))
    assert "floor((227 + 0 + 0 - 1*(11-1) - 1) / 4) + 1" in line and line.endswith("= 55")
    (line,) = ar.explain(ar.pool_geometry(5, 2, ceil_mode=True))
    assert "ceil(" in line and line.endswith("= 3")
    (line,) = ar.explain(ar.conv_transpose_geometry(28, 4, 2, 1))
    assert "(28 - 1)*2 - 1 - 1 + 1*(4-1) + 0 + 1 = 56" in line


# --------------------------------------------------------------------------- error messages


def test_transposed_output_size_zero_is_rejected():
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.conv_transpose2d(zeros(1, 1, 2, 2), zeros(1, 1, 4, 4), stride=2, padding=3)
    with pytest.raises(ValueError, match=r"^conv_transpose2d: output size 0 is too small"):
        ar.conv_transpose_output_size((2, 2), 4, 2, 3, fn="conv_transpose2d")


@pytest.mark.parametrize("call, error, words", [
    (lambda: ar.check_channels(4, 4, 3, fn="conv2d"), ValueError, "conv2d: groups=3 must divide in_channels=4"),
    (lambda: ar.check_channels(3, 4, 3, fn="conv2d"), ValueError, "conv2d: groups=3 must divide out_channels=4"),
    (lambda: ar.check_channels(4, 4, 0, fn="conv2d"), ValueError, "conv2d: groups must be positive, got groups=0"),
    (lambda: ar.check_channels(4.0, 4, 1, fn="conv2d"), TypeError, "conv2d: in_channels must be an int"),
    (lambda: ar.conv_output_size((7,), 3, dilation=4, padding=0, fn="conv1d"), ValueError,
     "conv1d: effective kernel size 9 exceeds padded input size 7"),
    (lambda: ar.conv_output_size(5, 3, padding=1, dilation=4, fn="conv1d"), ValueError,
     "effective kernel size 9 exceeds padded input size 7"),
    (lambda: ar.conv_output_size(9, 3, stride=2, padding="same", fn="conv1d"), ValueError,
     "conv1d: padding='same' is not supported for strided convolutions, got stride=2"),
    (lambda: ar.conv_output_size(9, 3, padding="full", fn="conv1d"), ValueError, "padding='full'"),
    (lambda: ar.conv_output_size(9, 3, padding=-1, fn="conv1d"), ValueError,
     "conv1d: padding must be non-negative, got padding=-1"),
    (lambda: ar.conv_output_size((9, 9), (3, 3, 3), fn="conv2d"), ValueError,
     "conv2d: kernel_size must be an int or a sequence of 2 ints"),
    (lambda: ar.conv_output_size(9, 2.5, fn="conv1d"), TypeError, "conv1d: kernel_size must be an int"),
    (lambda: ar.conv_output_size(9, 3, stride=0, fn="conv1d"), ValueError,
     "conv1d: stride must be positive, got stride=0"),
    (lambda: ar.conv_output_size(0, 1, fn="conv1d"), ValueError, "conv1d: input size must be positive"),
    (lambda: ar.conv_transpose_output_size(4, 3, stride=2, output_padding=2, fn="conv_transpose1d"), ValueError,
     "conv_transpose1d: output_padding must be smaller than either stride or dilation, got output_padding=2, "
     "stride=2, dilation=1"),
    (lambda: ar.conv_transpose_output_size(1, 1, padding=1, fn="conv_transpose1d"), ValueError,
     "conv_transpose1d: output size -1 is too small"),
    (lambda: ar.conv_transpose_output_size(4, 3, padding="same"), ValueError,
     "conv_transpose: padding must be an int or a tuple of ints"),
    (lambda: ar.pool_output_size((5, 5), 2, padding=2, fn="max_pool2d"), ValueError,
     "max_pool2d: padding=(2, 2) must be at most half of kernel_size=(2, 2)"),
    (lambda: ar.pool_output_size(2, 3, fn="avg_pool1d"), ValueError,
     "avg_pool1d: output size 0 is too small: effective kernel size 3 exceeds padded input size 2"),
    (lambda: ar.pool_output_size(4, 2, ceil_mode=1, fn="max_pool1d"), TypeError,
     "max_pool1d: ceil_mode must be a bool"),
])
def test_error_messages(call, error, words):
    with pytest.raises(error) as raised:
        call()
    assert words in str(raised.value)
    assert str(raised.value).split(":")[0] in {"conv1d", "conv2d", "conv_transpose", "conv_transpose1d",
                                               "max_pool2d", "avg_pool1d", "max_pool1d"}


def test_conv_geometry_cache_keeps_validation_exact():
    """Cached geometries are returned only for arguments of the same types and values: a bool or a
    NumPy integer where an int was cached is validated afresh (and refused or accepted as before)."""
    import numpy as np

    from convwise.arithmetic import geometry

    first = ar.conv_geometry((9, 7), 3, 1, 1)
    assert ar.conv_geometry((9, 7), 3, 1, 1) is first                      # a cache hit
    assert geometry._key(((9, 7), 3, True, 1, 1)) != geometry._key(((9, 7), 3, 1, 1, 1))
    for stride in (True, (1, True)):
        with pytest.raises(TypeError, match="stride"):
            ar.conv_geometry((9, 7), 3, stride, 1)
    assert geometry._key(((9, 7), 3, np.int64(1), 1, 1)) is None                    # not cached, still valid
    assert ar.conv_geometry((9, 7), 3, np.int64(1), 1) == first
    with pytest.raises(ValueError, match="exceeds padded input"):                   # failures are not cached
        ar.conv_geometry((2, 2), 5)
    with pytest.raises(ValueError, match="exceeds padded input"):
        ar.conv_geometry((2, 2), 5)


def test_conv_transpose_geometry_cache_is_separate_and_exact():
    from convwise.arithmetic import geometry

    first = ar.conv_transpose_geometry((7, 7), 4, 2, 1)
    assert ar.conv_transpose_geometry((7, 7), 4, 2, 1) is first
    assert ar.conv_geometry((7, 7), 4, 2, 1) != first                          # its own key space
    assert geometry._key(("transpose", (7, 7), 4, 2, 1, 0, 1)) != geometry._key(((7, 7), 4, 2, 1, 0))
    with pytest.raises(TypeError, match="stride"):
        ar.conv_transpose_geometry((7, 7), 4, True, 1)
