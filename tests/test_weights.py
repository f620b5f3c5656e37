"""Weights that cannot be trusted: pickle payloads, wrong architectures, corrupt files, remote downloads.

Remote loading runs against a real HTTP server on 127.0.0.1, started by the tests in a thread.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import Server, cached_files

from daft_mnist import WeightsError
from daft_mnist.data._files import file_sha256
from daft_mnist.model.checkpoint import load_checkpoint, load_model
from daft_mnist.model.weights import resolve_weights

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
        # Seeded: random bytes fail in the unpickler or earlier, depending on the bytes.
        ckpt.write_bytes(np.random.default_rng(0).bytes(2048))
    elif corruption == "truncated":
        ckpt.write_bytes(good[: len(good) // 3])
    elif corruption == "empty":
        ckpt.write_bytes(b"")
    else:
        torch.save([torch.zeros(3)], ckpt)
    expected = {
        "random_bytes": "refused to load: not a weights-only PyTorch checkpoint: corrupt"
        "|not a readable PyTorch checkpoint",
        "truncated": "not a readable PyTorch checkpoint",
        "empty": "not a readable PyTorch checkpoint",
        "not_a_dict": "expected a state dict of tensors for daft_mnist.model.Net",
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


# --- weights that load but would predict nonsense, foreign formats, odd paths and arguments ----


def _net_state(seed: int = 0) -> dict[str, torch.Tensor]:
    from daft_mnist.model.checkpoint import Net

    torch.manual_seed(seed)
    return {k: v.clone() for k, v in Net().state_dict().items()}


@pytest.mark.parametrize(
    ("poison", "named"),
    [
        ("nan", "fc1.weight (1 NaN of 1179648)"),
        ("inf", "conv2.bias (1 infinite of 64)"),
        ("all_nan", "fc2.weight (1280 NaN of 1280)"),
        ("float64_overflow", "fc2.bias (1 infinite of 10)"),  # finite in float64, infinite in float32
    ],
)
def test_non_finite_weights_are_refused_naming_the_tensors(
    tmp_path: Path, poison: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _net_state()
    if poison == "nan":
        state["fc1.weight"][0, 0] = float("nan")
    elif poison == "inf":
        state["conv2.bias"][3] = float("-inf")
    elif poison == "all_nan":
        state["fc2.weight"].fill_(float("nan"))
    else:
        state["fc2.bias"] = state["fc2.bias"].to(torch.float64)
        state["fc2.bias"][0] = 1e300
    path = tmp_path / "poisoned.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="NaN or infinite") as info:
        load_checkpoint(path)
    assert named in str(info.value)
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_model(path)
    # the command line used to print a report of zeros and exit 0
    from daft_mnist.cli import main

    assert main(["evaluate", "--weights", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("daft-mnist: error: ")
    assert "NaN or infinite" in err
    assert "\n" not in err


@pytest.mark.parametrize("dtype", [torch.complex64, torch.int64, torch.uint8, torch.bool])
def test_complex_and_non_floating_weights_are_refused(tmp_path: Path, dtype: torch.dtype) -> None:
    state = _net_state()
    state["conv1.weight"] = state["conv1.weight"].to(dtype)
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    name = str(dtype).removeprefix("torch.")
    with pytest.raises(WeightsError, match=rf"expected real floating-point tensors .*got conv1.weight: {name}"):
        load_checkpoint(path)


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path: Path) -> None:
    from daft_mnist.model.checkpoint import TUTORIAL_PREPROCESSING, Net, save_checkpoint

    net = Net()
    with torch.no_grad():
        net.fc2.bias[0] = float("nan")
    path = tmp_path / "diverged.pt"
    with pytest.raises(WeightsError, match=r"refusing to write .*diverged\.pt.*fc2\.bias \(1 NaN of 10\)"):
        save_checkpoint(path, net, TUTORIAL_PREPROCESSING)
    assert list(tmp_path.iterdir()) == []


def _safetensors_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A safetensors file written by hand (the format: u64 header size, JSON header, raw data)."""
    import json

    header: dict[str, object] = {}
    blobs, offset = [], 0
    for name, tensor in state.items():
        raw = tensor.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return len(head).to_bytes(8, "little") + head + b"".join(blobs)


def test_a_safetensors_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(_safetensors_bytes({"fc2.bias": torch.zeros(10)}))
    with pytest.raises(
        WeightsError, match=r"found a safetensors file; expected a PyTorch checkpoint saved with torch\.save"
    ):
        load_model(path)
    renamed = tmp_path / "model.pt"  # the name does not matter: the contents are looked at
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(WeightsError, match="safetensors"):
        load_checkpoint(renamed)


@pytest.mark.parametrize("key", ["model", "state_dict", "model_state_dict", "net"])
def test_a_training_checkpoint_wrapping_the_state_dict_says_how_to_resave_it(tmp_path: Path, key: str) -> None:
    path = tmp_path / "trainer.pt"
    torch.save({key: _net_state(), "epoch": 3, "optimizer": {"lr": 0.1}}, path)
    with pytest.raises(WeightsError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert f"got a dict with keys ['{key}', 'epoch', 'optimizer']" in message
    assert f"torch.save(torch.load(PATH, weights_only=True)['{key}'], 'net.pt')" in message
    torch.save({key: _net_state()}, path)  # a dict of one entry: the same advice, nothing guessed
    with pytest.raises(WeightsError, match=rf"got a dict with keys \['{key}'\].*re-save it"):
        load_model(path)


@pytest.mark.parametrize(
    ("obj", "found"),
    [
        ({"model": {"weight": torch.zeros(2)}}, "got a dict with keys ['model']"),
        ({}, "got an empty dict"),
        ({"epoch": 3, "loss": 0.5}, "got a dict with keys ['epoch', 'loss']"),
        (torch.zeros(3), "got a single tensor of shape (3,)"),
        (7, "got a int"),
    ],
)
def test_foreign_objects_say_what_was_found_and_what_is_expected(tmp_path: Path, obj: object, found: str) -> None:
    path = tmp_path / "foreign.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError) as info:
        load_checkpoint(path)
    assert "expected a state dict of tensors for daft_mnist.model.Net" in str(info.value)
    assert found in str(info.value)
    assert "re-save" not in str(info.value), "no advice when no entry is a Net state dict"


def _fails_within(seconds: float, func: object, *args: object) -> BaseException:
    """Run ``func(*args)`` in a thread; the exception it raised, failing the test if it blocks."""
    import threading

    result: list[BaseException] = []

    def target() -> None:
        try:
            func(*args)  # type: ignore[operator]
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked (opened a FIFO?)"
    assert result, "no error raised"
    return result[0]


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink_to_directory"])
def test_weights_that_are_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "weights.pt"
    if kind == "directory":
        path.mkdir()
        what = "a directory"
    elif kind == "fifo":
        os.mkfifo(path)
        what = "a FIFO"
    else:
        (tmp_path / "dir").mkdir()
        path.symlink_to(tmp_path / "dir")
        what = "a directory"
    for func in (resolve_weights, load_checkpoint, load_model):
        exc = _fails_within(20, func, path)
        assert isinstance(exc, WeightsError)
        assert "is not a regular file" in str(exc)
        assert what in str(exc)
        assert "not found" not in str(exc)


@pytest.mark.parametrize("value", [b"0" * 64, 123, 1.5, ["0" * 64]])
def test_sha256_of_the_wrong_type_names_the_type(random_weights: Path, value: object) -> None:
    with pytest.raises(WeightsError, match=rf"sha256 must be a str .*got a value of type {type(value).__name__}"):
        resolve_weights(random_weights, sha256=value)  # type: ignore[arg-type]
    with pytest.raises(WeightsError, match=f"type {type(value).__name__}"):
        load_model(random_weights, sha256=value)  # type: ignore[arg-type]


def test_bytes_paths_are_accepted_and_wrong_types_refused(random_weights: Path) -> None:
    raw = os.fsencode(random_weights)
    assert resolve_weights(raw) == random_weights
    assert resolve_weights(raw, sha256=file_sha256(random_weights)) == random_weights
    expected = load_checkpoint(random_weights).state_dict
    for arg in (raw, Path(random_weights)):
        model = load_model(arg)
        assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
        assert set(load_checkpoint(arg).state_dict) == set(expected)
    with pytest.raises(WeightsError, match=r"weights file not found: .*nope\.pt"):
        load_model(os.fsencode(random_weights.parent / "nope.pt"))
    with pytest.raises(TypeError, match=r"weights must be None, a path .* got a value of type int"):
        resolve_weights(3)  # type: ignore[arg-type]


def test_undecodable_bytes_path_gives_a_printable_message(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/w\xff.pt"
    with pytest.raises(WeightsError, match="weights file not found") as info:
        load_model(raw)
    str(info.value).encode("utf-8")  # printable: no lone surrogates
    assert "\\xff" in str(info.value)


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_cache_dir_variable_pointing_to_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Server, where: str
) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    monkeypatch.setenv("DAFT_MNIST_CACHE_DIR", str(blocker if where == "file" else blocker / "cache"))
    body = b"weights"
    server.files["/m.pt"] = body
    with pytest.raises(WeightsError, match=r"DAFT_MNIST_CACHE_DIR") as info:
        resolve_weights(server.base + "/m.pt", sha256=hashlib.sha256(body).hexdigest())
    assert "not a directory" in str(info.value)
    assert server.gets == {}, "nothing downloaded"
    assert blocker.read_text() == "x"


SECRET_URLS = [
    "{base}/w/m.pt?token=s3cr3t",
    "http://alice:s3cr3t@127.0.0.1:{port}/w/m.pt",
    "{base}/w/m.pt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAs3cr3t&X-Amz-Signature=s3cr3t",
    "{base}/w/m.pt?access_token=s3cr3t&sig=s3cr3t",
]


@pytest.mark.parametrize("template", SECRET_URLS)
def test_credentials_in_weights_urls_never_appear_in_messages(
    server: Server, cache: Path, template: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = server.base.rsplit(":", 1)[1]
    url = template.format(base=server.base, port=port)
    with pytest.raises(WeightsError) as no_sha:
        resolve_weights(url)
    with pytest.raises(WeightsError) as missing:
        resolve_weights(url, sha256="0" * 64)  # 404: the server has no such file
    server.files["/w/m.pt"] = b"other"
    with pytest.raises(WeightsError) as mismatch:
        resolve_weights(url, sha256="0" * 64)
    for info in (no_sha, missing, mismatch):
        assert "s3cr3t" not in str(info.value)
        assert "127.0.0.1" in str(info.value), "the URL is still named"
    assert "s3cr3t" not in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://bob:hunter2@example.com/a.pt?token=abc&v=1.", "see https://***@example.com/a.pt?token=***&v=1."),
        (
            "(while processing s3://b/k.json?X-Amz-Signature=ab12)",
            "(while processing s3://b/k.json?X-Amz-Signature=***)",
        ),
        ("'gs://b/o?X-Goog-Credential=c&X-Goog-Signature=s'", "'gs://b/o?X-Goog-Credential=***&X-Goog-Signature=***'"),
        ("http://h/p?sig=1&api_key=2&password=3&page=4", "http://h/p?sig=***&api_key=***&password=***&page=4"),
        ("http://u:p@ss@h/x#access_token=t", "http://***@h/x#access_token=***"),
        ("https://h/v@1/x and ftp://user@h/f", "https://h/v@1/x and ftp://***@h/f"),
        ("no URL here: user:pass@host, a/b?token", "no URL here: user:pass@host, a/b?token"),
    ],
)
def test_redact_url_scrubs_userinfo_and_sensitive_parameters(text: str, expected: str) -> None:
    from daft_mnist.data._files import redact_url

    assert redact_url(text) == expected
