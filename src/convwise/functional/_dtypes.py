"""Which dtypes each functional op accepts (torch 2.13 on CPU), and float16 support.

torch accepts a different set of dtypes per op. The table :data:`ACCEPTS` records the set
this module enforces, probed from torch 2.13 CPU; an op called with another dtype raises a
``TypeError`` naming the op and the dtype, as torch raises (a ``RuntimeError`` there):
``avg_pool2d: input dtype uint8 is not supported (supported: float16, float32, float64)``.

- float16 is computed in float32 and the result rounded once to float16 (what torch's
  CPU kernels do: they accumulate in float32); indices stay int64.
- ``max_pool{1,2,3}d`` on integer arrays compares the values exactly (through their ranks,
  so int64 beyond 2**53 stays exact) and returns the input's dtype, like torch; torch
  refuses ``max_pool1d`` on integers unless ``return_indices=True`` and so does this table.
- ``pad`` accepts bool and integer arrays (bool not for reflect/replicate), see
  :mod:`convwise.functional.padding`.

Deliberate differences from torch (torch accepts, convwise refuses with a TypeError):
integer convolution (torch's slow integer kernels; the engine computes in floating point),
``avg_pool``/``lp_pool`` on int64/bool (torch divides in integers), ``interpolate`` on uint8.

:func:`wrap_public` applies the policy around the public functions of
:mod:`convwise.functional` without touching their modules.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["ACCEPTS", "as_array", "check_dtype", "wrap_public", "dtype_name"]

_FLOATS = frozenset({"float32", "float64"})
_HALF = _FLOATS | {"float16"}
_INTS = frozenset({"uint8", "int8", "int16", "int32", "int64"})

#: op name -> dtypes of ``input`` it accepts (torch 2.13 CPU, minus the documented differences)
ACCEPTS: dict[str, frozenset[str]] = {
    **{f"conv{d}d": _HALF for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": _HALF for d in (1, 2, 3)},
    **{f"max_pool{d}d": _HALF | _INTS for d in (1, 2, 3)},      # max_pool1d: ints only with indices
    **{f"avg_pool{d}d": _HALF for d in (1, 2)}, "avg_pool3d": _FLOATS,
    **{f"adaptive_avg_pool{d}d": _HALF for d in (1, 2, 3)},
    **{f"adaptive_max_pool{d}d": _HALF for d in (1, 2, 3)},
    **{f"lp_pool{d}d": _HALF for d in (1, 2)}, "lp_pool3d": _FLOATS,
    **{f"max_unpool{d}d": _HALF for d in (1, 2, 3)},
    "unfold": _HALF | {"bool"}, "fold": _HALF | {"bool"},
    "interpolate": _HALF,
    "pad": _HALF | _INTS | {"bool"},
}


def dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def as_array(value, *, fn: str, name: str) -> np.ndarray:
    """``np.asarray(value)`` with a TypeError naming ``fn`` and ``name`` when it is not numeric."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{fn}: {name} must be an array of numbers, could not convert "
                        f"{type(value).__name__}: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {name} must be an array of numbers, got dtype {array.dtype}")
    return array


def check_dtype(array: np.ndarray, op: str, *, fn: str, name: str = "input") -> None:
    """TypeError unless ``op`` accepts ``array``'s dtype (see :data:`ACCEPTS`)."""
    allowed = ACCEPTS[op]
    if array.dtype.name not in allowed:
        order = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
        shown = ", ".join(d for d in order if d in allowed)
        raise TypeError(f"{fn}: {name} dtype {array.dtype} is not supported (supported: {shown})")


def _half_to_single(value):
    if isinstance(value, np.ndarray) and value.dtype == np.float16:
        return value.astype(np.float32)
    return value


def _single_to_half(value):
    if isinstance(value, tuple):
        return tuple(_single_to_half(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        return value.astype(np.float16)
    return value


def _max_pool_policy(function, op: str):
    spatial = int(op[-2])

    @functools.wraps(function)
    def wrapper(input, *args, **kwargs):
        x = as_array(input, fn=op, name="input")
        if x.dtype.kind == "f" and x.dtype != np.float16:
            return function(x, *args, **kwargs)
        check_dtype(x, op, fn=op)
        if x.dtype == np.float16:
            return _single_to_half(function(x.astype(np.float32), *args, **kwargs))
        return_indices = kwargs.get("return_indices", args[5] if len(args) > 5 else False)
        if spatial == 1 and not return_indices:
            raise TypeError(f"{op}: input dtype {x.dtype} is supported only with return_indices=True (as in torch)")
        if not isinstance(return_indices, (bool, np.bool_)):
            return function(x.astype(np.float64), *args, **kwargs)  # let the op report the bad argument
        _, ranks = np.unique(x.reshape(-1), return_inverse=True)
        call_args = list(args)
        if len(call_args) > 5:
            call_args[5] = True
        else:
            kwargs = dict(kwargs, return_indices=True)
        _, indices = function(ranks.reshape(x.shape).astype(np.float64), *call_args, **kwargs)
        batched = x if x.ndim == spatial + 2 else x[None]
        index_b = indices if x.ndim == spatial + 2 else indices[None]
        planes = batched.reshape(batched.shape[:2] + (-1,))
        values = np.take_along_axis(planes, index_b.reshape(index_b.shape[:2] + (-1,)), axis=2)
        values = values.reshape(index_b.shape)
        if x.ndim != spatial + 2:
            values = values[0]
        return (values, indices) if return_indices else values

    return wrapper


def _float_policy(function, op: str):
    @functools.wraps(function)
    def wrapper(input, *args, **kwargs):
        x = as_array(input, fn=op, name="input")
        if x.dtype.name in _FLOATS:
            return function(x, *args, **kwargs)
        check_dtype(x, op, fn=op)
        if x.dtype == np.float16:
            for value in (*args, *kwargs.values()):
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype != np.float16:
                    raise TypeError(f"{op}: input (float16) and its other arrays ({value.dtype}) must have the "
                                    f"same dtype")
            args = tuple(_half_to_single(a) for a in args)
            kwargs = {k: _half_to_single(v) for k, v in kwargs.items()}
            return _single_to_half(function(x.astype(np.float32), *args, **kwargs))
        return function(x, *args, **kwargs)

    return wrapper


def wrap_public(namespace: dict) -> None:
    """Wrap the ops of :data:`ACCEPTS` found in ``namespace`` (a module's globals) with the policy.

    ``pad``, ``unfold``, ``fold``, ``lp_pool*``, ``max_unpool*`` and ``interpolate`` check
    dtypes themselves and are left as they are.
    """
    for op in ACCEPTS:
        function = namespace.get(op)
        if function is None or op in ("pad", "unfold", "fold", "interpolate") or op.startswith(("lp_", "max_unpool")):
            continue
        if getattr(function, "_dtype_policy", False):
            continue
        policy = _max_pool_policy if op.startswith("max_pool") else _float_policy
        namespace[op] = policy(function, op)
        namespace[op]._dtype_policy = True
