"""``daft-mnist``: evaluate, classify, train and convert from the command line (calls only the public API).

Commands:
    evaluate [SOURCE]: per-label accuracy table, optional confusion-matrix and mistakes PNGs.
    classify SOURCE --output PATH: predictions with the label and a row id (or the file's
        path, for pictures), to Parquet or CSV.
    train [SOURCE] --output PATH --epochs N: trains, writes weights and a JSON of test metrics.
    convert SOURCE OUT.parquet: the checked data written once as Parquet, for fast repeat runs.
    read PICTURES -o numbers.csv [--labels CSV]: handwritten numbers of any length (``_read``).

SOURCE is MNIST data (``load_mnist``) or pictures of digits (``load_images``, prepared
MNIST-style): a folder of image files (``<label>/`` folders give labels), a glob, or one file.

A user mistake (missing file, bad option, unusable weights or data) prints one line on
stderr and exits non-zero (2 for a bad command line, 1 otherwise), never a traceback.
Every option is checked before any work starts (output suffixes and folders, outputs that
would overwrite an input, the device, the weights), every output is written atomically, and
credentials in URLs never reach the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import daft_mnist
from daft_mnist.cli._checks import (
    UsageError,
    add_overwrite,
    check_device,
    check_source,
    check_weights,
    input_paths,
    is_image_source,
    positive_float,
    positive_int,
    writable,
)
from daft_mnist.cli._output import collect_with_progress, print_report, save_image, write_table
from daft_mnist.cli._read import add_read_parser
from daft_mnist.data._files import display_path, file_sha256, redact_url, write_atomically

if TYPE_CHECKING:
    import daft

PROG = "daft-mnist"
TABLE_FORMATS = (".parquet", ".pq", ".csv")
IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {redact_url(message)} (see '{self.prog} --help')\n")


def _source_name(source: str | None, split: str) -> str:
    return source if source else f"the default {split} set"


# ---------------------------------------------------------------------------- output helpers


def _report(df: daft.DataFrame) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Per-label columns and the overall row of a classified, materialized frame."""
    by_label = daft_mnist.accuracy_by_label(df).to_pydict()
    overall = {k: v[0] for k, v in daft_mnist.overall_accuracy(df).to_pydict().items()}
    return by_label, overall


def _require_rows(overall: dict[str, Any], source: str) -> None:
    if not overall["num_rows"]:
        unlabeled = overall.get("unlabeled") or 0
        detail = f" ({unlabeled} rows, none with a label)" if unlabeled else ""
        raise daft_mnist.DataError(f"no rows to evaluate in {source}{detail}")


# ---------------------------------------------------------------------------- commands


def _loaded(args: argparse.Namespace, source: str | None, *, need_labels: bool) -> daft.DataFrame:
    """SOURCE as a lazy frame: MNIST data, or pictures (``path``, ``image``, ``label`` if known)."""
    if not is_image_source(source):
        return daft_mnist.load_mnist(source, split=args.split, on_error=args.on_error)
    from daft_mnist.io import load_images

    df = load_images(str(source), on_error=args.on_error)
    if need_labels and "label" not in df.column_names:
        raise daft_mnist.DataError(
            f"evaluate needs labels: {source} holds pictures but no <label>/ folders; put each picture in "
            "a folder named after its digit (0/ ... 9/), or use 'daft-mnist classify' for predictions alone"
        )
    return df


def _classified(
    args: argparse.Namespace, df: daft.DataFrame, *, confidence: bool = False, keep_prepared: bool = True
) -> daft.DataFrame:
    """Predictions; pictures' digits kept as ``image_2d`` or classified as they are (each row's own reason)."""
    pictures = "path" in df.column_names
    image = "image" if pictures and not keep_prepared else "image_2d"
    if image == "image_2d":
        df = daft_mnist.add_image_2d(df)
    details = confidence or args.on_error == "null"
    return daft_mnist.classify(
        df,
        image=image,
        details=details,
        reasons="load_error" if details and "load_error" in df.column_names else None,
        weights=args.weights,
        sha256=args.sha256,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        on_error=args.on_error,
    )


def _evaluate(args: argparse.Namespace) -> int:
    check_source(args.source, "SOURCE", "evaluate", pictures=True)
    inputs, taken = input_paths(args), dict[str, Path]()
    out = functools.partial(writable, inputs=inputs, taken=taken, sources=[args.source], overwrite=args.overwrite)
    plot = out(args.plot, "--plot", IMAGE_FORMATS) if args.plot else None
    mistakes = out(args.mistakes, "--mistakes", IMAGE_FORMATS) if args.mistakes else None
    check_device(args.device)
    check_weights(args)
    pictures = is_image_source(args.source)
    df = _classified(args, _loaded(args, args.source, need_labels=True))
    keep = ["path"] if pictures else []
    keep += ["image_2d", "label", "model_classification"] if mistakes else ["label", "model_classification"]
    df = df.select(*keep)
    if pictures:  # a folder of photos may take minutes: show files done and photos/s
        import daft

        df = daft.from_arrow(collect_with_progress(df))
    else:
        df = df.collect()
    by_label, overall = _report(df)
    _require_rows(overall, _source_name(args.source, args.split))
    print_report(by_label, overall)
    failed = df.where(df["model_classification"].is_null()).count_rows()
    if failed:
        what = "pictures had no digit to find or could not be read" if pictures else "rows were not valid MNIST"
        print(f"{failed} {what} (a null prediction, counted as wrong)")
    if plot is not None:
        save_image(daft_mnist.plot_confusion_matrix(df), plot)
        print(f"wrote confusion matrix to {plot}")
    if mistakes is not None and not overall["wrong"]:
        print(f"no mistakes: every labelled digit was classified right; {mistakes} was not written")
    elif mistakes is not None:
        wrong = daft_mnist.misclassified(df)
        if pictures:
            picture = _originals_beside_prepared(wrong.limit(args.max_mistakes))
        else:
            picture = daft_mnist.plot_digits(
                wrong, image="image_2d", prediction="model_classification", limit=args.max_mistakes
            )
        save_image(picture, mistakes)
        shown = min(int(overall["wrong"]), args.max_mistakes)
        print(f"wrote {shown} of {overall['wrong']} misclassified digits to {mistakes}")
    return 0


def _originals_beside_prepared(wrong: daft.DataFrame) -> Any:
    """The mistakes' original pictures (decoded again, only these) beside their prepared 28x28 digits."""
    from daft import col

    from daft_mnist.io import load_images
    from daft_mnist.plots import plot_prepared

    rows = wrong.to_pydict()
    if not rows["path"]:
        return plot_prepared(wrong.with_column("image", col("image_2d")))
    originals = load_images(rows["path"], labels=None).select("path", "image")
    joined = wrong.join(originals, on="path").sort("path")
    return plot_prepared(joined, limit=len(rows["path"]))


def _classify(args: argparse.Namespace) -> int:
    import pyarrow as pa

    check_source(args.source, "SOURCE", "classify", pictures=True)
    out = functools.partial(writable, inputs=input_paths(args), sources=[args.source], overwrite=args.overwrite)
    output = out(args.output, "--output", TABLE_FORMATS)
    check_device(args.device)
    check_weights(args)
    df = _loaded(args, args.source, need_labels=False)
    pictures = "path" in df.column_names
    names = (["path"] if pictures else []) + (["label"] if "label" in df.column_names else [])
    names.append("model_classification")
    if args.confidence:
        names.append("model_classification_confidence")
    if args.on_error == "null":
        names.append("model_classification_error")
    classified = _classified(args, df, confidence=args.confidence, keep_prepared=False).select(*names)
    table = collect_with_progress(classified) if pictures else classified.to_arrow()
    if not pictures:  # rows keep the source's order, so the id is the row's position in SOURCE
        table = table.add_column(0, "id", pa.array(range(table.num_rows), type=pa.int64()))
    write_table(table, output)
    print(f"wrote {table.num_rows} predictions to {output}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    check_source(args.source, "SOURCE", "train", pictures=False)
    check_source(args.test, "--test", "train", pictures=False)
    out = functools.partial(writable, inputs=input_paths(args), taken=dict[str, Path](), overwrite=args.overwrite)
    output = out(args.output, "--output", (".pt",))
    what = "--metrics" if args.metrics else "--metrics (default: --output with .json)"
    metrics = out(args.metrics or str(output.with_suffix(".json")), what, (".json",))
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
    print_report(by_label, overall)
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

    check_source(args.source, "SOURCE", "convert", pictures=False)
    out = writable(args.output, "OUT", (".parquet", ".pq"), inputs=input_paths(args), overwrite=args.overwrite)
    result = convert(args.source, out, split=args.split, on_error=args.on_error, overwrite=args.overwrite)
    print(f"wrote {result.num_rows} rows to {display_path(args.output)}")
    if result.null_images or result.null_labels:
        print(f"bad rows written as nulls: {result.null_images} images, {result.null_labels} labels")
    return 0


# ---------------------------------------------------------------------------- parser


def _add_model_options(p: argparse.ArgumentParser, split_help: str) -> None:
    p.add_argument("--split", choices=["test", "train"], default="test", help=split_help)
    p.add_argument("--weights", default=None, help="weights path or URL (default: the bundled weights)")
    p.add_argument("--sha256", default=None, help="expected SHA-256 of --weights (required for URLs)")
    p.add_argument("--batch-size", type=positive_int, default=1024, help="rows per model call (default: 1024)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument(
        "--precision",
        choices=["auto", "float32", "int8"],
        default="auto",
        help="auto: int8 on CPU for calibrated weights (the bundled ones), else float32 (default: auto)",
    )
    p.add_argument(
        "--on-error",
        choices=["raise", "null"],
        default="raise",
        help="a malformed row or unreadable picture: raise (default: stop with a one-line error naming it) or "
        "null (keep it with a null prediction; classify adds its reason as model_classification_error)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``daft-mnist`` argument parser (four sub-commands)."""
    parser = _Parser(
        prog=PROG,
        description="Classify MNIST digits with Daft: evaluate, classify, train and convert.",
        epilog="SOURCE: a .json[l][.gz] or .parquet file, an IDX file or folder, or a URL; "
        "default: $DAFT_MNIST_DATA_DIR's file, else the public test set. "
        "Or pictures of digits of any size (PNG, JPEG, ...): a folder (labels from <label>/ folders "
        "named 0-9), a glob such as 'scans/*.png', or one image file.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {daft_mnist.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser("evaluate", help="classify a dataset and print the per-label accuracy")
    ev.add_argument(
        "source",
        nargs="?",
        default=None,
        metavar="SOURCE",
        help="MNIST data, or a folder of pictures in <label>/ folders (default: the MNIST test set)",
    )
    _add_model_options(ev, "split read when SOURCE is omitted or is a folder of IDX files (default: test)")
    ev.add_argument("--plot", metavar="PNG", help="write a confusion-matrix heatmap to this image file (.png, ...)")
    ev.add_argument(
        "--mistakes",
        metavar="PNG",
        help="write a grid of misclassified digits to this image file (pictures: each original beside "
        "its prepared 28x28 digit)",
    )
    ev.add_argument(
        "--max-mistakes", type=positive_int, default=100, help="digits in the --mistakes grid (default: 100)"
    )
    add_overwrite(ev, "--plot and --mistakes")
    ev.set_defaults(func=_evaluate)

    cl = sub.add_parser(
        "classify", help="write predictions (with the label, and a row id or the picture's path) to Parquet or CSV"
    )
    cl.add_argument("source", metavar="SOURCE", help="MNIST data, or pictures (a folder, a glob, an image file)")
    cl.add_argument("--output", "-o", required=True, metavar="PATH", help="a .parquet or .csv file to write")
    cl.add_argument("--confidence", action="store_true", help="add the softmax probability of each prediction")
    _add_model_options(cl, "split read when SOURCE is a folder of IDX files (default: test)")
    add_overwrite(cl, "--output")
    cl.set_defaults(func=_classify)

    tr = sub.add_parser("train", help="train the CNN, write its weights and a JSON of its test metrics")
    tr.add_argument("source", nargs="?", default=None, metavar="SOURCE", help="training data (default: train set)")
    tr.add_argument("--output", "-o", required=True, metavar="PATH", help="weights file to write (.pt)")
    tr.add_argument("--metrics", metavar="JSON", help="test metrics file (default: PATH with .json)")
    tr.add_argument("--test", metavar="SOURCE", default=None, help="data to measure on (default: the test set)")
    tr.add_argument("--epochs", type=positive_int, default=12, help="passes over the data (default: 12)")
    tr.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    tr.add_argument("--batch-size", type=positive_int, default=128, help="mini-batch size (default: 128)")
    tr.add_argument("--learning-rate", type=positive_float, default=3e-3, help="peak learning rate (default: 0.003)")
    tr.add_argument("--no-augment", action="store_true", help="train without random affine augmentation")
    tr.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: all CPUs)")
    add_overwrite(tr, "--output and --metrics")
    tr.set_defaults(func=_train)

    co = sub.add_parser("convert", help="write the checked data once as Parquet, for fast repeat runs")
    co.add_argument("source", metavar="SOURCE", help="MNIST data to convert")
    co.add_argument("output", metavar="OUT", help="the .parquet (or .pq) file to write")
    co.add_argument("--split", choices=["test", "train"], default="test", help="split read from an IDX folder")
    co.add_argument("--on-error", choices=["raise", "null"], default="raise", help="null: write bad rows as nulls")
    add_overwrite(co, "OUT")
    co.set_defaults(func=_convert)
    add_read_parser(sub, _add_model_options)
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
