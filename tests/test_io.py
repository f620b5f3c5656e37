"""Loaders on tiny files written in tmp_path (JSON, IDX, Parquet) and the data-directory switch."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import daft
import numpy as np
import pytest

from daft_mnist import DataError, load_mnist
from daft_mnist.io import DATA_DIR_ENV, FILENAMES, TEST_URL, TRAIN_URL, default_source, read_idx


def as_arrays(df: daft.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    t = df.to_arrow()
    images = t.column("image").combine_chunks().flatten().to_numpy().reshape(-1, 784)
    return images, t.column("label").to_numpy()


def test_schema_is_fixed_size_uint8_and_int64(tiny_json) -> None:  # type: ignore[no-untyped-def]
    path, _, _ = tiny_json()
    schema = load_mnist(path).schema()
    assert str(schema["image"].dtype) == "List[UInt8; 784]"
    assert schema["label"].dtype == daft.DataType.int64()


@pytest.mark.parametrize("name", ["tiny.json.gz", "tiny.jsonl", "tiny.json"])
def test_json_round_trip(tiny_json, name: str) -> None:  # type: ignore[no-untyped-def]
    path, images, labels = tiny_json(n=12, name=name)
    got_images, got_labels = as_arrays(load_mnist(path))
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_and_directory(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    sfx = ".gz" if compress else ""
    img_path = write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", images, compress=compress)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", labels, compress=compress)
    for source in (img_path, tmp_path):
        got_images, got_labels = as_arrays(load_mnist(source, split="test"))
        np.testing.assert_array_equal(got_images, images.reshape(5, 784))
        np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(read_idx(img_path), images)


def test_parquet_written_by_library_round_trips(tiny_json, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, images, labels = tiny_json(n=9)
    load_mnist(path).write_parquet(str(tmp_path / "pq"))
    got_images, got_labels = as_arrays(load_mnist(next((tmp_path / "pq").glob("*.parquet"))))
    order = np.argsort(got_labels, kind="stable")
    np.testing.assert_array_equal(got_images[order], images[np.argsort(labels, kind="stable")])


def test_default_source_uses_data_dir_when_it_holds_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_source("test") == TEST_URL  # directory set but empty: the public URL
    (tmp_path / FILENAMES["train"]).write_bytes(b"")
    assert default_source("train") == str(tmp_path / FILENAMES["train"])
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here, nor from the project (patched away)
    monkeypatch.setattr("daft_mnist.io._project_root", lambda: None)
    assert default_source("train") == TRAIN_URL


def test_bad_split_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split: expected one of 'test', 'train', got 'val' \\(str\\)"):
        load_mnist(split="val")  # type: ignore[arg-type]
    odd = tmp_path / "digits.txt"
    odd.write_text("x")
    with pytest.raises(DataError, match="cannot tell the format"):
        load_mnist(odd)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="MNIST source not found"):
        load_mnist(tmp_path / "nope.json.gz")
