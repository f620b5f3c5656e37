"""Properties of the MNIST-style preparation (``daft_mnist.vision._prepare``), on synthetic digits.

A synthetic digit is an anti-aliased polyline of random points and thickness on flat paper:
its preparation must not depend on polarity, position in the canvas, canvas scale or channel
layout, and must come out centred and 20 px on its longest side. The slow tests check that
MNIST itself goes through (almost) unchanged and that the real-digits folder is recognized.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from daft_mnist.vision._prepare import BOX, FRAME, PreparedBatch, prepare_batch, prepare_stack

# DAFT_MNIST_PROPERTY_EXAMPLES=2000 shakes the properties out locally; CI runs the default.
PROPERTY = settings(
    max_examples=int(os.environ.get("DAFT_MNIST_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def draw_digit(points: list[tuple[float, float]], thickness: float, size: int) -> np.ndarray:
    """Ink coverage in [0, 1] of a polyline through ``points`` (fractions of ``size``)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    dist = np.full((size, size), np.inf)
    pts = [(py * size, px * size) for py, px in points]
    for (ay, ax), (by, bx) in itertools.pairwise(pts):
        vy, vx = by - ay, bx - ax
        t = np.clip(((yy - ay) * vy + (xx - ax) * vx) / max(vy * vy + vx * vx, 1e-9), 0, 1)
        dist = np.minimum(dist, np.hypot(yy - (ay + t * vy), xx - (ax + t * vx)))
    return np.clip(thickness / 2 + 0.5 - dist, 0, 1)


def on_paper(ink: np.ndarray, paper: int = 235, ink_level: int = 30) -> np.ndarray:
    return np.rint(paper + (ink_level - paper) * ink).astype(np.uint8)


@st.composite
def digits(draw: st.DrawFn, min_size: int = 40, max_size: int = 72) -> np.ndarray:
    """A dark-on-light uint8 picture of a random stroke digit, with a margin around it."""
    n = draw(st.integers(3, 5))
    coord = st.floats(0.25, 0.75)
    points = [(draw(coord), draw(coord)) for _ in range(n)]
    # at least half the canvas' middle spanned, so the 'digit' is not a dot
    points[0] = (0.2, draw(coord))
    points[-1] = (0.8, draw(coord))
    size = draw(st.integers(min_size, max_size))
    thickness = draw(st.floats(0.06, 0.12)) * size
    return on_paper(draw_digit(points, thickness, size))


def prep(img: np.ndarray) -> PreparedBatch:
    return prepare_batch([img])


def close(a: np.ndarray, b: np.ndarray, mean_tol: float, shift: int = 0) -> None:
    """Mean absolute difference at most ``mean_tol``, after the best shift of up to ``shift`` px
    (centring rounds the centre of mass to a whole pixel: a tie may round either way)."""
    fa, fb = a.astype(np.float64)[0], b.astype(np.float64)[0]
    best = min(
        np.abs(np.roll(fa, (dy, dx), axis=(0, 1)) - fb).mean()
        for dy in range(-shift, shift + 1)
        for dx in range(-shift, shift + 1)
    )
    assert best <= mean_tol, f"mean abs difference {best:.2f} > {mean_tol}"


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    g = img.astype(np.float64)
    m = g.sum()
    return float((g.sum(1) * np.arange(FRAME)).sum() / m), float((g.sum(0) * np.arange(FRAME)).sum() / m)


# --- properties --------------------------------------------------------------------------


@PROPERTY
@given(digits())
def test_inverting_polarity_gives_the_same_output(img: np.ndarray) -> None:
    a, b = prep(img), prep(255 - img)
    assert a.reasons == b.reasons == [None]
    assert np.abs(a.pixels.astype(int) - b.pixels.astype(int)).max() <= 1


@PROPERTY
@given(digits(), st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.integers(0, 60))
def test_padding_and_translating_gives_the_same_output(img: np.ndarray, t: int, b: int, left: int, r: int) -> None:
    padded = np.pad(img, ((t, b), (left, r)), constant_values=int(img[0, 0]))
    close(prep(img).pixels, prep(padded).pixels, mean_tol=2.0, shift=1)


# Found by Hypothesis: a 28 px dark-on-light digit with thin diagonal strokes (one row of hex
# bytes per line). Enlarged 3x, the speck erasing (vision/_marks.py) kept only a one-cell ring
# around the >0.5 ink and cut the grey ends of the strokes off, so the ink box shrank and the
# digit came out bigger (mean abs difference 13.07 > 12).
_THIN_DIAGONAL_28 = np.frombuffer(
    bytes.fromhex(
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
        "ebebebebebebc9bcd0e5ebebebebebebebebebebebebebebebebebeb"
        "ebebebebebeb3a1e1e1e2d41566a7f93a7bcd0e5ebebebebebebebeb"
        "ebebebebebeb62626a56412d1e1e1e1e1e1e1e1e2d62ebebebebebeb"
        "ebebebebebeb591e62ebebebe5d0bca7937f6a561e62ebebebebebeb"
        "ebebebebebebae1e1e62ebebebebebebebeb621e62ebebebebebebeb"
        "ebebebebebebeb481e1e62ebebebebebeb621e62ebebebebebebebeb"
        "ebebebebebebeb9d1e621e62ebebebeb621e62ebebebebebebebebeb"
        "ebebebebebebebeb3726621e62ebeb621e62ebebebebebebebebebeb"
        "ebebebebebebebeb8c1e8c621e62621e62ebebebebebebebebebebeb"
        "ebebebebebebebebe12637eb621e1e62ebebebebebebebebebebebeb"
        "ebebebebebebebebeb7b1e9deb6262ebebebebebebebebebebebebeb"
        "ebebebebebebebebebd01e48ebebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebeb6a1eaeebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebbf1e59ebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebeb591ebfebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebae1e6aebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebeb481ed0ebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebeb9d1e7bebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebeb373aebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebc9c9ebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
        "ebebebebebebebebebebebebebebebebebebebebebebebebebebebeb"
    ),
    dtype=np.uint8,
).reshape(28, 28)


@PROPERTY
@given(digits(min_size=28, max_size=40), st.integers(2, 8))
@example(_THIN_DIAGONAL_28, 3)
def test_scaling_the_canvas_gives_nearly_the_same_output(img: np.ndarray, k: int) -> None:
    big = np.kron(img, np.ones((k, k), dtype=np.uint8))
    close(prep(img).pixels, prep(big).pixels, mean_tol=12.0, shift=1)


@PROPERTY
@given(digits())
def test_rgb_rgba_and_l_of_the_same_picture_give_the_same_output(img: np.ndarray) -> None:
    rgb = np.stack([img] * 3, axis=-1)
    rgba = np.concatenate([rgb, np.full_like(img, 255)[..., None]], axis=-1)
    outs = [prep(x).pixels.astype(int) for x in (img, img[..., None], rgb, rgba)]
    for o in outs[1:]:
        assert np.abs(o - outs[0]).max() <= 1


@PROPERTY
@given(digits())
def test_transparent_background_is_paper(img: np.ndarray) -> None:
    """A dark digit drawn with alpha only (transparent canvas) is the digit on white paper."""
    alpha = np.clip((235 - img.astype(int)) * 255 // 205, 0, 255).astype(np.uint8)
    rgba = np.zeros((*img.shape, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    # The reference is what compositing onto white paper gives, pixel for pixel: black ink of
    # coverage alpha on white. (Not ``img`` itself: its ink is quantized in steps of 1/205, the
    # alpha in steps of 1/255, so the faintest anti-aliased fringe falls on either side of the
    # ink box's threshold and the box, to which MNIST anchors the resampling, moves a pixel.)
    # One pixel of shift: float rounding in the compositing can tip a centre of mass that sits on
    # a half-pixel tie (the strategy's digits span 0.2-0.8 of the canvas: ties are common).
    close(prep(rgba).pixels, prep(255 - alpha).pixels, mean_tol=2.0, shift=1)


@PROPERTY
@given(digits(min_size=28, max_size=200))
def test_output_is_centred_and_fits_the_box(img: np.ndarray) -> None:
    out = prep(img)
    assert out.reasons == [None]
    px = out.pixels[0]
    cy, cx = centre_of_mass(px)
    assert abs(cy - FRAME // 2) <= 1.0, (cy, cx)
    assert abs(cx - FRAME // 2) <= 1.0, (cy, cx)
    rows, cols = np.nonzero(px >= 64)
    assert rows.max() - rows.min() + 1 <= BOX
    assert cols.max() - cols.min() + 1 <= BOX
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 >= BOX - 2


@PROPERTY
@given(
    st.integers(1, 300),
    st.integers(1, 300),
    st.integers(0, 255),
    st.sampled_from([None, 1, 3, 4]),
    st.integers(0, 6),
)
@example(h=48, w=48, level=180, channels=4, noise=6)  # alpha times colour: 17 grey levels of noise
@example(h=1, w=18, level=213, channels=4, noise=6)  # a 1xN strip got no reason at all
@example(h=1, w=199, level=235, channels=None, noise=6)
@example(h=97, w=160, level=200, channels=4, noise=6)
def test_blank_images_get_a_reason(h: int, w: int, level: int, channels: int | None, noise: int) -> None:
    rng = np.random.default_rng(h * 1000 + w)
    shape = (h, w) if channels is None else (h, w, channels)
    img = np.clip(level + rng.integers(-noise, noise + 1, size=shape), 0, 255).astype(np.uint8)
    out = prep(img)
    assert out.reasons[0] is not None
    # A canvas under 3 px on a side (or 5 on the longer one) cannot hold a digit, whatever its
    # pixels: that reason comes first, as 'empty' does. Every other flat picture is blank
    # (noise of +-6 levels per channel is under the 16 levels that count as ink).
    if min(h, w) < 3 or max(h, w) < 5:
        assert out.reasons[0] == f"image is too small to hold a digit ({h}x{w} pixels)"
    else:
        assert "blank" in out.reasons[0]
    assert not out.pixels.any()


def test_empty_images_get_a_reason() -> None:
    out = prepare_batch([np.zeros((0, 5), dtype=np.uint8)])
    assert out.reasons[0] is not None
    assert "empty" in out.reasons[0]


@pytest.mark.parametrize("shape", [(64, 64), (300, 200, 3)])
def test_random_noise_is_no_clear_digit(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    out = prep(img)
    assert out.reasons[0] is not None
    assert out.reasons[0].startswith("image has no clear digit")
    assert not out.pixels.any()


def test_batch_of_mixed_shapes_matches_one_by_one() -> None:
    rng = np.random.default_rng(0)
    imgs = []
    for size in (30, 45, 30, 64, 45):
        pts = [(0.2, rng.uniform(0.3, 0.7)), (0.5, rng.uniform(0.3, 0.7)), (0.8, rng.uniform(0.3, 0.7))]
        imgs.append(on_paper(draw_digit(pts, 0.1 * size, size)))
    imgs.append(np.full((30, 30), 7, dtype=np.uint8))
    batch = prepare_batch(imgs)
    assert batch.pixels.shape == (len(imgs), FRAME, FRAME)
    assert batch.pixels.dtype == np.uint8
    for i, img in enumerate(imgs):
        one = prep(img)
        assert one.reasons[0] == batch.reasons[i]
        np.testing.assert_array_equal(one.pixels[0], batch.pixels[i])
    stack = prepare_stack(np.stack([imgs[0], imgs[2]]))
    np.testing.assert_array_equal(stack.pixels, batch.pixels[[0, 2]])


def test_bad_inputs_raise() -> None:
    with pytest.raises(TypeError, match="uint8"):
        prepare_batch([np.zeros((28, 28), dtype=np.float32)])
    with pytest.raises(ValueError, match="shape"):
        prepare_batch([np.zeros((28, 28, 2), dtype=np.uint8)])
    with pytest.raises(ValueError, match="shape"):
        prepare_stack(np.zeros((28, 28), dtype=np.uint8))


# --- data: MNIST and the real-digits folder (slow) ----------------------------------------


@pytest.fixture(scope="module")
def real_digits_dir(mnist_dir: Path) -> Path:
    d = Path(os.environ.get("DAFT_MNIST_DATA_DIR", str(mnist_dir))) / "real-digits"
    if not d.is_dir():
        pytest.skip(f"no real-digits folder in {d.parent}")
    return d


def _predict(pixels: np.ndarray) -> np.ndarray:
    import torch

    from daft_mnist.model.checkpoint import load_model

    net = load_model()
    with torch.inference_mode():
        x = torch.from_numpy(net.preprocessing.normalize_numpy(pixels.reshape(len(pixels), -1)))
        return np.asarray(net(x).argmax(1).numpy())


@pytest.mark.slow
def test_mnist_test_set_keeps_its_predictions(test_json: Path) -> None:
    from daft_mnist import load_mnist
    from daft_mnist.images import pixels_to_numpy

    table = load_mnist(test_json).to_arrow()
    pixels = np.array(pixels_to_numpy(table.column("image"))).reshape(-1, FRAME, FRAME)
    out = prepare_stack(pixels)
    assert all(r is None for r in out.reasons)
    agreement = float((_predict(out.pixels) == _predict(pixels)).mean())
    assert agreement >= 0.99, agreement


@pytest.mark.slow
def test_real_digits_are_recognized(real_digits_dir: Path) -> None:
    from PIL import Image

    paths = sorted(p for p in real_digits_dir.glob("*/*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    assert len(paths) >= 100
    images = [np.asarray(Image.open(p)) for p in paths]
    labels = np.array([int(p.parent.name) for p in paths])
    out = prepare_batch(images)
    accuracy = float((_predict(out.pixels) == labels).mean())
    assert accuracy >= 0.97, accuracy
