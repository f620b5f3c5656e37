"""Issue #19: clear errors instead of internals or misleading words (picture folders, reports, first steps)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from daft_mnist import load_images
from daft_mnist.errors import DataError, OptionError


def save(path: Path, arr: np.ndarray | None = None, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(np.full((30, 20), 200, np.uint8) if arr is None else arr)
    picture.save(path, format=fmt)
    return path


# ---------------------------------------------------------------------------- listing pictures


@pytest.mark.parametrize("name", ["²", "٣", "0a", "07", "-1", " 3", "\uff13"])  # \uff13: a fullwidth 3
def test_a_label_folder_that_is_not_an_ascii_digit_is_a_data_error_naming_it(tmp_path: Path, name: str) -> None:
    save(tmp_path / "d" / "1" / "a.png")
    save(tmp_path / "d" / name / "b.png")
    with pytest.raises(DataError, match=rf"cannot infer labels: files sit in folders \[{name!r}\]"):
        load_images(tmp_path / "d")


@pytest.mark.parametrize("pattern", ["*.png", "sub/**/*.jpg", "nothing[0-9].png"])
def test_a_glob_that_matches_nothing_says_so(tmp_path: Path, pattern: str) -> None:
    save(tmp_path / "x.jpg")
    with pytest.raises(DataError, match=r": no files match \(expected files ending in \.png"):
        load_images(str(tmp_path / "empty" / pattern))


def test_folders_and_globs_skip_hidden_and_appledouble_files_alike(tmp_path: Path) -> None:
    root = tmp_path / "d"
    save(root / "3" / "a.png")
    save(root / "3" / ".hidden.png")
    (root / "3" / "._a.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # what macOS leaves on other disks
    want = [str(root / "3" / "a.png")]
    for source in (root, str(root / "*" / "*.png"), str(root / "**" / "*.png"), str(root / "3" / "._*.png*")):
        if str(source).endswith("._*.png*"):
            with pytest.raises(DataError, match="no files match"):
                load_images(source)
            continue
        assert load_images(source).to_pydict()["path"] == want, source


def test_the_path_column_is_absolute_from_a_folder_a_glob_and_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(tmp_path / "d" / "5" / "a.png")
    monkeypatch.chdir(tmp_path)
    want = [str(tmp_path / "d" / "5" / "a.png")]
    for source in ("d", "d/", "d/*/*.png", "d/**/*.png", ["d/5/a.png"], "d/5/a.png", "./d/5/../5/a.png"):
        data = load_images(source).to_pydict()  # type: ignore[arg-type]
        assert data["path"] == want, source
        assert data["label"] == [5], source


def test_a_dangling_link_or_a_link_loop_is_named(tmp_path: Path) -> None:
    root = tmp_path / "d"
    save(root / "4" / "a.png")
    os.symlink(tmp_path / "gone.png", root / "4" / "b.png")
    with pytest.raises(DataError, match=r"4/b\.png: a symbolic link to .*gone\.png', which does not exist"):
        load_images(root)
    with pytest.raises(DataError, match=r"b\.png: a symbolic link to"):
        load_images(str(root / "4" / "*.png"))
    with pytest.raises(DataError, match=r"b\.png: a symbolic link to"):
        load_images([str(root / "4" / "b.png")])
    os.remove(root / "4" / "b.png")
    os.symlink(root / "4" / "c.png", root / "4" / "c.png")
    with pytest.raises(DataError, match=r"c\.png: a symbolic link loop"):
        load_images(root)


def test_a_missing_source_says_it_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"image source not found: .*nope \(no such file or folder"):
        load_images(tmp_path / "nope")


@pytest.mark.parametrize("bad", [None.__class__, 3, 2.5, "all", b"infer"])  # numpy arrays and tuples are fine
def test_load_images_labels_option_is_checked(tmp_path: Path, bad: object) -> None:
    save(tmp_path / "d" / "1" / "a.png")
    with pytest.raises(OptionError, match=r"^labels: expected 'infer', a sequence of labels 0-9"):
        load_images(tmp_path / "d", labels=bad)  # type: ignore[arg-type]
    files = [str(tmp_path / "d" / "1" / "a.png")]
    assert load_images(files, labels=np.array([4])).to_pydict()["label"] == [4]
    assert load_images(files, labels=(5,)).to_pydict()["label"] == [5]


@pytest.mark.parametrize(("suffix", "mode"), [(".pgm", "L"), (".ppm", "RGB"), (".pbm", "1")])
def test_pnm_pictures_listed_as_pictures_decode(tmp_path: Path, suffix: str, mode: str) -> None:
    """Listed as picture suffixes, so they must decode (Daft's decode_image cannot; the Pillow decoder does)."""
    from daft_mnist.data._image_files import IMAGE_SUFFIXES
    from daft_mnist.io import load_images as load

    assert suffix in IMAGE_SUFFIXES
    Image.fromarray(np.full((30, 20), 200, np.uint8)).convert(mode).save(tmp_path / f"a{suffix}")
    assert load(tmp_path).to_pydict()["image"][0] is not None


# ---------------------------------------------------------------------------- messages that are true


@given(st.floats(0, 1), st.floats(0, 1))
def test_an_abstention_reason_shows_the_confidence_below_the_threshold(confidence: float, threshold: float) -> None:
    from daft_mnist._udf import abstain_reason

    assume(confidence < threshold)
    reason = abstain_reason(confidence, threshold)
    match = re.fullmatch(r"confidence (\S+) below min_confidence (\S+)", reason)
    assert match is not None, reason
    shown, shown_min = float(match[1]), float(match[2])
    assert shown < shown_min, reason
    assert shown_min == threshold, reason
    assert len(match[1].split(".")[-1]) >= 2


def test_abstention_reasons_read_as_before_when_two_digits_are_enough() -> None:
    from daft_mnist._udf import abstain_reason

    assert abstain_reason(0.42, 0.9) == "confidence 0.42 below min_confidence 0.9"
    assert abstain_reason(0.99989, 0.9999) == "confidence 0.99989 below min_confidence 0.9999"
    assert abstain_reason(0.999999, 0.9999999) == "confidence 0.999999 below min_confidence 0.9999999"


# ---------------------------------------------------------------------------- the command line


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", ["evaluate", "classify", "train", "convert"])
def test_a_source_that_does_not_exist_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from daft_mnist.cli import main

    out = {"classify": ["-o", str(tmp_path / "p.csv")], "train": ["-o", str(tmp_path / "w.pt")]}.get(command, [])
    out += [str(tmp_path / "out.parquet")] if command == "convert" else []
    assert main([command, str(tmp_path / "nosuch") + "/", *out]) == 1
    line = _error_line(capsys)
    assert "nosuch/' does not exist (no such file or folder)" in line, line
    assert "IDX" not in line


@pytest.mark.parametrize("command", ["train", "convert"])
def test_commands_that_read_mnist_data_say_a_folder_of_pictures_is_not_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from daft_mnist.cli import main

    save(tmp_path / "pics" / "3" / "a.png")
    out = ["-o", str(tmp_path / "w.pt")] if command == "train" else [str(tmp_path / "out.parquet")]
    assert main([command, str(tmp_path / "pics"), *out]) == 1
    line = _error_line(capsys)
    assert f"{command} reads MNIST data, not pictures: SOURCE" in line, line
    assert "is a folder of pictures" in line
    assert "'daft-mnist classify'" in line
    if command == "train":
        assert main(["train", "-o", str(tmp_path / "w.pt"), "--test", str(tmp_path / "pics" / "3" / "a.png")]) == 1
        assert "--test" in _error_line(capsys)


def test_load_mnist_on_a_folder_of_pictures_says_what_it_is(tmp_path: Path) -> None:
    from daft_mnist import load_mnist

    save(tmp_path / "pics" / "3" / "a.png")
    with pytest.raises(DataError, match=r"pics: a folder of pictures, not MNIST data \(load_mnist reads .*load_images"):
        load_mnist(tmp_path / "pics")


def test_split_help_matches_what_each_command_takes(capsys: pytest.CaptureFixture[str]) -> None:
    from daft_mnist.cli import build_parser

    parser = build_parser()
    for command in ("classify", "evaluate"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "SOURCE is a folder of IDX files" in text or "is a folder of IDX files" in text
        if command == "classify":
            assert "when SOURCE is omitted" not in text


# ---------------------------------------------------------------------------- reports: one rule for values


REPORTS = ["accuracy_by_label", "overall_accuracy", "confusion_matrix", "misclassified", "plot_confusion_matrix"]


def _run_report(name: str, df: object) -> object:
    import daft_mnist

    out = getattr(daft_mnist, name)(df)
    return out.to_pydict() if hasattr(out, "to_pydict") else out


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from(REPORTS),
    st.sampled_from(["label", "model_classification"]),
    st.one_of(st.integers(10, 1000), st.integers(-1000, -1), st.floats(0.1, 8.9).filter(lambda x: x != int(x))),
    st.integers(0, 5),
)
def test_every_report_refuses_values_that_are_not_digits_naming_the_rows(
    report: str, column: str, bad: float, where: int
) -> None:
    import daft

    values = {"label": [3, 4, None, 5, 6, 7], "model_classification": [3, 9, 1, None, 6, 7]}
    values[column][where] = bad
    df = daft.from_pydict(values)
    what = "labels" if column == "label" else "predictions"
    step = "confusion_matrix" if report == "plot_confusion_matrix" else report
    reason = rf"expected an integer {what[:-1]} 0-9, got "
    pattern = rf"{step}: column '{column}': 1 of 6 {what} are not digits 0-9 \(row {where} .*: {reason}"
    with pytest.raises(DataError, match=pattern):
        _run_report(report, df)


@pytest.mark.parametrize("report", REPORTS)
def test_null_typed_label_and_prediction_columns_are_missing_values(report: str) -> None:
    import daft

    no_labels = daft.from_pydict({"label": [None, None], "model_classification": [1, 2]})
    no_predictions = daft.from_pydict({"label": [1, 2], "model_classification": [None, None]})
    assert str(no_labels.schema()["label"].dtype) == "Null"
    _run_report(report, no_labels)  # no "Cannot groupby on null type"
    _run_report(report, no_predictions)
    from daft_mnist import overall_accuracy

    assert overall_accuracy(no_labels).to_pydict()["unlabeled"] == [2]
    assert overall_accuracy(no_predictions).to_pydict()["wrong"] == [2]


@pytest.mark.parametrize("on_error", ["raise", "null"])
def test_a_null_typed_column_gives_nulls_in_every_picture_step(on_error: str) -> None:
    import daft

    import daft_mnist as dm

    df = daft.from_pydict({"image": [None, None, None]})
    assert str(df.schema()["image"].dtype) == "Null"
    for step in (dm.mnist_style, dm.image_2d, dm.to_image, dm.checked_pixels):
        assert df.select(step(df["image"], on_error=on_error)).to_pydict()["image"] == [None] * 3, step.__name__
    assert dm.add_image_2d(df, on_error=on_error).to_pydict()["image_2d"] == [None] * 3  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- first steps


def test_picture_grid_captions_keep_the_end_of_long_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageDraw

    from daft_mnist import add_image_2d
    from daft_mnist.plots import plot_prepared

    digit = np.full((40, 30), 230, np.uint8)
    digit[5:35, 12:18] = 20
    names = [f"zero_written_by_hand_take_{i}_cropped.png" for i in range(6)]  # cut in the middle: all alike
    for name in names:
        save(tmp_path / "d" / name, digit)
    drawn: list[str] = []
    original = ImageDraw.ImageDraw.text

    def text(self: ImageDraw.ImageDraw, xy: object, text: str, *args: object, **kwargs: object) -> None:
        drawn.append(text)
        original(self, xy, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    plot_prepared(add_image_2d(load_images(tmp_path / "d")))
    captions = [t for t in drawn if ".png" in t]
    assert len(captions) == 6
    assert len(set(captions)) == 6, captions  # six files, six different captions
    assert all(c.endswith(f"take_{i}_cropped.png") and len(c) <= 24 for i, c in enumerate(captions)), captions


def test_without_the_variable_load_mnist_finds_shared_data_beside_the_project_or_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import daft_mnist.io as io

    monkeypatch.delenv("DAFT_MNIST_DATA_DIR", raising=False)
    project, elsewhere = tmp_path / "work" / "project", tmp_path / "elsewhere" / "notebooks"
    shared = tmp_path / "work" / "shared" / "data"
    for folder in (project, elsewhere, shared):
        folder.mkdir(parents=True)
    (shared / io.FILENAMES["test"]).write_bytes(b"")
    monkeypatch.setattr(io, "_project_root", lambda: None)
    monkeypatch.chdir(project)  # `python` started in the project, as the README says
    assert io.default_source("test") == str(shared / io.FILENAMES["test"])
    assert io.load_mnist().count_rows() == 0  # the empty local file, no download
    monkeypatch.chdir(elsewhere)  # a notebook elsewhere, the package installed from the project
    assert io.default_source("test") == io.TEST_URL
    monkeypatch.setattr(io, "_project_root", lambda: project)
    assert io.default_source("test") == str(shared / io.FILENAMES["test"])
    assert io.local_data_dirs() == [tmp_path / "elsewhere" / "shared" / "data", shared]


def test_when_the_download_fails_the_error_says_how_to_use_a_local_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import daft_mnist.io as io

    monkeypatch.delenv("DAFT_MNIST_DATA_DIR", raising=False)
    monkeypatch.setenv("DAFT_MNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(io, "_project_root", lambda: None)
    monkeypatch.setitem(io._URLS, "test", "http://127.0.0.1:9/mnist_handwritten_test.json.gz")  # refused at once
    with pytest.raises(DataError) as info:
        io.load_mnist()
    message = str(info.value)
    assert "no local copy of mnist_handwritten_test.json.gz was found (looked in " in message
    assert "set $DAFT_MNIST_DATA_DIR to the folder that holds it, or pass its path" in message
    with pytest.raises(DataError) as given:  # a URL the user gave: their own error, no advice about copies
        io.load_mnist("http://127.0.0.1:9/mine.json.gz")
    assert "no local copy" not in str(given.value)


def test_load_mnist_says_a_glob_matches_nothing_and_a_path_does_not_exist(tmp_path: Path) -> None:
    from daft_mnist import load_mnist

    with pytest.raises(DataError, match=r"MNIST source not found: .*/\*\.parquet no files match \(expected"):
        load_mnist(tmp_path / "*.parquet")
    with pytest.raises(DataError, match=r"MNIST source not found: .*/nope\.json does not exist \(expected"):
        load_mnist(tmp_path / "nope.json")
