"""Diagnostics: how many rows were kept as null under ``on_error="null"``, and their log.

Every step that turns a malformed row into a null (the loaders, the column checks, the
classifier) logs it to the ``daft_mnist`` logger and counts it here, per column.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import daft

__all__ = ["ROW_COUNTERS", "bad_row_count", "logger", "record_bad_rows", "reset_bad_row_count", "row_counters"]

ROW_COUNTERS = {
    "classified": "daft_mnist rows classified",
    "failed": "daft_mnist rows failed",
    "abstained": "daft_mnist rows abstained",
}
"""The classifier's Daft UDF counters (``daft.udf.metrics.increment_counter``), by short name:
rows given a prediction; rows without one because the image was null, malformed or had no
digit; predictions withheld by ``min_confidence``."""

logger = logging.getLogger("daft_mnist")
"""The library's logger (``"daft_mnist"``): warnings for rows kept as null, downloads."""

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def record_bad_rows(column: str, count: int, reasons: list[str]) -> None:
    """Log and count ``count`` bad rows of ``column`` (kept as null).

    Args:
        column: The column the rows were checked in.
        count: How many rows were set to null.
        reasons: A few of the rows and why (for the log message).
    """
    with _lock:
        _counts[column] += count
    logger.warning("column %r: %d rows are not valid and were set to null (%s)", column, count, "; ".join(reasons))


def bad_row_count(column: str | None = None) -> int:
    """Rows set to null by ``on_error="null"`` in this process so far (all columns, or one).

    Count nulls in the output column for an exact, runner-independent figure; this counter
    sees only the current process (the native runner), not remote Ray workers.
    """
    with _lock:
        return sum(_counts.values()) if column is None else _counts[column]


def reset_bad_row_count() -> None:
    """Reset the counter of :func:`bad_row_count`."""
    with _lock:
        _counts.clear()


def row_counters(df: daft.DataFrame) -> dict[str, int]:
    """The classifier's counters of a materialized frame: ``{"classified": n, "failed": n, "abstained": n}``.

    Read from the query's metrics (``df.metrics``, one row per operator, each with its
    ``stats``, where Daft puts the UDF counters), summed over the operators that classify.
    ``abstained`` counts only where ``min_confidence`` was given. Call it after ``collect()``.

    With Daft 0.7.26 the counters come back on the native runner and from Ray tasks (both
    tested), but not from Ray *actors*: a classifier given ``max_concurrency`` runs as an
    actor pool on Ray, whose UDF counters Daft does not bring back to the driver. Rather than
    report zeros for rows that were classified, this raises then; count the nulls of the
    output columns instead. Where a runner keeps no metrics (``df.metrics`` is ``None``) this
    returns zeros.

    Raises:
        ValueError: The frame has not been materialized (``collect()`` it first), or it ran a
            UDF in Ray actors whose counters did not come back.

    Examples:
        >>> import daft
        >>> from daft_mnist.classifier import classify_digit
        >>> from daft_mnist.diagnostics import row_counters
        >>> df = daft.from_pydict({"image": [[0] * 784, [0] * 783]})
        >>> df = df.with_column("digit", classify_digit(df["image"], on_error="null")).collect()
        >>> row_counters(df)
        {'classified': 1, 'failed': 1, 'abstained': 0}
    """
    totals = dict.fromkeys(ROW_COUNTERS, 0)
    metrics = df.metrics
    if metrics is None:
        return totals
    by_name = {name: short for short, name in ROW_COUNTERS.items()}
    table = metrics.to_pydict()
    for kind, stats in zip(table.get("type", []), table.get("stats", []), strict=True):
        names = {name for name, _ in stats or []}
        if kind == "DistributedActorPoolProject" and not names & set(by_name):
            raise ValueError(
                "row_counters: the query ran a UDF in Ray actors (an actor pool: a classifier given "
                "max_concurrency on the Ray runner), whose UDF counters Daft does not bring back to the "
                "driver; the counts would be wrong. Count the null predictions (and the error column, "
                "errors=True) of the output instead, or leave max_concurrency unset on Ray"
            )
        for name, value in stats or []:
            if name in by_name:
                totals[by_name[name]] += int(value["value"])
    return totals
