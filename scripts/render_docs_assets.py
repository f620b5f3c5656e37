"""Render the documentation's real outputs into ``docs/generated/`` (git-ignored): ``make docs``.

    python scripts/render_docs_assets.py [--weights PATH] [--output-dir docs/generated]

Runs the tutorial's steps (docs/tutorial.md) on the real 10,000-image test set with the
bundled weights (or ``--weights``, for development before they exist) and writes:

* pictures: ``digits.png``, ``mistakes.png``, ``least_confident.png``, ``confusion.png``;
* Markdown snippets that the pages include: ``schema.md``, ``first_predictions.md``,
  ``accuracy_by_label.md``, ``overall_accuracy.md``, ``least_confident.md``,
  ``cli_evaluate.md``, ``rendered_with.md``;
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
    classified = daft_mnist.classify(df, weights=weights, confidence=True).collect()
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

    which = "the bundled weights" if weights is None else f"development weights `{Path(weights).name}`"
    note = (
        f'!!! note "Real output"\n    Rendered by `scripts/render_docs_assets.py` from the 10,000-image test set '
        f"with {which}, daft-mnist {daft_mnist.__version__}.\n"
    )
    if weights is not None:
        note += "    These are not the bundled weights: figures on this page are placeholders.\n"
    write(out, "rendered_with.md", note)
    print(f"rendered in {time.perf_counter() - t0:.1f}s")


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
        df = daft_mnist.classify(df, weights=weights, confidence=True)
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
    result = daft_mnist.classify(frame, image="image", weights=weights, confidence=True)
    write(out, "own_digits_blank.md", markdown_table(result.exclude("image").to_pydict()))


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
    except daft_mnist.DaftMnistError as exc:
        sys.exit(f"render_docs_assets: {exc}")


if __name__ == "__main__":
    main()
