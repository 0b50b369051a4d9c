"""Label files: TSV and NSMC layouts, and line-numbered errors for bad files."""

from __future__ import annotations

import pytest

from genlab.classify.data import load_labelled
from genlab.errors import GenlabError


def test_tsv_and_nsmc(tmp_path) -> None:
    tsv = tmp_path / "a.tsv"
    tsv.write_text("pos\t좋다\tvery\nneg\t싫다\n\n", encoding="utf-8")
    data = load_labelled(tsv)
    assert data.texts == ["좋다\tvery", "싫다"] and data.labels == ["pos", "neg"] and data.classes() == ["neg", "pos"]
    nsmc = tmp_path / "n.txt"
    nsmc.write_text("id\tdocument\tlabel\n1\t재밌다\t1\n2\t\t0\n3\t별로\t0\n", encoding="utf-8")
    data = load_labelled(nsmc)
    assert data.texts == ["재밌다", "별로"] and data.labels == ["1", "0"] and data.skipped == 1


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"pos\tgood\nno tab here\n", r":2: expected `label<TAB>text`"),
    (b"pos\tgood\n\tbad\n", r":2: the label is empty"),
    (b"pos\tgood\nneg\t\xff\xfe\n", r":2: invalid UTF-8"),
    (b"pos\tgood\n\x00\x01", r":2: a NUL byte"),
    (b"id\tdocument\tlabel\n1\tgood\t1\n2\tbad\n", r":3: expected 3 tab-separated fields"),
    (b"pos\tgood\npos\tfine\n", "only the label"),
])
def test_bad_files(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(GenlabError, match=message):
        load_labelled(path)
    with pytest.raises(GenlabError, match="not found"):
        load_labelled(tmp_path / "missing.tsv")
