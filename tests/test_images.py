"""Property tests of the reshape (784 <-> 28x28) and the normalization contract, numpy as the oracle."""

from __future__ import annotations

import daft
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from daft_mnist import DataError, image_2d, to_image
from daft_mnist.images import pixels_to_numpy
from daft_mnist.model.network import MNIST_MEAN, MNIST_STD, TUTORIAL_PREPROCESSING, Preprocessing

batches = hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.just(784)))
daft_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@daft_settings
@given(batches)
def test_image_2d_matches_numpy_reshape(pixels: np.ndarray) -> None:
    df = daft.from_pydict({"image": [row.tolist() for row in pixels]})
    out = df.select(image_2d(df["image"]).alias("t")).to_pydict()["t"]
    assert len(out) == len(pixels)
    for got, want in zip(out, pixels, strict=True):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want.reshape(28, 28))  # row-major, like numpy


@daft_settings
@given(batches)
def test_image_2d_round_trip_back_to_784(pixels: np.ndarray) -> None:
    df = daft.from_pydict({"image": [row.tolist() for row in pixels]})
    tensors = df.select(image_2d(df["image"]).alias("t")).to_arrow().column("t")
    np.testing.assert_array_equal(pixels_to_numpy(tensors, column="t"), pixels)


@daft_settings
@given(batches)
def test_to_image_is_grayscale_28x28_with_same_pixels(pixels: np.ndarray) -> None:
    df = daft.from_pydict({"image": [row.tolist() for row in pixels]})
    out = df.select(to_image(image_2d(df["image"])).alias("im"))
    assert str(out.schema()["im"].dtype) == "Image[L; 28 x 28]"
    arrays = out.to_pydict()["im"]
    for got, want in zip(arrays, pixels, strict=True):
        np.testing.assert_array_equal(np.asarray(got).reshape(28, 28), want.reshape(28, 28))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.uint8, st.tuples(st.integers(0, 20), st.just(784))))
def test_pixels_to_numpy_fixed_size_list_is_identity(pixels: np.ndarray) -> None:
    arr = pa.FixedSizeListArray.from_arrays(pa.array(pixels.reshape(-1), type=pa.uint8()), 784)
    got = pixels_to_numpy(arr)
    assert got.dtype == np.uint8
    assert got.shape == (len(pixels), 784)
    np.testing.assert_array_equal(got, pixels)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.int64, st.tuples(st.integers(1, 5), st.just(784)), elements=st.integers(-1000, 1000)))
def test_pixels_to_numpy_accepts_exactly_0_to_255(values: np.ndarray) -> None:
    arr = pa.array([row.tolist() for row in values], type=pa.list_(pa.int64()))
    if ((values >= 0) & (values <= 255)).all():
        np.testing.assert_array_equal(pixels_to_numpy(arr), values.astype(np.uint8))
    else:
        with pytest.raises(DataError, match="not an integer in 0-255"):
            pixels_to_numpy(arr)


# ---- normalization contract -------------------------------------------------------------

any_batch = hnp.arrays(np.uint8, st.tuples(st.integers(1, 8), st.just(784)))


@settings(max_examples=200, deadline=None)
@given(any_batch)
def test_normalize_matches_formula_shape_and_dtype(pixels: np.ndarray) -> None:
    x = TUTORIAL_PREPROCESSING.normalize_numpy(pixels)
    assert x.dtype == np.float32
    assert x.shape == (len(pixels), 1, 28, 28)
    assert x.flags.c_contiguous
    want = ((pixels.astype(np.float64) / 255.0 - MNIST_MEAN) / MNIST_STD).reshape(-1, 1, 28, 28)
    np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(any_batch)
def test_normalize_bounds(pixels: np.ndarray) -> None:
    x = TUTORIAL_PREPROCESSING.normalize_numpy(pixels)
    lo, hi = (0 - MNIST_MEAN) / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD
    assert x.min() >= lo - 1e-5
    assert x.max() <= hi + 1e-5
    # monotone: a brighter pixel never normalizes lower
    order = np.argsort(pixels.reshape(-1), kind="stable")
    assert np.all(np.diff(x.reshape(-1)[order]) >= -1e-6)


@settings(max_examples=200, deadline=None)
@given(any_batch, st.floats(0.0, 1.0), st.floats(0.01, 2.0))
def test_normalize_inverse_round_trip(pixels: np.ndarray, mean: float, std: float) -> None:
    prep = Preprocessing(mean=mean, std=std)
    back = prep.denormalize_numpy(prep.normalize_numpy(pixels)).reshape(len(pixels), 784)
    np.testing.assert_allclose(back, pixels, atol=0.02 * max(1.0, std))
    np.testing.assert_array_equal(np.rint(back).astype(np.uint8), pixels)


@settings(max_examples=100, deadline=None)
@given(any_batch)
def test_normalize_torch_equals_numpy(pixels: np.ndarray) -> None:
    import torch

    t = TUTORIAL_PREPROCESSING.normalize_torch(torch.from_numpy(pixels.copy()))
    np.testing.assert_allclose(t.numpy(), TUTORIAL_PREPROCESSING.normalize_numpy(pixels), rtol=1e-6, atol=1e-6)


def test_normalize_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"expected a batch of 28x28 images.*got shape \(2, 783\)"):
        TUTORIAL_PREPROCESSING.normalize_numpy(np.zeros((2, 783), np.uint8))


def test_preprocessing_rejects_nonpositive_std() -> None:
    with pytest.raises(ValueError, match="std must be > 0"):
        Preprocessing(std=0.0)
