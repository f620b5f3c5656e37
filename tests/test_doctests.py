"""Run the docstring examples of the public modules: they are real code on tiny frames."""

from __future__ import annotations

import doctest
import importlib

import pytest

# Modules whose docstrings carry examples; each must have at least one that runs.
MODULES = [
    "daft_mnist.classifier",
    "daft_mnist.frames",
    "daft_mnist.images",
    "daft_mnist.io",
    "daft_mnist.labels",
    "daft_mnist.metrics",
    "daft_mnist.neighbours",
    "daft_mnist.plots",
    "daft_mnist.preparation",
    "daft_mnist.provider",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name} has no docstring example"
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples in {name} failed (see output above)"
