"""Your own digits: ``mnist_style`` throughput on MNIST, and where the time goes on a folder of pictures.

1. ``mnist_style`` on the 10,000 MNIST test images (pixels from ``load_mnist``, materialized
   first, so only the preparation is timed):

   * as ``Image[L; 28 x 28]`` (fixed shape: one ``(N, 28, 28)`` stack per batch, the fast path);
   * as ``Image[L]`` (variable size: one view per row, grouped by shape);
   * ``prepare_stack`` on the numpy stack directly, the floor the Daft runs are compared with.

2. The real-digits folder (``$DAFT_MNIST_DATA_DIR/real-digits``): end to end
   (``classify(add_image_2d(load_images(folder)))``) and each stage on the previous stage's
   materialized output: listing, download + decode (JPEG and PNG apart), preparation, model.

Median of ``--repeats`` runs (default 5) for each figure, in one process. Usage::

    DAFT_MNIST_DATA_DIR=../shared/data python benchmarks/own_digits.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def line(name: str, seconds: float, n: int, base: float | None = None) -> None:
    ratio = f"  {seconds / base:5.2f}x" if base else ""
    print(f"  {name:44s} {seconds * 1000:9.1f} ms  {n / seconds:10,.0f} images/s{ratio}")


def mnist_part(repeats: int) -> None:
    import daft
    import numpy as np
    from daft import DataType, col

    from daft_mnist import load_mnist
    from daft_mnist.preparation import mnist_style
    from daft_mnist.vision._prepare import prepare_stack

    pixels = load_mnist().select("image").collect()
    fixed = pixels.select(col("image").cast(DataType.image("L", 28, 28))).collect()
    stack = np.asarray(pixels.to_pydict()["image"], dtype=np.uint8).reshape(-1, 28, 28)
    variable = daft.from_pydict({"image": list(stack[..., None])})
    variable = variable.select(col("image").cast(DataType.image("L"))).collect()
    n = len(stack)
    print(f"mnist_style on the {n:,} MNIST test images (median of {repeats}; ratio to numpy prepare_stack)")
    base = timed(lambda: prepare_stack(stack), repeats)
    line("numpy prepare_stack (N, 28, 28)", base, n)
    for name, frame in (("Daft Image[L; 28 x 28] (fixed shape)", fixed), ("Daft Image[L] (variable size)", variable)):
        seconds = timed(lambda f=frame: f.select(mnist_style(col("image"))).collect(), repeats)
        line(name, seconds, n, base)


def folder_part(folder: Path, repeats: int) -> None:
    from daft import col

    import daft_mnist
    from daft_mnist.data._image_files import IMAGE_SUFFIXES
    from daft_mnist.io import load_images
    from daft_mnist.preparation import mnist_style

    sys_tmp = Path(tempfile.mkdtemp())
    from _common import benchmark_weights

    weights, described = benchmark_weights(sys_tmp)
    files = sorted(str(p) for p in folder.rglob("*") if p.name.lower().endswith(IMAGE_SUFFIXES))
    jpegs = [f for f in files if f.lower().endswith((".jpg", ".jpeg"))]
    pngs = [f for f in files if f.lower().endswith(".png")]
    n = len(files)
    megapixels = 0.0
    decoded = load_images(folder).collect()
    for img in decoded.to_pydict()["image"]:
        megapixels += img.shape[0] * img.shape[1] / 1e6
    print(
        f"\nthe real-digits folder: {n} pictures ({len(jpegs)} JPEG, {len(pngs)} PNG, {megapixels:.1f} megapixels), "
        f"weights: {described} (median of {repeats}; share of the end-to-end time)"
    )

    def end_to_end() -> Any:
        df = daft_mnist.add_image_2d(load_images(folder))
        return daft_mnist.classify(df, weights=weights).select("model_classification").collect()

    total = timed(end_to_end, repeats)
    line("end to end: load_images -> add_image_2d -> classify", total, n)
    listing = timed(lambda: load_images(folder), repeats)
    line("listing (load_images builds the frame)", listing, n, total)
    decode = timed(lambda: load_images(folder).collect(), repeats)
    line("download + decode, all", decode, n, total)
    line(f"  of which {len(jpegs)} JPEG", timed(lambda: load_images(jpegs).collect(), repeats), len(jpegs), total)
    line(f"  of which {len(pngs)} PNG", timed(lambda: load_images(pngs).collect(), repeats), len(pngs), total)
    prepared = decoded.select(mnist_style(col("image")).alias("image_2d")).collect()
    prep = timed(lambda: decoded.select(mnist_style(col("image"))).collect(), repeats)
    line("preparation (mnist_style on decoded pictures)", prep, n, total)
    model = timed(lambda: daft_mnist.classify(prepared, weights=weights).collect(), repeats)
    line("model (classify on prepared 28x28 digits)", model, n, total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None, help="default: $DAFT_MNIST_DATA_DIR/real-digits")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    mnist_part(args.repeats)
    folder = args.folder or Path(os.environ.get("DAFT_MNIST_DATA_DIR", "../shared/data")) / "real-digits"
    if folder.is_dir():
        folder_part(folder, args.repeats)
    else:
        print(f"\nno folder of pictures at {folder}: skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
