"""Each row checked once: ``load_mnist -> add_image_2d -> add_pil_image`` on the 10,000-image test set.

Three ways to run the same pipeline, in one process, alternating, median of ``--repeats``:

1. ``checked at each step`` - the expression builders with the pixel check forced to scan every
   batch, as before this change: ``load_mnist``'s check, then ``image_2d``'s, then ``to_image``'s.
2. ``builders, pass-through`` - ``image_2d`` / ``to_image`` as they are now: the checking UDF
   still runs, but passes ``FixedSizeList[UInt8; 784]`` / 28x28 uint8 input through unscanned.
3. ``helpers, native cast``  - ``add_image_2d`` / ``add_pil_image``: the input's type proves it
   valid, so they cast natively and no Python UDF runs after ``load_mnist``.

Usage::

    python benchmarks/check_once.py              # 5 repeats
    python benchmarks/check_once.py --repeats 3
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from _common import alternating_medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import daft
    from daft import col

    from daft_mnist import add_image_2d, add_pil_image, image_2d, load_mnist, to_image
    from daft_mnist.data import _columns
    from daft_mnist.io import default_source

    source = default_source("test")

    def builders() -> daft.DataFrame:
        df = load_mnist(source)
        return df.with_column("image_2d", image_2d(col("image"))).with_column("pil_image", to_image(col("image_2d")))

    def full_check() -> Any:
        # Turn off both type tests, so every step scans every row again (the old behaviour).
        saved = _columns.is_valid_pixels, _columns._valid_by_type
        _columns.is_valid_pixels = _columns._valid_by_type = lambda raw: False  # type: ignore[assignment]
        try:
            return builders().collect()
        finally:
            _columns.is_valid_pixels, _columns._valid_by_type = saved

    def helpers() -> Any:
        return add_pil_image(add_image_2d(load_mnist(source))).collect()

    rows: dict[str, Callable[[], Any]] = {
        "checked at each step": full_check,
        "builders, pass-through": lambda: builders().collect(),
        "helpers, native cast": helpers,
    }
    n = len(helpers())
    medians = alternating_medians(rows, args.repeats)
    base = medians["checked at each step"]
    print(f"load_mnist -> add_image_2d -> add_pil_image, {n} images, median of {args.repeats}:")
    for name, med in medians.items():
        print(f"  {name:<24} {med:6.3f} s  {n / med:9,.0f} images/s  {base / med:4.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
