"""Many small batches on concurrent UDF threads: same predictions as one batch, one model per process.

The native runner ignores into_partitions/repartition, so parallelism here is many batches over
concurrent model instances (max_concurrency=2); the Ray runner is tested separately."""

from __future__ import annotations

from pathlib import Path

import daft
import numpy as np
from daft import col

from daft_mnist import Classifier, image_2d, load_mnist
from daft_mnist.udfs import model_build_count


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
