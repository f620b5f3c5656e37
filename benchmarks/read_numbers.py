"""Reading numbers: exact-match by length on generated strings, numbers/s, and the real numbers by source.

1. Generated numbers of 2-8 digits composed (``vision._compose.compose_number``) from MNIST
   *test* digits and from the real digits of ``real-digits/`` (prepared MNIST-style first), in
   three layouts: spaced (gaps of 0.1-0.5 digit heights), tight (-0.05-0.1), and touching (one
   pair overlapping by 0.02-0.15 digit heights, the others tight); either polarity, random
   heights (28-60 px), sizes (+-10 %) and baseline shifts. Seeded.
2. The real numbers of ``real-numbers/`` (``labels.csv``), by source repository.
3. The same real numbers small in a 12-megapixel photo: each scaled to 120, 200 or 400 px high
   and laid on a 3000x4000 sheet of noisy paper (seeded), as a phone photo of a page.
4. Calibration of the numbers' confidence (expected calibration error, 10 bins) on 1, and
   numbers/s: the reader on numpy pictures, and ``read_number`` through Daft.

Usage::

    DAFT_MNIST_DATA_DIR=../shared/data python benchmarks/read_numbers.py [--per-length 30]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from daft_mnist.model._engine import ModelSpec, get_model
from daft_mnist.model._number_reader import read_batch, score_numbers
from daft_mnist.vision._compose import compose_number
from daft_mnist.vision._prepare import prepare_batch

DATA = Path(os.environ.get("DAFT_MNIST_DATA_DIR", "../shared/data"))


def mnist_test(n: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    with gzip.open(DATA / "mnist_handwritten_test.json.gz", "rt") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            row = json.loads(line)
            images.append(row["image"])
            labels.append(row["label"])
    return np.asarray(images, np.uint8).reshape(-1, 28, 28), np.asarray(labels)


def real_digits() -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    files = sorted((DATA / "real-digits").glob("*/*.*g"))
    prepared = prepare_batch([np.asarray(Image.open(f).convert("RGBA")) for f in files])
    keep = [i for i, r in enumerate(prepared.reasons) if r is None]
    return prepared.pixels[keep], np.asarray([int(files[i].parent.name) for i in keep])


def generated(
    digits: np.ndarray, labels: np.ndarray, per_length: int, rng: np.random.Generator
) -> list[tuple[str, str, np.ndarray]]:
    """``(layout, label, picture)`` for each generated number."""
    out = []
    for length in range(2, 9):
        for k in range(per_length):
            layout = ("spaced", "tight", "touching")[k % 3]
            pick = rng.integers(len(digits), size=length)
            if layout == "spaced":
                gaps = rng.uniform(0.1, 0.5, length - 1)
            else:
                gaps = rng.uniform(-0.05, 0.1, length - 1)
                if layout == "touching":
                    gaps[rng.integers(length - 1)] = rng.uniform(-0.15, -0.02)
            c = compose_number(
                list(digits[pick]),
                height=int(rng.integers(28, 61)),
                gaps=gaps.tolist(),
                scales=rng.uniform(0.9, 1.1, length).tolist(),
                shifts=rng.normal(0.0, 0.04, length).tolist(),
            )
            pic = c.picture if rng.random() < 0.5 else 255 - c.picture
            out.append((layout, "".join(str(d) for d in labels[pick]), pic))
    return out


def in_a_photo(pic: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """``pic`` (RGB) scaled to ``height`` px high on a 3000x4000 sheet of noisy paper."""
    from PIL import Image

    im = Image.fromarray(pic)
    im = im.resize((max(1, round(im.width * height / im.height)), height), Image.Resampling.LANCZOS)
    a = np.asarray(im)
    paper = np.percentile(a.reshape(-1, 3), 90, axis=0)
    photo = np.clip(paper * 0.97 + rng.normal(0, 4, (3000, 4000, 1)), 0, 255).astype(np.uint8)
    y = int(rng.integers(100, 3000 - a.shape[0] - 100))
    x = int(rng.integers(100, max(101, 4000 - a.shape[1] - 100)))
    np.minimum(photo[y : y + a.shape[0], x : x + a.shape[1]], a, out=photo[y : y + a.shape[0], x : x + a.shape[1]])
    return photo


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.mean() * abs(confidence[sel].mean() - correct[sel].mean())
    return float(total)


def table(title: str, groups: dict[str, tuple[list[str], list[str | None]]]) -> None:
    print(f"\n{title}")
    print(f"  {'':24s} {'n':>5s} {'exact':>8s} {'digit err':>10s}")
    for name, (truth, read) in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        s = score_numbers(truth, read)
        print(f"  {name:24s} {s.count:5d} {s.exact_rate:8.1%} {s.digit_error_rate:10.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=30)
    parser.add_argument("--daft", action="store_true", help="also time read_number through Daft")
    args = parser.parse_args()
    rng = np.random.default_rng(6)
    model = get_model(ModelSpec())
    sets = {"mnist-test": mnist_test(3000), "real-digits": real_digits()}
    conf_all, ok_all = [], []
    for name, (digits, labels) in sets.items():
        numbers = generated(digits, labels, args.per_length, rng)
        t0 = time.perf_counter()
        results = []
        for s in range(0, len(numbers), 64):
            results += read_batch([p for _, _, p in numbers[s : s + 64]], model)
        seconds = time.perf_counter() - t0
        read = [r.number if r is not None else None for r in results]
        truth = [t for _, t, _ in numbers]
        groups: dict[str, tuple[list[str], list[str | None]]] = defaultdict(lambda: ([], []))
        for (layout, t, _), r in zip(numbers, read, strict=True):
            for key in (f"length {len(t)}", f"layout {layout}", "all"):
                groups[key][0].append(t)
                groups[key][1].append(r)
        table(f"generated from {name}: {len(numbers)} numbers, {len(numbers) / seconds:.1f} numbers/s", groups)
        conf_all += [r.confidence or 0.0 if r is not None else 0.0 for r in results]
        ok_all += [t == r for t, r in zip(truth, read, strict=True)]
    conf, ok = np.asarray(conf_all), np.asarray(ok_all, dtype=float)
    print(f"\nnumber confidence: ECE {ece(conf, ok):.3f} (mean confidence {conf.mean():.3f}, exact {ok.mean():.3f})")
    for t in (0.5, 0.8, 0.9, 0.95):
        kept = conf >= t
        print(f"  min_confidence {t:.2f}: coverage {kept.mean():6.1%}  exact among kept {ok[kept].mean():6.1%}")

    from PIL import Image

    with open(DATA / "real-numbers" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    pics = [np.asarray(Image.open(DATA / "real-numbers" / r["file"]).convert("RGB")) for r in rows]
    t0 = time.perf_counter()
    results = read_batch(pics, model)
    seconds = time.perf_counter() - t0
    real: dict[str, tuple[list[str], list[str | None]]] = defaultdict(lambda: ([], []))
    for r, res in zip(rows, results, strict=True):
        for key in (r["source_repo"].split("/")[0], "all"):
            real[key][0].append(r["number"])
            real[key][1].append(res.number if res is not None else None)
    table(f"real-numbers by source: {len(rows)} numbers, {len(rows) / seconds:.1f} numbers/s", real)
    photos: dict[str, tuple[list[str], list[str | None]]] = defaultdict(lambda: ([], []))
    prng = np.random.default_rng(12)
    seconds = 0.0
    for height in (120, 200, 400):
        for r, pic in zip(rows, pics, strict=True):
            photo = in_a_photo(pic, height, prng)
            t0 = time.perf_counter()
            res = read_batch([photo], model)[0]
            seconds += time.perf_counter() - t0
            photos[f"{height} px high"][0].append(r["number"])
            photos[f"{height} px high"][1].append(res.number if res is not None else None)
    table(f"real-numbers in 3000x4000 photos: {3 * len(rows) / seconds:.1f} photos/s", photos)
    if args.daft:
        import daft

        from daft_mnist.numbers import read_number

        files = [str(DATA / "real-numbers" / r["file"]) for r in rows] * 4
        df = daft.from_pydict({"path": files}).with_column("image", daft.col("path").download().decode_image())
        df = df.collect()
        t0 = time.perf_counter()
        df.select(read_number(df["image"])).collect()
        print(f"\nread_number through Daft (native runner): {len(files) / (time.perf_counter() - t0):.1f} numbers/s")


if __name__ == "__main__":
    main()
