"""Each row is checked once per pipeline, and the image renderers take on_error like every step."""

from __future__ import annotations

import logging

import daft
import numpy as np
import pyarrow as pa
import pytest
from daft import DataType, col

from daft_mnist import DataError, add_image_2d, add_pil_image, image_2d, to_image
from daft_mnist.data import _columns as columns_mod
from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count

GOOD = [7] * 784


def _fixed(rows: int, null_rows: tuple[int, ...] = ()) -> daft.DataFrame:
    flat = pa.array((np.arange(784 * rows) % 256).astype(np.uint8))
    mask = pa.array([i in null_rows for i in range(rows)])
    return daft.from_arrow(pa.table({"image": pa.FixedSizeListArray.from_arrays(flat, 784, mask=mask)}))


def test_helpers_cast_columns_valid_by_type_without_a_check(check_calls: list[int]) -> None:
    df = add_pil_image(add_image_2d(_fixed(3, null_rows=(1,))))
    assert df.schema()["image_2d"].dtype == DataType.tensor(DataType.uint8(), (28, 28))
    assert df.schema()["pil_image"].dtype == DataType.image("L", 28, 28)
    out = df.to_pydict()
    assert check_calls == []
    assert out["image_2d"][1] is None  # a null row (counted by the step that made it) stays null
    assert out["pil_image"][1] is None
    np.testing.assert_array_equal(out["image_2d"][0].reshape(-1), np.arange(784) % 256)
    np.testing.assert_array_equal(np.asarray(out["pil_image"][2]).reshape(-1), np.arange(1568, 2352) % 256)
    pictures = add_pil_image(add_image_2d(_fixed(2)), as_pil=True).to_pydict()["pil_image"]
    assert check_calls == []
    assert [p.size for p in pictures] == [(28, 28), (28, 28)]


def test_helpers_still_check_lists(check_calls: list[int]) -> None:
    df = daft.from_pydict({"image": [GOOD, [1] * 10]})
    with pytest.raises(DataError, match="expected 784 pixels, got 10"):
        add_image_2d(df).collect()
    assert sum(check_calls) == 2


def test_builders_pass_valid_input_through_without_a_copy() -> None:
    flat = pa.array((np.arange(784 * 2) % 256).astype(np.uint8))
    arr = pa.FixedSizeListArray.from_arrays(flat, 784)
    series = daft.Series.from_arrow(arr, name="image")
    out = columns_mod.check_pixels_batch(series, "raise", "image")
    assert out.flatten().buffers()[1].address == series.to_arrow().flatten().buffers()[1].address
    df = daft.from_arrow(pa.table({"image": arr}))
    t = df.select(image_2d(col("image")).alias("t")).to_pydict()["t"]
    np.testing.assert_array_equal(t[1].reshape(-1), np.arange(784, 1568) % 256)


@pytest.mark.parametrize("as_pil", [False, True])
def test_to_image_and_add_pil_image_take_on_error(as_pil: bool, caplog: pytest.LogCaptureFixture) -> None:
    df = daft.from_pydict({"image": [GOOD, [300] * 784, [1] * 783]})
    with pytest.raises(DataError, match=r"pixel value 300 is not an integer in 0-255.*on_error='null'"):
        add_pil_image(df, image="image", as_pil=as_pil).collect()
    reset_bad_row_count()
    with caplog.at_level(logging.WARNING, logger="daft_mnist"):
        out = add_pil_image(df, image="image", as_pil=as_pil, on_error="null").to_pydict()["pil_image"]
    assert [p is None for p in out] == [False, True, True]
    assert np.asarray(out[0]).reshape(-1).tolist() == GOOD
    assert bad_row_count("image") == 2
    assert "set to null" in caplog.text
    with pytest.raises(ValueError, match="on_error: expected one of"):
        add_pil_image(df, image="image", on_error="skip")  # type: ignore[arg-type]


def test_to_image_expression_on_error_null() -> None:
    df = daft.from_pydict({"image": [GOOD, None, [0.5] * 784]})
    # The null row is not malformed: only the fractional pixel raises, naming the step.
    with pytest.raises(
        DataError, match=r"^to_image: column 'image': 1 of 3 rows .*row 2 of a 3-row batch: pixel value 0\.5"
    ):
        df.select(to_image(col("image"))).collect()
    reset_bad_row_count()
    out = df.select(to_image(col("image"), on_error="null")).to_pydict()["image"]
    assert [p is None for p in out] == [False, True, True]
    assert bad_row_count("image") == 1  # the null coming in is not a new bad row
