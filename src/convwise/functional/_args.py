"""Array-level validation shared by every functional op (the API boundary).

Shape arithmetic lives in :mod:`convwise.arithmetic`; this module checks the arrays
themselves (dtype, rank, channels) and adds/removes the batch dimension.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(value, *, fn: str, name: str) -> np.ndarray:
    """``np.asarray(value)``, which must be float32 or float64 (TypeError otherwise).

    Python lists of numbers become float64 arrays, as ``np.asarray`` gives for floats;
    lists of ints are refused like integer arrays (torch refuses integer convolution).
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{fn}: {name} must be an array of floats, could not convert {type(value).__name__}: {error}") from None
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{fn}: {name} must be float32 or float64, got dtype {array.dtype}")
    return array


def check_same_dtype(input: np.ndarray, other: np.ndarray, *, fn: str, name: str) -> None:
    if other.dtype != input.dtype:
        raise TypeError(f"{fn}: input ({input.dtype}) and {name} ({other.dtype}) must have the same dtype")


def to_batched(x: np.ndarray, spatial: int, *, fn: str) -> tuple[np.ndarray, bool]:
    """Return ``(x with a batch axis, was_unbatched)`` for ``(C, *S)`` or ``(N, C, *S)``."""
    if x.ndim == spatial + 1:
        return x[None], True
    if x.ndim == spatial + 2:
        return x, False
    raise ValueError(f"{fn}: expected a {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input, "
                     f"got {x.ndim}D input of shape {x.shape}")


def from_batched(y: np.ndarray, unbatched: bool) -> np.ndarray:
    return y[0] if unbatched else y


def check_groups(groups, *, fn: str) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{fn}: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{fn}: groups must be positive, got groups={groups}")
    return int(groups)


def check_bias(bias, input: np.ndarray, channels: int, *, fn: str) -> np.ndarray | None:
    if bias is None:
        return None
    bias = as_float_array(bias, fn=fn, name="bias")
    check_same_dtype(input, bias, fn=fn, name="bias")
    if bias.shape != (channels,):
        raise ValueError(f"{fn}: bias must have shape ({channels},) to match the output channels, got {bias.shape}")
    return bias


def check_spatial_nonempty(x: np.ndarray, *, fn: str) -> None:
    if x.shape[1] == 0 or any(s == 0 for s in x.shape[2:]):
        raise ValueError(f"{fn}: input must have non-zero channel and spatial sizes, got shape {x.shape}")
