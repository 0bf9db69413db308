"""``Module`` and ``Parameter``: the torch-like base of :mod:`convwise.nn`.

Parameters
----------
A :class:`Parameter` is a small holder of two NumPy arrays: ``data`` (the values, updated
in place by :mod:`convwise.optim`) and ``grad`` (``None`` until a backward pass
accumulates into it). ``np.asarray(param)`` gives ``param.data``.

Backward
--------
There is no autograd tape. Each module's ``forward`` keeps what its own gradient needs
(usually its input) on the module, and ``backward(grad_output)``:

1. returns ``dL/d input`` for the input of the *most recent* forward call, and
2. adds ``dL/d parameter`` into each parameter's ``.grad`` (accumulating, like torch;
   clear it with :meth:`Module.zero_grad` or the optimizer's ``zero_grad``).

:class:`~convwise.nn.Sequential` runs its children's ``backward`` in reverse order. A
module called twice before one backward only remembers the second call.

>>> import numpy as np
>>> from convwise import nn
>>> layer = nn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
>>> y = layer(np.ones((4, 3)))
>>> layer.backward(np.ones_like(y)).shape, layer.weight.grad.shape
((4, 3), (2, 3))
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterator

import numpy as np

__all__ = ["Parameter", "Module", "IncompatibleKeys", "grad_array"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def check_dtype(dtype, *, fn: str) -> np.dtype:
    """``None`` -> float32; otherwise float32 or float64 (TypeError for anything else)."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}: dtype must be float32 or float64, got {dtype!r}") from None
    if result not in FLOAT_DTYPES:
        raise TypeError(f"{fn}: dtype must be float32 or float64, got dtype={result}")
    return result


def grad_array(module, grad_output, shape: tuple, dtype) -> np.ndarray:
    """``grad_output`` as an array of the forward output's ``shape`` (ValueError otherwise)."""
    fn = f"{type(module).__name__}.backward"
    try:
        dy = np.asarray(grad_output)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{fn}: grad_output must be an array of real numbers ({error})") from None
    if dy.dtype.kind not in "biuf":              # complex would lose its imaginary part; objects, strings: no
        raise TypeError(f"{fn}: grad_output must be an array of real numbers, got dtype {dy.dtype}")
    if dtype is not None:
        dy = dy.astype(dtype, copy=False)
    if dy.shape != tuple(shape):
        raise ValueError(f"{fn}: grad_output must have the forward output's shape {tuple(shape)}, got {dy.shape}")
    return dy


class Parameter:
    """A trainable array: ``data`` (values) and ``grad`` (accumulated gradient or ``None``).

    >>> p = Parameter(np.zeros((2, 3), np.float32))
    >>> p.shape, p.dtype, p.grad is None
    ((2, 3), dtype('float32'), True)
    """

    __slots__ = ("data", "grad")

    def __init__(self, data):
        array = np.asarray(data)
        if array.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Parameter: data must be float32 or float64, got dtype {array.dtype}")
        self.data = np.array(array, copy=True)
        self.grad = None

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` into ``.grad`` (creating it on first use)."""
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class _BufferSlot(namedtuple("_BufferSlot", ["module", "name"])):
    """Where ``load_state_dict`` writes a buffer (it has a parameter's ``shape`` and ``dtype``)."""

    shape = property(lambda self: self.module._buffers[self.name].shape)
    dtype = property(lambda self: self.module._buffers[self.name].dtype)


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of layers and containers, with torch.nn.Module's bookkeeping.

    Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, so
    ``named_parameters()`` and ``state_dict()`` use torch's dotted key names
    (``features.0.weight``).
    """

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())  # non-trainable state (BatchNorm's running stats)
        object.__setattr__(self, "training", True)

    # ---------------------------------------------------------------- registration

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            self._modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            params.pop(name, None)
            self._modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to parameter "
                                f"{name!r} (a Parameter or None is required)")
            params[name] = None
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to submodule {name!r}")
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            self._buffers[name] = None if value is None else np.asarray(value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # only called when normal lookup fails
        for table in ("_parameters", "_modules", "_buffers"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, a declared but absent parameter such as ``bias``)."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"{type(self).__name__}: parameter name must be a non-empty string without '.', got {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: {name} must be a Parameter or None, got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, array) -> None:
        """Register a non-trainable array (e.g. ``running_mean``): saved in ``state_dict``, not a parameter."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"{type(self).__name__}: buffer name must be a non-empty string without '.', got {name!r}")
        self.__dict__.pop(name, None)
        self._buffers[name] = None if array is None else np.asarray(array)

    def _state_entries(self):
        """``(dotted key, module, name, is_buffer)`` for every parameter and buffer, in torch's order."""
        for module_prefix, module in self.named_modules():
            tables = ((module._parameters, False), (module.__dict__.get("_buffers", {}), True))
            for table, is_buffer in tables:
                for name, value in table.items():
                    if value is not None:
                        yield (f"{module_prefix}.{name}" if module_prefix else name), module, name, is_buffer

    def add_module(self, name: str, module: Module | None) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"{type(self).__name__}: module name must be a non-empty string without '.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {name} must be a Module or None, got {type(module).__name__}")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    # ---------------------------------------------------------------- traversal

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "", _memo: set | None = None) -> Iterator[tuple[str, Module]]:
        memo = set() if _memo is None else _memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self.named_children():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` pairs in registration order; shared parameters once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_prefix}.{name}" if module_prefix else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    # ---------------------------------------------------------------- state

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter array under torch's key names (``0.weight``, ``0.bias``, ...)."""
        result = OrderedDict()
        for key, module, name, is_buffer in self._state_entries():
            value = module._buffers[name] if is_buffer else module._parameters[name].data
            result[key] = np.array(value, copy=True)
        return result

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters, casting to each parameter's dtype.

        ``state_dict`` maps torch's key names to arrays (NumPy arrays, or anything
        ``np.asarray`` accepts, e.g. CPU tensors). With ``strict`` (the default) missing or
        unexpected keys raise ``ValueError`` naming them; a shape mismatch always does.
        Nothing is changed unless every check passes. Returns ``(missing_keys, unexpected_keys)``.
        """
        fn = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"{fn}: state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
        expected = OrderedDict()
        for key, module, name, is_buffer in self._state_entries():
            expected[key] = _BufferSlot(module, name) if is_buffer else module._parameters[name]
        given = list(state_dict.keys())
        missing = [key for key in expected if key not in state_dict]
        unexpected = [key for key in given if key not in expected]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ValueError(f"{fn}: {'; '.join(parts)}")
        updates = []
        for key, param in expected.items():
            if key not in state_dict:
                continue
            try:
                value = np.asarray(state_dict[key])
            except (TypeError, ValueError) as error:
                raise TypeError(f"{fn}: {key} could not be converted to an array: {error}") from None
            if value.dtype.kind not in "fiu":
                raise TypeError(f"{fn}: {key} must hold numbers, got dtype {value.dtype}")
            if value.shape != param.shape:
                raise ValueError(f"{fn}: size mismatch for {key}: the model has shape {param.shape}, "
                                 f"the state_dict has shape {value.shape}")
            updates.append((param, value))
        for param, value in updates:
            if isinstance(param, _BufferSlot):
                param.module._buffers[param.name] = np.array(value, dtype=param.dtype, copy=True)
            else:
                param.data = np.array(value, dtype=param.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- modes, grads, dtype

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad[...] = 0

    def to(self, dtype) -> Module:
        """Cast every parameter (and gradient) to float32 or float64, in place; returns self."""
        dtype = check_dtype(dtype, fn=f"{type(self).__name__}.to")
        for param in self.parameters():
            param.data = param.data.astype(dtype)
            if param.grad is not None:
                param.grad = param.grad.astype(dtype)
        for module in self.modules():
            for name, value in module.__dict__.get("_buffers", {}).items():
                if value is not None and value.dtype.kind == "f":
                    module._buffers[name] = value.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ---------------------------------------------------------------- computation

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _saved(self):
        """The values a forward pass saved for backward (clear error if forward never ran)."""
        state = self.__dict__.get("_cache")
        if state is None:
            raise ValueError(f"{type(self).__name__}.backward: call forward() before backward()")
        return state

    # ---------------------------------------------------------------- repr

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"
