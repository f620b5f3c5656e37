"""Accuracy reports as lazy Daft aggregations: per label, overall, confusion matrix, mistakes.

One rule in every report: **rows without a label are excluded** (there is nothing to score
them against), and :func:`overall_accuracy` says how many in its ``unlabeled`` column. A null
*prediction* on a labelled row counts as wrong (it is a row the model failed on). So in every
report ``correct + wrong == num_rows`` (the labelled rows), the per-label rows of
:func:`accuracy_by_label` sum to :func:`overall_accuracy`'s row, the counts of
:func:`confusion_matrix` sum to ``num_rows`` (null predictions appear with a null
``prediction``), and :func:`misclassified` has ``wrong`` rows. Frames from
``load_mnist(on_error="null")`` keep bad rows with a null label: they are counted in
``unlabeled``, never as correct or wrong.

Labels and predictions are digits 0-9 or null, in every report and in
:func:`~daft_mnist.plot_confusion_matrix` alike: any other value (``12``, ``-1``, ``2.5``) is a
:class:`~daft_mnist.errors.DataError` naming its rows when the report runs, never scored in
silence. A column of nulls only (Daft's ``Null`` type) is a column of missing values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from daft_mnist.data._rules import fresh_names, label_check, require_columns, unwrap
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft

__all__ = ["ERROR_SUFFIX", "accuracy_by_label", "confusion_matrix", "error_counts", "misclassified", "overall_accuracy"]


class _Outcome(NamedTuple):
    """The names of the scoring columns added to one frame: fresh names, never a user's column."""

    labelled: str
    correct: str
    wrong: str

    @classmethod
    def of(cls, df: daft.DataFrame) -> _Outcome:
        return cls(*fresh_names(df.column_names, "__labelled", "__correct", "__wrong"))


def _with_outcome(df: daft.DataFrame, label: str, prediction: str, step: str, names: _Outcome) -> daft.DataFrame:
    """The one scoring rule, shared by every report: ``names``' labelled, correct and wrong columns (0/1).

    A row without a label is neither correct nor wrong; a labelled row is correct when its
    prediction equals the label, and wrong otherwise (a null prediction included).
    """
    from daft import DataType, col

    require_columns(df, [label, prediction])
    digits = {label: _digits(label, "label", step), prediction: _digits(prediction, "prediction", step)}
    df = df.with_columns(digits)
    labelled = col(label).not_null()
    hit = labelled & (col(prediction) == col(label)).fill_null(False)
    return df.with_columns(
        {
            names.labelled: labelled.cast(DataType.int64()),
            names.correct: hit.cast(DataType.int64()),
            names.wrong: (labelled & ~hit).cast(DataType.int64()),
        }
    )


_NULL_HINT = {
    "label": "checked_labels(col({column!r}), on_error='null') keeps the rows, counted as unlabeled",
    "prediction": "a null prediction on a labelled row counts as wrong",
}


def _checked_digits(series: Any, column: str, what: str, step: str) -> Any:
    """A batch of ``column`` as ``Int64`` digits 0-9 (nulls stay null); anything else is a ``DataError``.

    Raises:
        DataError: A value that is not an integer 0-9, naming its rows and values.
    """
    import pyarrow as pa

    raw = unwrap(series.to_arrow())
    check = label_check(raw, column, noun=what)
    nulls = np.asarray(raw.is_null().to_numpy(zero_copy_only=False), dtype=bool) if len(raw) else np.zeros(0, bool)
    check = check.ignoring_nulls(nulls)
    if check.any():
        raise DataError(
            f"{step}: column {column!r}: {check.count} of {len(check)} {what}s are not digits 0-9 "
            f"({check.summary()}); the reports score digits 0-9 only: "
            f"fix those values, or make them null ({_NULL_HINT[what].format(column=column)})"
        )
    out = np.where(nulls, 0, check.numbers).astype(np.int64)
    return pa.array(out, type=pa.int64(), mask=nulls if nulls.any() else None)


def _digits(column: str, what: str, step: str) -> Any:
    import daft
    from daft import DataType, col

    @daft.func.batch(return_dtype=DataType.int64(), use_process=False)
    def report_digits(values: daft.Series) -> Any:
        return _checked_digits(values, column, what, step)

    return report_digits(col(column))


def _labelled_rows(df: daft.DataFrame, label: str, prediction: str, step: str, names: _Outcome) -> daft.DataFrame:
    """The rows the reports score (those with a label), with their outcome columns."""
    from daft import col, lit

    return _with_outcome(df, label, prediction, step, names).where(col(names.labelled) == lit(1))


def _outcome_counts(frame: Any, names: _Outcome, *, unlabeled: bool) -> daft.DataFrame:
    """``num_rows, correct, wrong, accuracy`` (and ``unlabeled``) of a :func:`_with_outcome` frame or its groups."""
    from daft import DataType, col, lit
    from daft.functions import when

    aggs = [
        col(names.labelled).sum().fill_null(0).alias("num_rows"),
        col(names.correct).sum().fill_null(0).alias("correct"),
        col(names.wrong).sum().fill_null(0).alias("wrong"),
    ]
    if unlabeled:
        aggs.append((1 - col(names.labelled)).sum().fill_null(0).alias("unlabeled"))
    counts: daft.DataFrame = frame.agg(*aggs)
    rate = col("correct").cast(DataType.float64()) / col("num_rows").cast(DataType.float64())
    # No labelled rows: the accuracy is unknown (null), not NaN.
    return counts.with_column(
        "accuracy", when(col("num_rows") > lit(0), rate).otherwise(lit(None).cast(DataType.float64()))
    )


def accuracy_by_label(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """Per-label report: ``label, num_rows, correct, wrong, accuracy``, sorted by label.

    The tutorial's group-by table plus the rate. Rows without a label are excluded (their
    number is :func:`overall_accuracy`'s ``unlabeled``), so the rows sum to the overall row.
    Lazy: nothing runs until you collect or show.

    Args:
        df: Frame with true labels and predictions.
        label: Column of true labels.
        prediction: Column of predicted labels (null predictions count as wrong).

    Returns:
        A lazy DataFrame with one row per label.

    Examples:
        >>> import daft
        >>> from daft_mnist import accuracy_by_label
        >>> df = daft.from_pydict({"label": [3, 3, 7, 7, None], "model_classification": [3, 8, 7, None, 1]})
        >>> accuracy_by_label(df).to_pydict()
        {'label': [3, 7], 'num_rows': [2, 2], 'correct': [1, 1], 'wrong': [1, 1], 'accuracy': [0.5, 0.5]}
    """
    from daft import col

    names = _Outcome.of(df)
    grouped = _labelled_rows(df, label, prediction, "accuracy_by_label", names).groupby(col(label))
    return _outcome_counts(grouped, names, unlabeled=False).sort(col(label))


def overall_accuracy(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """One-row lazy frame: ``num_rows, correct, wrong, unlabeled, accuracy`` over the whole frame.

    ``num_rows`` counts the labelled rows (``correct + wrong``); ``unlabeled`` counts the rows
    without a label, which every report leaves out. ``accuracy`` is null when no row has a label.

    Examples:
        >>> import daft
        >>> from daft_mnist import overall_accuracy
        >>> df = daft.from_pydict({"label": [3, 3, 7, 7, None], "model_classification": [3, 8, 7, None, 1]})
        >>> overall_accuracy(df).to_pydict()
        {'num_rows': [4], 'correct': [2], 'wrong': [2], 'unlabeled': [1], 'accuracy': [0.5]}
    """
    names = _Outcome.of(df)
    return _outcome_counts(_with_outcome(df, label, prediction, "overall_accuracy", names), names, unlabeled=True)


def confusion_matrix(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """Confusion matrix in long form: ``label, prediction, count`` for each pair that occurs, sorted.

    Rows without a label are excluded (see :func:`overall_accuracy`'s ``unlabeled``); a null
    prediction on a labelled row is its own pair with a null ``prediction``, so the counts
    sum to ``num_rows``.

    Examples:
        >>> import daft
        >>> from daft_mnist import confusion_matrix
        >>> df = daft.from_pydict({"label": [3, 3, 3, 7, None], "model_classification": [3, 8, 3, 7, 1]})
        >>> confusion_matrix(df).to_pydict()
        {'label': [3, 3, 7], 'prediction': [3, 8, 7], 'count': [2, 1, 1]}
    """
    from daft import col

    names = _Outcome.of(df)
    return (
        _labelled_rows(df, label, prediction, "confusion_matrix", names)
        .groupby(col(label), col(prediction).alias("prediction"))
        .agg(col(names.labelled).sum().alias("count"))
        .sort([col(label), col("prediction")])
    )


def misclassified(
    df: daft.DataFrame, *, label: str = "label", prediction: str = "model_classification"
) -> daft.DataFrame:
    """Labelled rows whose prediction differs from the label (or is null): the tutorial's list of mistakes.

    Rows without a label are excluded (see :func:`overall_accuracy`'s ``unlabeled``); the
    frame has ``wrong`` rows and ``df``'s columns.

    Examples:
        >>> import daft
        >>> from daft_mnist import misclassified
        >>> df = daft.from_pydict({"label": [3, 3, 7, 7, None], "model_classification": [3, 8, 7, None, 1]})
        >>> misclassified(df).to_pydict()
        {'label': [3, 7], 'model_classification': [8, None]}
    """
    from daft import col, lit

    names = _Outcome.of(df)
    wrong = _labelled_rows(df, label, prediction, "misclassified", names).where(col(names.wrong) == lit(1))
    return wrong.select(*df.column_names)


ERROR_SUFFIX = "_error"
"""Columns named ``<thing>_error`` hold why a row's value is null (``load_error``, ``model_classification_error``)."""


def error_counts(df: daft.DataFrame, *, columns: list[str] | None = None) -> daft.DataFrame:
    """How many rows failed, and why: ``column, error, count``, from the data itself.

    The one way to count bad rows: a lazy aggregation over the reason columns the library
    writes (``load_error`` from a loader under ``on_error="null"``, ``{output}_error`` from
    ``classify(..., details=True)``), so it gives the same counts on the native and the Ray
    runner, however the work was spread. One row per column and distinct reason (rows whose
    reason is null succeeded and are not listed), most frequent first within each column.

    Args:
        df: A frame with reason columns.
        columns: The reason columns to count; default: every column whose name ends in
            ``_error``.

    Returns:
        A lazy frame of ``column`` (String), ``error`` (String) and ``count`` (UInt64).

    Raises:
        ValueError: No reason column (the message names the frame's columns), or a column
            of ``columns`` is missing.

    Examples:
        >>> import daft
        >>> from daft_mnist import error_counts
        >>> df = daft.from_pydict({"load_error": [None, "label: -1 is not 0-9", "label: -1 is not 0-9"]})
        >>> error_counts(df).to_pydict()
        {'column': ['load_error'], 'error': ['label: -1 is not 0-9'], 'count': [2]}
    """
    from functools import reduce

    from daft import col, lit

    names = [c for c in df.column_names if c.endswith(ERROR_SUFFIX)] if columns is None else list(columns)
    if not names:
        raise ValueError(
            f"no reason column (named '*{ERROR_SUFFIX}') among {df.column_names}; load with on_error='null' "
            "or classify with details=True, or pass columns="
        )
    require_columns(df, names)
    parts = [
        df.where(col(name).not_null())
        .select(lit(name).alias("column"), col(name).alias("error"))
        .groupby("column", "error")
        .agg(col("error").count().alias("count"))
        for name in names
    ]
    counts: daft.DataFrame = reduce(lambda a, b: a.concat(b), parts)
    return counts.sort(["column", "count", "error"], desc=[False, True, False])
