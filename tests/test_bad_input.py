"""The bad-input matrix of docs/bad-input.md: every row names its test here.

Each case checks what the user sees: a :class:`daft_mnist.DataError` whose message names the
problem, the column and the row or file; never a silent null, a Rust panic trace or a hang.
"""

from __future__ import annotations

import gzip
import json
import logging
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import daft
import numpy as np
import pyarrow as pa
import pytest
from daft import col

from daft_mnist import DataError, checked_labels, checked_pixels, load_mnist
from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count
from daft_mnist.io import read_idx

GOOD = [7] * 784


def _lines(path: Path, lines: list[str], *, compress: bool | None = None) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    if compress if compress is not None else path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    return _lines(path, [json.dumps(r) for r in rows])


def _raises(run: Callable[[], object], *fragments: str) -> str:
    with pytest.raises(DataError) as info:
        run()
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    assert "panicked" not in msg
    return msg


# --- rows of a JSON-lines file ----------------------------------------------------------

ROW_CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "wrong_length": ({"image": [1] * 783, "label": 1}, ("'image'", "row 1", "expected 784 pixels, got 783")),
    "too_long": ({"image": [1] * 785, "label": 1}, ("'image'", "row 1", "expected 784 pixels, got 785")),
    "image_not_a_list": ({"image": 5, "label": 1}, ("'image'", "row 1", "not a list")),
    "image_is_a_string": ({"image": "0,0,0", "label": 1}, ("'image'", "row 1", "not a list")),
    "image_null": ({"image": None, "label": 1}, ("'image'", "row 1", "image is null")),
    "image_missing": ({"label": 1}, ("'image'", "row 1", "missing")),
    "pixel_negative": ({"image": [-1, *GOOD[1:]], "label": 1}, ("'image'", "row 1", "pixel value -1 ", "0-255")),
    "pixel_256": ({"image": [*GOOD[1:], 256], "label": 1}, ("'image'", "row 1", "pixel value 256 ", "0-255")),
    "pixel_float": ({"image": [0.5, *GOOD[1:]], "label": 1}, ("'image'", "row 1", "pixel value 0.5 ", "integer")),
    "pixel_string": ({"image": ["a", *GOOD[1:]], "label": 1}, ("'image'", "row 1", "not a number")),
    "pixel_null": ({"image": [None, *GOOD[1:]], "label": 1}, ("'image'", "row 1", "null")),
    "label_missing": ({"image": GOOD}, ("'label'", "row 1", "expected an integer label 0-9", "missing")),
    "label_string": ({"image": GOOD, "label": "seven"}, ("'label'", "row 1", "not a number")),
    "label_10": ({"image": GOOD, "label": 10}, ("'label'", "row 1", "expected an integer label 0-9, got 10")),
    "label_negative": ({"image": GOOD, "label": -1}, ("'label'", "row 1", "got -1")),
    "label_float": ({"image": GOOD, "label": 2.5}, ("'label'", "row 1", "got 2.5")),
}


@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_bad_json_row_raises_naming_column_and_row(tmp_path: Path, case: str) -> None:
    row, fragments = ROW_CASES[case]
    path = _rows(tmp_path / f"{case}.json", [{"image": GOOD, "label": 3}, row, {"image": GOOD, "label": 4}])
    df = load_mnist(path)
    msg = _raises(df.collect, *fragments, "on_error='null'")
    # ... and the line of the file: the row's reason again, after the file's name
    in_file = msg[msg.index(f"(in {path}: line 2: ") :]
    assert fragments[-1] in in_file


def test_bad_rows_deep_in_a_file_are_named_by_their_line(tmp_path: Path) -> None:
    """Batches cut the file into pieces; the error names the file line, not only the batch row."""
    rows: list[dict[str, Any]] = [{"image": GOOD, "label": i % 10} for i in range(5000)]
    rows[4320] = {"image": [*GOOD[:-1], 999], "label": 1}
    rows[4999] = {"image": GOOD, "label": 42}
    path = _rows(tmp_path / "deep.json.gz", rows)
    _raises(lambda: load_mnist(path).select("image").collect(), f"(in {path}: line 4321: pixel value 999 ")
    _raises(
        lambda: load_mnist(path).select("label").collect(),
        f"(in {path}: line 5000: expected an integer label 0-9, got 42)",
    )


def test_bad_rows_with_on_error_null_keep_every_row_and_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"image": GOOD, "label": 3}] + [row for row, _ in ROW_CASES.values()] + [{"image": GOOD, "label": 4}]
    path = _rows(tmp_path / "mixed.json.gz", rows)
    reset_bad_row_count()
    with caplog.at_level(logging.WARNING, logger="daft_mnist"):
        out = load_mnist(path, on_error="null").to_pydict()
    assert len(out["image"]) == len(rows)  # nothing dropped
    image_bad = [k for k in ROW_CASES if k.startswith(("wrong", "too", "image", "pixel"))]
    label_bad = [k for k in ROW_CASES if k.startswith("label")]
    expect_image_null = [False] + [k in image_bad for k in ROW_CASES] + [False]
    expect_label_null = [False] + [k in label_bad for k in ROW_CASES] + [False]
    assert [v is None for v in out["image"]] == expect_image_null
    assert [v is None for v in out["label"]] == expect_label_null
    assert out["image"][0] == GOOD
    assert out["label"][0] == 3
    assert out["label"][-1] == 4
    assert bad_row_count("image") == len(image_bad)
    assert bad_row_count("label") == len(label_bad)
    assert bad_row_count() == len(image_bad) + len(label_bad)
    assert "set to null" in caplog.text


def test_nulls_are_countable_in_the_frame(tmp_path: Path) -> None:
    rows = [{"image": GOOD, "label": 1}, {"image": [300] * 784, "label": 2}, {"image": GOOD, "label": 42}]
    df = load_mnist(_rows(tmp_path / "x.json", rows), on_error="null")
    assert df.where(col("image").is_null() | col("label").is_null()).count_rows() == 2
    assert df.count_rows() == 3


# --- files ------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    _raises(lambda: load_mnist(tmp_path / "nope.json.gz"), "not found", "nope.json.gz")


def test_non_json_line_names_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"image": GOOD, "label": 1})
    path = _lines(tmp_path / "broken.json.gz", [good, good, "<html>rate limited</html>", good])
    _raises(lambda: load_mnist(path), "broken.json.gz", "line 3", "not valid JSON", "1 of 4 lines")


BRACED_BUT_BROKEN = {
    "empty_slot_at_the_end": ('{"image": [1, 2,}', "not valid JSON"),
    "missing_bracket": ('{"image": [1, 2, "label": 3}', "not valid JSON"),
    "two_objects_on_a_line": ('{"image": [1], "label": 1}{"image": [2], "label": 2}', "not valid JSON"),
    "bare_word": ('{"image": [1, 2], "label": seven}', "not valid JSON"),
    "boolean_pixel": ('{"image": [true, 0], "label": 1}', "a JSON boolean in 'image'"),
    "boolean_label": ('{"image": [0, 0], "label": false}', "a JSON boolean in 'label'"),
}


@pytest.mark.parametrize("case", sorted(BRACED_BUT_BROKEN))
def test_lines_that_look_like_objects_but_are_not_mnist_json(tmp_path: Path, case: str) -> None:
    """Lines starting with { and ending with } that Daft's reader would reject without a line
    number, or would silently read (a JSON true is read as 1.0): refused, naming the line."""
    line, why = BRACED_BUT_BROKEN[case]
    good = json.dumps({"image": GOOD, "label": 1})
    path = _lines(tmp_path / f"{case}.json.gz", [good, good, good, line, good])
    _raises(lambda: load_mnist(path), f"{case}.json.gz", "1 of 5 lines", f"line 4: {why}")


def test_boolean_values_with_on_error_null_are_null_not_one(tmp_path: Path) -> None:
    good = json.dumps({"image": GOOD, "label": 1})
    path = _lines(tmp_path / "bools.json", [good, '{"image": [true, 0], "label": true}', good])
    out = load_mnist(path, on_error="null").to_pydict()
    assert out["label"] == [1, None, 1]
    assert out["image"][1] is None


def test_bad_lines_are_numbered_across_scan_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan reads the file in pieces (8 MB; 10 kB here): line numbers run on across them."""
    from daft_mnist.data import _json as json_mod

    monkeypatch.setattr(json_mod, "_SCAN_CHUNK_BYTES", 10_000)
    good = json.dumps({"image": GOOD, "label": 1})
    lines = [good] * 300
    lines[6], lines[211] = "<html>", '{"image": [1, 2,}'
    path = _lines(tmp_path / "long.json.gz", lines)
    _raises(lambda: load_mnist(path), "2 of 300 lines", "line 7: not valid JSON", "line 212: not valid JSON")
    good_only = _lines(tmp_path / "long_good.json.gz", [good] * 300)
    assert load_mnist(good_only).count_rows() == 300


def test_json_array_line_is_not_an_object(tmp_path: Path) -> None:
    path = _lines(tmp_path / "arr.json", [json.dumps({"image": GOOD, "label": 1}), json.dumps([1, 2, 3])])
    _raises(lambda: load_mnist(path), "arr.json", "line 2", "a JSON list, expected an object")


def test_non_json_lines_with_on_error_null_are_kept_as_null_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = json.dumps({"image": GOOD, "label": 5})
    path = _lines(tmp_path / "broken.json", [good, "garbage", good, "[1, 2]", good])
    reset_bad_row_count()
    with caplog.at_level(logging.WARNING, logger="daft_mnist"):
        out = load_mnist(path, on_error="null").to_pydict()
    assert [v is None for v in out["image"]] == [False, True, False, True, False]
    assert out["label"] == [5, None, 5, None, 5]
    assert bad_row_count("image") == 2
    assert bad_row_count("label") == 2
    assert "2 of 5 lines are not JSON objects" in caplog.text


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(("".join(json.dumps({"image": GOOD, "label": 1}) + "\n" for _ in range(50))).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(data[: len(data) // 2])
    _raises(lambda: load_mnist(path), "cut.json.gz", "not a readable gzip file", "truncated")


def test_gz_name_but_not_gzip(tmp_path: Path) -> None:
    path = _lines(tmp_path / "plain.json.gz", [json.dumps({"image": GOOD, "label": 1})], compress=False)
    _raises(lambda: load_mnist(path), "plain.json.gz", "not gzip-compressed")


def test_gzip_without_gz_name(tmp_path: Path) -> None:
    path = _lines(tmp_path / "packed.json", [json.dumps({"image": GOOD, "label": 1})], compress=True)
    _raises(lambda: load_mnist(path), "packed.json", "gzip-compressed but not named .gz")


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.json", b""), ("blank.json", b"\n  \n\n"), ("empty.json.gz", gzip.compress(b""))],
)
def test_empty_file_gives_empty_frame_with_schema(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    empty = load_mnist(path)
    good = load_mnist(_rows(tmp_path / "one.json", [{"image": GOOD, "label": 1}]))
    assert empty.schema() == good.schema()
    assert empty.to_pydict() == {"image": [], "label": []}


# --- IDX files --------------------------------------------------------------------------


def _idx(path: Path, magic: int, dims: tuple[int, ...], body: bytes) -> Path:
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + body)
    return path


def _idx_pair(tmp_path: Path, n_images: int, labels: list[int]) -> Path:
    images = _idx(tmp_path / "t10k-images-idx3-ubyte", 0x803, (n_images, 28, 28), bytes(784 * n_images))
    _idx(tmp_path / "t10k-labels-idx1-ubyte", 0x801, (len(labels),), bytes(labels))
    return images


def test_idx_wrong_magic(tmp_path: Path) -> None:
    path = _idx(tmp_path / "x-idx3-ubyte", 0x2051, (1, 28, 28), bytes(784))
    _raises(lambda: read_idx(path), "wrong IDX magic number 0x00002051", "expected 0x00000801")


def test_idx_truncated_body(tmp_path: Path) -> None:
    path = _idx(tmp_path / "x-idx3-ubyte", 0x803, (2, 28, 28), bytes(784 + 100))
    _raises(lambda: read_idx(path), "IDX body has 884 bytes, expected 1568", "truncated")


def test_idx_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(struct.pack(">I", 0x803) + b"\x00\x00")
    _raises(lambda: read_idx(path), "truncated IDX header")


def test_idx_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(struct.pack(">II", 0x801, 1000) + bytes(1000))
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(data[:20])
    _raises(lambda: read_idx(path), "not a readable gzip file")


def test_idx_counts_disagree(tmp_path: Path) -> None:
    _idx_pair(tmp_path, 3, [1, 2])
    _raises(lambda: load_mnist(tmp_path), "counts disagree", "3 images", "2 labels")


def test_idx_label_out_of_range(tmp_path: Path) -> None:
    images = _idx_pair(tmp_path, 3, [1, 12, 2])
    _raises(lambda: load_mnist(images), "row 1", "expected a label 0-9, got 12", "on_error='null'")
    out = load_mnist(images, on_error="null").to_pydict()
    assert out["label"] == [1, None, 2]
    assert len(out["image"]) == 3


def test_idx_directory_without_files(tmp_path: Path) -> None:
    _raises(lambda: load_mnist(tmp_path, split="train"), "no train IDX files", "train-images-idx3-ubyte")


# --- the expression builders and the classifier, on frames not made by load_mnist --------


def test_checked_pixels_fixed_size_with_null_rows() -> None:
    flat = pa.array(np.tile(np.arange(784) % 256, 3).astype(np.uint8))
    arr = pa.FixedSizeListArray.from_arrays(flat, 784, mask=pa.array([False, True, False]))
    df = daft.from_arrow(pa.table({"image": arr}))
    # A null row stays null whatever on_error says, as in Daft's own functions.
    for on_error in ("raise", "null"):
        out = df.select(checked_pixels(col("image"), on_error=on_error)).to_pydict()["image"]  # type: ignore[arg-type]
        assert out[1] is None
        assert out[0] == out[2] == list(np.arange(784) % 256)


def test_pixel_column_of_strings_is_refused() -> None:
    df = daft.from_pydict({"pixels": [["1"] * 784]})
    _raises(lambda: df.select(checked_pixels(col("pixels"))).collect(), "'pixels'", "integer pixel values")


def test_label_column_of_strings_is_refused() -> None:
    df = daft.from_pydict({"y": ["1"]})
    _raises(lambda: df.select(checked_labels(col("y"))).collect(), "'y'", "expected integer labels 0-9")


def test_on_error_value_is_checked(tmp_path: Path) -> None:
    path = _rows(tmp_path / "x.json", [{"image": GOOD, "label": 1}])
    with pytest.raises(ValueError, match="on_error: expected one of 'raise', 'null', got 'skip' \\(str\\)"):
        load_mnist(path, on_error="skip")  # type: ignore[arg-type]


def test_classifier_on_malformed_images(random_weights: Path) -> None:
    from daft_mnist import Classifier

    images = [GOOD, [1] * 10, None, [999] * 784, GOOD]
    df = daft.from_pydict({"image": images})
    strict = Classifier(weights=str(random_weights), device="cpu")
    _raises(lambda: df.select(strict(col("image"))).collect(), "'image'")
    lenient = Classifier(weights=str(random_weights), device="cpu", on_error="null")
    reset_bad_row_count()
    out = df.select(lenient(col("image")).alias("p")).to_pydict()["p"]
    assert [p is None for p in out] == [False, True, True, True, False]
    assert out[0] == out[4]
    assert 0 <= out[0] <= 9
    assert bad_row_count("image") == 2  # the two malformed rows; the null input was already null


@pytest.mark.parametrize(
    "line", ['{"image": [1 2], "label": 1}', '{"image": [1,,2], "label": 1}', '{"image": [1.2.3], "label": 1}']
)
def test_strict_json_names_lines_the_fast_check_lets_through(tmp_path: Path, line: str) -> None:
    """Broken numbers or commas inside a well-shaped line: the fast check passes them on (Daft's
    reader rejects them, without a line number); strict_json=True names the line."""
    good = json.dumps({"image": GOOD, "label": 1})
    path = _lines(tmp_path / "subtle.json", [good, line, good])
    with pytest.raises(Exception, match="JSON") as info:
        load_mnist(path).collect()
    assert not isinstance(info.value, DataError), "the documented limit of the fast check moved: update the docs"
    _raises(lambda: load_mnist(path, strict_json=True), "subtle.json", "1 of 3 lines", "line 2: not valid JSON")
