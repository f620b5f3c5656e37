"""Reproduce the robust candidate weights (issue #12): ``python scripts/train_robust_weights.py [OUTPUT]``.

Fine-tunes the bundled weights (``src/daft_mnist/model/bundled/mnist_cnn.pt`` as committed before
issue #12's change) on the 60,000-image training file from the data directory
(``DAFT_MNIST_DATA_DIR``) with stroke-realistic augmentation (``augment="strokes"``, see
:data:`daft_mnist.training._strokes.STROKES_RECIPE`), and evaluates on the 10,000-image test file after
each epoch (monitoring only: the last epoch's weights are kept). Default output:
``artifacts/robust.pt``. The checkpoint carries its int8 calibration (``train`` writes one).

    --init PATH            the checkpoint to start from (default: the bundled weights)
    --epochs N             (default 4)
    --learning-rate LR     peak of the one-cycle schedule (default 5e-4)
"""

from __future__ import annotations

import argparse

from train_bundled_weights import run

EPOCHS = 4
SEED = 12
LEARNING_RATE = 5e-4
AUGMENT = "strokes"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", nargs="?", default="artifacts/robust.pt")
    ap.add_argument("--init", default="src/daft_mnist/model/bundled/mnist_cnn.pt")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    args = ap.parse_args()
    command = f"python scripts/train_robust_weights.py --epochs {args.epochs} --learning-rate {args.learning_rate:g}"
    run(
        args.output,
        command=command,
        epochs=args.epochs,
        seed=SEED,
        learning_rate=args.learning_rate,
        augment=AUGMENT,
        initial_weights=args.init,
    )


if __name__ == "__main__":
    main()
