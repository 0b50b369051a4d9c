"""Course step 1: reading, validating and splitting a corpus (genlab.corpus)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab import corpus as corpus_mod
from genlab.corpus import (
    Corpus,
    assign_splits,
    iter_text_chunks,
    parse_ratios,
    resolve_files,
    split_by_position,
)
from genlab.errors import GenlabError

KOREAN = "생성형 인공지능은 새로운 텍스트를 만든다."


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Read files a few bytes at a time, so every boundary case (CRLF, multi-byte characters) is crossed."""
    def set_size(n: int) -> None:
        monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", n)
    return set_size


# ----------------------------------------------------------------------------- files

def test_resolve_files_file_folder_glob(tmp_path):
    a = _write(tmp_path / "d" / "b.txt", "b")
    b = _write(tmp_path / "d" / "a.txt", "a")
    c = _write(tmp_path / "d" / "sub" / "c.txt", "c")
    _write(tmp_path / "d" / ".hidden.txt", "h")
    _write(tmp_path / "d" / ".git" / "objects" / "x", b"\x00binary")
    assert resolve_files(str(a)) == [a]
    assert resolve_files(str(tmp_path / "d")) == [b, a, c]  # sorted, hidden files and folders skipped
    assert resolve_files(str(tmp_path / "d" / "*.txt")) == [b, a]


def test_resolve_files_errors(tmp_path):
    with pytest.raises(GenlabError, match="not found"):
        resolve_files(str(tmp_path / "missing.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenlabError, match="contains no files"):
        resolve_files(str(tmp_path / "empty"))
    with pytest.raises(GenlabError, match="matches no files"):
        resolve_files(str(tmp_path / "*.nothing"))


# ----------------------------------------------------------------------------- decoding

@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 22])
def test_chunks_normalise_newlines_and_keep_characters_whole(tmp_path, tiny_chunks, chunk):
    tiny_chunks(chunk)
    text = "a\r\nb\rc\n" + KOREAN + "\r\n😀 é\r"
    path = _write(tmp_path / "t.txt", b"\xef\xbb\xbf" + text.encode())
    got = "".join(iter_text_chunks(path))
    assert got == text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("chunk", [1, 2, 4, 7, 1 << 22])
def test_invalid_utf8_reports_exact_byte_offset(tmp_path, tiny_chunks, chunk):
    tiny_chunks(chunk)
    good = ("abc " + KOREAN).encode()
    path = _write(tmp_path / "bad.txt", good + b"\xff tail")
    with pytest.raises(GenlabError, match=rf"bad\.txt is not valid UTF-8 \(byte offset {len(good)}\)"):
        list(iter_text_chunks(path))


def test_invalid_utf8_offsets_count_the_bom_and_truncated_endings(tmp_path):
    bom = b"\xef\xbb\xbf"
    path = _write(tmp_path / "b.txt", bom + b"ok\xc3(")  # a lead byte followed by a non-continuation
    with pytest.raises(GenlabError, match=r"byte offset 5\)"):
        list(iter_text_chunks(path))
    path = _write(tmp_path / "t.txt", "끝".encode()[:2])  # a character cut off at end of file
    with pytest.raises(GenlabError, match=r"byte offset 0\)"):
        list(iter_text_chunks(path))


@pytest.mark.parametrize("chunk", [1, 3, 1 << 22])
def test_encoding_errors_replace_substitutes_only_the_bad_bytes(tmp_path, tiny_chunks, chunk):
    tiny_chunks(chunk)
    path = _write(tmp_path / "bad.txt", "가".encode() + b"\xff" + "나".encode() + b"\xe3\x81")
    assert "".join(iter_text_chunks(path, "replace")) == "가\ufffd나\ufffd"


def test_binary_file_is_refused_with_offset(tmp_path):
    path = _write(tmp_path / "img.bin", b"GIF89a\x00\x01")
    with pytest.raises(GenlabError, match=r"looks binary \(NUL byte at offset 6\)"):
        list(iter_text_chunks(path))


# ----------------------------------------------------------------------------- units

def _reference_units(text: str, unit: str) -> list[str]:
    """What splitting the whole text at once gives (the chunked reader must agree)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if unit == "file":
        return [text] if text.strip() else []
    if unit == "line":
        return [p for p in text.split("\n") if p.strip()]
    return [p.strip("\n") for p in re.split(r"\n(?:[ \t]*\n)+", text) if p.strip()]


SAMPLE = ("first line\nsecond line\n\n\n  \nthird para " + KOREAN + "\n \t \nfourth\r\n\r\nfifth\n\n"
          "sixth 😀\n   \n\n")


@pytest.mark.parametrize("unit", ["file", "line", "paragraph"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 13, 1 << 22])
def test_units_do_not_depend_on_chunk_size(tmp_path, tiny_chunks, unit, chunk):
    tiny_chunks(chunk)
    path = _write(tmp_path / "c.txt", SAMPLE)
    docs = list(Corpus(str(path), unit=unit).documents())
    assert docs == _reference_units(SAMPLE, unit)
    assert all(d.strip() for d in docs)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet="ab가😀 \t\n\r", max_size=40), chunk=st.integers(1, 9),
       unit=st.sampled_from(["file", "line", "paragraph"]))
def test_units_do_not_depend_on_chunk_size_property(text, chunk, unit):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder) / "c.txt", text)
        saved = corpus_mod.CHUNK_BYTES
        corpus_mod.CHUNK_BYTES = chunk
        try:
            docs = list(Corpus(str(path), unit=unit).documents())
        finally:
            corpus_mod.CHUNK_BYTES = saved
    assert docs == _reference_units(text, unit)


def test_paragraph_and_line_units(tmp_path):
    path = _write(tmp_path / "c.txt", "a b\nc\n\n d\n\n\n\ne\n")
    assert list(Corpus(str(path), unit="line").documents()) == ["a b", "c", " d", "e"]
    assert list(Corpus(str(path), unit="paragraph").documents()) == ["a b\nc", " d", "e"]
    assert list(Corpus(str(path), unit="file").documents()) == ["a b\nc\n\n d\n\n\n\ne\n"]


def test_document_batches_flatten_to_documents(tmp_path, tiny_chunks):
    tiny_chunks(16)
    lines = [f"line {i} {KOREAN[: i % 7]}" for i in range(200)]
    _write(tmp_path / "a.txt", "\n".join(lines[:120]))
    _write(tmp_path / "b.txt", "\n".join(lines[120:]) + "\n")
    corpus = Corpus(str(tmp_path), unit="line")
    batches = list(corpus.document_batches())
    assert len(batches) > 1
    assert [d for b in batches for d in b] == lines == list(corpus.documents())


# ----------------------------------------------------------------------------- scan

def test_scan_counts_and_fingerprint(tmp_path):
    path = _write(tmp_path / "c.txt", "ab\n" + KOREAN + "\n\n")
    stats = Corpus(str(path), unit="line").scan()
    assert stats.documents == 2
    assert stats.characters == 2 + len(KOREAN)
    assert stats.bytes == path.stat().st_size
    again = Corpus(str(path), unit="line").scan()
    assert again.fingerprint == stats.fingerprint
    assert Corpus(str(path), unit="file").scan().fingerprint != stats.fingerprint
    _write(path, "ab\n" + KOREAN + "!\n\n")
    assert Corpus(str(path), unit="line").scan().fingerprint != stats.fingerprint


def test_fingerprint_sees_file_boundaries(tmp_path):
    _write(tmp_path / "one" / "a.txt", "xy")
    _write(tmp_path / "two" / "a.txt", "x")
    _write(tmp_path / "two" / "b.txt", "y")
    assert Corpus(str(tmp_path / "one")).scan().fingerprint != Corpus(str(tmp_path / "two")).scan().fingerprint


@pytest.mark.parametrize("content", ["", "   \n\t\n", "\n\n"])
def test_empty_corpus_is_an_error(tmp_path, content):
    path = _write(tmp_path / "e.txt", content)
    with pytest.raises(GenlabError, match="is empty"):
        Corpus(str(path), unit="line").scan()


def test_builtin_pydoc_and_unknown_builtin():
    corpus = Corpus("builtin:pydoc", unit="file")
    stats = corpus.scan()
    assert stats.documents > 50 and stats.characters > 100_000
    assert all("\r" not in d for d in corpus.documents())
    with pytest.raises(GenlabError, match="unknown built-in corpus"):
        Corpus("builtin:nothing")


def test_bad_unit_and_errors_mode(tmp_path):
    path = _write(tmp_path / "c.txt", "x")
    with pytest.raises(GenlabError, match="unknown --unit"):
        Corpus(str(path), unit="word")
    with pytest.raises(GenlabError, match="encoding-errors"):
        Corpus(str(path), encoding_errors="ignore")


# ----------------------------------------------------------------------------- splits

def test_assign_splits_is_deterministic_and_proportional():
    labels = assign_splits(1000, (0.8, 0.1, 0.1), seed=7)
    assert labels.dtype == np.uint8
    assert np.bincount(labels, minlength=3).tolist() == [800, 100, 100]
    assert np.array_equal(labels, assign_splits(1000, (0.8, 0.1, 0.1), seed=7))
    assert not np.array_equal(labels, assign_splits(1000, (0.8, 0.1, 0.1), seed=8))
    ordered = assign_splits(10, (0.8, 0.1, 0.1), seed=7, shuffle=False)
    assert ordered.tolist() == [0] * 8 + [1, 2]


def test_assign_splits_small_corpora():
    assert np.bincount(assign_splits(3, (0.9, 0.05, 0.05), seed=0), minlength=3).tolist() == [1, 1, 1]
    assert np.bincount(assign_splits(1, (1.0, 0.0, 0.0), seed=0), minlength=3).tolist() == [1, 0, 0]
    with pytest.raises(GenlabError, match="too small to split"):
        assign_splits(2, (0.9, 0.05, 0.05), seed=0)


@pytest.mark.parametrize("text", ["0.9,0.1", "a,b,c", "0.5,0.5,0.5", "0,0.5,0.5", "-0.1,0.6,0.5"])
def test_parse_ratios_rejects_nonsense(text):
    with pytest.raises(GenlabError, match="--split"):
        parse_ratios(text)


def test_parse_ratios_accepts_good_values():
    assert parse_ratios("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
    assert parse_ratios("1,0,0") == (1.0, 0.0, 0.0)


# --- one document, split by position ---------------------------------------------------------------

def test_split_by_position_cuts_at_line_boundaries_in_order():
    text = "".join(f"line {i:03d}\n" for i in range(200))  # 200 lines of 9 characters
    pieces, lines = split_by_position(text, (0.9, 0.05, 0.05))
    assert "".join(pieces) == text  # nothing lost, nothing reordered
    assert lines == [180, 10, 10]
    assert all(p.endswith("\n") for p in pieces)  # every cut is at a line end
    assert pieces[1].startswith("line 180\n") and pieces[2].startswith("line 190\n")
    assert split_by_position(text, (0.9, 0.05, 0.05)) == (pieces, lines)  # deterministic


def test_split_by_position_follows_characters_not_lines():
    text = "x" * 1800 + "\n" + "short\n" * 20  # the first line holds over 90 % of the text
    pieces, lines = split_by_position(text, (0.9, 0.05, 0.05))
    assert lines[0] == 1 and pieces[0] == "x" * 1800 + "\n"
    assert all(p.strip() for p in pieces)


@given(st.lists(st.text(alphabet="ab 가\n", max_size=12), min_size=3, max_size=40),
       st.sampled_from([(0.9, 0.05, 0.05), (0.5, 0.25, 0.25), (0.98, 0.01, 0.01), (0.8, 0.2, 0.0)]))
@settings(max_examples=150, deadline=None)
def test_split_by_position_keeps_every_wanted_split_non_empty(lines, ratios):
    text = "\n".join(lines)
    nonblank = sum(1 for line in text.splitlines() if line.strip())
    wanted = sum(r > 0 for r in ratios)
    if nonblank < wanted:
        with pytest.raises(GenlabError, match="corpus too small to split"):
            split_by_position(text, ratios)
        return
    pieces, counts = split_by_position(text, ratios)
    assert "".join(pieces) == text
    for piece, r in zip(pieces, ratios):
        assert bool(piece.strip()) == (r > 0)
    assert sum(counts) == len(text.splitlines(keepends=True))


def test_split_by_position_too_short_is_a_clear_error():
    with pytest.raises(GenlabError, match=r"one document of 2 non-blank line\(s\) cannot make 3 non-empty splits"):
        split_by_position("first\n\n\nsecond\n", (0.9, 0.05, 0.05))
