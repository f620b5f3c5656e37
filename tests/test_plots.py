from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import daft
import numpy as np
import pytest
from PIL import Image

import daft_mnist
from daft_mnist import DataError, plot_confusion_matrix, plot_digits

ROOT = Path(__file__).resolve().parents[1]


def random_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 784), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.int64)


def _frame(n: int, seed: int = 0, **extra: list[Any]) -> tuple[daft.DataFrame, np.ndarray, np.ndarray]:
    images, labels = random_images(n, seed)
    data: dict[str, list[Any]] = {"image": [img.tolist() for img in images], "label": labels.tolist(), **extra}
    return daft.from_pydict(data), images, labels


def _digit_at(grid: Image.Image, index: int, n_cols: int, n_rows: int, scale: int = 3) -> np.ndarray:
    """Cut digit ``index`` out of a grid drawn by plot_digits with ``size=28 * scale``."""
    arr = np.asarray(grid)
    cell_w, cell_h = grid.width // n_cols, grid.height // n_rows
    x0, y0 = (index % n_cols) * cell_w, (index // n_cols) * cell_h
    side = 28 * scale
    left = x0 + (cell_w - side) // 2
    block = arr[y0 + 4 : y0 + 4 + side, left : left + side]
    return block[::scale, ::scale]


def test_grid_shows_every_digit_pixel_for_pixel() -> None:
    df, images, _ = _frame(7)
    grid = plot_digits(df, columns=3, size=56)
    assert grid.mode == "L"
    for i in range(7):
        got = _digit_at(grid, i, n_cols=3, n_rows=3, scale=2)
        np.testing.assert_array_equal(got, images[i].reshape(28, 28))


def test_grid_limit_and_columns_set_the_layout() -> None:
    df, _, _ = _frame(30)
    wide = plot_digits(df, limit=12, columns=6)
    tall = plot_digits(df, limit=12, columns=3)
    # Same cells, arranged 6x2 and 3x4.
    assert wide.width * 3 == tall.width * 6
    assert wide.height * 4 == tall.height * 2


def test_every_image_representation_draws_the_same_grid() -> None:
    df, _, _ = _frame(5, seed=3)
    df = daft_mnist.add_image_2d(df)
    df = daft_mnist.add_pil_image(df, output="daft_image")
    df = daft_mnist.add_pil_image(df, output="pil", as_pil=True)
    reference = plot_digits(df, image="image").tobytes()
    for column in ("image_2d", "daft_image", "pil"):
        assert plot_digits(df, image=column).tobytes() == reference, column


def test_captions_come_from_label_prediction_or_a_function() -> None:
    df, _, labels = _frame(4, model_classification=[1, 2, 3, 4])
    seen: list[dict[str, Any]] = []

    def caption(row: dict[str, Any]) -> str:
        seen.append(row)
        return ""

    bare = plot_digits(df, caption=caption)
    assert [r["label"] for r in seen] == labels.tolist()
    assert set(seen[0]) == {"label", "model_classification"}
    labelled = plot_digits(df, prediction=None)
    mistakes = plot_digits(df, prediction="model_classification")
    assert plot_digits(df).tobytes() == mistakes.tobytes()  # the prediction column is found by default
    # A caption adds a text line under each digit; empty captions add none.
    assert bare.height < labelled.height
    # Same digits, so the extra ink is the longer caption: "true 7 / pred 2" against "7".
    assert (np.asarray(mistakes) < 128).sum() > (np.asarray(labelled) < 128).sum()
    below = np.asarray(labelled)[4 + 28 * 3 + 2 :, : labelled.width // 4]
    assert (below < 128).any(), "no caption ink under the first digit"


def test_empty_frame_gives_a_small_notice_image() -> None:
    df, _, _ = _frame(3)
    picture = plot_digits(df.where(daft.col("label") > 100))
    assert picture.mode == "L"
    assert (np.asarray(picture) < 128).any()


def test_grid_errors_name_what_was_expected() -> None:
    df, _, _ = _frame(2)
    with pytest.raises(ValueError, match=r"expected column\(s\) \['pixels'\]"):
        plot_digits(df, image="pixels")
    with pytest.raises(ValueError, match="expected column"):
        plot_digits(df, prediction="model_classification")
    with pytest.raises(ValueError, match="limit: expected an integer >= 1, got 0"):
        plot_digits(df, limit=0)
    bad = daft.from_pydict({"image": [[0] * 783], "label": [1]})
    with pytest.raises(DataError, match="expected 784 pixels, got 783"):
        plot_digits(bad)


def _cell_color(picture: Image.Image, i: int, j: int, cell: int = 40) -> tuple[int, int, int]:
    # Layout of plot_confusion_matrix: cells start at (cell + 4, 2 * cell); sample a corner, away from the text.
    x = cell + 4 + j * cell + 2
    y = 2 * cell + i * cell + 2
    return tuple(picture.getpixel((x, y)))  # type: ignore[return-value]


def test_confusion_matrix_from_frame_matches_the_counts() -> None:
    labels = [0, 0, 0, 1, 1, 2, 9]
    preds = [0, 0, 5, 1, 7, 2, 9]
    df = daft.from_pydict({"label": labels, "model_classification": preds})
    counts = np.zeros((10, 10), dtype=int)
    for t, p in zip(labels, preds, strict=True):
        counts[t, p] += 1
    from_frame = plot_confusion_matrix(df)
    assert from_frame.tobytes() == plot_confusion_matrix(counts, title="accuracy 0.7143 on 7 rows").tobytes()
    assert from_frame.mode == "RGB"
    r, _, b = _cell_color(from_frame, 0, 0)
    assert (b, r < 255) == (255, True), "a hit is shaded blue"
    r, _, b = _cell_color(from_frame, 0, 5)
    assert (r, b < 255) == (255, True), "a mistake is shaded red"
    assert _cell_color(from_frame, 3, 3) == (255, 255, 255), "an empty cell stays white"


def test_confusion_matrix_ignores_null_predictions_and_rejects_bad_input() -> None:
    df = daft.from_pydict({"label": [1, 2], "model_classification": [1, None]})
    only_hit = np.zeros((10, 10), dtype=int)
    only_hit[1, 1] = 1
    assert plot_confusion_matrix(df, title="t").tobytes() == plot_confusion_matrix(only_hit, title="t").tobytes()
    with pytest.raises(ValueError, match="10x10 array"):
        plot_confusion_matrix(np.ones((3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        plot_confusion_matrix(-np.ones((10, 10)))
    with pytest.raises(
        DataError,
        match=r"confusion_matrix: column 'model_classification': 1 of 1 predictions are not digits 0-9 .*got 11",
    ):
        plot_confusion_matrix(daft.from_pydict({"label": [3], "model_classification": [11]}))
    with pytest.raises(ValueError, match="expected column"):
        plot_confusion_matrix(df, prediction="guess")


def test_the_plots_module_imports_without_pil() -> None:
    code = (
        "import sys, daft_mnist\n"
        "daft_mnist.plot_digits, daft_mnist.plot_confusion_matrix, daft_mnist.plot_prepared\n"
        "print(sorted(m for m in ('PIL', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert out.stdout.strip() == "[]"


def _pictures_frame() -> daft.DataFrame:
    page = np.full((40, 30, 3), 230, np.uint8)
    page[5:35, 12:18] = 20
    df = daft.from_pydict({"image": [page, page], "label": [1, 1], "model_classification": [1, 7]})
    return daft_mnist.add_image_2d(df.with_column("image", daft.col("image").cast(daft.DataType.image("RGB"))))


@pytest.mark.parametrize("plot", ["plot_digits", "plot_prepared"])
def test_both_grids_share_their_options_and_their_rule_for_caption_columns(plot: str) -> None:
    draw = getattr(daft_mnist, plot)
    df = _pictures_frame()
    without_label = df.exclude("label")
    # "auto" (the default) captions with the label when the frame has it, and without it otherwise.
    assert draw(without_label).tobytes() == draw(df, label=None).tobytes()
    assert draw(df).tobytes() != draw(df, label=None).tobytes()
    # A column named on purpose must exist.
    with pytest.raises(ValueError, match=r"expected column\(s\) \['label'\]"):
        draw(without_label, label="label")
    with pytest.raises(ValueError, match=r"expected column\(s\) \['guess'\]"):
        draw(df, prediction="guess")
    # One size option: the side of each square, in pixels.
    assert draw(df, size=56, columns=1).width < draw(df, size=112, columns=1).width
    for option, value, least in (("size", 27, 28), ("limit", 0, 1), ("columns", 0, 1)):
        with pytest.raises(ValueError, match=f"{option}: expected an integer >= {least}, got {value}"):
            draw(df, **{option: value})
    assert draw(df.where(daft.col("label") > 5)).size == draw(df.limit(0)).size  # the same empty notice
