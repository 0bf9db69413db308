"""The dtype policy against torch 2.13 CPU: the same dtypes accepted and refused, the same results.

For every op and dtype both libraries are called on the same data. Where torch accepts,
convwise must too and give torch's values (bit-exact for integers and bool; float16 within
a couple of float16 rounding steps of torch's float16 result); where torch refuses
(RuntimeError), convwise raises a TypeError naming the op and the dtype. The documented
differences (``DIFFERENCES`` below) are torch-accepted cases convwise refuses.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise.functional as cf

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16"]

# torch accepts these; convwise refuses them on purpose (see convwise.functional._dtypes)
DIFFERENCES = {
    *{(f"conv{d}d", t) for d in (1, 2, 3) for t in ("uint8", "int8", "int16", "int32", "int64")},
    *{(f"conv_transpose{d}d", "int64") for d in (1, 2, 3)},
    *{(f"avg_pool{d}d", "int64") for d in (1, 2, 3)},
    *{(f"lp_pool{d}d", t) for d in (1, 2, 3) for t in ("bool", "int64")},
    ("interpolate", "uint8"),
}


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "float16":
        return rng.standard_normal(shape).astype(np.float16)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -50), min(info.max, 50), size=shape, endpoint=True).astype(dtype)


def _cases():
    for d in (1, 2, 3):
        s = (2, 3) + (6,) * d
        w = (4, 3) + (2,) * d
        wt = (3, 2) + (2,) * d
        yield f"conv{d}d", (s, w), lambda x, w, d=d: getattr(F, f"conv{d}d")(x, w, padding=1), \
            lambda x, w, d=d: getattr(cf, f"conv{d}d")(x, w, padding=1)
        yield f"conv_transpose{d}d", (s, wt), lambda x, w, d=d: getattr(F, f"conv_transpose{d}d")(x, w, stride=2), \
            lambda x, w, d=d: getattr(cf, f"conv_transpose{d}d")(x, w, stride=2)
        for indices in (False, True):
            yield f"max_pool{d}d", (s,), \
                lambda x, d=d, i=indices: getattr(F, f"max_pool{d}d")(x, 3, 2, 1, return_indices=i), \
                lambda x, d=d, i=indices: getattr(cf, f"max_pool{d}d")(x, 3, 2, 1, return_indices=i)
        yield f"avg_pool{d}d", (s,), lambda x, d=d: getattr(F, f"avg_pool{d}d")(x, 3, 2, 1), \
            lambda x, d=d: getattr(cf, f"avg_pool{d}d")(x, 3, 2, 1)
        yield f"adaptive_avg_pool{d}d", (s,), lambda x, d=d: getattr(F, f"adaptive_avg_pool{d}d")(x, 4), \
            lambda x, d=d: getattr(cf, f"adaptive_avg_pool{d}d")(x, 4)
        yield f"adaptive_max_pool{d}d", (s,), lambda x, d=d: getattr(F, f"adaptive_max_pool{d}d")(x, 4), \
            lambda x, d=d: getattr(cf, f"adaptive_max_pool{d}d")(x, 4)
        yield f"lp_pool{d}d", (s,), lambda x, d=d: getattr(F, f"lp_pool{d}d")(x, 2, 2), \
            lambda x, d=d: getattr(cf, f"lp_pool{d}d")(x, 2, 2)
        yield f"max_unpool{d}d", ((2, 3) + (3,) * d,), \
            lambda x, d=d: getattr(F, f"max_unpool{d}d")(x, torch.zeros(x.shape, dtype=torch.long), 2), \
            lambda x, d=d: getattr(cf, f"max_unpool{d}d")(x, np.zeros(x.shape, np.int64), 2)
        for mode in ("constant", "reflect", "replicate", "circular"):
            yield "pad", (s,), lambda x, d=d, m=mode: F.pad(x, (1, 2) * d, mode=m), \
                lambda x, d=d, m=mode: cf.pad(x, (1, 2) * d, mode=m)
        yield "interpolate", (s,), lambda x: F.interpolate(x, scale_factor=1.5), \
            lambda x: cf.interpolate(x, scale_factor=1.5)
    yield "unfold", ((2, 3, 5, 5),), lambda x: F.unfold(x, 2, padding=1), lambda x: cf.unfold(x, 2, padding=1)
    yield "fold", ((2, 12, 16),), lambda x: F.fold(x, 5, 2), lambda x: cf.fold(x, 5, 2)


CASES = list(_cases())


def _same(ours, theirs, dtype):
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        b = b.numpy()
        assert a.dtype == b.dtype and a.shape == b.shape
        if dtype == "float16" and a.dtype == np.float16:
            scale = max(float(np.abs(b.astype(np.float64)).max()), 1.0)
            assert np.abs(a.astype(np.float64) - b.astype(np.float64)).max() <= 4e-3 * scale
        else:
            assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case[0])
def test_dtype_policy_matches_torch(case, dtype):
    op, shapes, theirs, ours = case
    arrays = [_data(shape, dtype, seed) for seed, shape in enumerate(shapes)]
    try:
        expected = theirs(*[torch.from_numpy(a.copy()) for a in arrays])
    except (RuntimeError, NotImplementedError):
        expected = None
    if expected is None or (op, dtype) in DIFFERENCES:
        with pytest.raises(TypeError, match=f"{op}: (input|input dtype) .*{dtype}|{op}: .*{dtype}"):
            ours(*arrays)
        return
    _same(ours(*arrays), expected, dtype)


def test_integer_max_pool_is_exact_beyond_float64():
    big = np.int64(2**62)
    x = np.array([[[big + 1, big + 3, big + 2, big]]], dtype=np.int64)
    values, indices = cf.max_pool1d(x, 2, return_indices=True)
    expected, expected_indices = F.max_pool1d(torch.from_numpy(x), 2, return_indices=True)
    assert np.array_equal(values, expected.numpy()) and np.array_equal(indices, expected_indices.numpy())


def test_pad_fill_value_rules_match_torch():
    x = np.array([[1, 2, 3]], dtype=np.int32)
    for value in (1.7, -1.7, 5):
        assert np.array_equal(cf.pad(x, (1, 1), value=value), F.pad(torch.from_numpy(x), (1, 1), value=value).numpy())
    with pytest.raises(ValueError, match="pad: value=300 cannot be converted to dtype uint8"):
        cf.pad(x.astype(np.uint8), (1, 1), value=300)
    with pytest.raises(RuntimeError):
        F.pad(torch.from_numpy(x.astype(np.uint8)), (1, 1), value=300)
    b = np.array([[True]])
    assert cf.pad(b, (1, 1), value=0.5).tolist() == F.pad(torch.from_numpy(b), (1, 1), value=0.5).tolist()


def test_float16_conv_mixed_with_float32_weight_is_refused():
    with pytest.raises(TypeError, match="conv2d: input \\(float16\\)"):
        cf.conv2d(np.zeros((1, 1, 3, 3), np.float16), np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(RuntimeError):
        F.conv2d(torch.zeros(1, 1, 3, 3, dtype=torch.float16), torch.zeros(1, 1, 2, 2))
