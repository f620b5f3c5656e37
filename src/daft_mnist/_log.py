"""Counting and logging rows that were kept as null under ``on_error="null"``."""

from __future__ import annotations

import logging
import threading
from collections import Counter

logger = logging.getLogger("daft_mnist")

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def record_bad_rows(column: str, count: int, reasons: list[str]) -> None:
    """Log and count ``count`` bad rows of ``column`` (kept as null)."""
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
