"""Running on Daft's Ray runner and on GPUs: small pickles, no dependence on the driver's
working directory, fail-fast scheduling checks, and the same predictions as the native runner.

The Ray test starts its own Python process (``tests/ray_pipeline.py``): Daft allows one
runner per process, and this one uses the native runner.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import daft_mnist
from daft_mnist import _scheduling
from daft_mnist.classifier import Classifier
from daft_mnist.model import _engine

SCRIPT = Path(__file__).with_name("ray_pipeline.py")
N_IMAGES = 3000
# Two classes whose probabilities differ by less than this are a numerical tie: float32
# results depend slightly on how rows are batched, which differs between runners.
TIE = 1e-4


def _pipeline_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("daft_mnist_test_ray_pipeline", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pickled_size(obj: Any) -> int:
    from daft import pickle

    return len(pickle.dumps(obj))


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# --- pickles and paths -------------------------------------------------------------------


def test_udf_expression_pickles_small_and_builds_no_model(random_weights: Path) -> None:
    from daft import col, pickle

    before = _engine.model_build_count()
    clf = Classifier(weights=str(random_weights), batch_size=256, max_concurrency=1)
    exprs = [clf(col("image_2d")), clf.details(col("image_2d")), clf.probabilities(col("image_2d"))]
    sizes = [_pickled_size(e) for e in exprs]
    assert all(size < 10_000 for size in sizes), f"pickled UDF expressions should be < 10 KB, got {sizes} bytes"
    assert _pickled_size(clf) < 1_000
    assert pickle.loads(pickle.dumps(clf)) == clf
    assert _engine.model_build_count() == before, "building or pickling an expression must not build a model"


def test_relative_local_weights_are_made_absolute(
    tmp_path: Path, random_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(random_weights, tmp_path / "w.pt")
    monkeypatch.chdir(tmp_path)
    clf = Classifier(weights="w.pt", device="cpu")
    assert clf.weights == str(tmp_path / "w.pt")
    assert Classifier(weights=f"file://{tmp_path}/./w.pt").weights == str(tmp_path / "w.pt")
    assert Classifier(weights=Path("w.pt")).weights == str(tmp_path / "w.pt")  # type: ignore[arg-type]
    url = "https://example.com/models/w.pt"
    assert Classifier(weights=url, sha256="0" * 64).weights == url
    monkeypatch.chdir(tmp_path.parent)
    import daft
    from daft import col

    out = daft.from_pydict({"image": [[0] * 784]}).select(clf(col("image")).alias("p")).to_pydict()["p"]
    assert out[0] is not None  # still found from another directory


def test_bundled_weights_stay_unresolved_on_the_driver() -> None:
    # None travels as None; each worker finds the weights in its own installed package.
    from daft import col, pickle

    assert Classifier().weights is None
    assert b"mnist_cnn" not in pickle.dumps(Classifier()(col("image")))


# --- scheduling checks -------------------------------------------------------------------


def test_more_instances_than_cpus_raise_on_native_runner() -> None:
    from daft import col

    cpus = _local_cpus()
    Classifier(max_concurrency=cpus)(col("image_2d"))  # fits: builds
    Classifier(max_concurrency=2 * cpus, cpus=0.5)(col("image_2d"))  # fits: builds
    with pytest.raises(ValueError, match=rf"{cpus + 1} model instances need {cpus + 1} CPUs .* has {cpus} CPUs"):
        Classifier(max_concurrency=cpus + 1)(col("image_2d"))
    with pytest.raises(ValueError, match=r"no instance could ever start"):
        Classifier(cpus=cpus + 1)(col("image_2d"))


def test_classify_checks_concurrency_when_building(tiny_json: Any) -> None:
    path, _, _ = tiny_json(4)
    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(path))
    with pytest.raises(ValueError, match=r"lower max_concurrency to at most"):
        daft_mnist.classify(df, max_concurrency=_local_cpus() + 1)


def test_gpus_without_a_gpu_raise() -> None:
    from daft import col
    from daft.internal.gpu import cuda_visible_devices

    if cuda_visible_devices():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match=r"needs 1 CPUs and 1 GPUs, but the largest node .* has \d+ CPUs and 0 GPUs"):
        Classifier(gpus=1)(col("image_2d"))
    with pytest.raises(ValueError, match=r"0 GPUs"):
        Classifier(gpus=0.5, max_concurrency=1)(col("image_2d"))


@pytest.mark.parametrize(
    ("max_concurrency", "cpus", "gpus", "message"),
    [
        (4, None, 0.0, None),
        (8, 0.5, 0.0, None),
        (5, None, 0.0, r"5 model instances need 5 CPUs .* at most 4"),
        (1, 3.0, 0.0, r"largest node of the Ray cluster has 2 CPUs"),
        (2, None, 0.5, None),
        (3, None, 0.5, r"need 3 CPUs and 1.5 GPUs, but the Ray cluster has 4 CPUs and 1 GPUs; .* at most 2"),
        (None, None, 2.0, r"1 GPUs"),
    ],
)
def test_check_schedulable_against_a_ray_cluster(
    monkeypatch: pytest.MonkeyPatch, max_concurrency: int | None, cpus: float | None, gpus: float, message: str | None
) -> None:
    # Two nodes of 2 CPUs, one of them with a GPU, as Ray's cluster_resources()/nodes() report.
    monkeypatch.setattr(_scheduling, "schedulable", lambda: ("the Ray cluster", 4.0, 1.0, 2.0, 1.0))
    if message is None:
        _scheduling.check_schedulable(max_concurrency=max_concurrency, cpus=cpus, gpus=gpus)
    else:
        with pytest.raises(ValueError, match=message):
            _scheduling.check_schedulable(max_concurrency=max_concurrency, cpus=cpus, gpus=gpus)


def test_nothing_checked_when_daft_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise AssertionError("resources looked up although nothing was asked for")

    monkeypatch.setattr(_scheduling, "schedulable", fail)
    _scheduling.check_schedulable(max_concurrency=None, cpus=None, gpus=0.0)


# --- GPU ---------------------------------------------------------------------------------


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
def test_cuda_matches_cpu(random_weights: Path) -> None:
    if not _cuda_available():
        pytest.skip("no CUDA device")
    pixels = np.random.default_rng(3).integers(0, 256, size=(512, 784), dtype=np.uint8)
    cpu = _engine.LoadedModel(_engine.ModelSpec(str(random_weights), device="cpu"))
    gpu = _engine.LoadedModel(_engine.ModelSpec(str(random_weights), device="auto"))
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(
        gpu.log_probabilities(pixels).numpy(), cpu.log_probabilities(pixels).numpy(), atol=1e-4, rtol=1e-4
    )


_CUDA_PIPELINE = """
import sys
import daft_mnist as dm
df = dm.add_image_2d(dm.load_mnist(sys.argv[1]))
cuda = dm.classify(df, weights=sys.argv[2], device="cuda", batch_size=64).to_pydict()
cpu = dm.classify(df, weights=sys.argv[2], device="cpu", batch_size=64).to_pydict()
assert cuda["model_classification"] == cpu["model_classification"], "CUDA and CPU predictions differ"
print(len(cuda["model_classification"]))
"""


@pytest.mark.gpu
def test_cuda_pipeline_in_a_fresh_process_completes_and_matches_cpu(
    tiny_json: Callable[..., tuple[Path, np.ndarray, np.ndarray]], random_weights: Path, tmp_path: Path
) -> None:
    """The whole Daft pipeline on CUDA, in a process that never imported torch before building
    the query (the case that hung when torch was first imported inside the UDF thread)."""
    if not _cuda_available():
        pytest.skip("no CUDA device")
    path, _, _ = tiny_json(n=300)
    script = tmp_path / "cuda_pipeline.py"
    script.write_text(_CUDA_PIPELINE)
    out = subprocess.run(
        [sys.executable, str(script), str(path), str(random_weights)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert out.stdout.split()[-1] == "300"


def test_auto_device_is_cuda_exactly_when_available() -> None:
    from daft_mnist.model.checkpoint import resolve_device

    assert resolve_device("auto").type == ("cuda" if _cuda_available() else "cpu")


# --- the Ray runner ----------------------------------------------------------------------


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _ray_temp_dir(tmp_path: Path) -> Iterator[Path]:
    # Ray puts Unix sockets at <dir>/session_<date>_<pid>/sockets/plasma_store, about 63
    # characters below <dir>, and Unix socket paths are limited to 107 bytes.
    short = tmp_path / "r"
    if len(str(short)) <= 40:
        short.mkdir()
        yield short
        return
    fallback = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    try:
        yield fallback
    finally:
        shutil.rmtree(fallback, ignore_errors=True)


def _run_on_ray(tmp_path: Path, args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = tmp_path / "ray.json"
    src = str(Path(daft_mnist.__file__).resolve().parents[1])  # the daft_mnist under test, on workers too
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (src, full_env.get("PYTHONPATH", "")) if p)
    full_env["RAY_USAGE_STATS_ENABLED"] = "0"
    with _ray_temp_dir(tmp_path) as ray_tmp:
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--out", str(out), "--ray-tmp", str(ray_tmp), *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert proc.returncode == 0, f"Ray pipeline failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}"
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _assert_same_rows(
    ray_rows: dict[str, list[Any]], native_rows: dict[str, list[Any]], *, subset: bool = False
) -> int:
    """Ray's rows equal the native runner's, matched by image hash; returns how many were numerical ties."""
    pred = _pipeline_module().PREDICTION
    ray_keys, native_keys = sorted(ray_rows["key"]), sorted(native_rows["key"])
    if subset:
        assert set(ray_keys) <= set(native_keys)
    else:
        assert ray_keys == native_keys, "the Ray runner returned other rows than the native runner"
    native = {k: i for i, k in enumerate(native_rows["key"])}
    ties = 0
    for j, key in enumerate(ray_rows["key"]):
        i = native[key]
        assert ray_rows["label"][j] == native_rows["label"][i]
        p_ray, p_nat = np.asarray(ray_rows["probabilities"][j]), np.asarray(native_rows["probabilities"][i])
        np.testing.assert_allclose(p_ray, p_nat, atol=1e-5, err_msg=f"probabilities of image {key}")
        np.testing.assert_allclose(ray_rows[f"{pred}_confidence"][j], native_rows[f"{pred}_confidence"][i], atol=1e-5)
        a, b = ray_rows[pred][j], native_rows[pred][i]
        if a != b:
            assert abs(p_nat[a] - p_nat[b]) < TIE, (
                f"image {key}: Ray predicted {a}, native {b}, with probabilities {p_nat[a]:.6f} vs {p_nat[b]:.6f}"
            )
            ties += 1
    return ties


def _native_rows(*, weights: str | None, n: int) -> dict[str, list[Any]]:
    module = _pipeline_module()
    rows: dict[str, list[Any]] = module.rows(module.pipeline(n=n, weights=weights))
    return rows


def _require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install 'daft-mnist[ray]'")


@pytest.mark.ray
def test_ray_runner_matches_native(tmp_path: Path, random_weights: Path, mnist_dir: Path) -> None:
    _require_ray()
    from daft_mnist.data._files import file_sha256

    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    shutil.copy(random_weights, weights_dir / "random.pt")
    sha = file_sha256(random_weights)
    cache = tmp_path / "cache"
    with _serve(weights_dir) as base:
        result = _run_on_ray(
            tmp_path,
            # A relative path, from the driver's working directory: made absolute on the driver.
            [
                *("--n", str(N_IMAGES), "--weights", "random.pt"),
                *("--remote-weights", f"{base}/random.pt", "--remote-sha256", sha, "--remote-n", "200"),
            ],
            cwd=weights_dir,
            env={"DAFT_MNIST_CACHE_DIR": str(cache)},
        )
    assert result["runner"] == "ray"
    assert result["cluster_cpus"] == 2
    assert "the Ray cluster has 2 CPUs" in result["schedule_error"]
    assert len(result["rows"]["key"]) == N_IMAGES

    native = _native_rows(weights=str(random_weights), n=N_IMAGES)
    assert len(native["key"]) == N_IMAGES
    ties = _assert_same_rows(result["rows"], native)
    # Bad rows counted from the data: the same on an actor pool and on Ray tasks as natively.
    native_counts = _pipeline_module().bad_rows(str(random_weights), None, max_concurrency=1)
    assert native_counts["count"] == [1, 1, 1]
    assert result["error_counts"] == result["task_error_counts"] == native_counts
    assert ties <= 3, f"{ties} predictions differ by a numerical tie: more than rounding explains"

    # Remote weights: downloaded once into the verified cache by the workers, same predictions.
    assert len(result["remote_rows"]["key"]) == 200
    _assert_same_rows(result["remote_rows"], native, subset=True)
    cached = cache / sha[:16] / "random.pt"
    assert cached.is_file()
    assert file_sha256(cached) == sha


@pytest.mark.ray
@pytest.mark.slow
def test_ray_runner_bundled_weights_match_native(tmp_path: Path, mnist_dir: Path) -> None:
    _require_ray()
    result = _run_on_ray(tmp_path, ["--n", str(N_IMAGES)], cwd=tmp_path)
    native = _native_rows(weights=None, n=N_IMAGES)
    ties = _assert_same_rows(result["rows"], native)
    assert ties <= 1, f"{ties} predictions differ by a numerical tie: trained weights should leave almost none"
