"""Parquet files (as written by this library): read with Daft, checked like every loader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daft_mnist._columns import finish
from daft_mnist._files import daft_literal_path, is_remote, redact_url
from daft_mnist._rules import OnError
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from daft.io import IOConfig

__all__ = ["load_parquet"]


def load_parquet(src: str, io_config: IOConfig | None, on_error: OnError) -> daft.DataFrame:
    """Load a Parquet file with ``image`` and ``label`` columns (any numeric types), checked."""
    import daft

    df = daft.read_parquet(src if is_remote(src) else daft_literal_path(src), io_config=io_config)
    missing = [c for c in ("image", "label") if c not in df.column_names]
    if missing:
        raise DataError(f"{redact_url(src)}: expected Parquet columns 'image' and 'label', got {df.column_names}")
    return finish(df, on_error)
