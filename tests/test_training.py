"""`train` is reproducible and produces weights the classifier loads."""

from __future__ import annotations

from pathlib import Path

import daft
import pytest
import torch
from tests.conftest import random_images

from daft_mnist import DataError, add_image_2d, classify, load_model, train


def small_frame(n: int = 256) -> daft.DataFrame:
    images, labels = random_images(n, seed=11)
    return daft.from_pydict({"image": [i.tolist() for i in images], "label": labels.tolist()})


def test_same_seed_same_weights_and_loadable(tmp_path: Path) -> None:
    a = train(small_frame(), epochs=1, seed=5, batch_size=64)
    b = train(small_frame(), epochs=1, seed=5, batch_size=64)
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[k], v, rtol=0, atol=0)
    assert not a.model.training
    path = tmp_path / "w.pt"
    a.save(path)
    loaded = load_model(path)
    assert loaded.metadata["seed"] == 5
    assert loaded.metadata["epochs"] == 1
    assert loaded.preprocessing == a.preprocessing
    # every trained checkpoint carries an int8 calibration from its training images
    from daft_mnist._engine import LoadedModel, ModelSpec
    from daft_mnist.quantize import CALIBRATION_KEY, Int8Calibration

    assert Int8Calibration.from_dict(loaded.metadata[CALIBRATION_KEY]).images == 256
    assert LoadedModel(ModelSpec(str(path), device="cpu")).precision == "int8"
    preds = classify(add_image_2d(small_frame(16)), weights=path).to_pydict()["model_classification"]
    assert len(preds) == 16


def test_training_on_bad_labels_is_refused() -> None:
    df = daft.from_pydict({"image": [[0] * 784], "label": [12]})
    with pytest.raises(DataError, match="expected labels 0-9"):
        train(df, epochs=1)
