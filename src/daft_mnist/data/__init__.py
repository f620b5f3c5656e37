"""Data rules, file helpers and the loaders, one module per format (all internal).

The lowest layer above :mod:`daft_mnist.errors` and :mod:`daft_mnist.diagnostics`: nothing here
imports the picture code, the model or Daft expressions built elsewhere. The public entry points
are :mod:`daft_mnist.io` (``load_mnist``, ``load_images``, ``convert``).
"""
