"""Checked label column: integers 0-9, never a silent null or truncation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from daft_mnist._rules import OnError, check_on_error, label_check
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    from daft import Expression

    from daft_mnist.io import JsonLines

__all__ = ["checked_labels"]


def _check_labels_batch(series: Any, on_error: str, column: str, source: JsonLines | None = None) -> Any:
    import pyarrow as pa

    bad, reasons, values = label_check(series.to_arrow(), column)
    if bad.any():
        if on_error == "raise":
            lines = source.first_bad("label") if source is not None else ""
            raise DataError(
                f"column {column!r}: {int(bad.sum())} of {len(bad)} labels are invalid ({'; '.join(reasons)}){lines}; "
                "pass on_error='null' to keep those rows with a null label"
            )
        from daft_mnist.diagnostics import record_bad_rows

        record_bad_rows(column, int(bad.sum()), reasons)
    out = np.where(bad, 0, values).astype(np.int64)
    return pa.array(out, type=pa.int64(), mask=bad if bad.any() else None)


def checked_labels(expr: Expression, *, on_error: OnError = "raise") -> Expression:
    """Check that every label is an integer 0-9 (given as int or integral float); return ``Int64``.

    Args:
        expr: The label column.
        on_error: ``"raise"`` (default) or ``"null"`` (bad labels become null and are counted).

    Returns:
        An ``Int64`` expression with the input's name.

    Examples:
        >>> import daft
        >>> from daft_mnist import checked_labels
        >>> df = daft.from_pydict({"label": [0, 9.0, 4]})
        >>> df.select(checked_labels(df["label"])).to_pydict()
        {'label': [0, 9, 4]}
        >>> bad = daft.from_pydict({"label": [0, 12]})
        >>> bad.select(checked_labels(bad["label"])).to_pydict()
        Traceback (most recent call last):
            ...
        daft_mnist.errors.DataError: column 'label': 1 of 2 labels are invalid (row 1 ...: expected ... got 12); ...
    """
    try:
        name = str(expr.name())
    except Exception:
        name = "label"
    out: Expression = _labels_checker(on_error, name)(expr).alias(name)
    return out


def _labels_checker(on_error: str, column: str, source: JsonLines | None = None) -> Any:
    import daft
    from daft import DataType

    check_on_error(on_error)

    @daft.func.batch(return_dtype=DataType.int64(), use_process=False)
    def check_mnist_labels(labels: daft.Series) -> Any:
        return _check_labels_batch(labels, on_error, column, source)

    return check_mnist_labels
