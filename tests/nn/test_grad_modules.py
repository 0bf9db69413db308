"""Module.backward against torch autograd, and finite differences independent of torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import numeric_gradient, rel_error
from convwise import nn

TOL = {np.float64: 1e-12, np.float32: 1e-5}
SIZES = {1: (9,), 2: (7, 6), 3: (5, 4, 5)}


def check_against_torch(ours, theirs, x: np.ndarray, dtype, rng, **kwargs):
    """Forward + backward with a random upstream gradient; compare every gradient."""
    theirs = theirs.double() if dtype == np.float64 else theirs.float()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    theirs.zero_grad()
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = theirs(tx, **kwargs)
    if isinstance(ty, tuple):
        ty = ty[0]
    grad_out = rng.standard_normal(ty.shape).astype(dtype)
    ty.backward(torch.from_numpy(grad_out))
    y = ours(x, **kwargs)
    if isinstance(y, tuple):
        y = y[0]
    assert rel_error(y, ty.detach().numpy()) <= TOL[dtype]
    ours.zero_grad()
    gx = ours.backward(grad_out)
    assert gx.shape == x.shape and gx.dtype == x.dtype
    assert rel_error(gx, tx.grad.numpy()) <= TOL[dtype], "input gradient"
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert param.grad is not None and param.grad.dtype == dtype, name
        assert rel_error(param.grad, theirs_params[name].grad.numpy()) <= TOL[dtype], name


def conv_cases():
    cases = []
    for n in (1, 2, 3):
        for mode in ("zeros", "reflect", "replicate", "circular"):
            cases.append((f"Conv{n}d", n, dict(padding=1, padding_mode=mode)))
        cases.append((f"Conv{n}d", n, dict(padding="same", dilation=2, padding_mode="reflect", groups=2)))
        cases.append((f"Conv{n}d", n, dict(padding="same", kernel_size=2)))
        cases.append((f"Conv{n}d", n, dict(stride=2, padding=1, dilation=2, groups=2, bias=False)))
        cases.append((f"ConvTranspose{n}d", n, dict()))
        cases.append((f"ConvTranspose{n}d", n, dict(stride=2, padding=1, output_padding=1, groups=2)))
        cases.append((f"ConvTranspose{n}d", n, dict(stride=2, dilation=2, bias=False)))
    return cases


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("name, n, kwargs", conv_cases())
def test_conv_grads(name, n, kwargs, rng):
    for dtype in (np.float64, np.float32) if n == 2 else (np.float64,):  # float32: 2D cases (shared code path)
        _conv_grads(name, n, kwargs, dtype, rng)


def _conv_grads(name, n, kwargs, dtype, rng):
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_size", 3)
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(4, 6, kernel, **kwargs)
    ours = getattr(nn, name)(4, 6, kernel, dtype=dtype, **kwargs)
    check_against_torch(ours, theirs, rng.standard_normal((2, 4, *SIZES[n])).astype(dtype), dtype, rng)
    if dtype == np.float64:  # unbatched input
        check_against_torch(ours, theirs, rng.standard_normal((4, *SIZES[n])), dtype, rng)


def test_conv_transpose_output_size_grads(rng):
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dtype=np.float64)
    check_against_torch(ours, theirs, rng.standard_normal((2, 2, 4, 5)), np.float64, rng, output_size=(8, 10))


def pool_cases():
    cases = []
    for n in (1, 2, 3):
        cases += [(f"MaxPool{n}d", n, (2,), {}), (f"MaxPool{n}d", n, (3,), dict(stride=2, padding=1, ceil_mode=True)),
                  (f"MaxPool{n}d", n, (2,), dict(stride=1, dilation=2, return_indices=True)),
                  (f"AvgPool{n}d", n, (2,), {}),
                  (f"AvgPool{n}d", n, (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
                  (f"AdaptiveAvgPool{n}d", n, (3,), {}), (f"AdaptiveMaxPool{n}d", n, (2,), {})]
    cases.append(("AvgPool2d", 2, (3,), dict(padding=1, divisor_override=4)))
    return cases


@pytest.mark.parametrize("name, n, args, kwargs", pool_cases())
def test_pool_grads(name, n, args, kwargs, rng):
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(nn, name)(*args, **kwargs)
    for dtype in (np.float64, np.float32):
        check_against_torch(ours, theirs, rng.standard_normal((2, 3, *SIZES[n])).astype(dtype), dtype, rng)
    check_against_torch(ours, theirs, rng.standard_normal((3, *SIZES[n])), np.float64, rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_simple_layer_grads(dtype, rng):
    for ours, theirs, shape in [(nn.Linear(7, 5, dtype=dtype), torch.nn.Linear(7, 5), (3, 7)),
                                (nn.Linear(7, 5, dtype=dtype), torch.nn.Linear(7, 5), (2, 3, 7)),
                                (nn.Linear(7, 5, bias=False, dtype=dtype), torch.nn.Linear(7, 5, bias=False), (7,)),
                                (nn.ReLU(), torch.nn.ReLU(), (2, 3, 4)),
                                (nn.Flatten(), torch.nn.Flatten(), (2, 3, 4, 5)),
                                (nn.Flatten(0, 1), torch.nn.Flatten(0, 1), (2, 3, 4))]:
        check_against_torch(ours, theirs, rng.standard_normal(shape).astype(dtype), dtype, rng)


def small_cnn(m, dtype=None):
    kw = {} if dtype is None else {"dtype": dtype}
    return m.Sequential(m.Conv2d(1, 4, 3, padding=1, padding_mode="reflect", **kw), m.ReLU(), m.MaxPool2d(2),
                        m.Conv2d(4, 6, 3, padding=1, **kw), m.ReLU(), m.AvgPool2d(2), m.Flatten(),
                        m.Linear(6 * 2 * 2, 10, **kw))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_whole_cnn_with_cross_entropy(dtype, label_smoothing, rng):
    torch.manual_seed(0)
    theirs = small_cnn(torch.nn)
    theirs = theirs.double() if dtype == np.float64 else theirs
    ours = small_cnn(nn, dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((5, 1, 8, 8)).astype(dtype)
    target = rng.integers(0, 10, 5)
    tx = torch.from_numpy(x).requires_grad_(True)
    tloss = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)(theirs(tx), torch.from_numpy(target))
    tloss.backward()
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    loss = criterion(ours(x), target)
    assert abs(float(loss) - tloss.item()) <= TOL[dtype] * abs(tloss.item())
    gx = ours.backward(criterion.backward())
    assert rel_error(gx, tx.grad.numpy()) <= TOL[dtype]
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert rel_error(p.grad, tp.grad.numpy()) <= TOL[dtype], name


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_against_torch(reduction, rng):
    logits = rng.standard_normal((4, 5, 3))
    for target in (rng.integers(0, 5, (4, 3)), rng.dirichlet(np.ones(5), (4, 3)).transpose(0, 2, 1)):
        tl = torch.from_numpy(logits.copy()).requires_grad_(True)
        tloss = torch.nn.CrossEntropyLoss(reduction=reduction)(tl, torch.from_numpy(target))
        upstream = rng.standard_normal(tloss.shape)
        tloss.backward(torch.from_numpy(upstream))
        criterion = nn.CrossEntropyLoss(reduction=reduction)
        assert rel_error(criterion(logits, target), tloss.detach().numpy()) <= 1e-12
        assert rel_error(criterion.backward(upstream), tl.grad.numpy()) <= 1e-12
    prediction, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    tp = torch.from_numpy(prediction.copy()).requires_grad_(True)
    tloss = torch.nn.MSELoss(reduction=reduction)(tp, torch.from_numpy(target))
    upstream = rng.standard_normal(tloss.shape)
    tloss.backward(torch.from_numpy(upstream))
    criterion = nn.MSELoss(reduction=reduction)
    assert rel_error(criterion(prediction, target), tloss.detach().numpy()) <= 1e-12
    assert rel_error(criterion.backward(upstream), tp.grad.numpy()) <= 1e-12


# ------------------------------------------------------------------ finite differences (no torch)


def fd_check(model, criterion, x, target, tol=1e-6):
    def loss():
        return float(criterion(model(x), target))
    model.zero_grad()
    loss()
    gx = model.backward(criterion.backward())
    assert rel_error(gx, numeric_gradient(loss, x)) < tol
    for name, param in model.named_parameters():
        assert rel_error(param.grad, numeric_gradient(loss, param.data)) < tol, name


def test_finite_differences_linear_relu_losses(rng):
    model = nn.Sequential(nn.Linear(4, 6, dtype=np.float64, rng=1), nn.ReLU(), nn.Linear(6, 3, dtype=np.float64, rng=2))
    x = rng.standard_normal((5, 4))
    fd_check(model, nn.CrossEntropyLoss(), x, rng.integers(0, 3, 5))
    fd_check(model, nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2), x, rng.integers(0, 3, 5))
    fd_check(model, nn.MSELoss(), x, rng.standard_normal((5, 3)))
    fd_check(model, nn.MSELoss(reduction="sum"), x, rng.standard_normal((5, 3)))


def test_finite_differences_small_sequential(rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular", dtype=np.float64, rng=3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.ConvTranspose2d(3, 2, 2, stride=2, dtype=np.float64, rng=4),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 4, dtype=np.float64, rng=5))
    fd_check(model, nn.CrossEntropyLoss(), rng.standard_normal((2, 2, 4, 4)), rng.integers(0, 4, 2))


def test_gradients_accumulate_until_zero_grad(rng):
    layer = nn.Linear(3, 2, dtype=np.float64, rng=0)
    x = rng.standard_normal((4, 3))
    layer(x)
    layer.backward(np.ones((4, 2)))
    first = layer.weight.grad.copy()
    layer(x)
    layer.backward(np.ones((4, 2)))
    assert np.allclose(layer.weight.grad, 2 * first)
    layer.zero_grad()
    assert layer.weight.grad is None


def test_backward_checks_grad_output_shape(rng):
    x = rng.standard_normal((2, 3))
    for layer in (nn.Linear(3, 4, dtype=np.float64), nn.ReLU(), nn.Flatten(0), nn.Dropout(0.5, rng=0)):
        y = layer(x)
        with pytest.raises(ValueError, match=f"{type(layer).__name__}.backward: grad_output must have the forward "
                                             f"output's shape"):
            layer.backward(np.ones(y.shape + (1,)))
