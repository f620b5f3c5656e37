"""Phone photos: the decoder (working size, EXIF orientation, every pixel mode, bad files) and
``load_images`` on folders of them (bad files kept as reasons, a bounded number of pictures in flight).

Small generated files in ``tmp_path``; the real-digits folder (``$DAFT_MNIST_DATA_DIR/real-digits``)
for the orientation and accuracy checks.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import daft
import numpy as np
import pytest
from daft import DataType, col
from PIL import Image

import daft_mnist
from daft_mnist.data import _decode
from daft_mnist.data._decode import WORK_SIDE, DecodeError, decode_file, decoded_count, working_size
from daft_mnist.errors import DataError
from daft_mnist.io import load_images

from .conftest import data_dir

REAL_DIGITS = data_dir() / "real-digits"

# The stored picture for each EXIF orientation: what a camera writes so that a viewer applying the
# tag shows ``upright`` (the inverse of the tag's transform).
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def asymmetric(w: int = 60, h: int = 40) -> Image.Image:
    """A picture with no symmetry: any flip or turn changes it."""
    a = np.full((h, w, 3), 230, np.uint8)
    a[5:15, 5:30] = (20, 20, 20)
    a[20:35, 40:45] = (200, 10, 10)
    a[30:38, 2:6] = (10, 10, 200)
    return Image.fromarray(a)


def with_orientation(upright: Image.Image, tag: int) -> tuple[Image.Image, Image.Exif]:
    method = STORED[tag]
    stored = upright if method is None else upright.transpose(method)
    exif = Image.Exif()
    exif[0x0112] = tag
    return stored, exif


def png_bytes(im: Image.Image, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", **kwargs)
    return out.getvalue()


# ---------------------------------------------------------------------------- the decoder


def test_working_size_is_the_preparations() -> None:
    from daft_mnist.vision._image_ops import WORK_MAX

    assert WORK_SIDE == WORK_MAX, "the decoder decodes at the preparation's working size"
    assert working_size(4032, 3024) == (252, 189)
    assert working_size(3000, 4000) == (188, 250)
    assert working_size(200, 100) == (200, 100)
    assert working_size(257, 10) == (129, 5)


@pytest.mark.parametrize("tag", range(1, 9))
def test_every_exif_orientation_comes_out_upright(tag: int) -> None:
    upright = asymmetric()
    stored, exif = with_orientation(upright, tag)
    got = decode_file(png_bytes(stored, exif=exif))
    assert got.orientation == tag
    np.testing.assert_array_equal(got.pixels, np.asarray(upright))


@pytest.mark.parametrize("tag", [3, 6, 8])
def test_a_sideways_jpeg_photo_is_decoded_small_and_upright(tag: int) -> None:
    upright = asymmetric(60, 40).resize((1200, 800), Image.Resampling.NEAREST)
    stored, exif = with_orientation(upright, tag)
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=95, exif=exif)
    got = decode_file(out.getvalue())
    want = np.asarray(upright.convert("L").resize(working_size(1200, 800), Image.Resampling.BOX), dtype=np.float32)
    assert got.pixels.shape == (*want.shape[:2], 1) == (160, 240, 1)  # a JPEG's luminance: the preparation's grey
    assert np.abs(got.pixels[..., 0].astype(np.float32) - want).mean() < 6


def gray16() -> np.ndarray:
    return (np.arange(30 * 40, dtype=np.uint32).reshape(30, 40) * 54).astype(np.uint16)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_greys_are_scaled_to_8_bits(fmt: str) -> None:
    a = gray16()
    out = io.BytesIO()
    Image.fromarray(a).save(out, fmt)
    got = decode_file(out.getvalue()).pixels
    assert got.shape == (30, 40, 1)
    np.testing.assert_array_equal(got[..., 0], np.round(a / 65535 * 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("mode", "fmt", "channels"),
    [("LA", "PNG", 4), ("PA", "TIFF", 4), ("P", "PNG", 3), ("CMYK", "TIFF", 3), ("1", "PNG", 1), ("1", "TIFF", 1),
     ("I", "TIFF", 1), ("F", "TIFF", 1), ("YCbCr", "TIFF", 3)],
)  # fmt: skip
def test_every_pixel_mode_becomes_l_rgb_or_rgba(mode: str, fmt: str, channels: int) -> None:
    base = asymmetric().convert("RGBA")
    im = Image.new("PA", base.size) if mode == "PA" else asymmetric().quantize(8) if mode == "P" else base.convert(mode)
    out = io.BytesIO()
    im.save(out, fmt)
    got = decode_file(out.getvalue()).pixels
    assert got.dtype == np.uint8
    assert got.shape == (40, 60, channels)
    if mode in ("P", "CMYK", "YCbCr"):
        assert np.abs(got.astype(int) - np.asarray(asymmetric()).astype(int)).max() <= 40
    if mode == "1":
        assert set(np.unique(got)) <= {0, 255}


def test_grey_with_alpha_keeps_its_transparency() -> None:
    a = np.zeros((20, 30, 2), np.uint8)
    a[..., 0] = 40
    a[5:15, 10:20, 1] = 255  # opaque dark ink, transparent elsewhere
    got = decode_file(png_bytes(Image.fromarray(a, "LA"))).pixels
    assert got.shape == (20, 30, 4)
    assert (got[..., 3] == a[..., 1]).all()
    assert (got[5:15, 10:20, :3] == 40).all()


def jpeg(tmp_path: Path, name: str = "photo.jpg", size: tuple[int, int] = (900, 600)) -> Path:
    path = tmp_path / name
    asymmetric().resize(size).save(path, quality=90)
    return path


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_a_truncated_file_is_an_error_never_half_a_picture(tmp_path: Path, keep: float) -> None:
    data = jpeg(tmp_path).read_bytes()
    with pytest.raises(DecodeError, match="truncated file"):
        decode_file(data[: int(len(data) * keep)])
    png = png_bytes(asymmetric())
    with pytest.raises(DecodeError, match="truncated file"):
        decode_file(png[: len(png) - 30])


def test_a_corrupt_or_foreign_file_is_an_error(tmp_path: Path) -> None:
    data = bytearray(jpeg(tmp_path).read_bytes())
    data[len(data) // 3 : len(data) // 3 + 500] = b"\xff" * 500
    with pytest.raises(DecodeError, match="corrupt image file"):
        decode_file(bytes(data))
    with pytest.raises(DecodeError, match="not an image file Pillow can read"):
        decode_file(b"hello, not a picture")
    with pytest.raises(DecodeError, match="empty file"):
        decode_file(b"")
    with pytest.raises(DecodeError, match="file not found"):
        decode_file(tmp_path / "nothing.png")


def test_a_picture_too_large_to_decode_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = jpeg(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DecodeError, match=r"too large to decode: 0\.5 MP is over the limit .*MAX_IMAGE_PIXELS"):
        decode_file(path)


def test_truncated_images_are_never_loaded_by_pillow() -> None:
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# ---------------------------------------------------------------------------- load_images


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Good files of every kind beside bad ones, in <label>/ folders."""
    root = tmp_path / "mixed"
    for d in ("1", "7"):
        (root / d).mkdir(parents=True)
    jpeg(root / "1", "photo.jpg", (1600, 1200))
    Image.fromarray(gray16()).save(root / "1" / "deep.png")
    Image.fromarray(np.asarray(asymmetric())).convert("LA").save(root / "7" / "la.png")
    Image.fromarray(np.asarray(asymmetric())).convert("CMYK").save(root / "7" / "cmyk.tif")
    Image.fromarray(np.asarray(asymmetric())).save(root / "7" / "small.png")
    good = (root / "1" / "photo.jpg").read_bytes()
    (root / "1" / "cut.jpg").write_bytes(good[: len(good) // 2])
    (root / "7" / "text.png").write_text("not a picture")
    (root / "7" / "empty.png").write_bytes(b"")
    return root


def test_a_folder_mixing_good_and_bad_files_keeps_every_good_row(mixed: Path) -> None:
    df = load_images(mixed, on_error="null")
    assert df.column_names == ["path", "image", "label", "load_error"]
    rows = df.to_pydict()
    by_name = {Path(p).name: i for i, p in enumerate(rows["path"])}
    good = ["photo.jpg", "deep.png", "la.png", "cmyk.tif", "small.png"]
    for name in good:
        i = by_name[name]
        assert rows["image"][i] is not None, name
        assert rows["load_error"][i] is None
    assert rows["image"][by_name["photo.jpg"]].shape == (172, 229, 1)  # 1600x1200 / 7, luminance
    assert rows["image"][by_name["deep.png"]].shape == (30, 40, 1)
    assert rows["image"][by_name["la.png"]].shape == (40, 60, 4)
    reasons = {name: rows["load_error"][by_name[name]] for name in ("cut.jpg", "text.png", "empty.png")}
    assert reasons["cut.jpg"].startswith("truncated file")
    assert reasons["text.png"].startswith("not an image file Pillow can read")
    assert reasons["empty.png"] == "empty file (0 bytes)"
    for name in reasons:
        assert rows["image"][by_name[name]] is None
    # ... and they classify: every good row gets a prediction, the bad ones a null.
    out = daft_mnist.classify(df, image="image", on_error="null").to_pydict()
    assert [out["model_classification"][by_name[n]] is None for n in reasons] == [True] * 3


def test_a_bad_file_under_raise_names_the_file_and_why(mixed: Path) -> None:
    with pytest.raises(DataError, match=r"3 of 8 files are not readable images \(.*cut\.jpg: truncated file"):
        load_images(mixed).collect()


def test_load_images_checks_its_options(mixed: Path) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        load_images(mixed, batch_size=0)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        load_images(mixed, timeout=-1)


def test_a_remote_file_that_does_not_answer_is_a_reason_within_the_time_limit() -> None:
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    port = silent.getsockname()[1]
    try:
        start = time.monotonic()
        df = load_images([f"http://127.0.0.1:{port}/a.png"], labels=None, on_error="null", timeout=2)
        rows = df.to_pydict()
        took = time.monotonic() - start
    finally:
        silent.close()
    assert rows["image"] == [None]
    assert rows["load_error"][0].startswith("not downloaded: timed out")
    assert "time limit 2 s" in rows["load_error"][0]
    assert took < 15, f"took {took:.1f} s with a 2 s time limit"


# ---------------------------------------------------------------------------- bounded memory


def test_a_many_file_run_holds_a_bounded_number_of_decoded_pictures(tmp_path: Path) -> None:
    """Pictures in flight = decoded so far - consumed downstream so far, sampled at every batch."""
    folder = tmp_path / "many"
    folder.mkdir()
    first = folder / "f00000.png"
    Image.fromarray(np.asarray(asymmetric())).save(first)
    n = 1500
    for i in range(1, n):
        (folder / f"f{i:05d}.png").hardlink_to(first)
    consumed = [0]  # plain lists: Daft checks that the function pickles (a lock would not)
    peak = [0]
    start = decoded_count()

    @daft.func.batch(return_dtype=DataType.int64(), use_process=False)
    def consume(images: daft.Series) -> Any:
        peak[0] = max(peak[0], decoded_count() - start - consumed[0])
        consumed[0] += len(images)
        return daft.Series.from_pylist([0] * len(images), dtype=DataType.int64())

    batch = 16
    df = load_images(folder, labels=None, batch_size=batch).select(consume(col("image")).alias("x"))
    assert sum(df.to_pydict()["x"]) == 0
    assert consumed[0] == n
    assert decoded_count() - start == n
    print(f"{n} files: at most {peak[0]} decoded pictures in flight")
    assert peak[0] <= 16 * batch, f"{peak[0]} pictures held at once with batch_size={batch}"


def test_decoded_count_counts_only_whole_pictures(tmp_path: Path) -> None:
    before = _decode.decoded_count()
    decode_file(png_bytes(asymmetric()))
    with pytest.raises(DecodeError):
        decode_file(b"junk")
    assert _decode.decoded_count() == before + 1


# ---------------------------------------------------------------------------- real digits


def test_real_digits_photographed_sideways_are_read_upright(tmp_path: Path) -> None:
    """A digit stored turned, with the orientation tag a phone writes: the upright answer for each of 1-8."""
    sources = sorted((REAL_DIGITS / "7").glob("larissa*"))[:1] + sorted((REAL_DIGITS / "4").glob("larissa*"))[:1]
    assert len(sources) == 2
    paths: list[str] = []
    labels: list[int] = []
    for src in sources:
        upright = Image.open(src).convert("RGB")
        for tag in range(1, 9):
            stored, exif = with_orientation(upright, tag)
            path = tmp_path / f"{src.parent.name}-{tag}.jpg"
            stored.save(path, quality=90, exif=exif)
            paths.append(str(path))
            labels.append(int(src.parent.name))
    out = daft_mnist.classify(load_images(paths, labels=labels), image="image").to_pydict()
    assert out["model_classification"] == out["label"]


def test_long_cli_runs_show_files_done_and_photos_per_second(mixed: Path) -> None:
    import io as _io

    from daft_mnist.cli._output import collect_with_progress

    shown = _io.StringIO()
    df = load_images(mixed, on_error="null", batch_size=2).select("path")
    table = collect_with_progress(df, file=shown, force=True)
    assert table.num_rows == 8
    last = shown.getvalue().replace("\r", "\n").strip().splitlines()
    assert any("8photo" in line.replace(" ", "") and "photo/s" in line for line in last), last


@pytest.mark.ray
def test_photos_on_the_ray_runner_stream_in_small_batches_with_the_same_answers(tmp_path: Path) -> None:
    """Own process (one runner per process): real digits plus hard-linked copies and bad files, batch 8."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "photos"
    for src in sorted(REAL_DIGITS.glob("*/*")):
        (folder / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, folder / src.parent.name / src.name)
        for k in range(2):
            os.link(folder / src.parent.name / src.name, folder / src.parent.name / f"copy{k}-{src.name}")
    largest = max((folder / "3").iterdir(), key=lambda p: p.stat().st_size)
    (folder / "3" / "cut.jpg").write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])
    native = daft_mnist.classify(load_images(folder, on_error="null"), image="image", on_error="null").to_pydict()
    out, ray_tmp = tmp_path / "ray.json", Path(tempfile_dir())
    script = Path(__file__).with_name("ray_photos.py")
    done = subprocess.run(
        [sys.executable, str(script), str(folder), str(out), str(ray_tmp), "8"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert len(rows["path"]) == len(native["path"]) == 451
    got = dict(zip(rows["path"], rows["model_classification"], strict=True))
    assert [got[p] for p in native["path"]] == native["model_classification"]
    assert sum(p == y for p, y in zip(rows["model_classification"], rows["label"], strict=True)) == 450
    errors = [e for e in rows["load_error"] if e is not None]
    assert len(errors) == 1
    assert errors[0].startswith("truncated file")
    # Decoded 8 at a time; Ray may coalesce small batches on the way downstream (11 seen), so the
    # bound is a few decode batches, far below the folder's 451 pictures that were once all held.
    assert max(rows["held"]) <= 4 * 8, f"a downstream batch held {max(rows['held'])} decoded pictures"


def tempfile_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="ray", dir="/tmp")


def test_a_refused_remote_file_fails_at_once_naming_it() -> None:
    import socket
    import time

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connections are refused
    url = f"http://127.0.0.1:{port}/digit.png"
    start = time.monotonic()
    with pytest.raises(DataError, match=r"1 of 1 files are not readable images \(http://127\.0\.0\.1:\d+/digit\.png: "
                       r"not downloaded: ConnectionRefusedError"):  # fmt: skip
        load_images([url], labels=None, timeout=30).collect()
    assert time.monotonic() - start < 10, "a refused connection does not heal: no retries until the time limit"
