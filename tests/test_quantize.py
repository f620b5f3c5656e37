"""int8 inference: calibration, the quantized model, and how ``precision`` is chosen.

The 10,000-image agreement guard is ``test_int8_agrees_with_float32_on_the_test_set`` in
``test_fast_modes.py`` (slow); here a 1,000-image slice of the test set and random inputs.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import random_images

from daft_mnist import Classifier, WeightsError, add_image_2d, classify, load_mnist
from daft_mnist.images import pixels_to_numpy
from daft_mnist.model._engine import LoadedModel, ModelSpec, choose_precision
from daft_mnist.model.checkpoint import TUTORIAL_PREPROCESSING, Net, load_model, save_checkpoint
from daft_mnist.model.quantize import CALIBRATION_KEY, Int8Calibration, Int8Net, calibrate_int8


@pytest.fixture(scope="module")
def test_slice(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    table = load_mnist().limit(1000).to_arrow()
    return np.array(pixels_to_numpy(table.column("image"))), table.column("label").to_numpy()


def _float_log_probs(net: Net, pixels: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        return net(torch.from_numpy(net.preprocessing.normalize_numpy(pixels)))


def _int8_log_probs(net: Net, calibration: Int8Calibration, pixels: np.ndarray) -> torch.Tensor:
    q = Int8Net(net, calibration)
    with torch.inference_mode():
        return q(torch.from_numpy(pixels.copy()).view(-1, 1, 28, 28))


# --- calibration ----------------------------------------------------------------------


def test_calibration_is_the_max_of_each_relu_output(random_weights: Path) -> None:
    """Oracle: the three ReLU outputs computed layer by layer in float64."""
    net = load_model(random_weights)
    pixels, _ = random_images(300, seed=4)
    cal = calibrate_int8(net, pixels, chunk_size=64)
    x = torch.from_numpy(net.preprocessing.normalize_numpy(pixels)).double()
    with torch.inference_mode():
        a1 = F.relu(F.conv2d(x, net.conv1.weight.double(), net.conv1.bias.double()))
        a2 = F.relu(F.conv2d(a1, net.conv2.weight.double(), net.conv2.bias.double()))
        a3 = F.relu(F.linear(F.max_pool2d(a2, 2).flatten(1), net.fc1.weight.double(), net.fc1.bias.double()))
    for got, want in zip((cal.conv1, cal.conv2, cal.fc1), (a1.max(), a2.max(), a3.max()), strict=True):
        assert math.isclose(got, float(want), rel_tol=1e-4)
    assert cal.images == 300


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), chunk=st.integers(1, 50), seed=st.integers(0, 2**16))
def test_calibration_does_not_depend_on_chunking(random_weights: Path, n: int, chunk: int, seed: int) -> None:
    net = load_model(random_weights)
    pixels, _ = random_images(n, seed=seed)
    whole = calibrate_int8(net, pixels, chunk_size=1024)
    chunked = calibrate_int8(net, pixels, chunk_size=chunk)
    for name in ("conv1", "conv2", "fc1"):
        assert math.isclose(getattr(whole, name), getattr(chunked, name), rel_tol=1e-5)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((0, 784), np.uint8), "at least one image"),
        (np.full((2, 784), 300), "uint8 pixels 0-255"),
        (np.full((2, 784), 0.5), "uint8 pixels 0-255"),
    ],
)
def test_calibration_refuses_bad_pixels(random_weights: Path, pixels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibrate_int8(load_model(random_weights), pixels)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"conv1": 1.0, "conv2": 1.0}, "must be a dict with keys"),
        ([1.0, 2.0, 3.0], "got list"),
        ({"conv1": -1.0, "conv2": 1.0, "fc1": 1.0, "images": 5}, "'conv1' must be a positive finite number"),
        ({"conv1": 1.0, "conv2": float("nan"), "fc1": 1.0, "images": 5}, "'conv2' must be a positive finite"),
        ({"conv1": 1.0, "conv2": 1.0, "fc1": True, "images": 5}, "'fc1' must be a positive finite"),
        ({"conv1": 1.0, "conv2": 1.0, "fc1": 1.0, "images": 0}, "'images' must be a positive integer"),
    ],
)
def test_calibration_from_dict_names_the_problem(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Int8Calibration.from_dict(data)


def test_calibration_round_trips_through_a_checkpoint(random_weights: Path, tmp_path: Path) -> None:
    net = load_model(random_weights)
    cal = calibrate_int8(net, random_images(50, seed=1)[0])
    path = tmp_path / "calibrated.pt"
    save_checkpoint(path, net, net.preprocessing, {CALIBRATION_KEY: cal.to_dict()})
    assert Int8Calibration.from_dict(load_model(path).metadata[CALIBRATION_KEY]) == cal


# --- the int8 model ----------------------------------------------------------------------


def test_bundled_int8_agrees_with_float32_on_a_test_slice(test_slice: tuple[np.ndarray, np.ndarray]) -> None:
    pixels, labels = test_slice
    net = load_model(None)
    cal = Int8Calibration.from_dict(net.metadata[CALIBRATION_KEY])
    exact, fast = _float_log_probs(net, pixels), _int8_log_probs(net, cal, pixels)
    assert fast.dtype == torch.float32
    assert fast.shape == (1000, 10)
    agreement = float((fast.argmax(1) == exact.argmax(1)).double().mean())
    assert agreement >= 0.999
    assert float((fast.argmax(1).numpy() == labels).mean()) >= float((exact.argmax(1).numpy() == labels).mean())
    # probabilities move a little, not a lot
    assert float((fast.exp() - exact.exp()).abs().max()) < 0.05


def test_int8_folds_normalization_into_conv1(random_weights: Path) -> None:
    """Int8Net takes raw pixels; any preprocessing contract is honoured (oracle: the float model)."""
    from daft_mnist.model.checkpoint import Preprocessing

    torch.manual_seed(7)
    prep = Preprocessing(mean=0.5, std=0.25)
    net = Net()
    net.preprocessing = prep
    net.eval()
    pixels, _ = random_images(200, seed=2)
    cal = calibrate_int8(net, pixels)
    exact, fast = _float_log_probs(net, pixels), _int8_log_probs(net, cal, pixels)
    assert float((fast.argmax(1) == exact.argmax(1)).double().mean()) >= 0.95
    assert float((fast.exp() - exact.exp()).abs().max()) < 0.05
    net_default = load_model(random_weights)
    assert net_default.preprocessing == TUTORIAL_PREPROCESSING


def test_building_int8_raises_no_warning_in_a_fresh_process() -> None:
    """torch 2.13 warns that quantized tensors are deprecated; the library keeps that from users."""
    code = (
        "from daft_mnist.model._engine import LoadedModel, ModelSpec\n"
        "import numpy as np\n"
        "m = LoadedModel(ModelSpec(precision='int8'))\n"
        "print(m.precision, m.predict(np.zeros((3, 784), np.uint8)).shape)\n"
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["int8", "(3,)"]
    assert "Warning" not in out.stderr


# --- choosing the precision -------------------------------------------------------------


def test_auto_is_int8_for_calibrated_weights_and_float32_otherwise(random_weights: Path) -> None:
    assert LoadedModel(ModelSpec(None, device="cpu")).precision == "int8"
    assert LoadedModel(ModelSpec(None, device="cpu", precision="float32")).precision == "float32"
    uncalibrated = LoadedModel(ModelSpec(str(random_weights), device="cpu"))
    assert uncalibrated.precision == "float32"
    assert uncalibrated.compiled


def test_int8_on_an_uncalibrated_checkpoint_says_how_to_calibrate(random_weights: Path) -> None:
    with pytest.raises(ValueError, match=r"no 'int8_calibration'.*calibrate_int8"):
        LoadedModel(ModelSpec(str(random_weights), device="cpu", precision="int8"))


def test_int8_without_an_x86_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.quantized, "engine", "qnnpack")
    assert LoadedModel(ModelSpec(None, device="cpu", num_threads=None)).precision == "float32"
    with pytest.raises(ValueError, match=r"quantized\.engine is 'qnnpack'"):
        LoadedModel(ModelSpec(None, device="cpu", precision="int8"))


def test_a_broken_calibration_in_a_checkpoint_is_a_weights_error(random_weights: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    net = load_model(random_weights)
    save_checkpoint(path, net, net.preprocessing, {CALIBRATION_KEY: {"conv1": "big"}})
    with pytest.raises(WeightsError, match="invalid int8_calibration"):
        LoadedModel(ModelSpec(str(path), device="cpu"))


def test_precision_is_validated_when_the_query_is_built() -> None:
    with pytest.raises(ValueError, match=r"precision: expected one of 'auto', 'float32', 'int8', got 'fp16'"):
        Classifier(precision="fp16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision must be one of"):
        LoadedModel(ModelSpec(None, precision="bf16"))


def test_classify_int8_and_float32_agree_through_daft(test_slice: tuple[np.ndarray, np.ndarray]) -> None:
    import daft

    pixels, labels = test_slice
    df = add_image_2d(daft.from_pydict({"image": [p.tolist() for p in pixels[:300]], "label": labels[:300].tolist()}))
    got = {
        precision: classify(df, precision=precision, batch_size=128).to_pydict()["model_classification"]  # type: ignore[arg-type]
        for precision in ("auto", "int8", "float32")
    }
    assert got["auto"] == got["int8"]
    assert np.mean(np.asarray(got["int8"]) == np.asarray(got["float32"])) >= 0.99


def test_when_torch_cannot_build_int8_auto_falls_back_and_int8_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """For a torch release without quantized tensors (deprecated in torch 2.13)."""
    from daft_mnist.model import quantize

    def gone(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("quantized tensors were removed")

    monkeypatch.setattr(quantize.Int8Net, "_build", gone)
    with caplog.at_level("WARNING", logger="daft_mnist"):
        model = LoadedModel(ModelSpec(None, device="cpu"))
    assert model.precision == "float32"
    assert model.compiled
    assert "int8 model could not be built (NotImplementedError: quantized tensors were removed)" in caplog.text
    with pytest.raises(RuntimeError, match=r"precision='int8': the int8 model could not be built with torch"):
        LoadedModel(ModelSpec(None, device="cpu", precision="int8"))


def test_auto_is_float32_on_cuda_and_int8_says_cpu_only() -> None:
    """The choice on a CUDA device, checked without one: the model is moved nowhere."""
    model = LoadedModel(ModelSpec(None, device="cpu", precision="float32"))
    assert model.calibration is not None
    cuda = torch.device("cuda")
    assert choose_precision("auto", cuda, model.calibration) == "float32"
    with pytest.raises(ValueError, match="int8 runs on CPU only, and this model is on cuda"):
        choose_precision("int8", cuda, model.calibration)
