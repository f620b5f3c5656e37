"""Bounded streaming of a local JSON-lines file: gzip with no trailing bytes, capped sizes, UTF-8 only.

The pre-check reads every local (or cached remote) JSON file through :func:`line_chunks`
before Daft's reader sees it, so a file that would make the reader hang, blow up memory
or fail with an internal error is refused here with a :class:`~daft_mnist.errors.DataError`
that names the file, the line and the limit. Memory stays bounded: the file is read in
pieces of :data:`SCAN_CHUNK_BYTES`, and a line longer than :data:`MAX_LINE_BYTES` stops the
read at once.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from daft_mnist.data._files import GZIP_MAGIC
from daft_mnist.errors import DataError

__all__ = [
    "MAX_INFLATED_BYTES",
    "MAX_LINE_BYTES",
    "SCAN_CHUNK_BYTES",
    "GzipStream",
    "line_chunks",
    "loads_json",
    "open_lines",
]

MAX_LINE_BYTES = 1 << 20
"""Longest JSON line accepted (1 MiB). An MNIST row is about 2-6 kB (784 numbers 0-255);
a longer line is not MNIST, and Daft's reader needs about 50 times a line's size in memory."""
MAX_INFLATED_BYTES = 2 << 30
"""Largest (decompressed) JSON-lines file accepted (2 GiB). All 70,000 MNIST images as JSON
lines take about 250 MB; anything far larger is not MNIST (a gzip bomb, a wrong file)."""
SCAN_CHUNK_BYTES = 8 << 20
"""The pre-check reads the (decompressed) file in pieces of this size (8 MiB)."""

_READ_BYTES = 1 << 20


class GzipStream:
    """A gzip file read as its decompressed bytes, with nothing allowed after the last member.

    Python's :mod:`gzip` skips zero padding after the stream, but Daft's reader fails on it
    with "Invalid gzip header": bytes after the stream (other than another gzip member) are
    refused here, as are truncated streams and more than :data:`MAX_INFLATED_BYTES` in all.
    """

    def __init__(self, fh: BinaryIO, label: str, limit: int = MAX_INFLATED_BYTES) -> None:
        self._fh = fh
        self._label = label
        self._limit = limit
        self._inflated = 0
        self._z: zlib._Decompress | None = zlib.decompressobj(wbits=31)
        self._pending = b""

    def _refuse(self, why: str) -> DataError:
        return DataError(f"{self._label}: {why}")

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes; ``b""`` at the end of the stream."""
        while self._z is not None:
            z = self._z
            data = z.unconsumed_tail or self._pending or self._fh.read(_READ_BYTES)
            self._pending = b""
            if not data:
                if not z.eof:
                    raise self._refuse(
                        "not a readable gzip file (truncated or corrupt: EOFError: the stream ends before its "
                        "end-of-stream marker); expected a complete gzip stream of JSON lines"
                    )
                self._z = None
                break
            try:
                out = z.decompress(data, size)
            except zlib.error as exc:
                raise self._refuse(
                    f"not a readable gzip file (truncated or corrupt: zlib.error: {exc}); "
                    "expected a complete gzip stream of JSON lines"
                ) from None
            if z.eof:
                rest = z.unused_data + (b"" if z.unused_data else self._fh.read(_READ_BYTES))
                if rest:
                    if rest[:2] != GZIP_MAGIC and not (len(rest) == 1 and rest == GZIP_MAGIC[:1]):
                        zeros = not rest.strip(b"\0") and not self._fh.read(1).strip(b"\0")
                        what = "zero bytes (padding)" if zeros else "bytes that are not gzip"
                        raise self._refuse(
                            f"{what} after the end of the gzip stream; Daft's reader refuses them "
                            '("Invalid gzip header"): re-compress the file (gzip -dc FILE | gzip > NEW)'
                        )
                    self._z = zlib.decompressobj(wbits=31)  # another gzip member follows
                    self._pending = rest
                else:
                    self._z = None
            if out:
                self._count(len(out))
                return out
        return b""

    def _count(self, n: int) -> None:
        self._inflated += n
        if self._inflated > self._limit:
            raise self._refuse(
                f"decompresses to more than {self._limit >> 20} MiB (MAX_INFLATED_BYTES); "
                "MNIST as JSON lines is about 250 MB: a gzip bomb or not an MNIST file"
            )


class _PlainStream:
    """A plain file with the same size limit as :class:`GzipStream`."""

    def __init__(self, fh: BinaryIO, label: str, limit: int = MAX_INFLATED_BYTES) -> None:
        self._fh, self._label, self._limit, self._read = fh, label, limit, 0

    def read(self, size: int) -> bytes:
        out = self._fh.read(size)
        self._read += len(out)
        if self._read > self._limit:
            raise DataError(
                f"{self._label}: larger than {self._limit >> 20} MiB (MAX_INFLATED_BYTES); "
                "MNIST as JSON lines is about 250 MB: not an MNIST file"
            )
        return out


def _check_encoding(head: bytes, label: str) -> None:
    """Refuse a byte-order mark, UTF-16/32 and NUL bytes at the start: Daft's reader reads UTF-8 only."""
    if head.startswith(b"\xef\xbb\xbf"):
        raise DataError(
            f"{label}: starts with a UTF-8 byte-order mark (BOM, bytes ef bb bf), which Daft's JSON reader "
            "refuses; save the file as UTF-8 without a BOM"
        )
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(head) >= 2 and b"\0" in head[:4]):
        raise DataError(
            f"{label}: UTF-16 or UTF-32 encoded (byte-order mark or zero bytes at the start); "
            "expected UTF-8 JSON lines: convert it, e.g. iconv -f UTF-16 -t UTF-8"
        )


def _longest_line(chunk: bytes) -> tuple[int, int]:
    """(length, 0-based index) of the longest line of ``chunk`` (lines end at ``\\n``)."""
    ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
    bounds = np.concatenate(([-1], ends, [len(chunk)] if not chunk.endswith(b"\n") else []))
    lengths = np.diff(bounds) - 1
    i = int(np.argmax(lengths))
    return int(lengths[i]), i


def _too_long(label: str, line: int, length: int) -> DataError:
    return DataError(
        f"{label}: line {line} is longer than {MAX_LINE_BYTES >> 10} KiB (MAX_LINE_BYTES; "
        f"{'at least ' if length > MAX_LINE_BYTES else ''}{length} bytes); an MNIST row is a few kB: "
        "not an MNIST JSON-lines file"
    )


def line_chunks(
    fh: BinaryIO | GzipStream | _PlainStream, label: str, chunk_bytes: int = SCAN_CHUNK_BYTES
) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, piece) of the decompressed stream, in pieces of about 8 MB ending at a line break.

    Raises:
        DataError: A line longer than :data:`MAX_LINE_BYTES` (found before it is held in
            memory whole), a BOM or UTF-16 text, or a stream over its size limit.
    """
    rest = b""
    line = 1
    first = True
    while block := fh.read(chunk_bytes):
        if first:
            _check_encoding(block, label)
            first = False
        buf = rest + block if rest else block
        cut = buf.rfind(b"\n") + 1
        if cut:
            piece = buf[:cut]
            length, at = _longest_line(piece)
            if length > MAX_LINE_BYTES:
                raise _too_long(label, line + at, length)
            yield line, piece
            line += piece.count(b"\n")
        rest = buf[cut:]
        if len(rest) > MAX_LINE_BYTES:
            raise _too_long(label, line, len(rest))
    if rest:
        yield line, rest


def open_lines(path: Path, label: str, gzipped: bool) -> tuple[BinaryIO, GzipStream | _PlainStream]:
    """The open file and its bounded decompressed stream (close the file when done)."""
    fh = open(path, "rb")  # noqa: SIM115 - closed by the caller
    return fh, (GzipStream(fh, label) if gzipped else _PlainStream(fh, label))


_I64_MIN = -(1 << 63)
_U64_MAX = (1 << 64) - 1


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (Daft's reader refuses NaN and Infinity)")


def _checked_int(text: str) -> int:
    if len(text) > 21 or not _I64_MIN <= int(text) <= _U64_MAX:
        more = "..." if len(text) > 24 else ""
        raise ValueError(f"the number {text[:24]}{more} has too many digits for Daft's reader (64-bit integers)")
    return int(text)


def _checked_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:24]} is too large for a 64-bit float (Daft's reader refuses it)")
    return value


def loads_json(raw: bytes | str) -> Any:
    """:func:`json.loads` accepting exactly the numbers Daft's JSON reader accepts.

    ``NaN``/``Infinity``, integers outside 64 bits and floats that overflow raise
    ``ValueError`` (Python's parser would take them); so does nesting too deep for the parser
    (``RecursionError`` in Python).
    """
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_int=_checked_int, parse_float=_checked_float)
    except RecursionError:
        raise ValueError("values nested too deeply (an MNIST row is a flat list of 784 numbers)") from None
