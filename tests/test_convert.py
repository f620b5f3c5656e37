"""convert: the checked data written once as Parquet; load_mnist reads it back without a pixel check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daft_mnist import DataError, load_mnist
from daft_mnist.cli import main
from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count
from daft_mnist.io import ConvertResult, convert

GOOD = [7] * 784


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_test_set_round_trips_row_for_row(test_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "test.parquet"
    result = convert(test_json, out)
    assert result == ConvertResult(out, 10_000, 0, 0)
    schema = pq.read_schema(out)
    assert schema.field("image").type == pa.list_(pa.uint8(), 784)
    assert schema.field("label").type == pa.int64()
    assert [f.name for f in schema] == ["image", "label"]
    assert load_mnist(out).to_arrow().equals(load_mnist(test_json).to_arrow())
    assert [p.name for p in tmp_path.iterdir()] == ["test.parquet"]  # no temporary file left


def test_reading_the_converted_file_runs_no_pixel_check(tiny_json: Any, tmp_path: Path, check_calls: list[int]) -> None:
    source, images, labels = tiny_json(n=12)
    out = tmp_path / "tiny.parquet"
    convert(source, out)
    assert sum(check_calls) == 12  # checked once, while converting
    check_calls.clear()
    got = load_mnist(out).to_pydict()
    assert check_calls == []  # the FixedSizeList[UInt8; 784] type proves the pixels valid
    np.testing.assert_array_equal(np.array(got["image"], dtype=np.uint8), images)
    assert got["label"] == labels.tolist()
    # A Parquet file of plain lists is still checked.
    pq.write_table(pa.table({"image": [GOOD], "label": [1]}), tmp_path / "lists.parquet")
    assert load_mnist(tmp_path / "lists.parquet").to_pydict()["label"] == [1]
    assert check_calls == [1]


def test_a_local_folder_or_glob_of_parquet_files_is_read_as_one_frame(tiny_json: Any, tmp_path: Path) -> None:
    """docs/ray.md's ``load_mnist(".../*.parquet")`` works on local paths too (it used to be "not found",
    and a folder of Parquet was read as IDX)."""
    _, images, labels = tiny_json(n=12)
    folder = tmp_path / "shards"
    folder.mkdir()
    for i in range(3):
        pq.write_table(
            pa.table({"image": [r.tolist() for r in images[4 * i : 4 * i + 4]], "label": labels[4 * i : 4 * i + 4]}),
            folder / f"part-{i}.parquet",
        )
    (folder / "README.txt").write_text("not data")
    for src in (folder, folder / "*.parquet", f"{folder}/part-[0-2].parquet"):
        got = load_mnist(src).to_pydict()
        assert sorted(got["label"]) == sorted(labels.tolist()), src
        assert len(got["image"]) == 12
    with pytest.raises(DataError, match=r"MNIST source not found: .*glob of Parquet files"):
        load_mnist(folder / "nothing-*.parquet")
    (folder / "part-1.parquet").unlink()
    pq.write_table(pa.table({"image": [[1, 2]], "label": [3]}), folder / "part-1.parquet")
    with pytest.raises(DataError, match="expected 784 pixels, got 2"):
        load_mnist(folder).collect()


def test_labels_of_a_converted_type_are_still_checked(tmp_path: Path) -> None:
    image = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(784, dtype=np.uint8)), 784)
    pq.write_table(pa.table({"image": image, "label": pa.array([12], pa.int64())}), tmp_path / "x.parquet")
    with pytest.raises(DataError, match="labels are invalid"):
        load_mnist(tmp_path / "x.parquet").collect()


def test_bad_rows_with_on_error_null_are_written_as_nulls_and_counted(tmp_path: Path) -> None:
    rows = [
        {"image": GOOD, "label": 1},
        {"image": [300] * 784, "label": 2},
        {"image": [1] * 783, "label": 3},
        {"image": GOOD, "label": 11},
    ]
    source = _jsonl(tmp_path / "bad.jsonl", rows)
    out = tmp_path / "bad.parquet"
    with pytest.raises(DataError, match="pixel value 300"):
        convert(source, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.jsonl"]
    reset_bad_row_count()
    result = convert(source, out, on_error="null")
    assert (result.num_rows, result.null_images, result.null_labels) == (4, 2, 1)
    assert bad_row_count("image") == 2
    assert bad_row_count("label") == 1
    reset_bad_row_count()
    got = load_mnist(out).to_pydict()  # on_error="raise": the nulls written on purpose stay nulls
    assert [i is None for i in got["image"]] == [False, True, True, False]
    assert got["label"] == [1, 2, 3, None]
    assert bad_row_count() == 0  # not counted again


def test_empty_source_gives_an_empty_file_with_the_schema(tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("")
    result = convert(source, tmp_path / "empty.parquet")
    assert result.num_rows == 0
    df = load_mnist(tmp_path / "empty.parquet")
    assert df.schema() == load_mnist(source).schema()
    assert df.count_rows() == 0


def test_refuses_existing_outputs_inputs_and_bad_paths(tiny_json: Any, tmp_path: Path) -> None:
    source, _, _ = tiny_json(n=3)
    out = tmp_path / "a.parquet"
    convert(source, out)
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        convert(source, out)
    convert(source, out, overwrite=True)
    assert out.read_bytes() == before
    with pytest.raises(DataError, match="refusing to write over it"):
        convert(out, out, overwrite=True)
    link = tmp_path / "link.parquet"
    link.symlink_to(out)
    with pytest.raises(DataError, match="refusing to write over it"):
        convert(out, link, overwrite=True)
    with pytest.raises(ValueError, match=r"\.parquet or \.pq"):
        convert(source, tmp_path / "a.csv")
    with pytest.raises(ValueError, match="local file path"):
        convert(source, "s3://bucket/a.parquet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert(source, tmp_path / "nope" / "a.parquet")
    with pytest.raises(ValueError, match="on_error"):
        convert(source, tmp_path / "b.parquet", on_error="skip")  # type: ignore[arg-type]
    assert out.read_bytes() == before


def test_never_writes_over_an_idx_labels_file(tmp_path: Path) -> None:
    import gzip
    import struct

    def idx(path: Path, array: np.ndarray) -> Path:
        header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
        return path

    images = idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    labels = idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([4, 5], np.uint8))
    link = tmp_path / "labels.parquet"
    link.symlink_to(labels)
    with pytest.raises(DataError, match="refusing to write over it"):
        convert(images, link, overwrite=True)
    with pytest.raises(DataError, match="refusing to write over it"):
        convert(tmp_path, link, overwrite=True)
    assert convert(tmp_path, tmp_path / "idx.parquet").num_rows == 2
    assert load_mnist(tmp_path / "idx.parquet").to_pydict()["label"] == [4, 5]


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert lines[0].startswith("daft-mnist: error: ")
    return lines[0]


def test_cli_convert(tiny_json: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, images, _ = tiny_json(n=5)
    out = tmp_path / "t.parquet"
    assert main(["convert", str(source), str(out)]) == 0
    assert capsys.readouterr().out == f"wrote 5 rows to {out}\n"
    np.testing.assert_array_equal(np.array(load_mnist(out).to_pydict()["image"], dtype=np.uint8), images)
    assert main(["convert", str(source), str(out)]) == 2
    assert "already exists; pass --overwrite" in _one_error_line(capsys.readouterr().err)
    assert main(["convert", str(out), str(out), "--overwrite"]) == 2
    assert "is an input of this command" in _one_error_line(capsys.readouterr().err)
    assert main(["convert", str(source), str(tmp_path / "t.csv")]) == 2
    assert ".parquet, .pq" in _one_error_line(capsys.readouterr().err)
    assert main(["convert", str(source), str(out), "--on-error", "skip"]) == 2
    _one_error_line(capsys.readouterr().err)
    assert main(["convert", str(tmp_path / "missing.json"), str(tmp_path / "m.parquet")]) == 1
    assert "does not exist" in _one_error_line(capsys.readouterr().err)


def test_cli_convert_reports_the_nulls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _jsonl(tmp_path / "bad.jsonl", [{"image": GOOD, "label": 1}, {"image": [-1] * 784, "label": 2}])
    out = tmp_path / "bad.parquet"
    assert main(["convert", str(source), str(out)]) == 1
    assert "pixel value -1" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()
    assert main(["convert", str(source), str(out), "--on-error", "null"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"wrote 2 rows to {out}", "bad rows written as nulls: 1 images, 0 labels"]


def test_cli_checks_the_output_before_reading_the_source(
    tiny_json: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _, _ = tiny_json(n=2)
    (tmp_path / "there.parquet").write_bytes(b"keep")

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the source was read before the options were checked")

    monkeypatch.setattr("daft_mnist.io.load_mnist", no_work)
    for out in (tmp_path / "nope" / "a.parquet", tmp_path / "there.parquet", tmp_path):
        assert main(["convert", str(source), str(out)]) == 2
        _one_error_line(capsys.readouterr().err)
    assert (tmp_path / "there.parquet").read_bytes() == b"keep"
