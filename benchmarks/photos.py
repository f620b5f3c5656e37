"""Phone photos by the thousand: throughput and peak memory of ``load_images -> classify``.

Generates 12-megapixel phone-like JPEGs (4032x3024, quality 90) from the real-digits folder
(``$DAFT_MNIST_DATA_DIR/real-digits``) in a temporary folder, never in the repository: each
digit upscaled, with sensor noise, every other one stored turned with the EXIF orientation tag a
phone writes (6, 8 or 3). ``--distinct`` photos are made (slow: a few seconds each) and hard-linked
to reach 1,000 files in ``<label>/`` folders. Then, in one run:

1. decoders alone, on the same files, ``--workers`` processes (default 2): Pillow ``draft`` (JPEG
   DCT scaling to the working size, what ``load_images`` uses), Pillow full decode, and OpenCV
   ``IMREAD_REDUCED_COLOR_8`` when ``cv2`` imports (``--opencv-path DIR`` adds a folder to look in);
2. end to end, ``classify(load_images(folder), image="image")`` on 100 and 1,000 photos, each in
   its own process: photos/s, accuracy, and the process's peak RSS (``VmHWM``);
3. with ``--ray``, the same on the Ray runner (a local cluster; slow to start).

Usage::

    DAFT_MNIST_DATA_DIR=../shared/data python benchmarks/photos.py [--distinct 20] [--ray]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

SIZE = (4032, 3024)
ORIENTATIONS = {6: "ROTATE_90", 8: "ROTATE_270", 3: "ROTATE_180"}
"""Tag -> the transpose that stores an upright picture so that a viewer applying the tag shows it upright."""


def make_photo(src: Path, dst: Path, seed: int, tag: int | None) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    picture = Image.open(src).convert("RGB")
    w, h = picture.size
    scale = min(SIZE[0] / w, SIZE[1] / h)
    inner = np.asarray(picture.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR))
    pad_h, pad_w = SIZE[1] - inner.shape[0], SIZE[0] - inner.shape[1]  # the picture's own edges fill the frame
    a = np.pad(inner, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)), mode="edge")
    a = a.astype(np.int16)
    a += rng.normal(0, 5, (SIZE[1], SIZE[0], 1)).astype(np.int16)  # sensor noise (luma)
    a += rng.normal(0, 3, a.shape).astype(np.int16)
    photo = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    if tag is not None:
        photo = photo.transpose(Image.Transpose[ORIENTATIONS[tag]])
        exif[0x0112] = tag
    photo.save(dst, "JPEG", quality=90, exif=exif)


def generate(root: Path, distinct: int, total: int) -> list[Path]:
    """``distinct`` photos made from real digits, hard-linked up to ``total`` files in ``<label>/`` folders."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    real = Path(os.environ.get("DAFT_MNIST_DATA_DIR") or default) / "real-digits"
    sources = sorted(p for p in real.glob("*/*") if p.is_file())
    step = max(1, len(sources) // distinct)
    picked = sources[::step][:distinct]
    made: list[Path] = []
    for i, src in enumerate(picked):
        (root / src.parent.name).mkdir(parents=True, exist_ok=True)
        dst = root / src.parent.name / f"photo{i:04d}.jpg"
        make_photo(src, dst, i, [None, 6, None, 8, None, 3][i % 6])
        made.append(dst)
    files = list(made)
    k = 0
    while len(files) < total:
        src = made[k % len(made)]
        dst = src.parent / f"copy{k:05d}-{src.name}"
        os.link(src, dst)
        files.append(dst)
        k += 1
    return files


def _draft(path: str) -> int:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (252, 189))
        im.load()
        return im.size[0]


def _full(path: str) -> int:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return im.size[0]


def _opencv(path: str) -> int:
    import cv2

    out = cv2.imread(path, cv2.IMREAD_REDUCED_COLOR_8)
    return int(out.shape[1])


def _init(extra: str | None) -> None:
    if extra:
        sys.path.append(extra)


def decode_rate(files: list[Path], fn: Any, workers: int, extra: str | None) -> float:
    names = [str(p) for p in files]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(extra,)) as pool:
        list(pool.map(fn, names[: workers * 2]))  # warm-up
        t0 = time.perf_counter()
        list(pool.map(fn, names, chunksize=4))
        return len(names) / (time.perf_counter() - t0)


END_TO_END = """
import json, sys, time
import daft
if sys.argv[2] == "ray":
    daft.set_runner_ray()
import daft_mnist as dm
t0 = time.perf_counter()
out = dm.classify(dm.load_images(sys.argv[1]), image="image").select("label", "model_classification").to_pydict()
took = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
right = sum(p == y for p, y in zip(out["model_classification"], out["label"]))
print(json.dumps({"n": len(out["label"]), "s": took, "right": right, "peak_mib": int(hwm.split()[1]) // 1024}))
"""


def end_to_end(folder: Path, runner: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", END_TO_END, str(folder), runner], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"end-to-end run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def subset(files: list[Path], root: Path, n: int) -> Path:
    """A folder of the first ``n`` files (hard links), keeping their ``<label>/`` folders."""
    folder = root / f"first{n}"
    for p in files[:n]:
        (folder / p.parent.name).mkdir(parents=True, exist_ok=True)
        os.link(p, folder / p.parent.name / p.name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distinct", type=int, default=20, help="photos generated (the rest are hard links)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the decode-only loops")
    parser.add_argument("--opencv-path", default=None, help="a folder holding cv2, for the comparison")
    parser.add_argument("--ray", action="store_true", help="also run end to end on the Ray runner")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="photos-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        files = generate(root / "all", args.distinct, 1000)
        print(f"generated {args.distinct} distinct 12-MP photos ({SIZE[0]}x{SIZE[1]}, q90), {len(files)} files "
              f"in {time.perf_counter() - t0:.0f} s; {os.cpu_count()} CPUs")  # fmt: skip
        first100, first1000 = subset(files, root, 100), subset(files, root, 1000)
        draft = decode_rate(files[:300], _draft, args.workers, None)
        print(f"decode only, Pillow draft (DCT 1/8), {args.workers} processes: {draft:.1f} photos/s")
        full = decode_rate(files[:60], _full, args.workers, None)
        print(f"decode only, Pillow full size,       {args.workers} processes: {full:.1f} photos/s")
        try:
            _init(args.opencv_path)
            import cv2  # noqa: F401

            cv = decode_rate(files[:300], _opencv, args.workers, args.opencv_path)
            print(f"decode only, OpenCV IMREAD_REDUCED_COLOR_8, {args.workers} processes: {cv:.1f} photos/s")
        except ImportError:
            print("decode only, OpenCV: cv2 not importable (pip install opencv-python-headless; --opencv-path)")
        runners = ["native", *(["ray"] if args.ray else [])]
        for runner in runners:
            small = end_to_end(first100, runner)
            big = end_to_end(first1000, runner)
            again = decode_rate(files[:300], _draft, args.workers, None)  # the machine may have changed meanwhile
            loop = (draft + again) / 2
            for r in (small, big):
                rate = r["n"] / r["s"]
                print(f"{runner}: load_images -> classify, {r['n']} photos: {rate:.1f} photos/s "
                      f"({rate / loop:.2f}x the draft decode loop, {loop:.1f} photos/s before and after), "
                      f"{r['right']}/{r['n']} right, peak RSS {r['peak_mib']} MiB")  # fmt: skip
            steady = (big["n"] - small["n"]) / max(big["s"] - small["s"], 1e-9)
            print(f"{runner}: steady state (1,000 minus 100 photos, without start-up): {steady:.1f} photos/s "
                  f"({steady / loop:.2f}x the draft decode loop)")  # fmt: skip
            print(f"{runner}: peak RSS at 1,000 photos / at 100: {big['peak_mib'] / small['peak_mib']:.2f}x")
            draft = again


if __name__ == "__main__":
    main()
