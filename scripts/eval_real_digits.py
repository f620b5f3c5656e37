"""Accuracy on a folder of real handwritten digits (``<label>/<source>-<file>``), per source.

    PYTHONPATH=src python scripts/eval_real_digits.py [--dir DIR] [--weights PATH] [--grid out.png]

Daft lists and decodes the pictures (native mode: L, RGB or RGBA, any size); they are prepared
MNIST-style with :func:`daft_mnist.vision._prepare.prepare_batch` and classified with the weights
(default: the bundled ones). The naive route (grayscale, resize to 28x28, invert when the
picture is light) is reported beside it. ``--grid`` writes originals beside their prepared
images (failures in red) to look at.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

SOURCES = (
    "michelle-lieng",
    "larissa0898",
    "7eraflops",
    "scholich",
    "ashishdasu",
    "hikaruikebe",
    "TiredOfThisAll",
    "Mrpsy666",
    "floribau",
)


def source_of(name: str) -> str:
    for s in SOURCES:
        if name.startswith(s + "-"):
            return s
    return name.split("-", 1)[0]


def load(folder: Path) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    import daft
    from daft import col
    from daft.functions import decode_image, download

    df = daft.from_glob_path(str(folder / "*" / "*"))
    df = df.where(col("path").endswith(".png") | col("path").endswith(".jpg") | col("path").endswith(".jpeg"))
    df = df.with_column("image", decode_image(download(col("path")), mode=None)).select("path", "image")
    data = df.to_pydict()
    paths = [p.removeprefix("file://") for p in data["path"]]
    order = np.argsort(paths)
    paths = [paths[i] for i in order]
    images = [np.asarray(data["image"][i], dtype=np.uint8) for i in order]
    labels = np.array([int(Path(p).parent.name) for p in paths])
    return paths, images, labels


def naive(images: list[np.ndarray], invert: bool) -> np.ndarray:
    """Grayscale, resize to 28x28 (and invert light pictures): what most first attempts do."""
    from PIL import Image

    out = []
    for img in images:
        pil = Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img).convert("L")
        a = np.asarray(pil.resize((28, 28), Image.BILINEAR), dtype=np.uint8)
        out.append(255 - a if invert and a.mean() > 127 else a)
    return np.stack(out)


def predict(weights: str | None, pixels: np.ndarray) -> np.ndarray:
    import torch

    from daft_mnist.model.checkpoint import load_model

    net = load_model(weights) if weights else load_model()
    with torch.inference_mode():
        x = torch.from_numpy(net.preprocessing.normalize_numpy(pixels.reshape(len(pixels), -1)))
        return np.asarray(net(x).argmax(1).numpy())


def report(title: str, ok: np.ndarray, sources: list[str]) -> None:
    by: dict[str, list[bool]] = defaultdict(list)
    for s, o in zip(sources, ok, strict=True):
        by[s].append(bool(o))
    print(f"\n{title}")
    for s in sorted(by, key=lambda k: (-len(by[k]), k)):
        v = by[s]
        print(f"  {s:16s} {sum(v):3d}/{len(v):3d}  {sum(v) / len(v):6.1%}")
    print(f"  {'overall':16s} {int(ok.sum()):3d}/{len(ok):3d}  {ok.mean():6.1%}")


def grid(path: str, images: list[np.ndarray], prepared: np.ndarray, ok: np.ndarray) -> None:
    from PIL import Image

    s, cols = 56, 10
    rows = -(-len(images) // cols)
    sheet = Image.new("RGB", (cols * 2 * s, rows * s), (128, 128, 128))
    for k, (img, px, good) in enumerate(zip(images, prepared, ok, strict=True)):
        orig = Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img).convert("RGB")
        tint = np.stack([px, px, px] if good else [px, px // 3, px // 3], axis=-1)
        x, y = (k % cols) * 2 * s, (k // cols) * s
        sheet.paste(orig.resize((s - 2, s - 2)), (x, y))
        sheet.paste(Image.fromarray(tint).resize((s - 2, s - 2), Image.NEAREST), (x + s, y))
    sheet.save(path)
    print(f"\ngrid: {path}")


def main() -> None:
    default_dir = Path(os.environ.get("DAFT_MNIST_DATA_DIR", "../shared/data")) / "real-digits"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=default_dir, help="folder of <label>/<source>-<file> pictures")
    ap.add_argument("--weights", default=None, help="checkpoint (default: the bundled weights)")
    ap.add_argument("--grid", default=None, help="write originals beside prepared images to this PNG")
    args = ap.parse_args()

    from daft_mnist.vision._prepare import prepare_batch

    t0 = time.perf_counter()
    paths, images, labels = load(args.dir)
    t1 = time.perf_counter()
    batch = prepare_batch(images)
    t2 = time.perf_counter()
    sources = [source_of(Path(p).name) for p in paths]
    print(f"{len(paths)} pictures from {args.dir}: decoded in {t1 - t0:.2f} s, prepared in {t2 - t1:.2f} s")

    pred_naive = predict(args.weights, naive(images, invert=False))
    report("naive (grayscale, resize to 28x28)", pred_naive == labels, sources)
    pred_naive = predict(args.weights, naive(images, invert=True))
    report("naive, inverted when light (grayscale, resize to 28x28, invert)", pred_naive == labels, sources)
    pred = predict(args.weights, batch.pixels)
    ok = pred == labels
    report(f"prepared MNIST-style (weights: {args.weights or 'bundled'})", ok, sources)
    for i, reason in enumerate(batch.reasons):
        if reason is not None:
            print(f"  no digit: {paths[i]}: {reason}")
    for i in np.flatnonzero(~ok):
        name = "/".join(Path(paths[i]).parts[-2:])
        print(f"  wrong: {name}: {labels[i]} -> {pred[i]}")
    if args.grid:
        grid(args.grid, images, batch.pixels, ok)


if __name__ == "__main__":
    main()
