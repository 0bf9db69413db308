"""Classic sequential networks as plain layer specs, for :func:`convwise.summary`.

A model is a list of layer dicts, the same format users write in a JSON file::

    [{"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1},
     {"type": "relu"},
     {"type": "max_pool2d", "kernel_size": 2}]

``in_channels`` and ``in_features`` are inferred from the incoming shape where a layer
does not declare them; the built-in models declare their first layer's input channels
and their first linear layer's input features, so a summary of them at an input shape
they cannot take is refused rather than silently rebuilt. The layouts
below follow torchvision (AlexNet, VGG-16) and LeCun et al. 1998 (LeNet-5, with average
pooling as subsampling and tanh), so their totals match the published counts.

>>> sorted(MODELS)
['alexnet', 'lenet5', 'vgg16']
>>> MODELS["lenet5"].input_shape
(1, 32, 32)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BuiltinModel", "MODELS", "get_model", "lenet5", "alexnet", "vgg16"]


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    input_shape: tuple[int, ...]
    layers: tuple[dict, ...]
    description: str


def _conv(out_channels, kernel_size, stride=1, padding=0, in_channels=None):
    layer = {"type": "conv2d", "out_channels": out_channels, "kernel_size": kernel_size, "stride": stride,
             "padding": padding}
    return layer if in_channels is None else {"type": "conv2d", "in_channels": in_channels, **layer}


def lenet5() -> list[dict]:
    """LeNet-5 (LeCun et al., 1998) on 1x32x32 input: 61,706 parameters."""
    return [_conv(6, 5, in_channels=1), {"type": "tanh"}, {"type": "avg_pool2d", "kernel_size": 2},
            _conv(16, 5), {"type": "tanh"}, {"type": "avg_pool2d", "kernel_size": 2},
            {"type": "flatten"},
            {"type": "linear", "in_features": 16 * 5 * 5, "out_features": 120}, {"type": "tanh"},
            {"type": "linear", "out_features": 84}, {"type": "tanh"},
            {"type": "linear", "out_features": 10}]


def alexnet(num_classes: int = 1000) -> list[dict]:
    """AlexNet in torchvision's layout (features, avgpool, classifier): 61,100,840 parameters."""
    pool = {"type": "max_pool2d", "kernel_size": 3, "stride": 2}
    return [_conv(64, 11, 4, 2, in_channels=3), {"type": "relu"}, dict(pool),
            _conv(192, 5, padding=2), {"type": "relu"}, dict(pool),
            _conv(384, 3, padding=1), {"type": "relu"},
            _conv(256, 3, padding=1), {"type": "relu"},
            _conv(256, 3, padding=1), {"type": "relu"}, dict(pool),
            {"type": "adaptive_avg_pool2d", "output_size": [6, 6]},
            {"type": "flatten"},
            {"type": "dropout", "p": 0.5}, {"type": "linear", "in_features": 256 * 6 * 6, "out_features": 4096},
            {"type": "relu"}, {"type": "dropout", "p": 0.5}, {"type": "linear", "out_features": 4096}, {"type": "relu"},
            {"type": "linear", "out_features": num_classes}]


def vgg16(num_classes: int = 1000) -> list[dict]:
    """VGG-16 (configuration D) in torchvision's layout: 138,357,544 parameters."""
    layers: list[dict] = []
    in_channels: int | None = 3  # declared on the first layer: the built-in takes RGB images
    for item in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if item == "M":
            layers.append({"type": "max_pool2d", "kernel_size": 2, "stride": 2})
        else:
            layers += [_conv(item, 3, padding=1, in_channels=in_channels), {"type": "relu"}]
            in_channels = None
    return layers + [{"type": "adaptive_avg_pool2d", "output_size": [7, 7]}, {"type": "flatten"},
                     {"type": "linear", "in_features": 512 * 7 * 7, "out_features": 4096}, {"type": "relu"},
                     {"type": "dropout", "p": 0.5},
                     {"type": "linear", "out_features": 4096}, {"type": "relu"}, {"type": "dropout", "p": 0.5},
                     {"type": "linear", "out_features": num_classes}]


MODELS = {
    "lenet5": BuiltinModel("lenet5", (1, 32, 32), tuple(lenet5()), "LeNet-5 (LeCun et al. 1998)"),
    "alexnet": BuiltinModel("alexnet", (3, 224, 224), tuple(alexnet()), "AlexNet, torchvision layout"),
    "vgg16": BuiltinModel("vgg16", (3, 224, 224), tuple(vgg16()), "VGG-16, torchvision layout"),
}
_ALIASES = {"lenet": "lenet5", "lenet-5": "lenet5", "lenet_5": "lenet5", "vgg-16": "vgg16", "vgg_16": "vgg16",
            "vgg": "vgg16"}


def get_model(name: str) -> BuiltinModel:
    """A built-in model by name (case-insensitive; ``lenet``, ``vgg-16`` also work)."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in MODELS:
        raise ValueError(f"summary: unknown model {name!r}; built-in models are {', '.join(MODELS)} "
                         f"(or give a .json or .py file)")
    return MODELS[key]
