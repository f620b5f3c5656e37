"""One check for every public option, where it is given: one rule and one message shape.

Numbers are taken by value: any ``numbers.Integral`` for a count (``int``, ``np.int64``, ...),
any ``numbers.Real`` for a number (``float``, ``np.float32``, ``fractions.Fraction``, ...),
returned as plain ``int``/``float`` (a float32 scalar as the decimal it prints as:
``np.float32(0.9)`` is ``0.9``). ``bool`` is never a number here (``True`` is not a batch
size), and a string is never a number (``"2"`` is refused, not parsed). Every refusal is an
:class:`~daft_mnist.errors.OptionError` (a ``ValueError`` and a ``TypeError``) naming the
option, what it expects and what it got::

    num_threads: expected an integer >= 1, got '2' (str)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

from daft_mnist.errors import OptionError

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_optional_int",
    "check_optional_number",
    "check_text",
    "describe",
    "option_error",
]

_T = TypeVar("_T")
_MAX_REPR = 80


def describe(value: Any) -> str:
    """``'2' (str)``: a value as messages show it, its repr (cut at 80 characters) and its type."""
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not hide the real error
        text = "<unprintable>"
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return f"{text} ({type(value).__name__})"


def option_error(name: str, expected: str, value: Any) -> OptionError:
    """``{name}: expected {expected}, got {value} ({type})``."""
    return OptionError(f"{name}: expected {expected}, got {describe(value)}")


def _is_bool(value: Any) -> bool:
    kind = type(value)  # numpy's bool (np.bool_, named "bool" in numpy 2) too, without importing numpy
    return isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"))


def _range_text(kind: str, minimum: float | None, maximum: float | None, above: float | None) -> str:
    if above is not None and maximum is not None:
        return f"{kind} in ({above:g}, {maximum:g}]"
    if above is not None:
        return f"{kind} > {above:g}"
    if minimum is not None and maximum is not None:
        return f"{kind} in [{minimum:g}, {maximum:g}]" if kind != "an integer" else f"{kind} in {minimum:g}-{maximum:g}"
    if minimum is not None:
        return f"{kind} >= {minimum:g}"
    if maximum is not None:
        return f"{kind} <= {maximum:g}"
    return kind


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (any ``numbers.Integral``, not ``bool``) in range.

    Raises:
        OptionError: Not an integer (a ``bool``, a float, a string, ...) or out of range.
    """
    expected = _range_text("an integer", minimum, maximum, None)
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise option_error(name, expected, value)
    out = int(value)
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise option_error(name, expected, value)
    return out


def check_optional_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """``None``, or :func:`check_int`'s ``int`` (the message then says ``or None``)."""
    if value is None:
        return None
    try:
        return check_int(name, value, minimum=minimum, maximum=maximum)
    except OptionError:
        raise option_error(name, _range_text("an integer", minimum, maximum, None) + " or None", value) from None


def _as_float(value: numbers.Real) -> float:
    """``value`` as a float; a float32 or float16 scalar as the decimal it prints as.

    ``np.float32(0.9)`` is 0.899999976...; the user wrote 0.9, and messages should say 0.9.
    """
    kind = type(value)
    if kind.__module__ == "numpy" and getattr(value, "itemsize", 8) < 8 and not isinstance(value, numbers.Integral):
        return float(str(value))
    return float(value)


def _number_kind(minimum: float | None, maximum: float | None, above: float | None) -> str:
    bounded = (minimum is not None or above is not None) and maximum is not None
    return "a number" if bounded else "a finite number"


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """``value`` as a finite ``float`` if it is a real number (not ``bool``, not a string) in range.

    Args:
        name: The option's name, as the user wrote it.
        value: What was given.
        minimum: Smallest value allowed (inclusive).
        maximum: Largest value allowed (inclusive).
        above: The value must be greater than this (exclusive).

    Raises:
        OptionError: Not a real number, NaN or infinite, or out of range.
    """
    kind = _number_kind(minimum, maximum, above)
    expected = _range_text(kind, minimum, maximum, above)
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise option_error(name, expected, value)
    out = _as_float(value)
    if (
        not math.isfinite(out)
        or (minimum is not None and out < minimum)
        or (maximum is not None and out > maximum)
        or (above is not None and out <= above)
    ):
        raise option_error(name, expected, value)
    return out


def check_optional_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float | None:
    """``None``, or :func:`check_number`'s ``float`` (the message then says ``or None``)."""
    if value is None:
        return None
    try:
        return check_number(name, value, minimum=minimum, maximum=maximum, above=above)
    except OptionError:
        kind = _number_kind(minimum, maximum, above)
        raise option_error(name, _range_text(kind, minimum, maximum, above) + " or None", value) from None


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (numpy's bool too); ``"no"``, ``0`` or ``None`` are refused.

    Raises:
        OptionError: Anything else.
    """
    if not _is_bool(value):
        raise option_error(name, "True or False", value)
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[_T]) -> _T:
    """The choice ``value`` equals, of its type (``np.str_("null")`` is ``"null"``; ``True`` is not ``1``).

    Raises:
        OptionError: Anything else; the message lists the choices.
    """
    allowed = list(choices)
    for choice in allowed:  # of the choice's type (np.str_ is a str), but True is not the choice 1
        if isinstance(value, type(choice)) and _is_bool(value) == _is_bool(choice) and value == choice:
            return choice
    shown = ", ".join(repr(c) for c in allowed)
    raise option_error(name, f"one of {shown}", value)


def check_text(name: str, value: Any, *, empty: bool = False) -> str:
    """``value`` if it is a ``str`` (non-empty unless ``empty``): column names, prefixes.

    Raises:
        OptionError: Not a string, or an empty one.
    """
    if not isinstance(value, str) or (not empty and not value):
        raise option_error(name, "a string" if empty else "a non-empty string", value)
    return value
