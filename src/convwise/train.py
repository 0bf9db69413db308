"""Train, save, load and run a small CNN with :mod:`convwise.nn` and :mod:`convwise.optim`.

The ``digits`` recipe trains ``conv -> relu -> pool -> conv -> relu -> pool -> flatten ->
linear`` on scikit-learn's bundled 8x8 digits (1,797 images, no download) with a
stratified, seeded train/test split, mini-batch Adam and cross-entropy, and reports the
held-out accuracy. Weights are saved as an ``.npz`` whose arrays are the model's
``state_dict`` (torch's key names) plus one ``__convwise__`` entry: a JSON string with the
architecture and the data settings needed to rebuild the model and predict again.

>>> import numpy as np
>>> model = digits_cnn(rng=np.random.default_rng(0))
>>> model(np.zeros((2, 1, 8, 8), np.float32)).shape
(2, 10)
"""

from __future__ import annotations

import json
import math
import os
import time
import zipfile
from collections.abc import Callable

import numpy as np

from . import nn, optim
from ._files import atomic_file

__all__ = ["digits_cnn", "ARCHITECTURES", "load_digits_split", "fit", "predict", "evaluate", "save", "load",
           "train_digits", "cosine_schedule", "METADATA_KEY"]

METADATA_KEY = "__convwise__"
FORMAT_VERSION = 1
DIGITS_SCALE = 1.0 / 16.0  # digits pixels are 0..16


def digits_cnn(channels=(16, 32), classes: int = 10, dtype=np.float32, rng=None) -> nn.Sequential:
    """The digits network: two 3x3 'same' conv + ReLU + 2x2 max-pool blocks, then a linear layer.

    Shape: ``(N, 1, 8, 8)`` -> ``(N, c1, 4, 4)`` -> ``(N, c2, 2, 2)`` -> ``(N, classes)``.
    """
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise TypeError(f"digits_cnn: channels must be a pair of ints, got channels={channels!r}")
    first, second = channels
    generator = nn.init.get_generator(rng)
    return nn.Sequential(
        nn.Conv2d(1, first, 3, padding=1, dtype=dtype, rng=generator), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(first, second, 3, padding=1, dtype=dtype, rng=generator), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(second * 2 * 2, classes, dtype=dtype, rng=generator),
    )


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"digits_cnn": digits_cnn}


def load_digits_split(test_size: float = 0.2, seed: int = 0, dtype=np.float32):
    """``(x_train, x_test, y_train, y_test)``: digits as ``(N, 1, 8, 8)`` in [0, 1], stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images[:, None] * DIGITS_SCALE).astype(dtype)
    return train_test_split(images, digits.target.astype(np.int64), test_size=test_size, stratify=digits.target,
                            random_state=seed)


def predict(model: nn.Module, x, batch_size: int = 512) -> np.ndarray:
    """Class predictions (argmax of the logits), in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    try:
        x = np.asarray(x)
        outputs = [np.argmax(model(x[i:i + batch_size]), axis=1) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else np.zeros(0, np.int64)


def evaluate(model: nn.Module, x, y, batch_size: int = 512) -> float:
    """Fraction of correct predictions."""
    y = np.asarray(y)
    return float(np.mean(predict(model, x, batch_size) == y)) if len(y) else float("nan")


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, optimizer: optim.Optimizer,
        criterion: nn.Module | None = None, rng: np.random.Generator | None = None, progress: bool = True,
        schedule: Callable[[int], float] | None = None, callback: Callable[[dict], None] | None = None) -> list[dict]:
    """Mini-batch training: shuffle, forward, loss, backward, step; returns one record per epoch.

    Each record holds ``epoch``, the mean training ``loss`` and the training ``accuracy``
    (both over the epoch's batches, as seen during training). ``schedule(epoch)`` (1-based),
    if given, sets every parameter group's learning rate at the start of each epoch.
    ``progress`` shows a tqdm bar on stderr with the epoch, running loss and accuracy.
    """
    criterion = criterion or nn.CrossEntropyLoss()
    rng = rng if rng is not None else np.random.default_rng()
    batches = math.ceil(len(x) / batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * batches, unit="batch", leave=True, dynamic_ncols=True)
    history = []
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            if schedule is not None:
                for group in optimizer.param_groups:
                    group["lr"] = float(schedule(epoch))
            order = rng.permutation(len(x))
            total_loss, correct, seen = 0.0, 0, 0
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{epochs}")
            for start in range(0, len(x), batch_size):
                index = order[start:start + batch_size]
                inputs, targets = x[index], y[index]
                optimizer.zero_grad()
                logits = model(inputs)
                loss = criterion(logits, targets)
                model.backward(criterion.backward())  # type: ignore[call-arg]  # losses default grad_output=1
                optimizer.step()
                total_loss += float(loss) * len(index)
                correct += int(np.sum(np.argmax(logits, axis=1) == targets))
                seen += len(index)
                if bar is not None:
                    bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)
                    bar.update(1)
            record = {"epoch": epoch, "loss": total_loss / seen, "accuracy": correct / seen}
            history.append(record)
            if callback is not None:
                callback(record)
    finally:
        if bar is not None:
            bar.close()
    return history


def save(path, model: nn.Module, metadata: dict) -> None:
    """Write ``model.state_dict()`` and ``metadata`` (JSON-serialisable, with ``architecture``) to ``path``."""
    state = model.state_dict()
    if METADATA_KEY in state:
        raise ValueError(f"save: parameter name {METADATA_KEY!r} is reserved")
    text = json.dumps({"format": FORMAT_VERSION, **metadata})
    with atomic_file(path) as temporary, open(temporary, "wb") as handle:   # no partial file on failure
        np.savez(handle, **state, **{METADATA_KEY: np.array(text)})  # type: ignore[arg-type]


def load(path) -> tuple[nn.Module, dict]:
    """Rebuild the model saved by :func:`save`; returns ``(model, metadata)``.

    Raises
    ------
    ValueError
        Naming the file, for a missing, unreadable, truncated or corrupt file, a file that
        is not a convwise weights file, or weights that do not fit the saved architecture.
    """
    from . import mnist  # noqa: F401  (registers "mnist_cnn" in ARCHITECTURES)
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"load: path must be a str or os.PathLike, got {type(path).__name__} {path!r}") from None
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"load: no such file: {path}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"load: {path} is not a readable .npz weights file ({type(error).__name__}: {error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {path} is not a convwise weights file (a bare .npy array, not an .npz archive)")
    with archive:
        try:
            return _rebuild(archive, path)
        except (OSError, EOFError, zipfile.BadZipFile, KeyError, AttributeError, TypeError) as error:
            raise ValueError(f"load: {path} is corrupt or not a convwise weights file "
                             f"({type(error).__name__}: {error})") from None


def _rebuild(archive, path: str) -> tuple[nn.Module, dict]:
    if METADATA_KEY not in archive.files:
        raise ValueError(f"load: {path} is not a convwise weights file (no {METADATA_KEY!r} entry)")
    try:
        metadata = json.loads(str(archive[METADATA_KEY]))
    except json.JSONDecodeError as error:
        raise ValueError(f"load: {path} has unreadable metadata ({error})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"load: {path} has metadata that is not a JSON object: {metadata!r}")
    architecture = metadata.get("architecture")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"load: {path} has unknown architecture={architecture!r}; "
                         f"known: {sorted(ARCHITECTURES)}")
    config = metadata.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"load: {path} has a 'config' that is not a JSON object: {config!r}")
    config = dict(config)
    config["dtype"] = np.dtype(metadata.get("dtype", "float32"))
    try:
        model = ARCHITECTURES[architecture](**config, rng=0)
    except (TypeError, ValueError) as error:
        raise ValueError(f"load: {path} has a config that does not build a {architecture}: {error}") from None
    state = {key: archive[key] for key in archive.files if key != METADATA_KEY}
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError) as error:
        raise ValueError(f"load: {path} holds weights that do not fit its {architecture}: {error}") from None
    model.eval()
    return model, metadata


def cosine_schedule(lr: float, epochs: int) -> Callable[[int], float]:
    """Learning rate ``lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2``: from ``lr`` down towards 0."""
    return lambda epoch: lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))


def train_digits(epochs: int = 15, seed: int = 0, batch_size: int = 32, lr: float = 1e-2, channels=(16, 32),
                 test_size: float = 0.2, limit: int | None = None, progress: bool = True,
                 out=None) -> tuple[nn.Module, dict]:
    """Train :func:`digits_cnn` on the digits split (Adam, cosine-decayed ``lr``); returns ``(model, report)``.

    ``report`` holds ``test_accuracy``, ``epochs``, ``seconds`` (training time), the
    per-epoch ``history`` and the split sizes. ``limit`` keeps only the first ``limit``
    training images (a quick run). ``out`` saves the weights with :func:`save`.
    """
    for name, value, minimum in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"train_digits: {name} must be an int, got {value!r}")
        if value < minimum:
            raise ValueError(f"train_digits: {name} must be >= {minimum}, got {name}={value}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"train_digits: limit must be a positive int, got limit={limit!r}")
    if isinstance(lr, bool) or not (isinstance(lr, (int, float, np.integer, np.floating)) and 0 < lr < math.inf):
        raise ValueError(f"train_digits: lr must be a positive number, got lr={lr!r}")
    x_train, x_test, y_train, y_test = load_digits_split(test_size, seed)
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    rng = np.random.default_rng(seed)
    model = digits_cnn(tuple(channels), rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    history = fit(model, x_train, y_train, epochs=int(epochs), batch_size=int(batch_size), optimizer=optimizer,
                  rng=rng, progress=progress, schedule=cosine_schedule(lr, int(epochs)))
    seconds = time.perf_counter() - start
    test_accuracy = evaluate(model, x_test, y_test)
    report = {
        "dataset": "digits", "epochs": int(epochs), "seed": int(seed), "batch_size": int(batch_size), "lr": float(lr),
        "test_accuracy": test_accuracy, "seconds": round(seconds, 3),
        "train_samples": int(len(x_train)), "test_samples": int(len(x_test)),
        "parameters": int(sum(p.size for p in model.parameters())),
        "final_loss": history[-1]["loss"], "history": history,
    }
    if out is not None:
        save(out, model, {"architecture": "digits_cnn", "config": {"channels": list(channels), "classes": 10},
                          "dtype": "float32", "dataset": "digits", "input_scale": DIGITS_SCALE,
                          "input_range": [float(x_train.min()), float(x_train.max())],  # model units, for predict
                          "split": {"test_size": test_size, "seed": int(seed)},
                          "test_accuracy": test_accuracy, "epochs": int(epochs)})
        report["out"] = os.fspath(out)
    return model, report
