"""The tutorial's Net, checkpoints and the preprocessing contract stored with the weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from daft_mnist import WeightsError
from daft_mnist.model import load_model
from daft_mnist.model.checkpoint import TUTORIAL_PREPROCESSING, Preprocessing, load_checkpoint, save_checkpoint
from daft_mnist.model.network import Net

# The keys and shapes of the tutorial's published mnist_cnn.pt (PyTorch examples/mnist Net).
TUTORIAL_KEYS = {
    "conv1.weight": (32, 1, 3, 3),
    "conv1.bias": (32,),
    "conv2.weight": (64, 32, 3, 3),
    "conv2.bias": (64,),
    "fc1.weight": (128, 9216),
    "fc1.bias": (128,),
    "fc2.weight": (10, 128),
    "fc2.bias": (10,),
}


def test_state_dict_keys_are_the_tutorials() -> None:
    assert {k: tuple(v.shape) for k, v in Net().state_dict().items()} == TUTORIAL_KEYS


def test_bare_state_dict_loads_with_tutorial_normalization(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = Net()
    path = tmp_path / "mnist_cnn.pt"
    torch.save(net.state_dict(), path)  # exactly what PyTorch's example script writes
    model = load_model(path)
    assert model.preprocessing == TUTORIAL_PREPROCESSING
    assert model.preprocessing.mean == pytest.approx(0.1307)
    assert model.preprocessing.std == pytest.approx(0.3081)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)


def test_checkpoint_round_trip_keeps_contract_and_metadata(tmp_path: Path) -> None:
    prep = Preprocessing(mean=0.2, std=0.5)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, Net(), prep, {"epochs": 3, "seed": 7})
    ckpt = load_checkpoint(path)
    assert ckpt.preprocessing == prep
    assert ckpt.metadata == {"epochs": 3, "seed": 7}
    assert set(ckpt.state_dict) == set(TUTORIAL_KEYS)


def test_load_model_is_in_eval_mode_without_grad(random_weights: Path) -> None:
    model = load_model(random_weights)
    assert not model.training
    assert all(not m.training for m in model.modules())
    assert all(not p.requires_grad for p in model.parameters())


def test_inference_is_deterministic_dropout_off(random_weights: Path) -> None:
    model = load_model(random_weights)
    x = torch.from_numpy(TUTORIAL_PREPROCESSING.normalize_numpy(np.random.default_rng(0).integers(0, 256, (64, 784))))
    with torch.inference_mode():
        a, b = model(x), model(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(784, 10).state_dict(), path)
    with pytest.raises(WeightsError, match=r"not a checkpoint of the tutorial's Net architecture.*missing keys"):
        load_model(path)


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    state = Net().state_dict()
    state["fc2.weight"] = torch.zeros(5, 128)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"fc2.weight: got \(5, 128\), expected \(10, 128\)"):
        load_model(path)


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weights file not found"):
        load_model(tmp_path / "nope.pt")


@pytest.mark.parametrize("device", ["tpu", "gpu", "", "cuda:x", "cpu:1:2", "meta", "xla", "cuda0", " cpu"])
def test_unknown_device_strings_name_the_accepted_ones(device: str, tmp_path: Path) -> None:
    from daft_mnist.model.checkpoint import resolve_device

    with pytest.raises(ValueError, match=r"device .*; expected one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'"):
        resolve_device(device)
    # checked before any file is read: the weights path does not exist
    with pytest.raises(ValueError, match="expected one of 'auto', 'cpu'"):
        load_model(tmp_path / "nope.pt", device=device)


def test_devices_of_other_kinds_are_refused() -> None:
    from daft_mnist.model.checkpoint import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match=r"unsupported device 'meta'"):
        resolve_device(torch.device("meta"))
    with pytest.raises(TypeError, match=r"device: expected a str \('auto', .*\) or a torch.device, got 0 \(int\)"):
        resolve_device(0)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(ValueError, match=r"CUDA device\(s\)"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
