"""The false-digit rate: generated pages with no digit that still get one, per kind of page.

Pages from ``tests/blank_pages.py`` (seeded: specks, dust, smudges, shadows, paper texture,
ruled and squared lines, filled squares and blobs, alone and together; 28 to 480 pixels; grey
and colour; light and dark paper) go through the library's preparation, as ``classify``,
``mnist_style``, the provider and the CLI run it; a page that the preparation does not refuse
is classified by the bundled model and counts as a false digit, with its confidence. Also
prints the refusals among the real-digits folder (``$DAFT_MNIST_DATA_DIR/real-digits``), which
must be none.

Usage::

    python benchmarks/blank_pages.py                  # 60 pages per kind, seed 1
    python benchmarks/blank_pages.py --per-kind 100 --seed 2
    python benchmarks/blank_pages.py --without-stroke-rules   # the figure before issue 19
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--without-stroke-rules", action="store_true", help="switch off the no-digit rules (the figure before)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from tests.blank_pages import KINDS, blank_pages

    from daft_mnist.model._engine import ModelSpec, get_model
    from daft_mnist.vision import _prepare
    from daft_mnist.vision._prepare import prepare_batch

    if args.without_stroke_rules:  # the preparation as it was before issue 19: ink of any shape is a digit
        _prepare.no_digit_reasons = lambda marks, features: [None] * len(marks.count)  # type: ignore[assignment]

    model = get_model(ModelSpec(device="cpu"))
    pages = list(blank_pages(args.per_kind, seed=args.seed))
    prepared = prepare_batch([page for _, page in pages])
    kept = np.flatnonzero([why is None for why in prepared.reasons])
    confidence = np.exp(model.log_probabilities(prepared.pixels[kept].reshape(-1, 784)).numpy()).max(axis=1)
    false = collections.defaultdict(list)
    for i, conf in zip(kept, confidence, strict=True):
        false[pages[i][0]].append(float(conf))
    shown = (re.sub(r" \(.*", "", re.sub(r"[0-9.]+x", "Nx", why)) for why in prepared.reasons if why is not None)
    reasons = collections.Counter(shown)
    rules = "without the stroke rules" if args.without_stroke_rules else "with the stroke rules"
    print(f"false-digit rate on generated blank pages ({args.per_kind} per kind, seed {args.seed}, {rules})")
    for kind in KINDS:
        got = false[kind]
        confs = ", ".join(f"{c:.2f}" for c in sorted(got, reverse=True)[:4])
        print(f"  {kind:22s} {len(got):3d}/{args.per_kind}" + (f"   confidence {confs}" if got else ""))
    total = sum(len(v) for v in false.values())
    confident = sum(c >= 0.9 for v in false.values() for c in v)
    print(f"  {'all':22s} {total:3d}/{len(pages)} = {total / len(pages):.1%} ({confident} at confidence >= 0.9)")
    print("reasons given:")
    for why, count in reasons.most_common():
        print(f"  {count:5d}  {why}")
    real = Path(os.environ.get("DAFT_MNIST_DATA_DIR", ROOT.parent / "shared" / "data")) / "real-digits"
    if real.is_dir():
        from PIL import Image

        pictures = []
        for path in sorted(real.glob("*/*")):
            with Image.open(path) as im:
                im.load()
                pictures.append(np.asarray(im if im.mode in ("L", "RGB", "RGBA") else im.convert("RGB")))
        refused = [why for why in prepare_batch(pictures).reasons if why is not None]
        print(f"real digits refused: {len(refused)} of {len(pictures)} ({real})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
