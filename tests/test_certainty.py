"""Per-row certainty, temperature scaling, ECE and abstention (``daft_mnist.model._certainty``),
against a plain per-row Python oracle."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from daft_mnist.model import _certainty as C
from daft_mnist.training import calibration as CAL

LOG10 = math.log(10)

logits = arrays(
    np.float64,
    st.tuples(st.integers(1, 12), st.just(10)),
    elements=st.floats(-30, 30, allow_nan=False, allow_infinity=False),
)
temperatures = st.floats(0.05, 20.0, allow_nan=False)


# --- the oracle: one row at a time, in plain Python --------------------------------------------


def oracle_row(z: list[float], t: float) -> dict[str, object]:
    scaled = [v / t for v in z]
    m = max(scaled)
    e = [math.exp(v - m) for v in scaled]
    s = sum(e)
    p = [v / s for v in e]
    ranked = sorted(range(len(p)), key=lambda i: (-z[i], i))  # the scores' order, whatever T
    entropy = -sum(q * math.log(q) for q in p if q > 0)
    return {
        "p": p,
        "prediction": ranked[0],
        "confidence": p[ranked[0]],
        "top": ranked[:3],
        "margin": p[ranked[0]] - p[ranked[1]],
        "entropy": entropy,
    }


def torch_log_softmax(z: np.ndarray) -> np.ndarray:
    import torch

    return torch.log_softmax(torch.from_numpy(z), dim=1).numpy()


# --- properties ------------------------------------------------------------------------------


@given(logits, temperatures)
@settings(max_examples=150, deadline=None)
def test_certainty_matches_the_oracle(z: np.ndarray, t: float) -> None:
    batch = C.certainty(z, t)
    probs = C.scaled_probabilities(z, t)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    for i, row in enumerate(z):
        want = oracle_row(row.tolist(), t)
        np.testing.assert_allclose(probs[i], want["p"], atol=1e-12)
        assert batch.prediction[i] == np.argmax(row) == want["prediction"]
        assert batch.confidence[i] == pytest.approx(want["confidence"], abs=1e-12)
        assert batch.top_digits[i].tolist() == want["top"]
        np.testing.assert_allclose(batch.top_probabilities[i], [want["p"][d] for d in want["top"]], atol=1e-12)
        assert batch.margin[i] == pytest.approx(want["margin"], abs=1e-12)
        assert batch.entropy[i] == pytest.approx(want["entropy"], abs=1e-9)
    assert np.all(np.diff(batch.top_probabilities, axis=1) <= 0), "top-3 must be sorted, most probable first"
    assert np.all(batch.top_probabilities[:, 0] == batch.confidence)
    assert np.all(batch.top_digits[:, 0] == batch.prediction)
    assert all(len(set(row)) == 3 for row in batch.top_digits.tolist())
    assert np.all(batch.margin >= 0)
    assert np.all((batch.entropy >= 0) & (batch.entropy <= LOG10 + 1e-12))


@given(logits, temperatures)
@settings(max_examples=100, deadline=None)
def test_temperature_on_log_softmax_equals_temperature_on_logits(z: np.ndarray, t: float) -> None:
    # softmax(log_softmax(z) / T) == softmax(z / T): the model's output can be scaled directly.
    np.testing.assert_allclose(
        C.scaled_probabilities(torch_log_softmax(z), t), C.scaled_probabilities(z, t), atol=1e-12, rtol=0
    )
    # The prediction never depends on T.
    np.testing.assert_array_equal(C.certainty(z, t).prediction, C.certainty(z, 1.0).prediction)


@given(logits)
@settings(max_examples=100, deadline=None)
def test_temperature_one_is_the_identity(z: np.ndarray) -> None:
    logp = torch_log_softmax(z)
    np.testing.assert_allclose(C.scaled_log_probabilities(logp, 1.0), logp, atol=1e-12)
    np.testing.assert_allclose(C.certainty(logp).confidence, np.exp(logp).max(axis=1), atol=1e-12)


@given(logits, st.floats(-50, 50))
@settings(max_examples=50, deadline=None)
def test_fit_is_deterministic_and_shift_invariant(z: np.ndarray, shift: float) -> None:
    # On a grid of 1/1024 with a whole shift, z + shift is exact: invariance is then a property of
    # the fit, not of rounding (1.2e-38 + 1 - 1 == 0 changed which entry was the maximum: found).
    z, shift = np.round(z * 1024) / 1024, float(round(shift))
    assume(np.ptp(z, axis=1).max() > 1e-3)  # (uniform rows: T is undefined, 1.0 is returned)
    y = np.arange(len(z)) % 10
    t = CAL.fit_temperature(z, y)
    assert CAL.fit_temperature(z, y) == t
    assert CAL.fit_temperature(z + shift, y) == pytest.approx(t, rel=1e-5)
    assert C.TEMPERATURE_BOUNDS[0] <= t <= C.TEMPERATURE_BOUNDS[1]


@pytest.mark.parametrize("true_t", [0.5, 1.0, 1.7, 3.0])
def test_fit_temperature_recovers_a_known_temperature(true_t: float) -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(20_000, 10)) * 4
    p = C.scaled_probabilities(z, true_t)
    y = (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)  # y ~ softmax(z / T)
    fitted = CAL.fit_temperature(z, y)
    assert fitted == pytest.approx(true_t, rel=0.04)
    # the same from the model's kind of output, log_softmax(z)
    assert CAL.fit_temperature(torch_log_softmax(z), y) == pytest.approx(fitted, rel=1e-6)
    # and it is the NLL minimum
    assert CAL.nll(z, y, fitted) <= min(CAL.nll(z, y, fitted * 0.97), CAL.nll(z, y, fitted * 1.03))


def test_fit_temperature_returns_the_bound_when_nll_keeps_falling() -> None:
    z = np.eye(10)[np.arange(50) % 10] * 5.0  # every row right: sharper is always better
    assert CAL.fit_temperature(z, np.arange(50) % 10) == C.TEMPERATURE_BOUNDS[0]


def _calibrated_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose top class is right exactly with its probability, in expectation."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.15, 1.0, n)
    top = rng.integers(0, 10, n)
    probs = np.repeat(((1 - conf) / 9)[:, None], 10, axis=1)
    probs[np.arange(n), top] = conf
    right = rng.random(n) < conf
    other = (top + rng.integers(1, 10, n)) % 10
    return probs, np.where(right, top, other)


def test_ece_of_a_calibrated_set_is_about_zero() -> None:
    probs, y = _calibrated_set(200_000, seed=1)
    assert CAL.expected_calibration_error(probs, y) < 0.005


def test_ece_of_an_overconfident_set() -> None:
    probs, y = _calibrated_set(200_000, seed=2)
    sharp = C.scaled_probabilities(np.log(probs), 0.5)  # same predictions, more confident
    assert CAL.expected_calibration_error(sharp, y) > 0.05


@given(
    arrays(np.float64, st.integers(1, 60), elements=st.floats(0.1, 1.0)),
    st.integers(0, 2**32 - 1),
    st.integers(1, 20),
)
@settings(max_examples=100, deadline=None)
def test_ece_matches_the_oracle(conf: np.ndarray, seed: int, bins: int) -> None:
    rng = np.random.default_rng(seed)
    n = len(conf)
    top = rng.integers(0, 10, n)
    probs = np.repeat(((1 - conf) / 9)[:, None], 10, axis=1)
    probs[np.arange(n), top] = conf
    y = np.where(rng.random(n) < 0.7, top, (top + 1) % 10)
    pred, c = probs.argmax(axis=1), probs.max(axis=1)
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i in range(n) if (lo < c[i] <= hi) or (b == 0 and c[i] <= hi)]
        if members:
            acc = sum(pred[i] == y[i] for i in members) / len(members)
            total += len(members) / n * abs(acc - sum(c[i] for i in members) / len(members))
    assert CAL.expected_calibration_error(probs, y, bins) == pytest.approx(total, abs=1e-9)


@given(
    arrays(np.float64, st.integers(1, 80), elements=st.sampled_from([0.2, 0.5, 0.5, 0.8, 0.9, 0.99, 1.0])),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=100, deadline=None)
def test_abstain_curve_and_coverage_match_the_oracle(conf: np.ndarray, seed: int) -> None:
    correct = np.random.default_rng(seed).random(len(conf)) < conf
    curve = CAL.abstain_curve(conf, correct)
    assert np.all(np.diff(curve.coverage) <= 0)
    for t, cov, acc, k in zip(curve.threshold, curve.coverage, curve.accuracy, curve.answered, strict=True):
        keep = C.answered(conf, t)
        assert k == keep.sum()
        assert cov == pytest.approx(keep.mean())
        if keep.any():
            assert acc == pytest.approx(correct[keep].mean())
        else:
            assert math.isnan(acc)
    for target in (0.5, 0.95, 0.99, 1.0):
        point = CAL.accuracy_at_coverage(conf, correct, target)
        assert point.coverage >= target - 1e-12
        keep = conf >= point.threshold
        assert point.answered == keep.sum()
        assert point.accuracy == pytest.approx(correct[keep].mean())
        # the threshold is the highest that reaches the target
        higher = conf[conf > point.threshold]
        assert len(higher) < math.ceil(target * len(conf) - 1e-9)


def test_answered_none_keeps_everything_and_checks_range() -> None:
    c = np.array([0.1, 0.5, 0.9])
    assert C.answered(c, None).all()
    assert C.answered(c, 0.5).tolist() == [False, True, True]
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]"):
        C.answered(c, 1.5)


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="temperature must be"):
        C.certainty(np.zeros((1, 10)), 0.0)
    with pytest.raises(ValueError, match="shape"):
        C.certainty(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        C.certainty(np.full((1, 10), np.nan))
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9"):
        CAL.fit_temperature(np.zeros((2, 10)), [0, 10])
    with pytest.raises(ValueError, match="expected 2 labels"):
        CAL.fit_temperature(np.zeros((2, 10)), [0])


def test_zero_probabilities_are_fine() -> None:
    logp = np.full((2, 10), -np.inf)
    logp[:, 3] = 0.0
    batch = C.certainty(logp, 2.0)
    assert batch.prediction.tolist() == [3, 3]
    assert batch.confidence.tolist() == [1.0, 1.0]
    assert batch.entropy.tolist() == [0.0, 0.0]


def test_details_arrow_has_the_details_type_and_nulls() -> None:
    import daft

    z = np.random.default_rng(0).normal(size=(3, 10))
    batch = C.certainty(z, 1.3)
    valid = np.array([True, False, True, True])
    series = daft.Series.from_arrow(batch.to_arrow(valid))
    assert series.datatype() == C.details_dtype()
    rows = series.to_pylist()
    assert rows[1] is None
    want = batch.to_pylist()
    for got, exp in zip([rows[0], rows[2], rows[3]], want, strict=True):
        assert got is not None
        assert got["prediction"] == exp["prediction"]
        assert got["confidence"] == pytest.approx(exp["confidence"], rel=1e-6)
        assert [d["digit"] for d in got["top"]] == [d["digit"] for d in exp["top"]]


def test_temperature_travels_in_checkpoint_metadata(tmp_path: Path, random_weights: Path) -> None:
    from daft_mnist.model.checkpoint import Net, load_checkpoint, load_model, save_checkpoint

    assert C.temperature_from_metadata(load_checkpoint(random_weights).metadata) == 1.0
    ckpt = load_checkpoint(random_weights)
    net = Net()
    net.load_state_dict(ckpt.state_dict)
    record = C.temperature_record(1.25, images=10_000, source="test")
    save_checkpoint(tmp_path / "t.pt", net, ckpt.preprocessing, {**ckpt.metadata, C.TEMPERATURE_KEY: record})
    model = load_model(tmp_path / "t.pt")
    assert model.metadata[C.TEMPERATURE_KEY] == {"value": 1.25, "images": 10_000, "source": "test"}
    assert C.temperature_from_metadata(model.metadata) == 1.25
    for bad in ({"value": "x"}, {"value": 0}, {"value": 100.0}, 3.0):
        with pytest.raises(ValueError, match="temperature"):
            C.temperature_from_metadata({C.TEMPERATURE_KEY: bad})


def test_fit_temperature_of_uniform_rows_is_one() -> None:
    assert CAL.fit_temperature(np.zeros((5, 10)), np.arange(5)) == 1.0
