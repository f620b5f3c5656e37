"""Exceptions raised by daft-mnist, and :data:`OnError`, what a step does with a bad row.

Every message says what was expected and what was received.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["CacheDirError", "DaftMnistError", "DataError", "OnError", "OptionError", "TrainingError", "WeightsError"]

OnError = Literal["raise", "null"]
"""The ``on_error=`` option: ``"raise"`` a :class:`DataError` naming the bad row, or keep it as a
``"null"`` (with its reason in a ``*_error`` column where the step writes one)."""


class DaftMnistError(Exception):
    """Base class of every error daft-mnist raises on purpose."""


class DataError(DaftMnistError, ValueError):
    """Input data is not MNIST-shaped: wrong length, out-of-range pixels, bad labels, bad files."""


class WeightsError(DaftMnistError, ValueError):
    """Weights cannot be used: missing, corrupt, unsafe, of another architecture or failing their checksum."""


class CacheDirError(DataError, WeightsError):
    """The download cache folder cannot be used (``$DAFT_MNIST_CACHE_DIR`` names a file, ...).

    Both a :class:`DataError` and a :class:`WeightsError`: the cache holds downloaded data and weights.
    """


class OptionError(DaftMnistError, ValueError, TypeError):
    """An option has the wrong type or value: ``num_threads: expected an integer >= 1, got '2' (str)``.

    Both a ``ValueError`` and a ``TypeError`` (as numpy's ``AxisError`` is both a ``ValueError``
    and an ``IndexError``): catch whichever your code already catches.
    """


class TrainingError(DaftMnistError, RuntimeError):
    """Training failed on its own numbers: the loss or the weights became NaN or infinite."""
