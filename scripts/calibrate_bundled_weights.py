"""Add an int8 calibration to a checkpoint: ``python scripts/calibrate_bundled_weights.py [CHECKPOINT]``.

Measures the activation ranges int8 inference needs (:func:`daft_mnist.quantize.calibrate_int8`) on
the first 10,000 images of the training file in the data directory (``DAFT_MNIST_DATA_DIR``)
and rewrites the checkpoint (default: the bundled one) with the same parameters and the
calibration added to its metadata. :func:`daft_mnist.train` does the same for the
checkpoints it writes; this script calibrated the bundled weights, which were trained before
it did. Prints the int8 and float32 test-set accuracies and how many predictions differ.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import daft_mnist
from daft_mnist.model.checkpoint import load_checkpoint, load_model, save_checkpoint
from daft_mnist.model.quantize import CALIBRATION_KEY, Int8Net, calibrate_int8
from daft_mnist.training._train import CALIBRATION_IMAGES


def _pixels(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    df = daft_mnist.load_mnist(split=split)
    data = (df.limit(limit) if limit else df).to_pydict()
    return np.asarray(data["image"], dtype=np.uint8), np.asarray(data["label"], dtype=np.int64)


def main() -> None:
    import torch

    path = sys.argv[1] if len(sys.argv) > 1 else "src/daft_mnist/model/bundled/mnist_cnn.pt"
    ckpt = load_checkpoint(path)
    net = load_model(path)
    train_pixels, _ = _pixels("train", CALIBRATION_IMAGES)
    calibration = calibrate_int8(net, train_pixels)
    metadata = dict(ckpt.metadata)
    metadata[CALIBRATION_KEY] = calibration.to_dict()
    metadata["int8_calibration_data"] = f"the first {calibration.images} training images"
    save_checkpoint(path, net, ckpt.preprocessing, metadata)

    test_pixels, test_labels = _pixels("test")
    q = Int8Net(load_model(path), calibration)
    with torch.inference_mode():
        x = torch.from_numpy(test_pixels.copy()).view(-1, 1, 28, 28)
        p8 = torch.cat([q(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)]).numpy()
        xf = torch.from_numpy(net.preprocessing.normalize_numpy(test_pixels))
        p32 = torch.cat([net(xf[i : i + 1000]).argmax(1) for i in range(0, len(xf), 1000)]).numpy()
    print(
        json.dumps(
            {
                "checkpoint": path,
                CALIBRATION_KEY: calibration.to_dict(),
                "test_accuracy_int8": float((p8 == test_labels).mean()),
                "test_accuracy_float32": float((p32 == test_labels).mean()),
                "predictions_that_differ": int((p8 != p32).sum()),
            }
        )
    )


if __name__ == "__main__":
    main()
