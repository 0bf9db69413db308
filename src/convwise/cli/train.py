"""``convwise train digits``: train the small digits CNN, report held-out accuracy, save weights.

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
    parser.add_argument("dataset", choices=["digits"], help="dataset to train on (scikit-learn's bundled digits)")
    parser.add_argument("--epochs", type=int, default=15, help="passes over the training split (default: 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initial weights and shuffling (default: 0)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default: 32)")
    parser.add_argument("--lr", type=positive_float, default=1e-2, help="Adam learning rate, cosine-decayed (default: 0.01)")
    parser.add_argument("--test-size", type=positive_float, default=0.2, help="held-out fraction, stratified (default: 0.2)")
    parser.add_argument("--limit", type=int, default=None, help="train on only the first N training images")
    parser.add_argument("--out", default=None, metavar="PATH", help="save the weights (.npz) for `convwise predict`")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..train import train_digits

    if not 0.0 < args.test_size < 1.0:
        raise ValueError(f"--test-size must be between 0 and 1, got {args.test_size}")
    progress = not args.no_progress  # on stderr, so --json output stays clean
    _, report = train_digits(epochs=args.epochs, seed=args.seed, batch_size=args.batch_size, lr=args.lr,
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
