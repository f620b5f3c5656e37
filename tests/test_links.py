"""Symbolic links in picture folders: read where they sit (the link's label and path, never its
target's), a linked ``<label>/`` folder followed, a dangling link or a loop named as a
``DataError``, or under ``on_error="null"`` a row with its reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from daft_mnist.data._image_files import holds_pictures
from daft_mnist.errors import DataError
from daft_mnist.io import load_images


def _picture(path: Path, value: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page = np.full((40, 40), 240, np.uint8)
    page[8:32, 18:22] = value
    Image.fromarray(page).save(path)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """digits/1/a.png; elsewhere/threes/{b,c}.png (outside the folder walked)."""
    _picture(tmp_path / "digits" / "1" / "a.png")
    _picture(tmp_path / "elsewhere" / "threes" / "b.png")
    _picture(tmp_path / "elsewhere" / "threes" / "c.png")
    return tmp_path


def test_a_label_folder_that_is_a_link_is_followed(tree: Path) -> None:
    (tree / "digits" / "3").symlink_to(tree / "elsewhere" / "threes", target_is_directory=True)
    rows = load_images(tree / "digits").select("path", "label").to_pydict()
    got = dict(zip((os.path.relpath(p, tree) for p in rows["path"]), rows["label"], strict=True))
    assert got == {"digits/1/a.png": 1, "digits/3/b.png": 3, "digits/3/c.png": 3}
    assert holds_pictures(tree / "digits")


def test_a_linked_file_keeps_the_label_and_path_of_where_it_sits(tree: Path) -> None:
    (tree / "digits" / "7").mkdir()
    (tree / "digits" / "7" / "seven.png").symlink_to(tree / "digits" / "1" / "a.png")
    rows = load_images(tree / "digits").select("path", "label").to_pydict()
    got = dict(zip((os.path.relpath(p, tree) for p in rows["path"]), rows["label"], strict=True))
    assert got == {"digits/1/a.png": 1, "digits/7/seven.png": 7}, "the link's folder, not its target's"


def test_a_folder_link_to_its_own_parent_is_a_loop_named_as_such(tree: Path) -> None:
    (tree / "digits" / "1" / "again").symlink_to(tree / "digits", target_is_directory=True)
    for on_error in ("raise", "null"):
        with pytest.raises(DataError, match=r"digits/1/again: a symbolic link loop \(it points to"):
            load_images(tree / "digits", on_error=on_error)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_broken_linked_picture_is_named_or_a_null_row_with_its_reason(tree: Path, kind: str) -> None:
    link = tree / "digits" / "1" / "broken.png"
    if kind == "dangling":
        link.symlink_to(tree / "gone.png")
        why = "a symbolic link to"
    else:
        link.symlink_to(link)
        why = "a symbolic link loop"
    with pytest.raises(DataError, match=f"broken.png: {why}"):
        load_images(tree / "digits")
    rows = load_images(tree / "digits", on_error="null").to_pydict()
    reasons = dict(zip((Path(p).name for p in rows["path"]), rows["load_error"], strict=True))
    assert reasons["a.png"] is None
    assert reasons["broken.png"].startswith(why)
    assert rows["image"][[Path(p).name for p in rows["path"]].index("broken.png")] is None


def test_a_label_folder_that_is_a_dangling_link_is_named(tree: Path) -> None:
    (tree / "digits" / "5").symlink_to(tree / "nowhere", target_is_directory=True)
    for on_error in ("raise", "null"):
        with pytest.raises(DataError, match="digits/5: a symbolic link to"):
            load_images(tree / "digits", on_error=on_error)  # type: ignore[arg-type]


def test_the_cli_reads_a_folder_of_linked_label_folders(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from daft_mnist.cli import main

    only_links = tree / "linked"
    only_links.mkdir()
    (only_links / "3").symlink_to(tree / "elsewhere" / "threes", target_is_directory=True)
    out = tree / "p.csv"
    assert main(["classify", str(only_links), "-o", str(out)]) == 0, capsys.readouterr().err
    assert "wrote 2 predictions" in capsys.readouterr().out
