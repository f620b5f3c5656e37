from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings

# CI runs the property tests on Hypothesis's derandomized examples: a red CI then means the code
# changed, never that a new random example was drawn. Runs elsewhere stay random and keep
# searching; what they find is pinned with @example in the test.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

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

    from daft_mnist.model.checkpoint import TUTORIAL_PREPROCESSING, Net, save_checkpoint

    torch.manual_seed(1234)
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    save_checkpoint(path, Net(), TUTORIAL_PREPROCESSING, {"note": "random init for tests"})
    return path


# --- a real HTTP server on 127.0.0.1, for remote weights and data ----------------------------


@dataclass
class Server:
    """A tiny HTTP server on 127.0.0.1 of in-memory files (HEAD and GET) that counts GET requests per path."""

    files: dict[str, bytes] = field(default_factory=dict)
    gets: dict[str, int] = field(default_factory=dict)
    delay_s: float = 0.0
    truncate: set[str] = field(default_factory=set)
    redirects: dict[str, str] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    validators: bool = True
    heads: dict[str, int] = field(default_factory=dict)
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _headers(self) -> bytes | None:
            """Send the status and headers; the body to send, or None after a 404."""
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if self.path in state.status:
                self.send_error(state.status[self.path], "forced status")
                return None
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "no such file")
                return None
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            if state.validators:  # as real servers do: a strong ETag from the content
                self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
            self.end_headers()
            return body

        def do_HEAD(self) -> None:
            with state.lock:
                state.heads[self.path] = state.heads.get(self.path, 0) + 1
            self._headers()

        def do_GET(self) -> None:
            with state.lock:
                state.gets[self.path] = state.gets.get(self.path, 0) + 1
            body = self._headers()
            if body is None:
                return
            if self.path in state.truncate:
                self.wfile.write(body[: len(body) // 2])  # then hang up: an incomplete download
                return
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            threading.Event().wait(state.delay_s)  # a slow link widens the window for races
            self.wfile.write(body[half:])

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The download cache ($DAFT_MNIST_CACHE_DIR), in tmp_path."""
    d = tmp_path / "cache"
    monkeypatch.setenv("DAFT_MNIST_CACHE_DIR", str(d))
    return d


def cached_files(cache: Path) -> list[Path]:
    """The files in the download cache, without lock files."""
    return sorted(p for p in cache.rglob("*") if p.is_file() and not p.name.endswith((".lock", ".meta")))


@pytest.fixture
def check_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows seen by the pixel check (one entry per batch), to show what a pipeline checks."""
    from daft_mnist.data import _columns

    calls: list[int] = []
    orig = _columns.check_pixels_batch

    def spy(series: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(series))
        return orig(series, *args, **kwargs)

    monkeypatch.setattr(_columns, "check_pixels_batch", spy)
    return calls
