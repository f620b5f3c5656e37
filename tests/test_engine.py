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


# --- the model cache follows the weights' content; classifying leaves torch's globals alone ----


def _save_random(path: Path, seed: int) -> None:
    from daft_mnist.model import TUTORIAL_PREPROCESSING, save_checkpoint

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Net()
    save_checkpoint(path, net, TUTORIAL_PREPROCESSING, {"seed": seed})


def test_weights_saved_again_to_the_same_path_are_loaded_again(tmp_path: Path) -> None:
    """The notebook retrain: save w.pt, classify, save other weights to w.pt, classify again."""
    import daft

    from daft_mnist import add_image_2d, classify

    images, _ = random_images(64, seed=3)
    df = add_image_2d(daft.from_pydict({"image": [i.tolist() for i in images]}))
    path = tmp_path / "w.pt"
    answers = []
    for seed in (1, 2, 1):
        _save_random(path, seed)
        want = LoadedModel(ModelSpec(str(path), device="cpu")).predict(images)
        got = classify(df, weights=path, device="cpu").to_pydict()["model_classification"]
        np.testing.assert_array_equal(np.asarray(got), want)
        answers.append(want)
    assert not np.array_equal(answers[0], answers[1]), "the two random models should disagree somewhere"


def test_the_model_cache_is_keyed_by_content_not_by_path(tmp_path: Path) -> None:
    from daft_mnist.model import _engine

    path = tmp_path / "w.pt"
    _save_random(path, 1)
    spec = ModelSpec(str(path), device="cpu")
    first = _engine.get_model(spec)
    assert _engine.get_model(spec) is first  # unchanged file: the same model, not rebuilt
    _save_random(path, 2)  # replaced (a new file renamed into place)
    second = _engine.get_model(spec)
    assert second is not first
    assert not torch.equal(second.net.fc2.weight, first.net.fc2.weight)
    # rewritten in place, same size, the time stamp put back: the content still tells
    other = tmp_path / "other.pt"
    _save_random(other, 3)
    st = path.stat()
    path.write_bytes(other.read_bytes())
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    third = _engine.get_model(spec)
    assert third is not second
    torch.testing.assert_close(third.net.fc2.weight, load_model(other).fc2.weight)
    # a file that is gone is an error, not the last model read from it
    path.unlink()
    from daft_mnist.errors import WeightsError

    with pytest.raises(WeightsError):
        _engine.get_model(spec)


def test_classifying_leaves_torch_threads_and_rng_unchanged(random_weights: Path) -> None:
    import daft

    from daft_mnist import add_image_2d, classify
    from daft_mnist.model._engine import get_model

    torch.manual_seed(7)
    rng_before = torch.random.get_rng_state().clone()
    threads = torch.get_num_threads()
    other = 1 if threads != 1 else 2
    images, _ = random_images(8, seed=4)
    df = add_image_2d(daft.from_pydict({"image": [i.tolist() for i in images]}))
    classify(df, weights=random_weights, num_threads=other, details=True).collect()
    assert torch.get_num_threads() == threads
    # the engine itself, called in this thread: the build and each call restore the count
    for spec in (ModelSpec(str(random_weights), device="cpu", num_threads=other), ModelSpec(num_threads=other)):
        model = get_model(spec)  # random float32 weights; the bundled ones (int8)
        assert torch.get_num_threads() == threads
        model.predict(images)
        model.embed(images)
        assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_before)
