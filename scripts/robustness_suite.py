"""Synthetic-distortion estimate of how well weights generalize to real pictures (issue #12).

    PYTHONPATH=src python scripts/robustness_suite.py [--dir DIR] [--weights PATH ...] [--seed 0] [--json OUT]

Loads the real-digits folder (``<label>/`` folders) with :func:`daft_mnist.load_images`,
applies each distortion below to every picture (numpy + Pillow, seeded: the same seed gives the
same pictures; pictures are first shrunk to at most ``MAX_SIDE`` px), prepares them MNIST-style
with :func:`daft_mnist.vision._prepare.prepare_batch` and classifies them with each ``--weights``
(default: the bundled weights) in float32. A picture the preparation finds no digit in counts
as wrong. Prints one row per distortion (correct / total, accuracy per weights) and the overall
accuracy over all distortions (the undistorted pictures are shown as ``clean`` and are not part
of ``overall``).

It is an estimate, not a benchmark: 150 pictures, with distortions chosen to imitate what
other writers, papers and cameras do; no distorted picture is written anywhere.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

Rgb = np.ndarray  # float32 (H, W, 3), 0-255
Distortion = Callable[[Rgb, np.random.Generator], np.ndarray]


def to_rgb(img: np.ndarray) -> Rgb:
    """A decoded picture (L, LA-less HxWx1, RGB or RGBA) as float RGB; alpha composited on white."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    a = a.astype(np.float32)
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[..., 3:4] / 255.0
        return a[..., :3] * alpha + 255.0 * (1 - alpha)
    return a[..., :3]


def u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def pil(a: Rgb) -> Image.Image:
    return Image.fromarray(u8(a), "RGB")


def back(im: Image.Image) -> Rgb:
    return np.asarray(im.convert("RGB"), dtype=np.float32)


def dark_ink(a: Rgb) -> bool:
    """Dark ink on light paper (most photos and scans) rather than light on dark."""
    return bool(a.mean() > 127)


def paper(a: Rgb) -> np.ndarray:
    """The paper colour: the median of the border pixels."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return np.asarray(np.median(border, axis=0), dtype=np.float32)


def jpeg(a: Rgb, quality: int) -> Rgb:
    buf = io.BytesIO()
    pil(a).save(buf, format="JPEG", quality=quality)
    return back(Image.open(io.BytesIO(buf.getvalue())))


def shadow(a: Rgb, rng: np.random.Generator) -> Rgb:
    h, w = a.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.cos(angle) * xx / max(w - 1, 1) + np.sin(angle) * yy / max(h - 1, 1)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return a * (1.0 - 0.55 * t)[..., None]


def noise(a: Rgb, rng: np.random.Generator, sigma: float = 20.0) -> Rgb:
    return a + rng.normal(0, sigma, a.shape).astype(np.float32)


def low_contrast(a: Rgb, rng: np.random.Generator) -> Rgb:
    return 128.0 + (a - 128.0) * 0.35


def inversion(a: Rgb, rng: np.random.Generator) -> Rgb:
    return 255.0 - a


def canvas3x_specks(a: Rgb, rng: np.random.Generator) -> Rgb:
    h, w = a.shape[:2]
    out = np.empty((3 * h, 3 * w, 3), np.float32)
    out[:] = paper(a)
    y, x = int(rng.integers(0, 2 * h + 1)), int(rng.integers(0, 2 * w + 1))
    out[y : y + h, x : x + w] = a
    ink = 255.0 - paper(a)  # specks in the ink colour
    r = max(1, min(h, w) // 100)
    for _ in range(12):
        cy, cx = int(rng.integers(0, 3 * h)), int(rng.integers(0, 3 * w))
        if y - r <= cy < y + h + r and x - r <= cx < x + w + r:
            continue  # specks around the digit, not on it
        out[max(cy - r, 0) : cy + r, max(cx - r, 0) : cx + r] = ink
    return out


def rotate(a: Rgb, rng: np.random.Generator) -> Rgb:
    angle = 12.0 if rng.random() < 0.5 else -12.0
    fill = tuple(int(v) for v in u8(paper(a)))
    return back(pil(a).rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=fill))


def grid_lines(a: Rgb, rng: np.random.Generator) -> Rgb:
    h, w = a.shape[:2]
    out = a.copy()
    step = max(4, min(h, w) // 6)
    width = max(1, min(h, w) // 100)
    line = np.array([150.0, 170.0, 220.0], np.float32) if dark_ink(a) else np.array([90.0, 90.0, 120.0], np.float32)
    off = int(rng.integers(0, step))
    for y in range(off, h, step):
        out[y : y + width] = (
            np.minimum(out[y : y + width], line) if dark_ink(a) else np.maximum(out[y : y + width], line)
        )
    for x in range(off, w, step):
        out[:, x : x + width] = (
            np.minimum(out[:, x : x + width], line) if dark_ink(a) else np.maximum(out[:, x : x + width], line)
        )
    return out


def blur(a: Rgb, rng: np.random.Generator) -> Rgb:
    radius = max(1.0, min(a.shape[:2]) / 60)
    return back(pil(a).filter(ImageFilter.GaussianBlur(radius)))


def dark_edge(a: Rgb, rng: np.random.Generator) -> Rgb:
    """The picture as a 28x28 drawing with a dark band along one side (a scan's or crop's edge)."""
    small = back(pil(a).resize((28, 28), Image.BILINEAR))
    dark = 60.0 if dark_ink(a) else 195.0
    side = int(rng.integers(0, 4))
    band = 1
    if side == 0:
        small[:band] = dark
    elif side == 1:
        small[-band:] = dark
    elif side == 2:
        small[:, :band] = dark
    else:
        small[:, -band:] = dark
    return small


def resize40(a: Rgb, rng: np.random.Generator) -> Rgb:
    return back(pil(a).resize((40, 40), Image.BILINEAR))


def yellow_paper(a: Rgb, rng: np.random.Generator) -> Rgb:
    return a * np.array([0.97, 0.9, 0.6], np.float32)


def _stroke_filter(a: Rgb, thicker: bool) -> Rgb:
    """Grow or shrink strokes by about 1/70 of the picture's short side on each side."""
    h, w = a.shape[:2]
    up = max(1.0, 140 / min(h, w))  # small drawings are filtered at 140 px, then shrunk back
    im = pil(a).resize((round(w * up), round(h * up)), Image.BILINEAR) if up > 1 else pil(a)
    k = max(3, (min(im.size) // 70) | 1)
    grow_dark = dark_ink(a) == thicker  # thicker dark ink: the minimum spreads it
    im = im.filter(ImageFilter.MinFilter(k) if grow_dark else ImageFilter.MaxFilter(k))
    return back(im.resize((w, h), Image.BILINEAR) if up > 1 else im)


def thick(a: Rgb, rng: np.random.Generator) -> Rgb:
    return _stroke_filter(a, thicker=True)


def thin(a: Rgb, rng: np.random.Generator) -> Rgb:
    return _stroke_filter(a, thicker=False)


def shadow_noise_jpeg(a: Rgb, rng: np.random.Generator) -> Rgb:
    return jpeg(u8(noise(shadow(a, rng), rng, 12.0)).astype(np.float32), 40)


DISTORTIONS: dict[str, Distortion] = {
    "jpeg q30": lambda a, rng: jpeg(a, 30),
    "shadow gradient": shadow,
    "gaussian noise": noise,
    "low contrast": low_contrast,
    "inversion": inversion,
    "3x canvas + specks": canvas3x_specks,
    "rotation +-12 deg": rotate,
    "grid lines": grid_lines,
    "blur": blur,
    "dark edge (28x28)": dark_edge,
    "resize 40x40": resize40,
    "yellow paper": yellow_paper,
    "thick strokes": thick,
    "thin strokes": thin,
    "shadow+noise+jpeg": shadow_noise_jpeg,
}


def load(folder: Path) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    import daft_mnist

    data = daft_mnist.load_images(str(folder)).to_pydict()
    images = [np.asarray(img, dtype=np.uint8) for img in data["image"]]
    return list(data["path"]), images, np.asarray(data["label"], dtype=np.int64)


MAX_SIDE = 320
"""Pictures larger than this (longest side, px) are shrunk to it before being distorted (speed)."""


def shrink(a: Rgb) -> Rgb:
    h, w = a.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return a
    f = MAX_SIDE / max(h, w)
    return back(pil(a).resize((max(1, round(w * f)), max(1, round(h * f))), Image.BILINEAR))


def distorted_sets(images: list[np.ndarray], seed: int) -> dict[str, list[np.ndarray]]:
    """Every distortion applied to every picture; one generator per distortion (stable when the list grows)."""
    rgb = [shrink(to_rgb(img)) for img in images]
    sets: dict[str, list[np.ndarray]] = {"clean": [np.asarray(img, dtype=np.uint8) for img in images]}
    for k, (name, fn) in enumerate(DISTORTIONS.items()):
        rng = np.random.default_rng([seed, k])
        sets[name] = [u8(fn(a, rng)) for a in rgb]
    return sets


def score(weights: str | None, sets: dict[str, list[np.ndarray]], labels: np.ndarray) -> dict[str, int]:
    from daft_mnist.model._engine import ModelSpec, get_model
    from daft_mnist.vision._prepare import prepare_batch

    model = get_model(ModelSpec(weights=weights, precision="float32"))
    correct: dict[str, int] = {}
    for name, imgs in sets.items():
        batch = prepare_batch(imgs)
        pred = model.predict(batch.pixels.reshape(len(imgs), -1))
        found = np.array([r is None for r in batch.reasons])
        correct[name] = int(((pred == labels) & found).sum())
    return correct


def main() -> None:
    default_dir = Path(os.environ.get("DAFT_MNIST_DATA_DIR", "../shared/data")) / "real-digits"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=default_dir, help="folder of <label>/ pictures")
    ap.add_argument("--weights", action="append", default=None, help="checkpoint (repeatable; default: bundled)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()

    _, images, labels = load(args.dir)
    sets = distorted_sets(images, args.seed)
    weights: list[str | None] = list(args.weights) if args.weights else [None]
    names = [w or "bundled" for w in weights]
    results = {name: score(w, sets, labels) for name, w in zip(names, weights, strict=True)}
    n = len(labels)
    cols = [Path(name).name[:18] for name in names]
    print(f"{len(images)} pictures from {args.dir}, seed {args.seed}, float32\n")
    print(f"{'distortion':22s}" + "".join(f"{c:>20s}" for c in cols))
    for d in sets:
        print(f"{d:22s}" + "".join(f"{results[m][d]:>8d}/{n:<3d} {results[m][d] / n:6.1%} " for m in names))
    overall = {m: sum(v for d, v in results[m].items() if d != "clean") for m in names}
    total = n * len(DISTORTIONS)
    print(
        f"{'overall (distorted)':22s}"
        + "".join(f"{overall[m]:>7d}/{total:<4d} {overall[m] / total:6.1%} " for m in names)
    )
    if args.json:
        out = {m: {"per_distortion": results[m], "overall": overall[m], "total": total, "pictures": n} for m in names}
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
