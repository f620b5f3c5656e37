"""Fit the softmax temperature of a checkpoint and store it with the weights.

    python scripts/calibrate_temperature.py WEIGHTS.pt --out CALIBRATED.pt
        [--holdout 10000] [--precision float32 --precision int8]
        [--prepare daft_mnist.vision._prepare:prepare_batch] [--real-digits DIR] [--json OUT.json]

Fits ``T`` (:func:`daft_mnist.model._certainty.fit_temperature`, NLL over ``log T``) on the last
``--holdout`` images of the training file, writes ``metadata["temperature"] = {"value": T,
"images": n, "source": ...}`` into ``--out`` (the weights and the rest of the metadata
unchanged), and prints the expected calibration error (15 bins), NLL, accuracy and the accuracy
of the answered rows at 95 % and 99 % coverage, before (T = 1) and after, on the held-out
images, the MNIST test set and the real-digits folder.

Honesty about the held-out images: the bundled weights were trained on all 60,000 training
images, so the "held-out" tail was seen in training (with random-affine augmentation) and the
fit is on data the model knows. There is no unseen MNIST split besides the test set, which is
the evaluation set (and so is real-digits); for weights trained on the first 50,000 images
(``daft_mnist.train`` on ``load_mnist(split="train").limit(50_000)``) the tail is truly unseen.

Real digits are decoded with Daft (``decode_image(col("path").download())``) and prepared by the
``--prepare`` hook (``module:function``: a list of decoded images -> uint8 ``(N, 784)`` or
``(N, 28, 28)``, or an object with ``.pixels`` of those shapes and ``.reasons``, one entry per
image, ``None`` for a prepared digit), by default :func:`daft_mnist.vision._prepare.prepare_batch`, the
library's own MNIST-style preparation (what ``classify`` does to pictures). Pictures the hook
gives a reason for (no digit found: blank, noise) are **excluded** from every figure: the
library gives them a null prediction, not a probability, so there is nothing to calibrate; the
report says how many were left out.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from daft_mnist.model import _certainty as C
from daft_mnist.model import _engine as engine_module
from daft_mnist.training import calibration as CAL

TRAIN = "mnist_handwritten_train.json.gz"
TEST = "mnist_handwritten_test.json.gz"


def data_dir(arg: str | None) -> Path:
    from daft_mnist.io import DATA_DIR_ENV

    d = arg or os.environ.get(DATA_DIR_ENV)
    if not d:
        sys.exit(f"pass --data-dir or set {DATA_DIR_ENV} to the folder holding {TRAIN} and {TEST}")
    return Path(d)


def mnist_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 784) uint8 and labels (N,), in file order."""
    import daft_mnist
    from daft_mnist.data._rules import pixels_to_numpy, unwrap

    df = daft_mnist.load_mnist(path)
    arrow = df.select(daft_mnist.checked_pixels(df["image"]), "label").to_arrow()
    pixels = pixels_to_numpy(unwrap(arrow.column("image")), column="image")
    return pixels, np.asarray(arrow.column("label").to_numpy(), dtype=np.int64)


def resolve_hook(name: str) -> Callable[[list[Any]], Any]:
    module, _, attr = name.partition(":")
    if not attr:
        sys.exit(f"--prepare must be module:function, got {name!r}")
    hook: Callable[[list[Any]], Any] = getattr(importlib.import_module(module), attr)
    return hook


def prepared_pixels(result: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A hook's result as uint8 ``(n, 784)`` and the mask of the rows it prepared.

    A plain array prepares every row; an object with ``.pixels`` and ``.reasons`` (such as
    :class:`daft_mnist.vision._prepare.PreparedBatch`) prepares the rows whose reason is ``None``.
    """
    pixels = getattr(result, "pixels", result)
    reasons = list(getattr(result, "reasons", None) or [None] * n)
    if len(reasons) != n:
        sys.exit(f"--prepare gave {len(reasons)} reasons for {n} images")
    ok = np.array([why is None for why in reasons], dtype=bool)
    return np.asarray(pixels, dtype=np.uint8).reshape(n, -1), ok


def real_digits(folder: Path, prepare: Callable[[list[Any]], Any]) -> tuple[np.ndarray, np.ndarray, int]:
    """The folder's images decoded with Daft, prepared by the hook; labels from the folder names.

    Returns the prepared pixels, their labels, and how many pictures the hook found no digit in
    (left out).
    """
    import daft
    from daft import col
    from daft.functions import decode_image

    df = daft.from_glob_path(str(folder / "*" / "*.*")).select("path")
    df = df.with_column("image", decode_image(col("path").download()))
    data = df.sort("path").to_pydict()
    labels = np.asarray([int(Path(p.removeprefix("file://")).parent.name) for p in data["path"]], dtype=np.int64)
    pixels, ok = prepared_pixels(prepare(data["image"]), len(labels))
    return pixels[ok], labels[ok], int((~ok).sum())


def figures(logp: np.ndarray, labels: np.ndarray, temperature: float, bins: int) -> dict[str, float]:
    batch = C.certainty(logp, temperature)
    probs = C.scaled_probabilities(logp, temperature)
    correct = batch.prediction == labels
    out = {
        "ece": CAL.expected_calibration_error(probs, labels, bins),
        "nll": CAL.nll(logp, labels, temperature),
        "accuracy": float(correct.mean()),
        "mean_confidence": float(batch.confidence.mean()),
    }
    for cov in (0.95, 0.99):
        point = CAL.accuracy_at_coverage(batch.confidence, correct, cov)
        out[f"accuracy_at_{round(cov * 100)}"] = point.accuracy
        out[f"threshold_at_{round(cov * 100)}"] = point.threshold
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", help="checkpoint to calibrate (a daft-mnist checkpoint)")
    parser.add_argument("--out", required=True, help="where to write the checkpoint with its temperature")
    parser.add_argument(
        "--data-dir", default=None, help="folder with the MNIST JSON files (default: $DAFT_MNIST_DATA_DIR)"
    )
    parser.add_argument("--real-digits", default=None, help="real-digits folder (default: DATA_DIR/real-digits)")
    parser.add_argument("--holdout", type=int, default=10_000, help="fit on the last N training images")
    parser.add_argument(
        "--precision",
        action="append",
        choices=["float32", "int8"],
        help="model precision(s) to evaluate; T is fitted with the first (default: float32, then int8)",
    )
    parser.add_argument(
        "--prepare", default="daft_mnist.vision._prepare:prepare_batch", help="module:function for real digits"
    )
    parser.add_argument("--bins", type=int, default=15)
    parser.add_argument("--json", default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    precisions = args.precision or ["float32", "int8"]

    from daft_mnist.model.checkpoint import Net, load_checkpoint, save_checkpoint

    data = data_dir(args.data_dir)
    weights = os.path.abspath(args.weights)
    train_pixels, train_labels = mnist_arrays(data / TRAIN)
    hold_pixels, hold_labels = train_pixels[-args.holdout :], train_labels[-args.holdout :]
    test_pixels, test_labels = mnist_arrays(data / TEST)
    real_folder = Path(args.real_digits or data / "real-digits")
    real_pixels, real_labels, left_out = real_digits(real_folder, resolve_hook(args.prepare))
    sets = {
        f"held-out train (last {len(hold_labels)})": (hold_pixels, hold_labels),
        f"MNIST test ({len(test_labels)})": (test_pixels, test_labels),
        f"real-digits ({len(real_labels)})": (real_pixels, real_labels),
    }

    engine = engine_module
    report: dict[str, Any] = {
        "weights": weights,
        "prepare": args.prepare,
        "bins": args.bins,
        "real_digits_left_out": left_out,
        "precisions": {},
    }
    temperature = None
    for precision in precisions:
        model = engine.get_model(engine.ModelSpec(weights=weights, device="cpu", precision=precision))
        logps = {name: model.log_probabilities(px).numpy() for name, (px, _) in sets.items()}
        hold_name = next(iter(sets))
        if temperature is None:
            temperature = CAL.fit_temperature(logps[hold_name], hold_labels)
            report["temperature"] = temperature
            report["fitted_with"] = model.precision
        rows = {}
        for name, (_, labels) in sets.items():
            rows[name] = {
                "before": figures(logps[name], labels, 1.0, args.bins),
                "after": figures(logps[name], labels, temperature, args.bins),
            }
        report["precisions"][model.precision] = rows

    assert temperature is not None
    ckpt = load_checkpoint(weights)
    net = Net()
    net.load_state_dict(ckpt.state_dict)
    source = (
        f"fitted with {report['fitted_with']} outputs on the last {len(hold_labels)} images of {TRAIN}; "
        "images the bundled weights saw in training (they were trained on all 60,000)"
    )
    record = C.temperature_record(temperature, images=len(hold_labels), source=source)
    save_checkpoint(args.out, net, ckpt.preprocessing, {**ckpt.metadata, C.TEMPERATURE_KEY: record})
    report["written"] = os.path.abspath(args.out)

    print(f"real-digits: {len(real_labels)} prepared by {args.prepare}, {left_out} left out (no digit found)")
    print(f"T = {temperature:.4f} (fitted with {report['fitted_with']} on {len(hold_labels)} held-out training images)")
    header = (
        f"{'precision':9} {'set':32} {'':6} {'ECE':>7} {'NLL':>7} {'acc':>7} {'conf':>7} {'acc@95%':>8} {'acc@99%':>8}"
    )
    print(header)
    for precision, rows in report["precisions"].items():
        for name, both in rows.items():
            for when in ("before", "after"):
                f = both[when]
                print(
                    f"{precision:9} {name:32} {when:6} {f['ece']:7.4f} {f['nll']:7.4f} {f['accuracy']:7.4f} "
                    f"{f['mean_confidence']:7.4f} {f['accuracy_at_95']:8.4f} {f['accuracy_at_99']:8.4f}"
                )
    print(f"wrote {args.out} with metadata[{C.TEMPERATURE_KEY!r}] = {json.dumps(record)}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
