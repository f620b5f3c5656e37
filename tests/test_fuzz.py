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

from daft_mnist import DataError
from daft_mnist.data._columns import check_pixels_batch as _check_batch
from daft_mnist.data._json import JsonLines, mnist_schema
from daft_mnist.data._json import parse_json_line as _parse_json_line
from daft_mnist.data._json import scan_local_json as _scan_local_json
from daft_mnist.data._rules import label_check, pixel_check
from daft_mnist.images import pixels_to_numpy
from daft_mnist.io import read_idx

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
    # A null row is not malformed: it stays null whatever on_error says (it was reported by the
    # step that made it null); only a malformed non-null row raises.
    malformed = not fixed and any(r is not None and not ok for r, ok in zip(rows, valid, strict=True))
    if malformed:
        with pytest.raises(DataError, match="pass on_error='null'"):
            _check_batch(daft.Series.from_arrow(arr, name="image"), "raise", "image")
    else:
        assert _check_batch(daft.Series.from_arrow(arr, name="image"), "raise", "image").to_pylist() == out


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
def test_row_reasons_agree_with_the_oracle(row: list[Pixel] | None) -> None:
    """One row through the batch check: bad exactly when the numpy-free oracle says so, with a reason
    that carries no batch position (that belongs to the message)."""
    check = pixel_check(_arrow([row], as_float=True), "image")
    assert bool(check.bad[0]) == (not _valid(row))
    reason = check.reason(0)
    assert (reason is None) == _valid(row)
    if reason is not None:
        assert "row" not in reason
        assert "batch" not in reason
        assert check.summary() == f"row 0: {reason}"


json_pixel = st.one_of(
    st.integers(0, 255),
    st.integers(-(2**40), 2**40),
    st.floats(-1000, 1000).map(lambda x: round(x, 2)),
    st.none(),
    st.just("a"),
)


@st.composite
def json_rows(draw: st.DrawFn) -> dict[str, object]:
    """A parsed JSON line of MNIST, damaged now and then in any of the ways the checks name."""
    row: dict[str, object] = {}
    image_kind = draw(st.sampled_from(["valid", "valid", "length", "value", "not_a_list", "missing"]))
    if image_kind != "missing":
        image: object = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, 784).tolist()
        if image_kind == "length":
            image = (image * 2)[: draw(st.integers(0, 800).filter(lambda k: k != 784))]  # type: ignore[operator]
        elif image_kind == "value":
            image[draw(st.integers(0, 783))] = draw(json_pixel)  # type: ignore[index]
        elif image_kind == "not_a_list":
            image = draw(st.one_of(st.integers(0, 9), st.just("0,0"), st.none()))
        row["image"] = image
    label = draw(
        st.one_of(st.integers(-20, 20), st.floats(-20, 20).map(lambda x: round(x, 1)), st.none(), st.just("7"))
    )
    if draw(st.booleans()) or label is not None:
        row["label"] = label
    return row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(json_rows(), min_size=1, max_size=6))
def test_the_line_finder_and_the_batch_checks_agree(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]]
) -> None:
    """The error path names a file's bad lines by re-reading it: it must call exactly the rows bad
    that the batch checks call bad (on the columns Daft's reader gives), with the same reasons,
    at the right line numbers. (Daft's reader refuses blank lines, so there are none here.)"""
    import json

    path = tmp_path_factory.mktemp("finder") / "rows.json"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    line_of_row = list(range(1, len(rows) + 1))
    table = daft.read_json(str(path), schema=mnist_schema()).to_arrow()
    finder = JsonLines(str(path), str(path))
    for field, check in (("image", pixel_check), ("label", label_check)):
        batch = check(table[field].combine_chunks(), field)
        expected = [(line_of_row[i], batch.reason(int(i))) for i in batch.bad_rows()]
        assert list(finder.bad_lines(field)) == expected
    image_ok = [
        isinstance(r.get("image"), list)
        and all(isinstance(v, (int, float)) for v in r["image"])  # type: ignore[union-attr]
        and _valid(r["image"])  # type: ignore[arg-type]
        for r in rows
    ]
    assert [not b for b in pixel_check(table["image"].combine_chunks(), "image").bad] == image_ok


@given(
    numbers=st.lists(
        st.one_of(
            st.integers(-(10**25), 10**25),
            st.floats(allow_nan=False, allow_infinity=False),
            st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
        ),
        max_size=30,
    ),
    lines=st.integers(1, 3),
)
def test_the_fast_number_screen_agrees_with_the_regex(numbers: list[object], lines: int) -> None:
    """The scan's substring screen for numbers Daft's reader may not take is the regex, only faster."""
    from daft_mnist.data._json import _SUSPECT_NUMBER, _suspect_numbers

    row = b'{"image": [' + b",".join(str(n).encode() for n in numbers) + b'], "label": 7}'
    chunk = b"\n".join([row] * lines) + b"\n"
    assert _suspect_numbers(chunk, lines) == bool(_SUSPECT_NUMBER.search(chunk))


def _plain_rows_oracle(chunk: bytes) -> int | None:
    """The fast path's first form (issue 17 replaced its nine counts by one translate): the oracle."""
    plain = b'0123456789,.-+eE[]{}:" \t\r\n'
    if not chunk:
        return None
    k = chunk.count(b"{")
    if not (
        chunk.startswith(b"{")
        and (chunk.endswith(b"}\n") or chunk.endswith(b"}"))
        and chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1) == k
        and chunk.count(b"}\n{") == k - 1
        and chunk.count(b"}") == k
        and chunk.count(b"[") == k
        and chunk.count(b"]") == k
    ):
        return None
    if chunk.translate(None, plain) != b"imaglabl" * k:
        return None
    from daft_mnist.data._json import _SUSPECT_NUMBER

    return None if _SUSPECT_NUMBER.search(chunk) else k


_LINE = b'{"image": [0, 12, 255], "label": 7}'


@given(
    pieces=st.lists(
        st.sampled_from(
            [_LINE, _LINE, _LINE, b"\n", b"\r\n", b" ", b"{", b"}", b"[", b"]", b"true", b'"x"', b"1e300", b"7" * 20]
        ),
        max_size=12,
    )
)
@example(pieces=[_LINE, b"\n", _LINE])
@example(pieces=[_LINE, b"\n", b"\n", _LINE])
@example(pieces=[b" ", _LINE])
def test_the_fast_path_accepts_what_its_first_form_accepted(pieces: list[bytes]) -> None:
    from daft_mnist.data._json import _plain_mnist_rows

    chunk = b"".join(pieces)
    got = _plain_mnist_rows(chunk)
    assert got is None or got == _plain_rows_oracle(chunk)
    if got is None and _plain_rows_oracle(chunk) is not None:  # stricter only about the key/bracket order
        assert chunk.replace(b"\n", b"").replace(_LINE, b"") != b""
    assert _plain_mnist_rows(b"\n".join([_LINE] * 3) + b"\n") == _plain_mnist_rows(b"\n".join([_LINE] * 3)) == 3
