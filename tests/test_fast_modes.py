"""The fast inference path: same answers as the plain float32 model, batches that stay batches.

Fast tests use the seeded random-weights checkpoint; the agreement guard for the faster
numeric mode on the real test set uses the bundled weights and is marked slow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import random_images

from daft_mnist.model import _engine
from daft_mnist.model._engine import LoadedModel, ModelSpec
from daft_mnist.model.checkpoint import load_model


def _eager_log_probs(weights: Path | None, pixels: np.ndarray) -> torch.Tensor:
    """The reference: the plain eager float32 model in NCHW, normalized as its checkpoint says."""
    net = load_model(weights)
    x = torch.from_numpy(net.preprocessing.normalize_numpy(pixels))
    with torch.inference_mode():
        return net(x)


@pytest.mark.parametrize("n", [1, 7, 256, 300, 1024])
def test_float32_fast_path_matches_eager_model(random_weights: Path, n: int) -> None:
    pixels, _ = random_images(n, seed=n)
    model = LoadedModel(ModelSpec(str(random_weights), device="cpu"))
    got = model.log_probabilities(pixels)
    want = _eager_log_probs(random_weights, pixels)
    assert got.shape == (n, 10)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model.predict(pixels), want.argmax(1).numpy())


def test_fast_path_is_optimized_on_cpu(random_weights: Path) -> None:
    model = LoadedModel(ModelSpec(str(random_weights), device="cpu"))
    assert model.compiled, "expected the traced, inference-optimized graph on CPU"
    assert next(model.net.parameters()).device.type == "cpu"
    assert model.net.conv2.weight.is_contiguous(memory_format=torch.channels_last)


def test_predict_accepts_read_only_arrow_views(random_weights: Path) -> None:
    import pyarrow as pa

    from daft_mnist.images import pixels_to_numpy

    pixels, _ = random_images(40, seed=3)
    arr = pa.FixedSizeListArray.from_arrays(pa.array(pixels.reshape(-1), type=pa.uint8()), 784)
    view = pixels_to_numpy(arr)
    assert not view.flags.writeable  # a zero-copy view of the Arrow buffer
    model = LoadedModel(ModelSpec(str(random_weights), device="cpu"))
    np.testing.assert_array_equal(model.predict(view), model.predict(pixels))
    assert model.predict(view[:0]).shape == (0,)


def test_concurrent_calls_agree(random_weights: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pixels, _ = random_images(600, seed=9)
    model = LoadedModel(ModelSpec(str(random_weights), device="cpu"))
    want = model.predict(pixels)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(model.predict, [pixels] * 8))
    for out in outs:
        np.testing.assert_array_equal(out, want)


def test_json_pipeline_reaches_the_model_in_large_batches(
    tiny_json, random_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """read_json emits tiny batches; neither the pixel checks nor the model may see them one row at a time."""
    from daft import col

    from daft_mnist import add_image_2d, classify, load_mnist
    from daft_mnist.data import _columns as columns_mod

    path, pixels, _ = tiny_json(n=600)
    model_sizes: list[int] = []
    check_sizes: list[int] = []
    orig_lp = LoadedModel.log_probabilities
    orig_check = columns_mod.check_pixels_batch

    def spy_lp(self: LoadedModel, px: np.ndarray) -> torch.Tensor:
        model_sizes.append(len(px))
        return orig_lp(self, px)

    def spy_check(series, *args, **kwargs):  # type: ignore[no-untyped-def]
        check_sizes.append(len(series))
        return orig_check(series, *args, **kwargs)

    monkeypatch.setattr(LoadedModel, "log_probabilities", spy_lp)
    monkeypatch.setattr(columns_mod, "check_pixels_batch", spy_check)
    df = classify(add_image_2d(load_mnist(path)), weights=random_weights, batch_size=256)
    got = df.select(col("model_classification")).to_pydict()["model_classification"]

    assert len(got) == 600
    assert sum(model_sizes) == 600
    assert len(model_sizes) <= 4, f"expected a few batches of up to 256 rows, got sizes {model_sizes}"
    assert max(model_sizes) <= 256
    # one check per row (load_mnist's: add_image_2d sees List[UInt8; 784] and casts natively),
    # in a handful of batches
    assert sum(check_sizes) == 600
    assert len(check_sizes) <= 4, f"expected the pixel check to run on whole batches, got {len(check_sizes)} calls"
    want = LoadedModel(ModelSpec(str(random_weights), device="cpu")).predict(pixels)
    np.testing.assert_array_equal(np.asarray(got), want)


def test_model_built_once_per_spec(random_weights: Path) -> None:
    spec = ModelSpec(str(random_weights), device="cpu")
    first = _engine.get_model(spec)
    builds = _engine.model_build_count()
    assert _engine.get_model(ModelSpec(str(random_weights), device="cpu")) is first
    assert _engine.model_build_count() == builds


@pytest.mark.slow
def test_optimized_graph_agrees_with_eager_float32_on_the_test_set(mnist_dir: Path) -> None:
    """The guard for the faster path (traced, fused, channels-last): >= 99.9 % agreement, no accuracy drop."""
    from daft_mnist import load_mnist
    from daft_mnist.images import pixels_to_numpy

    table = load_mnist().to_arrow()
    pixels = pixels_to_numpy(table.column("image"))
    labels = table.column("label").to_numpy()
    assert len(pixels) == 10_000

    model = LoadedModel(ModelSpec(None, device="cpu", precision="float32"))
    assert model.compiled
    fast = model.predict(pixels)
    eager = _eager_log_probs(None, pixels).argmax(1).numpy()
    agreement = float(np.mean(fast == eager))
    assert agreement >= 0.999, (
        f"optimized graph agrees with eager on {agreement:.4%} of the test set, expected >= 99.9%"
    )
    acc_eager = float(np.mean(eager == labels))
    acc_fast = float(np.mean(fast == labels))
    assert acc_fast >= acc_eager, f"optimized accuracy {acc_fast:.4f} is below eager float32's {acc_eager:.4f}"


@pytest.mark.slow
def test_int8_agrees_with_float32_on_the_test_set(mnist_dir: Path) -> None:
    """The guard for int8, the default on CPU for the bundled weights: >= 99.9 % agreement with
    float32 on the 10,000 test images, and no accuracy drop."""
    from daft_mnist import load_mnist
    from daft_mnist.images import pixels_to_numpy

    table = load_mnist().to_arrow()
    pixels = pixels_to_numpy(table.column("image"))
    labels = table.column("label").to_numpy()
    assert len(pixels) == 10_000

    int8 = LoadedModel(ModelSpec(None, device="cpu"))
    assert int8.precision == "int8", "the bundled weights are calibrated: precision='auto' should pick int8"
    fast = int8.predict(pixels)
    exact = _eager_log_probs(None, pixels).argmax(1).numpy()
    agreement = float(np.mean(fast == exact))
    assert agreement >= 0.999, f"int8 agrees with float32 on {agreement:.4%} of the test set, expected >= 99.9%"
    acc_exact = float(np.mean(exact == labels))
    acc_fast = float(np.mean(fast == labels))
    assert acc_fast >= acc_exact, f"int8 accuracy {acc_fast:.4f} is below float32's {acc_exact:.4f}"
