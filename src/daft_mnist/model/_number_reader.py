"""Reading numbers on a batch of pictures: candidates, one model call, decoding (no Daft here).

:func:`read_batch` finds every picture's digit candidates
(:func:`daft_mnist.vision._segment.candidates`), prepares all candidates of the batch
MNIST-style in one vectorized call, runs the classifier and the whole-digit scorer once each
on them, the touching-pair reader once on the candidates that may be two touching digits, and
decodes each picture's best segmentation (:func:`~daft_mnist.vision._reading.decode`).
A picture read as one digit gets exactly what ``classify_digit`` answers for it (the same
preparation of the whole picture, the same model call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from daft_mnist.model._certainty import scaled_log_probabilities
from daft_mnist.model._engine import LoadedModel
from daft_mnist.model._pair import pair_scores
from daft_mnist.model._whole import whole_digit_scores
from daft_mnist.vision._prepare import prepare_batch, prepare_stack
from daft_mnist.vision._reading import decode
from daft_mnist.vision._segment import Candidates, candidates

__all__ = [
    "ALTERNATIVES",
    "Digit",
    "NumberResult",
    "Scores",
    "as_picture",
    "edit_distance",
    "read_batch",
    "score_numbers",
]

ALTERNATIVES = 3
"""How many other readings ``details`` lists."""
MIN_WHOLE = 0.1
"""A reading of several digits whose digits' mean whole-digit probability (the whole-digit scorer's,
or the pair reader's for a pair) is under this is no number: a texture, a field of specks, a
guilloche pattern with nothing written on it (their readings score 0.002-0.07; the real numbers
of ``real-numbers/`` at least 0.23)."""
CONFIDENCE_POWER = 1.5
"""A number's confidence is the product of its digits' calibrated probabilities to this power
(a digit of a number can also be wrongly cut: fitted on numbers composed of MNIST *training*
digits 50000+, expected calibration error 0.058 -> 0.052; see docs/numbers.md)."""


@dataclass
class Digit:
    """One digit of a reading: the digit, its calibrated probability, its box in the picture."""

    digit: int
    confidence: float
    x0: int
    y0: int
    x1: int
    y1: int


@dataclass
class NumberResult:
    """One picture's reading, or why there is none.

    Attributes:
        number: The digits as a string (leading zeros kept), ``None`` when unread.
        confidence: The product of the digits' calibrated probabilities, to :data:`CONFIDENCE_POWER`
            (a single digit: its calibrated probability, as ``classify_digit`` gives it).
        digits: Left to right.
        alternatives: The next most probable readings (``(number, confidence)``), best first.
        error: Why ``number`` is ``None``.
    """

    number: str | None
    confidence: float | None = None
    digits: list[Digit] = field(default_factory=list)
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row of ``read_number(..., details=True)``."""
        return {
            "number": self.number,
            "confidence": self.confidence,
            "digits": [vars(d) for d in self.digits],
            "alternatives": [{"number": n, "confidence": c} for n, c in self.alternatives],
            "error": self.error,
        }


def as_picture(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """An ``HxW``, ``HxWx1|3|4`` uint8 picture; ``LA`` (2 channels) becomes RGBA; 784 values become 28x28."""
    a = np.asarray(image, dtype=np.uint8)
    if a.ndim == 1 and a.size == 784:
        return a.reshape(28, 28)
    if a.ndim == 3 and a.shape[2] == 2:
        return np.concatenate([a[..., :1], a[..., :1], a[..., :1], a[..., 1:]], axis=2)
    return a


def _alternatives(logp: npt.NDArray[np.float64], best: list[int], k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable other digit strings of the same segmentation (one or two digits changed)."""
    base = float(sum(logp[i, d] for i, d in enumerate(best)))
    options: list[tuple[float, str]] = []
    n = len(best)
    second = [np.argsort(-logp[i])[1:3].tolist() for i in range(n)]
    for i in range(n):
        for d in second[i]:
            digits = list(best)
            digits[i] = d
            options.append((base - logp[i, best[i]] + logp[i, d], "".join(map(str, digits))))
            for j in range(i + 1, n):
                e = second[j][0]
                both = list(digits)
                both[j] = e
                options.append(
                    (base - logp[i, best[i]] + logp[i, d] - logp[j, best[j]] + logp[j, e], "".join(map(str, both)))
                )
    options.sort(key=lambda t: -t[0])
    out: list[tuple[str, float]] = []
    for s, text in options:
        if text not in (o[0] for o in out):
            out.append((text, float(np.exp(s))))
        if len(out) == k:
            break
    return out


def read_batch(images: Sequence[npt.NDArray[np.uint8] | None], model: LoadedModel) -> list[NumberResult | None]:
    """Read each picture (``None`` stays ``None``: the caller gives it its reason)."""
    found: list[Candidates | None] = [None if img is None else candidates(as_picture(img)) for img in images]
    ok = [c for c in found if c is not None and c.reason is None]
    if ok:
        pixels = prepare_stack(np.concatenate([c.crops for c in ok])).pixels.reshape(-1, 784)
        raw = model.log_probabilities(pixels).numpy()
        logp_all = scaled_log_probabilities(raw, model.temperature)
        whole_all = whole_digit_scores(pixels)
        is_pair_all, pair_digits_all = pair_scores(np.concatenate([c.pair_crops for c in ok]))
    out: list[NumberResult | None] = []
    start = 0
    pair_start = 0
    single: list[int] = []
    for i, c in enumerate(found):
        if c is None:
            out.append(None)
            continue
        if c.reason is not None:
            out.append(NumberResult(None, error=c.reason))
            continue
        m, p = len(c.crops), len(c.pairs)
        logp, whole = logp_all[start : start + m], whole_all[start : start + m]
        start += m
        is_pair, pair_digits = is_pair_all[pair_start : pair_start + p], pair_digits_all[pair_start : pair_start + p]
        pair_start += p
        reading = decode(c, logp, whole, pair=is_pair, pair_digits=pair_digits)
        pair_of = {int(k): q for q, k in enumerate(c.pairs.tolist())}
        digits = [
            Digit(d, conf, *(int(v) for v in (c.boxes[k] if part == 0 else c.pair_boxes[pair_of[k], part - 1])))
            for d, conf, k, part in zip(
                reading.digits, reading.confidences, reading.candidates, reading.parts, strict=True
            )
        ]
        number = "".join(map(str, reading.digits))
        shapes = [
            whole[k] if part == 0 else is_pair[pair_of[k]]
            for k, part in zip(reading.candidates, reading.parts, strict=True)
        ]
        looks = float(np.mean(np.exp(shapes)))
        if len(digits) > 1 and looks < MIN_WHOLE:
            out.append(
                NumberResult(
                    None,
                    error=f"image has no clear number: its {len(digits)} marks do not look like whole digits "
                    f"(mean whole-digit probability {looks:.2f}, expected at least {MIN_WHOLE})",
                )
            )
            continue
        out.append(
            NumberResult(
                number,
                float(np.prod(reading.confidences)) ** CONFIDENCE_POWER,
                digits,
                _alternatives(reading.log_probabilities, reading.digits, ALTERNATIVES),
            )
        )
        if len(digits) == 1:
            single.append(i)
    if single:
        pictures = [as_picture(img) for img in (images[i] for i in single) if img is not None]
        _as_classified(pictures, [out[i] for i in single], model)
    return out


def _as_classified(
    pictures: list[npt.NDArray[np.uint8]], results: list[NumberResult | None], model: LoadedModel
) -> None:
    """One-digit readings take ``classify_digit``'s answer on the whole picture, where it has one."""
    prepared = prepare_batch(pictures)
    ok = [k for k, why in enumerate(prepared.reasons) if why is None]
    if not ok:
        return
    raw = model.log_probabilities(prepared.pixels[ok].reshape(len(ok), -1)).numpy()
    logp = scaled_log_probabilities(raw, model.temperature)
    for row, k in enumerate(ok):
        result = results[k]
        if result is None or not result.digits:
            continue
        digit = int(np.argmax(raw[row]))
        conf = float(np.exp(logp[row, digit]))
        old = result.digits[0]
        result.digits = [Digit(digit, conf, old.x0, old.y0, old.x1, old.y1)]
        result.number, result.confidence = str(digit), conf
        result.alternatives = _alternatives(logp[row : row + 1], [digit], ALTERNATIVES)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two digit strings (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass
class Scores:
    """How well numbers were read against their labels.

    Attributes:
        count: Numbers scored.
        exact: Numbers read exactly (an unread number is wrong).
        digit_errors: Edits (digits inserted, deleted or changed) to turn the readings into the labels.
        digits: Digits in the labels.
        by_length: Per label length: ``(count, exact)``.
    """

    count: int = 0
    exact: int = 0
    digit_errors: int = 0
    digits: int = 0
    by_length: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def exact_rate(self) -> float:
        """Fraction of numbers read exactly."""
        return self.exact / self.count if self.count else 0.0

    @property
    def digit_error_rate(self) -> float:
        """Edits per label digit."""
        return self.digit_errors / self.digits if self.digits else 0.0


def score_numbers(labels: Sequence[str], readings: Sequence[str | None]) -> Scores:
    """Exact-match and digit error rates of ``readings`` against ``labels`` (by label length too)."""
    s = Scores()
    for truth, read in zip(labels, readings, strict=True):
        ok = read == truth
        s.count += 1
        s.exact += ok
        s.digits += len(truth)
        s.digit_errors += edit_distance(truth, read or "")
        n, e = s.by_length.get(len(truth), (0, 0))
        s.by_length[len(truth)] = (n + 1, e + ok)
    return s
