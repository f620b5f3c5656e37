"""Diagnostics: the log of rows kept as null under ``on_error="null"``.

Every step that turns a malformed row into a null (the loaders, the column checks, the
classifier) logs it to the ``daft_mnist`` logger, and tallies it here per column for this
process (:func:`bad_row_count`, a debugging aid for the native runner and tests).

To count bad rows, count them in the data: :func:`daft_mnist.error_counts` groups the reason
columns (``load_error``, ``{output}_error``) lazily, and gives the same answer on every runner.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

__all__ = ["bad_row_count", "logger", "record_bad_rows", "reset_bad_row_count"]

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
    """Rows this process logged as set to null by ``on_error="null"`` (all columns, or one).

    A tally of the log, for debugging on the native runner: it does not see Ray workers, and
    a step that runs twice logs twice. To count bad rows use :func:`daft_mnist.error_counts`.
    """
    with _lock:
        return sum(_counts.values()) if column is None else _counts[column]


def reset_bad_row_count() -> None:
    """Reset the counter of :func:`bad_row_count`."""
    with _lock:
        _counts.clear()
