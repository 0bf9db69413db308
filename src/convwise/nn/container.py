"""``Sequential``: children run in order forward and in reverse order backward.

>>> import numpy as np
>>> from convwise import nn
>>> model = nn.Sequential(nn.Conv2d(1, 5, 5), nn.MaxPool2d(2))
>>> model
Sequential(
  (0): Conv2d(1, 5, kernel_size=(5, 5), stride=(1, 1))
  (1): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
)
>>> list(model.state_dict())
['0.weight', '0.bias']
"""

from __future__ import annotations

import operator
from collections import OrderedDict

import numpy as np

from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """A chain of modules, named ``"0"``, ``"1"``, ... (or by an ``OrderedDict``'s keys), as ``torch.nn.Sequential``."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            items = list(args[0].items())
        else:
            items = [(str(index), module) for index, module in enumerate(args)]
        for name, module in items:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: {name} must be a Module, got {type(module).__name__}")
            self.add_module(name, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(modules[index]))
        if isinstance(index, (bool, np.bool_)) or not hasattr(index, "__index__"):
            raise TypeError(f"Sequential: index must be an int or a slice, got {type(index).__name__} {index!r}")
        index = operator.index(index)          # NumPy integers too
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"Sequential: index {index} is out of range for {len(modules)} modules")
        return modules[index][1]

    def append(self, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def backward(self, grad_output):
        """Back-propagate through the children in reverse; returns ``dL/d input``."""
        for module in reversed(self._modules.values()):
            grad_output = module.backward(grad_output)
        return grad_output
