"""Accuracy reports as lazy Daft aggregations: per label, overall, confusion matrix, mistakes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daft_mnist._rules import require_columns

if TYPE_CHECKING:
    import daft

__all__ = ["accuracy_by_label", "confusion_matrix", "misclassified", "overall_accuracy"]


def _with_outcome(df: daft.DataFrame, label: str, prediction: str) -> daft.DataFrame:
    from daft import DataType, col

    require_columns(df, [label, prediction])
    # A null prediction (a row kept under on_error="null") counts as wrong, never as missing.
    hit = (col(prediction) == col(label)).fill_null(False)
    return df.with_columns(
        {
            "__correct": hit.cast(DataType.int64()),
            "__wrong": (~hit).cast(DataType.int64()),
        }
    )


def _outcome_counts(frame: Any, label: str) -> daft.DataFrame:
    """``num_rows, correct, wrong, accuracy`` of a frame from :func:`_with_outcome`, or of its groups."""
    from daft import DataType, col

    counts: daft.DataFrame = frame.agg(
        col(label).count().alias("num_rows"),
        col("__correct").sum().alias("correct"),
        col("__wrong").sum().alias("wrong"),
    )
    return counts.with_column(
        "accuracy", col("correct").cast(DataType.float64()) / col("num_rows").cast(DataType.float64())
    )


def accuracy_by_label(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """Per-label report: ``label, num_rows, correct, wrong, accuracy``, sorted by label.

    The tutorial's group-by table plus the rate. Lazy: nothing runs until you collect or show.

    Args:
        df: Frame with true labels and predictions.
        label: Column of true labels.
        prediction: Column of predicted labels (null predictions count as wrong).

    Returns:
        A lazy DataFrame with one row per label.

    Examples:
        >>> import daft
        >>> from daft_mnist import accuracy_by_label
        >>> df = daft.from_pydict({"label": [3, 3, 7, 7], "model_classification": [3, 8, 7, None]})
        >>> accuracy_by_label(df).to_pydict()
        {'label': [3, 7], 'num_rows': [2, 2], 'correct': [1, 1], 'wrong': [1, 1], 'accuracy': [0.5, 0.5]}
    """
    from daft import col

    return _outcome_counts(_with_outcome(df, label, prediction).groupby(col(label)), label).sort(col(label))


def overall_accuracy(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """One-row lazy frame: ``num_rows, correct, wrong, accuracy`` over the whole frame.

    Examples:
        >>> import daft
        >>> from daft_mnist import overall_accuracy
        >>> df = daft.from_pydict({"label": [3, 3, 7, 7], "model_classification": [3, 8, 7, None]})
        >>> overall_accuracy(df).to_pydict()
        {'num_rows': [4], 'correct': [2], 'wrong': [2], 'accuracy': [0.5]}
    """
    return _outcome_counts(_with_outcome(df, label, prediction), label)


def confusion_matrix(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """Confusion matrix in long form: ``label, prediction, count`` for each pair that occurs, sorted.

    Examples:
        >>> import daft
        >>> from daft_mnist import confusion_matrix
        >>> df = daft.from_pydict({"label": [3, 3, 3, 7], "model_classification": [3, 8, 3, 7]})
        >>> confusion_matrix(df).to_pydict()
        {'label': [3, 3, 7], 'prediction': [3, 8, 7], 'count': [2, 1, 1]}
    """
    from daft import col

    require_columns(df, [label, prediction])
    return (
        df.groupby(col(label), col(prediction).alias("prediction"))
        .agg(col(label).count().alias("count"))
        .sort([col(label), col("prediction")])
    )


def misclassified(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """Rows whose prediction differs from the label (or is null): the tutorial's list of mistakes.

    Examples:
        >>> import daft
        >>> from daft_mnist import misclassified
        >>> df = daft.from_pydict({"label": [3, 3, 7, 7], "model_classification": [3, 8, 7, None]})
        >>> misclassified(df).to_pydict()
        {'label': [3, 7], 'model_classification': [8, None]}
    """
    from daft import col

    require_columns(df, [label, prediction])
    return df.where((col(label) != col(prediction)).fill_null(True))
