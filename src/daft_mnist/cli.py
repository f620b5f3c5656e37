"""``daft-mnist``: evaluate, classify and train from the command line (calls only the public API).

Commands:
    evaluate [SOURCE]: per-label accuracy table, optional confusion-matrix and mistakes PNGs.
    classify SOURCE --output PATH: predictions with the label and a row id, to Parquet or CSV.
    train [SOURCE] --output PATH --epochs N: trains, writes weights and a JSON of test metrics.
    convert SOURCE OUT.parquet: the checked data written once as Parquet, for fast repeat runs.

A user mistake (missing file, bad option, unusable weights or data) prints one line on
stderr and exits non-zero (2 for a bad command line, 1 otherwise), never a traceback.
Every option is checked before any work starts (output suffixes and folders, outputs that
would overwrite an input, the device, the weights), every output is written atomically, and
credentials in URLs never reach the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import daft_mnist
from daft_mnist._files import display_path, file_sha256, is_remote, redact_url, same_file, write_atomically

if TYPE_CHECKING:
    import daft

PROG = "daft-mnist"
TABLE_FORMATS = (".parquet", ".pq", ".csv")
IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
REPORT_COLUMNS = ("label", "num_rows", "correct", "wrong", "accuracy")


class UsageError(Exception):
    """A command line that parses but cannot work (e.g. an output folder that does not exist)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {redact_url(message)} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _local_files(source: str | None) -> list[Path]:
    """The local files a source argument reads (a folder's files for an IDX folder); none for a URL."""
    if source is None or is_remote(source):
        return []
    p = Path(source.removeprefix("file://")).expanduser()
    if p.is_dir():
        return [f for f in p.iterdir() if f.is_file()]
    return [p]


def _inputs(args: argparse.Namespace) -> list[Path]:
    """Every local file the command reads: its sources (the default ones too) and its weights."""
    from daft_mnist.io import default_source

    if args.command == "train":
        sources = [args.source or default_source("train"), args.test or default_source("test")]
    else:
        sources = [args.source or default_source(args.split)]
    weights = getattr(args, "weights", None)
    return [f for src in [*sources, weights] for f in _local_files(src)]


def _writable(
    path: str,
    what: str,
    suffixes: Sequence[str] | None,
    *,
    inputs: Sequence[Path] = (),
    taken: dict[str, Path] | None = None,
) -> Path:
    """Check before the long work that ``path`` can be written.

    Its suffix is known, its folder exists, it is not a directory, it is not one of the
    command's ``inputs`` (same path once resolved, through symlinks, or the same file
    through a hard link), and not another output of the command (``taken``, which it joins).
    """
    p = Path(path).expanduser()
    shown = display_path(path)
    if p.is_dir():
        raise UsageError(f"{what} {shown!r} is a directory; expected a file path")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"{what} must end with one of {', '.join(suffixes)}; got {shown!r}")
    if not p.parent.is_dir():
        raise UsageError(f"{what} {shown!r}: folder {display_path(str(p.parent))!r} does not exist")
    for source in inputs:
        if same_file(p, source):
            raise UsageError(
                f"{what} {shown!r} is an input of this command ({display_path(str(source))}); "
                "refusing to write over it: choose another output path"
            )
    if taken is not None:
        for other, q in taken.items():
            if same_file(p, q):
                raise UsageError(f"{what} {shown!r} is also given as {other}; expected a different path for each")
        taken[what] = p
    return p


def _check_device(device: str) -> None:
    """An unknown or unavailable ``--device`` is a bad command line, found before any work."""
    from daft_mnist.model import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None


def _check_weights(args: argparse.Namespace) -> None:
    """Load the weights once before reading any data: missing, corrupt, foreign or non-finite weights fail first."""
    from daft_mnist.model import load_checkpoint
    from daft_mnist.weights import resolve_weights

    load_checkpoint(resolve_weights(args.weights, sha256=args.sha256))


def _source_name(source: str | None, split: str) -> str:
    return source if source else f"the default {split} set"


# ---------------------------------------------------------------------------- output helpers


def _format_table(columns: dict[str, list[Any]], names: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [[cell(v) for v in columns[n]] for n in names]
    widths = [max([len(n)] + [len(c) for c in col]) for n, col in zip(names, cells, strict=True)]
    lines = ["  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in zip(*cells, strict=True):
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _report(df: daft.DataFrame) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Per-label columns and the overall row of a classified, materialized frame."""
    by_label = daft_mnist.accuracy_by_label(df).to_pydict()
    overall = {k: v[0] for k, v in daft_mnist.overall_accuracy(df).to_pydict().items()}
    return by_label, overall


def _print_report(by_label: dict[str, list[Any]], overall: dict[str, Any]) -> None:
    rows = {name: [*by_label[name], overall.get(name, "all")] for name in REPORT_COLUMNS}
    text = _format_table(rows, REPORT_COLUMNS).splitlines()
    # A rule above the overall row, which is labelled "all".
    print("\n".join([*text[:-1], text[1], text[-1]]))
    if overall.get("unlabeled"):
        print(f"{overall['unlabeled']} rows without a label were left out of the report")


def _require_rows(overall: dict[str, Any], source: str) -> None:
    if not overall["num_rows"]:
        unlabeled = overall.get("unlabeled") or 0
        detail = f" ({unlabeled} rows, none with a label)" if unlabeled else ""
        raise daft_mnist.DataError(f"no rows to evaluate in {source}{detail}")


def _save_image(picture: Any, path: Path) -> None:
    from PIL import Image

    Image.init()
    fmt = Image.registered_extensions()[path.suffix.lower()]
    write_atomically(path, lambda out: picture.save(out, format=fmt))


def _write_table(table: Any, path: Path) -> None:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if path.suffix.lower() == ".csv":
        write_atomically(path, lambda out: pa_csv.write_csv(table, out))
    else:
        write_atomically(path, lambda out: pq.write_table(table, out))


# ---------------------------------------------------------------------------- commands


def _classified(args: argparse.Namespace, source: str | None, *, confidence: bool = False) -> daft.DataFrame:
    df = daft_mnist.load_mnist(source, split=args.split)
    df = daft_mnist.add_image_2d(df)
    return daft_mnist.classify(
        df,
        weights=args.weights,
        sha256=args.sha256,
        batch_size=args.batch_size,
        device=args.device,
        confidence=confidence,
        precision=args.precision,
    )


def _evaluate(args: argparse.Namespace) -> int:
    inputs, taken = _inputs(args), dict[str, Path]()
    plot = _writable(args.plot, "--plot", IMAGE_FORMATS, inputs=inputs, taken=taken) if args.plot else None
    mistakes = (
        _writable(args.mistakes, "--mistakes", IMAGE_FORMATS, inputs=inputs, taken=taken) if args.mistakes else None
    )
    _check_device(args.device)
    _check_weights(args)
    df = _classified(args, args.source)
    keep = ["image_2d", "label", "model_classification"] if mistakes else ["label", "model_classification"]
    df = df.select(*keep).collect()
    by_label, overall = _report(df)
    _require_rows(overall, _source_name(args.source, args.split))
    _print_report(by_label, overall)
    if plot is not None:
        _save_image(daft_mnist.plot_confusion_matrix(df), plot)
        print(f"wrote confusion matrix to {plot}")
    if mistakes is not None:
        wrong = daft_mnist.misclassified(df)
        picture = daft_mnist.plot_digits(
            wrong, image="image_2d", prediction="model_classification", limit=args.max_mistakes
        )
        _save_image(picture, mistakes)
        shown = min(int(overall["wrong"]), args.max_mistakes)
        print(f"wrote {shown} of {overall['wrong']} misclassified digits to {mistakes}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    import pyarrow as pa

    output = _writable(args.output, "--output", TABLE_FORMATS, inputs=_inputs(args))
    _check_device(args.device)
    _check_weights(args)
    df = _classified(args, args.source, confidence=args.confidence)
    names = ["label", "model_classification"]
    if args.confidence:
        names.append("model_classification_confidence")
    table = df.select(*names).to_arrow()
    # Rows keep the source's order, so the id is the row's position in SOURCE.
    table = table.add_column(0, "id", pa.array(range(table.num_rows), type=pa.int64()))
    _write_table(table, output)
    print(f"wrote {table.num_rows} predictions to {output}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    inputs, taken = _inputs(args), dict[str, Path]()
    output = _writable(args.output, "--output", (".pt",), inputs=inputs, taken=taken)
    metrics = _writable(
        args.metrics or str(output.with_suffix(".json")),
        "--metrics" if args.metrics else "--metrics (default: --output with .json)",
        (".json",),
        inputs=inputs,
        taken=taken,
    )
    train_df = daft_mnist.load_mnist(args.source, split="train")
    test_df = daft_mnist.load_mnist(args.test, split="test")  # checked now, used after training
    if test_df.limit(1).count_rows() == 0:  # before the training, not after it
        raise daft_mnist.DataError(f"no rows to evaluate in {_source_name(args.test, 'test')} (--test)")

    with tqdm(total=args.epochs, unit="epoch", desc="training", file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(stats: Any) -> None:
            bar.set_postfix(loss=f"{stats.loss:.4f}", train_acc=f"{stats.train_accuracy:.4f}")
            bar.update(1)

        result = daft_mnist.train(
            train_df,
            epochs=args.epochs,
            seed=args.seed,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            augment=not args.no_augment,
            num_threads=args.threads,
            progress=progress,
        )
    result.metadata["command"] = redact_url(" ".join([PROG, *args.argv]))
    result.save(output)
    print(f"wrote weights to {output}")

    df = daft_mnist.add_image_2d(test_df)
    df = daft_mnist.classify(df, weights=output).select("label", "model_classification").collect()
    by_label, overall = _report(df)
    _require_rows(overall, _source_name(args.test, "test"))
    _print_report(by_label, overall)
    report = {
        "weights": str(output),
        "sha256": file_sha256(output),
        "test_source": redact_url(args.test) if args.test else "default test set",
        "overall": overall,
        "by_label": [dict(zip(by_label, row, strict=True)) for row in zip(*by_label.values(), strict=True)],
        "training": result.metadata,
    }
    text = json.dumps(report, indent=2) + "\n"
    write_atomically(metrics, lambda out: out.write(text.encode()))
    print(f"wrote test metrics to {metrics}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from daft_mnist.io import convert

    out = _writable(args.output, "OUT", (".parquet", ".pq"), inputs=_inputs(args))
    if (out.exists() or out.is_symlink()) and not args.overwrite:
        raise UsageError(f"OUT {display_path(args.output)!r} already exists; pass --overwrite to replace it")
    result = convert(args.source, out, split=args.split, on_error=args.on_error, overwrite=args.overwrite)
    print(f"wrote {result.num_rows} rows to {display_path(args.output)}")
    if result.null_images or result.null_labels:
        print(f"bad rows written as nulls: {result.null_images} images, {result.null_labels} labels")
    return 0


# ---------------------------------------------------------------------------- parser


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", choices=["test", "train"], default="test", help="split read when SOURCE is omitted")
    p.add_argument("--weights", default=None, help="weights path or URL (default: the bundled weights)")
    p.add_argument("--sha256", default=None, help="expected SHA-256 of --weights (required for URLs)")
    p.add_argument("--batch-size", type=_positive_int, default=1024, help="rows per model call (default: 1024)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument(
        "--precision",
        choices=["auto", "float32", "int8"],
        default="auto",
        help="auto: int8 on CPU for calibrated weights (the bundled ones), else float32 (default: auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``daft-mnist`` argument parser (three sub-commands)."""
    parser = _Parser(
        prog=PROG,
        description="Classify MNIST digits with Daft: evaluate, classify and train.",
        epilog="SOURCE: a .json[l][.gz] or .parquet file, an IDX file or folder, or a URL; "
        "default: $DAFT_MNIST_DATA_DIR's file, else the public test set.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {daft_mnist.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser("evaluate", help="classify a dataset and print the per-label accuracy")
    ev.add_argument("source", nargs="?", default=None, metavar="SOURCE", help="MNIST data (default: the test set)")
    _add_model_options(ev)
    ev.add_argument("--plot", metavar="PNG", help="write a confusion-matrix heatmap to this image file (.png, ...)")
    ev.add_argument("--mistakes", metavar="PNG", help="write a grid of misclassified digits to this image file")
    ev.add_argument(
        "--max-mistakes", type=_positive_int, default=100, help="digits in the --mistakes grid (default: 100)"
    )
    ev.set_defaults(func=_evaluate)

    cl = sub.add_parser("classify", help="write predictions (with the label and a row id) to Parquet or CSV")
    cl.add_argument("source", metavar="SOURCE", help="MNIST data to classify")
    cl.add_argument("--output", "-o", required=True, metavar="PATH", help="a .parquet or .csv file to write")
    cl.add_argument("--confidence", action="store_true", help="add the softmax probability of each prediction")
    _add_model_options(cl)
    cl.set_defaults(func=_classify)

    tr = sub.add_parser("train", help="train the CNN, write its weights and a JSON of its test metrics")
    tr.add_argument("source", nargs="?", default=None, metavar="SOURCE", help="training data (default: train set)")
    tr.add_argument("--output", "-o", required=True, metavar="PATH", help="weights file to write (.pt)")
    tr.add_argument("--metrics", metavar="JSON", help="test metrics file (default: PATH with .json)")
    tr.add_argument("--test", metavar="SOURCE", default=None, help="data to measure on (default: the test set)")
    tr.add_argument("--epochs", type=_positive_int, default=12, help="passes over the data (default: 12)")
    tr.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    tr.add_argument("--batch-size", type=_positive_int, default=128, help="mini-batch size (default: 128)")
    tr.add_argument("--learning-rate", type=_positive_float, default=3e-3, help="peak learning rate (default: 0.003)")
    tr.add_argument("--no-augment", action="store_true", help="train without random affine augmentation")
    tr.add_argument("--threads", type=_positive_int, default=None, help="torch threads (default: all CPUs)")
    tr.set_defaults(func=_train)

    co = sub.add_parser("convert", help="write the checked data once as Parquet, for fast repeat runs")
    co.add_argument("source", metavar="SOURCE", help="MNIST data to convert")
    co.add_argument("output", metavar="OUT", help="the .parquet (or .pq) file to write")
    co.add_argument("--split", choices=["test", "train"], default="test", help="split read from an IDX folder")
    co.add_argument("--on-error", choices=["raise", "null"], default="raise", help="null: write bad rows as nulls")
    co.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (never an input)")
    co.set_defaults(func=_convert)
    return parser


@contextlib.contextmanager
def _quiet_daft_errors() -> Iterator[None]:
    """Daft logs a failing pipeline node before re-raising; the CLI reports the error itself."""
    logger = logging.getLogger("daft_local_execution")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _redacted_logs() -> Iterator[None]:
    """While the command runs, every log record (the library's, Daft's) has URL credentials scrubbed."""
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return record
        redacted = redact_url(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


def _one_line(exc: BaseException, args: argparse.Namespace) -> str:
    """The error as one line, with credentials scrubbed from any URL in it (the last line of defence)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, daft_mnist.DaftMnistError):
        return redact_url(text)  # the library's messages name the file, column or row already
    source = getattr(args, "source", None) or f"the default {getattr(args, 'split', 'test')} set"
    return redact_url(f"{type(exc).__name__}: {text} (while processing {source})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``daft-mnist`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        0 on success, 1 when the work failed on a user mistake, 2 for a bad command line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad command line (already reported)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    args.argv = argv
    try:
        with _quiet_daft_errors(), _redacted_logs():
            return int(args.func(args))
    except UsageError as exc:
        print(f"{PROG}: error: {redact_url(' '.join(str(exc).split()))}", file=sys.stderr)
        return 2
    except (daft_mnist.DaftMnistError, ValueError, OSError) as exc:
        print(f"{PROG}: error: {_one_line(exc, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
