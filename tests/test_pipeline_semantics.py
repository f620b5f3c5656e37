"""One meaning of ``on_error`` through a pipeline, and clear errors for columns of the wrong kind.

A null goes through every step as a null, whatever that step's ``on_error`` (as in Daft's own
functions); ``on_error`` governs malformed values only; a bad row is counted once, by the step
that found it; an error names the step that raised it.
"""

from __future__ import annotations

import json
from pathlib import Path

import daft
import numpy as np
import pytest
from daft import DataType, col
from PIL import Image

import daft_mnist
from daft_mnist import DataError, add_image_2d, checked_labels, classify, image_2d, load_mnist, to_image
from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count

GOOD = [7] * 784


def _jsonl(path: Path, images: list[object]) -> Path:
    path.write_text("".join(json.dumps({"image": im, "label": i % 10}) + "\n" for i, im in enumerate(images)))
    return path


def test_load_mnist_null_alone_keeps_every_row_through_the_pipeline(tmp_path: Path, random_weights: Path) -> None:
    path = _jsonl(tmp_path / "d.json", [GOOD, [1] * 783, GOOD, [300] * 784, GOOD])
    reset_bad_row_count()
    df = classify(add_image_2d(load_mnist(path, on_error="null")), weights=random_weights)  # defaults: raise
    out = df.select("label", "image_2d", "model_classification").to_pydict()
    assert out["label"] == [0, 1, 2, 3, 4]
    assert [t is None for t in out["image_2d"]] == [False, True, False, True, False]
    assert [p is None for p in out["model_classification"]] == [False, True, False, True, False]
    assert bad_row_count("image") == 2  # counted once, by load_mnist, not again by the later steps


def test_the_original_reason_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _jsonl(tmp_path / "d.json", [GOOD, [1] * 783])
    with caplog.at_level("WARNING", logger="daft_mnist"):
        df = add_image_2d(load_mnist(path, on_error="null"))
        df.select(to_image(col("image_2d"))).collect()
    text = caplog.text
    assert text.count("expected 784 pixels, got 783") == 1
    assert "image is null" not in text


@pytest.mark.parametrize(
    ("builder", "step"),
    [(image_2d, "image_2d"), (to_image, "to_image"), (daft_mnist.checked_pixels, "checked_pixels")],
)
def test_a_malformed_value_raises_naming_the_step(builder: object, step: str) -> None:
    df = daft.from_pydict({"image": [GOOD, None, [1.5] * 784]})
    with pytest.raises(DataError, match=rf"^{step}: column 'image': 1 of 3 rows .*pixel value 1\.5"):
        df.select(builder(col("image"))).collect()  # type: ignore[operator]


def test_a_null_label_stays_null_and_is_not_counted_again() -> None:
    df = daft.from_pydict({"label": [1, None, 12]})
    with pytest.raises(DataError, match=r"^checked_labels: column 'label': 1 of 3 labels .*got 12"):
        df.select(checked_labels(col("label"))).collect()
    reset_bad_row_count()
    out = df.select(checked_labels(col("label"), on_error="null")).to_pydict()["label"]
    assert out == [1, None, None]
    assert bad_row_count("label") == 1


# --- columns of the wrong kind -----------------------------------------------------------------


def _pictures(dtype: DataType, arrays: list[np.ndarray]) -> daft.DataFrame:
    return daft.from_pydict({"image": arrays}).select(col("image").cast(dtype))


@pytest.mark.parametrize(
    ("dtype", "arrays", "found"),
    [
        (DataType.image("RGB", 32, 32), [np.zeros((32, 32, 3), np.uint8)], r"Image\[RGB; 32 x 32\]"),
        (DataType.image("RGB"), [np.zeros((40, 30, 3), np.uint8)], r"Image\[RGB\] \(row 0: 30x40 pixels, mode RGB\)"),
        (DataType.image("L"), [np.zeros((50, 60, 1), np.uint8)], r"Image\[L\] \(row 0: 60x50 pixels, mode L\)"),
    ],
)
def test_pictures_where_pixels_are_expected_name_size_and_mode(
    dtype: DataType, arrays: list[np.ndarray], found: str
) -> None:
    df = _pictures(dtype, arrays)
    with pytest.raises(
        DataError, match=rf"^image_2d: column 'image': expected MNIST pixels .*got {found}; .*mnist_style"
    ):
        df.select(image_2d(col("image"))).collect()


def test_a_python_column_of_pil_images_says_how_to_convert_it(random_weights: Path) -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a "1"
    pictures = [Image.fromarray(digit)]
    df = daft.from_pydict({"image": daft.Series.from_pylist(pictures, dtype=DataType.python())})
    with pytest.raises(DataError, match=r"Python objects .*cast\(DataType\.image\(\)\)"):
        df.select(image_2d(col("image"))).collect()
    with pytest.raises(DataError, match=r"^classify_digit: .*Python objects"):
        classify(df, image="image", weights=random_weights).collect()
    converted = df.select(col("image").cast(DataType.image()))
    assert classify(converted, image="image", weights=random_weights).to_pydict()["model_classification"][0] in range(
        10
    )


def test_a_label_column_of_strings_says_how_to_convert_it() -> None:
    df = daft.from_pydict({"label": ["1", "7"]})
    with pytest.raises(DataError, match=r"they are strings: convert them with col\('label'\)\.cast"):
        df.select(checked_labels(col("label"))).collect()


# --- a reason for every failed row, from the loader to the classifier ---------------------------

_GOOD_JSON = json.dumps(GOOD)
_KINDS = [
    ('{"image": [1, 2], "label": 1}', "image: expected 784 pixels, got 2", True),
    (json.dumps({"image": [300] * 784, "label": 1}), "image: pixel value 300 is not an integer in 0-255", True),
    (json.dumps({"image": [0.5] * 784, "label": 1}), "image: pixel value 0.5 is not an integer in 0-255", True),
    ('{"label": 1}', "image: image is null, missing or not a list of numbers", True),
    (f'{{"image": {_GOOD_JSON}, "label": 12}}', "label: expected an integer label 0-9, got 12", False),
    (f'{{"image": {_GOOD_JSON}}}', "label: expected an integer label 0-9, got null", False),
    ("not json at all", "line: not valid JSON", True),
    ("[1, 2, 3]", "line: a JSON list, expected an object with 'image' and 'label'", True),
    (f'{{"image": {_GOOD_JSON}, "label": true}}', "line: a JSON boolean in 'label'", False),
    (f'{{"image": {_GOOD_JSON[:-1]}, NaN], "label": 1}}', "line: ", True),
]


@pytest.mark.parametrize(("line", "reason", "image_lost"), _KINDS, ids=[r for _, r, _ in _KINDS])
def test_every_bad_row_kind_keeps_its_reason_and_the_rest_of_its_row(
    tmp_path: Path, random_weights: Path, line: str, reason: str, image_lost: bool
) -> None:
    good = f'{{"image": {_GOOD_JSON}, "label": 7}}'
    path = tmp_path / "d.json"
    path.write_text("\n".join([good, line, good]) + "\n")
    loaded = add_image_2d(load_mnist(path, on_error="null"))
    df = classify(loaded, weights=random_weights, details=True, reasons="load_error")
    out = df.to_pydict()
    assert len(out["label"]) == 3
    assert out["label"][0] == out["label"][2] == 7
    assert out["load_error"][0] is None
    assert out["load_error"][2] is None
    assert out["load_error"][1] is not None
    assert out["load_error"][1].startswith(reason)
    if image_lost:  # the prediction's error is the loader's reason, not "image is null"
        assert out["model_classification"][1] is None
        assert out["model_classification_error"][1] == out["load_error"][1]
    else:  # only the label was bad: the image is still classified
        assert out["model_classification"][1] is not None
        assert out["model_classification_error"][1] is None
