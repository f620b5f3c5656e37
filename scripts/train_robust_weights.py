"""Reproduce the robust candidate weights (issue #12): ``python scripts/train_robust_weights.py [OUTPUT]``.

Fine-tunes the bundled weights (``src/daft_mnist/weights/mnist_cnn.pt`` as committed before
issue #12's change) on the 60,000-image training file from the data directory
(``DAFT_MNIST_DATA_DIR``) with stroke-realistic augmentation (``augment="strokes"``, see
:data:`daft_mnist._strokes.STROKES_RECIPE`), and evaluates on the 10,000-image test file after
each epoch (monitoring only: the last epoch's weights are kept). Default output:
``artifacts/robust.pt``. The checkpoint carries its int8 calibration (``train`` writes one).

    --init PATH            the checkpoint to start from (default: the bundled weights)
    --epochs N             (default 4)
    --learning-rate LR     peak of the one-cycle schedule (default 5e-4)
"""

from __future__ import annotations

import argparse
import json
import time

import daft_mnist
from daft_mnist.training import EpochStats

EPOCHS = 4
SEED = 12
LEARNING_RATE = 5e-4
AUGMENT = "strokes"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", nargs="?", default="artifacts/robust.pt")
    ap.add_argument("--init", default="src/daft_mnist/weights/mnist_cnn.pt")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    args = ap.parse_args()
    epochs = args.epochs
    train_df = daft_mnist.load_mnist(split="train")
    test_df = daft_mnist.load_mnist(split="test")

    def progress(s: EpochStats) -> None:
        print(
            f"epoch {s.epoch}/{epochs} loss {s.loss:.4f} train_acc {s.train_accuracy:.4f} "
            f"test_acc {s.eval_accuracy:.4f} {s.seconds:.0f}s",
            flush=True,
        )

    t0 = time.perf_counter()
    result = daft_mnist.train(
        train_df,
        epochs=epochs,
        seed=SEED,
        learning_rate=args.learning_rate,
        augment=AUGMENT,
        initial_weights=args.init,
        eval_df=test_df,
        progress=progress,
    )
    result.metadata["command"] = (
        f"python scripts/train_robust_weights.py --epochs {epochs} --learning-rate {args.learning_rate:g}"
    )
    result.metadata["train_data"] = "mnist_handwritten_train.json.gz (60,000 images) from the data directory"
    result.save(args.output)
    print(json.dumps({"output": args.output, "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
