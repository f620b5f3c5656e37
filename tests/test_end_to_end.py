"""The tutorial's whole flow through the public API on the real 10,000-image test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import daft_mnist as dm

LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_test_set_loads_with_the_published_label_counts(mnist_dir: Path) -> None:
    from daft import col

    counts = dm.load_mnist().groupby("label").agg(col("label").count().alias("n")).sort("label").to_pydict()
    assert counts["label"] == list(range(10))
    assert counts["n"] == LABEL_COUNTS


@pytest.mark.slow
def test_tutorial_flow_with_bundled_weights(mnist_dir: Path) -> None:
    df = dm.load_mnist(split="test")
    df = dm.add_image_2d(df)
    df = dm.add_pil_image(df)
    df = dm.classify(df).collect()

    report = dm.accuracy_by_label(df).to_pydict()
    assert report["label"] == list(range(10))
    assert report["num_rows"] == LABEL_COUNTS
    assert all(c + w == n for c, w, n in zip(report["correct"], report["wrong"], report["num_rows"], strict=True))
    total = dm.overall_accuracy(df).to_pydict()
    assert total["num_rows"] == [10_000]
    assert total["accuracy"][0] >= 0.993

    mistakes = dm.misclassified(df).collect()
    assert len(mistakes) == total["wrong"][0] == sum(report["wrong"])
    m = mistakes.to_pydict()
    assert all(a != b for a, b in zip(m["label"], m["model_classification"], strict=True))
    assert str(df.schema()["pil_image"].dtype) == "Image[L; 28 x 28]"


@pytest.mark.slow
def test_predictions_are_deterministic_across_runs_and_batch_sizes(mnist_dir: Path) -> None:
    base = dm.add_image_2d(dm.load_mnist().limit(3000))
    a = dm.classify(base, batch_size=1000).to_pydict()["model_classification"]
    b = dm.classify(base, batch_size=97).to_pydict()["model_classification"]
    assert a == b
    assert np.bincount(a, minlength=10).min() > 0
