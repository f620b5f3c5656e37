"""`train` is reproducible and produces weights the classifier loads."""

from __future__ import annotations

import re
from pathlib import Path

import daft
import pytest
import torch
from tests.conftest import random_images

from daft_mnist import DataError, add_image_2d, classify, train
from daft_mnist.errors import TrainingError
from daft_mnist.model import load_model


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
    from daft_mnist.model._engine import LoadedModel, ModelSpec
    from daft_mnist.model.quantize import CALIBRATION_KEY, Int8Calibration

    assert Int8Calibration.from_dict(loaded.metadata[CALIBRATION_KEY]).images == 256
    assert LoadedModel(ModelSpec(str(path), device="cpu")).precision == "int8"
    preds = classify(add_image_2d(small_frame(16)), weights=path).to_pydict()["model_classification"]
    assert len(preds) == 16


def test_training_on_bad_labels_is_refused() -> None:
    df = daft.from_pydict({"image": [[0] * 784], "label": [12]})
    with pytest.raises(DataError, match="expected labels 0-9"):
        train(df, epochs=1)


@pytest.mark.parametrize(
    ("learning_rate", "weight_decay", "where"),
    [
        (1000.0, 1000.0, "the loss became nan at epoch 1, step 3 of 4"),
        (10.0, 1e10, "the loss became inf at epoch 1, step 2 of 4"),
    ],
)
def test_diverged_training_stops_naming_the_step_and_writes_nothing(
    learning_rate: float, weight_decay: float, where: str
) -> None:
    with pytest.raises(TrainingError, match=re.escape(where)) as info:
        train(
            small_frame(64),
            epochs=2,
            batch_size=16,
            augment=False,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            num_threads=1,
        )
    assert "try a lower learning rate" in str(info.value)
    assert f"learning_rate={learning_rate:g}" in str(info.value)


def test_weights_that_become_nan_after_the_last_step_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = torch.optim.AdamW.step

    def poisoning_step(self: torch.optim.AdamW, *args: object, **kwargs: object) -> object:
        out = original(self, *args, **kwargs)  # type: ignore[arg-type]
        with torch.no_grad():
            self.param_groups[0]["params"][-1].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoning_step)
    with pytest.raises(TrainingError, match=r"the weights became NaN or infinite \(fc2\.bias .*\) at epoch 1, step 1"):
        train(small_frame(8), epochs=1, batch_size=8, augment=False, num_threads=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0, got nan"),
        ({"learning_rate": float("inf")}, "learning_rate must be a finite number > 0, got inf"),
        ({"learning_rate": 0.0}, "learning_rate must be a finite number > 0, got 0.0"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0, got -1.0"),
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ],
)
def test_settings_that_cannot_train_are_refused_before_reading(kwargs: dict[str, float], message: str) -> None:
    df = daft.from_pydict({"image": [[0] * 784], "label": [1]}).where(daft.col("label") > 100)  # never read
    with pytest.raises(ValueError, match=re.escape(message)):
        train(df, **kwargs)  # type: ignore[arg-type]


def _batch() -> torch.Tensor:
    images, _ = random_images(64, seed=3)
    return torch.from_numpy(images.reshape(64, 1, 28, 28)).to(torch.float32) / 255.0


def test_stroke_augmentation_shape_range_determinism_and_change() -> None:
    from daft_mnist.training._strokes import augment_strokes

    x = _batch()
    a = augment_strokes(x, torch.Generator().manual_seed(7))
    b = augment_strokes(x, torch.Generator().manual_seed(7))
    c = augment_strokes(x, torch.Generator().manual_seed(8))
    assert a.shape == x.shape
    assert a.dtype == x.dtype
    assert float(a.min()) >= 0.0
    assert float(a.max()) <= 1.0
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # same generator state: same batch
    assert not torch.equal(a, c)
    changed = (a - x).abs().flatten(1).amax(1) > 0.05
    assert bool(changed.all())  # the affine part moves every image
    # thickness/blur/ink changes reach a fraction of the batch, not all of it
    ink_a, ink_x = a.flatten(1).sum(1), x.flatten(1).sum(1)
    assert 0 < int(((ink_a / ink_x - 1).abs() > 0.15).sum()) < 64


def test_train_with_stroke_augmentation_and_initial_weights(tmp_path: Path) -> None:
    base = train(small_frame(), epochs=1, seed=1, batch_size=64)
    path = tmp_path / "base.pt"
    base.save(path)
    a = train(
        small_frame(), epochs=1, seed=2, batch_size=64, augment="strokes", initial_weights=path, learning_rate=1e-4
    )
    b = train(
        small_frame(), epochs=1, seed=2, batch_size=64, augment="strokes", initial_weights=path, learning_rate=1e-4
    )
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[k], v, rtol=0, atol=0)
    assert "stroke-realistic" in a.metadata["recipe"]
    assert "fine-tuned from base.pt" in a.metadata["recipe"]
    assert a.metadata["augment"] == "strokes"
    # started from the base weights: a small learning rate stays close to them
    drift = max(float((a.model.state_dict()[k] - v).abs().max()) for k, v in base.model.state_dict().items())
    assert drift < 0.05
    with pytest.raises(ValueError, match="augment must be"):
        train(small_frame(), epochs=1, augment="wobble")  # type: ignore[arg-type]
