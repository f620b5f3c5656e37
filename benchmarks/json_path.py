"""The JSON path's cost over a bare ``daft.read_json``: ``load_mnist`` of the gzipped test file.

Rows, in one process, alternating, median of ``--repeats``; each ``load_mnist`` row reads the
file as for the first time (the pre-check's cache is cleared before each run):

1. ``bare daft.read_json``  - Daft's reader with the schema hint, nothing checked.
2. ``load_mnist``           - pre-check, then the same reader and the per-batch checks.
3. ``pre-check only``       - ``scan_local_json`` alone (bounded-memory streaming of the file,
   the shape of every line).

To compare two versions of the library, run it with each on ``PYTHONPATH`` in turn (the rows
of one run are comparable; runs on a shared machine are not)::

    PYTHONPATH=src python benchmarks/json_path.py              # 7 repeats
    PYTHONPATH=../main/src python benchmarks/json_path.py --repeats 3
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from _common import alternating_medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from pathlib import Path

    import daft

    from daft_mnist import load_mnist
    from daft_mnist.data import _json
    from daft_mnist.io import default_source

    source = Path(default_source("test"))

    def load() -> Any:
        _json._scan_cache.clear()
        return load_mnist(source).to_arrow()

    def scan() -> Any:
        _json._scan_cache.clear()
        return _json.scan_local_json(source)

    rows: dict[str, Callable[[], Any]] = {
        "bare daft.read_json": lambda: daft.read_json(str(source), schema=_json.mnist_schema()).to_arrow(),
        "load_mnist": load,
        "pre-check only": scan,
    }
    n = len(load())
    medians = alternating_medians(rows, args.repeats)
    base = medians["bare daft.read_json"]
    print(f"{source.name}, {n} rows, median of {args.repeats} ({_json.__file__}):")
    for name, med in medians.items():
        print(f"  {name:<22} {med:6.3f} s  {med / base:4.2f}x bare read_json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
