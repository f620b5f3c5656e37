"""End to end from Parquet (written once by ``convert``) beside end to end from the gzipped JSON.

The 10,000-image test file is converted once (timed) into a temporary folder; then, in one
process, alternating, median of ``--repeats``:

* ``load only``: ``load_mnist(source).collect()`` (read and check);
* ``end to end``: ``load_mnist -> add_image_2d -> classify -> accuracy_by_label`` (bundled
  weights, default precision).

The JSON file's one-time shape check is cached per process (done in the warm-up), so the JSON
rows are the repeat-run figures too.

Usage::

    python benchmarks/parquet_vs_json.py              # 5 repeats
    python benchmarks/parquet_vs_json.py --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import alternating_medians, benchmark_weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from daft_mnist import accuracy_by_label, add_image_2d, classify, load_mnist
    from daft_mnist.io import convert, default_source

    json_source = default_source("test")
    with tempfile.TemporaryDirectory() as tmp:
        weights, described = benchmark_weights(Path(tmp))
        parquet_source = Path(tmp) / "test.parquet"
        t0 = time.perf_counter()
        converted = convert(json_source, parquet_source)
        convert_s = time.perf_counter() - t0

        def end_to_end(source: Any) -> Callable[[], Any]:
            return lambda: accuracy_by_label(classify(add_image_2d(load_mnist(source)), weights=weights)).collect()

        rows: dict[str, Callable[[], Any]] = {
            "load only, JSON": lambda: load_mnist(json_source).collect(),
            "load only, Parquet": lambda: load_mnist(parquet_source).collect(),
            "end to end, JSON": end_to_end(json_source),
            "end to end, Parquet": end_to_end(parquet_source),
        }
        medians = alternating_medians(rows, args.repeats)
        size_mib = parquet_source.stat().st_size / 2**20

    n = converted.num_rows
    json_mib = Path(json_source).stat().st_size / 2**20
    print(f"{n} test images, {described} weights, median of {args.repeats}, one process:")
    print(f"  convert (once)          {convert_s:6.3f} s  ({json_mib:.1f} MiB .json.gz -> {size_mib:.1f} MiB .parquet)")
    for name, med in medians.items():
        print(f"  {name:<22} {med:6.3f} s  {n / med:9,.0f} images/s")
    for what in ("load only", "end to end"):
        ratio = medians[f"{what}, JSON"] / medians[f"{what}, Parquet"]
        print(f"  {what}: Parquet is {ratio:.2f}x JSON")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
