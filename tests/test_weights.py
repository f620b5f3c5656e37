"""Weights that cannot be trusted: pickle payloads, wrong architectures, corrupt files, remote downloads.

Remote loading runs against a real HTTP server on 127.0.0.1, started by the tests in a thread.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
from pathlib import Path

import pytest
import torch
from tests.conftest import Server, cached_files

from daft_mnist import WeightsError
from daft_mnist._files import file_sha256
from daft_mnist.model import load_checkpoint, load_model
from daft_mnist.weights import resolve_weights

# --- remote weights ---------------------------------------------------------------------


def test_remote_weights_download_verify_and_load(server: Server, cache: Path, random_weights: Path) -> None:
    body = random_weights.read_bytes()
    server.files["/w/model.pt"] = body
    sha = hashlib.sha256(body).hexdigest()
    url = server.base + "/w/model.pt"
    path = resolve_weights(url, sha256=sha)
    assert path.is_relative_to(cache)
    assert file_sha256(path) == sha
    assert resolve_weights(url, sha256=sha.upper()) == path  # cached: no second download
    assert server.gets["/w/model.pt"] == 1
    model = load_model(url, sha256=sha)
    expected = load_checkpoint(random_weights).state_dict
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())


def test_remote_weights_need_a_checksum(server: Server, cache: Path) -> None:
    server.files["/m.pt"] = b"x"
    with pytest.raises(WeightsError, match="need sha256="):
        resolve_weights(server.base + "/m.pt")
    assert server.gets == {}


def test_malformed_checksum_is_refused(server: Server, cache: Path) -> None:
    with pytest.raises(WeightsError, match="sha256 must be 64 hexadecimal characters, got 'abc'"):
        resolve_weights(server.base + "/m.pt", sha256="abc")


def test_remote_sha_mismatch_is_refused_and_nothing_is_cached(
    server: Server, cache: Path, random_weights: Path
) -> None:
    body = random_weights.read_bytes()
    server.files["/m.pt"] = body
    wrong = hashlib.sha256(body + b"tampered").hexdigest()
    with pytest.raises(
        WeightsError, match=f"SHA-256 mismatch: expected {wrong}, got {hashlib.sha256(body).hexdigest()}"
    ):
        resolve_weights(server.base + "/m.pt", sha256=wrong)
    assert cached_files(cache) == []  # no half-trusted file, no leftover .part


def test_incomplete_download_is_refused_and_nothing_is_cached(server: Server, cache: Path) -> None:
    body = os.urandom(4096)
    server.files["/cut.pt"] = body
    server.truncate.add("/cut.pt")
    with pytest.raises(
        WeightsError,
        match=r"could not download weights from http://127\.0\.0\.1.*incomplete download, got 2048 of 4096 bytes",
    ):
        resolve_weights(server.base + "/cut.pt", sha256=hashlib.sha256(body).hexdigest())
    assert cached_files(cache) == []


def test_http_404_is_a_weights_error(server: Server, cache: Path) -> None:
    with pytest.raises(WeightsError, match=r"could not download weights from .*/missing.pt: HTTPError: HTTP Error 404"):
        resolve_weights(server.base + "/missing.pt", sha256="0" * 64)


def test_tampered_cache_entry_is_fetched_again(server: Server, cache: Path) -> None:
    body = os.urandom(1000)
    sha = hashlib.sha256(body).hexdigest()
    server.files["/m.pt"] = body
    path = resolve_weights(server.base + "/m.pt", sha256=sha)
    path.write_bytes(b"evil")
    assert resolve_weights(server.base + "/m.pt", sha256=sha).read_bytes() == body
    assert server.gets["/m.pt"] == 2


def test_concurrent_processes_download_once(server: Server, cache: Path) -> None:
    body = os.urandom(256 * 1024)
    sha = hashlib.sha256(body).hexdigest()
    server.files["/shared.pt"] = body
    server.delay_s = 1.0  # every process starts while the first download is still running
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=resolve_weights, args=(server.base + "/shared.pt",), kwargs={"sha256": sha})
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert server.gets["/shared.pt"] == 1
    files = cached_files(cache)
    assert len(files) == 1
    assert files[0].read_bytes() == body


# --- unsafe, foreign, corrupt and missing checkpoints -------------------------------------


class _WritesAFile:
    """Unpickling this would create a file: the payload of a malicious checkpoint."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.target), "payload ran"))  # type: ignore[return-value]


@pytest.mark.parametrize("container", ["torch_zip", "torch_legacy", "raw_pickle"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "pwned.txt"
    ckpt = tmp_path / "evil.pt"
    payload = {"state_dict": _WritesAFile(marker)}
    if container == "torch_zip":
        torch.save(payload, ckpt)
    elif container == "torch_legacy":
        torch.save(payload, ckpt, _use_new_zipfile_serialization=False)
    else:
        ckpt.write_bytes(pickle.dumps(_WritesAFile(marker), protocol=2))
    assert not marker.exists()
    with pytest.raises(WeightsError, match="refused to load") as info:
        load_checkpoint(ckpt)
    assert "Nothing in the file was executed" in str(info.value)
    assert "weights_only` set to `False`" not in str(info.value)  # no advice to turn the guard off
    with pytest.raises(WeightsError, match="refused to load"):
        load_model(ckpt)
    assert not marker.exists()


def test_checkpoint_of_another_architecture(tmp_path: Path) -> None:
    ckpt = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(784, 10).state_dict(), ckpt)
    with pytest.raises(WeightsError, match=r"not a checkpoint of the tutorial's Net architecture.*expected keys"):
        load_checkpoint(ckpt)


def test_checkpoint_with_wrong_shapes(tmp_path: Path, random_weights: Path) -> None:
    state = dict(load_checkpoint(random_weights).state_dict)
    state["fc2.weight"] = torch.zeros(12, 128)
    state["fc2.bias"] = torch.zeros(12)
    ckpt = tmp_path / "twelve.pt"
    torch.save(state, ckpt)
    with pytest.raises(WeightsError, match=r"fc2.bias: got \(12,\), expected \(10,\)"):
        load_checkpoint(ckpt)


@pytest.mark.parametrize("corruption", ["random_bytes", "truncated", "empty", "not_a_dict"])
def test_corrupt_checkpoint(tmp_path: Path, random_weights: Path, corruption: str) -> None:
    ckpt = tmp_path / "bad.pt"
    good = random_weights.read_bytes()
    if corruption == "random_bytes":
        ckpt.write_bytes(os.urandom(2048))
    elif corruption == "truncated":
        ckpt.write_bytes(good[: len(good) // 3])
    elif corruption == "empty":
        ckpt.write_bytes(b"")
    else:
        torch.save([torch.zeros(3)], ckpt)
    expected = {
        "random_bytes": "refused to load: not a weights-only PyTorch checkpoint: corrupt",
        "truncated": "not a readable PyTorch checkpoint",
        "empty": "not a readable PyTorch checkpoint",
        "not_a_dict": "expected a state dict of tensors for daft_mnist.Net",
    }[corruption]
    with pytest.raises(WeightsError, match=expected):
        load_checkpoint(ckpt)


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"weights file not found: .*nope\.pt"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(WeightsError, match="weights file not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_local_sha_mismatch(random_weights: Path) -> None:
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        load_model(random_weights, sha256="0" * 64)
