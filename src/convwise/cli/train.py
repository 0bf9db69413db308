"""``convwise train digits|mnist``: train a small CNN, report held-out accuracy, save weights.

``mnist`` reads the IDX files from ``--data DIR`` (see :mod:`convwise.datasets`) and trains
the tutorials' 1x28x28 network (:mod:`convwise.mnist`).

Examples::

    convwise train digits                       # 15 epochs, progress bar, prints test accuracy
    convwise train digits --epochs 3 --json     # machine-readable report
    convwise train digits --out weights.npz     # then: convwise predict weights.npz
"""

from __future__ import annotations

import json

from . import positive_float


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a small CNN (convwise.nn) on a bundled dataset",
                                   description="Train conv -> relu -> pool -> conv -> relu -> pool -> linear on "
                                               "scikit-learn's 8x8 digits with convwise.nn and convwise.optim.Adam; "
                                               "prints the held-out test accuracy.")
    parser.add_argument("dataset", choices=["digits", "mnist"],
                        help="dataset: scikit-learn's bundled digits, or MNIST IDX files from --data DIR")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="mnist: folder with train-images-idx3-ubyte[.gz] etc. (nothing is downloaded)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes over the training split (default: 15 for digits, 2 for mnist)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initial weights and shuffling (default: 0)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default: 32)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="Adam learning rate, cosine-decayed (default: 0.01 for digits, 0.002 for mnist)")
    parser.add_argument("--test-size", type=positive_float, default=0.2,
                        help="held-out fraction, stratified (default: 0.2)")
    parser.add_argument("--limit", type=int, default=None, help="train on only the first N training images")
    parser.add_argument("--out", default=None, metavar="PATH", help="save the weights (.npz) for `convwise predict`")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..train import train_digits

    if args.dataset == "mnist":
        return _run_mnist(args)

    if not 0.0 < args.test_size < 1.0:
        raise ValueError(f"--test-size must be between 0 and 1, got {args.test_size}")
    progress = not args.no_progress  # on stderr, so --json output stays clean
    epochs = 15 if args.epochs is None else args.epochs
    lr = 1e-2 if args.lr is None else args.lr
    _, report = train_digits(epochs=epochs, seed=args.seed, batch_size=args.batch_size, lr=lr,
                             test_size=args.test_size, limit=args.limit, progress=progress, out=args.out)
    if args.json:
        print(json.dumps(report))
        return 0
    last = report["history"][-1]
    print(f"trained {report['parameters']} parameters on {report['train_samples']} digits for {report['epochs']} "
          f"epochs in {report['seconds']:.1f} s (final loss {last['loss']:.4f}, train accuracy {last['accuracy']:.4f})")
    print(f"test accuracy: {report['test_accuracy']:.4f} on {report['test_samples']} held-out digits")
    if args.out:
        print(f"saved weights to {args.out}")
    return 0


def _run_mnist(args) -> int:
    from ..mnist import train_mnist

    if args.data is None:
        raise ValueError("mnist needs --data DIR, a folder with the MNIST IDX files (train-images-idx3-ubyte.gz, "
                         "...); get them from https://yann.lecun.org/exdb/mnist/")
    epochs = 2 if args.epochs is None else args.epochs
    lr = 2e-3 if args.lr is None else args.lr
    _, report = train_mnist(args.data, epochs=epochs, seed=args.seed, batch_size=args.batch_size, lr=lr,
                            limit=args.limit,
                            progress=not args.no_progress, out=args.out)
    if args.json:
        print(json.dumps(report))
        return 0
    last = report["history"][-1]
    print(f"trained {report['parameters']} parameters on {report['train_samples']} MNIST images for "
          f"{report['epochs']} epochs in {report['seconds']:.1f} s (final loss {last['loss']:.4f}, "
          f"train accuracy {last['accuracy']:.4f})")
    if report["test_accuracy"] is not None:
        print(f"test accuracy: {report['test_accuracy']:.4f} on {report['test_samples']} t10k images")
    if args.out:
        print(f"saved weights to {args.out}")
    return 0
