"""convwise.nn modules against torch.nn: outputs, state_dict keys, repr, init, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import rel_error
from convwise import nn

PADDING_MODES = ["zeros", "reflect", "replicate", "circular"]
SIZES = {1: (9,), 2: (7, 6), 3: (5, 4, 5)}
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def to_numpy_state(module: torch.nn.Module) -> dict:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def torch_twin(ours, theirs: torch.nn.Module, dtype) -> torch.nn.Module:
    """Load the torch module's weights into ours; return the torch module in ``dtype``."""
    theirs = theirs.double() if dtype == np.float64 else theirs.float()
    ours.load_state_dict(to_numpy_state(theirs))
    return theirs


def compare(ours, theirs, x: np.ndarray, dtype, **kwargs):
    expected = theirs(torch.from_numpy(x), **kwargs).detach().numpy()
    got = ours(x, **kwargs)
    assert got.dtype == x.dtype
    assert rel_error(got, expected) <= TOL[dtype]


def conv_cases():
    cases = []
    for n in (1, 2, 3):
        for mode in PADDING_MODES:
            cases.append((n, dict(padding=1, padding_mode=mode)))
            cases.append((n, dict(padding="same", dilation=2, padding_mode=mode)))
        cases.append((n, dict(stride=2, padding=1, groups=2, bias=False)))
        cases.append((n, dict(dilation=2, groups=2, padding_mode="reflect", padding=1)))
        cases.append((n, dict(padding="valid", stride=(2,) * n)))
        cases.append((n, dict(kernel_size=2, padding="same", padding_mode="circular")))  # even kernel: asymmetric
    return cases


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("n, kwargs, dtype", [(n, kwargs, dtype) for n, kwargs in conv_cases()
                                               for dtype in ((np.float64, np.float32) if n == 2 else (np.float64,))])
def test_conv_matches_torch(n, kwargs, dtype, rng):
    """Every case in float64; float32 on the 2D cases (the code path is shared)."""
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_size", 3)
    torch.manual_seed(0)
    theirs = getattr(torch.nn, f"Conv{n}d")(4, 6, kernel, **kwargs)
    ours = getattr(nn, f"Conv{n}d")(4, 6, kernel, dtype=dtype, **kwargs)
    theirs = torch_twin(ours, theirs, dtype)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare(ours, theirs, rng.standard_normal((2, 4, *SIZES[n])).astype(dtype), dtype)
    compare(ours, theirs, rng.standard_normal((4, *SIZES[n])).astype(dtype), dtype)  # unbatched


def transpose_cases():
    cases = []
    for n in (1, 2, 3):
        cases.append((n, dict()))
        cases.append((n, dict(stride=2, padding=1, output_padding=1)))
        cases.append((n, dict(stride=2, groups=2, dilation=2, bias=False)))
        cases.append((n, dict(stride=3, padding=2, output_padding=2, dilation=2, groups=2)))
    return cases


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, kwargs", transpose_cases())
def test_conv_transpose_matches_torch(n, kwargs, dtype, rng):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, f"ConvTranspose{n}d")(4, 6, 3, **kwargs)
    ours = getattr(nn, f"ConvTranspose{n}d")(4, 6, 3, dtype=dtype, **kwargs)
    theirs = torch_twin(ours, theirs, dtype)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare(ours, theirs, rng.standard_normal((2, 4, *SIZES[n])).astype(dtype), dtype)
    compare(ours, theirs, rng.standard_normal((4, *SIZES[n])).astype(dtype), dtype)


def test_conv_transpose_output_size(rng):
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dtype=np.float64)
    ours.load_state_dict(to_numpy_state(theirs))
    x = rng.standard_normal((1, 2, 5, 5))
    for size in [(9, 9), (10, 10), (9, 10), (1, 3, 10, 9)]:
        expected = theirs(torch.from_numpy(x), output_size=list(size)).detach().numpy()
        got = ours(x, output_size=size)
        assert got.shape == expected.shape and rel_error(got, expected) <= 1e-12
    with pytest.raises(ValueError, match=r"ConvTranspose2d: requested an output size of \[11, 11\]"):
        ours(x, output_size=(11, 11))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        ours(x, output_size=(9,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_matches_torch(dtype, rng):
    for bias in (True, False):
        theirs = torch.nn.Linear(7, 5, bias=bias)
        ours = nn.Linear(7, 5, bias=bias, dtype=dtype)
        theirs = torch_twin(ours, theirs, dtype)
        assert repr(ours) == repr(theirs)
        compare(ours, theirs, rng.standard_normal((3, 7)).astype(dtype), dtype)
        compare(ours, theirs, rng.standard_normal((2, 3, 7)).astype(dtype), dtype)
        compare(ours, theirs, rng.standard_normal(7).astype(dtype), dtype)


def pool_pairs():
    return [
        ("MaxPool{}d", (2,), {}),
        ("MaxPool{}d", (3,), dict(stride=2, padding=1, dilation=1, ceil_mode=True)),
        ("MaxPool{}d", (2,), dict(stride=1, dilation=2)),
        ("AvgPool{}d", (2,), {}),
        ("AvgPool{}d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        ("AdaptiveAvgPool{}d", (3,), {}),
        ("AdaptiveMaxPool{}d", (2,), {}),
    ]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("name, args, kwargs", pool_pairs())
def test_pooling_matches_torch(name, args, kwargs, n, rng):
    theirs = getattr(torch.nn, name.format(n))(*args, **kwargs)
    ours = getattr(nn, name.format(n))(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    for dtype in (np.float64, np.float32):
        compare(ours, theirs, rng.standard_normal((2, 3, *SIZES[n])).astype(dtype), dtype)
        compare(ours, theirs, rng.standard_normal((3, *SIZES[n])).astype(dtype), dtype)


def test_pooling_return_indices(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    ty, tidx = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    assert np.array_equal(idx, tidx.numpy()) and rel_error(y, ty.numpy()) == 0
    y, idx = nn.AdaptiveMaxPool2d((2, 3), return_indices=True)(x)
    ty, tidx = torch.nn.AdaptiveMaxPool2d((2, 3), return_indices=True)(torch.from_numpy(x))
    assert np.array_equal(idx, tidx.numpy()) and rel_error(y, ty.numpy()) == 0
    assert repr(nn.AvgPool2d(3, divisor_override=2)) == repr(torch.nn.AvgPool2d(3, divisor_override=2))


def test_simple_layers_repr_and_values(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    for ours, theirs in [(nn.ReLU(), torch.nn.ReLU()), (nn.Flatten(), torch.nn.Flatten()),
                         (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)), (nn.Dropout(0.3), torch.nn.Dropout(0.3)),
                         (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()), (nn.MSELoss(), torch.nn.MSELoss())]:
        assert repr(ours) == repr(theirs)
    for ours, theirs in [(nn.ReLU(), torch.nn.ReLU()), (nn.Flatten(), torch.nn.Flatten()),
                         (nn.Flatten(-3, -2), torch.nn.Flatten(-3, -2))]:
        compare(ours, theirs, x, np.float64)


def test_sequential_all_padding_modes(rng):
    torch.manual_seed(1)
    def layers(m):
        return [m.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"), m.ReLU(),
                m.Conv2d(4, 4, 3, padding="same", padding_mode="replicate", groups=2),
                m.Conv2d(4, 3, 3, padding=(1, 2), padding_mode="circular"), m.MaxPool2d(2),
                m.Conv2d(3, 3, 2, padding=1), m.AdaptiveAvgPool2d(2), m.Flatten(), m.Linear(12, 5)]

    theirs = torch.nn.Sequential(*layers(torch.nn))
    for dtype in (np.float64, np.float32):
        ours = nn.Sequential(*layers(nn)).to(dtype)
        twin = torch_twin(ours, theirs, dtype)
        assert repr(ours) == repr(twin)
        assert list(ours.state_dict()) == list(twin.state_dict())
        compare(ours, twin, rng.standard_normal((3, 2, 8, 9)).astype(dtype), dtype)


def test_seed_network(rng):
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 5, 5), torch.nn.MaxPool2d(2))
    ours = nn.Sequential(nn.Conv2d(1, 5, 5), nn.MaxPool2d(2))
    ours.load_state_dict(to_numpy_state(theirs))
    assert repr(ours) == repr(theirs)
    x = rng.standard_normal((1, 28, 28)).astype(np.float32)
    y = ours(x)
    assert y.shape == (5, 12, 12)
    assert rel_error(y, theirs(torch.from_numpy(x)).detach().numpy()) <= 1e-5


def test_nested_state_dict_keys_and_module_api():
    def build(m):
        return m.Sequential(m.Sequential(m.Conv2d(1, 2, 3), m.ReLU()), m.Flatten(), m.Linear(8, 2, bias=False))
    ours, theirs = build(nn), build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.0.weight", "0.0.bias", "2.weight"]
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]
    assert len(list(ours.children())) == 3 and len(ours) == 3 and isinstance(ours[0], nn.Sequential)
    assert repr(ours) == repr(theirs)
    ours.eval()
    assert all(not m.training for m in ours.modules())
    ours.train()
    assert all(m.training for m in ours.modules())
    state = ours.state_dict()
    state["2.weight"][...] = 7  # a copy: the model is unchanged
    assert not np.all(ours[2].weight.data == 7)


def test_load_state_dict_errors():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(3, 2))
    good = model.state_dict()
    missing = dict(good)
    del missing["1.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['1.bias'\]"):
        model.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected keys \['2.weight'\]"):
        model.load_state_dict({**good, "2.weight": np.zeros(3)})
    with pytest.raises(ValueError, match=r"size mismatch for 0.weight: the model has shape \(2, 1, 3, 3\)"):
        model.load_state_dict({**good, "0.weight": np.zeros((2, 1, 5, 5))})
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        model.load_state_dict([1, 2])
    before = model[0].weight.data.copy()
    result = model.load_state_dict({"0.weight": np.ones((2, 1, 3, 3))}, strict=False)
    assert result.missing_keys == ["0.bias", "1.weight", "1.bias"] and result.unexpected_keys == []
    assert np.all(model[0].weight.data == 1) and model[0].weight.dtype == np.float32 and not np.all(before == 1)


def test_default_init_bounds():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, as torch draws them (fan_in from weight dim 1)."""
    nn.init.manual_seed(0)
    torch.manual_seed(0)
    cases = [("Conv2d", (6, 32, 3), dict(groups=2), 3 * 9), ("Conv1d", (4, 8, 5), {}, 4 * 5),
             ("ConvTranspose2d", (4, 12, 3), dict(groups=2), 6 * 9), ("Conv3d", (2, 4, 2), {}, 2 * 8),
             ("Linear", (50, 400), {}, 50)]
    for name, args, kwargs, fan_in in cases:
        bound = 1 / math.sqrt(fan_in)
        ours = getattr(nn, name)(*args, **kwargs)
        theirs = getattr(torch.nn, name)(*args, **kwargs)
        for param, reference in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
            values, reference = param.data, reference.detach().numpy()
            assert values.dtype == np.float32 and values.shape == reference.shape
            assert np.abs(values).max() <= bound and np.abs(reference).max() <= bound
            if values.size >= 400:  # uniform on [-bound, bound]: extremes near the bound, std bound/sqrt(3)
                for sample in (values, reference):
                    assert np.abs(sample).max() > 0.95 * bound
                    assert abs(sample.std() - bound / math.sqrt(3)) < 0.1 * bound
    # seeding repeats exactly, and rng= is independent of the global generator
    nn.init.manual_seed(3)
    a = nn.Conv2d(1, 4, 3).weight.data
    nn.init.manual_seed(3)
    b = nn.Conv2d(1, 4, 3).weight.data
    assert np.array_equal(a, b)
    assert np.array_equal(nn.Linear(3, 3, rng=5).weight.data, nn.Linear(3, 3, rng=5).weight.data)
    assert nn.Conv2d(1, 2, 3, dtype=np.float64).weight.dtype == np.float64
    assert nn.Conv2d(1, 2, 3).double().weight.dtype == np.float64


@pytest.mark.parametrize("factory, error, message", [
    (lambda: nn.Conv2d(4, 6, 3, groups=3), ValueError, "Conv2d: groups=3 must divide in_channels=4"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError, "Conv2d: groups=4 must divide out_channels=6"),
    (lambda: nn.Conv2d(4, 6, 0), ValueError, "Conv2d: kernel_size must be positive"),
    (lambda: nn.Conv2d(4, 6, (3, 3, 3)), ValueError, "Conv2d: kernel_size must be an int or a sequence of 2 ints"),
    (lambda: nn.Conv1d(4, 6, 3.0), TypeError, "Conv1d: kernel_size must be an int"),
    (lambda: nn.Conv2d(4.0, 6, 3), TypeError, "Conv2d: in_channels must be an int"),
    (lambda: nn.Conv2d(0, 6, 3), ValueError, "Conv2d: in_channels must be positive"),
    (lambda: nn.Conv2d(4, 6, 3, padding=-1), ValueError, "Conv2d: padding must be non-negative"),
    (lambda: nn.Conv2d(4, 6, 3, padding="full"), ValueError, "Conv2d: padding must be an int, a tuple, 'same' or 'valid'"),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding="same"), ValueError, "padding='same' is not supported for strided"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="mirror"), ValueError, "Conv2d: padding_mode must be one of"),
    (lambda: nn.Conv2d(4, 6, 3, bias=1), TypeError, "Conv2d: bias must be a bool"),
    (lambda: nn.Conv2d(4, 6, 3, dtype=np.int32), TypeError, "Conv2d: dtype must be float32 or float64"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect"), ValueError, "only padding_mode='zeros'"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=2), ValueError, "output_padding must be smaller"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, padding="same"), ValueError, "ConvTranspose2d: padding must be an int"),
    (lambda: nn.MaxPool2d(2, padding=2), ValueError, "MaxPool2d: padding=2 must be at most half of kernel_size=2"),
    (lambda: nn.MaxPool2d(2, ceil_mode=1), TypeError, "MaxPool2d: ceil_mode must be a bool"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "AvgPool2d: divisor_override must be non-zero"),
    (lambda: nn.AdaptiveAvgPool2d((2, 2, 2)), TypeError, "AdaptiveAvgPool2d: output_size must be"),
    (lambda: nn.AdaptiveMaxPool1d(0), ValueError, "AdaptiveMaxPool1d: output_size must be positive"),
    (lambda: nn.Linear(3, -1), ValueError, "Linear: out_features must be >= 0"),
    (lambda: nn.Linear("3", 2), TypeError, "Linear: in_features must be an int"),
    (lambda: nn.Dropout(1.5), ValueError, "Dropout: dropout probability has to be between 0 and 1"),
    (lambda: nn.Flatten(1.0), TypeError, "Flatten: start_dim must be an int"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), ValueError, "CrossEntropyLoss: reduction must be one of"),
    (lambda: nn.Sequential(nn.ReLU(), 3), TypeError, "Sequential: 1 must be a Module"),
])
def test_bad_module_arguments(factory, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        factory()


def test_bad_forward_inputs(rng):
    conv = nn.Conv2d(4, 6, 3)
    with pytest.raises(TypeError, match="same dtype"):
        conv(rng.standard_normal((1, 4, 5, 5)))  # float64 input, float32 weight, as torch refuses
    with pytest.raises(ValueError, match="Conv2d: input has 3 channels"):
        conv(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="Conv2d: expected a 3D"):
        conv(np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="Linear: input must end with in_features=3"):
        nn.Linear(3, 2)(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="call forward"):
        nn.Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="CrossEntropyLoss: target class 3 is out of range for 3 classes"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3]))


def test_dropout_train_and_eval(rng):
    x = np.ones((200, 50))
    drop = nn.Dropout(0.25, rng=0)
    y = drop(x)
    assert set(np.unique(y)) <= {0.0, 1 / 0.75} and abs((y == 0).mean() - 0.25) < 0.02
    assert np.array_equal(drop.backward(np.ones_like(x)), y)  # same mask and scale
    assert np.array_equal(nn.Dropout(0.25, rng=0)(x), y)      # seeded
    drop.eval()
    assert drop(x) is not None and np.array_equal(drop(x), x) and np.array_equal(drop.backward(x), x)
