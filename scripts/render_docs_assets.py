"""Render the documentation's real outputs into ``docs/generated/`` (git-ignored): ``make docs``.

    python scripts/render_docs_assets.py [--weights PATH] [--output-dir docs/generated]

Runs the tutorial's steps (docs/tutorial.md) on the real 10,000-image test set with the
bundled weights (or ``--weights``, for development before they exist) and writes:

* pictures: ``digits.png``, ``mistakes.png``, ``least_confident.png``, ``confusion.png``,
  ``abstain.png`` (the coverage/accuracy trade-off of ``min_confidence``), ``neighbours.png``
  (each mistake beside its five nearest training images by embedding);
* Markdown snippets that the pages include: ``schema.md``, ``first_predictions.md``,
  ``accuracy_by_label.md``, ``overall_accuracy.md``, ``least_confident.md``,
  ``cli_evaluate.md``, ``abstain.md``, ``neighbours.md``, ``rendered_with.md``;
* for docs/own-digits.md, from ``$DAFT_MNIST_DATA_DIR/real-digits`` (placeholders when it is
  absent): ``own_digits_prepared.png``, ``own_digits_least_confident.png``,
  ``own_digits_accuracy.md``, ``own_digits_mistakes.md``, ``own_digits_blank.md``,
  ``cli_own_digits.md``.

Pictures of digits and row-level tables are derived from the data, so they are generated at
build time and never committed. Rerun after changing the weights; every file is rewritten.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import daft_mnist
from daft_mnist.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def markdown_table(data: dict[str, list[Any]], digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of a ``to_pydict()`` result."""
    names = list(data)

    def cell(v: Any) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---:" for _ in names) + "|"]
    for row in zip(*data.values(), strict=True):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write(out: Path, name: str, text: str) -> None:
    (out / name).write_text(text)
    print(f"wrote {out / name}")


ABSTAIN_THRESHOLDS = (0.5, 0.9, 0.95, 0.99, 0.999)


def render_abstain(classified: Any, out: Path) -> None:
    """``abstain.png`` and ``abstain.md``: answered rows' accuracy against coverage, as
    ``min_confidence`` rises, from a classified frame with labels and calibrated confidences."""
    import numpy as np
    from PIL import Image, ImageDraw

    from daft_mnist.training.calibration import abstain_curve, accuracy_at_coverage

    data = classified.select("label", "model_classification", "model_classification_confidence").to_pydict()
    conf = np.asarray(data["model_classification_confidence"], dtype=np.float64)
    correct = np.asarray(data["model_classification"]) == np.asarray(data["label"])
    curve = abstain_curve(conf, correct)
    rows = ["| min_confidence | coverage | answered | accuracy of answered rows |", "|---:|---:|---:|---:|"]
    at = abstain_curve(conf, correct, ABSTAIN_THRESHOLDS)
    for i, t in enumerate(at.threshold):
        rows.append(f"| {t:g} | {at.coverage[i]:.2%} | {at.answered[i]:,} | {at.accuracy[i]:.2%} |")
    for target in (0.95, 0.99):
        p = accuracy_at_coverage(conf, correct, target)
        rows.append(
            f"| {p.threshold:.4f} ({target:.0%} coverage) | {p.coverage:.2%} | {p.answered:,} | {p.accuracy:.2%} |"
        )
    write(out, "abstain.md", "\n".join(rows) + "\n")

    # A plain line chart: x = coverage (0.80-1.00), y = accuracy of the answered rows.
    w, h, left, bottom, top, right = 640, 400, 70, 50, 20, 20
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    x0, x1 = 0.80, 1.0
    finite = curve.accuracy[np.isfinite(curve.accuracy) & (curve.coverage >= x0)]
    y0 = float(np.floor((finite.min() if len(finite) else 0.99) * 1000) / 1000)
    y1 = 1.0

    def xy(cov: float, acc: float) -> tuple[float, float]:
        return (
            left + (cov - x0) / (x1 - x0) * (w - left - right),
            top + (y1 - acc) / max(y1 - y0, 1e-9) * (h - top - bottom),
        )

    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for k in range(5):
        cov = x0 + (x1 - x0) * k / 4
        x, _ = xy(cov, y0)
        draw.text((x - 12, h - bottom + 6), f"{cov:.0%}", fill="black")
        acc = y0 + (y1 - y0) * k / 4
        _, y = xy(x0, acc)
        draw.text((6, y - 6), f"{acc:.2%}", fill="black")
    keep = curve.coverage >= x0
    points = [xy(c, a) for c, a in zip(curve.coverage[keep], curve.accuracy[keep], strict=True) if np.isfinite(a)]
    if len(points) > 1:
        draw.line(points, fill=(31, 119, 180), width=2)
    for target in (0.95, 0.99):
        p = accuracy_at_coverage(conf, correct, target)
        x, y = xy(p.coverage, p.accuracy)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(214, 39, 40))
        draw.text((x - 60, y + 8), f"{p.coverage:.0%}: {p.accuracy:.2%}", fill=(214, 39, 40))
    draw.text((left + 150, h - 22), "coverage (rows answered) as min_confidence rises", fill="black")
    draw.text((left + 6, top + 4), "accuracy of the answered rows", fill="black")
    img.save(out / "abstain.png")
    print(f"wrote {out / 'abstain.png'}")


def render(weights: str | None, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # Step 1: load (lazy) and look at the first digits.
    df = daft_mnist.load_mnist()
    daft_mnist.plot_digits(df, limit=20).save(out / "digits.png")

    # Step 2: reshape the 784 pixels into 28x28 tensors.
    df = daft_mnist.add_image_2d(df)
    schema = "\n".join(f"{f.name}: {f.dtype}" for f in df.schema())
    write(out, "schema.md", f"```text\n{schema}\n```\n")

    # Step 3: classify, with the confidence of each prediction; materialize once.
    classified = daft_mnist.classify(df, weights=weights, details=True).collect()
    first = classified.select("label", "model_classification", "model_classification_confidence").limit(10)
    write(out, "first_predictions.md", markdown_table(first.to_pydict()))

    # Step 4: the mistakes.
    mistakes = daft_mnist.misclassified(classified)
    daft_mnist.plot_digits(mistakes, limit=30).save(out / "mistakes.png")

    # Step 5: analytics.
    write(out, "accuracy_by_label.md", markdown_table(daft_mnist.accuracy_by_label(classified).to_pydict()))
    write(out, "overall_accuracy.md", markdown_table(daft_mnist.overall_accuracy(classified).to_pydict()))
    daft_mnist.plot_confusion_matrix(classified).save(out / "confusion.png")

    # Step 6: the least confident predictions.
    least = classified.sort("model_classification_confidence").limit(20)
    daft_mnist.plot_digits(
        least,
        caption=lambda r: f"{r['label']} as {r['model_classification']} {r['model_classification_confidence']:.2f}",
    ).save(out / "least_confident.png")
    table = least.select("label", "model_classification", "model_classification_confidence").limit(5)
    write(out, "least_confident.md", markdown_table(table.to_pydict()))

    # Abstaining: min_confidence trades coverage for accuracy (calibrated confidences).
    render_abstain(classified, out)

    # The same report from the command line.
    argv = ["evaluate", "--plot", str(out / "cli_confusion.png")]
    if weights is not None:
        argv += ["--weights", weights]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli_main(argv)
    if rc != 0:
        raise SystemExit(f"daft-mnist {' '.join(argv)} failed with status {rc}")
    printed = buf.getvalue().replace(str(out / "cli_confusion.png"), "confusion.png")
    write(out, "cli_evaluate.md", f"```console\n$ daft-mnist evaluate --plot confusion.png\n{printed}```\n")

    # Why the model got these wrong: each mistake's five nearest training images (embeddings).
    render_neighbours(classified, weights, out)

    which = "the bundled weights" if weights is None else f"development weights `{Path(weights).name}`"
    note = (
        f'!!! note "Real output"\n    Rendered by `scripts/render_docs_assets.py` from the 10,000-image test set '
        f"with {which}, daft-mnist {daft_mnist.__version__}.\n"
    )
    if weights is not None:
        note += "    These are not the bundled weights: figures on this page are placeholders.\n"
    write(out, "rendered_with.md", note)
    print(f"rendered in {time.perf_counter() - t0:.1f}s")


def render_neighbours(classified: Any, weights: str | None, out: Path) -> None:
    """``neighbours.png``: one row per misclassified test image, then its 5 nearest training images.

    The embeddings (``embed_digit``) of the mistakes and of all 60,000 training images, then
    ``nearest``: a cross join with Daft's ``cosine_distance`` and ``row_number`` over a window
    per mistake; no Python loop over rows.
    """
    import daft
    from daft import col

    from daft_mnist.classifier import embed_digit
    from daft_mnist.neighbours import nearest

    t0 = time.perf_counter()
    mistakes = daft_mnist.misclassified(classified).select("image", "label", "model_classification")
    mistakes = mistakes.with_column("embedding", embed_digit(col("image"), weights=weights))
    train = daft_mnist.load_mnist(split="train")
    train = train.with_column("embedding", embed_digit(col("image"), weights=weights))
    found = nearest(mistakes, train, k=5).select(
        "image", "label", "model_classification", "neighbour_image", "neighbour_label", "distance", "rank"
    )
    rows = found.to_pydict()
    n_train = train.count_rows()
    seconds = time.perf_counter() - t0

    cells: dict[str, list[Any]] = {"image": [], "caption": []}
    n_mistakes = agree_pred = agree_true = 0
    for i, rank in enumerate(rows["rank"]):
        truth, pred, near = rows["label"][i], rows["model_classification"][i], rows["neighbour_label"][i]
        if rank == 1:
            n_mistakes += 1
            cells["image"].append(rows["image"][i])
            cells["caption"].append(f"{truth} as {pred}")
        cells["image"].append(rows["neighbour_image"][i])
        cells["caption"].append(f"{near}  {rows['distance'][i]:.2f}")
        agree_pred += near == pred
        agree_true += near == truth
    picture = daft_mnist.plot_digits(
        daft.from_pydict(cells), image="image", caption=lambda r: str(r["caption"]), limit=6 * n_mistakes, columns=6
    )
    # A gap with a rule between each mistake and its neighbours (the grid has 6 equal columns).
    from PIL import Image, ImageDraw

    cell, gap = picture.width // 6, 16
    framed = Image.new("L", (picture.width + gap, picture.height), 255)
    framed.paste(picture.crop((0, 0, cell, picture.height)), (0, 0))
    framed.paste(picture.crop((cell, 0, picture.width, picture.height)), (cell + gap, 0))
    ImageDraw.Draw(framed).line([(cell + gap // 2, 0), (cell + gap // 2, picture.height)], fill=128, width=2)
    framed.save(out / "neighbours.png")
    total = 5 * n_mistakes
    write(
        out,
        "neighbours.md",
        f"Of the {total} nearest training images of the {n_mistakes} mistakes, {agree_pred} carry the "
        f"predicted label and {agree_true} the true one. The search ({n_mistakes} x {n_train:,} = "
        f"{n_mistakes * n_train:,} cosine distances, the {n_train:,} training embeddings included) "
        f"took {seconds:.1f} s.\n",
    )


def source_of(path: str) -> str:
    """The contributor of a real-digits file (``<label>/<source>-<file>``)."""
    name = Path(path).name
    return name.split("-digit")[0] if name.startswith("floribau") else name.rsplit("-", 1)[0]


def render_own_digits(weights: str | None, out: Path) -> None:
    """The pictures and tables of docs/own-digits.md, from the real-digits folder."""
    from collections import defaultdict

    import daft
    import numpy as np
    from daft import DataType, col

    from daft_mnist.io import data_dir, load_images
    from daft_mnist.plots import plot_prepared

    folder = data_dir() / "real-digits" if data_dir() is not None else None
    if folder is None or not folder.is_dir():
        from PIL import Image

        missing = f"!!! warning\n    Not rendered: no real-digits folder at `{folder}`.\n"
        for name in ("own_digits_accuracy.md", "own_digits_mistakes.md", "cli_own_digits.md"):
            write(out, name, missing)
        for name in ("own_digits_prepared.png", "own_digits_least_confident.png"):
            Image.new("RGB", (200, 40), (255, 255, 255)).save(out / name)
    else:
        df = daft_mnist.add_image_2d(load_images(folder))
        naive = col("image").convert_image("L").resize(28, 28).cast(DataType.image("L", 28, 28))
        df = df.with_column("naive", naive)
        df = daft_mnist.classify(df, weights=weights, details=True)
        df = daft_mnist.classify(df, image="naive", output="naive_prediction", weights=weights).collect()
        data = df.select("path", "label", "model_classification", "naive_prediction").to_pydict()
        by: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
        for path, label, pred, naive_pred in zip(*data.values(), strict=True):
            by[source_of(path)].append((naive_pred == label, pred == label))
        rows: dict[str, list[Any]] = {"source": [], "pictures": [], "naive: grayscale + resize": [], "prepared": []}
        for source in sorted(by, key=lambda s: (-len(by[s]), s)):
            v = np.array(by[source])
            rows["source"].append(source)
            rows["pictures"].append(len(v))
            rows["naive: grayscale + resize"].append(f"{v[:, 0].mean():.1%}")
            rows["prepared"].append(f"{v[:, 1].mean():.1%}")
        every = np.array([o for v in by.values() for o in v])
        rows["source"].append("**all**")
        rows["pictures"].append(len(every))
        rows["naive: grayscale + resize"].append(f"**{every[:, 0].mean():.1%}**")
        rows["prepared"].append(f"**{every[:, 1].mean():.1%}**")
        write(out, "own_digits_accuracy.md", markdown_table(rows))

        # Two pictures of each source, originals beside their prepared digits.
        taken: dict[str, int] = defaultdict(int)
        chosen = []
        for path in data["path"]:
            if taken[source_of(path)] < 2:
                taken[source_of(path)] += 1
                chosen.append(path)
        sample = df.where(col("path").is_in(chosen)).sort("path")
        plot_prepared(sample, limit=len(chosen), columns=6).save(out / "own_digits_prepared.png")
        print(f"wrote {out / 'own_digits_prepared.png'}")

        wrong = daft_mnist.misclassified(df)
        count = wrong.count_rows()
        if count:
            plot_prepared(wrong, limit=30, columns=5).save(out / "own_digits_mistakes.png")
            picture = "![Mistakes](generated/own_digits_mistakes.png)"
            text = f"{count} of {len(every)} pictures are misclassified:\n\n{picture}\n"
        else:
            text = f"None: all {len(every)} pictures are classified right with {_which(weights)}.\n"
        write(out, "own_digits_mistakes.md", text)
        least = df.sort("model_classification_confidence").limit(10)
        plot_prepared(least, limit=10, columns=5).save(out / "own_digits_least_confident.png")
        print(f"wrote {out / 'own_digits_least_confident.png'}")

        argv = ["evaluate", str(folder)] + (["--weights", weights] if weights is not None else [])
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = cli_main(argv)
        if rc != 0:
            raise SystemExit(f"daft-mnist {' '.join(argv)} failed with status {rc}")
        write(out, "cli_own_digits.md", f"```console\n$ daft-mnist evaluate real-digits/\n{buf.getvalue()}```\n")

    # Pictures with no digit: synthetic, so always rendered.
    rng = np.random.default_rng(0)
    pages = {
        "a blank white page": np.full((120, 90, 3), 250, np.uint8),
        "a page of noise": rng.integers(90, 166, (120, 90, 3), dtype=np.uint8),
        "a black page": np.zeros((64, 64, 3), np.uint8),
    }
    frame = daft.from_pydict({"picture": list(pages), "image": list(pages.values())})
    frame = frame.with_column("image", col("image").cast(DataType.image("RGB")))
    result = daft_mnist.classify(frame, image="image", weights=weights, details=True)
    write(out, "own_digits_blank.md", markdown_table(result.exclude("image").to_pydict()))


def render_numbers(out: Path) -> None:
    """``numbers_boxes.png`` (every real number with the boxes of the digits read),
    ``numbers_mistakes.png`` and ``numbers_cli.md`` (``daft-mnist read`` scoring the folder)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from daft_mnist.cli import main as cli_main
    from daft_mnist.model._engine import ModelSpec, get_model
    from daft_mnist.model._number_reader import read_batch

    folder = Path(os.environ.get("DAFT_MNIST_DATA_DIR", ROOT.parent / "shared" / "data")) / "real-numbers"
    if not (folder / "labels.csv").is_file():
        print(f"skipped the numbers figures: {folder / 'labels.csv'} not found")
        write(out, "numbers_cli.md", f"(not rendered: {folder} was not found)\n")
        return
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    pictures = [Image.open(f).convert("RGB") for f in files]
    results = read_batch([np.asarray(p) for p in pictures], get_model(ModelSpec()))
    cell_w, cell_h, cols = 200, 130, 6
    grid = Image.new("RGB", (cell_w * cols, cell_h * -(-len(files) // cols)), "white")
    draw = ImageDraw.Draw(grid)
    for k, (pic, res) in enumerate(zip(pictures, results, strict=True)):
        x, y = (k % cols) * cell_w, (k // cols) * cell_h
        scale = min((cell_w - 10) / pic.width, (cell_h - 25) / pic.height)
        grid.paste(pic.resize((max(1, round(pic.width * scale)), max(1, round(pic.height * scale)))), (x + 5, y + 20))
        for d in res.digits if res is not None else []:
            box = [x + 5 + d.x0 * scale, y + 20 + d.y0 * scale, x + 5 + d.x1 * scale, y + 20 + d.y1 * scale]
            draw.rectangle(box, outline=(220, 0, 0))
        draw.text((x + 5, y + 4), f"read: {res.number if res is not None else '-'}", fill=(0, 0, 160))
    grid.save(out / "numbers_boxes.png")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli_main(
            [
                "read",
                str(folder),
                "--labels",
                str(folder / "labels.csv"),
                "--mistakes",
                str(out / "numbers_mistakes.png"),
            ]
        )
    printed = buf.getvalue().replace(str(out / "numbers_mistakes.png"), "mistakes.png")
    write(
        out,
        "numbers_cli.md",
        "```console\n$ daft-mnist read real-numbers/ --labels real-numbers/labels.csv --mistakes mistakes.png\n"
        f"{printed}```\n",
    )
    print(f"wrote {out / 'numbers_boxes.png'}")


def _which(weights: str | None) -> str:
    return "the bundled weights" if weights is None else f"development weights `{Path(weights).name}`"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=os.environ.get("DAFT_MNIST_DOCS_WEIGHTS"), help="default: bundled")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs" / "generated")
    args = parser.parse_args()
    try:
        render(args.weights, args.output_dir)
        render_own_digits(args.weights, args.output_dir)
        render_numbers(args.output_dir)
    except daft_mnist.DaftMnistError as exc:
        sys.exit(f"render_docs_assets: {exc}")


if __name__ == "__main__":
    main()
