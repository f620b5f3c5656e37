"""Parquet files: read with Daft (checked like every loader, unless the types prove it), written atomically.

A file written by :func:`~daft_mnist.io.convert` has the library's schema: ``image``
``FixedSizeList[UInt8; 784]`` and ``label`` ``Int64``. The image type proves every non-null
image valid (784 pixels, each 0-255), so reading it back runs no pixel check; the labels are
still checked (an ``Int64`` does not prove 0-9; one vectorized pass over 8 bytes a row).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from daft_mnist.data._columns import finish, label_checker
from daft_mnist.data._files import daft_literal_path, is_remote, redact_url, write_atomically
from daft_mnist.data._rules import NUM_PIXELS, OnError
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from daft.io import IOConfig

__all__ = ["ParquetCounts", "load_parquet", "write_parquet_file"]


def load_parquet(src: str | list[str], io_config: IOConfig | None, on_error: OnError) -> daft.DataFrame:
    """Load a Parquet file (or a list of local ones) with ``image`` and ``label`` columns (any numeric types), checked.

    An ``image`` column of ``FixedSizeList[UInt8; 784]`` (what :func:`~daft_mnist.io.convert`
    writes) is valid by its type and is not checked again; its null rows (bad rows nulled and
    counted when the file was written with ``on_error="null"``) stay null, not counted again,
    and so do null labels beside them.
    """
    import daft
    from daft import DataType, col

    if isinstance(src, list):
        df = daft.read_parquet([daft_literal_path(p) for p in src], io_config=io_config)
        shown = f"{src[0]} (and {len(src) - 1} more)" if len(src) > 1 else src[0]
    else:
        df = daft.read_parquet(src if is_remote(src) else daft_literal_path(src), io_config=io_config)
        shown = redact_url(src)
    missing = [c for c in ("image", "label") if c not in df.column_names]
    if missing:
        raise DataError(f"{shown}: expected Parquet columns 'image' and 'label', got {df.column_names}")
    if df.schema()["image"].dtype == DataType.fixed_size_list(DataType.uint8(), NUM_PIXELS):
        labels = label_checker(on_error, "label", step="load_mnist")(col("label")).alias("label")
        return df.select(col("image"), labels)
    return finish(df, on_error)


class ParquetCounts(NamedTuple):
    """What :func:`write_parquet_file` wrote: rows, and rows whose image or label is null."""

    num_rows: int
    null_images: int
    null_labels: int


def write_parquet_file(df: daft.DataFrame, target: Path, *, compression: str = "zstd") -> ParquetCounts:
    """Stream a loader's frame into one Parquet file at ``target``, atomically.

    The batches go through a temporary file beside ``target`` (renamed into place only when
    complete, removed on any error), so a reader never sees a partial file and a failed run
    leaves nothing behind. Works on every runner (the batches are streamed to this process).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("image", pa.list_(pa.uint8(), NUM_PIXELS)), ("label", pa.int64())])
    counts = [0, 0, 0]

    def write(out: object) -> None:
        with pq.ParquetWriter(out, schema, compression=compression) as writer:
            for batch in df.select("image", "label").to_arrow_iter():
                table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
                table = table.cast(schema)
                writer.write_table(table)
                counts[0] += table.num_rows
                counts[1] += table.column("image").null_count
                counts[2] += table.column("label").null_count

    write_atomically(target, write)
    return ParquetCounts(*counts)
