"""Issue #11, the loaders: nothing wrong in silence, no hang, bounded memory, clear errors.

One test per kind (see docs/bad-input.md, "Loader faults"); remote kinds run against the
``server`` fixture on 127.0.0.1 with small time limits.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import struct
import time
from pathlib import Path

import daft
import pytest
from daft import col
from tests.conftest import Server, cached_files

from daft_mnist import DataError, add_image_2d, load_mnist, to_image
from daft_mnist.data._files import redact_url
from daft_mnist.data._image_files import load_images
from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count
from daft_mnist.io import read_idx

GOOD = [7] * 784


def _row(label: int, image: list[int] | None = None) -> str:
    return json.dumps({"image": image if image is not None else GOOD, "label": label})


def _write(path: Path, text: str) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["d[12].json", "d[12].json.gz", "d*.json", "d?.json", "d#1.json", "d{1,2}.json"])
def test_glob_characters_in_a_local_name_read_that_file(tmp_path: Path, name: str) -> None:
    for other, label in (("d1.json", 1), ("d2.json", 2), ("d1.json.gz", 1), ("d2.json.gz", 2)):
        _write(tmp_path / other, _row(label) + "\n")
    _write(tmp_path / name, _row(7) + "\n" + _row(8) + "\n")
    for source in (tmp_path / name, str(tmp_path / name)):
        assert load_mnist(source).to_pydict()["label"] == [7, 8]


def test_glob_characters_in_image_file_names_read_that_file(tmp_path: Path) -> None:
    from PIL import Image

    for name, shade in (("a1.png", 10), ("a2.png", 20), ("a[12].png", 200)):
        Image.new("L", (5, 4), shade).save(tmp_path / name)
    target = str(tmp_path / "a[12].png")
    for source in (target, [target]):
        out = load_images(source, labels=None).to_pydict()
        assert out["path"] == [target]
        assert out["image"][0].reshape(-1).tolist() == [200] * 20


def test_a_redirect_to_a_file_url_is_refused_and_nothing_is_cached(server: Server, cache: Path, tmp_path: Path) -> None:
    secret = _write(tmp_path / "local.json", _row(3) + "\n")
    server.redirects["/m.json"] = f"file://{secret}"
    with pytest.raises(DataError, match=r"redirects to 'file://.*only http\(s\) redirects are followed"):
        load_mnist(f"{server.base}/m.json", timeout=5)
    assert cached_files(cache) == []
    server.redirects["/m.json"] = f"{server.base}/real.json"  # http(s) redirects still work
    server.files["/real.json"] = (_row(4) + "\n").encode()
    assert load_mnist(f"{server.base}/m.json", timeout=5).to_pydict()["label"] == [4]


def test_an_empty_download_is_an_error_and_never_cached(server: Server, cache: Path) -> None:
    server.redirects["/e.json"] = "ftp://127.0.0.1/e.json"
    with pytest.raises(DataError, match="only http"):
        load_mnist(f"{server.base}/e.json", timeout=5)
    server.files["/empty.json"] = b""  # a file the server says is empty: an empty frame, nothing cached
    assert load_mnist(f"{server.base}/empty.json", timeout=5).count_rows() == 0
    assert cached_files(cache) == []


def test_a_remote_file_changed_at_the_same_size_is_downloaded_again(server: Server, cache: Path) -> None:
    url = f"{server.base}/same.json"
    server.files["/same.json"] = (_row(1) + "\n").encode()
    assert load_mnist(url).to_pydict()["label"] == [1]
    server.files["/same.json"] = (_row(2) + "\n").encode()  # same size, new content
    assert load_mnist(url).to_pydict()["label"] == [2]
    assert load_mnist(url).to_pydict()["label"] == [2]
    assert server.gets["/same.json"] == 2
    server.validators = False  # no ETag: never trusted by size alone
    server.files["/same.json"] = (_row(5) + "\n").encode()
    assert load_mnist(url).to_pydict()["label"] == [5]


def test_a_tampered_cached_copy_is_downloaded_again(server: Server, cache: Path) -> None:
    url = f"{server.base}/t.json"
    server.files["/t.json"] = (_row(1) + "\n").encode()
    load_mnist(url).collect()
    (copy,) = cached_files(cache)
    copy.write_bytes((_row(9) + "\n").encode())  # same size, other content: the SHA-256 differs
    assert load_mnist(url).to_pydict()["label"] == [1]
    assert server.gets["/t.json"] == 2


def test_each_bad_row_is_counted_once_per_pipeline(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.json", "\n".join([_row(1), _row(2, [300] * 784), _row(3, [1] * 5)]) + "\n")
    reset_bad_row_count()
    df = add_image_2d(load_mnist(path, on_error="null"), on_error="null")
    df = df.with_column("picture", to_image(col("image_2d"), on_error="null"))
    df = df.with_column("again", to_image(col("image"), on_error="null"))
    out = df.to_pydict()
    assert [p is None for p in out["picture"]] == [False, True, True]
    assert bad_row_count("image") == 2
    assert bad_row_count("image_2d") == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json.gz"
    zero.symlink_to("/dev/zero")
    expected = r"pipe\.json: not a regular file \(a FIFO \(named pipe\)\); expected a regular file"
    with pytest.raises(DataError, match=expected):
        load_mnist(fifo)
    with pytest.raises(DataError, match=r"not a regular file \(a character device\) \(it resolves to /dev/zero\)"):
        load_mnist(zero)
    idx = tmp_path / "t10k-images-idx3-ubyte"
    idx.symlink_to("/dev/zero")
    with pytest.raises(DataError, match="character device"):
        read_idx(idx)
    with pytest.raises(DataError):
        load_images([str(fifo)])


def test_a_gzip_bomb_line_stops_at_the_line_cap(tmp_path: Path) -> None:
    from daft_mnist.data import _stream

    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b'{"image": [' + b"1," * (_stream.MAX_LINE_BYTES // 2 + 10) + b'1], "label": 1}\n'))
    start = time.monotonic()
    with pytest.raises(DataError, match=r"line 1 is longer than 1024 KiB \(MAX_LINE_BYTES"):
        load_mnist(bomb)
    assert time.monotonic() - start < 5


def test_the_inflated_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from daft_mnist.data import _stream

    monkeypatch.setattr(_stream, "MAX_INFLATED_BYTES", 10_000)
    monkeypatch.setattr(_stream.GzipStream.__init__, "__defaults__", (10_000,))
    path = _write(tmp_path / "big.json.gz", "\n".join(_row(i % 10) for i in range(20)) + "\n")
    with pytest.raises(DataError, match=r"decompresses to more than .*MAX_INFLATED_BYTES"):
        load_mnist(path)


def test_remote_reads_have_one_time_limit(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server.files["/slow.json"] = (_row(1) + "\n").encode()
    server.delay_s = 5  # half the body, then a long pause
    start = time.monotonic()
    with pytest.raises(DataError, match=r"timed out.*gave up after \d+\.\d s \(time limit 1 s"):
        load_mnist(f"{server.base}/slow.json", timeout=1)
    assert time.monotonic() - start < 3
    server.delay_s = 0
    server.status["/broken.json"] = 500
    monkeypatch.setenv("DAFT_MNIST_TIMEOUT", "1.5")
    start = time.monotonic()
    with pytest.raises(DataError, match=r"HTTP Error 500.*gave up after"):
        load_mnist(f"{server.base}/broken.json")
    assert time.monotonic() - start < 3
    server.status["/gone.json"] = 403  # will not heal: one try
    with pytest.raises(DataError, match="HTTP Error 403"):
        load_mnist(f"{server.base}/gone.json")
    assert server.gets.get("/gone.json") == 1
    with pytest.raises(ValueError, match="timeout: expected a finite number > 0 or None, got 0"):
        load_mnist(f"{server.base}/x.json", timeout=0)


CLEAR_ERRORS = {
    "nan": (_row(1).replace("[7,", "[NaN,"), "NaN is not a JSON number"),
    "infinity": (_row(1).replace('"label": 1', '"label": Infinity'), "Infinity is not a JSON number"),
    "huge_int": (_row(1).replace("[7,", "[" + "9" * 30 + ","), "too many digits"),
    "huge_float": (_row(1).replace("[7,", "[1e999,"), "too large for a 64-bit float"),
    "deep": ('{"image": ' + "[" * 5000 + "]" * 5000 + ', "label": 1}', "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(CLEAR_ERRORS))
def test_numbers_and_nesting_daft_refuses_are_named(tmp_path: Path, case: str) -> None:
    line, fragment = CLEAR_ERRORS[case]
    path = _write(tmp_path / "x.json", _row(0) + "\n" + line + "\n")
    with pytest.raises(DataError, match=r"line 2: .*" + fragment):
        load_mnist(path)
    assert load_mnist(path, on_error="null").to_pydict()["label"] == [0, None]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (_row(1) + "\n\n" + _row(2) + "\n", r"1 blank line\(s\) among the rows \(line 2\)"),
        (_row(1) + "\n" + _row(2) + "\n\n  \n", r"2 blank line\(s\) among the rows \(line 3, 4\)"),
    ],
)
def test_blank_lines_among_rows_are_refused(tmp_path: Path, content: str, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        load_mnist(_write(tmp_path / "b.json.gz", content))


def test_encodings_and_gzip_padding_and_names(tmp_path: Path) -> None:
    text = _row(1) + "\n"
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    with pytest.raises(DataError, match="byte-order mark"):
        load_mnist(tmp_path / "bom.json")
    (tmp_path / "u16.json").write_bytes(text.encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16"):
        load_mnist(tmp_path / "u16.json")
    (tmp_path / "pad.json.gz").write_bytes(gzip.compress(text.encode()) + b"\0" * 16)
    with pytest.raises(DataError, match=r"zero bytes \(padding\) after the end of the gzip stream"):
        load_mnist(tmp_path / "pad.json.gz")
    (tmp_path / "UP.JSON.GZ").write_bytes(gzip.compress(text.encode()))
    with pytest.raises(DataError, match=r"rename it to UP\.JSON\.gz"):
        load_mnist(tmp_path / "UP.JSON.GZ")
    with pytest.raises(DataError, match="got bytes"):
        load_mnist(os.fsencode(tmp_path / "bom.json"))  # type: ignore[arg-type]
    folder = tmp_path / "train-images-idx3-ubyte"
    folder.mkdir()
    with pytest.raises(DataError, match="a folder named like an IDX file"):
        load_mnist(folder, split="train")


def test_idx_header_sizes_that_overflow(tmp_path: Path) -> None:
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(struct.pack(">HBB3I", 0, 8, 3, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
    with pytest.raises(DataError, match="more than MNIST can be"):
        read_idx(path)


def test_a_cache_dir_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    monkeypatch.setenv("DAFT_MNIST_CACHE_DIR", str(blocker))
    with pytest.raises(DataError, match=r"download cache .* not a directory"):
        load_mnist("http://127.0.0.1:9/x.json", timeout=1)


def test_credentials_never_appear_in_messages_or_logs(
    server: Server, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert redact_url("https://u:pw@h/x?token=abc&n=1") == "https://***@h/x?token=***&n=1"
    url = server.base.replace("http://", "http://user:hunter2@") + "/nope.json?token=s3cret&X-Amz-Signature=zz"
    with caplog.at_level(logging.DEBUG, logger="daft_mnist"), pytest.raises(DataError) as info:
        load_mnist(url, timeout=2)
    for secret in ("hunter2", "s3cret", "zz"):
        assert secret not in str(info.value)
        assert secret not in caplog.text
    assert daft.__name__  # (daft imported for the fixtures' frames)


def test_glob_characters_in_a_local_parquet_name_read_that_file(tmp_path: Path) -> None:
    for name, label in (("p1.parquet", 1), ("p2.parquet", 2), ("p[12].parquet", 7)):
        daft.from_pydict({"image": [GOOD], "label": [label]}).write_parquet(str(tmp_path / name.replace("[", "_")))
    written = sorted((tmp_path / "p_12].parquet").glob("*.parquet"))[0]
    written.rename(tmp_path / "x[12].parquet")
    for name in ("p1.parquet", "p2.parquet"):
        part = sorted((tmp_path / name).glob("*.parquet"))[0]
        part.rename(tmp_path / name.replace("p", "x", 1))
    assert load_mnist(tmp_path / "x[12].parquet").to_pydict()["label"] == [7]
