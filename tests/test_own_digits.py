"""Your own digits: folders of photos, scans and drawings through ``load_images``, ``mnist_style``
and ``classify``, bad files, and the real-digits folder end to end (``$DAFT_MNIST_DATA_DIR/real-digits``,
skipped when absent; its pictures are never copied into the repository)."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import daft
import numpy as np
import pytest
from daft import DataType, col
from PIL import Image

import daft_mnist
from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count
from daft_mnist.errors import DataError
from daft_mnist.io import load_images
from daft_mnist.preparation import mnist_style
from daft_mnist.vision._image_ops import downscale, gray_downscaled, to_gray
from daft_mnist.vision._prepare import prepare_batch

from .conftest import data_dir

ROOT = Path(__file__).resolve().parents[1]
REAL_DIGITS = data_dir() / "real-digits"


def bar_digit(h: int, w: int, *, dark_on_light: bool = True) -> np.ndarray:
    """A "1": a vertical bar of ink on paper, ``h`` x ``w`` uint8."""
    paper, ink = (235, 25) if dark_on_light else (10, 240)
    img = np.full((h, w), paper, dtype=np.uint8)
    img[h // 6 : h - h // 6, w // 2 - max(1, w // 14) : w // 2 + max(1, w // 14)] = ink
    return img


def ring_digit(size: int) -> np.ndarray:
    """A "0": an ellipse ring of dark ink on light paper."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    r = np.hypot((yy - size / 2) / (0.38 * size), (xx - size / 2) / (0.26 * size))
    return np.where(np.abs(r - 1) < 0.18, 25, 235).astype(np.uint8)


def save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(arr)
    (picture.convert(mode) if mode else picture).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """``<label>/`` folders: 0/ring{28,100}.png (L, RGB), 1/bar{40x30,300x200}.png (L, RGBA)."""
    root = tmp_path / "digits"
    save(root / "0" / "ring28.png", ring_digit(28))
    save(root / "0" / "ring100.png", ring_digit(100), "RGB")
    save(root / "1" / "bar40.png", bar_digit(40, 30))
    save(root / "1" / "bar300.jpg", bar_digit(300, 200), "RGB")
    return root


# ---------------------------------------------------------------------------- load_images forms


def test_load_images_from_a_folder_infers_labels(folder: Path) -> None:
    df = load_images(folder)
    assert df.column_names == ["path", "image", "label"]
    data = df.to_pydict()
    assert [Path(p).name for p in data["path"]] == ["ring100.png", "ring28.png", "bar300.jpg", "bar40.png"]
    assert data["label"] == [0, 0, 1, 1]
    # Pictures over 256 px on a side come at the preparation's working size (300x200 -> 150x100);
    # JPEG files as their luminance (the grey the preparation works on).
    assert [np.asarray(img).shape for img in data["image"]] == [(100, 100, 3), (28, 28, 1), (150, 100, 1), (40, 30, 1)]


@pytest.mark.parametrize("form", ["glob", "list", "single_file", "file_url"])
def test_load_images_forms(folder: Path, form: str) -> None:
    files = sorted(str(p) for p in folder.rglob("*.*"))
    source: str | list[str] = {
        "glob": str(folder / "*" / "*.png"),
        "list": files,
        "single_file": files[0],
        "file_url": "file://" + files[0],
    }[form]
    data = load_images(source).to_pydict()
    expected = [f for f in files if f.endswith(".png")] if form == "glob" else files if form == "list" else files[:1]
    assert data["path"] == sorted(expected)
    assert data["label"] == [int(Path(p).parent.name) for p in data["path"]]
    assert all(img is not None for img in data["image"])


def test_load_images_labels_as_list_mapping_or_none(folder: Path) -> None:
    files = sorted(str(p) for p in folder.rglob("*.*"))
    assert load_images(files, labels=[7, 7, 3, 3]).to_pydict()["label"] == [7, 7, 3, 3]
    mapping = {f: i for i, f in enumerate(files)}
    assert load_images(files, labels=mapping).to_pydict()["label"] == [0, 1, 2, 3]
    assert load_images(folder, labels=None).column_names == ["path", "image"]
    with pytest.raises(DataError, match="labels has 1 values for 4 files"):
        load_images(files, labels=[1])
    with pytest.raises(DataError, match="labels must be integers 0-9"):
        load_images(files, labels=[1, 2, 3, 10])
    with pytest.raises(DataError, match="no entry for 1 of 4 files"):
        load_images(files, labels=dict(list(mapping.items())[:3]))


def test_a_flat_folder_has_no_labels(tmp_path: Path) -> None:
    save(tmp_path / "flat" / "a.png", ring_digit(50))
    save(tmp_path / "flat" / "b.png", bar_digit(50, 40))
    assert load_images(tmp_path / "flat").column_names == ["path", "image"]


# ---------------------------------------------------------------------------- bad files


def truncated_png(path: Path) -> Path:
    save(path, ring_digit(64), "RGB")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("kind", ["truncated", "text"])
def test_a_bad_file_is_an_error_naming_it_or_a_counted_null(folder: Path, kind: str) -> None:
    bad = folder / "1" / "bad.png"
    if kind == "truncated":
        truncated_png(bad)
    else:
        bad.write_text("this is not a picture\n")
    reason = "truncated file" if kind == "truncated" else "not an image file Pillow can read"
    with pytest.raises(DataError, match=rf"1 of 5 files are not readable images \(.*bad\.png: {reason}"):
        load_images(folder).collect()
    reset_bad_row_count()
    df = load_images(folder, on_error="null")
    data = daft_mnist.classify(daft_mnist.add_image_2d(df)).select("path", "image_2d", "model_classification")
    rows = data.to_pydict()
    i = rows["path"].index(str(bad))
    assert rows["image_2d"][i] is None
    assert rows["model_classification"][i] is None
    assert sum(p is not None for p in rows["model_classification"]) == 4
    assert bad_row_count("image") == 1, "counted once, by the step that found it"


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files found"):
        load_images(tmp_path / "empty")
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataError, match="no image files found"):
        load_images(tmp_path / "empty")


def test_a_non_digit_subfolder_is_a_clear_error(folder: Path) -> None:
    save(folder / "seven" / "x.png", bar_digit(40, 30))
    with pytest.raises(DataError, match=r"cannot infer labels: files sit in folders \['seven'\]"):
        load_images(folder)
    assert len(load_images(folder, labels=None).to_pydict()["path"]) == 5


def write_huge_png(path: Path, side: int) -> None:
    """A ``side`` x ``side`` grayscale PNG of a dark bar on light paper, streamed row by row
    (the test process never holds the picture)."""
    light = b"\x00" + bytes([240]) * side  # filter byte 0, then the row's pixels
    inked = b"\x00" + bytes([240]) * (side * 9 // 20) + bytes([20]) * (side // 10)
    inked += bytes([240]) * (side - side * 9 // 20 - side // 10)
    z = zlib.compressobj(1)
    parts = []
    for r in range(side):
        parts.append(z.compress(inked if side // 5 <= r < side - side // 5 else light))
    parts.append(z.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


HUGE = """
import resource, sys
import PIL.Image
import daft_mnist
PIL.Image.MAX_IMAGE_PIXELS = None  # the user's own choice: over Pillow's guard, a picture is too large to decode
from daft_mnist.io import load_images
df = daft_mnist.classify(daft_mnist.add_image_2d(load_images(sys.argv[1], labels=[1])))
print(df.select("model_classification").to_pydict()["model_classification"][0])
# VmHWM: this process's own peak (ru_maxrss would also count the forking pytest process's).
try:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    print(int(hwm.split()[1]) // 1024)
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_a_20000_pixel_picture_is_prepared_with_bounded_memory(tmp_path: Path) -> None:
    """400 MB of decoded pixels, allowed by the user (``PIL.Image.MAX_IMAGE_PIXELS = None``): decoded
    once and area-averaged to the working size (never a 1.6 GB float copy)."""
    path = tmp_path / "huge.png"
    write_huge_png(path, 20000)
    done = subprocess.run(
        [sys.executable, "-c", HUGE, str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    prediction, peak_mib = (int(v) for v in done.stdout.split()[-2:])
    print(f"20000x20000 picture: prediction {prediction}, peak RSS {peak_mib} MiB")
    assert prediction == 1
    assert peak_mib < 2000, f"peak RSS {peak_mib} MiB: the picture was copied whole"


def test_large_pictures_are_converted_a_strip_at_a_time_with_the_same_result() -> None:
    rng = np.random.default_rng(3)
    for channels in (1, 3, 4):
        a = rng.integers(0, 256, (2, 1100, 901, channels), dtype=np.uint8)
        if channels == 4:
            a[..., 3] = np.where(rng.random(a.shape[:3]) < 0.5, 255, a[..., 3])
        np.testing.assert_array_equal(gray_downscaled(a, strip_pixels=50_000), downscale(to_gray(a)))


# ---------------------------------------------------------------------------- mnist_style and add_image_2d


def as_image_column(arrays: list[np.ndarray], mode: str) -> daft.DataFrame:
    rows = [a if a.ndim == 3 else a[..., None] for a in arrays]
    return daft.from_pydict({"image": rows}).with_column("image", col("image").cast(DataType.image(mode)))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_mnist_style_through_daft_equals_prepare_batch(mode: str) -> None:
    rng = np.random.default_rng(0)
    grays = [ring_digit(28), bar_digit(40, 30), ring_digit(137), bar_digit(300, 200, dark_on_light=False)]
    grays += [np.clip(ring_digit(90).astype(int) + rng.integers(-12, 12, (90, 90)), 0, 255).astype(np.uint8)]
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arrays = [np.repeat(g[..., None], channels, axis=2) for g in grays]
    if mode == "RGBA":
        for a in arrays:
            a[..., 3] = 255
    out = as_image_column(arrays, mode).select(mnist_style(col("image"))).to_pydict()["image"]
    expected = prepare_batch(arrays).pixels
    for got, want in zip(out, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    if mode != "L":  # the same picture in L and in colour gives the same digit
        gray = as_image_column(grays, "L").select(mnist_style(col("image"))).to_pydict()["image"]
        for a, b in zip(out, gray, strict=True):
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_add_image_2d_prepares_pictures_and_keeps_mnist_pixels_exact(folder: Path) -> None:
    df = daft_mnist.add_image_2d(load_images(folder))
    assert df.schema()["image_2d"].dtype == DataType.tensor(DataType.uint8(), (28, 28))
    styled = load_images(folder).select(mnist_style(col("image"))).to_pydict()["image"]
    for got, want in zip(df.to_pydict()["image_2d"], styled, strict=True):
        np.testing.assert_array_equal(got, want)
    pixels = np.random.default_rng(1).integers(0, 256, (3, 784), dtype=np.uint8)
    mnist = daft_mnist.add_image_2d(daft.from_pydict({"image": list(pixels)}))
    got = np.stack(mnist.to_pydict()["image_2d"])
    np.testing.assert_array_equal(got.reshape(3, 784), pixels)  # lists keep their exact path
    as_l = mnist.with_column("pic", col("image_2d").cast(DataType.image("L", 28, 28)))
    again = np.stack(daft_mnist.add_image_2d(as_l, image="pic", output="again").to_pydict()["again"])
    np.testing.assert_array_equal(again.reshape(3, 784), pixels)  # Image[L; 28 x 28] too


def test_a_variable_shape_tensor_of_784_pixels_keeps_the_mnist_path() -> None:
    """``from_pydict`` of numpy rows gives ``Tensor[UInt8]`` (no shape): MNIST pixels, not pictures."""
    pixels = np.random.default_rng(2).integers(0, 256, (4, 784), dtype=np.uint8)
    df = daft.from_pydict({"image": list(pixels)})
    assert df.schema()["image"].dtype == DataType.tensor(DataType.uint8())
    via_tensor = daft_mnist.classify(df, image="image").to_pydict()["model_classification"]
    via_list = daft_mnist.classify(daft.from_pydict({"image": pixels.tolist()}), image="image")
    assert via_tensor == via_list.to_pydict()["model_classification"]
    pictures = df.with_column("image", col("image").cast(DataType.tensor(DataType.uint8(), (28, 28, 1))))
    assert daft_mnist.add_image_2d(pictures).schema()["image_2d"].dtype == DataType.tensor(DataType.uint8(), (28, 28))


def test_classify_takes_the_folder_and_blank_pictures_get_no_digit(folder: Path) -> None:
    save(folder / "1" / "blank.png", np.full((60, 60), 250, np.uint8))
    reset_bad_row_count()
    rows = daft_mnist.classify(load_images(folder), image="image", details=True).to_pydict()
    names = [Path(p).name for p in rows["path"]]
    assert rows["model_classification"][names.index("blank.png")] is None
    assert rows["model_classification_confidence"][names.index("blank.png")] is None
    assert rows["model_classification_error"][names.index("blank.png")] == "image is blank (no ink)"
    assert bad_row_count() == 1
    others = [p for n, p in zip(names, rows["model_classification"], strict=True) if n != "blank.png"]
    assert others == [0, 0, 1, 1]


# ---------------------------------------------------------------------------- the real-digits folder


def source_of(path: str) -> str:
    name = Path(path).name
    return name.split("-digit")[0] if name.startswith("floribau") else name.rsplit("-", 1)[0]


@pytest.mark.skipif(not REAL_DIGITS.is_dir(), reason=f"no real-digits folder at {REAL_DIGITS}")
def test_real_digits_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    rows = daft_mnist.classify(load_images(REAL_DIGITS), image="image").select("path", "label", "model_classification")
    data = rows.to_pydict()
    by: dict[str, list[bool]] = defaultdict(list)
    for path, label, pred in zip(data["path"], data["label"], data["model_classification"], strict=True):
        by[source_of(path)].append(label == pred)
    ok = [o for v in by.values() for o in v]
    lines = ["", f"real digits ({REAL_DIGITS}), load_images + classify(image='image'), bundled weights"]
    lines += [f"  {'source':16s} {'right':>7s} {'accuracy':>9s}"]
    for source in sorted(by, key=lambda s: (-len(by[s]), s)):
        v = by[source]
        lines.append(f"  {source:16s} {sum(v):3d}/{len(v):3d} {sum(v) / len(v):9.1%}")
    lines.append(f"  {'all':16s} {sum(ok):3d}/{len(ok):3d} {sum(ok) / len(ok):9.1%}")
    with capsys.disabled():
        print("\n".join(lines))
    assert len(ok) == 150
    assert sum(ok) / len(ok) >= 0.97
