"""convwise.optim against torch.optim, step for step, on a small CNN (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import rel_error
from convwise import nn, optim


def cnn(m, **kw):
    return m.Sequential(m.Conv2d(1, 3, 3, padding=1, **kw), m.ReLU(), m.MaxPool2d(2), m.Conv2d(3, 4, 3, **kw),
                        m.ReLU(), m.Flatten(), m.Linear(4, 5, **kw))


def run_both(make_ours, make_theirs, steps=4, seed=0):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    theirs = cnn(torch.nn).double()
    ours = cnn(nn, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    opt_ours, opt_theirs = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    criterion, tcriterion = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for _ in range(steps):
        x = rng.standard_normal((6, 1, 6, 6))
        y = rng.integers(0, 5, 6)
        opt_theirs.zero_grad()
        tcriterion(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt_theirs.step()
        opt_ours.zero_grad()
        criterion(ours(x), y)
        ours.backward(criterion.backward())
        opt_ours.step()
    expected = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    for key, value in ours.state_dict().items():
        assert rel_error(value, expected[key]) <= 1e-10, key
    return opt_ours


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=1e-2), dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05),
    dict(lr=0.1, maximize=True),
])
def test_sgd_matches_torch(kwargs):
    run_both(lambda p: optim.SGD(p, **kwargs), lambda p: torch.optim.SGD(p, **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(), dict(lr=1e-2), dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6), dict(lr=1e-2, weight_decay=0.1),
    dict(lr=1e-2, amsgrad=True), dict(lr=5e-3, weight_decay=0.05, amsgrad=True),
])
def test_adam_matches_torch(kwargs):
    opt = run_both(lambda p: optim.Adam(p, **kwargs), lambda p: torch.optim.Adam(p, **kwargs), steps=5)
    state = opt.state_dict()
    assert all(entry["step"] == 5 for entry in state["state"].values())


def test_param_groups_and_skipped_grads():
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = np.ones(3)
    opt.step()  # b has no grad: untouched
    assert np.allclose(a.data, 0.9) and np.allclose(b.data, 1.0)
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_roundtrip():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = optim.Adam([p], lr=0.1)
    for _ in range(2):
        p.grad = np.array([0.5, 0.25])
        opt.step()
    q = nn.Parameter(p.data.copy())
    other = optim.Adam([q], lr=0.5)
    other.load_state_dict(opt.state_dict())
    for _ in range(2):
        p.grad = q.grad = np.array([0.1, -0.3])
        opt.step()
        other.step()
    assert np.array_equal(p.data, q.data)


@pytest.mark.parametrize("factory, error, message", [
    (lambda p: optim.SGD(p, lr=-1), ValueError, "SGD: invalid lr=-1"),
    (lambda p: optim.SGD(p, lr="0.1"), TypeError, "SGD: lr must be a number"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, "Adam: betas must be in"),
    (lambda p: optim.Adam(p, betas=0.9), TypeError, "Adam: betas must be a pair"),
    (lambda p: optim.Adam([], lr=0.1), ValueError, "Adam: got an empty parameter list"),
    (lambda p: optim.Adam([np.zeros(3)]), TypeError, "can only optimize convwise.nn.Parameter"),
    (lambda p: optim.SGD(p[0], lr=0.1), TypeError, "params must be an iterable"),
])
def test_bad_optimizer_arguments(factory, error, message):
    with pytest.raises(error, match=message):
        factory([nn.Parameter(np.zeros(2))])
