"""Walking a local folder of pictures: symbolic links followed and read where they sit, loops refused.

A ``<label>/`` folder or a picture may be a symbolic link (pictures gathered from elsewhere
without copying them). A link is read *where it sits*: its files keep the path under the
folder walked and the label of the ``<label>/`` folder the link is in, never its target's. A
link that leads nowhere (dangling) or back to itself (a loop, or a folder link to one of its own
parents, which would be walked forever) is named, never skipped in silence.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

from daft_mnist.errors import DataError

__all__ = ["link_problem", "walk_files"]


def link_problem(path: str) -> str | None:
    """Why the symbolic link ``path`` cannot be followed (dangling, a loop); ``None`` for any other path."""
    if not os.path.islink(path) or os.path.exists(path):
        return None
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
    return "a symbolic link that cannot be followed"  # pragma: no cover - exists() said no


def walk_files(folder: str | os.PathLike[str]) -> Iterator[str]:
    """Every file under ``folder`` (at any depth), links to folders followed, as paths under ``folder``.

    Links to files and broken links come out as files (check them with :func:`link_problem`).

    Raises:
        DataError: A link to a folder that holds it (a loop), naming the link and its target.
    """
    top = os.fspath(folder)
    for root, dirs, names in os.walk(top, followlinks=True):
        real_root = os.path.realpath(root)
        for d in list(dirs):
            link = os.path.join(root, d)
            if os.path.islink(link):
                target = os.path.realpath(link)
                if real_root == target or real_root.startswith(target.rstrip(os.sep) + os.sep):
                    raise DataError(
                        f"{link}: a symbolic link loop (it points to {os.readlink(link)!r}, a folder that holds "
                        "it, which would be read forever); remove the link"
                    )
        for name in names:
            yield os.path.join(root, name)
