"""Parameter initialisation with torch.nn.init's formulas, from a seedable NumPy generator.

Every layer draws from the generator passed as its ``rng=`` argument or, when that is
``None``, from this module's global generator (:func:`manual_seed` resets it). Values are
drawn in float64 and cast to the parameter's dtype.

>>> manual_seed(0)
>>> w = np.empty((4, 3), np.float32)
>>> _ = kaiming_uniform_(w, a=math.sqrt(5))
>>> bool(np.abs(w).max() <= 1 / math.sqrt(3))   # bound = 1/sqrt(fan_in)
True
"""

from __future__ import annotations

import math

import numpy as np

from .._guard import require_memory
from .module import Parameter, check_dtype

__all__ = ["manual_seed", "get_generator", "calculate_fan_in_and_fan_out", "calculate_gain", "uniform_",
           "kaiming_uniform_", "zeros_", "ones_"]

_generator = np.random.default_rng()


def manual_seed(seed) -> None:
    """Reset the global generator used by layers created without ``rng=``."""
    global _generator
    _generator = np.random.default_rng(seed)


def get_generator(rng=None) -> np.random.Generator:
    """``rng`` if given (a Generator, or a seed for a new one), else the global generator."""
    if rng is None:
        return _generator
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def _array(tensor) -> np.ndarray:
    return tensor.data if isinstance(tensor, Parameter) else tensor


def calculate_fan_in_and_fan_out(shape) -> tuple[int, int]:
    """torch's fans: ``fan_in = shape[1] * prod(shape[2:])``, ``fan_out = shape[0] * prod(shape[2:])``.

    For a transposed convolution's weight ``(C_in, C_out/groups, *kernel)`` this makes
    ``fan_in = C_out/groups * prod(kernel)``, exactly as torch computes it.
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"calculate_fan_in_and_fan_out: needs at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity={nonlinearity!r}")


def uniform_(tensor, a: float = 0.0, b: float = 1.0, *, rng=None):
    """Fill ``tensor`` (an array or Parameter) in place with U(a, b); returns it."""
    array = _array(tensor)
    array[...] = get_generator(rng).uniform(a, b, size=array.shape)
    return tensor


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *, rng=None):
    """U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``; ``a=sqrt(5)`` gives ``1/sqrt(fan_in)``."""
    array = _array(tensor)
    fan_in, fan_out = calculate_fan_in_and_fan_out(array.shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got mode={mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, rng=rng)


def zeros_(tensor):
    _array(tensor)[...] = 0
    return tensor


def ones_(tensor):
    _array(tensor)[...] = 1
    return tensor


def reset_weight_and_bias(weight, bias, *, rng=None) -> None:
    """torch's default for Linear and Conv layers: kaiming_uniform(a=sqrt(5)) weight
    (i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))) and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = calculate_fan_in_and_fan_out(_array(weight).shape)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, rng=rng)


def add_weight_and_bias(module, weight_shape, bias_size: int, bias, dtype, rng, *, fn: str) -> None:
    """Check ``bias`` (a bool) and ``dtype``, keep ``rng`` for ``reset_parameters``, and give
    ``module`` a ``weight`` parameter of ``weight_shape`` and a ``bias`` of ``bias_size`` (or
    ``bias = None``), drawn by ``module.reset_parameters()`` (Linear and the Conv layers)."""
    if not isinstance(bias, bool):
        raise TypeError(f"{fn}: bias must be a bool, got {bias!r}")
    dtype = check_dtype(dtype, fn=fn)
    module._rng = rng if rng is None else get_generator(rng)
    weight_shape = tuple(int(size) for size in weight_shape)
    count = math.prod(weight_shape) + (bias_size if bias else 0)
    require_memory(fn, count * (np.dtype(dtype).itemsize + 8),
                   what=f"a weight of shape {weight_shape} and its float64 initial draw")
    module.weight = Parameter(np.empty(weight_shape, dtype))
    if bias:
        module.bias = Parameter(np.empty(bias_size, dtype))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters()
