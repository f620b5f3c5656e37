"""Per-row certainty and a reason for every failed row (``details=True``), abstention
(``min_confidence=``), and counting the failed rows from the data (``error_counts``)."""

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
from daft_mnist._udf import DETAILS_DTYPE, NULL_IMAGE_REASON, abstain_reason
from daft_mnist.classifier import Classifier, classify_digit, embed_digit
from daft_mnist.model import _certainty as C
from daft_mnist.model._engine import ModelSpec, get_model

NULL_REASON = NULL_IMAGE_REASON


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
    out = daft_mnist.classify(df, precision="float32", details=True).to_pydict()
    model = get_model(ModelSpec(device="auto", precision="float32"))
    want = C.certainty(model.log_probabilities(pixels).numpy(), model.temperature).to_pylist()
    assert out["model_classification"] == [w["prediction"] for w in want]
    for i, w in enumerate(want):
        top = out["model_classification_top"][i]
        assert [t["digit"] for t in top] == [t["digit"] for t in w["top"]]
        np.testing.assert_allclose([t["probability"] for t in top], [t["probability"] for t in w["top"]], rtol=1e-5)
        for key in ("confidence", "margin", "entropy"):
            assert out[f"model_classification_{key}"][i] == pytest.approx(w[key], rel=1e-4, abs=1e-6)
        assert 0 <= out["model_classification_entropy"][i] <= math.log(10) + 1e-6
        assert out["model_classification_error"][i] is None
    # The plain prediction is the same digit, with or without details.
    plain = daft_mnist.classify(df, precision="float32").to_pydict()["model_classification"]
    assert plain == out["model_classification"]


def test_calibrated_confidence_differs_from_the_plain_softmax(test_json: Path) -> None:
    df, pixels, _ = _mnist(test_json, 100)
    out = df.select(classify_digit(col("image_2d"), details=True, precision="float32").alias("s")).to_pydict()["s"]
    model = get_model(ModelSpec(device="auto", precision="float32"))
    logp = model.log_probabilities(pixels).numpy()
    raw = np.exp(logp).max(axis=1)
    got = np.array([s["confidence"] for s in out])
    np.testing.assert_allclose(got, C.scaled_probabilities(logp, model.temperature).max(axis=1), rtol=1e-5)
    assert (got <= raw + 1e-6).all()
    assert (got < raw - 1e-6).any()


def test_one_return_type_per_expression(random_weights: Path) -> None:
    pixels, _ = random_images(4, seed=3)
    df = daft.from_pydict({"image": [p.tolist() for p in pixels]})
    plain = classify_digit(col("image"), weights=random_weights, min_confidence=0.5, on_error="null")
    assert df.select(plain.alias("p")).schema()["p"].dtype == DataType.int64()
    details = classify_digit(col("image"), details=True, weights=random_weights)
    assert df.select(details.alias("r")).schema()["r"].dtype == DETAILS_DTYPE
    assert (
        DataType.struct(
            {
                "prediction": DataType.int64(),
                "confidence": DataType.float32(),
                "top": DataType.fixed_size_list(
                    DataType.struct({"digit": DataType.int64(), "probability": DataType.float32()}), 3
                ),
                "margin": DataType.float32(),
                "entropy": DataType.float32(),
                "error": DataType.string(),
            }
        )
        == DETAILS_DTYPE
    )
    clf = Classifier(weights=str(random_weights))
    assert df.select(clf.details(col("image")).alias("d")).schema()["d"].dtype == DETAILS_DTYPE
    for gone in ("with_confidence", "report", "spec"):
        assert not hasattr(clf, gone)
    for option in ("confidence", "errors"):
        with pytest.raises(TypeError, match=option):
            classify_digit(col("image"), **{option: True})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="details=True gives the confidence and the error"):
            daft_mnist.classify(df, **{option: True})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass details=True"):
        classify_digit(col("image"), reasons=col("why"))


def test_min_confidence_abstains_with_its_reason(random_weights: Path) -> None:
    pixels, _ = random_images(60, seed=5)
    df = daft.from_pydict({"id": list(range(60)), "image": [p.tolist() for p in pixels]})
    full = daft_mnist.classify(df, image="image", weights=random_weights, details=True).to_pydict()
    conf = np.asarray(full["model_classification_confidence"])
    m = float(np.median(conf))
    out = daft_mnist.classify(df, image="image", weights=random_weights, min_confidence=m, details=True).collect()
    data = out.to_pydict()
    assert data["id"] == list(range(60))  # every row kept, in order
    for i in range(60):
        if conf[i] >= m:
            assert data["model_classification"][i] == full["model_classification"][i]
            assert data["model_classification_error"][i] is None
        else:
            assert data["model_classification"][i] is None
            assert data["model_classification_error"][i] == abstain_reason(float(conf[i]), m)
        assert data["model_classification_confidence"][i] == pytest.approx(conf[i])  # kept when abstaining
    answered = int((conf >= m).sum())
    assert sum(daft_mnist.error_counts(out).to_pydict()["count"]) == 60 - answered
    # the plain Int64 prediction abstains too
    plain = df.select(classify_digit(col("image"), weights=random_weights, min_confidence=m).alias("p")).to_pydict()
    assert plain["p"] == data["model_classification"]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True])
def test_min_confidence_is_checked(bad: Any) -> None:
    with pytest.raises(ValueError, match="min_confidence: expected a number in"):
        classify_digit(col("image"), min_confidence=bad)
    with pytest.raises(TypeError, match="min_confidence"):
        embed_digit(col("image"), min_confidence=0.5)  # type: ignore[call-arg]


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
    out = daft_mnist.classify(df, image="image", weights=random_weights, on_error="null", details=True).collect()
    data = out.to_pydict()
    assert data["id"] == ids
    assert data["label"] == list(range(len(images)))
    want = [None, *(reason for _, _, reason in ROW_KINDS), None, None]
    assert data["model_classification_error"] == want
    for prediction, reason in zip(data["model_classification"], want, strict=True):
        assert (prediction is None) == (reason is not None)
    counts = daft_mnist.error_counts(out).to_pydict()
    assert sum(counts["count"]) == len(ROW_KINDS)
    assert sorted(counts["error"]) == sorted(reason for _, _, reason in ROW_KINDS)
    routed = out.where(col("model_classification_error").is_null()).to_pydict()
    assert routed["id"] == ["r0", ids[-2], ids[-1]]


def test_float_pixels_give_their_reason(random_weights: Path) -> None:
    df = daft.from_pydict({"image": [[0.0] * 784, [0.5] + [0.0] * 783]})
    out = df.select(classify_digit(col("image"), details=True, on_error="null", weights=random_weights).alias("r"))
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
    assert df.to_pydict()["load_error"] == [
        None,
        "image: expected 784 pixels, got 2",
        None,
        "label: expected an integer label 0-9, got 12",
    ]
    framed = daft_mnist.add_image_2d(df)
    out = daft_mnist.classify(framed, weights=random_weights, details=True, reasons="load_error").to_pydict()
    # The original reason, not "image is null"; a bad label alone does not stop the prediction.
    assert out["model_classification_error"] == [None, "image: expected 784 pixels, got 2", None, None]
    assert out["label"] == [1, 2, 3, None]
    # The library never reads a column it was not given: without reasons= the row says where to look.
    out = daft_mnist.classify(framed, weights=random_weights, details=True).to_pydict()
    assert out["model_classification_error"] == [None, NULL_REASON, None, None]
    with pytest.raises(ValueError, match=r"reasons= must name a String column, got 'label' of type Int64"):
        daft_mnist.classify(framed, weights=random_weights, details=True, reasons="label")
    with pytest.raises(ValueError, match="pass details=True"):
        daft_mnist.classify(framed, weights=random_weights, reasons="load_error")
    counts = daft_mnist.error_counts(daft_mnist.classify(framed, weights=random_weights, details=True))
    assert counts.to_pydict() == {
        "column": ["load_error", "load_error", "model_classification_error"],
        "error": ["image: expected 784 pixels, got 2", "label: expected an integer label 0-9, got 12", NULL_REASON],
        "count": [1, 1, 1],
    }


def test_a_null_image_without_a_loader_reason_says_it_came_in_null(random_weights: Path) -> None:
    good, _ = random_images(1, seed=2)
    df = daft.from_pydict({"image": [good[0].tolist(), None]})
    out = daft_mnist.classify(df, image="image", weights=random_weights, details=True).to_pydict()
    assert out["model_classification_error"] == [None, NULL_REASON]
    assert out["model_classification_confidence"][1] is None
    assert out["model_classification_top"][1] is None


def test_pictures_without_a_digit_give_their_reason(random_weights: Path) -> None:
    digit = np.full((60, 40, 3), 250, np.uint8)
    digit[10:50, 15:25] = 10
    blank = np.full((50, 50, 3), 255, np.uint8)
    noise = np.random.default_rng(0).integers(100, 140, (64, 64, 3), dtype=np.uint8)
    df = daft.from_pydict({"n": [0, 1, 2, 3], "picture": [digit, blank, noise, None]})
    df = df.with_column("picture", col("picture").cast(DataType.image("RGB")))
    for on_error in ("raise", "null"):
        out = daft_mnist.classify(df, image="picture", weights=random_weights, details=True, on_error=on_error)  # type: ignore[arg-type]
        data = out.collect()
        errors = data.to_pydict()["model_classification_error"]
        assert errors[0] is None
        assert errors[1] == "image is blank (no ink)"
        assert errors[2] is not None
        assert errors[2].startswith("image has no clear digit")
        assert errors[3] == NULL_REASON
        assert data.to_pydict()["n"] == [0, 1, 2, 3]
        assert sum(daft_mnist.error_counts(data).to_pydict()["count"]) == 3


def test_error_counts_needs_a_reason_column() -> None:
    df = daft.from_pydict({"image": [[0] * 784]})
    with pytest.raises(ValueError, match=r"no reason column \(named '\*_error'\) among \['image'\]"):
        daft_mnist.error_counts(df)
    with pytest.raises(ValueError, match="expected column"):
        daft_mnist.error_counts(df, columns=["nope_error"])
