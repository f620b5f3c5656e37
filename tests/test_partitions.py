"""Many small batches on concurrent UDF threads: same predictions as one batch, one model per process.

The native runner ignores into_partitions/repartition, so parallelism here is many batches over
concurrent model instances (max_concurrency=2); the Ray runner is tested separately."""

from __future__ import annotations

from pathlib import Path

import daft
import numpy as np
import pytest
from daft import col

from daft_mnist import Classifier, image_2d, load_mnist
from daft_mnist.model._engine import model_build_count


def _predict(df: daft.DataFrame, clf: Classifier) -> dict[int, int]:
    out = df.select(col("id"), clf(image_2d(col("image"))).alias("p")).to_pydict()
    return dict(zip(out["id"], out["p"], strict=True))


def test_many_partitions_match_one_partition(test_json: Path, random_weights: Path) -> None:
    base = load_mnist(test_json).limit(1000).collect()
    ids = daft.from_pydict({"id": list(range(1000))})
    df = daft.from_arrow(base.to_arrow().append_column("id", ids.to_arrow().column("id")))
    before = model_build_count()
    single = _predict(df.into_batches(1000), Classifier(weights=str(random_weights), device="cpu", batch_size=2048))
    after_first = model_build_count()
    many = _predict(
        df.into_batches(37),
        Classifier(weights=str(random_weights), device="cpu", batch_size=37, max_concurrency=2),
    )
    assert model_build_count() == after_first <= before + 1  # one model per process, whatever the layout
    assert len(single) == len(many) == 1000
    assert single == many
    assert len(set(single.values())) > 1  # a real model output, not a constant
    assert all(0 <= p <= 9 for p in np.fromiter(many.values(), dtype=np.int64))


_MEMORY_SCRIPT = """
import resource, sys
import daft_mnist as dm

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def run():
    df = dm.classify(dm.add_image_2d(dm.load_mnist()), weights=sys.argv[1], batch_size=64, max_concurrency=2)
    return dm.accuracy_by_label(df).to_pydict()["num_rows"]

first = run()
after_first = peak_mib()
for _ in range(3):
    assert run() == first
print(after_first, peak_mib())
"""


@pytest.mark.slow
def test_memory_stays_bounded_over_repeated_many_batch_runs(
    mnist_dir: Path, random_weights: Path, tmp_path: Path
) -> None:
    """4 passes over the 10,000-image test set in 157 model batches each on 2 threads: the peak RSS
    after the first pass does not keep growing (no per-batch or per-query leak)."""
    import subprocess
    import sys

    script = tmp_path / "memory.py"
    script.write_text(_MEMORY_SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), str(random_weights)], capture_output=True, text=True, check=True, timeout=600
    ).stdout.split()
    after_first, after_all = float(out[-2]), float(out[-1])
    assert after_all - after_first < 150, (
        f"peak RSS grew from {after_first:.0f} MiB to {after_all:.0f} MiB over 3 more runs"
    )
