"""``scripts/calibrate_temperature.py`` on a tiny data folder: fits T, writes it with the weights
(everything else unchanged), decodes real digits with Daft and uses the ``--prepare`` hook."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from tests.conftest import random_images, write_jsonl

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "calibrate_temperature.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("calibrate_temperature_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_fits_and_stores_the_temperature(
    tmp_path: Path, random_weights: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from PIL import Image

    from daft_mnist.model import _certainty as C
    from daft_mnist.model.checkpoint import load_checkpoint

    data = tmp_path / "data"
    data.mkdir()
    for name, n, seed in (("mnist_handwritten_train.json.gz", 60, 1), ("mnist_handwritten_test.json.gz", 40, 2)):
        images, labels = random_images(n, seed)
        write_jsonl(data / name, ({"image": i.tolist(), "label": int(k)} for i, k in zip(images, labels, strict=True)))
    for digit in (3, 7):
        (data / "real-digits" / str(digit)).mkdir(parents=True)
        picture = np.full((60, 50, 3), 240, np.uint8)
        picture[10:50, 20:30] = 20
        Image.fromarray(picture).save(data / "real-digits" / str(digit) / f"x-{digit}.png")
    (data / "real-digits" / "5").mkdir()
    Image.fromarray(np.full((40, 40, 3), 250, np.uint8)).save(data / "real-digits" / "5" / "blank.png")  # no digit
    (data / "real-digits" / "README.md").write_text("not an image")

    out = tmp_path / "calibrated.pt"
    report = tmp_path / "report.json"
    from daft_mnist.vision import _prepare

    calls: list[int] = []
    prepare_batch = _prepare.prepare_batch

    def counting_prepare(images: list[object]) -> object:  # a --prepare hook giving a PreparedBatch
        calls.append(len(images))
        return prepare_batch(images)  # type: ignore[arg-type]

    monkeypatch.setattr(_prepare, "counting_prepare", counting_prepare, raising=False)
    hook = "daft_mnist.vision._prepare:counting_prepare"
    rc = _script().main(
        [
            str(random_weights),
            "--out",
            str(out),
            "--data-dir",
            str(data),
            "--holdout",
            "20",
            "--precision",
            "float32",
            "--prepare",
            hook,
            "--json",
            str(report),
        ]
    )
    assert rc == 0
    assert calls == [3]
    figures = json.loads(report.read_text())
    assert figures["real_digits_left_out"] == 1  # the blank picture: no digit, excluded
    t = figures["temperature"]
    assert C.TEMPERATURE_BOUNDS[0] <= t <= C.TEMPERATURE_BOUNDS[1]
    assert set(figures["precisions"]["float32"]) == {"held-out train (last 20)", "MNIST test (40)", "real-digits (2)"}
    before, after = load_checkpoint(random_weights), load_checkpoint(out)
    assert all(torch.equal(before.state_dict[k], after.state_dict[k]) for k in before.state_dict)
    assert {k: v for k, v in after.metadata.items() if k != C.TEMPERATURE_KEY} == before.metadata
    assert after.metadata[C.TEMPERATURE_KEY]["images"] == 20
    assert C.temperature_from_metadata(after.metadata) == pytest.approx(t)
    assert f"T = {t:.4f}" in capsys.readouterr().out
