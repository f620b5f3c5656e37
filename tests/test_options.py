"""Issue #19: one check for every public option (``daft_mnist.data._options``), and each entry point calls it.

Numbers are taken by value (``np.int64``, ``np.float32``, ``Fraction``); ``bool`` is never a
count; strings are never numbers; every refusal names the option, what it expects and what it got.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daft_mnist.data import _options as O
from daft_mnist.errors import OptionError

INT_TYPES = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOAT_TYPES = [float, np.float16, np.float32, np.float64]
NOT_NUMBERS = st.one_of(
    st.booleans(),
    st.sampled_from([np.bool_(True), np.bool_(False), None, [1], (1,), b"1", {"a": 1}, object()]),
    st.text(max_size=5),
    st.integers(0, 100).map(str),
    st.floats(0, 1).map(str),
)


@given(st.integers(1, 120), st.sampled_from(INT_TYPES))
def test_integers_are_taken_by_value_whatever_their_type(n: int, kind: Any) -> None:
    value = kind(n)
    got = O.check_int("batch_size", value, minimum=1)
    assert got == n
    assert type(got) is int
    assert O.check_optional_int("max_concurrency", value, minimum=1) == n


@given(st.floats(0, 1, allow_nan=False), st.sampled_from(FLOAT_TYPES))
def test_real_numbers_are_taken_by_value_whatever_their_type(x: float, kind: Any) -> None:
    value = kind(x)
    if not 0 <= float(value) <= 1:  # float16 rounding can step outside
        return
    got = O.check_number("min_confidence", value, minimum=0, maximum=1)
    assert kind(got) == value  # the same number in the caller's type
    assert got == (float(str(value)) if kind in (np.float16, np.float32) else float(value))  # as it prints
    assert type(got) is float
    assert O.check_number("cpus", Fraction(1, 3), above=0) == pytest.approx(1 / 3)
    assert O.check_number("gpus", np.int64(2), minimum=0) == 2.0


@given(NOT_NUMBERS)
def test_bools_strings_and_other_objects_are_never_numbers(value: Any) -> None:
    checks = [
        lambda: O.check_int("num_threads", value, minimum=1),
        lambda: O.check_number("cpus", value, above=0),
    ]
    if value is not None:  # the optional checks take None
        checks.append(lambda: O.check_optional_number("min_confidence", value, minimum=0, maximum=1))
    for check in checks:
        with pytest.raises(OptionError) as info:
            check()
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, TypeError)
        message = str(info.value)
        assert re.match(r"^(num_threads|cpus|min_confidence): expected ", message), message
        assert message.endswith(f"({type(value).__name__})"), message


@given(st.one_of(st.floats(), st.integers(-(10**6), 10**6)))
def test_out_of_range_numbers_name_the_range(x: float) -> None:
    inside = 0 <= x <= 1 if x == x else False
    if inside:
        assert O.check_number("min_confidence", x, minimum=0, maximum=1) == float(x)
        return
    with pytest.raises(OptionError, match=r"^min_confidence: expected a number in \[0, 1\], got "):
        O.check_number("min_confidence", x, minimum=0, maximum=1)


def test_messages_name_the_option_the_expected_and_the_received() -> None:
    with pytest.raises(OptionError, match=re.escape("num_threads: expected an integer >= 1, got '2' (str)")):
        O.check_int("num_threads", "2", minimum=1)
    with pytest.raises(OptionError, match=re.escape("num_threads: expected an integer >= 1, got 1.5 (float)")):
        O.check_int("num_threads", 1.5, minimum=1)
    with pytest.raises(OptionError, match=re.escape("batch_size: expected an integer >= 1, got True (bool)")):
        O.check_int("batch_size", True, minimum=1)
    with pytest.raises(OptionError, match=re.escape("k: expected an integer >= 1, got np.int64(0) (int64)")):
        O.check_int("k", np.int64(0), minimum=1)
    with pytest.raises(OptionError, match=re.escape("max_concurrency: expected an integer >= 1 or None, got 0 (int)")):
        O.check_optional_int("max_concurrency", 0, minimum=1)
    with pytest.raises(OptionError, match=re.escape("cpus: expected a finite number > 0 or None, got nan (float)")):
        O.check_optional_number("cpus", float("nan"), above=0)
    with pytest.raises(OptionError, match=re.escape("details: expected True or False, got 'no' (str)")):
        O.check_bool("details", "no")
    with pytest.raises(OptionError, match=re.escape("details: expected True or False, got 0 (int)")):
        O.check_bool("details", 0)
    assert O.check_bool("details", np.bool_(True)) is True
    with pytest.raises(OptionError, match=re.escape("precision: expected one of 'auto', 'int8', got 'INT8' (str)")):
        O.check_choice("precision", "INT8", ["auto", "int8"])
    with pytest.raises(OptionError, match=re.escape("on: expected a non-empty string, got None (NoneType)")):
        O.check_text("on", None)
    long = "x" * 500
    assert len(str(O.option_error("label", "a string", long))) < 150


# ---------------------------------------------------------------------------- each entry point


def _entry_points() -> dict[str, Any]:
    import daft
    from daft import col

    import daft_mnist as dm

    img = daft.from_pydict({"image": [[0] * 784], "label": [1]})
    vector = daft.DataType.fixed_size_list(daft.DataType.float32(), 2)
    vec = daft.from_pydict({"embedding": [[1.0, 0.0]]}).with_column("embedding", col("embedding").cast(vector))
    return {
        "classify_digit": lambda **o: dm.classify_digit(col("image"), **o),
        "embed_digit": lambda **o: dm.embed_digit(col("image"), **o),
        "Classifier": lambda **o: dm.Classifier(**o),
        "classify": lambda **o: dm.classify(img, image="image", **o),
        "nearest": lambda **o: dm.nearest(vec, vec, **o),
        "MnistProvider": lambda **o: dm.MnistProvider(**o),
        "MnistProvider.get_image_classifier": lambda **o: dm.MnistProvider().get_image_classifier(**o),
        "load_mnist": lambda **o: dm.load_mnist("nothing-is-read.json", **o),
        "plot_digits": lambda **o: dm.plot_digits(img, **o),
        "read_number": lambda **o: dm.read_number(col("image"), **o),
        "train": lambda **o: dm.train(img, **o),
        "read_numbers": lambda **o: dm.read_numbers(img, **o),
        "plot_prepared": lambda **o: dm.plot_prepared(img, original="image", prepared="image", **o),
        "plot_confusion_matrix": lambda **o: dm.plot_confusion_matrix(np.eye(10, dtype=int), **o),
    }


BAD_OPTIONS = [
    ("classify_digit", "num_threads", "2", "an integer >= 1 or None"),
    ("classify_digit", "num_threads", 1.5, "an integer >= 1 or None"),
    ("classify_digit", "num_threads", 0, "an integer >= 1 or None"),
    ("classify_digit", "cpus", "1", "a finite number > 0 or None"),
    ("classify_digit", "gpus", "1", "a fraction in [0, 1] or a whole number"),
    ("classify_digit", "details", "no", "True or False"),
    ("classify_digit", "batch_size", True, "an integer >= 1"),
    ("classify_digit", "min_confidence", "0.5", "a number in [0, 1] or None"),
    ("classify_digit", "max_concurrency", np.float64(2.0), "an integer >= 1 or None"),
    ("classify_digit", "precision", "fp16", "one of 'auto', 'float32', 'int8'"),
    ("embed_digit", "batch_size", "8", "an integer >= 1"),
    ("Classifier", "on_error", "skip", "one of 'raise', 'null'"),
    ("classify", "overwrite", "yes", "True or False"),
    ("classify", "details", 1, "True or False"),
    ("nearest", "k", True, "an integer >= 1"),
    ("nearest", "k", "3", "an integer >= 1"),
    ("nearest", "on", None, "a non-empty string"),
    ("MnistProvider", "num_threads", "2", "an integer >= 1 or None"),
    ("MnistProvider", "precision", "fp16", "one of 'auto', 'float32', 'int8'"),
    ("MnistProvider.get_image_classifier", "batch_size", 0, "an integer >= 1"),
    ("MnistProvider.get_image_classifier", "num_gpus", "1", "an integer >= 0 or None"),
    ("load_mnist", "split", "val", "one of 'test', 'train'"),
    ("load_mnist", "cache", "no", "True or False"),
    ("load_mnist", "timeout", "30", "a finite number > 0 or None"),
    ("train", "num_threads", 0, "an integer >= 1 or None"),
    ("train", "epochs", np.float64(2.0), "an integer >= 1"),
    ("train", "seed", True, "an integer >= 0"),
    ("train", "augment", "yes", "one of True, False, 'strokes'"),
    ("read_number", "details", "no", "True or False"),
    ("read_number", "num_threads", "2", "an integer >= 1 or None"),
    ("read_numbers", "details", 1, "True or False"),
    ("read_numbers", "min_confidence", 2, "a number in [0, 1] or None"),
    ("plot_digits", "limit", 0, "an integer >= 1"),
    ("plot_digits", "columns", 2.0, "an integer >= 1"),
    ("plot_prepared", "size", 10, "an integer >= 28"),
    ("plot_confusion_matrix", "cell", "40", "an integer >= 12"),
]


@pytest.mark.parametrize(("entry", "option", "value", "expected"), BAD_OPTIONS)
def test_every_entry_point_checks_its_options_where_they_are_given(
    entry: str, option: str, value: Any, expected: str
) -> None:
    want = f"{option}: expected {expected}, got {O.describe(value)}"
    with pytest.raises(OptionError, match=re.escape(want)):
        _entry_points()[entry](**{option: value})


GOOD_NUMPY_OPTIONS = [
    ("classify_digit", {"min_confidence": np.float32(0.5), "batch_size": np.int64(8), "num_threads": np.int32(1)}),
    ("Classifier", {"cpus": np.float32(0.5), "gpus": np.int64(0), "max_concurrency": np.uint8(1)}),
    ("classify", {"batch_size": np.int64(16), "details": np.bool_(True)}),
    ("nearest", {"k": np.int64(1)}),
    ("MnistProvider", {"num_threads": np.int64(2)}),
    ("plot_digits", {"limit": np.int64(1), "columns": np.int16(1), "size": np.uint8(56)}),
    ("plot_confusion_matrix", {"cell": np.int64(20)}),
]


@pytest.mark.parametrize(("entry", "options"), GOOD_NUMPY_OPTIONS)
def test_numpy_scalars_are_taken_by_value(entry: str, options: dict[str, Any]) -> None:
    _entry_points()[entry](**options)


def test_a_float32_option_is_the_decimal_it_prints_as() -> None:
    from daft_mnist._udf import abstain_reason
    from daft_mnist.classifier import Classifier

    m = Classifier(min_confidence=np.float32(0.999)).min_confidence  # type: ignore[arg-type]
    assert m == 0.999
    assert abstain_reason(0.95, m) == "confidence 0.95 below min_confidence 0.999"  # not 0.9990000128746033


def test_checked_options_are_stored_as_plain_python_numbers() -> None:
    from daft_mnist import Classifier

    clf = Classifier(batch_size=np.int64(8), min_confidence=np.float32(0.5), gpus=np.int64(0))  # type: ignore[arg-type]
    assert (type(clf.batch_size), type(clf.min_confidence), type(clf.gpus)) == (int, float, float)
    assert clf == Classifier(batch_size=8, min_confidence=0.5)


def test_calibrate_int8_checks_its_chunk_size() -> None:
    from daft_mnist.model import Net, calibrate_int8

    with pytest.raises(OptionError, match=re.escape("chunk_size: expected an integer >= 1, got 0 (int)")):
        calibrate_int8(Net(), np.zeros((2, 784), np.uint8), chunk_size=0)
    assert calibrate_int8(Net(), np.zeros((2, 784), np.uint8), chunk_size=np.int64(1)) is not None


def test_choices_are_taken_by_value_of_their_type() -> None:
    assert O.check_choice("on_error", np.str_("null"), ("raise", "null")) == "null"
    assert type(O.check_choice("on_error", np.str_("null"), ("raise", "null"))) is str
    with pytest.raises(OptionError, match=re.escape("augment: expected one of 1, 'strokes', got True (bool)")):
        O.check_choice("augment", True, (1, "strokes"))
    assert O.check_choice("augment", True, (True, False, "strokes")) is True
    with pytest.raises(OptionError, match=re.escape("augment: expected one of True, False, 'strokes', got 1 (int)")):
        O.check_choice("augment", 1, (True, False, "strokes"))
