"""The expression functions (classify_digit, embed_digit), the model classes behind them, and
the helpers that chain: classify -> misclassified -> plot_digits with no extra arguments."""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import fields
from pathlib import Path

import daft
import numpy as np
import pytest
from daft import col
from tests.conftest import random_images

from daft_mnist import Classifier, add_image_2d, classify, image_2d, misclassified, plot_digits
from daft_mnist._udf import RETURN_DTYPES, MnistModel, ModelRun, UdfOptions, model_expression
from daft_mnist.classifier import ClassifyOptions, ModelOptions, classify_digit, embed_digit
from daft_mnist.model._engine import EMBEDDING_SIZE, LoadedModel, ModelSpec, model_build_count


def frame(pixels: np.ndarray) -> daft.DataFrame:
    return daft.from_pydict({"image": [p.tolist() for p in pixels], "label": list(range(len(pixels)))})


# --- classify_digit / embed_digit ---------------------------------------------------------


def test_options_are_the_classifiers_fields() -> None:
    assert set(ClassifyOptions.__annotations__) == {f.name for f in fields(Classifier)}
    assert set(ClassifyOptions.__annotations__) == {*ModelOptions.__annotations__, "on_error", "min_confidence"}


def test_classify_digit_is_the_classifier(random_weights: Path) -> None:
    pixels, _ = random_images(60, seed=11)
    df = frame(pixels)
    clf = Classifier(weights=str(random_weights), batch_size=16)
    out = df.select(
        classify_digit(col("image"), weights=random_weights, batch_size=16).alias("f"),
        clf(col("image")).alias("c"),
        classify_digit(col("image"), weights=random_weights, details=True).alias("s"),
    ).to_pydict()
    want = LoadedModel(ModelSpec(str(random_weights), device="cpu")).predict(pixels)
    assert out["f"] == out["c"] == want.tolist()
    assert [s["prediction"] for s in out["s"]] == out["f"]


def test_classify_digit_validates_options_when_built() -> None:
    with pytest.raises(ValueError, match="batch_size: expected an integer >= 1, got 0"):
        classify_digit(col("image"), batch_size=0)
    with pytest.raises(ValueError, match="on_error: expected one of 'raise', 'null'"):
        embed_digit(col("image"), on_error="skip")  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="gpus: expected a fraction in"):
        classify_digit(col("image"), gpus=float("nan"))
    with pytest.raises(TypeError):
        classify_digit(col("image"), column="x")  # type: ignore[call-arg]


def test_embed_digit_gives_the_models_embeddings(random_weights: Path) -> None:
    pixels, _ = random_images(50, seed=12)
    df = frame(pixels).with_column("e", embed_digit(image_2d(col("image")), weights=random_weights, batch_size=16))
    assert df.schema()["e"].dtype == daft.DataType.embedding(daft.DataType.float32(), EMBEDDING_SIZE)
    got = np.stack(df.sort("label").to_pydict()["e"])
    want = LoadedModel(ModelSpec(str(random_weights), device="cpu")).embed(pixels)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_embeddings_work_with_daft_cosine_distance(random_weights: Path) -> None:
    from daft.functions import cosine_distance

    pixels, _ = random_images(6, seed=13)
    df = frame(pixels).with_column("e", embed_digit(col("image"), weights=random_weights))
    first = df.where(col("label") == 0).select(col("e").alias("q"))
    out = df.join(first, how="cross").select("label", cosine_distance(col("e"), col("q")).alias("d")).sort("label")
    distances = out.to_pydict()["d"]
    vectors = LoadedModel(ModelSpec(str(random_weights), device="cpu")).embed(pixels).astype(np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    want = 1 - vectors @ vectors[0] / (norms * norms[0])
    np.testing.assert_allclose(distances, want, atol=1e-5)
    assert distances[0] == pytest.approx(0.0, abs=1e-6)


def test_embed_digit_nulls_with_on_error_null(random_weights: Path) -> None:
    pixels, _ = random_images(3, seed=14)
    df = daft.from_pydict({"image": [pixels[0].tolist(), None, [7] * 783]})
    out = df.select(embed_digit(col("image"), weights=random_weights, on_error="null").alias("e")).to_pydict()["e"]
    assert out[1] is None
    assert out[2] is None
    assert np.asarray(out[0]).shape == (EMBEDDING_SIZE,)


# --- the model classes ----------------------------------------------------------------------


def test_one_model_class_picklable_by_name() -> None:
    assert pickle.loads(pickle.dumps(MnistModel)) is MnistModel
    assert len(pickle.dumps(MnistModel)) < 200
    run = ModelRun(ModelSpec(weights="/w.pt"), "null", 0.5)
    assert pickle.loads(pickle.dumps(run)) == run


@pytest.mark.parametrize("method", sorted(RETURN_DTYPES))
def test_options_reach_daft_for_each_expression(method: str) -> None:
    """The resources and batch size are set per expression, and Daft's plan carries them."""
    run = ModelRun(ModelSpec())
    df = daft.from_pydict({"image": [[0] * 784]})
    for options in (UdfOptions(96, 0.5, 0.25, 3), UdfOptions(7, None, 0.0, None)):
        expr = model_expression(run, options, method, col("image"))
        assert df.select(expr.alias("x")).schema()["x"].dtype == RETURN_DTYPES[method]
        plan = _physical_plan(df.select(expr.alias("x")))
        assert f"batch_size = {options.batch_size}" in plan
        if options.max_concurrency is not None:
            assert f"concurrency = {options.max_concurrency}" in plan
        if options.gpus:
            assert f"num_gpus = {options.gpus}" in plan
    with pytest.raises(ValueError, match="method must be one of"):
        model_expression(run, UdfOptions(1, None, 0.0, None), "report_cde", col("image"))


def _physical_plan(df: daft.DataFrame) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        df.explain(show_all=True)
    return buffer.getvalue()


def test_one_model_per_process_across_batch_sizes(random_weights: Path, tmp_path: Path) -> None:
    weights = tmp_path / "fresh.pt"  # a spec this process has not seen yet
    shutil.copy(random_weights, weights)
    pixels, _ = random_images(64, seed=15)
    before = model_build_count()
    df = frame(pixels)
    out = df.select(
        classify_digit(col("image"), weights=weights, batch_size=8).alias("a"),
        classify_digit(col("image"), weights=weights, batch_size=32).alias("b"),
        embed_digit(col("image"), weights=weights, batch_size=5).alias("e"),
    ).to_pydict()
    assert out["a"] == out["b"]
    assert model_build_count() - before == 1


# --- classify ----------------------------------------------------------------------------


def test_classify_refuses_to_overwrite_a_column(random_weights: Path) -> None:
    pixels, _ = random_images(4, seed=16)
    df = add_image_2d(frame(pixels))
    with pytest.raises(ValueError, match=r"\['label'\] already exist .*columns: \['image', 'label', 'image_2d'\]"):
        classify(df, output="label", weights=random_weights)
    with pytest.raises(ValueError, match=r"\['p_confidence'\] already exist"):
        classify(df.with_column("p_confidence", col("label")), output="p", details=True)
    replaced = classify(df, output="label", weights=random_weights, overwrite=True)
    assert replaced.column_names == ["image", "label", "image_2d"]
    want = LoadedModel(ModelSpec(str(random_weights), device="cpu")).predict(pixels).tolist()
    assert replaced.to_pydict()["label"] == want


def test_classify_takes_the_image_column_by_name(random_weights: Path) -> None:
    pixels, _ = random_images(5, seed=17)
    df = frame(pixels)
    got = classify(df, image="image", weights=random_weights).to_pydict()["model_classification"]
    assert got == LoadedModel(ModelSpec(str(random_weights), device="cpu")).predict(pixels).tolist()
    renamed = r"unexpected keyword argument\(s\) \['column'\] \(the image column is given as image=\)"
    with pytest.raises(TypeError, match=renamed):
        classify(df, column="image")  # type: ignore[call-arg]


# --- chains ------------------------------------------------------------------------------


def test_plot_digits_of_classify_needs_no_arguments(random_weights: Path) -> None:
    pixels, _ = random_images(6, seed=18)
    classified = classify(add_image_2d(frame(pixels)), weights=random_weights).collect()
    chained = plot_digits(classified)
    explicit = plot_digits(classified, image="image_2d", label="label", prediction="model_classification")
    assert chained.tobytes() == explicit.tobytes()
    assert chained.size == explicit.size
    assert chained.tobytes() != plot_digits(classified, prediction=None).tobytes()


def test_plot_digits_of_misclassified_needs_no_arguments(random_weights: Path) -> None:
    pixels, _ = random_images(12, seed=19)
    digits = frame(pixels).with_column("label", col("label") % 10)  # reports take digits 0-9 only
    wrong = misclassified(classify(add_image_2d(digits), weights=random_weights)).collect()
    assert len(wrong) > 0  # labels 0..9, 0, 1 against a random model's predictions
    chained = plot_digits(wrong)
    explicit = plot_digits(wrong, image="image_2d", prediction="model_classification")
    assert chained.tobytes() == explicit.tobytes()


def test_plot_digits_picks_the_first_image_column_present() -> None:
    pixels, _ = random_images(3, seed=20)
    df = add_image_2d(frame(pixels))
    inverted = df.with_column("image_2d", image_2d(col("image"))).with_column("image", col("label"))
    # image_2d comes first: the "image" column (now labels) is not read
    assert plot_digits(inverted).tobytes() == plot_digits(df, image="image_2d").tobytes()
    with pytest.raises(ValueError, match=r"one of the image columns \['image_2d', 'pil_image', 'image'\]"):
        plot_digits(daft.from_pydict({"pixels": [[0] * 784], "label": [1]}))


def test_classifier_weights_of_any_path_type_or_a_clear_type_error(random_weights: Path) -> None:
    assert Classifier(weights=os.fsencode(str(random_weights))).weights == str(random_weights)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"weights must be None, a path .* got a value of type int"):
        Classifier(weights=3)  # type: ignore[arg-type]


def test_classify_finds_the_one_picture_column(random_weights: Path) -> None:
    pixels, _ = random_images(3, seed=21)
    df = frame(pixels)
    want = LoadedModel(ModelSpec(str(random_weights), device="cpu")).predict(pixels).tolist()
    assert classify(df, weights=random_weights).to_pydict()["model_classification"] == want  # "image"
    both = add_image_2d(df)
    assert classify(both, weights=random_weights).to_pydict()["model_classification"] == want  # image_2d first
    two = df.with_column("other", col("image"))
    with pytest.raises(ValueError, match=r"several picture columns \['image', 'other'\]; pass image="):
        classify(two, weights=random_weights)
    with pytest.raises(ValueError, match=r"no picture column .* among \['label'\]; pass image="):
        classify(df.select("label"), weights=random_weights)


@pytest.mark.parametrize("helper", ["add_image_2d", "add_pil_image", "classify"])
def test_every_helper_refuses_to_replace_a_column_unless_told(helper: str, random_weights: Path) -> None:
    import daft_mnist

    pixels, _ = random_images(2, seed=22)
    df = add_image_2d(frame(pixels))
    function = getattr(daft_mnist, helper)
    kwargs = {"weights": random_weights} if helper == "classify" else {}
    image = "image" if helper == "add_image_2d" else "image_2d"
    with pytest.raises(ValueError, match=r"\['label'\] already exist"):
        function(df, image=image, output="label", **kwargs)
    replaced = function(df, image=image, output="label", overwrite=True, **kwargs)
    assert replaced.column_names == df.column_names
    assert replaced.schema()["label"].dtype != df.schema()["label"].dtype or helper == "classify"
