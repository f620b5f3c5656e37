"""``daft_mnist.provider.MnistProvider`` behind Daft's ``classify_image`` and ``embed_image``:
the same predictions as :class:`daft_mnist.Classifier`, the CNN's penultimate layer as the
embedding, ten labels, one model per process, and the Ray runner (in its own process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import daft
import numpy as np
import pytest

import daft_mnist
from daft_mnist import provider as P
from daft_mnist._udf import NULL_IMAGE_REASON
from daft_mnist.model import load_model

DIGITS = [str(d) for d in range(10)]
N = 1000


def _engine() -> Any:
    from daft_mnist.model import _engine as engine

    return engine


def _torch_embedding(pixels: np.ndarray) -> np.ndarray:
    """relu(fc1) of the bundled weights, with plain torch and a forward hook."""
    import torch

    net = load_model()
    seen: list[torch.Tensor] = []
    handle = net.fc1.register_forward_hook(lambda _m, _i, out: seen.append(torch.relu(out)))
    try:
        with torch.no_grad():
            net(torch.from_numpy(net.preprocessing.normalize_numpy(pixels)))
    finally:
        handle.remove()
    return seen[0].numpy()


@pytest.fixture(scope="module")
def provider_frame(test_json: Path) -> dict[str, Any]:
    """1,000 test images through the provider (tensor, grayscale image, RGB image) and Classifier."""
    from daft import col
    from daft.functions import classify_image, embed_image

    mp = P.MnistProvider()
    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(test_json).limit(N))
    df = df.with_column("img", daft_mnist.to_image(col("image")))
    df = df.with_columns(
        {
            "library": daft_mnist.Classifier()(col("image_2d")),
            "from_tensor": classify_image(col("image_2d"), labels=DIGITS, provider=mp),
            "from_rgb": classify_image(col("img").convert_image("RGB"), labels=DIGITS, provider=mp),
            "emb_image": embed_image(col("img"), provider=mp),
            "emb_tensor": embed_image(col("image_2d"), provider=mp),
        }
    )
    assert df.schema()["emb_image"].dtype == daft_mnist_embedding_dtype()
    assert str(df.schema()["from_tensor"].dtype) == "String"
    data: dict[str, Any] = df.select(
        "image", "library", "from_tensor", "from_rgb", "emb_image", "emb_tensor"
    ).to_pydict()
    return data


def daft_mnist_embedding_dtype() -> Any:
    from daft import DataType

    return DataType.embedding(DataType.float32(), 128)


def test_classify_image_equals_classifier_row_for_row(provider_frame: dict[str, Any]) -> None:
    library = [str(d) for d in provider_frame["library"]]
    assert len(library) == N
    assert provider_frame["from_tensor"] == library
    assert provider_frame["from_rgb"] == library


def test_embed_image_is_the_penultimate_layer(provider_frame: dict[str, Any]) -> None:
    pixels = np.asarray(provider_frame["image"], dtype=np.uint8)
    want = _torch_embedding(pixels)
    for column in ("emb_image", "emb_tensor"):
        got = np.stack(provider_frame[column])
        assert got.shape == (N, 128)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4, err_msg=column)


def test_embeddings_work_with_cosine_distance(test_json: Path) -> None:
    from daft import col
    from daft.functions import cosine_distance, embed_image

    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(test_json).limit(20))
    df = df.with_column("e", embed_image(col("image_2d"), provider=P.MnistProvider()))
    d = df.with_column("self", cosine_distance(col("e"), col("e"))).to_pydict()["self"]
    np.testing.assert_allclose(d, 0.0, atol=1e-5)


@pytest.mark.parametrize(
    "labels", [list(P.DIGIT_NAMES), ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"]]
)
def test_labels_name_the_digits_in_order(test_json: Path, labels: list[str]) -> None:
    from daft import col
    from daft.functions import classify_image

    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(test_json).limit(50))
    df = df.with_columns(
        {
            "named": classify_image(col("image_2d"), labels=labels, provider=P.MnistProvider()),
            "digit": daft_mnist.Classifier()(col("image_2d")),
        }
    )
    d = df.to_pydict()
    assert d["named"] == [labels[k] for k in d["digit"]]


@pytest.mark.parametrize(
    ("labels", "count"), [(["0", "1", "2"], "3 labels"), ("0123456789", "1 label"), ([], "0 labels")]
)
def test_other_label_counts_are_a_clear_error(labels: Any, count: str) -> None:
    import daft
    from daft import DataType, col
    from daft.functions import classify_image

    with pytest.raises(ValueError, match=rf"labels must be 10 names, one per digit 0-9 in order .* got {count}"):
        P.check_labels(labels)
    df = daft.from_pydict({"t": [np.zeros((28, 28), np.uint8)]})
    df = df.with_column("t", col("t").cast(DataType.tensor(DataType.uint8(), (28, 28))))
    with pytest.raises(ValueError, match=rf"got {count}"):
        df.with_column("d", classify_image(col("t"), labels=labels, provider=P.MnistProvider())).collect()


@pytest.mark.parametrize("labels", [None, 7, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
def test_labels_of_another_kind_name_the_option(labels: Any) -> None:
    import daft
    from daft import DataType, col
    from daft.functions import classify_image

    from daft_mnist.errors import OptionError

    want = r"^labels: expected ten names, one per digit 0-9 in order .*, got " if not isinstance(labels, list) else ""
    with pytest.raises(OptionError, match=want or r"each a str, got 0 \(int\)"):
        P.check_labels(labels)
    df = daft.from_pydict({"t": [np.zeros((28, 28), np.uint8)]})
    df = df.with_column("t", col("t").cast(DataType.tensor(DataType.uint8(), (28, 28))))
    with pytest.raises(ValueError, match="labels: expected ten names"):
        df.with_column("d", classify_image(col("t"), labels=labels, provider=P.MnistProvider())).collect()


def test_one_model_per_process_shared_with_classifier(tmp_path: Path, random_weights: Path, test_json: Path) -> None:
    from daft import col
    from daft.functions import classify_image, embed_image

    weights = tmp_path / "fresh.pt"  # a path no other test used: a spec not yet in the cache
    shutil.copy(random_weights, weights)
    mp = P.MnistProvider(weights=weights)
    before = _engine().model_build_count()
    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(test_json).limit(300)).into_batches(100)
    df = df.with_columns(
        {
            "a": classify_image(col("image_2d"), labels=DIGITS, provider=mp),
            "b": embed_image(col("image_2d"), provider=mp),
            "c": daft_mnist.Classifier(weights=str(weights))(col("image_2d")),
        }
    )
    assert _engine().model_build_count() == before, "building the query must not build a model"
    d = df.to_pydict()
    df.collect()  # a second query
    assert _engine().model_build_count() == before + 1
    assert d["a"] == [str(k) for k in d["c"]]


def test_set_provider_makes_it_the_default(test_json: Path) -> None:
    import daft
    from daft import col
    from daft.functions import classify_image, embed_image

    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(test_json).limit(20))
    daft.set_provider(P.MnistProvider(name="mnist_test"))
    try:
        assert daft.current_provider().name == "mnist_test"
        d = df.with_columns(
            {
                "p": classify_image(col("image_2d"), labels=DIGITS),
                "e": embed_image(col("image_2d")),
                "c": daft_mnist.Classifier()(col("image_2d")),
            }
        ).to_pydict()
    finally:
        daft.set_provider(None)
        daft.detach_provider("mnist_test")
    assert d["p"] == [str(k) for k in d["c"]]
    assert len(d["e"][0]) == 128


def test_descriptors_are_small_picklable_and_build_nothing(tmp_path: Path, random_weights: Path) -> None:
    from daft import pickle

    before = _engine().model_build_count()
    mp = P.MnistProvider(weights=random_weights, precision="float32")
    for descriptor in (mp.get_image_classifier(batch_size=64), mp.get_image_embedder()):
        blob = pickle.dumps(descriptor)
        assert len(blob) < 1_000
        assert pickle.loads(blob) == descriptor
        assert descriptor.get_provider() == "daft_mnist"
        assert descriptor.get_model() == str(random_weights)
    assert mp.get_image_classifier(batch_size=64).get_udf_options().batch_size == 64
    assert mp.get_image_classifier().get_udf_options().max_retries == 0
    assert mp.get_image_embedder().get_dimensions().size == 128
    assert _engine().model_build_count() == before


def test_options_model_and_relative_paths(
    tmp_path: Path, random_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(random_weights, tmp_path / "w.pt")
    monkeypatch.chdir(tmp_path)
    mp = P.MnistProvider()
    assert mp.get_image_classifier().model.weights is None  # bundled: found on each worker
    assert mp.get_image_classifier("w.pt").model.weights == str(tmp_path / "w.pt")
    assert P.MnistProvider(weights="w.pt").get_image_embedder().model.weights == str(tmp_path / "w.pt")
    assert mp.get_image_embedder(device="cpu", precision="float32").model.device == "cpu"
    with pytest.raises(ValueError, match=r"unknown options \['labelz'\]"):
        mp.get_image_classifier(labelz=3)
    with pytest.raises(ValueError, match="precision: expected one of 'auto', 'float32', 'int8', got 'fp16' \\(str\\)"):
        P.MnistProvider(precision="fp16")


# --- preparation -----------------------------------------------------------------------------


def test_prepare_images_leaves_mnist_unchanged_and_takes_any_layout() -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((28, 28), np.uint8)
    img[5:23, 8:20] = rng.integers(0, 256, (18, 12))
    want = img.reshape(1, 784)
    rgba = np.dstack([img, img, img, np.full_like(img, 255)])
    for layout in (img, img[:, :, None], img.reshape(784), np.repeat(img[:, :, None], 3, axis=2), rgba):
        pixels, reasons = P.prepare_images([layout])
        np.testing.assert_array_equal(pixels, want)
        assert reasons == [None]
    # Float pixels follow classify's one rule: whole numbers 0-255 (not [0, 1] scaled up).
    np.testing.assert_array_equal(P.prepare_images([img.astype(np.float32)])[0], want)
    assert "is not an integer in 0-255" in str(P.prepare_images([img.astype(np.float32) / 255])[1][0])
    from PIL import Image

    np.testing.assert_array_equal(P.prepare_images([Image.fromarray(img)])[0], want)
    assert P.prepare_images([])[0].shape == (0, 784)
    with pytest.raises(ValueError, match="not an image"):
        P.prepare_images([np.zeros((2, 3, 5), np.uint8)])


def test_prepare_images_is_the_librarys_preparation() -> None:
    """Pictures of other sizes go through mnist_style's prepare_batch; no digit: a reason, zeros."""
    from daft_mnist.vision._prepare import prepare_batch

    page = np.full((90, 60, 3), 245, np.uint8)
    page[15:75, 25:35] = 20
    blank = np.full((40, 40, 3), 255, np.uint8)
    pixels, reasons = P.prepare_images([page, blank, None])
    np.testing.assert_array_equal(pixels[0], prepare_batch([page]).pixels[0].reshape(-1))
    assert reasons[0] is None
    assert reasons[1] == "image is blank (no ink)"
    assert reasons[2] == NULL_IMAGE_REASON  # classify's words
    assert not pixels[1:].any()


def test_pictures_are_prepared_as_classify_prepares_them_and_blank_ones_get_null(test_json: Path) -> None:
    """Dark-on-light photos of any size: MNIST digits blown up to 140x140 RGB and inverted get the
    label classify gives the same column, row for row, and nearly always the originals' digit;
    a blank page gets null (label and embedding), never a confident digit."""
    import daft
    from daft import DataType, col
    from daft.functions import classify_image, embed_image
    from PIL import Image

    data = daft_mnist.load_mnist(test_json).limit(100).to_pydict()
    pixels = np.asarray(data["image"], np.uint8).reshape(-1, 28, 28)
    big = [
        np.asarray(Image.fromarray(255 - p).resize((140, 140), Image.Resampling.BILINEAR).convert("RGB"))
        for p in pixels
    ]
    big.append(np.full((140, 140, 3), 255, np.uint8))  # a blank page
    prepared, reasons = P.prepare_images(big)
    assert prepared.shape == (101, 784)
    assert prepared.reshape(-1, 28, 28)[:-1, 0, :].mean() < 10, "light borders must be inverted to dark"
    assert reasons[:-1] == [None] * 100
    df = daft.from_pydict({"photo": big}).with_column("photo", col("photo").cast(DataType.image("RGB")))
    mp = P.MnistProvider()
    df = df.with_columns(
        {
            "d": classify_image(col("photo"), labels=DIGITS, provider=mp),
            "e": embed_image(col("photo"), provider=mp),
            "library": daft_mnist.Classifier()(col("photo")),
        }
    )
    out = df.to_pydict()
    assert out["d"][-1] is None
    assert out["e"][-1] is None
    assert out["library"][-1] is None
    assert out["d"] == [None if d is None else str(d) for d in out["library"]]
    got = out["d"][:-1]
    want = _engine().get_model(_engine().ModelSpec()).predict(pixels.reshape(-1, 784))
    agree = np.mean([g == str(w) for g, w in zip(got, want, strict=True)])
    assert agree >= 0.95, f"only {agree:.0%} of resized, inverted digits kept their prediction"


# --- the Ray runner --------------------------------------------------------------------------

_RAY_SCRIPT = """
import json, os, sys
import daft, ray
from daft import col
from daft.functions import classify_image, embed_image
import daft_mnist
from daft_mnist.provider import MnistProvider

ray.init(num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[2])
daft.set_runner_ray(noop_if_initialized=True)
try:
    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(sys.argv[1]).limit(int(sys.argv[3]))).into_batches(250)
    df = df.with_column("key", col("image").hash())
    mp = MnistProvider()
    df = df.with_columns({
        "digit": classify_image(col("image_2d"), labels=[str(d) for d in range(10)], provider=mp, concurrency=1),
        "emb": embed_image(col("image_2d"), provider=mp, concurrency=1),
    })
    d = df.select("key", "digit", "emb").to_pydict()
    from daft.runners import _get_runner
    out = {"runner": _get_runner().name, "key": d["key"], "digit": d["digit"],
           "emb": [[float(x) for x in e] for e in d["emb"]]}
finally:
    ray.shutdown()
with open(sys.argv[4], "w") as f:
    json.dump(out, f)
"""


@pytest.mark.ray
def test_provider_on_the_ray_runner_matches_native(tmp_path: Path, test_json: Path) -> None:
    import importlib.util
    import tempfile

    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install 'daft-mnist[ray]'")
    from daft import col
    from daft.functions import classify_image, embed_image

    n = 1000
    script = tmp_path / "ray_provider.py"
    script.write_text(textwrap.dedent(_RAY_SCRIPT))
    out = tmp_path / "out.json"
    src = str(Path(daft_mnist.__file__).resolve().parents[1])
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Unix socket paths are short
    try:
        proc = subprocess.run(
            [sys.executable, str(script), str(test_json), str(ray_tmp), str(n), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, f"Ray run failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}"
    ray_rows = json.loads(out.read_text())
    assert ray_rows["runner"] == "ray"

    mp = P.MnistProvider()
    df = daft_mnist.add_image_2d(daft_mnist.load_mnist(test_json).limit(n))
    df = df.with_column("key", col("image").hash())
    df = df.with_columns(
        {
            "digit": classify_image(col("image_2d"), labels=DIGITS, provider=mp),
            "emb": embed_image(col("image_2d"), provider=mp),
        }
    )
    native = df.select("key", "digit", "emb").to_pydict()
    assert sorted(ray_rows["key"]) == sorted(native["key"])
    at = {k: i for i, k in enumerate(native["key"])}
    for j, key in enumerate(ray_rows["key"]):
        i = at[key]
        assert ray_rows["digit"][j] == native["digit"][i]
        np.testing.assert_allclose(ray_rows["emb"][j], native["emb"][i], atol=1e-4)


def test_classify_image_takes_grayscale_image_columns_and_nulls(test_json: Path) -> None:
    """Daft 0.7.26's wrapper calls Image.fromarray on (H, W, 1) arrays and nulls; mended by the provider."""
    from daft import col
    from daft.functions import classify_image

    df = daft_mnist.load_mnist(test_json).limit(5)
    df = df.with_column("img", daft_mnist.to_image(col("image")))
    df = daft_mnist.classify(df, image="img").with_column(
        "d", classify_image(col("img"), labels=DIGITS, provider=P.MnistProvider())
    )
    rows = df.to_pydict()
    assert [int(d) for d in rows["d"]] == rows["model_classification"]
    nulls = daft.from_pydict({"img": [None, None]}).select(col("img").cast(daft.DataType.image("L")))
    out = nulls.select(classify_image(col("img"), labels=DIGITS, provider=P.MnistProvider()).alias("d"))
    assert out.to_pydict()["d"] == [None, None]


def test_provider_gives_classifys_answer_on_every_real_digit() -> None:
    """load_images output straight into classify_image (grey pictures included): 150/150, row for row as classify."""
    from daft import col
    from daft.functions import classify_image, embed_image

    from .conftest import data_dir

    df = daft_mnist.load_images(data_dir() / "real-digits")
    df = daft_mnist.classify(df, image="image")
    df = df.with_columns(
        {
            "d": classify_image(col("image"), labels=DIGITS, provider=P.MnistProvider()),
            "e": embed_image(col("image"), provider=P.MnistProvider()),
            "e_lib": daft_mnist.embed_digit(col("image")),
        }
    )
    rows = df.to_pydict()
    assert len(rows["label"]) == 150
    assert [int(d) for d in rows["d"]] == rows["model_classification"] == rows["label"]
    for a, b in zip(rows["e"], rows["e_lib"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_provider_by_name_keeps_the_users_default_provider(test_json: Path) -> None:
    """daft.attach_provider(..., alias=) makes it usable by name; the session's current provider is unchanged."""
    from daft import col
    from daft.functions import classify_image

    sess = daft.current_session()
    assert daft.current_provider() is None
    daft.attach_provider(P.MnistProvider("users_own"), alias="users_own")
    daft.set_provider("users_own")  # the user's default, set before
    daft.attach_provider(P.MnistProvider(), alias="mnist_by_name")
    try:
        assert daft.current_provider().name == "users_own"
        df = daft_mnist.load_mnist(test_json).limit(3).with_column("img", daft_mnist.to_image(col("image")))
        df = daft_mnist.classify(df, image="img")
        out = df.with_column("d", classify_image(col("img"), labels=DIGITS, provider="mnist_by_name")).to_pydict()
        assert [int(d) for d in out["d"]] == out["model_classification"]
    finally:
        daft.set_provider(None)
        sess.detach_provider("mnist_by_name")
        sess.detach_provider("users_own")
    # With no default before, Daft makes the first attached provider current: set_provider(None) puts it back.
    daft.attach_provider(P.MnistProvider(), alias="mnist_by_name")
    daft.set_provider(None)
    try:
        assert daft.current_provider() is None
        assert sess.get_provider("mnist_by_name").name == "daft_mnist"
    finally:
        sess.detach_provider("mnist_by_name")
