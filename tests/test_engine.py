"""The pure-torch engine: one runner chosen at build time, embeddings against a plain-torch oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.conftest import random_images

from daft_mnist.model._engine import EMBEDDING_SIZE, LoadedModel, ModelSpec
from daft_mnist.model.checkpoint import load_model
from daft_mnist.model.network import Net


def _oracle_embedding(weights: Path | None, pixels: np.ndarray) -> np.ndarray:
    """relu(fc1(.)) written out layer by layer on the plain eager float model."""
    net = load_model(weights)
    x = torch.from_numpy(net.preprocessing.normalize_numpy(pixels))
    with torch.inference_mode():
        x = F.relu(net.conv2(F.relu(net.conv1(x))))
        x = torch.flatten(F.max_pool2d(x, 2), 1)
        return F.relu(net.fc1(x)).numpy()


def test_embedding_size_is_fc1s_width() -> None:
    assert Net().fc1.out_features == EMBEDDING_SIZE


def test_forward_reads_the_features() -> None:
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(5, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), F.log_softmax(net.fc2(net.features(x)), dim=1), rtol=0, atol=0)


@pytest.mark.parametrize("n", [1, 7, 300])
def test_embed_matches_plain_torch_float32(random_weights: Path, n: int) -> None:
    pixels, _ = random_images(n, seed=n)
    model = LoadedModel(ModelSpec(str(random_weights), device="cpu", precision="float32"))
    got = model.embed(pixels)
    assert got.shape == (n, EMBEDDING_SIZE)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _oracle_embedding(random_weights, pixels), rtol=1e-4, atol=1e-5)
    assert (got >= 0).all()  # after the ReLU


def test_int8_model_embeds_with_its_float_net() -> None:
    pixels, _ = random_images(40, seed=2)
    model = LoadedModel(ModelSpec(None, device="cpu"))
    assert model.precision == "int8"
    np.testing.assert_allclose(model.embed(pixels), _oracle_embedding(None, pixels), rtol=1e-4, atol=1e-5)


def test_embed_of_no_images_and_of_read_only_views(random_weights: Path) -> None:
    model = LoadedModel(ModelSpec(str(random_weights), device="cpu"))
    assert model.embed(np.empty((0, 784), np.uint8)).shape == (0, EMBEDDING_SIZE)
    pixels, _ = random_images(10, seed=4)
    view = pixels.copy()
    view.flags.writeable = False
    np.testing.assert_array_equal(model.embed(view), model.embed(pixels))


def test_the_int8_model_skips_the_float_trace(random_weights: Path) -> None:
    """int8 builds no TorchScript graph it would not use; float32 on CPU does."""
    assert not LoadedModel(ModelSpec(None, device="cpu")).compiled
    assert LoadedModel(ModelSpec(None, device="cpu", precision="float32")).compiled


@pytest.mark.gpu
def test_cuda_embedding_matches_cpu(random_weights: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    pixels, _ = random_images(300, seed=5)
    cpu = LoadedModel(ModelSpec(str(random_weights), device="cpu"))
    gpu = LoadedModel(ModelSpec(str(random_weights), device="cuda"))
    np.testing.assert_allclose(gpu.embed(pixels), cpu.embed(pixels), rtol=1e-4, atol=1e-4)
