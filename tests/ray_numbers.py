"""``read_number`` on Daft's Ray runner (``tests/test_numbers.py``), in its own process.

Starts a local Ray cluster, reads the pictures listed in a file with ``read_number(...,
details=True)`` and writes the rows as JSON.

    python tests/ray_numbers.py FILES.txt OUT.json RAY_TMP
"""

from __future__ import annotations

import json
import os
import sys

import daft
from daft import col


def main(listing: str, out: str, ray_tmp: str) -> int:
    import ray

    from daft_mnist import read_number

    with open(listing) as f:
        files = f.read().split("\n")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=os.path.abspath(ray_tmp))
    daft.set_runner_ray(noop_if_initialized=True)
    try:
        df = daft.from_pydict({"path": files}).with_column("image", col("path").download().decode_image())
        df = df.with_column("reading", read_number(col("image"), details=True, batch_size=8))
        rows = df.select("path", "reading").to_pydict()
    finally:
        ray.shutdown()
    with open(out, "w") as f:
        json.dump(rows, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
