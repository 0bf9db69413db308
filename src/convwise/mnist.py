"""Train the tutorials' 1x28x28 network on real MNIST files: ``convwise train mnist --data DIR``.

The network is the chain the tutorials and ``convwise shape`` walk through::

    1x28x28 -> Conv2d(1, 5, 5) -> 5x24x24 -> ReLU -> MaxPool2d(2) -> 5x12x12
            -> Conv2d(5, 10, 5) -> 10x8x8 -> ReLU -> MaxPool2d(2) -> 10x4x4 -> Flatten -> Linear(160, 10)

trained with :func:`convwise.train.fit` (Adam, cosine-decayed learning rate,
cross-entropy) on the IDX files read by :mod:`convwise.datasets`; the test split
(``t10k-*``) gives the reported accuracy when it is in the folder.

>>> import numpy as np
>>> mnist_cnn(rng=np.random.default_rng(0))(np.zeros((2, 1, 28, 28), np.float32)).shape
(2, 10)
"""

from __future__ import annotations

import os
import time

import numpy as np

from . import nn, optim
from .datasets import find_mnist_files, load_mnist
from .train import ARCHITECTURES, cosine_schedule, evaluate, fit, save

__all__ = ["mnist_cnn", "train_mnist"]


def mnist_cnn(channels=(5, 10), classes: int = 10, dtype=np.float32, rng=None) -> nn.Sequential:
    """The 1x28x28 tutorial network (see the module docstring); ``(N, 1, 28, 28)`` -> ``(N, classes)``."""
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise TypeError(f"mnist_cnn: channels must be a pair of ints, got channels={channels!r}")
    first, second = channels
    generator = nn.init.get_generator(rng)
    return nn.Sequential(
        nn.Conv2d(1, first, 5, dtype=dtype, rng=generator), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(first, second, 5, dtype=dtype, rng=generator), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(second * 4 * 4, classes, dtype=dtype, rng=generator),
    )


ARCHITECTURES.setdefault("mnist_cnn", mnist_cnn)


def train_mnist(data, epochs: int = 2, seed: int = 0, batch_size: int = 64, lr: float = 2e-3, limit: int | None = None,
                progress: bool = True, out=None) -> tuple[nn.Module, dict]:
    """Train :func:`mnist_cnn` on the MNIST files in folder ``data``; returns ``(model, report)``.

    ``report`` holds ``test_accuracy`` (on ``t10k-*`` if present, else ``None``), the
    per-epoch ``history``, ``seconds`` and the sample counts. ``limit`` keeps the first
    ``limit`` training images. A missing file is a ``ValueError`` saying where to get it.
    """
    for name, value, minimum in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"train_mnist: {name} must be an int, got {value!r}")
        if value < minimum:
            raise ValueError(f"train_mnist: {name} must be >= {minimum}, got {name}={value}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"train_mnist: limit must be a positive int, got limit={limit!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"train_mnist: lr must be a positive number, got lr={lr!r}")
    x_train, y_train = load_mnist(data, "train")
    if x_train.shape[2:] != (28, 28):
        raise ValueError(f"train_mnist: expected 28x28 images, got {x_train.shape[2]}x{x_train.shape[3]}")
    try:
        find_mnist_files(data, "test")
        x_test, y_test = load_mnist(data, "test")
    except ValueError as error:
        if "not found" not in str(error):
            raise
        x_test, y_test = None, None
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    if not len(x_train):
        raise ValueError(f"train_mnist: the training files in {os.fspath(data)} hold no images")
    rng = np.random.default_rng(seed)
    model = mnist_cnn(rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    history = fit(model, x_train, y_train, epochs=int(epochs), batch_size=int(batch_size), optimizer=optimizer,
                  rng=rng, progress=progress, schedule=cosine_schedule(lr, int(epochs)))
    seconds = time.perf_counter() - start
    test_accuracy = evaluate(model, x_test, y_test) if x_test is not None else None
    report = {
        "dataset": "mnist", "data": os.fspath(data), "epochs": int(epochs), "seed": int(seed),
        "batch_size": int(batch_size), "lr": float(lr), "test_accuracy": test_accuracy,
        "seconds": round(seconds, 3), "train_samples": int(len(x_train)),
        "test_samples": int(len(x_test)) if x_test is not None else 0,
        "parameters": int(sum(p.size for p in model.parameters())),
        "final_loss": history[-1]["loss"], "history": history,
    }
    if out is not None:
        save(out, model, {"architecture": "mnist_cnn", "config": {"channels": [5, 10], "classes": 10},
                          "dtype": "float32", "dataset": "mnist", "input_scale": 1.0 / 255.0,
                          "test_accuracy": test_accuracy, "epochs": int(epochs)})
        report["out"] = os.fspath(out)
    return model, report
