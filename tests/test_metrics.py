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
    assert total["unlabeled"] == [0]
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


# --- rows without a label: one rule in every report ------------------------------------------

maybe_digit = st.one_of(st.none(), st.integers(0, 9))
rows_with_nulls = st.lists(st.tuples(maybe_digit, maybe_digit), min_size=0, max_size=40)


def _frame(rows: list[tuple[int | None, int | None]]) -> daft.DataFrame:
    schema = {"label": daft.DataType.int64(), "model_classification": daft.DataType.int64()}
    df = daft.from_pydict({"label": [r[0] for r in rows], "model_classification": [r[1] for r in rows]})
    return df.select(*[df[name].cast(dtype) for name, dtype in schema.items()])


@settings(max_examples=40, deadline=None)
@given(rows_with_nulls)
def test_reports_agree_for_any_frame_with_null_labels_and_predictions(
    rows: list[tuple[int | None, int | None]],
) -> None:
    df = _frame(rows)
    labelled = [(a, b) for a, b in rows if a is not None]
    ok = sum(1 for a, b in labelled if a == b)
    total = overall_accuracy(df).to_pydict()
    overall = {k: v[0] for k, v in total.items()}
    assert overall["correct"] + overall["wrong"] == overall["num_rows"]
    assert (overall["num_rows"], overall["correct"], overall["unlabeled"]) == (
        len(labelled),
        ok,
        len(rows) - len(labelled),
    )
    if labelled:
        assert overall["accuracy"] == pytest.approx(ok / len(labelled))
    else:
        assert overall["accuracy"] is None  # unknown, not NaN and not 1.0
    by_label = accuracy_by_label(df).to_pydict()
    assert None not in by_label["label"]
    for i in range(len(by_label["label"])):
        assert by_label["correct"][i] + by_label["wrong"][i] == by_label["num_rows"][i]
    for name in ("num_rows", "correct", "wrong"):
        assert sum(by_label[name]) == overall[name], f"per-label {name} sums to the overall row"
    cm = confusion_matrix(df).to_pydict()
    assert None not in cm["label"]
    assert sum(cm["count"]) == overall["num_rows"]
    assert Counter(dict(zip(zip(cm["label"], cm["prediction"], strict=True), cm["count"], strict=True))) == Counter(
        labelled
    )
    mistakes = misclassified(df).to_pydict()
    assert len(mistakes["label"]) == overall["wrong"]
    assert None not in mistakes["label"]


def test_null_labels_are_excluded_and_counted_not_scored() -> None:
    # The frame load_mnist(on_error="null") gives when two labels were bad.
    df = daft.from_pydict({"label": [3, None, 7, None], "model_classification": [3, 1, 7, None]})
    assert overall_accuracy(df).to_pydict() == {
        "num_rows": [2],
        "correct": [2],
        "wrong": [0],
        "unlabeled": [2],
        "accuracy": [1.0],
    }
    assert accuracy_by_label(df).to_pydict()["label"] == [3, 7]  # no NaN row for the null label
    assert confusion_matrix(df).to_pydict() == {"label": [3, 7], "prediction": [3, 7], "count": [1, 1]}
    assert misclassified(df).to_pydict() == {"label": [], "model_classification": []}


def test_null_prediction_on_a_labelled_row_is_wrong_in_every_report() -> None:
    df = daft.from_pydict({"label": [4, 4, None], "model_classification": [4, None, None]})
    assert overall_accuracy(df).to_pydict()["wrong"] == [1]
    assert accuracy_by_label(df).to_pydict()["wrong"] == [1]
    assert confusion_matrix(df).to_pydict() == {"label": [4, 4], "prediction": [4, None], "count": [1, 1]}
    assert misclassified(df).to_pydict() == {"label": [4], "model_classification": [None]}


def test_no_labelled_rows_give_zero_counts_and_a_null_accuracy() -> None:
    df = daft.from_pydict({"label": [None, None], "model_classification": [1, 2]})
    df = df.with_column("label", df["label"].cast(daft.DataType.int64()))
    assert overall_accuracy(df).to_pydict() == {
        "num_rows": [0],
        "correct": [0],
        "wrong": [0],
        "unlabeled": [2],
        "accuracy": [None],
    }
    assert accuracy_by_label(df).to_pydict()["label"] == []
