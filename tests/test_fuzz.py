"""Property tests: arbitrary values and bytes through the decode path give either the right
answer (checked against a numpy oracle) or one of the documented errors, never anything else."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import daft
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from daft_mnist import DataError, pixels_to_numpy, read_idx
from daft_mnist.images import _check_batch
from daft_mnist.io import _parse_json_line, _scan_local_json

Pixel = float | int | None

pixel_values = st.one_of(
    st.integers(0, 255),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
)


@st.composite
def image_rows(draw: st.DrawFn) -> list[Pixel] | None:
    """Mostly valid 784-pixel rows, with one kind of damage now and then."""
    kind = draw(st.sampled_from(["valid", "valid", "null", "length", "value"]))
    if kind == "null":
        return None
    seed = draw(st.integers(0, 2**32 - 1))
    row: list[Pixel] = np.random.default_rng(seed).integers(0, 256, 784).tolist()
    if kind == "length":
        n = draw(st.integers(0, 800).filter(lambda k: k != 784))
        return (row * 2)[:n]
    if kind == "value":
        row[draw(st.integers(0, 783))] = draw(pixel_values)
    return row


def _valid(row: list[Pixel] | None) -> bool:
    return (
        row is not None
        and len(row) == 784
        and all(v is not None and math.isfinite(v) and v == int(v) and 0 <= v <= 255 for v in row)
    )


def _arrow(rows: list[list[Pixel] | None], as_float: bool) -> pa.Array:
    if as_float:
        return pa.array([None if r is None else [None if v is None else float(v) for v in r] for r in rows])
    if any(r is not None and any(v is not None and not float(v).is_integer() for v in r) for r in rows):
        return pa.array(rows, type=pa.list_(pa.float64()))
    return pa.array(rows, type=pa.list_(pa.int64()))


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(rows=st.lists(image_rows(), min_size=0, max_size=6), as_float=st.booleans())
def test_pixels_to_numpy_is_right_or_a_data_error(rows: list[list[Pixel] | None], as_float: bool) -> None:
    try:
        arr = _arrow(rows, as_float)
    except (OverflowError, pa.ArrowInvalid):
        return  # not representable in Arrow at all: nothing reaches the decode path
    valid = [_valid(r) for r in rows]
    if all(valid):
        out = pixels_to_numpy(arr)
        expected = np.array(rows, dtype=np.uint8).reshape(len(rows), 784)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, expected)
    else:
        with pytest.raises(DataError, match=r"column 'image': .* not valid MNIST images"):
            pixels_to_numpy(arr)


@FUZZ
@given(rows=st.lists(image_rows(), min_size=1, max_size=6), as_float=st.booleans(), fixed=st.booleans())
@example(rows=[[]], as_float=True, fixed=False)  # only empty lists: Arrow types the values as null
def test_checked_pixels_null_mode_matches_the_oracle(
    rows: list[list[Pixel] | None], as_float: bool, fixed: bool
) -> None:
    try:
        arr = _arrow(rows, as_float)
    except (OverflowError, pa.ArrowInvalid):
        return
    valid = [_valid(r) for r in rows]
    if fixed:  # the fixed-size layout (tensors, load_mnist output), null rows included
        good = [r if ok else [0] * 784 for r, ok in zip(rows, valid, strict=True)]
        flat = pa.array(np.array(good, dtype=np.uint8).reshape(-1))
        arr = pa.FixedSizeListArray.from_arrays(flat, 784, mask=pa.array([not ok for ok in valid]))
    out = _check_batch(daft.Series.from_arrow(arr, name="image"), "null", "image").to_pylist()
    assert len(out) == len(rows)
    for got, row, ok in zip(out, rows, valid, strict=True):
        if ok:
            assert got == [int(v) for v in row]  # type: ignore[union-attr, arg-type]
        else:
            assert got is None
    if not all(valid):
        with pytest.raises(DataError, match="pass on_error='null'"):
            _check_batch(daft.Series.from_arrow(arr, name="image"), "raise", "image")


@FUZZ
@given(data=st.binary(max_size=64), magic=st.sampled_from([None, 0x801, 0x803, 0x800, 0x901]))
def test_read_idx_on_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes, magic: int | None) -> None:
    raw = data if magic is None else struct.pack(">I", magic) + data
    path = tmp_path_factory.mktemp("idx") / "x-idx3-ubyte"
    path.write_bytes(raw)
    try:
        arr = read_idx(path)
    except DataError:
        return
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    assert arr.shape == dims
    assert arr.tobytes() == raw[4 + 4 * ndim :]


@FUZZ
@given(line=st.one_of(st.text(max_size=80), st.binary(max_size=80).map(lambda b: b.decode("latin-1"))))
def test_parse_json_line_never_raises(line: str) -> None:
    pixels, label = _parse_json_line(line)
    assert pixels is None or all(v is None or isinstance(v, float) for v in pixels)
    assert label is None or isinstance(label, float)


@FUZZ
@given(content=st.binary(max_size=200), gz=st.booleans())
def test_json_preflight_on_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, content: bytes, gz: bool) -> None:
    path: Path = tmp_path_factory.mktemp("json") / ("x.json.gz" if gz else "x.json")
    path.write_bytes(content)
    try:
        scan = _scan_local_json(path)
    except DataError as exc:
        error = str(exc)
        assert str(path) in error  # either outcome is allowed; an error must name the file
        return
    lines = [ln.strip() for ln in content.split(b"\n")] if not content.startswith(b"\x1f\x8b") else None
    if lines is not None:
        assert scan.rows == sum(1 for ln in lines if ln)


@settings(max_examples=150, deadline=None)
@given(row=image_rows())
def test_the_file_line_locator_agrees_with_the_batch_check(row: list[Pixel] | None) -> None:
    """The error path names a file's bad lines with its own validator: it must call exactly the
    rows bad that the batch check calls bad, or it would point at the wrong line."""
    from daft_mnist._rules import pixel_problem as _pixel_problem

    assert (_pixel_problem(row) is None) == _valid(row)
    arr = _arrow([row], as_float=True)
    try:
        _check_batch(daft.Series.from_arrow(arr, name="image"), "raise", "image")
        batch_ok = True
    except DataError:
        batch_ok = False
    assert batch_ok == (_pixel_problem(row) is None)


@settings(max_examples=100, deadline=None)
@given(label=st.one_of(st.integers(-20, 20), st.floats(allow_nan=True, allow_infinity=True), st.none()))
def test_the_label_locator_agrees_with_the_label_check(label: float | int | None) -> None:
    """(JSON booleans never get this far: the file scan refuses them.)"""
    from daft_mnist._rules import label_problem as _label_problem
    from daft_mnist.labels import _check_labels_batch

    as_read = None if label is None else float(label)  # what the reader's Float64 hint gives
    try:
        _check_labels_batch(daft.Series.from_pylist([as_read], name="label"), "raise", "label")
        batch_ok = True
    except DataError:
        batch_ok = False
    assert batch_ok == (_label_problem(label) is None)
