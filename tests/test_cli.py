from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from PIL import Image

import daft_mnist
from daft_mnist.cli import build_parser, main
from daft_mnist.model import load_model
from daft_mnist.network import Net

ROOT = Path(__file__).resolve().parents[1]
TinyJson = Callable[..., tuple[Path, np.ndarray, np.ndarray]]


def _expected_predictions(source: Path, weights: Path) -> list[int]:
    df = daft_mnist.classify(daft_mnist.add_image_2d(daft_mnist.load_mnist(source)), weights=weights)
    return list(df.select("model_classification").to_pydict()["model_classification"])


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert lines[0].startswith("daft-mnist: error: ")
    assert "Traceback" not in err
    return lines[0]


def _table_rows(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) == 5 and (cells[0].isdigit() or cells[0] == "all"):
            rows[cells[0]] = cells[1:]
    return rows


def test_evaluate_prints_the_report_and_writes_both_pictures(
    tiny_json: TinyJson, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _, labels = tiny_json(n=40, seed=5)
    plot, mistakes = tmp_path / "cm.png", tmp_path / "wrong.png"
    rc = main(
        ["evaluate", str(source), "--weights", str(random_weights), "--plot", str(plot), "--mistakes", str(mistakes)]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert out.splitlines()[0].split() == ["label", "num_rows", "correct", "wrong", "accuracy"]
    predictions = np.array(_expected_predictions(source, random_weights))
    rows = _table_rows(out)
    for digit in np.unique(labels):
        mask = labels == digit
        correct = int((predictions[mask] == digit).sum())
        assert rows[str(digit)][:3] == [str(int(mask.sum())), str(correct), str(int(mask.sum()) - correct)]
    wrong = int((predictions != labels).sum())
    assert rows["all"] == ["40", str(40 - wrong), str(wrong), f"{(40 - wrong) / 40:.4f}"]
    with Image.open(plot) as picture:
        assert picture.format == "PNG"
        assert picture.mode == "RGB"
    with Image.open(mistakes) as picture:
        assert picture.format == "PNG"
    assert f"wrote {min(wrong, 100)} of {wrong} misclassified digits" in out


def test_evaluate_max_mistakes_limits_the_grid(
    tiny_json: TinyJson, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _, _ = tiny_json(n=30, seed=6)
    sizes = []
    for k in (3, 6):
        path = tmp_path / f"wrong{k}.png"
        rc = main(["evaluate", str(source), "--weights", str(random_weights), "--mistakes", str(path)])
        rc |= main(
            [
                "evaluate",
                str(source),
                "--weights",
                str(random_weights),
                "--mistakes",
                str(path),
                "--max-mistakes",
                str(k),
                "--overwrite",
            ]
        )
        assert rc == 0
        with Image.open(path) as picture:
            sizes.append(picture.size)
    out = capsys.readouterr().out
    assert "wrote 3 of" in out
    assert "wrote 6 of" in out
    assert sizes[0][0] * 2 == sizes[1][0], "six digits in one row are twice as wide as three"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_classify_writes_ids_labels_and_predictions(
    suffix: str, tiny_json: TinyJson, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _, labels = tiny_json(n=25, seed=7)
    output = tmp_path / f"predictions{suffix}"
    rc = main(["classify", str(source), "--output", str(output), "--weights", str(random_weights), "--batch-size", "8"])
    assert rc == 0
    assert f"wrote 25 predictions to {output}" in capsys.readouterr().out
    table = pq.read_table(output) if suffix == ".parquet" else pa_csv.read_csv(output)
    assert table.column_names == ["id", "label", "model_classification"]
    data = table.to_pydict()
    assert data["id"] == list(range(25))
    assert data["label"] == labels.tolist(), "rows keep the source's order, so id is the row position"
    assert data["model_classification"] == _expected_predictions(source, random_weights)
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_classify_confidence_adds_the_top_probability(
    tiny_json: TinyJson, random_weights: Path, tmp_path: Path
) -> None:
    source, _, _ = tiny_json(n=12, seed=8)
    output = tmp_path / "p.parquet"
    assert main(["classify", str(source), "-o", str(output), "--weights", str(random_weights), "--confidence"]) == 0
    data = pq.read_table(output).to_pydict()
    assert list(data) == ["id", "label", "model_classification", "model_classification_confidence"]
    conf = np.array(data["model_classification_confidence"])
    # The top of ten softmax probabilities lies in [0.1, 1].
    assert ((conf >= 0.1 - 1e-6) & (conf <= 1.0 + 1e-6)).all()
    assert data["model_classification"] == _expected_predictions(source, random_weights)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_classify_precision_reaches_the_model(
    precision: str, tiny_json: TinyJson, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daft_mnist.model._engine import LoadedModel

    seen: list[str] = []
    original = LoadedModel.log_probabilities

    def spy(self: LoadedModel, pixels: np.ndarray) -> object:
        seen.append(self.precision)
        return original(self, pixels)

    monkeypatch.setattr(LoadedModel, "log_probabilities", spy)
    source, _, _ = tiny_json(n=20, seed=9)
    output = tmp_path / "p.parquet"
    assert main(["classify", str(source), "-o", str(output), "--precision", precision, "--confidence"]) == 0
    assert seen, "the model ran"
    assert set(seen) == {precision}
    assert len(pq.read_table(output)) == 20


def test_precision_must_be_one_of_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--precision", "fp16"]) == 2
    assert "--precision: invalid choice: 'fp16'" in _one_error_line(capsys.readouterr().err)


def test_train_writes_loadable_weights_and_test_metrics(
    tiny_json: TinyJson, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_src, _, _ = tiny_json(n=48, seed=1, name="train.json")
    test_src, _, test_labels = tiny_json(n=20, seed=2, name="test.json")
    output = tmp_path / "out" / "model.pt"
    output.parent.mkdir()
    rc = main(
        ["train", str(train_src), "--test", str(test_src), "--output", str(output), "--epochs", "2", "--threads", "1"]
    )
    captured = capsys.readouterr()
    assert rc == 0
    assert "2/2" in captured.err, "the epoch progress bar reached its end"
    net = load_model(output)
    assert net.metadata["epochs"] == 2
    report = json.loads((tmp_path / "out" / "model.json").read_text())
    assert report["overall"]["num_rows"] == 20
    predictions = np.array(_expected_predictions(test_src, output))
    assert report["overall"]["correct"] == int((predictions == test_labels).sum())
    assert sum(r["num_rows"] for r in report["by_label"]) == 20
    assert report["training"]["train_rows"] == 48
    assert len(report["sha256"]) == 64


@pytest.mark.parametrize(
    ("argv", "rc", "message"),
    [
        (["evaluate", "{tmp}/missing.json"], 1, "SOURCE '{tmp}/missing.json' does not exist (no such file or folder)"),
        (["evaluate", "--batch-size", "0"], 2, "argument --batch-size: expected a positive integer, got '0'"),
        (["evaluate", "--devise", "cpu"], 2, "unrecognized arguments: --devise"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["classify", "{src}"], 2, "the following arguments are required: --output"),
        (["classify", "{src}", "-o", "{tmp}/p.xlsx"], 2, "--output must end with one of .parquet, .pq, .csv"),
        (["classify", "{src}", "-o", "{tmp}/no/such/p.csv"], 2, "folder '{tmp}/no/such' does not exist"),
        (["evaluate", "{src}", "--plot", "{tmp}"], 2, "is a directory"),
        (["evaluate", "{src}", "--weights", "{tmp}/none.pt"], 1, "weights file not found: {tmp}/none.pt"),
        (["evaluate", "{src}", "--weights", "{weights}", "--sha256", "abc"], 1, "sha256 must be 64 hexadecimal"),
        (["evaluate", "{bad}", "--weights", "{weights}"], 1, "expected 784 pixels, got 3"),
        (["train", "{src}", "-o", "{tmp}/w.txt"], 2, "--output must end with one of .pt"),
        (["train", "{src}", "-o", "{tmp}/w.pt", "--epochs", "-1"], 2, "argument --epochs: expected a positive integer"),
    ],
)
def test_user_mistakes_give_one_line_and_a_nonzero_status(
    argv: list[str],
    rc: int,
    message: str,
    tiny_json: TinyJson,
    random_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, _, _ = tiny_json(n=4)
    bad = tmp_path / "bad.json"
    bad.write_text('{"image": [1, 2, 3], "label": 1}\n')
    fill = {"tmp": str(tmp_path), "src": str(source), "bad": str(bad), "weights": str(random_weights)}
    assert main([a.format(**fill) for a in argv]) == rc
    line = _one_error_line(capsys.readouterr().err)
    assert message.format(**fill) in line


def test_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "daft_mnist.cli"]
    ok = subprocess.run([*cmd, "--help"], capture_output=True, text=True, env=env, check=False)
    assert ok.returncode == 0
    for command in ("evaluate", "classify", "train"):
        assert command in ok.stdout
    missing = tmp_path / "missing.json.gz"
    failed = subprocess.run([*cmd, "evaluate", str(missing)], capture_output=True, text=True, env=env, check=False)
    assert failed.returncode == 1
    assert _one_error_line(failed.stderr) == (
        f"daft-mnist: error: SOURCE '{missing}' does not exist (no such file or folder)"
    )
    version = subprocess.run([*cmd, "--version"], capture_output=True, text=True, env=env, check=False)
    assert version.stdout.strip() == f"daft-mnist {daft_mnist.__version__}"


def test_the_installed_entry_point_runs_the_cli() -> None:
    from importlib.metadata import entry_points

    (entry,) = entry_points(group="console_scripts", name="daft-mnist")
    assert entry.load() is main
    script = Path(sys.executable).with_name("daft-mnist")
    if not script.is_file():
        pytest.skip(f"no installed daft-mnist script beside {sys.executable}")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"daft-mnist {daft_mnist.__version__}"


def test_library_confidence_is_the_top_probability(tiny_json: TinyJson, random_weights: Path) -> None:
    from daft import col

    source, _, _ = tiny_json(n=16, seed=9)
    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(source))
    clf = daft_mnist.Classifier(weights=str(random_weights))
    out = (
        daft_mnist.classify(df, weights=random_weights, details=True)
        .with_column("probs", clf.probabilities(col("image_2d")))
        .to_pydict()
    )
    probs = np.stack(out["probs"])
    np.testing.assert_allclose(out["model_classification_confidence"], probs.max(axis=1), rtol=1e-5)
    assert out["model_classification"] == probs.argmax(axis=1).tolist()
    least_first = sorted(out["model_classification_confidence"])
    by_confidence = daft_mnist.classify(df, weights=random_weights, details=True).sort(
        "model_classification_confidence"
    )
    np.testing.assert_allclose(by_confidence.to_pydict()["model_classification_confidence"], least_first)


# --- issue #11: nothing wrong in silence -------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the command starts its work (reads data) before refusing."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_mnist ran before the command line was checked")

    monkeypatch.setattr(daft_mnist, "load_mnist", refuse)


@pytest.mark.parametrize("how", ["same_path", "relative_path", "symlink", "hard_link", "symlinked_folder"])
def test_classify_never_writes_over_its_input(
    how: str, tmp_path: Path, random_weights: Path, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(__import__("pyarrow").table({"image": [[0] * 784], "label": [1]}), source)
    before = source.read_bytes()
    output = {
        "same_path": source,
        "relative_path": tmp_path / "sub" / ".." / "in.parquet",
        "symlink": tmp_path / "link.parquet",
        "hard_link": tmp_path / "hard.parquet",
        "symlinked_folder": tmp_path / "alias" / "in.parquet",
    }[how]
    (tmp_path / "sub").mkdir()
    if how == "symlink":
        output.symlink_to(source)
    elif how == "hard_link":
        os.link(source, output)
    elif how == "symlinked_folder":
        (tmp_path / "alias").symlink_to(tmp_path)
    rc = main(["classify", str(source), "-o", str(output), "--weights", str(random_weights)])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2
    assert "is an input of this command" in line
    assert "refusing to write over it" in line
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "{src}", "--weights", "{wpng}", "--plot", "{wpng}"], "--plot '{wpng}' is an input"),
        (["evaluate", "{src}", "--mistakes", "{tmp}/m.png", "--plot", "{tmp}/m.png"], "is also given as --plot"),
        (["train", "{src}", "--test", "{tjson}", "-o", "{tmp}/w.pt", "--metrics", "{tjson}"], "is an input"),
        (["train", "{src}", "--test", "{tjson}", "-o", "{tmp}/tjson.pt"], "--metrics (default: --output with .json)"),
        (["evaluate", "{src}", "--plot", "{tmp}/out.txt"], "--plot must end with one of .png, .jpg"),
        (["evaluate", "{src}", "--mistakes", "{tmp}/out"], "--mistakes must end with one of .png"),
        (["evaluate", "{src}", "--mistakes", "{tmp}/nowhere/m.png"], "does not exist"),
        (["evaluate", "{src}", "--device", "tpu"], "expected one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'"),
        (["classify", "{src}", "-o", "{tmp}/p.csv", "--device", "gpu"], "--device: unknown device 'gpu'"),
        (["train", "{src}", "-o", "{tmp}/w.pt", "--learning-rate", "nan"], "expected a finite number > 0, got 'nan'"),
        (["train", "{src}", "-o", "{tmp}/w.pt", "--learning-rate", "0"], "expected a finite number > 0, got '0'"),
    ],
)
def test_every_option_is_checked_before_any_work(
    argv: list[str],
    message: str,
    tiny_json: TinyJson,
    random_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_work: None,
) -> None:
    source, _, _ = tiny_json(n=4)
    wpng = tmp_path / "w.png"
    os.link(random_weights, wpng)  # the weights under an image name: an input all the same
    tjson = tmp_path / "tjson.json"
    tjson.write_text("")
    fill = {"tmp": str(tmp_path), "src": str(source), "wpng": str(wpng), "tjson": str(tjson)}
    before = {p: p.read_bytes() for p in (source, wpng, tjson)}
    assert main([a.format(**fill) for a in argv]) == 2
    assert message.format(**fill) in _one_error_line(capsys.readouterr().err)
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize("poison", ["nan_weights", "foreign_checkpoint", "weights_directory"])
def test_unusable_weights_fail_before_the_data_is_read(
    poison: str, tiny_json: TinyJson, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    import torch

    source, _, _ = tiny_json(n=4)
    weights = tmp_path / "w.pt"
    state = Net().state_dict()
    if poison == "nan_weights":
        state["fc2.bias"][0] = float("nan")
        torch.save(state, weights)
    elif poison == "foreign_checkpoint":
        torch.save({"model": state}, weights)
    else:
        weights.mkdir()
    expected = {
        "nan_weights": "NaN or infinite values (in float32) in fc2.bias",
        "foreign_checkpoint": "got a dict with keys ['model']",
        "weights_directory": "is not a regular file (a directory)",
    }[poison]
    for command in (["evaluate", str(source)], ["classify", str(source), "-o", str(tmp_path / "p.parquet")]):
        assert main([*command, "--weights", str(weights)]) == 1
        assert expected in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "p.parquet").exists()


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_evaluate_on_an_empty_file_is_an_error_not_a_report_of_nones(
    content: str, tmp_path: Path, random_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "empty.json"
    source.write_text(content)
    plot = tmp_path / "cm.png"
    assert main(["evaluate", str(source), "--weights", str(random_weights), "--plot", str(plot)]) == 1
    captured = capsys.readouterr()
    assert _one_error_line(captured.err) == f"daft-mnist: error: no rows to evaluate in {source}"
    assert "None" not in captured.out
    assert not plot.exists()


def test_train_with_an_empty_test_set_fails_before_training(
    tiny_json: TinyJson, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_src, _, _ = tiny_json(n=16, seed=1, name="train.json")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    output = tmp_path / "w.pt"
    assert main(["train", str(train_src), "--test", str(empty), "-o", str(output), "--epochs", "1"]) == 1
    captured = capsys.readouterr()
    assert _one_error_line(captured.err) == f"daft-mnist: error: no rows to evaluate in {empty} (--test)"
    assert "epoch" not in captured.err, "refused before the training started"
    assert not output.exists()


def test_diverged_training_exits_1_and_writes_no_weights(
    tiny_json: TinyJson, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    train_src, _, _ = tiny_json(n=32, seed=1, name="train.json")
    test_src, _, _ = tiny_json(n=8, seed=2, name="test.json")
    original = torch.nn.functional.nll_loss
    calls = []

    def diverging(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        loss = original(*args, **kwargs)  # type: ignore[arg-type]
        return loss * float("nan") if len(calls) >= 3 else loss

    monkeypatch.setattr(torch.nn.functional, "nll_loss", diverging)
    output = tmp_path / "w.pt"
    argv = ["train", str(train_src), "--test", str(test_src), "-o", str(output), "--epochs", "2", "--batch-size", "16"]
    assert main([*argv, "--threads", "1", "--no-augment"]) == 1
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("daft-mnist: error: training diverged: the loss became nan at epoch 2, step 1 of 2")
    assert "try a lower learning rate" in last
    assert not output.exists()
    assert not output.with_suffix(".json").exists()


def test_outputs_are_written_atomically(
    tiny_json: TinyJson, random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _, _ = tiny_json(n=6)
    output = tmp_path / "p.parquet"
    output.write_bytes(b"previous results")
    plot = tmp_path / "cm.png"

    def broken_write(table: object, where: object, *args: object, **kwargs: object) -> None:
        where.write(b"PAR1 half a file")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken_write)
    argv = ["classify", str(source), "-o", str(output), "--weights", str(random_weights), "--overwrite"]
    assert main(argv) == 1
    assert output.read_bytes() == b"previous results"
    monkeypatch.undo()
    from PIL import Image as PILImage

    def broken_save(self: object, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG half")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(PILImage.Image, "save", broken_save)
    assert main(["evaluate", str(source), "--weights", str(random_weights), "--plot", str(plot)]) == 1
    assert not plot.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet", "tiny.json.gz"], "no temporary file left"


@pytest.mark.parametrize(
    "template",
    [
        "http://alice:s3cr3t@127.0.0.1:{port}/m.pt",
        "{base}/m.pt?token=s3cr3t",
        "{base}/m.pt?X-Amz-Credential=AKIAs3cr3t&X-Amz-Signature=s3cr3t&X-Amz-Security-Token=s3cr3t",
    ],
)
def test_credentials_in_urls_never_reach_the_terminal(
    template: str,
    server: Any,
    cache: Path,
    tiny_json: TinyJson,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, _, _ = tiny_json(n=4)
    url = template.format(base=server.base, port=server.base.rsplit(":", 1)[1])
    cases = [
        (["evaluate", str(source), "--weights", url], "need sha256="),
        (["evaluate", str(source), "--weights", url, "--sha256", "0" * 64], "could not download weights"),
        (["classify", url.replace("/m.pt", "/data.json"), "-o", str(tmp_path / "p.csv")], "127.0.0.1"),
        (["evaluate", url.replace("/m.pt", "/data.json")], "127.0.0.1"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        captured = capsys.readouterr()
        line = _one_error_line(captured.err)
        assert message in line
        assert "s3cr3t" not in captured.err + captured.out


def test_log_records_have_url_credentials_scrubbed_while_a_command_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    import logging

    def logs_a_url(*args: object, **kwargs: object) -> None:
        logging.getLogger("daft_mnist").warning("downloaded %s", "https://bob:s3cr3t@h.example/t.json?token=s3cr3t")
        raise daft_mnist.DataError("stop here")

    monkeypatch.setattr(daft_mnist, "load_mnist", logs_a_url)
    with caplog.at_level(logging.INFO, logger="daft_mnist"):
        assert main(["train", "-o", str(tmp_path / "w.pt")]) == 1
    assert "downloaded https://***@h.example/t.json?token=***" in caplog.text
    assert "s3cr3t" not in caplog.text


# ---------------------------------------------------------------------------- folders of pictures


@pytest.fixture(scope="session")
def mnist_digits(test_json: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first 30 MNIST test digits, (30, 28, 28) uint8, and their labels."""
    data = daft_mnist.load_mnist(test_json).limit(30).to_pydict()
    return np.asarray(data["image"], dtype=np.uint8).reshape(-1, 28, 28), np.asarray(data["label"])


def write_pictures(
    folder: Path, digits: np.ndarray, labels: np.ndarray | None, *, scale: int = 4
) -> list[tuple[Path, int]]:
    """MNIST digits as photos-like PNGs: upscaled, dark ink on light paper, half RGB, in ``<label>/`` folders."""
    written = []
    for i, digit in enumerate(digits):
        big = np.kron(255 - digit, np.ones((scale, scale), dtype=np.uint8))
        picture = Image.fromarray(big, mode="L")
        if i % 2:
            picture = picture.convert("RGB")
        label = -1 if labels is None else int(labels[i])
        where = folder if labels is None else folder / str(label)
        where.mkdir(parents=True, exist_ok=True)
        path = where / f"digit{i:02d}.png"
        picture.save(path)
        written.append((path, label))
    return written


def _library_predictions(folder: Path, weights: Path | None) -> dict[str, int | None]:
    from daft_mnist.io import load_images

    df = daft_mnist.classify(daft_mnist.add_image_2d(load_images(folder)), weights=weights)
    data = df.select("path", "model_classification").to_pydict()
    return dict(zip(data["path"], data["model_classification"], strict=True))


def test_evaluate_a_labelled_folder_of_pictures(
    mnist_digits: tuple[np.ndarray, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digits, labels = mnist_digits
    folder = tmp_path / "pictures"
    write_pictures(folder, digits, labels)
    mistakes = tmp_path / "wrong.png"
    assert main(["evaluate", str(folder), "--mistakes", str(mistakes)]) == 0
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert rows["all"][0] == "30"
    assert int(rows["all"][1]) >= 29, "MNIST digits drawn as dark-on-light pictures are recognized"
    for digit in np.unique(labels):
        assert rows[str(digit)][0] == str(int((labels == digit).sum()))
    if rows["all"][2] == "0":  # the bundled weights get all 30 right: nothing to show
        assert f"no mistakes: every labelled digit was classified right; {mistakes} was not written" in out
        assert not mistakes.exists()
    else:
        assert "misclassified digits to" in out
        with Image.open(mistakes) as picture:
            assert picture.format == "PNG"


def test_evaluate_mistakes_show_originals_beside_prepared_digits(
    mnist_digits: tuple[np.ndarray, np.ndarray],
    random_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digits, labels = mnist_digits
    folder = tmp_path / "pictures"
    write_pictures(folder, digits[:12], labels[:12])
    predictions = _library_predictions(folder, random_weights)
    wrong = sum(int(Path(p).parent.name) != pred for p, pred in predictions.items())
    assert wrong > 0, "random weights make mistakes"
    mistakes = tmp_path / "wrong.png"
    rc = main(["evaluate", str(folder), "--weights", str(random_weights), "--mistakes", str(mistakes)])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"wrote {min(wrong, 100)} of {wrong} misclassified digits to {mistakes}" in out
    assert _table_rows(out)["all"] == ["12", str(12 - wrong), str(wrong), f"{(12 - wrong) / 12:.4f}"]
    with Image.open(mistakes) as picture:
        assert picture.mode == "RGB", "originals in colour beside the prepared digits"
        width = picture.width
    main(
        [
            "evaluate",
            str(folder),
            "--weights",
            str(random_weights),
            "--mistakes",
            str(mistakes),
            "--max-mistakes",
            "1",
            "--overwrite",
        ]
    )
    with Image.open(mistakes) as picture:
        assert picture.width < width or wrong == 1
        assert picture.width >= 2 * 84, "one original and its prepared digit side by side"


@pytest.mark.parametrize("form", ["folder", "flat_folder", "glob", "file"])
def test_classify_pictures_writes_paths_labels_and_predictions(
    form: str,
    mnist_digits: tuple[np.ndarray, np.ndarray],
    random_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digits, labels = mnist_digits
    folder = tmp_path / "pictures"
    written = write_pictures(folder, digits[:8], None if form == "flat_folder" else labels[:8])
    source = {
        "folder": str(folder),
        "flat_folder": str(folder),
        "glob": str(folder / "*" / "*.png"),
        "file": str(written[0][0]),
    }[form]
    output = tmp_path / "preds.csv"
    rc = main(["classify", source, "-o", str(output), "--weights", str(random_weights), "--confidence"])
    assert rc == 0, capsys.readouterr().err
    table = pa_csv.read_csv(output).to_pydict()
    labelled = form != "flat_folder"
    expected = ["path", *(["label"] if labelled else []), "model_classification", "model_classification_confidence"]
    assert list(table) == expected
    files = sorted(str(p.resolve()) for p, _ in (written[:1] if form == "file" else written))
    assert table["path"] == files
    assert f"wrote {len(files)} predictions to {output}" in capsys.readouterr().out
    if labelled:
        truth = {str(p.resolve()): label for p, label in written}
        assert table["label"] == [truth[p] for p in files]
    library = _library_predictions(folder if form != "file" else written[0][0], random_weights)
    assert table["model_classification"] == [library[p] for p in files]
    assert all(0 < c <= 1 for c in table["model_classification_confidence"])


def test_evaluate_needs_labelled_folders(
    mnist_digits: tuple[np.ndarray, np.ndarray],
    random_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_pictures(tmp_path / "flat", mnist_digits[0][:3], None)
    assert main(["evaluate", str(tmp_path / "flat"), "--weights", str(random_weights)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "evaluate needs labels" in line
    assert "<label>/" in line


def test_blank_and_broken_pictures_in_a_folder(
    mnist_digits: tuple[np.ndarray, np.ndarray],
    random_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "pictures"
    write_pictures(folder, mnist_digits[0][:3], mnist_digits[1][:3])
    (folder / "4").mkdir(exist_ok=True)
    Image.new("RGB", (60, 60), (250, 250, 250)).save(folder / "4" / "blank.png")
    output = tmp_path / "preds.csv"
    assert main(["classify", str(folder), "-o", str(output), "--weights", str(random_weights)]) == 0
    table = pa_csv.read_csv(output).to_pydict()
    blank = table["path"].index(str((folder / "4" / "blank.png").resolve()))
    assert table["model_classification"][blank] is None, "a blank picture gets no digit"
    assert main(["evaluate", str(folder), "--weights", str(random_weights)]) == 0
    assert "1 pictures had no digit to find" in capsys.readouterr().out
    broken = folder / "5" / "broken.png"
    broken.parent.mkdir()
    broken.write_text("not a picture")
    assert main(["classify", str(folder), "-o", str(output), "--weights", str(random_weights), "--overwrite"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "broken.png" in line
    assert "not readable images" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "{dir}", "--mistakes", "{tmp}/missing/wrong.png"], "does not exist"),
        (["evaluate", "{dir}", "--mistakes", "{dir}/3/digit00.png"], "is an input of this command"),
        (["evaluate", "{glob}", "--plot", "{dir}/3/digit00.png"], "is an input of this command"),
        (["classify", "{dir}", "-o", "{tmp}/preds.txt"], "--output must end with one of"),
        (["classify", "{dir}", "-o", "{tmp}/p.csv", "--device", "tpu"], "--device"),
        (["evaluate", "{dir}", "--mistakes", "{dir}/wrong.png"], "is inside the pictures SOURCE"),
        (["evaluate", "{dir}", "--plot", "{dir}/3/cm.jpg"], "the next run would read it as a picture"),
        (["evaluate", "{glob}", "--mistakes", "{dir}/3/wrong.png"], "is inside the pictures SOURCE"),
        (["evaluate", "{dir}", "--mistakes", "{dir}/../pictures/3/w.png"], "is inside the pictures SOURCE"),
    ],
)
def test_picture_options_are_checked_before_any_work(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import daft_mnist.io

    folder = tmp_path / "pictures" / "3"
    folder.mkdir(parents=True)
    Image.new("L", (40, 40), 255).save(folder / "digit00.png")
    (folder / "broken.png").write_text("not a picture: reading it would fail")
    before = (folder / "digit00.png").read_bytes()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_images ran before the command line was checked")

    monkeypatch.setattr(daft_mnist.io, "load_images", refuse)
    fill = {"tmp": str(tmp_path), "dir": str(tmp_path / "pictures"), "glob": str(tmp_path / "pictures/*/*.png")}
    assert main([a.format(**fill) for a in argv]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert (folder / "digit00.png").read_bytes() == before


def test_on_error_null_keeps_bad_rows_with_their_reason(
    tmp_path: Path, random_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [7] * 784
    source = tmp_path / "d.json"
    source.write_text(
        "".join(json.dumps(r) + "\n" for r in [{"image": good, "label": 1}, {"image": [1, 2], "label": 2}])
    )
    out = tmp_path / "p.parquet"
    assert main(["classify", str(source), "-o", str(out), "--weights", str(random_weights)]) == 1
    assert "expected 784 pixels, got 2" in capsys.readouterr().err
    args = ["classify", str(source), "-o", str(out), "--weights", str(random_weights), "--on-error", "null"]
    assert main(args) == 0
    table = pq.read_table(out).to_pydict()
    assert table["model_classification_error"] == [None, "image: expected 784 pixels, got 2"]
    assert table["model_classification"][1] is None
    assert main(["evaluate", str(source), "--weights", str(random_weights), "--on-error", "null"]) == 0
    assert "1 rows were not valid MNIST (a null prediction, counted as wrong)" in capsys.readouterr().out


# --- outputs (issue 19): one rule for every command that writes ------------------------------


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["classify", "{src}", "-o", "{out}.csv"], "--output"),
        (["classify", "{src}", "-o", "{out}.parquet"], "--output"),
        (["evaluate", "{src}", "--plot", "{out}.png"], "--plot"),
        (["evaluate", "{src}", "--mistakes", "{out}.png"], "--mistakes"),
        (["train", "{src}", "-o", "{out}.pt", "--metrics", "{tmp}/fresh.json"], "--output"),
        (["train", "{src}", "-o", "{tmp}/fresh.pt", "--metrics", "{out}.json"], "--metrics"),
        (["train", "{src}", "-o", "{tmp}/other.pt"], "--metrics (default: --output with .json)"),
        (["convert", "{src}", "{out}.parquet"], "OUT"),
    ],
)
def test_an_existing_output_is_replaced_only_with_overwrite(
    argv: list[str],
    what: str,
    tiny_json: TinyJson,
    random_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_work: None,
) -> None:
    source, _, _ = tiny_json(n=4)
    fill = {"src": str(source), "out": str(tmp_path / "existing"), "tmp": str(tmp_path)}
    args = [a.format(**fill) for a in argv]
    existing = {tmp_path / f"existing{suffix}" for suffix in (".csv", ".parquet", ".png", ".pt", ".json")}
    existing.add(tmp_path / "other.json")
    for path in existing:
        path.write_bytes(b"the user's file")
    if argv[0] != "convert":
        args += ["--weights", str(random_weights)] if argv[0] != "train" else []
    assert main(args) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{what} '" in line
    assert "already exists; pass --overwrite to replace it" in line
    assert all(p.read_bytes() == b"the user's file" for p in existing)
    assert build_parser().parse_args([*args, "--overwrite"]).overwrite is True


def test_an_output_folder_that_cannot_be_written_fails_before_any_work(
    tiny_json: TinyJson, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    source, _, _ = tiny_json(n=4)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    folders = [f for f in (locked, Path("/sys")) if f.is_dir() and not _can_create_in(f)]  # /sys: even for root
    if not folders:
        pytest.skip("no folder this user cannot write")
    for folder in folders:
        for argv in (
            ["classify", str(source), "-o", str(folder / "p.csv"), "--weights", str(random_weights)],
            ["evaluate", str(source), "--plot", str(folder / "cm.png"), "--weights", str(random_weights)],
            ["train", str(source), "-o", str(folder / "w.pt")],
            ["convert", str(source), str(folder / "d.parquet")],
        ):
            assert main(argv) == 2
            line = _one_error_line(capsys.readouterr().err)
            assert f"folder '{folder}' cannot be written" in line
            assert ".part" not in line
    locked.chmod(0o700)


def _can_create_in(folder: Path) -> bool:
    try:
        (folder / ".probe").write_bytes(b"")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_are_written_with_the_users_umask(
    umask: int, tiny_json: TinyJson, random_weights: Path, tmp_path: Path
) -> None:
    source, _, _ = tiny_json(n=4)
    out = tmp_path / "p.csv"
    old = os.umask(umask)
    try:
        assert main(["classify", str(source), "-o", str(out), "--weights", str(random_weights)]) == 0
        assert main(["convert", str(source), str(tmp_path / "d.parquet")]) == 0
    finally:
        os.umask(old)
    for path in (out, tmp_path / "d.parquet"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    out.chmod(0o640)  # a file replaced keeps its mode
    assert main(["classify", str(source), "-o", str(out), "--weights", str(random_weights), "--overwrite"]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_mistakes_with_no_mistakes_says_so_instead_of_writing_a_picture(
    mnist_digits: tuple[np.ndarray, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digits, labels = mnist_digits
    folder = tmp_path / "pictures"
    write_pictures(folder, digits[:5], labels[:5])
    mistakes = tmp_path / "wrong.png"
    assert main(["evaluate", str(folder), "--mistakes", str(mistakes)]) == 0
    out = capsys.readouterr().out
    assert _table_rows(out)["all"][2] == "0", "the bundled weights read these five MNIST digits right"
    assert f"no mistakes: every labelled digit was classified right; {mistakes} was not written" in out
    assert not mistakes.exists()


def test_every_rows_own_reason_reaches_the_error_column(
    mnist_digits: tuple[np.ndarray, np.ndarray], random_weights: Path, tmp_path: Path
) -> None:
    """classify --on-error null: a blank picture says it is blank, a broken file says why it is broken."""
    folder = tmp_path / "pictures"
    write_pictures(folder, mnist_digits[0][:2], mnist_digits[1][:2])
    (folder / "4").mkdir(exist_ok=True)
    Image.new("RGB", (60, 60), (250, 250, 250)).save(folder / "4" / "blank.png")
    (folder / "5").mkdir(exist_ok=True)
    (folder / "5" / "broken.png").write_text("not a picture")
    output = tmp_path / "preds.csv"
    argv = ["classify", str(folder), "-o", str(output), "--weights", str(random_weights), "--on-error", "null"]
    assert main(argv) == 0
    table = pa_csv.read_csv(output).to_pydict()
    reasons = {Path(p).name: why for p, why in zip(table["path"], table["model_classification_error"], strict=True)}
    assert reasons["blank.png"] == "image is blank (no ink)"
    assert reasons["broken.png"].startswith("not an image file"), reasons["broken.png"]
    assert "see the step that produced it" not in reasons["blank.png"]
    assert all(not why for name, why in reasons.items() if name not in ("blank.png", "broken.png")), reasons
