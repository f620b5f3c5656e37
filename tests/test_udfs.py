"""The cached class UDF: correct predictions, one model per process, options and inputs."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import daft
import numpy as np
import pytest
import torch
from daft import col
from tests.conftest import random_images

from daft_mnist import Classifier, DataError, add_image_2d, classify, image_2d, to_image
from daft_mnist.model import load_model
from daft_mnist.model._engine import model_build_count


def oracle(weights: Path, pixels: np.ndarray) -> np.ndarray:
    model = load_model(weights)
    with torch.inference_mode():
        x = torch.from_numpy(model.preprocessing.normalize_numpy(pixels))
        return model(x).argmax(1).numpy()


def frame(pixels: np.ndarray) -> daft.DataFrame:
    return daft.from_pydict({"image": [p.tolist() for p in pixels], "label": list(range(len(pixels)))})


def test_classify_matches_plain_torch(random_weights: Path) -> None:
    pixels, _ = random_images(300, seed=3)
    df = classify(add_image_2d(frame(pixels)), weights=random_weights, batch_size=64)
    got = df.sort("label").to_pydict()["model_classification"]
    np.testing.assert_array_equal(np.asarray(got), oracle(random_weights, pixels))
    assert df.schema()["model_classification"].dtype == daft.DataType.int64()


def test_model_built_once_per_process(random_weights: Path, tmp_path: Path) -> None:
    weights = tmp_path / "fresh.pt"  # a spec this process has not seen yet
    shutil.copy(random_weights, weights)
    pixels, _ = random_images(400, seed=4)
    before = model_build_count()
    clf = Classifier(weights=str(weights), batch_size=10)
    results = []
    for rows_per_batch in (400, 30):
        df = frame(pixels).into_batches(rows_per_batch)
        results.append(df.select(col("label"), clf(image_2d(col("image"))).alias("p")).sort("label").to_pydict()["p"])
    assert model_build_count() - before == 1  # 2 queries, 15 input batches, 80 model calls: one model
    assert results[0] == results[1]


def test_expression_inputs_tensor_image_and_list_agree(random_weights: Path) -> None:
    pixels, _ = random_images(50, seed=5)
    clf = Classifier(weights=str(random_weights))
    df = frame(pixels)
    out = df.select(
        col("label"),
        clf(image_2d(col("image"))).alias("from_tensor"),
        clf(to_image(col("image"))).alias("from_image"),
        clf(col("image")).alias("from_list"),
    ).to_pydict()
    assert out["from_tensor"] == out["from_image"] == out["from_list"]
    np.testing.assert_array_equal(np.asarray(out["from_tensor"]), oracle(random_weights, pixels))


def test_confidence_and_probabilities(random_weights: Path) -> None:
    pixels, _ = random_images(40, seed=6)
    clf = Classifier(weights=str(random_weights))
    df = frame(pixels).with_column("t", image_2d(col("image")))
    out = df.select(
        clf(col("t")).alias("p"), clf.details(col("t")).alias("s"), clf.probabilities(col("t")).alias("probs")
    ).to_pydict()
    probs = np.stack(out["probs"])
    assert probs.shape == (40, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probs.argmax(1), out["p"])
    np.testing.assert_allclose([s["confidence"] for s in out["s"]], probs.max(1), rtol=1e-5)
    assert [s["prediction"] for s in out["s"]] == out["p"]


def test_classify_detail_columns_are_the_probabilities(random_weights: Path) -> None:
    pixels, _ = random_images(20, seed=7)
    df = classify(add_image_2d(frame(pixels)), weights=random_weights, details=True)
    names = ["confidence", "top", "margin", "entropy", "error"]
    assert df.column_names[-6:] == ["model_classification", *(f"model_classification_{n}" for n in names)]
    out = df.to_pydict()
    probs = np.stack(
        frame(pixels)
        .select(Classifier(weights=str(random_weights)).probabilities(col("image")).alias("p"))
        .to_pydict()["p"]
    )
    ranked = np.sort(probs, axis=1)[:, ::-1]
    np.testing.assert_array_equal(out["model_classification"], probs.argmax(1))
    np.testing.assert_allclose(out["model_classification_confidence"], ranked[:, 0], rtol=1e-5)
    np.testing.assert_allclose(out["model_classification_margin"], ranked[:, 0] - ranked[:, 1], atol=1e-6)
    entropy = -(probs * np.log(probs)).sum(1)
    np.testing.assert_allclose(out["model_classification_entropy"], entropy, rtol=1e-4)
    tops = [[t["digit"] for t in top] for top in out["model_classification_top"]]
    assert tops == np.argsort(-probs, axis=1, kind="stable")[:, :3].tolist()
    assert out["model_classification_error"] == [None] * 20


@pytest.mark.parametrize("on_error", ["raise", "null"])
def test_null_image_gives_a_null_prediction_whatever_on_error(random_weights: Path, on_error: str) -> None:
    pixels, _ = random_images(3, seed=8)
    df = daft.from_pydict({"image": [pixels[0].tolist(), None, pixels[2].tolist()]})
    df = df.with_column("t", image_2d(col("image")))
    clf = Classifier(weights=str(random_weights), on_error=on_error)  # type: ignore[arg-type]
    out = df.select(clf(col("t")).alias("p")).to_pydict()["p"]
    assert out[1] is None
    assert out[0] is not None
    assert out[2] is not None


def test_malformed_image_error_names_the_step(random_weights: Path) -> None:
    df = daft.from_pydict({"image": [[1] * 783]})
    with pytest.raises(DataError, match=r"^classify_digit: column 'image': .*expected 784 pixels, got 783"):
        df.select(Classifier(weights=str(random_weights))(col("image"))).collect()


def test_classifier_pickles_small_without_model(random_weights: Path) -> None:
    clf = Classifier(weights=str(random_weights))
    assert len(pickle.dumps(clf)) < 2_000
    assert pickle.loads(pickle.dumps(clf)) == clf


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size: expected an integer >= 1, got 0"),
        ({"max_concurrency": 0}, "max_concurrency: expected an integer >= 1 or None, got 0"),
        ({"gpus": 1.5}, "gpus: expected a fraction in"),
        ({"on_error": "ignore"}, "on_error: expected one of 'raise', 'null', got 'ignore'"),
    ],
)
def test_classifier_rejects_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Classifier(**kwargs)  # type: ignore[arg-type]


def test_classify_requires_column() -> None:
    with pytest.raises(ValueError, match=r"no picture column .* among \['x'\]; pass image="):
        classify(daft.from_pydict({"x": [1]}))
    with pytest.raises(ValueError, match=r"expected column\(s\) \['image_2d'\]"):
        classify(daft.from_pydict({"x": [1]}), image="image_2d")


def test_ieee_float32_switches_tf32_off_and_restores_the_callers_settings() -> None:
    import torch

    from daft_mnist.model._engine import ieee_float32

    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = (conv.fp32_precision, matmul.fp32_precision)
    matmul.fp32_precision = "tf32"
    try:
        with ieee_float32(torch):
            assert (conv.fp32_precision, matmul.fp32_precision) == ("ieee", "ieee")
        assert (conv.fp32_precision, matmul.fp32_precision) == (before[0], "tf32")
        with pytest.raises(RuntimeError, match="boom"), ieee_float32(torch):
            raise RuntimeError("boom")
        assert matmul.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision = before[1]
