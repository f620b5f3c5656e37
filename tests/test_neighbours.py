"""nearest: k nearest index rows per query by cosine distance, as one Daft query."""

from __future__ import annotations

import math
from pathlib import Path

import daft
import numpy as np
import pytest
from daft import col

from daft_mnist.classifier import embed_digit
from daft_mnist.neighbours import nearest

VEC = daft.DataType.fixed_size_list(daft.DataType.float32(), 2)


def _frame(data: dict[str, list[object]], vector: str = "v") -> daft.DataFrame:
    df = daft.from_pydict(data)
    return df.with_column(vector, col(vector).cast(VEC))


# Unit vectors at these angles (degrees): cosine distance = 1 - cos(angle between).
INDEX = {"name": ["a0", "a10", "a45", "a90", "a180", "zero"], "v": [None] * 6}
for i, deg in enumerate((0, 10, 45, 90, 180)):
    INDEX["v"][i] = [math.cos(math.radians(deg)), math.sin(math.radians(deg))]
INDEX["v"][5] = [0.0, 0.0]  # no direction: never a neighbour


def test_known_neighbours_in_query_order_nearest_first() -> None:
    at = [[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in (100, 3)]
    queries = _frame({"q": ["at 100", "at 3", "none"], "v": [*at, None]})
    out = nearest(queries, _frame(INDEX), k=3, on="v").to_pydict()
    assert out["q"] == ["at 100"] * 3 + ["at 3"] * 3  # the null query has no rows
    assert out["neighbour_name"] == ["a90", "a45", "a180", "a0", "a10", "a45"]
    assert out["rank"] == [1, 2, 3, 1, 2, 3]
    expected = [1 - math.cos(math.radians(d)) for d in (10, 55, 80, 3, 7, 42)]
    np.testing.assert_allclose(out["distance"], expected, atol=1e-5)
    assert list(out) == ["q", "v", "neighbour_name", "neighbour_v", "distance", "rank"]


def test_k_larger_than_the_index_and_ties_in_index_order() -> None:
    index = _frame({"id": [3, 1, 2], "v": [[2.0, 0.0], [1.0, 0.0], [0.0, 1.0]]})
    queries = _frame({"v": [[5.0, 0.0]]})
    out = nearest(queries, index, k=10, on="v", prefix="n_").to_pydict()
    assert out["n_id"] == [3, 1, 2]  # 3 and 1 tie at distance 0: the index's order decides
    assert out["rank"] == [1, 2, 3]


def test_separate_vector_columns_and_bad_arguments() -> None:
    queries = _frame({"qv": [[1.0, 0.0]]}, vector="qv")
    out = nearest(queries, _frame(INDEX), k=1, on="qv", index_on="v").to_pydict()
    assert out["neighbour_name"] == ["a0"]
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k: expected an integer >= 1, got "):
            nearest(queries, _frame(INDEX), k=k, on="qv", index_on="v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queries has no column 'embedding'"):
        nearest(queries, _frame(INDEX))
    with pytest.raises(ValueError, match="repeat a column name"):
        nearest(_frame({"v": [[1.0, 0.0]], "neighbour_name": ["x"]}), _frame(INDEX), on="v")
    with pytest.raises(ValueError, match="repeat a column name"):
        nearest(queries, _frame(INDEX), on="qv", index_on="v", prefix="q")


def test_embeddings_of_digits_find_themselves(random_weights: Path) -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(6, 784), dtype=np.uint8)
    index = daft.from_pydict({"id": list(range(6)), "image": [img.tolist() for img in images]})
    index = index.with_column("embedding", embed_digit(col("image"), weights=str(random_weights)))
    queries = index.where(col("id").is_in([4, 1])).select(col("id").alias("query_id"), "embedding")
    out = nearest(queries, index.exclude("image"), k=2).to_pydict()
    assert out["query_id"] == [1, 1, 4, 4]
    assert [out["neighbour_id"][0], out["neighbour_id"][2]] == [1, 4]
    assert out["distance"][0] == pytest.approx(0, abs=1e-5)
    assert out["distance"][2] == pytest.approx(0, abs=1e-5)
