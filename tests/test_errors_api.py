"""Error catalogue, library side: each class of bad input from issue 14 raises TypeError or
ValueError naming the function, the argument and the rule (never IndexError, OverflowError,
AttributeError, MemoryError, a NumPy broadcasting error or a silent wrong answer)."""

import io
import math
import zipfile

import numpy as np
import pytest

import convwise as cw
from convwise import arithmetic, nn, optim
from convwise import functional as F
from convwise import train as cw_train

X = np.ones((1, 1, 4, 4), np.float32)
W = np.ones((1, 1, 3, 3), np.float32)
HUGE = 2**70


# ---------------------------------------------------------------- huge ints -> ValueError


@pytest.mark.parametrize("call, words", [
    (lambda: F.conv2d(X, W, padding=HUGE), "conv2d: padding must be at most 2**62"),
    (lambda: F.conv2d(X, W, padding=((HUGE, 0), (0, 0))), "conv2d: padding must be non-negative and at most 2**62"),
    (lambda: F.conv2d(X, W, stride=HUGE), "conv2d: stride must be at most 2**62"),
    (lambda: F.conv2d(X, W, dilation=HUGE), "conv2d: dilation must be at most 2**62"),
    (lambda: F.conv_transpose2d(X, W, stride=HUGE), "conv_transpose2d: stride must be at most 2**62"),
    (lambda: F.max_pool2d(X, HUGE), "max_pool2d: kernel_size must be at most 2**62"),
    (lambda: F.max_pool2d(X, 2, padding=HUGE), "max_pool2d: padding must be at most 2**62"),
    (lambda: F.avg_pool2d(X, 2, divisor_override=HUGE), "avg_pool2d: divisor_override must be non-zero and fit an int64"),
    (lambda: F.adaptive_avg_pool2d(X, HUGE), "adaptive_avg_pool2d: needs"),  # refused before allocating
    (lambda: F.pad(X, (HUGE, 0)), "pad: needs"),
    (lambda: arithmetic.conv_output_size(8, 3, padding=HUGE), "padding must be at most 2**62"),
])
def test_huge_ints_raise_value_error_not_overflow(call, words):
    with pytest.raises(ValueError) as caught:
        call()
    assert words in str(caught.value)


# ---------------------------------------------------------------- flags, NumPy integers


@pytest.mark.parametrize("call, words", [
    (lambda: F.max_pool2d(X, 2, return_indices="yes"), "max_pool2d: return_indices must be a bool, got str 'yes'"),
    (lambda: F.adaptive_max_pool2d(X, 2, return_indices=1), "adaptive_max_pool2d: return_indices must be a bool"),
])
def test_flags_must_be_bools(call, words):
    with pytest.raises(TypeError) as caught:
        call()
    assert words in str(caught.value)


def test_numpy_integers_are_accepted_where_ints_are():
    model = nn.Sequential(nn.ReLU(), nn.Flatten())
    assert model[np.int64(1)] is model[1]
    assert model[np.int32(-1)] is model[1]
    cw.set_config(threads=np.int64(cw.get_config().threads))
    layer = nn.Conv2d(np.int64(1), np.int64(2), np.int64(3), stride=np.int64(1), padding=np.int64(1))
    assert layer(X).shape == (1, 2, 4, 4)
    assert nn.Linear(np.int16(3), np.uint8(2)).weight.shape == (2, 3)
    assert F.conv2d(X, W, stride=np.int64(1), padding=np.int64(1)).shape == (1, 1, 4, 4)
    with pytest.raises(TypeError, match="Sequential: index must be an int or a slice, got bool"):
        model[True]
    with pytest.raises(TypeError, match="Sequential: index must be an int or a slice, got float"):
        model[1.0]


# ---------------------------------------------------------------- arithmetic helpers


@pytest.mark.parametrize("function", [arithmetic.explain, arithmetic.uncovered_input, arithmetic.uncovered_cells])
@pytest.mark.parametrize("bad", ["x", None, 3, (8, 3)])
def test_geometry_helpers_refuse_non_geometries(function, bad):
    with pytest.raises(TypeError) as caught:
        function(bad)
    message = str(caught.value)
    assert message.startswith(f"{function.__name__}: geometry must be a ") and repr(bad) in message


def test_receptive_field_refuses_dilation_zero():
    with pytest.raises(ValueError, match="receptive_field: dilation must be positive, got dilation=0"):
        arithmetic.receptive_field([{"kernel_size": 3, "dilation": 0}], ndim=1)
    # None still means the default of 1, as documented
    assert arithmetic.receptive_field([{"kernel_size": 3, "dilation": None}], ndim=1)[0].size == (3,)


def test_uncovered_cells_of_a_huge_input_is_closed_form_or_refused():
    """The CLI hang: 10**8 cells, kernel 3. Touching windows: answered at once; gaps: refused."""
    geometry = arithmetic.conv_geometry(10**8, 3)
    assert arithmetic.uncovered_cells(geometry) == ((),)
    assert arithmetic.uncovered_cells(arithmetic.conv_geometry(10**8 + 1, 2, stride=2)) == ((10**8,),)
    with pytest.raises(ValueError, match="uncovered_cells: would loop over .* more than the limit"):
        arithmetic.uncovered_cells(arithmetic.conv_geometry(10**8, 3, stride=5))


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("kwargs, error, words", [
    ({"workspace_mib": math.inf}, ValueError, "set_config: workspace_mib must be a positive finite number"),
    ({"memory_mib": math.nan}, ValueError, "set_config: memory_mib must be a positive finite number"),
    ({"threads": True}, TypeError, "set_config: threads must be an int, got bool"),
])
def test_set_config_refuses_non_finite_and_bools(kwargs, error, words):
    before = cw.get_config()
    with pytest.raises(error) as caught:
        cw.set_config(**kwargs)
    assert words in str(caught.value) and cw.get_config() == before


# ---------------------------------------------------------------- optimisers


def _param(shape=(2,)):
    return nn.Parameter(np.zeros(shape))


@pytest.mark.parametrize("make, error, words", [
    (lambda: optim.SGD([{"params": 3}], lr=0.1), TypeError, "SGD: 'params' of parameter group 0 must be a Parameter"),
    (lambda: optim.SGD([{"lr": 0.1}]), TypeError, "SGD: parameter group 0 must be a dict with a 'params' entry"),
    (lambda: optim.SGD([{"params": [_param()], "lr": -1.0}]), ValueError, "SGD: invalid lr=-1.0"),
    (lambda: optim.SGD([{"params": [_param()], "lr": "fast"}]), TypeError, "SGD: lr must be a number, got str"),
    (lambda: optim.SGD([{"params": [_param()], "nesterov": 1}], lr=0.1), TypeError, "SGD: nesterov must be a bool"),
    (lambda: optim.SGD([_param()], lr=math.inf), ValueError, "SGD: invalid lr=inf, must be a finite number"),
    (lambda: optim.Adam([{"params": [_param()], "betas": (0.9, 1.5)}]), ValueError, "Adam: betas must be in [0, 1)"),
    (lambda: optim.Adam([{"params": [_param()], "eps": math.nan}]), ValueError, "Adam: invalid eps=nan"),
    (lambda: optim.Adam([{"params": [_param()], "momentum": 0.9}]), ValueError, "Adam: unknown settings ['momentum']"),
    (lambda: optim.Adam({"params": [_param()]}), TypeError, "Adam: params must be an iterable of Parameters or of dicts"),
])
def test_optimiser_parameter_groups_are_checked(make, error, words):
    with pytest.raises(error) as caught:
        make()
    assert words in str(caught.value)


def _trained_adam():
    params = [_param((2,)), _param((3,))]
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = np.ones(p.shape)
    opt.step()
    return params, opt


@pytest.mark.parametrize("corrupt, error, words", [
    (lambda d: "not a dict", TypeError, "Adam.load_state_dict: state_dict must be a dict, got str"),
    (lambda d: {**d, "param_groups": 7}, ValueError, "needs a 'param_groups' list"),
    (lambda d: {**d, "state": [1]}, TypeError, "state_dict['state'] must be a dict"),
    (lambda d: {**d, "param_groups": []}, ValueError, "state_dict has 0 parameter groups, the optimizer has 1"),
    (lambda d: {**d, "param_groups": [{**d["param_groups"][0], "params": [0]}]}, ValueError,
     "parameter group 0 has 1 parameters, the optimizer's has 2"),
    (lambda d: {**d, "param_groups": [{**d["param_groups"][0], "lr": -5.0}]}, ValueError, "Adam.load_state_dict: invalid lr=-5.0"),
    (lambda d: {**d, "param_groups": [{"params": [0, 1]}]}, ValueError, "parameter group 0 has settings []"),
    (lambda d: {**d, "state": {5: d["state"][0]}}, ValueError, "state for parameter id 5, which no parameter group lists"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "exp_avg": np.zeros(7)}}}, ValueError,
     "exp_avg must have the parameter's shape (2,), got (7,)"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "exp_avg": np.zeros(2, complex)}}}, TypeError,
     "exp_avg must be an array of real numbers"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "step": -1}}}, ValueError, "step must be an int >= 0"),
])
def test_optimiser_load_state_dict_is_validated_and_atomic(corrupt, error, words):
    params, opt = _trained_adam()
    saved = opt.state_dict()
    before = ({k: v for k, v in opt.param_groups[0].items() if k != "params"},
              {key: {k: np.copy(v) for k, v in value.items()} for key, value in opt.state.items()})
    with pytest.raises(error) as caught:
        opt.load_state_dict(corrupt(saved))
    assert words in str(caught.value)
    after = ({k: v for k, v in opt.param_groups[0].items() if k != "params"}, opt.state)
    assert after[0] == before[0]                                      # nothing changed on error
    for key, value in before[1].items():
        for name, item in value.items():
            np.testing.assert_array_equal(after[1][key][name], item)


def test_optimiser_state_round_trip_still_works():
    params, opt = _trained_adam()
    other = optim.Adam([_param((2,)), _param((3,))], lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.1
    np.testing.assert_array_equal(other.state[id(other.param_groups[0]["params"][1])]["exp_avg"],
                                  opt.state[id(params[1])]["exp_avg"])


@pytest.mark.parametrize("grad, error, words", [
    (np.ones(3), ValueError, "SGD.step: a parameter's grad must have its shape (2,), got (3,)"),
    (np.ones(2, complex), TypeError, "SGD.step: a parameter's grad must be real, got dtype complex128"),
])
def test_optimiser_step_refuses_mismatched_or_complex_grads(grad, error, words):
    p = _param()
    p.grad = grad
    with pytest.raises(error) as caught:
        optim.SGD([p], lr=0.1).step()
    assert words in str(caught.value)
    np.testing.assert_array_equal(p.data, 0)


# ---------------------------------------------------------------- losses


@pytest.mark.parametrize("loss, input, target, error, words", [
    (nn.MSELoss(), np.ones((2, 3)), np.ones((4, 5)), ValueError, "MSELoss: target shape (4, 5) must match"),
    (nn.MSELoss(), np.ones((2, 3)), np.array([["a"] * 3] * 2), TypeError, "MSELoss: target must be an array of real numbers"),
    (nn.CrossEntropyLoss(), np.ones((2, 3)), np.ones((4,), int), ValueError, "CrossEntropyLoss: index target must have shape (2,)"),
    (nn.CrossEntropyLoss(), np.ones((2, 3)), np.ones((2, 4)), ValueError, "CrossEntropyLoss: probability target must have"),
    (nn.CrossEntropyLoss(), np.ones((2, 0)), np.ones((2, 0)), ValueError, "CrossEntropyLoss: input must have at least one class"),
])
def test_losses_check_shapes_and_dtypes_themselves(loss, input, target, error, words):
    with pytest.raises(error) as caught:
        loss(input, target)
    assert words in str(caught.value)


@pytest.mark.parametrize("make", [lambda: nn.MSELoss(reduction="none"), lambda: nn.CrossEntropyLoss(reduction="none")])
def test_loss_backward_checks_grad_output(make):
    loss = make()
    if isinstance(loss, nn.MSELoss):
        out = loss(np.ones((2, 3)), np.zeros((2, 3)))
    else:
        out = loss(np.ones((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\.backward: grad_output must be a scalar or shape"):
        loss.backward(np.ones(out.shape + (5,)))
    with pytest.raises(TypeError, match=r"\.backward: grad_output must be an array of real numbers, got dtype complex"):
        loss.backward(np.ones(out.shape, complex))
    np.testing.assert_allclose(loss.backward(np.full(out.shape, 2.0)), 2 * loss.backward(np.ones(out.shape)))


# ---------------------------------------------------------------- silent wrong answers in training


def test_adaptive_avg_pool_backward_refuses_a_gradient_for_another_output_size():
    pool = nn.AdaptiveAvgPool2d(2)
    pool(np.ones((1, 1, 6, 6)))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d.backward: grad_output must have the forward output's "
                                         r"shape \(1, 1, 2, 2\), got \(1, 1, 3, 3\)"):
        pool.backward(np.ones((1, 1, 3, 3)))


@pytest.mark.parametrize("module, x", [
    (nn.Linear(3, 2, dtype=np.float64), np.ones((4, 3))),
    (nn.Conv2d(1, 1, 3, dtype=np.float64), np.ones((1, 1, 5, 5))),
    (nn.ReLU(), np.ones((2, 2))),
    (nn.Flatten(), np.ones((2, 2, 2))),
])
def test_complex_gradients_are_refused_not_truncated(module, x):
    y = module(x)
    with pytest.raises(TypeError, match=r"backward: grad_output must be .*(real|float).*complex"):
        module.backward(np.ones(y.shape) * (1 + 1j))


def test_dropout_backward_in_eval_mode_checks_the_shape():
    dropout = nn.Dropout(0.5)
    dropout.eval()
    y = dropout(np.ones((2, 3)))
    np.testing.assert_array_equal(dropout.backward(np.full((2, 3), 4.0)), np.full((2, 3), 4.0))
    with pytest.raises(ValueError, match=r"Dropout.backward: grad_output must have the forward output's shape \(2, 3\), got \(7,\)"):
        dropout.backward(np.ones(7))
    assert y.shape == (2, 3)


# ---------------------------------------------------------------- train.load of broken files


def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _good_weights(tmp_path):
    model = cw_train.digits_cnn(rng=0)
    path = tmp_path / "good.npz"
    cw_train.save(path, model, {"architecture": "digits_cnn", "config": {}})
    return path


def _truncated(tmp_path):
    data = _good_weights(tmp_path).read_bytes()
    return _write(tmp_path, "truncated.npz", data[: len(data) // 2])


def _bad_member(tmp_path):
    """A valid zip whose member is not a .npy array (np.load fails reading it lazily)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__convwise__.npy", b"garbage")
    return _write(tmp_path, "member.npz", buffer.getvalue())


def _wrong_weights(tmp_path):
    model = cw_train.digits_cnn(channels=(4, 8), rng=0)
    path = tmp_path / "wrong.npz"
    cw_train.save(path, model, {"architecture": "digits_cnn", "config": {}})    # config says (16, 32)
    return path


@pytest.mark.parametrize("make", [
    lambda tmp: _write(tmp, "empty.npz", b""),
    lambda tmp: _write(tmp, "zipjunk.npz", b"PK\x03\x04" + b"\0" * 40),
    lambda tmp: _write(tmp, "text.npz", b"hello world, not an archive"),
    _truncated,
    _bad_member,
    _wrong_weights,
    lambda tmp: tmp,                                            # a folder
])
def test_train_load_turns_broken_files_into_value_errors_naming_the_file(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(ValueError) as caught:
        cw_train.load(path)
    assert str(caught.value).startswith("load: ") and str(path) in str(caught.value)


def test_train_save_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    def failing_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cw_train.np, "savez", failing_savez)
    with pytest.raises(OSError):
        cw_train.save(tmp_path / "w.npz", cw_train.digits_cnn(rng=0), {"architecture": "digits_cnn"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", [(), (4,), (1, 1, 1, 4, 4)])
def test_conv_transpose_output_size_on_a_wrong_rank_input(shape):
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: expected a 3D \(unbatched\) or 4D \(batched\) input"):
        layer(np.ones(shape, np.float32), output_size=(9, 9))


def test_non_finite_values_flow_through_linear_and_relu_as_in_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[np.inf, 1.0, -np.inf], [np.nan, 0.0, 2.0]])
    linear = nn.Linear(3, 2, dtype=np.float64, rng=0)
    reference = torch.nn.Linear(3, 2, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(linear.weight.data))
        reference.bias.copy_(torch.from_numpy(linear.bias.data))
    np.testing.assert_array_equal(linear(x), reference(torch.from_numpy(x)).detach().numpy())  # NaN where torch's
    relu = nn.ReLU()
    relu(np.array([-1.0, 2.0, 0.0]))
    grad = np.array([np.inf, np.inf, np.nan])
    t = torch.tensor([-1.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(relu.backward(grad), t.grad.numpy())                 # [0, inf, 0], no NaN
