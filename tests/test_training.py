"""`train` is reproducible and produces weights the classifier loads."""

from __future__ import annotations

import re
from pathlib import Path

import daft
import numpy as np
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


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([3, 12, 4], "row 1: expected an integer label 0-9, got 12"),
        ([3, -1, 4], "row 1: expected an integer label 0-9, got -1"),
        ([3.0, 3.5, 4.0], "row 1: expected an integer label 0-9, got 3.5"),
        ([1.0, float("nan"), 2.0], "row 1: expected an integer label 0-9, got nan"),
        ([1, None, 2], "row 1: expected an integer label 0-9, got null"),
        ([True, False, True], "expected integer labels 0-9, got values of type bool"),
        (["3", "4", "5"], "expected integer labels 0-9, got values of type"),
    ],
)
def test_training_on_labels_that_are_not_integers_0_9_is_refused_naming_the_rows(
    labels: list[object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daft_mnist.training import _train as training

    monkeypatch.setattr(training, "_train", _must_not_train)
    images = [[0] * 784] * 3
    with pytest.raises(DataError, match=re.escape(message)):
        train(daft.from_pydict({"image": images, "label": labels}), epochs=1)
    # the same rule for train_arrays and for the evaluation frame
    with pytest.raises(DataError, match=re.escape(message)):
        training.train_arrays(np.zeros((3, 784), np.uint8), np.array(labels, dtype=object if None in labels else None))
    good = daft.from_pydict({"image": images, "label": [1, 2, 3]})
    with pytest.raises(DataError, match="eval_df, column 'label'"):
        train(good, eval_df=daft.from_pydict({"image": images, "label": labels}), epochs=1)


def _must_not_train(*args: object, **kwargs: object) -> None:
    raise AssertionError("training started although the input is bad")


def test_integral_float_labels_are_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    from daft_mnist.training import _train as training

    seen: list[np.ndarray] = []
    monkeypatch.setattr(training, "_train", lambda pixels, labels, **kw: seen.append(labels))
    train(daft.from_pydict({"image": [[0] * 784] * 2, "label": [3.0, 7.0]}), epochs=1)
    assert seen[0].tolist() == [3, 7]
    assert seen[0].dtype == np.int64


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"eval_df": "EMPTY"}, DataError, "eval data has no rows"),
        ({"eval_df": "NO_LABEL"}, ValueError, "expected column(s) ['label']"),
        ({"eval_df": "BAD_PIXELS"}, DataError, "pixel value 300 is not an integer in 0-255"),
        ({"eval_df": [1, 2]}, TypeError, "eval_df must be a daft.DataFrame, got list"),
        ({"progress": "print"}, TypeError, "progress must be a callable"),
        ({"seed": -1}, ValueError, "seed: expected an integer >= 0, got -1 (int)"),
        ({"augment": "yes"}, ValueError, "augment: expected one of True, False, 'strokes', got 'yes' (str)"),
        ({"image": "label"}, ValueError, "image and label must name two different columns"),
    ],
)
def test_bad_training_inputs_are_refused_before_the_first_step(
    kwargs: dict[str, object], error: type[Exception], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daft_mnist.training import _train as training

    monkeypatch.setattr(training, "_train", _must_not_train)
    frames = {
        "EMPTY": small_frame(4).where(daft.col("label") > 100),
        "NO_LABEL": small_frame(4).exclude("label"),
        "BAD_PIXELS": daft.from_pydict({"image": [[300] * 784], "label": [1]}),
    }
    given = {k: frames.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(error, match=re.escape(message)):
        train(small_frame(4), epochs=1, **given)  # type: ignore[arg-type]


def test_train_arrays_refuses_pixels_it_would_wrap_or_truncate(monkeypatch: pytest.MonkeyPatch) -> None:
    from daft_mnist.training import _train as training

    monkeypatch.setattr(training, "_train", _must_not_train)
    labels = np.array([1, 2])
    for pixels, message in [
        (np.full((2, 784), 300), "images have pixel values that are not integers 0-255 (rows [0, 1])"),
        (np.full((2, 784), 0.5), "images have pixel values that are not integers 0-255"),
        (np.zeros((2, 783), np.uint8), "expected 784 pixels per image"),
        (np.zeros((0, 784), np.uint8), "training data has no rows"),
        (np.zeros((3, 784), np.uint8), "expected one label per image (3), got 2 labels"),
    ]:
        with pytest.raises(DataError, match=re.escape(message)):
            training.train_arrays(pixels, labels)


def test_train_leaves_torch_global_rng_and_threads_unchanged() -> None:
    torch.manual_seed(2024)
    rng_before = torch.random.get_rng_state().clone()
    threads_before = torch.get_num_threads()
    other = 1 if threads_before != 1 else 2
    result = train(small_frame(32), epochs=1, seed=5, batch_size=16, num_threads=other)
    assert torch.get_num_threads() == threads_before
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    # and the run is still seeded: the same seed gives the same weights
    again = train(small_frame(32), epochs=1, seed=5, batch_size=16, num_threads=other)
    for k, v in result.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[k], v, rtol=0, atol=0)


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
        ({"learning_rate": float("nan")}, "learning_rate: expected a finite number > 0, got nan (float)"),
        ({"learning_rate": float("inf")}, "learning_rate: expected a finite number > 0, got inf (float)"),
        ({"learning_rate": 0.0}, "learning_rate: expected a finite number > 0, got 0.0 (float)"),
        ({"weight_decay": -1.0}, "weight_decay: expected a finite number >= 0, got -1.0 (float)"),
        ({"epochs": 0}, "epochs: expected an integer >= 1, got 0 (int)"),
        ({"epochs": True}, "epochs: expected an integer >= 1, got True (bool)"),
        ({"batch_size": 0}, "batch_size: expected an integer >= 1, got 0 (int)"),
        ({"num_threads": 1.5}, "num_threads: expected an integer >= 1 or None, got 1.5 (float)"),
        ({"num_threads": 0}, "num_threads: expected an integer >= 1 or None, got 0 (int)"),
        ({"learning_rate": "0.1"}, "learning_rate: expected a finite number > 0, got '0.1' (str)"),
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
    with pytest.raises(ValueError, match=r"augment: expected one of True, False, .strokes., got .wobble."):
        train(small_frame(), epochs=1, augment="wobble")  # type: ignore[arg-type]
