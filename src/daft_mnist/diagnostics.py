"""Diagnostics: how many rows were kept as null under ``on_error="null"``, and their log.

Every step that turns a malformed row into a null (the loaders, the column checks, the
classifier) logs it to the ``daft_mnist`` logger and counts it here, per column.
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
