"""Optimizers with torch.optim's update rules, step for step: ``SGD`` and ``Adam``.

Each optimizer updates :class:`convwise.nn.Parameter` arrays in place from their
``.grad`` (parameters whose ``.grad`` is ``None`` are skipped, as in torch).

>>> import numpy as np
>>> from convwise import nn, optim
>>> p = nn.Parameter(np.array([1.0, 2.0]))
>>> opt = optim.SGD([p], lr=0.1, momentum=0.9)
>>> p.grad = np.array([1.0, 1.0]); opt.step(); p.data.tolist()
[0.9, 1.9]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .nn.module import Parameter

__all__ = ["Optimizer", "SGD", "Adam"]


def _number(value, *, fn: str, name: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a number, got {value!r}")
    if not value >= minimum:  # also refuses NaN
        raise ValueError(f"{fn}: invalid {name}={value}, must be >= {minimum}")
    return float(value)


class Optimizer:
    """Base class: ``param_groups`` (a list of dicts with ``params`` and settings), per-parameter ``state``."""

    defaults: dict

    def __init__(self, params, defaults: dict):
        fn = type(self).__name__
        if isinstance(params, Parameter) or not isinstance(params, Iterable):
            raise TypeError(f"{fn}: params must be an iterable of Parameters or of dicts, got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{fn}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        seen = set()
        for group in groups:
            if not isinstance(group, dict) or "params" not in group:
                raise TypeError(f"{fn}: each parameter group must be a dict with a 'params' entry")
            group = dict(group)
            group["params"] = [group["params"]] if isinstance(group["params"], Parameter) else list(group["params"])
            for param in group["params"]:
                if not isinstance(param, Parameter):
                    raise TypeError(f"{fn}: can only optimize convwise.nn.Parameter objects, got {type(param).__name__}")
                if id(param) in seen:
                    raise ValueError(f"{fn}: a parameter appears in more than one group")
                seen.add(id(param))
            unknown = set(group) - set(defaults) - {"params"}
            if unknown:
                raise ValueError(f"{fn}: unknown settings {sorted(unknown)} in a parameter group")
            for key, value in defaults.items():
                group.setdefault(key, value)
            self._check_group(group)
            self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        pass

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad[...] = 0

    def state_dict(self) -> dict:
        """Settings and per-parameter state, with parameters numbered in group order (as torch)."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for param in group["params"]:
                index.setdefault(id(param), len(index))
                ids.append(index[id(param)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[key]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in value.items()}
                 for key, value in self.state.items() if key in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        fn = f"{type(self).__name__}.load_state_dict"
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or len(groups) != len(self.param_groups):
            raise ValueError(f"{fn}: state_dict has a different number of parameter groups")
        params = [p for group in self.param_groups for p in group["params"]]
        for mine, theirs in zip(self.param_groups, groups):
            if len(theirs["params"]) != len(mine["params"]):
                raise ValueError(f"{fn}: a parameter group has a different number of parameters")
            mine.update({k: v for k, v in theirs.items() if k != "params"})
        self.state = {id(params[i]): {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
                                      for k, v in value.items()}
                      for i, value in state_dict.get("state", {}).items()}

    def _params_with_grad(self, group: dict):
        for param in group["params"]:
            if param.grad is not None:
                yield param, np.asarray(param.grad, dtype=param.dtype), self.state.setdefault(id(param), {})

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    Per parameter: ``g = grad + weight_decay * p``; with momentum,
    ``buf = g`` on the first step, else ``buf = momentum * buf + (1 - dampening) * g``, and
    ``g = g + momentum * buf`` (Nesterov) or ``g = buf``; then ``p -= lr * g``.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        fn = type(self).__name__
        defaults = dict(lr=_number(lr, fn=fn, name="lr"), momentum=_number(momentum, fn=fn, name="momentum"),
                        dampening=float(_number(dampening, fn=fn, name="dampening", minimum=-math.inf)),
                        weight_decay=_number(weight_decay, fn=fn, name="weight_decay"),
                        nesterov=nesterov, maximize=maximize)
        if not isinstance(nesterov, bool) or not isinstance(maximize, bool):
            raise TypeError(f"{fn}: nesterov and maximize must be bools, got nesterov={nesterov!r}, maximize={maximize!r}")
        if nesterov and (defaults["momentum"] <= 0 or defaults["dampening"] != 0):
            raise ValueError(f"{fn}: Nesterov momentum requires a momentum and zero dampening, got "
                             f"momentum={momentum}, dampening={dampening}")
        super().__init__(params, defaults)

    def step(self) -> None:
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for param, grad, state in self._params_with_grad(group):
                d_p = -grad if group["maximize"] else grad
                if weight_decay != 0:
                    d_p = d_p + weight_decay * param.data
                if momentum != 0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = np.array(d_p, copy=True)
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * d_p
                    state["momentum_buffer"] = buf
                    d_p = d_p + momentum * buf if nesterov else buf
                param.data -= lr * d_p


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient; optional AMSGrad).

    Per parameter at step ``t``: ``g = grad + weight_decay * p``;
    ``m += (1 - beta1) * (g - m)``; ``v = beta2 * v + (1 - beta2) * g**2``;
    ``denom = sqrt(v_max_or_v) / sqrt(1 - beta2**t) + eps``;
    ``p -= lr / (1 - beta1**t) * m / denom``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False):
        fn = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{fn}: betas must be a pair of floats, got betas={betas!r}")
        beta1, beta2 = (_number(b, fn=fn, name="beta") for b in betas)
        if not (beta1 < 1 and beta2 < 1):
            raise ValueError(f"{fn}: betas must be in [0, 1), got betas={tuple(betas)}")
        if not isinstance(amsgrad, bool) or not isinstance(maximize, bool):
            raise TypeError(f"{fn}: amsgrad and maximize must be bools, got amsgrad={amsgrad!r}, maximize={maximize!r}")
        defaults = dict(lr=_number(lr, fn=fn, name="lr"), betas=(beta1, beta2), eps=_number(eps, fn=fn, name="eps"),
                        weight_decay=_number(weight_decay, fn=fn, name="weight_decay"), amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def step(self) -> None:
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
            for param, grad, state in self._params_with_grad(group):
                if group["maximize"]:
                    grad = -grad
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(param.data)
                    state["exp_avg_sq"] = np.zeros_like(param.data)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(param.data)
                state["step"] += 1
                step = state["step"]
                if weight_decay != 0:
                    grad = grad + weight_decay * param.data
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg += (1 - beta1) * (grad - exp_avg)  # torch's lerp_(grad, 1 - beta1)
                exp_avg_sq *= beta2
                exp_avg_sq += (1 - beta2) * grad * grad
                bias_correction1 = 1 - beta1 ** step
                bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
                step_size = lr / bias_correction1
                if amsgrad:
                    np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    denom = np.sqrt(state["max_exp_avg_sq"]) / bias_correction2_sqrt + eps
                else:
                    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
                param.data -= step_size * exp_avg / denom
