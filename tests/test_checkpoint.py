"""``genlab.checkpoint.atomic_write``: write then rename, and every failure one clear error."""

from __future__ import annotations

import errno
import os

import pytest

from genlab.checkpoint import atomic_write, write_text
from genlab.errors import GenlabError


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "sub" / "a.txt"
    write_text(out, "one")
    write_text(out, "두")
    assert out.read_text(encoding="utf-8") == "두" and [p.name for p in out.parent.iterdir()] == ["a.txt"]


def test_a_folder_that_cannot_hold_the_file_is_a_genlab_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    said = r"could not write .*: .*file is a file, not a folder; choose another --out$"
    with pytest.raises(GenlabError, match=said):  # its parent is a file
        write_text(blocker / "out.tsv", "y")
    with pytest.raises(GenlabError, match=said):  # its grandparent is a file
        write_text(blocker / "deeper" / "out.tsv", "y")
    assert blocker.read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize(("code", "advice"), [(errno.ENOSPC, "free some disk space"),
                                              (errno.EACCES, "that you may write there")])
def test_a_failed_write_keeps_the_old_file_and_gives_advice_that_fits(tmp_path, code, advice):
    out = tmp_path / "a.txt"
    write_text(out, "old")

    def fail(tmp):
        tmp.write_text("half", encoding="utf-8")
        raise OSError(code, os.strerror(code))

    with pytest.raises(GenlabError, match=rf"{os.strerror(code)}; the previous file \(if any\) is intact — .*{advice}"):
        atomic_write(out, fail)
    assert out.read_text(encoding="utf-8") == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("text", ["null", "[1, 2]", '{"model": 5}', '{"model": {"family": 3}}', '{"train": "x"}'])
def test_a_config_of_the_wrong_shape_is_one_clear_error(tmp_path, text):
    from genlab.checkpoint import read_config

    (tmp_path / "config.json").write_text(text, encoding="utf-8")
    with pytest.raises(GenlabError, match=r"config.json is corrupted \(not a genlab run's config"):
        read_config(tmp_path)


def test_what_a_damaged_config_makes_a_constructor_raise_names_the_file(tmp_path):
    from genlab.checkpoint import config_errors

    damaged = pytest.raises(GenlabError, match=r"config.json does not describe a model genlab can build \(KeyError")
    with damaged, config_errors(tmp_path):
        {}["labels"]
    with config_errors(tmp_path):  # anything else passes through
        pass
