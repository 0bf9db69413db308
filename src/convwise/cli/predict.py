"""``convwise predict weights.npz``: reload weights saved by ``convwise train`` and predict.

Without ``--input`` it predicts the held-out split the model was trained against (rebuilt
from the seed stored in the file) and reports the accuracy; with ``--input x.npy`` it
predicts images in the dataset's own units (digits: ``(N, 8, 8)`` or ``(N, 1, 8, 8)``,
pixel values 0..16, as scikit-learn's ``load_digits`` gives them; ``--scale 1`` for
images already scaled to [0, 1]). Before predicting, the input's range is checked
against the training data's (stored in the weights file): an input on another scale is
refused with a message saying which scale fits, instead of silently predicting wrong
digits. ``--show net.png`` draws the learned kernels and the feature maps of the first
image through every layer.

Examples::

    convwise train digits --out digits.npz
    convwise predict digits.npz                         # held-out accuracy
    convwise predict digits.npz --show digits-net.png   # kernels + feature maps of a test digit
    convwise predict digits.npz --input x.npy           # raw 0..16 pixels
    convwise predict digits.npz --input x01.npy --scale 1
"""

from __future__ import annotations

import json
import sys

#: how far outside the training range (as a fraction of its span) an input may reach
RANGE_SLACK = 0.5


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="predict with weights saved by `convwise train`",
                                   description="Load a .npz saved by `convwise train --out` and predict the held-out "
                                               "split (default) or the images of a .npy file.")
    parser.add_argument("weights", help="weights file written by `convwise train ... --out`")
    parser.add_argument("--input", default=None, metavar="X.npy",
                        help="images to classify, shaped (8, 8), (N, 8, 8) or (N, 1, 8, 8), with pixel values "
                        "0..16 like scikit-learn's digits (default: the held-out test split)")
    parser.add_argument("--scale", type=float, default=None,
                        help="multiply --input by this before predicting (default: the training scale, 1/16 for "
                        "digits; use 1 for images already in [0, 1])")
    parser.add_argument("--no-range-check", action="store_true",
                        help="predict even when the input's range is far from the training data's")
    parser.add_argument("--output", default=None, metavar="Y.npy", help="also save the predicted labels")
    parser.add_argument("--show", default=None, metavar="NET.png",
                        help="draw the learned kernels and the feature maps of the first image through every layer")
    parser.add_argument("--json", action="store_true", help="print predictions (and accuracy) as JSON")
    parser.set_defaults(func=run)


def _load_images(path: str):
    import numpy as np

    try:
        images = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"predict: --input: no such file: {path}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"predict: --input: {path} is not a readable .npy array ({error})") from None
    if images.dtype.kind not in "fiu":
        raise TypeError(f"predict: --input: images must be numbers, got dtype {images.dtype}")
    if images.shape[-2:] != (8, 8) or images.ndim not in (2, 3, 4) or (images.ndim == 4 and images.shape[1] != 1):
        raise ValueError(f"predict: --input: expected images shaped 8x8, Nx8x8 or Nx1x8x8, got "
                         f"{'x'.join(map(str, images.shape))}")
    if not np.all(np.isfinite(images)):
        raise ValueError("predict: --input: images must be finite (no NaN or Inf)")
    return images.reshape(-1, 1, 8, 8).astype(np.float64)


def check_range(images, trained, scale: float) -> str:
    """Compare the scaled input's range with the training range ``trained = (lo, hi)``.

    Returns a one-line note when they agree; raises ValueError saying which ``--scale``
    would fit when the input lies far outside, or fills only a small part, of that range.
    """
    lo, hi = float(trained[0]), float(trained[1])
    span = (hi - lo) or 1.0
    got_lo, got_hi = float(images.min()), float(images.max())
    raw_lo, raw_hi = got_lo / scale, got_hi / scale
    outside = got_lo < lo - RANGE_SLACK * span or got_hi > hi + RANGE_SLACK * span
    squeezed = (got_hi - got_lo) < 0.25 * span and got_hi < lo + 0.25 * span
    if outside or squeezed:
        suggestion = ""
        if raw_hi > 0:
            fit = hi / raw_hi
            suggestion = f"; if your images are on another scale, --scale {fit:.4g} maps their maximum to {hi:g}"
        raise ValueError(f"predict: --input values span [{raw_lo:g}, {raw_hi:g}], i.e. [{got_lo:.4g}, {got_hi:.4g}] "
                         f"after --scale {scale:.4g}, but the model was trained on [{lo:g}, {hi:g}] (raw digits "
                         f"pixels 0..16 times 1/16){suggestion} (or --no-range-check)")
    return (f"input range [{raw_lo:g}, {raw_hi:g}] x {scale:.4g} = [{got_lo:.4g}, {got_hi:.4g}] matches the training "
            f"data's [{lo:g}, {hi:g}]")


def run(args) -> int:
    import numpy as np

    from .._files import atomic_file
    from ..train import DIGITS_SCALE, load, load_digits_split, predict

    if args.show is not None and not args.show.lower().endswith(".png"):
        raise ValueError(f"predict: --show must name a .png file, got {args.show!r}")
    if args.scale is not None and not (args.scale > 0 and np.isfinite(args.scale)):
        raise ValueError(f"predict: --scale must be a positive number, got {args.scale}")
    model, meta = load(args.weights)
    labels = None
    note = ""
    if args.input is None:
        if args.scale is not None:
            raise ValueError("predict: --scale applies to --input images only")
        split = meta.get("split", {})
        _, images, _, labels = load_digits_split(split.get("test_size", 0.2), split.get("seed", 0))
    else:
        scale = args.scale if args.scale is not None else float(meta.get("input_scale", DIGITS_SCALE))
        raw = _load_images(args.input)
        images = (raw * scale).astype(np.float32)
        trained = meta.get("input_range", [0.0, 1.0])  # files saved before the range was stored: digits in [0, 1]
        if not args.no_range_check:
            note = check_range(raw * scale, trained, scale)
    predictions = predict(model, images)
    accuracy = float(np.mean(predictions == labels)) if labels is not None else None
    if args.output:
        with atomic_file(args.output if args.output.endswith(".npy") else args.output + ".npy") as temporary:
            np.save(temporary, predictions)
    if args.show:
        from ..viz.filters import draw_network

        label = None if labels is None else int(labels[0])
        with atomic_file(args.show) as picture:
            draw_network(model, images[0], picture, label=label,
                         title=f"{meta.get('architecture', 'model')} trained on {meta.get('dataset', 'data')}: "
                               f"learned kernels and the feature maps of one input")
    if args.json:
        print(json.dumps({"predictions": predictions.tolist(), "count": int(len(predictions)),
                          "accuracy": accuracy, "range_check": note or None}))
        return 0
    if note:
        sys.stderr.write(note + "\n")
    if accuracy is not None:
        print(f"test accuracy: {accuracy:.4f} on {len(predictions)} held-out digits")
    shown = " ".join(str(int(p)) for p in predictions[:40])
    print(f"predictions ({len(predictions)}): {shown}{' ...' if len(predictions) > 40 else ''}")
    if args.show:
        print(f"wrote {args.show}")
    return 0
