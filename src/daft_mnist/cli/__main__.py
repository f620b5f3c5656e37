"""``python -m daft_mnist.cli``: the same command as the ``daft-mnist`` entry point."""

import sys

from daft_mnist.cli import main

sys.exit(main())
