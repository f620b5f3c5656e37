"""The photo pipeline on Daft's Ray runner (``tests/test_photos.py``), in its own process.

Starts a local Ray cluster, runs ``classify(load_images(folder))`` with a small decode batch,
and writes what it saw as JSON: paths, predictions, load errors, and the largest batch of
decoded pictures a downstream UDF was handed.

    python tests/ray_photos.py FOLDER OUT.json RAY_TMP BATCH
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import daft
from daft import DataType, col


@daft.func.batch(return_dtype=DataType.int64(), use_process=False)
def batch_length(images: daft.Series) -> Any:
    """Each row's batch length: how many decoded pictures this call was handed at once."""
    return daft.Series.from_pylist([len(images)] * len(images), dtype=DataType.int64())


def main(folder: str, out: str, ray_tmp: str, batch: int) -> int:
    import ray

    import daft_mnist

    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=os.path.abspath(ray_tmp))
    daft.set_runner_ray(noop_if_initialized=True)
    try:
        df = daft_mnist.load_images(folder, on_error="null", batch_size=batch)
        df = df.with_column("held", batch_length(col("image")))
        df = daft_mnist.classify(df, image="image", on_error="null")
        rows = df.select("path", "label", "model_classification", "load_error", "held").to_pydict()
    finally:
        ray.shutdown()
    with open(out, "w") as f:
        json.dump(rows, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
