"""``daft-mnist``: the tutorial's report from the command line (calls only the public API)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import daft_mnist


def _evaluate(args: argparse.Namespace) -> int:
    df = daft_mnist.load_mnist(args.source, split=args.split)
    df = daft_mnist.add_image_2d(df)
    df = daft_mnist.classify(
        df, weights=args.weights, sha256=args.sha256, batch_size=args.batch_size, device=args.device
    )
    df = df.collect()
    daft_mnist.accuracy_by_label(df).show(10)
    daft_mnist.overall_accuracy(df).show()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daft-mnist", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="classify a dataset and print per-label accuracy")
    ev.add_argument("source", nargs="?", default=None, help="file or URL (default: the public test set)")
    ev.add_argument("--split", choices=["test", "train"], default="test")
    ev.add_argument("--weights", default=None, help="weights path or URL (default: bundled)")
    ev.add_argument("--sha256", default=None, help="expected SHA-256 of --weights")
    ev.add_argument("--batch-size", type=int, default=1024)
    ev.add_argument("--device", default="auto")
    ev.set_defaults(func=_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except daft_mnist.DaftMnistError as exc:
        print(f"daft-mnist: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
