"""Output helpers of the command line: the report table, pictures and prediction tables, written atomically."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from daft_mnist.data._files import write_atomically

__all__ = ["REPORT_COLUMNS", "collect_with_progress", "format_table", "print_report", "save_image", "write_table"]

REPORT_COLUMNS = ("label", "num_rows", "correct", "wrong", "accuracy")


def format_table(columns: dict[str, list[Any]], names: Sequence[str]) -> str:
    """``columns`` as a right-aligned text table with a header rule (floats with 4 decimals)."""

    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [[cell(v) for v in columns[n]] for n in names]
    widths = [max([len(n)] + [len(c) for c in col]) for n, col in zip(names, cells, strict=True)]
    lines = ["  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in zip(*cells, strict=True):
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def print_report(by_label: dict[str, list[Any]], overall: dict[str, Any]) -> None:
    """The per-label table with the overall row (``all``) below a rule, and the rows left out."""
    rows = {name: [*by_label[name], overall.get(name, "all")] for name in REPORT_COLUMNS}
    text = format_table(rows, REPORT_COLUMNS).splitlines()
    # A rule above the overall row, which is labelled "all".
    print("\n".join([*text[:-1], text[1], text[-1]]))
    if overall.get("unlabeled"):
        print(f"{overall['unlabeled']} rows without a label were left out of the report")


def save_image(picture: Any, path: Path) -> None:
    """Save a ``PIL.Image`` atomically, in the format its file name says."""
    from PIL import Image

    Image.init()
    fmt = Image.registered_extensions()[path.suffix.lower()]
    write_atomically(path, lambda out: picture.save(out, format=fmt))


def write_table(table: Any, path: Path) -> None:
    """Write an Arrow table atomically as CSV or Parquet, by the file name."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if path.suffix.lower() == ".csv":
        write_atomically(path, lambda out: pa_csv.write_csv(table, out))
    else:
        write_atomically(path, lambda out: pq.write_table(table, out))


def collect_with_progress(df: Any, *, unit: str = "photo", file: IO[str] | None = None, force: bool = False) -> Any:
    """Run ``df`` as its batches come, with a progress line on stderr (rows done, rows/s); one Arrow table.

    The line shows on a terminal only (or with ``force``), so redirected output stays clean;
    results stream through a small buffer, never the whole frame twice.
    """
    import pyarrow as pa
    from tqdm import tqdm

    batches: list[Any] = []
    out = file if file is not None else sys.stderr
    with tqdm(
        unit=unit, desc="classifying", file=out, dynamic_ncols=True, leave=True, disable=None if not force else False
    ) as bar:
        for batch in df.to_arrow_iter(results_buffer_size=2):
            batches.append(batch)
            bar.update(batch.num_rows)
    if not batches:
        return df.limit(0).to_arrow()
    return pa.Table.from_batches(batches)
