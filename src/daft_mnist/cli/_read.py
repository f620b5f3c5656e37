"""``daft-mnist read``: read the handwritten number in each picture; with ``--labels``, score the readings.

``daft-mnist read PICTURES -o numbers.csv`` writes ``path, number, confidence, error`` (CSV or
Parquet). ``--labels labels.csv`` (columns ``file,number``: ``file`` is the picture's name or
its path relative to the folder) prints the exact-match rate, the digit error rate (edits per
digit) and both by number length; ``--mistakes grid.png`` draws each misread picture with the
boxes of the digits found and what was read.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from daft_mnist.cli._checks import UsageError, positive_int, writable

__all__ = ["add_read_parser"]


def add_read_parser(sub: Any, model_options: Any) -> None:
    """Add the ``read`` sub-command to ``sub`` (``model_options`` adds the shared model flags)."""
    rd = sub.add_parser("read", help="read the handwritten number in each picture (to CSV or Parquet)")
    rd.add_argument("pictures", nargs="+", metavar="PICTURES", help="image files, a folder, or a glob")
    rd.add_argument("--output", "-o", metavar="PATH", help="a .csv or .parquet file to write (path, number, ...)")
    rd.add_argument("--labels", metavar="CSV", help="file,number labels: print exact-match and digit error rates")
    rd.add_argument("--mistakes", metavar="PNG", help="with --labels: a grid of the misread pictures with their boxes")
    rd.add_argument("--max-mistakes", type=positive_int, default=48, help="pictures in the --mistakes grid")
    rd.add_argument("--min-confidence", type=float, default=None, help="abstain below this number confidence")
    model_options(rd, "not used by read (pictures only)")
    rd.set_defaults(func=run_read)


def _labels(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise UsageError(f"--labels: no such file: {path}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "number"} <= set(reader.fieldnames):
            raise UsageError(f"--labels {path}: expected columns 'file' and 'number', got {reader.fieldnames}")
        rows = {r["file"]: r["number"].strip() for r in reader}
    bad = [n for n in rows.values() if not n.isdigit()]
    if bad:
        raise UsageError(f"--labels {path}: a number must be digits only, got {bad[0]!r}")
    return rows


def _label_of(path: str, labels: dict[str, str]) -> str | None:
    p = Path(path.removeprefix("file://"))
    for key in (p.name, str(p)):
        if key in labels:
            return labels[key]
    for key, value in labels.items():
        if str(p).endswith("/" + key):
            return value
    return None


def run_read(args: argparse.Namespace) -> int:
    """The ``read`` command."""
    import daft_mnist
    from daft_mnist.cli._output import write_table
    from daft_mnist.model._number_reader import score_numbers
    from daft_mnist.numbers import read_numbers

    if args.output is None and args.labels is None:
        raise UsageError("read: give --output PATH (a .csv or .parquet file) or --labels CSV (or both)")
    if args.mistakes and not args.labels:
        raise UsageError("read: --mistakes needs --labels")
    taken: dict[str, Path] = {}
    output = writable(args.output, "--output", (".csv", ".parquet", ".pq"), taken=taken) if args.output else None
    if args.mistakes:
        writable(args.mistakes, "--mistakes", (".png", ".jpg", ".jpeg"), taken=taken)
    labels = _labels(Path(args.labels)) if args.labels else None
    source = args.pictures[0] if len(args.pictures) == 1 else list(args.pictures)
    df = daft_mnist.load_images(source, labels=None, on_error=args.on_error)
    options: dict[str, Any] = {
        "weights": args.weights,
        "sha256": args.sha256,
        "device": args.device,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "on_error": "null" if args.on_error == "null" else "raise",
        "min_confidence": args.min_confidence,
    }
    df = read_numbers(df, details=True, output="reading", **options)
    rows = df.select("path", "reading").to_pydict()
    paths, readings = rows["path"], rows["reading"]
    table = {
        "path": paths,
        "number": [r["number"] if r else None for r in readings],
        "confidence": [r["confidence"] if r else None for r in readings],
        "error": [r["error"] if r else None for r in readings],
    }
    if output is not None:
        import pyarrow as pa

        write_table(pa.table(table), output)
        print(f"wrote {len(paths)} numbers to {output}")
    if labels is None:
        return 0
    known: list[tuple[int, str]] = []
    for i, p in enumerate(paths):
        label = _label_of(p, labels)
        if label is not None:
            known.append((i, label))
    if not known:
        raise UsageError(f"--labels {args.labels}: no picture's name is in its 'file' column")
    truth = [t for _, t in known]
    read = [table["number"][i] for i, _ in known]
    s = score_numbers(truth, read)
    print(f"numbers: {s.count}  exact: {s.exact_rate:.1%}  digit error rate: {s.digit_error_rate:.1%}")
    for length in sorted(s.by_length):
        n, e = s.by_length[length]
        print(f"  {length} digits: {n:4d} numbers  exact {e / n:6.1%}")
    if args.mistakes:
        wrong = [(i, t) for i, t in known if table["number"][i] != t][: args.max_mistakes]
        _mistakes_grid(Path(args.mistakes), [(paths[i], t, readings[i]) for i, t in wrong])
    return 0


def _mistakes_grid(path: Path, wrong: list[tuple[str, str, dict[str, Any] | None]]) -> None:
    """Each misread picture (fitted in a 240x120 cell) with the digits' boxes, the label and the reading."""
    from PIL import Image, ImageDraw

    from daft_mnist.cli._output import save_image

    cell_w, cell_h, cols = 240, 150, 4
    rows = max(1, -(-len(wrong) // cols))
    grid = Image.new("RGB", (cell_w * cols, cell_h * rows), "white")
    draw = ImageDraw.Draw(grid)
    for k, (file, truth, reading) in enumerate(wrong):
        x, y = (k % cols) * cell_w, (k // cols) * cell_h
        with Image.open(file.removeprefix("file://")) as img:
            pic = img.convert("RGB")
        scale = min((cell_w - 10) / pic.width, (cell_h - 30) / pic.height)
        shown = pic.resize((max(1, round(pic.width * scale)), max(1, round(pic.height * scale))))
        grid.paste(shown, (x + 5, y + 25))
        for d in (reading or {}).get("digits") or []:
            box = [x + 5 + d["x0"] * scale, y + 25 + d["y0"] * scale, x + 5 + d["x1"] * scale, y + 25 + d["y1"] * scale]
            draw.rectangle(box, outline=(220, 0, 0))
            draw.text((box[0] + 1, box[1] + 1), str(d["digit"]), fill=(220, 0, 0))
        got = (reading or {}).get("number") or "-"
        draw.text((x + 5, y + 5), f"{Path(file).name[:22]}  {truth} -> {got}", fill=(0, 0, 160))
    save_image(grid, path)
    print(f"wrote {len(wrong)} misread pictures to {path}")
