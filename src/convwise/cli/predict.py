"""``convwise predict weights.npz``: reload weights saved by ``convwise train`` and predict.

Without ``--input`` it predicts the held-out split the model was trained against (rebuilt
from the seed stored in the file) and reports the accuracy; with ``--input x.npy`` it
predicts images in the dataset's own units (digits: ``(N, 8, 8)`` or ``(N, 1, 8, 8)``,
pixel values 0..16).
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="predict with weights saved by `convwise train`",
                                   description="Load a .npz saved by `convwise train --out` and predict the held-out "
                                               "split (default) or the images of a .npy file.")
    parser.add_argument("weights", help="weights file written by `convwise train ... --out`")
    parser.add_argument("--input", default=None, metavar="X.npy", help="images to classify (default: the test split)")
    parser.add_argument("--output", default=None, metavar="Y.npy", help="also save the predicted labels")
    parser.add_argument("--json", action="store_true", help="print predictions (and accuracy) as JSON")
    parser.set_defaults(func=run)


def _load_images(path: str, scale: float):
    import numpy as np

    try:
        images = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"--input: no such file: {path}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"--input: {path} is not a readable .npy array ({error})") from None
    if images.dtype.kind not in "fiu":
        raise TypeError(f"--input: images must be numbers, got dtype {images.dtype}")
    if images.shape[-2:] != (8, 8) or images.ndim not in (2, 3, 4) or (images.ndim == 4 and images.shape[1] != 1):
        raise ValueError(f"--input: expected images shaped (8, 8), (N, 8, 8) or (N, 1, 8, 8), got {images.shape}")
    images = images.reshape(-1, 1, 8, 8)
    return (images * scale).astype(np.float32)


def run(args) -> int:
    import numpy as np

    from .._files import atomic_file
    from ..train import load, load_digits_split, predict

    model, meta = load(args.weights)
    labels = None
    if args.input is None:
        split = meta.get("split", {})
        _, images, _, labels = load_digits_split(split.get("test_size", 0.2), split.get("seed", 0))
    else:
        images = _load_images(args.input, meta.get("input_scale", 1.0))
    predictions = predict(model, images)
    accuracy = float(np.mean(predictions == labels)) if labels is not None else None
    if args.output:
        with atomic_file(args.output if args.output.endswith(".npy") else args.output + ".npy") as temporary:
            np.save(temporary, predictions)
    if args.json:
        print(json.dumps({"predictions": predictions.tolist(), "count": int(len(predictions)),
                          "accuracy": accuracy}))
        return 0
    if accuracy is not None:
        print(f"test accuracy: {accuracy:.4f} on {len(predictions)} held-out digits")
    shown = " ".join(str(int(p)) for p in predictions[:40])
    print(f"predictions ({len(predictions)}): {shown}{' ...' if len(predictions) > 40 else ''}")
    return 0
