"""Reports against a plain-Python oracle on small frames."""

from __future__ import annotations

from collections import Counter

import daft
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daft_mnist import accuracy_by_label, confusion_matrix, misclassified, overall_accuracy

pairs = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=60)


@settings(max_examples=25, deadline=None)
@given(pairs)
def test_accuracy_by_label_matches_oracle(rows: list[tuple[int, int]]) -> None:
    df = daft.from_pydict({"label": [r[0] for r in rows], "model_classification": [r[1] for r in rows]})
    out = accuracy_by_label(df).to_pydict()
    assert out["label"] == sorted({r[0] for r in rows})
    for i, lab in enumerate(out["label"]):
        n = sum(1 for r in rows if r[0] == lab)
        ok = sum(1 for r in rows if r[0] == lab and r[1] == lab)
        assert (out["num_rows"][i], out["correct"][i], out["wrong"][i]) == (n, ok, n - ok)
        assert out["accuracy"][i] == pytest.approx(ok / n)


@settings(max_examples=25, deadline=None)
@given(pairs)
def test_overall_confusion_and_mistakes_match_oracle(rows: list[tuple[int, int]]) -> None:
    df = daft.from_pydict({"label": [r[0] for r in rows], "model_classification": [r[1] for r in rows]})
    total = overall_accuracy(df).to_pydict()
    ok = sum(1 for a, b in rows if a == b)
    assert (total["num_rows"][0], total["correct"][0], total["wrong"][0]) == (len(rows), ok, len(rows) - ok)
    cm = confusion_matrix(df).to_pydict()
    assert Counter(dict(zip(zip(cm["label"], cm["prediction"], strict=True), cm["count"], strict=True))) == Counter(
        rows
    )
    assert len(misclassified(df).collect()) == len(rows) - ok


def test_null_prediction_counts_as_wrong_not_missing() -> None:
    df = daft.from_pydict({"label": [1, 1, 2], "model_classification": [1, None, 2]})
    out = accuracy_by_label(df).to_pydict()
    assert out["num_rows"] == [2, 1]
    assert out["correct"] == [1, 1]
    assert out["wrong"] == [1, 0]
    assert len(misclassified(df).collect()) == 1


def test_custom_column_names_and_missing_column() -> None:
    df = daft.from_pydict({"y": [3, 3], "yhat": [3, 4]})
    assert accuracy_by_label(df, label="y", prediction="yhat").to_pydict()["accuracy"] == [0.5]
    with pytest.raises(ValueError, match=r"expected column\(s\) \['model_classification'\]"):
        accuracy_by_label(daft.from_pydict({"label": [1]}))
