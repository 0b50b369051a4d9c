"""``genlab.checkpoint.atomic_write``: write then rename, and every failure one clear error."""

from __future__ import annotations

import pytest

from genlab.checkpoint import write_text
from genlab.errors import GenlabError


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "sub" / "a.txt"
    write_text(out, "one")
    write_text(out, "두")
    assert out.read_text(encoding="utf-8") == "두" and [p.name for p in out.parent.iterdir()] == ["a.txt"]


def test_a_folder_that_cannot_hold_the_file_is_a_genlab_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(GenlabError, match=r"could not write .*file/out.tsv"):  # its parent is a file
        write_text(blocker / "out.tsv", "y")
    with pytest.raises(GenlabError, match="could not write"):  # its grandparent is a file
        write_text(blocker / "deeper" / "out.tsv", "y")
    assert blocker.read_text(encoding="utf-8") == "x"
