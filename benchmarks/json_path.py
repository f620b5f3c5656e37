"""The JSON path's cost over a bare ``daft.read_json``: ``load_mnist`` of the gzipped test file.

Rows, in one process, alternating, median of ``--repeats`` (each ``load_mnist`` row reads the
file as for the first time: the pre-check's cache is cleared before each run):

1. ``bare daft.read_json``       - Daft's reader with the schema hint, nothing checked.
2. ``load_mnist, regex screen``  - as before issue 17: the pre-check looks for numbers Daft's
   reader may not take (19+ digits, 3-digit exponents) with one regex over each chunk.
3. ``load_mnist``                - now: the same screen as substring searches on the chunk with
   its digits mapped to ``0`` (``_json._suspect_numbers``; the same answers, tested).
4. ``pre-check only`` (regex / now) - ``scan_local_json`` alone.

Usage::

    python benchmarks/json_path.py              # 7 repeats
    python benchmarks/json_path.py --repeats 3
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
    fast = _json._suspect_numbers

    def regex(chunk: bytes, objects: int) -> bool:
        return bool(_json._SUSPECT_NUMBER.search(chunk))

    def with_screen(screen: Callable[[bytes, int], bool], run: Callable[[], Any]) -> Callable[[], Any]:
        def timed() -> Any:
            _json._scan_cache.clear()
            _json._suspect_numbers = screen  # type: ignore[assignment]
            try:
                return run()
            finally:
                _json._suspect_numbers = fast  # type: ignore[assignment]

        return timed

    def load() -> Any:
        return load_mnist(source).to_arrow()

    def scan() -> Any:
        return _json.scan_local_json(source)

    rows: dict[str, Callable[[], Any]] = {
        "bare daft.read_json": lambda: daft.read_json(str(source), schema=_json.mnist_schema()).to_arrow(),
        "load_mnist, regex screen": with_screen(regex, load),
        "load_mnist": with_screen(fast, load),
        "pre-check only, regex": with_screen(regex, scan),
        "pre-check only, now": with_screen(fast, scan),
    }
    n = len(load())
    medians = alternating_medians(rows, args.repeats)
    base = medians["bare daft.read_json"]
    print(f"{source.name}, {n} rows, median of {args.repeats}:")
    for name, med in medians.items():
        print(f"  {name:<26} {med:6.3f} s  {med / base:4.2f}x bare read_json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
