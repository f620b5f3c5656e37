"""Issue #13: per-row certainty (``details=``), abstention (``min_confidence=``), a reason for every
failed row (``errors=``) and the classifier's Daft UDF counters (``diagnostics.row_counters``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import daft
import numpy as np
import pytest
from daft import DataType, col
from tests.conftest import random_images

import daft_mnist
from daft_mnist.classifier import Classifier, classify_digit, embed_digit
from daft_mnist.diagnostics import row_counters
from daft_mnist.model import _certainty as C
from daft_mnist.model._engine import ModelSpec, get_model

NULL_REASON = "image is null (see the step that produced it)"


def _mnist(test_json: Path, n: int) -> tuple[daft.DataFrame, np.ndarray, np.ndarray]:
    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(test_json).limit(n)).collect()
    data = df.to_pydict()
    pixels = np.stack([np.asarray(p, np.uint8).reshape(784) for p in data["image"]])
    return df, pixels, np.asarray(data["label"])


def test_bundled_weights_carry_a_temperature() -> None:
    model = get_model(ModelSpec(device="cpu", precision="float32"))
    assert model.temperature == pytest.approx(1.1537, abs=1e-4)


def test_details_are_the_calibrated_certainty_of_each_row(test_json: Path) -> None:
    df, pixels, _ = _mnist(test_json, 200)
    out = daft_mnist.classify(df, precision="float32", details=True, confidence=True).to_pydict()
    model = get_model(ModelSpec(device="auto", precision="float32"))
    want = C.certainty(model.log_probabilities(pixels).numpy(), model.temperature).to_pylist()
    assert out["model_classification"] == [w["prediction"] for w in want]
    for got, w, conf in zip(
        out["model_classification_details"], want, out["model_classification_confidence"], strict=True
    ):
        assert got["prediction"] == w["prediction"]
        assert [t["digit"] for t in got["top"]] == [t["digit"] for t in w["top"]]
        np.testing.assert_allclose(
            [t["probability"] for t in got["top"]], [t["probability"] for t in w["top"]], rtol=1e-5
        )
        for key in ("confidence", "margin", "entropy"):
            assert got[key] == pytest.approx(w[key], rel=1e-4, abs=1e-6)
        assert conf == pytest.approx(w["confidence"], rel=1e-5)  # confidence=True is the calibrated one
        assert 0 <= got["entropy"] <= math.log(10) + 1e-6
    # The plain prediction is the same digit, with or without details.
    plain = daft_mnist.classify(df, precision="float32").to_pydict()["model_classification"]
    assert plain == out["model_classification"]


def test_calibrated_confidence_differs_from_the_plain_softmax(test_json: Path) -> None:
    df, pixels, _ = _mnist(test_json, 100)
    out = df.select(classify_digit(col("image_2d"), confidence=True, precision="float32").alias("s")).to_pydict()["s"]
    model = get_model(ModelSpec(device="auto", precision="float32"))
    logp = model.log_probabilities(pixels).numpy()
    raw = np.exp(logp).max(axis=1)
    got = np.array([s["confidence"] for s in out])
    np.testing.assert_allclose(got, C.scaled_probabilities(logp, model.temperature).max(axis=1), rtol=1e-5)
    assert (got <= raw + 1e-6).all()
    assert (got < raw - 1e-6).any()


def test_details_dtype_and_classify_columns(random_weights: Path) -> None:
    pixels, _ = random_images(4, seed=3)
    df = daft.from_pydict({"image": [p.tolist() for p in pixels]})
    out = classify_digit(col("image"), details=True, weights=random_weights)
    assert df.select(out.alias("r")).schema()["r"].dtype == DataType.struct(
        {"prediction": DataType.int64(), "details": C.details_dtype()}
    )
    clf = Classifier(weights=str(random_weights))
    assert df.select(clf.details(col("image")).alias("d")).schema()["d"].dtype == C.details_dtype()
    with pytest.raises(ValueError, match="needs confidence=True, details=True or errors=True"):
        clf.report(col("image"))


def test_min_confidence_abstains_with_its_reason(random_weights: Path) -> None:
    pixels, _ = random_images(60, seed=5)
    df = daft.from_pydict({"id": list(range(60)), "image": [p.tolist() for p in pixels]})
    full = daft_mnist.classify(df, image="image", weights=random_weights, confidence=True).to_pydict()
    conf = np.asarray(full["model_classification_confidence"])
    m = float(np.median(conf))
    out = daft_mnist.classify(
        df, image="image", weights=random_weights, min_confidence=m, confidence=True, errors=True
    ).collect()
    data = out.to_pydict()
    assert data["id"] == list(range(60))  # every row kept, in order
    for i in range(60):
        if conf[i] >= m:
            assert data["model_classification"][i] == full["model_classification"][i]
            assert data["model_classification_error"][i] is None
        else:
            assert data["model_classification"][i] is None
            assert data["model_classification_error"][i] == f"confidence {conf[i]:.2f} below min_confidence {m:g}"
        assert data["model_classification_confidence"][i] == pytest.approx(conf[i])  # kept when abstaining
    answered = int((conf >= m).sum())
    assert row_counters(out) == {"classified": answered, "failed": 0, "abstained": 60 - answered}
    # the plain Int64 prediction abstains too
    plain = df.select(classify_digit(col("image"), weights=random_weights, min_confidence=m).alias("p")).to_pydict()
    assert plain["p"] == data["model_classification"]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True])
def test_min_confidence_is_checked(bad: Any) -> None:
    with pytest.raises(ValueError, match="min_confidence must be a number in"):
        classify_digit(col("image"), min_confidence=bad)
    with pytest.raises(ValueError, match="embed_digit does not take min_confidence"):
        embed_digit(col("image"), min_confidence=0.5)


# Every row kind of docs/bad-input.md that can reach the classifier, with the reason it gives.
ROW_KINDS: list[tuple[str, Any, str]] = [
    ("wrong_length", [0] * 783, "expected 784 pixels, got 783"),
    ("too_long", [0] * 785, "expected 784 pixels, got 785"),
    ("image_null", None, NULL_REASON),
    ("pixel_negative", [0] * 10 + [-1] + [0] * 773, "pixel value -1 is not an integer in 0-255"),
    ("pixel_256", [0] * 5 + [256] + [0] * 778, "pixel value 256 is not an integer in 0-255"),
    ("pixel_300", [300] + [0] * 783, "pixel value 300 is not an integer in 0-255"),
    ("pixel_null", [0] * 7 + [None] + [0] * 776, "a pixel value is null or not a number"),
]


def test_every_bad_row_kind_gives_its_reason_and_the_rest_of_the_row_is_intact(random_weights: Path) -> None:
    good, _ = random_images(3, seed=9)
    images = [good[0].tolist(), *(value for _, value, _ in ROW_KINDS), good[1].tolist(), good[2].tolist()]
    ids = [f"r{i}" for i in range(len(images))]
    df = daft.from_pydict({"id": ids, "label": list(range(len(images))), "image": images})
    out = daft_mnist.classify(df, image="image", weights=random_weights, on_error="null", errors=True).collect()
    data = out.to_pydict()
    assert data["id"] == ids
    assert data["label"] == list(range(len(images)))
    want = [None, *(reason for _, _, reason in ROW_KINDS), None, None]
    assert data["model_classification_error"] == want
    for prediction, reason in zip(data["model_classification"], want, strict=True):
        assert (prediction is None) == (reason is not None)
    assert row_counters(out) == {"classified": 3, "failed": len(ROW_KINDS), "abstained": 0}
    routed = out.where(col("model_classification_error").is_null()).to_pydict()
    assert routed["id"] == ["r0", ids[-2], ids[-1]]


def test_float_pixels_give_their_reason(random_weights: Path) -> None:
    df = daft.from_pydict({"image": [[0.0] * 784, [0.5] + [0.0] * 783]})
    out = df.select(classify_digit(col("image"), errors=True, on_error="null", weights=random_weights).alias("r"))
    assert [r["error"] for r in out.to_pydict()["r"]] == [None, "pixel value 0.5 is not an integer in 0-255"]


def test_rows_made_null_by_the_loader_keep_the_loaders_reason(tmp_path: Path, random_weights: Path) -> None:
    from tests.conftest import write_jsonl

    good, _ = random_images(3, seed=1)
    rows = [
        {"image": good[0].tolist(), "label": 1},
        {"image": [1, 2], "label": 2},
        {"image": good[1].tolist(), "label": 3},
        {"image": good[2].tolist(), "label": 12},
    ]
    df = daft_mnist.load_mnist(write_jsonl(tmp_path / "x.json", rows), on_error="null")
    assert df.to_pydict()["error"] == [
        None,
        "image: expected 784 pixels, got 2",
        None,
        "label: expected an integer label 0-9, got 12",
    ]
    out = daft_mnist.classify(daft_mnist.add_image_2d(df), weights=random_weights, errors=True).to_pydict()
    # The original reason, not "image is null"; a bad label alone does not stop the prediction.
    assert out["model_classification_error"] == [None, "image: expected 784 pixels, got 2", None, None]
    assert out["label"] == [1, 2, 3, None]


def test_a_null_image_without_a_loader_reason_says_it_came_in_null(random_weights: Path) -> None:
    good, _ = random_images(1, seed=2)
    df = daft.from_pydict({"image": [good[0].tolist(), None]})
    out = daft_mnist.classify(df, image="image", weights=random_weights, errors=True).to_pydict()
    assert out["model_classification_error"] == [None, NULL_REASON]


def test_pictures_without_a_digit_give_their_reason(random_weights: Path) -> None:
    digit = np.full((60, 40, 3), 250, np.uint8)
    digit[10:50, 15:25] = 10
    blank = np.full((50, 50, 3), 255, np.uint8)
    noise = np.random.default_rng(0).integers(100, 140, (64, 64, 3), dtype=np.uint8)
    df = daft.from_pydict({"n": [0, 1, 2, 3], "picture": [digit, blank, noise, None]})
    df = df.with_column("picture", col("picture").cast(DataType.image("RGB")))
    for on_error in ("raise", "null"):
        out = daft_mnist.classify(df, image="picture", weights=random_weights, errors=True, on_error=on_error)  # type: ignore[arg-type]
        data = out.collect()
        errors = data.to_pydict()["model_classification_error"]
        assert errors[0] is None
        assert errors[1] == "image is blank (no ink)"
        assert errors[2] is not None
        assert errors[2].startswith("image has no clear digit")
        assert errors[3] == NULL_REASON
        assert data.to_pydict()["n"] == [0, 1, 2, 3]
        assert row_counters(data) == {"classified": 1, "failed": 3, "abstained": 0}


def test_counters_count_every_classifying_method(random_weights: Path) -> None:
    pixels, _ = random_images(10, seed=2)
    images: list[Any] = [p.tolist() for p in pixels]
    images[3] = None
    images[7] = [0] * 100
    df = daft.from_pydict({"image": images}).into_batches(4)
    clf = Classifier(weights=str(random_weights), on_error="null", batch_size=4)
    for expr in (clf(col("image")), clf.with_confidence(col("image")), clf.probabilities(col("image"))):
        out = df.select(expr.alias("x")).collect()
        assert row_counters(out) == {"classified": 8, "failed": 2, "abstained": 0}
    with pytest.raises(ValueError, match="materialized"):
        row_counters(df.select(clf(col("image"))))
