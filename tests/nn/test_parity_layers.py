"""New convwise.nn layers against torch.nn 2.13: forward, backward, parameters' gradients, state.

torch in float64 is the reference (tolerances of tests/conftest.py); each layer runs in
float32 and float64 on random inputs, and the gradient of a random upstream gradient is
compared with torch autograd's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import TOLERANCE, numeric_vjp, rel_error
from convwise import nn

DTYPES = (np.float32, np.float64)


def _t(array, grad=False):
    return torch.from_numpy(np.asarray(array, dtype=np.float64).copy()).requires_grad_(grad)


def _compare(ours, theirs, x, dtype, tol_factor=1.0, check_dtype=True):
    """Run both layers forward and backward on ``x``; compare outputs and input gradients."""
    y = ours(x.copy())
    xt = _t(x, True)
    yt = theirs(xt)
    tol = TOLERANCE[dtype][0] * tol_factor
    assert rel_error(y, yt.detach()) <= tol
    if check_dtype:
        assert y.dtype == dtype
    g = np.random.default_rng(99).standard_normal(y.shape).astype(dtype)
    yt.backward(_t(g))
    dx = ours.backward(g)
    assert rel_error(dx, xt.grad) <= tol
    return y, dx


ELEMENTWISE = [
    (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    (lambda: nn.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    (lambda: nn.LeakyReLU(0.3), lambda: torch.nn.LeakyReLU(0.3)),
    (lambda: nn.ReLU6(), lambda: torch.nn.ReLU6()),
    (lambda: nn.Hardswish(), lambda: torch.nn.Hardswish()),
    (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    (lambda: nn.Identity(), lambda: torch.nn.Identity()),
    (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda: nn.Softmax(dim=-1), lambda: torch.nn.Softmax(dim=-1)),
    (lambda: nn.LogSoftmax(dim=1), lambda: torch.nn.LogSoftmax(dim=1)),
    (lambda: nn.LogSoftmax(dim=0), lambda: torch.nn.LogSoftmax(dim=0)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", ELEMENTWISE, ids=lambda pair: type(pair[0]()).__name__)
def test_activations_match_torch(make, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 4, 5)) * 4).astype(dtype)
    x[0, 0, :4] = [-3.0, 3.0, 0.0, 6.0]          # the kinks, where torch picks a side
    _compare(make[0](), make[1](), x, dtype)


def test_activation_reprs_and_errors():
    assert repr(nn.LeakyReLU(0.2)) == repr(torch.nn.LeakyReLU(0.2))
    assert repr(nn.Softmax(dim=1)) == repr(torch.nn.Softmax(dim=1))
    assert repr(nn.Tanh()) == repr(torch.nn.Tanh())
    with pytest.raises(TypeError, match="LeakyReLU: negative_slope must be a number"):
        nn.LeakyReLU("x")
    with pytest.raises(ValueError, match="Softmax: dim=3 is out of range for a 2D input"):
        nn.Softmax(dim=3)(np.zeros((2, 2)))
    with pytest.raises(IndexError):
        torch.nn.Softmax(dim=3)(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="Tanh.backward: call forward"):
        nn.Tanh().backward(np.zeros(2))


# ----------------------------------------------------------------------------- BatchNorm

BN = {1: (nn.BatchNorm1d, torch.nn.BatchNorm1d), 2: (nn.BatchNorm2d, torch.nn.BatchNorm2d),
      3: (nn.BatchNorm3d, torch.nn.BatchNorm3d)}


def _bn_pair(spatial, dtype, **kwargs):
    ours_cls, theirs_cls = BN[spatial]
    ours = ours_cls(4, dtype=dtype, **kwargs)
    theirs = theirs_cls(4, dtype=torch.float64, **kwargs)
    if kwargs.get("affine", True):
        rng = np.random.default_rng(5)
        w, b = rng.standard_normal(4), rng.standard_normal(4)
        ours.weight.data[...] = w
        ours.bias.data[...] = b
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(w))
            theirs.bias.copy_(torch.from_numpy(b))
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial", (1, 2, 3))
@pytest.mark.parametrize("momentum", (0.1, 0.5, None))
@pytest.mark.parametrize("affine", (True, False))
def test_batchnorm_train_and_eval_match_torch(spatial, dtype, momentum, affine):
    rng = np.random.default_rng(spatial)
    ours, theirs = _bn_pair(spatial, dtype, momentum=momentum, affine=affine)
    shape = (5, 4) + (3,) * spatial if spatial > 1 else (6, 4, 7)
    for step in range(3):                             # running statistics over several batches
        x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
        theirs.zero_grad()
        ours.zero_grad()
        _compare(ours, theirs, x, dtype, tol_factor=10)
        if affine:
            assert rel_error(ours.weight.grad, theirs.weight.grad) <= 10 * TOLERANCE[dtype][0]
            assert rel_error(ours.bias.grad, theirs.bias.grad) <= 10 * TOLERANCE[dtype][0]
        assert rel_error(ours.running_mean, theirs.running_mean) <= 10 * TOLERANCE[dtype][0]
        assert rel_error(ours.running_var, theirs.running_var) <= 10 * TOLERANCE[dtype][0]
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == step + 1
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(dtype)
    theirs.zero_grad()
    ours.zero_grad()
    _compare(ours, theirs, x, dtype, tol_factor=10)
    if affine:
        assert rel_error(ours.weight.grad, theirs.weight.grad) <= 10 * TOLERANCE[dtype][0]


def test_batchnorm1d_2d_input_and_no_running_stats():
    rng = np.random.default_rng(3)
    ours, theirs = _bn_pair(1, np.float64, track_running_stats=False)
    x = rng.standard_normal((8, 4))
    _compare(ours, theirs, x, np.float64)
    ours.eval()
    theirs.eval()                                    # no running stats: batch statistics in eval too
    _compare(ours, theirs, x, np.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]


def test_batchnorm_state_dict_round_trip_with_torch():
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    theirs.train()
    for _ in range(2):
        theirs(torch.randn(4, 1, 6, 6))
    theirs.eval()
    ours = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    ours.eval()
    assert ours.state_dict()["1.num_batches_tracked"].dtype == np.int64
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).numpy()
    assert rel_error(ours(x), ref) <= 1e-5
    assert [p.shape for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]


def test_batchnorm_errors_like_torch():
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4D input, got 3D"):
        nn.BatchNorm2d(3)(np.zeros((3, 2, 2), np.float32))
    with pytest.raises(ValueError):
        torch.nn.BatchNorm2d(3)(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="BatchNorm1d: expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch.nn.BatchNorm1d(3)(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="BatchNorm2d: input has 2 channels"):
        nn.BatchNorm2d(3)(np.zeros((1, 2, 2, 2), np.float32))
    assert repr(nn.BatchNorm2d(3)) == repr(torch.nn.BatchNorm2d(3))
    assert repr(nn.BatchNorm2d(3, bias=False)) == repr(torch.nn.BatchNorm2d(3, bias=False))
    assert list(nn.BatchNorm2d(3, bias=False).state_dict()) == list(torch.nn.BatchNorm2d(3, bias=False).state_dict())


def test_batchnorm_to_double_casts_running_stats():
    bn = nn.BatchNorm2d(2).double()
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


# ----------------------------------------------------------------------------- dropout, upsample, pooling layers


@pytest.mark.parametrize("cls, shape, mask_axes", [
    (nn.Dropout1d, (4, 6, 5), (2,)), (nn.Dropout2d, (4, 6, 3, 3), (2, 3)), (nn.Dropout3d, (6, 2, 2, 2), (1, 2, 3)),
    (nn.Dropout2d, (4, 6, 5), (2,)),
])
def test_channel_dropout_zeroes_whole_channels(cls, shape, mask_axes):
    drop = cls(0.5, rng=0)
    x = np.random.default_rng(1).standard_normal(shape) + 10
    y = drop(x)
    ratio = y / x
    assert np.allclose(ratio.std(axis=mask_axes), 0)               # one factor per channel
    assert set(np.unique(np.round(ratio, 12))) <= {0.0, 2.0}
    assert 0 < np.mean(ratio == 0) < 1
    g = np.ones_like(y)
    assert np.array_equal(drop.backward(g), ratio)                  # the same mask and scale
    drop.eval()
    assert drop(x) is x or np.array_equal(drop(x), x)


def test_channel_dropout_matches_torch_statistics_and_repr():
    assert repr(nn.Dropout2d(0.2)) == repr(torch.nn.Dropout2d(0.2))
    with pytest.raises(ValueError, match="Dropout2d: dropout probability"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError):
        torch.nn.Dropout2d(1.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_upsample_matches_torch(dtype):
    rng = np.random.default_rng(2)
    for kwargs in ({"scale_factor": 2}, {"size": (5, 7)}, {"scale_factor": (1.5, 3), "mode": "nearest-exact"}):
        x = rng.standard_normal((2, 3, 4, 3)).astype(dtype)
        _compare(nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs), x, dtype)
    assert repr(nn.Upsample(scale_factor=2)) == repr(torch.nn.Upsample(scale_factor=2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lppool_layers_match_torch(dtype):
    rng = np.random.default_rng(4)
    for spatial, args in ((1, (2, 3, 2)), (2, (2, 2)), (3, (1.5, 2, 1))):
        ours = getattr(nn, f"LPPool{spatial}d")(*args)
        theirs = getattr(torch.nn, f"LPPool{spatial}d")(*args)
        x = (np.abs(rng.standard_normal((2, 3) + (5,) * spatial)) + 0.1).astype(dtype)
        _compare(ours, theirs, x, dtype, tol_factor=10)
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxunpool_layers_match_torch(dtype):
    rng = np.random.default_rng(6)
    for spatial in (1, 2, 3):
        x = rng.standard_normal((2, 3) + (6,) * spatial).astype(dtype)
        pool = getattr(nn, f"MaxPool{spatial}d")(2, return_indices=True)
        unpool = getattr(nn, f"MaxUnpool{spatial}d")(2)
        theirs = getattr(torch.nn, f"MaxUnpool{spatial}d")(2)
        y, i = pool(x)
        out = unpool(y, i)
        yt = _t(y, True)
        ref = theirs(yt, torch.from_numpy(i))
        assert rel_error(out, ref.detach()) == 0 and out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        ref.backward(_t(g))
        assert rel_error(unpool.backward(g), yt.grad) == 0
        assert repr(unpool) == repr(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fold_layers_match_torch(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    _compare(nn.Unfold(3, dilation=1, padding=1, stride=2), torch.nn.Unfold(3, dilation=1, padding=1, stride=2),
             x, dtype)
    cols = rng.standard_normal((2, 12, 15)).astype(dtype)
    _compare(nn.Fold((4, 5), 2, padding=1, stride=(1, 2)), torch.nn.Fold((4, 5), 2, padding=1, stride=(1, 2)),
             cols, dtype)
    assert repr(nn.Unfold(3)) == repr(torch.nn.Unfold(3))


def test_a_small_cnn_with_the_new_layers_trains_like_torch():
    """Conv -> BatchNorm -> Hardswish -> MaxPool -> Flatten -> Linear -> LogSoftmax, one SGD-free step."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Hardswish(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5),
                                 torch.nn.LogSoftmax(dim=1)).double()
    ours = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Hardswish(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 5), nn.LogSoftmax(dim=1)).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(8).standard_normal((6, 1, 8, 8))
    y, _ = _compare(ours, theirs, x, np.float64)
    grads = dict(ours.named_parameters())
    for name, param in theirs.named_parameters():
        # the conv bias before BatchNorm has a zero gradient: compare with an absolute floor
        assert np.allclose(grads[name].grad, param.grad.numpy(), rtol=1e-9, atol=1e-12), name
    assert math.isfinite(float(y.sum()))


# ---------------------------------------------------------------- independent of torch: central differences


def _module_vjp_check(module, x, rng):
    y = module(x)
    g = rng.standard_normal(y.shape)
    analytic = module.backward(g)
    numeric = numeric_vjp(lambda v: module(v), x, g)
    assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("make", [
    lambda: nn.BatchNorm2d(3, dtype=np.float64), lambda: nn.BatchNorm1d(3, momentum=None, dtype=np.float64),
    lambda: nn.Softmax(dim=1), lambda: nn.LogSoftmax(dim=1), lambda: nn.Tanh(), lambda: nn.Sigmoid(),
    lambda: nn.Hardswish(), lambda: nn.LPPool2d(3, 2), lambda: nn.Unfold(2, padding=1),
    lambda: nn.Upsample(scale_factor=(1.5, 2)),
], ids=lambda make: type(make()).__name__)
def test_backward_matches_central_differences(make):
    rng = np.random.default_rng(11)
    module = make()
    x = np.abs(rng.standard_normal((2, 3, 4, 4))) + 0.5 if isinstance(module, nn.LPPool2d) else \
        rng.standard_normal((4, 3) if isinstance(module, nn.BatchNorm1d) else (2, 3, 4, 4))
    _module_vjp_check(module, x, rng)
