"""The number reader's decoder (``vision._reading.decode``) on hand-made candidates: how reading
a candidate as a touching pair competes with cutting it, with no model involved."""

from __future__ import annotations

import numpy as np

from daft_mnist.vision._reading import decode
from daft_mnist.vision._segment import Candidates


def two_atoms() -> Candidates:
    """Two atoms cut from one stroke (candidates: atom 0, atom 1, both); ``both`` may be a pair."""
    return Candidates(
        None,
        atoms=2,
        spans=np.array([[0, 1], [1, 2], [0, 2]]),
        crops=np.zeros((3, 44, 44), np.uint8),
        boxes=np.array([[0, 0, 6, 20], [6, 0, 14, 20], [0, 0, 14, 20]]),
        geometry=np.array([[0.3, 1.0, 0.0], [0.4, 1.0, 0.0], [0.7, 1.0, 0.0]]),
        cut_cost=np.array([0.0, 1.0]),
        pairs=np.array([2]),
        pair_crops=np.zeros((1, 32, 64), np.uint8),
        pair_boxes=np.array([[[0, 0, 7, 20], [7, 1, 14, 20]]]),
    )


def log_probs(digit: int, p: float) -> np.ndarray:
    row = np.full(10, np.log((1 - p) / 9))
    row[digit] = np.log(p)
    return row


def test_a_confident_pair_beats_cutting_it() -> None:
    c = two_atoms()
    singles = np.stack([log_probs(1, 0.9), log_probs(7, 0.6), log_probs(8, 0.5)])
    whole = np.log([0.2, 0.2, 0.01])  # the halves are doubtful digits, the whole not one digit
    pair_digits = np.stack([log_probs(1, 0.99), log_probs(0, 0.99)])[None]
    reading = decode(c, singles, whole, pair=np.log([0.95]), pair_digits=pair_digits)
    assert reading.digits == [1, 0]
    assert reading.candidates == [2, 2]
    assert reading.parts == [1, 2]
    assert reading.confidences == np.exp(pair_digits[0].max(axis=1)).tolist()
    assert reading.log_probabilities.shape == (2, 10)
    # Without the pair reader, the cut wins over one "8" that is not one digit:
    plain = decode(c, singles, whole)
    assert plain.digits == [1, 7]
    assert plain.parts == [0, 0]


def test_a_doubtful_pair_loses_to_a_clean_cut_and_to_one_whole_digit() -> None:
    c = two_atoms()
    pair_digits = np.stack([log_probs(1, 0.99), log_probs(0, 0.99)])[None]
    clean_cut = decode(
        c,
        np.stack([log_probs(1, 0.99), log_probs(7, 0.99), log_probs(8, 0.5)]),
        np.log([0.95, 0.95, 0.05]),
        pair=np.log([0.1]),
        pair_digits=pair_digits,
    )
    assert (clean_cut.digits, clean_cut.parts) == ([1, 7], [0, 0])
    one_digit = decode(
        c,
        np.stack([log_probs(1, 0.6), log_probs(7, 0.6), log_probs(0, 0.99)]),
        np.log([0.1, 0.1, 0.95]),
        pair=np.log([0.05]),
        pair_digits=pair_digits,
    )
    assert (one_digit.digits, one_digit.candidates, one_digit.parts) == ([0], [2], [0])
