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
    """A finite real number >= ``minimum`` (NumPy scalars accepted; bools, NaN, inf and huge ints refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and number >= minimum):
        bound = "" if minimum == -math.inf else f" >= {minimum}"
        raise ValueError(f"{fn}: invalid {name}={value}, must be a finite number{bound}")
    return number


def _flag(value, *, fn: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


class Optimizer:
    """Base class: ``param_groups`` (a list of dicts with ``params`` and settings), per-parameter ``state``."""

    defaults: dict

    def __init__(self, params, defaults: dict):
        fn = type(self).__name__
        if isinstance(params, (Parameter, dict)) or not isinstance(params, Iterable):
            raise TypeError(f"{fn}: params must be an iterable of Parameters or of dicts, got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{fn}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        seen: set[int] = set()
        for number, group in enumerate(groups):
            if not isinstance(group, dict) or "params" not in group:
                raise TypeError(f"{fn}: parameter group {number} must be a dict with a 'params' entry, "
                                f"got {type(group).__name__}")
            group = dict(group)
            members = group["params"]
            if isinstance(members, Parameter):
                members = [members]
            elif isinstance(members, (dict, str, bytes)) or not isinstance(members, Iterable):
                raise TypeError(f"{fn}: 'params' of parameter group {number} must be a Parameter or an iterable "
                                f"of Parameters, got {type(members).__name__} {members!r}")
            group["params"] = list(members)
            for param in group["params"]:
                if not isinstance(param, Parameter):
                    raise TypeError(f"{fn}: can only optimize convwise.nn.Parameter objects, got {type(param).__name__}")
                if id(param) in seen:
                    raise ValueError(f"{fn}: a parameter appears in more than one group")
                seen.add(id(param))
            unknown = set(group) - set(defaults) - {"params"}
            if unknown:
                raise ValueError(f"{fn}: unknown settings {sorted(unknown)} in parameter group {number}")
            for key, value in defaults.items():
                group.setdefault(key, value)
            self._check_group(group)
            self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate (and normalise in place) one group's settings by the constructor's rules."""
        settings = {key: value for key, value in group.items() if key != "params"}
        group.update(self._checked_settings(settings, fn=type(self).__name__))

    @classmethod
    def _checked_settings(cls, settings: dict, *, fn: str) -> dict:
        return settings

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad[...] = 0

    def state_dict(self) -> dict:
        """Settings and per-parameter state, with parameters numbered in group order (as torch)."""
        index: dict[int, int] = {}
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
        """Load settings and state saved by :meth:`state_dict` (validated first; nothing changes on error)."""
        fn = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{fn}: state_dict must be a dict, got {type(state_dict).__name__}")
        groups, saved_state = state_dict.get("param_groups"), state_dict.get("state", {})
        if not isinstance(groups, (list, tuple)):
            raise ValueError(f"{fn}: state_dict needs a 'param_groups' list, got {type(groups).__name__}")
        if not isinstance(saved_state, dict):
            raise TypeError(f"{fn}: state_dict['state'] must be a dict, got {type(saved_state).__name__}")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{fn}: state_dict has {len(groups)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        id_map: dict = {}
        new_groups = []
        for number, (mine, theirs) in enumerate(zip(self.param_groups, groups)):
            if not isinstance(theirs, dict) or not isinstance(theirs.get("params"), (list, tuple)):
                raise ValueError(f"{fn}: parameter group {number} must be a dict with a 'params' list")
            if len(theirs["params"]) != len(mine["params"]):
                raise ValueError(f"{fn}: parameter group {number} has {len(theirs['params'])} parameters, "
                                 f"the optimizer's has {len(mine['params'])}")
            settings = {key: value for key, value in theirs.items() if key != "params"}
            if set(settings) != set(self.defaults):
                raise ValueError(f"{fn}: parameter group {number} has settings {sorted(settings)}, expected "
                                 f"{sorted(self.defaults)}")
            new_groups.append(self._checked_settings(settings, fn=fn))
            for key, param in zip(theirs["params"], mine["params"]):
                if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key in id_map:
                    raise ValueError(f"{fn}: parameter ids must be distinct ints, got {key!r} in group {number}")
                id_map[int(key)] = param
        state = {}
        for key, value in saved_state.items():
            param = id_map.get(key) if isinstance(key, (int, np.integer)) and not isinstance(key, bool) else None
            if param is None:
                raise ValueError(f"{fn}: state for parameter id {key!r}, which no parameter group lists")
            if not isinstance(value, dict):
                raise TypeError(f"{fn}: state of parameter {key} must be a dict, got {type(value).__name__}")
            state[id(param)] = {name: self._checked_state(name, item, param, fn=f"{fn}: state[{key}]")
                                for name, item in value.items()}
        for mine, settings in zip(self.param_groups, new_groups):
            mine.update(settings)
        self.state = state

    @staticmethod
    def _checked_state(name: str, value, param: Parameter, *, fn: str):
        """One saved state entry: arrays must match the parameter's shape and be real; ``step`` an int >= 0."""
        if name == "step":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{fn}: step must be an int >= 0, got {value!r}")
            return int(value)
        if value is None:
            return None
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: {name} must be an array of real numbers, got dtype {array.dtype}")
        if array.shape != param.shape:
            raise ValueError(f"{fn}: {name} must have the parameter's shape {param.shape}, got {array.shape}")
        return np.array(array, dtype=param.dtype, copy=True)

    def _params_with_grad(self, group: dict):
        fn = f"{type(self).__name__}.step"
        for param in group["params"]:
            if param.grad is not None:
                grad = np.asarray(param.grad)
                if grad.dtype.kind not in "biuf":
                    raise TypeError(f"{fn}: a parameter's grad must be real, got dtype {grad.dtype}")
                if grad.shape != param.shape:
                    raise ValueError(f"{fn}: a parameter's grad must have its shape {param.shape}, got {grad.shape}")
                yield param, grad.astype(param.dtype, copy=False), self.state.setdefault(id(param), {})

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
        defaults = self._checked_settings(dict(lr=lr, momentum=momentum, dampening=dampening,
                                               weight_decay=weight_decay, nesterov=nesterov, maximize=maximize),
                                          fn=type(self).__name__)
        super().__init__(params, defaults)

    @classmethod
    def _checked_settings(cls, settings: dict, *, fn: str) -> dict:
        checked = dict(lr=_number(settings["lr"], fn=fn, name="lr"),
                       momentum=_number(settings["momentum"], fn=fn, name="momentum"),
                       dampening=_number(settings["dampening"], fn=fn, name="dampening", minimum=-math.inf),
                       weight_decay=_number(settings["weight_decay"], fn=fn, name="weight_decay"),
                       nesterov=_flag(settings["nesterov"], fn=fn, name="nesterov"),
                       maximize=_flag(settings["maximize"], fn=fn, name="maximize"))
        if checked["nesterov"] and (checked["momentum"] <= 0 or checked["dampening"] != 0):
            raise ValueError(f"{fn}: Nesterov momentum requires a momentum and zero dampening, got "
                             f"momentum={checked['momentum']}, dampening={checked['dampening']}")
        return checked

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
        defaults = self._checked_settings(dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                               amsgrad=amsgrad, maximize=maximize), fn=type(self).__name__)
        super().__init__(params, defaults)

    @classmethod
    def _checked_settings(cls, settings: dict, *, fn: str) -> dict:
        betas = settings["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{fn}: betas must be a pair of floats, got betas={betas!r}")
        beta1, beta2 = (_number(b, fn=fn, name="beta") for b in betas)
        if not (beta1 < 1 and beta2 < 1):
            raise ValueError(f"{fn}: betas must be in [0, 1), got betas={tuple(betas)}")
        return dict(lr=_number(settings["lr"], fn=fn, name="lr"), betas=(beta1, beta2),
                    eps=_number(settings["eps"], fn=fn, name="eps"),
                    weight_decay=_number(settings["weight_decay"], fn=fn, name="weight_decay"),
                    amsgrad=_flag(settings["amsgrad"], fn=fn, name="amsgrad"),
                    maximize=_flag(settings["maximize"], fn=fn, name="maximize"))

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
