"""Reproduce the bundled weights: ``python scripts/train_bundled_weights.py [OUTPUT]``.

Trains on the 60,000-image training file from the data directory (``DAFT_MNIST_DATA_DIR``)
and evaluates on the 10,000-image test file after each epoch (monitoring only: the recipe
is fixed and the last epoch's weights are kept, whatever the test figures).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import daft_mnist
from daft_mnist.training._train import EpochStats

EPOCHS = 15
SEED = 0


def run(output: str, *, command: str, epochs: int = EPOCHS, seed: int = SEED, **recipe: Any) -> None:
    """Train with the library's ``train`` on the training file, report each epoch, save ``output``.

    ``recipe``: further ``daft_mnist.train`` options (``learning_rate``, ``augment``,
    ``initial_weights``, ...). Shared with ``train_robust_weights.py``.
    """
    train_df = daft_mnist.load_mnist(split="train")
    test_df = daft_mnist.load_mnist(split="test")

    def progress(s: EpochStats) -> None:
        print(
            f"epoch {s.epoch}/{epochs} loss {s.loss:.4f} train_acc {s.train_accuracy:.4f} "
            f"test_acc {s.eval_accuracy:.4f} {s.seconds:.0f}s",
            flush=True,
        )

    t0 = time.perf_counter()
    result = daft_mnist.train(train_df, epochs=epochs, seed=seed, eval_df=test_df, progress=progress, **recipe)
    result.metadata["command"] = command
    result.metadata["train_data"] = "mnist_handwritten_train.json.gz (60,000 images) from the data directory"
    result.save(output)
    print(json.dumps({"output": output, "seconds": round(time.perf_counter() - t0, 1)}))


def main() -> None:
    output = sys.argv[1] if len(sys.argv) > 1 else "src/daft_mnist/model/bundled/mnist_cnn.pt"
    run(output, command="python scripts/train_bundled_weights.py")


if __name__ == "__main__":
    main()
