"""The command line's checks, run before any work: option values, outputs, device, weights, sources.

``daft_mnist.cli`` calls these first, so that a mistake on the command line costs a second,
not a long run: output paths (suffix, folder, not a directory, never an input of the command
nor another output), the device, the weights (loaded once), and what kind of SOURCE was given
(MNIST data for ``load_mnist``, or pictures for ``load_images``).
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from daft_mnist.data._files import display_path, is_remote, same_file
from daft_mnist.data._folders import walk_files
from daft_mnist.data._image_files import IMAGE_SUFFIXES, holds_pictures
from daft_mnist.errors import DataError

__all__ = [
    "UsageError",
    "add_overwrite",
    "check_device",
    "check_source",
    "check_weights",
    "input_paths",
    "is_image_source",
    "local_files",
    "positive_float",
    "positive_int",
    "reads_as_picture",
    "writable",
]


class UsageError(Exception):
    """A command line that parses but cannot work (e.g. an output folder that does not exist)."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _has_image_file(folder: Path) -> bool:
    """Whether a folder holds (at any depth, links followed) a file read as an image, stopping at the first."""
    return holds_pictures(folder)


def _has_any_file(folder: Path) -> bool:
    return any(names for _, _, names in os.walk(folder, followlinks=True))


def is_image_source(source: str | None) -> bool:
    """Whether SOURCE means pictures (read by ``load_images``) rather than MNIST data (``load_mnist``).

    Pictures: a name ending in an image suffix (a file, a glob such as ``scans/*.png``, a URL),
    or a local folder holding image files at any depth (``<label>/`` folders included) or no
    file at all (``load_images`` then says that it found none). A folder of IDX files, JSON
    and Parquet files are MNIST data.
    """
    if source is None:
        return False
    if source.lower().endswith(IMAGE_SUFFIXES):
        return True
    if is_remote(source):
        return False
    folder = Path(source.removeprefix("file://")).expanduser()
    return folder.is_dir() and (_has_image_file(folder) or not _has_any_file(folder))


def check_source(source: str | None, what: str, command: str, *, pictures: bool) -> None:
    """A SOURCE that does not exist, or pictures given to a command that reads MNIST data only.

    Found before any work, and said as such: not "MNIST source not found ... IDX files" for a
    folder name with a typo, nor "no test IDX files" for a folder of pictures.

    Raises:
        DataError: A local SOURCE (not a glob) that does not exist, or pictures where
            ``pictures`` is false (``train``, ``convert``): missing or wrong data, exit status 1.
    """
    if source is None or is_remote(source):
        return
    path = Path(source.removeprefix("file://")).expanduser()
    glob_like = any(c in source for c in "*?[")
    if not glob_like and not os.path.lexists(path):
        raise DataError(f"{what} {display_path(source)!r} does not exist (no such file or folder)")
    if not pictures and (source.lower().endswith(IMAGE_SUFFIXES) or (path.is_dir() and _has_image_file(path))):
        kind = "a folder of pictures" if path.is_dir() else "pictures"
        raise DataError(
            f"{command} reads MNIST data, not pictures: {what} {display_path(source)!r} is {kind}; {command} accepts "
            "a .json[l][.gz] or .parquet file, an IDX file or folder, or a URL (pictures of digits are read by "
            "'daft-mnist evaluate' and 'daft-mnist classify')"
        )


def local_files(source: str | None) -> list[Path]:
    """The local files a source argument reads (an IDX folder's files, an image folder's pictures
    at any depth, a local glob's matches); none for a URL."""
    if source is None or is_remote(source):
        return []
    p = Path(source.removeprefix("file://")).expanduser()
    if p.is_dir():
        if is_image_source(source):
            try:
                return [Path(f) for f in walk_files(p)]
            except DataError:  # a link loop: load_images names it, after the checks
                return [Path(root, name) for root, _, names in os.walk(p) for name in names]
        return [f for f in p.iterdir() if f.is_file()]
    if not p.exists() and any(c in str(p) for c in "*?["):
        return [Path(f) for f in glob.glob(str(p), recursive=True)]
    return [p]


def input_paths(args: argparse.Namespace) -> list[Path]:
    """Every local file the command reads: its sources (the default ones too) and its weights."""
    from daft_mnist.io import default_source

    if args.command == "train":
        sources = [args.source or default_source("train"), args.test or default_source("test")]
    else:
        sources = [args.source or default_source(args.split)]
    weights = getattr(args, "weights", None)
    return [f for src in [*sources, weights] for f in local_files(src)]


def writable(
    path: str,
    what: str,
    suffixes: Sequence[str] | None,
    *,
    inputs: Sequence[Path] = (),
    taken: dict[str, Path] | None = None,
    sources: Sequence[str | None] = (),
    overwrite: bool = False,
) -> Path:
    """Check before the long work that ``path`` can be written; the one rule of every command that writes.

    Its suffix is known, its folder exists and can be written (a file is created and removed
    there), it is not a directory, it does not exist unless ``overwrite`` (``--overwrite``), it
    is not one of the command's ``inputs`` (same path once resolved, through symlinks, or the
    same file through a hard link), not a file a picture SOURCE of ``sources`` would read on
    the next run (a picture written inside the picture folder), and not another output of the
    command (``taken``, which it joins).
    """
    p = Path(path).expanduser()
    shown = display_path(path)
    if p.is_dir():
        raise UsageError(f"{what} {shown!r} is a directory; expected a file path")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"{what} must end with one of {', '.join(suffixes)}; got {shown!r}")
    if not p.parent.is_dir():
        raise UsageError(f"{what} {shown!r}: folder {display_path(str(p.parent))!r} does not exist")
    for source in inputs:
        if same_file(p, source):
            raise UsageError(
                f"{what} {shown!r} is an input of this command ({display_path(str(source))}); "
                "refusing to write over it: choose another output path"
            )
    for picture_source in sources:
        if picture_source is not None and reads_as_picture(picture_source, p):
            raise UsageError(
                f"{what} {shown!r} is inside the pictures SOURCE {display_path(picture_source)!r}: the next run "
                "would read it as a picture; write it outside that folder"
            )
    if taken is not None:
        for other, q in taken.items():
            if same_file(p, q):
                raise UsageError(f"{what} {shown!r} is also given as {other}; expected a different path for each")
        taken[what] = p
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise UsageError(f"{what} {shown!r} already exists; pass --overwrite to replace it")
    _check_folder_writable(p.parent, what, shown)
    return p


def _check_folder_writable(folder: Path, what: str, shown: str) -> None:
    """Create and remove a file in ``folder``: permissions, read-only file systems, ACLs all tell."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".daft-mnist-write-check.", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"{what} {shown!r}: folder {display_path(str(folder))!r} cannot be written ({reason}); "
            "choose a folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(probe)


def reads_as_picture(source: str, path: Path) -> bool:
    """Whether the pictures SOURCE (a local folder or glob) would read ``path`` as a picture."""
    if is_remote(source) or not is_image_source(source) or not path.name.lower().endswith(IMAGE_SUFFIXES):
        return False
    if path.name.startswith("."):
        return False
    src = Path(source.removeprefix("file://")).expanduser()
    target = Path(os.path.realpath(path.parent)) / path.name
    if src.is_dir():
        return target.is_relative_to(os.path.realpath(src))
    if any(c in str(src) for c in "*?["):
        return fnmatch.fnmatchcase(str(target), os.path.join(os.path.realpath(src.parent), src.name)) or (
            fnmatch.fnmatchcase(str(path.absolute()), str(src.absolute()))
        )
    return False


def add_overwrite(p: argparse.ArgumentParser, outputs: str) -> None:
    """The one rule of every command that writes: an existing output is replaced only when asked."""
    p.add_argument(
        "--overwrite", action="store_true", help=f"replace {outputs} if they exist (never an input); default: refuse"
    )


def check_device(device: str) -> None:
    """An unknown or unavailable ``--device`` is a bad command line, found before any work."""
    from daft_mnist.model.checkpoint import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None


def check_weights(args: argparse.Namespace) -> None:
    """Load the weights once before reading any data: missing, corrupt, foreign or non-finite weights fail first."""
    from daft_mnist.model.checkpoint import load_checkpoint
    from daft_mnist.model.weights import resolve_weights

    load_checkpoint(resolve_weights(args.weights, sha256=args.sha256))
