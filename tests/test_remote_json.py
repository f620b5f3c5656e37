"""Remote JSON-lines: downloaded once into the cache and checked like a local file.

Runs against a real HTTP server on 127.0.0.1 (the ``server`` fixture), with the download
cache in ``tmp_path``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import Server, cached_files, random_images

from daft_mnist import DataError, load_mnist
from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count


def _lines(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    images, labels = random_images(n, seed)
    rows = [json.dumps({"image": i.tolist(), "label": int(lab)}) for i, lab in zip(images, labels, strict=True)]
    return rows, images, labels


def _gz(lines: list[str]) -> bytes:
    return gzip.compress("".join(line + "\n" for line in lines).encode())


def test_remote_file_is_downloaded_once_and_read_like_a_local_one(server: Server, cache: Path) -> None:
    lines, images, labels = _lines(30)
    server.files["/mnist.json.gz"] = _gz(lines)
    url = f"{server.base}/mnist.json.gz"
    for _ in range(3):
        data = load_mnist(url).to_pydict()
        np.testing.assert_array_equal(np.asarray(data["image"], dtype=np.uint8), images)
        assert data["label"] == labels.tolist()
    assert server.gets["/mnist.json.gz"] == 1, "the cached copy is reused while the remote size is unchanged"
    assert [p.name for p in cached_files(cache)] == ["mnist.json.gz"]


def test_a_changed_remote_file_is_downloaded_again(server: Server, cache: Path) -> None:
    url = f"{server.base}/mnist.json.gz"
    server.files["/mnist.json.gz"] = _gz(_lines(10)[0])
    assert load_mnist(url).count_rows() == 10
    server.files["/mnist.json.gz"] = _gz(_lines(25, seed=1)[0])
    assert load_mnist(url).count_rows() == 25
    assert server.gets["/mnist.json.gz"] == 2


def test_a_bad_line_in_a_remote_file_names_the_url_and_the_line(server: Server, cache: Path) -> None:
    lines, _, _ = _lines(5)
    lines.insert(3, "this is not json")
    server.files["/bad.json.gz"] = _gz(lines)
    url = f"{server.base}/bad.json.gz"
    with pytest.raises(
        DataError, match=r"/bad\.json\.gz: 1 of 6 lines are not JSON objects of numbers \(line 4: not valid JSON"
    ):
        load_mnist(url)


def test_on_error_null_keeps_every_remote_line(server: Server, cache: Path) -> None:
    lines, _, labels = _lines(5)
    lines.insert(1, "[1, 2, 3]")
    server.files["/bad.json.gz"] = _gz(lines)
    reset_bad_row_count()
    data = load_mnist(f"{server.base}/bad.json.gz", on_error="null").to_pydict()
    assert len(data["label"]) == 6
    assert data["label"][1] is None
    assert data["image"][1] is None
    assert [lab for i, lab in enumerate(data["label"]) if i != 1] == labels.tolist()
    assert bad_row_count() >= 1


def test_a_truncated_remote_gzip_is_a_data_error(server: Server, cache: Path) -> None:
    body = _gz(_lines(50)[0])
    server.files["/cut.json.gz"] = body[: len(body) // 2]
    with pytest.raises(DataError, match=r"/cut\.json\.gz: not a readable gzip file \(truncated or corrupt"):
        load_mnist(f"{server.base}/cut.json.gz")


def test_a_gzip_url_without_gz_in_its_name_is_read(server: Server, cache: Path) -> None:
    lines, _, labels = _lines(7)
    server.files["/download"] = _gz(lines)
    assert load_mnist(f"{server.base}/download").to_pydict()["label"] == labels.tolist()
    assert [p.name for p in cached_files(cache)] == ["download.gz"]


def test_an_empty_remote_file_gives_an_empty_frame(server: Server, cache: Path) -> None:
    server.files["/empty.json"] = b""
    df = load_mnist(f"{server.base}/empty.json")
    assert df.column_names == ["image", "label"]
    assert df.count_rows() == 0


def test_a_missing_remote_file_is_a_data_error(server: Server, cache: Path) -> None:
    with pytest.raises(DataError, match=r"MNIST source not found or not reachable: http://127\.0\.0\.1:\d+/nope"):
        load_mnist(f"{server.base}/nope.json.gz")
    assert cached_files(cache) == []


def test_an_incomplete_download_is_refused_and_not_cached(server: Server, cache: Path) -> None:
    server.files["/mnist.json.gz"] = _gz(_lines(200)[0])
    server.truncate.add("/mnist.json.gz")
    with pytest.raises(DataError, match="could not download"):
        load_mnist(f"{server.base}/mnist.json.gz")
    assert cached_files(cache) == []


def test_cache_false_streams_without_a_copy(server: Server, cache: Path) -> None:
    lines, _, labels = _lines(12)
    server.files["/mnist.json.gz"] = _gz(lines)
    assert load_mnist(f"{server.base}/mnist.json.gz", cache=False).to_pydict()["label"] == labels.tolist()
    assert cached_files(cache) == []


def test_the_cached_copy_is_used_with_a_warning_when_the_remote_cannot_be_checked(
    server: Server, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines, _, labels = _lines(9)
    server.files["/mnist.json.gz"] = _gz(lines)
    url = f"{server.base}/mnist.json.gz"
    assert load_mnist(url).count_rows() == 9
    del server.files["/mnist.json.gz"]  # the server no longer answers for it (offline, moved)
    with caplog.at_level("WARNING", logger="daft_mnist"):
        assert load_mnist(url).to_pydict()["label"] == labels.tolist()
    assert "could not check the remote file" in caplog.text
    assert "using the cached copy" in caplog.text
