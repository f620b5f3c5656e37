"""A user's own columns are never taken for the library's, nor replaced or dropped by its
temporary columns: ``classify``'s struct, the reports' scoring columns, ``nearest``'s join
columns, and a column named like a reason column that ``reasons=`` does not name."""

from __future__ import annotations

from pathlib import Path

import daft
import numpy as np
from daft import DataType, col

import daft_mnist
from daft_mnist.data._rules import fresh_names
from daft_mnist.neighbours import nearest


def test_fresh_names_avoid_the_schema_and_each_other() -> None:
    assert fresh_names(["a", "__x", "__x_1"], "__x", "__y", "__y") == ["__x_2", "__y", "__y_1"]


def test_classify_keeps_a_user_column_named_like_its_temporary_struct(random_weights: Path) -> None:
    images = np.zeros((3, 784), np.uint8)
    images[:2, 300:400] = 255
    mine = ["keep", "these", "values"]
    df = daft.from_pydict({"image": [i.tolist() for i in images], "__model_classification_struct": mine})
    df = daft_mnist.add_image_2d(df)
    out = daft_mnist.classify(df, weights=random_weights, details=True).to_pydict()
    assert out["__model_classification_struct"] == mine
    assert "model_classification_confidence" in out


def test_a_user_column_named_error_or_load_error_is_not_a_reason(random_weights: Path) -> None:
    """Only the column that reasons= names is read for the reason of a null image."""
    df = daft.from_pydict(
        {"image": [[0] * 784, None], "error": ["not ours", "not ours"], "load_error": ["mine", "mine too"]}
    )
    df = daft_mnist.add_image_2d(df.with_column("image", col("image").cast(DataType.list(DataType.uint8()))))
    out = daft_mnist.classify(df, weights=random_weights, details=True).to_pydict()
    assert out["model_classification_error"][1] not in ("not ours", "mine too")
    assert "null" in out["model_classification_error"][1]
    named = daft_mnist.classify(df, weights=random_weights, details=True, reasons="load_error").to_pydict()
    assert named["model_classification_error"][1] == "mine too"


def test_reports_keep_user_columns_named_like_their_scoring_columns() -> None:
    user = {"__labelled": [9, 9, 9, 9], "__correct": ["a", "b", "c", "d"], "__wrong": [0.5, 0.5, 0.5, 0.5]}
    df = daft.from_pydict({"label": [3, 3, 7, None], "model_classification": [3, 8, None, 1], **user})
    overall = daft_mnist.overall_accuracy(df).to_pydict()
    assert (overall["num_rows"], overall["correct"], overall["wrong"], overall["unlabeled"]) == ([3], [1], [2], [1])
    by_label = daft_mnist.accuracy_by_label(df).to_pydict()
    assert by_label["num_rows"] == [2, 1]
    assert daft_mnist.confusion_matrix(df).to_pydict()["count"] == [1, 1, 1]
    wrong = daft_mnist.misclassified(df).to_pydict()
    assert wrong["__correct"] == ["b", "c"], "the user's column, not the scoring column"
    assert wrong["__labelled"] == [9, 9]


def test_nearest_keeps_user_columns_named_like_its_join_columns() -> None:
    vec = DataType.fixed_size_list(DataType.float32(), 2)
    index = daft.from_pydict({"__daft_mnist_index_id": ["e", "n"], "v": [[1.0, 0.0], [0.0, 1.0]]})
    queries = daft.from_pydict({"__daft_mnist_query_id": ["q"], "v": [[1.0, 0.1]]})
    out = nearest(
        queries.with_column("v", col("v").cast(vec)), index.with_column("v", col("v").cast(vec)), k=2, on="v"
    ).to_pydict()
    assert out["__daft_mnist_query_id"] == ["q", "q"]
    assert out["neighbour___daft_mnist_index_id"] == ["e", "n"]
