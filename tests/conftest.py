from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The one configurable place tests read MNIST from: $DAFT_MNIST_DATA_DIR, else ../shared/data."""
    env = os.environ.get("DAFT_MNIST_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mnist_dir(monkeypatch_session: pytest.MonkeyPatch) -> Path:
    d = data_dir()
    if not (d / "mnist_handwritten_test.json.gz").is_file():
        pytest.fail(f"MNIST data not found in {d}: set DAFT_MNIST_DATA_DIR to the folder holding the shared data")
    monkeypatch_session.setenv("DAFT_MNIST_DATA_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterable[pytest.MonkeyPatch]:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="session")
def test_json(mnist_dir: Path) -> Path:
    return mnist_dir / "mnist_handwritten_test.json.gz"


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]], *, compress: bool | None = None) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def random_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 784), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.int64)


@pytest.fixture
def tiny_json(tmp_path: Path) -> Callable[..., tuple[Path, np.ndarray, np.ndarray]]:
    def make(n: int = 8, seed: int = 0, name: str = "tiny.json.gz") -> tuple[Path, np.ndarray, np.ndarray]:
        images, labels = random_images(n, seed)
        rows = [{"image": img.tolist(), "label": int(lab)} for img, lab in zip(images, labels, strict=True)]
        return write_jsonl(tmp_path / name, rows), images, labels

    return make


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A daft-mnist checkpoint of a randomly initialized (seeded) Net: fast tests need no training."""
    import torch

    from daft_mnist.model import TUTORIAL_PREPROCESSING, Net, save_checkpoint

    torch.manual_seed(1234)
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    save_checkpoint(path, Net(), TUTORIAL_PREPROCESSING, {"note": "random init for tests"})
    return path
