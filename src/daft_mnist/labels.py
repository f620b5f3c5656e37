"""Checked label column: integers 0-9, never a silent null or truncation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daft_mnist.data._columns import label_checker
from daft_mnist.data._rules import OnError

if TYPE_CHECKING:
    from daft import Expression

__all__ = ["checked_labels"]


def checked_labels(label: Expression, *, on_error: OnError = "raise") -> Expression:
    """Check that every label is an integer 0-9 (given as int or integral float); return ``Int64``.

    Args:
        label: The label column.
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
        daft_mnist.errors.DataError: checked_labels: column 'label': 1 of 2 labels are invalid (...got 12); ...
    """
    try:
        name = str(label.name())
    except Exception:
        name = "label"
    out: Expression = label_checker(on_error, name)(label).alias(name)
    return out
