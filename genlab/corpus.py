"""Course step 1: the text corpus (텍스트 코퍼스).

A corpus is a file, a folder, a glob of files, or a built-in text that needs no download
(``builtin:pydoc``: the English prose of Python's own documentation). It is read as a stream of
*documents* — one per file, per line or per paragraph (``unit``) — with newlines normalised to
``\\n``. Everything is validated while streaming, so a 1 GB corpus never sits in memory and a bad
byte is reported with its file and offset.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genlab.errors import GenlabError

UNITS = ("file", "line", "paragraph")
SPLITS = ("train", "val", "test")
CHUNK_BYTES = 1 << 22  # 4 MiB: the streaming unit, and so the bound on memory per file
BUILTINS = ("pydoc",)
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\n)+")  # a newline, then one or more blank lines


def _builtin_texts(name: str) -> list[tuple[str, str]]:
    """(name, text) pairs for a built-in corpus; only texts that ship with our dependencies."""
    if name == "pydoc":
        from pydoc_data.topics import topics

        return [(f"builtin:pydoc/{key}", topics[key]) for key in sorted(topics)]
    raise GenlabError(f"unknown built-in corpus 'builtin:{name}'; available: "
                      + ", ".join(f"builtin:{b}" for b in BUILTINS))


def resolve_files(spec: str) -> list[Path]:
    """Expand a file, folder (recursively, sorted, hidden files and folders skipped) or glob into files."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise GenlabError(f"corpus folder {spec} contains no files; add .txt files or pass a file")
        return files
    if any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise GenlabError(f"corpus pattern {spec} matches no files; check the pattern")
        return files
    raise GenlabError(f"corpus {spec} not found: pass a text file, a folder, a glob, or builtin:pydoc")


def iter_text_chunks(path: Path, encoding_errors: str = "strict",
                     on_raw: Callable[[bytes], None] | None = None) -> Iterator[str]:
    """Yield decoded text of ``path`` chunk by chunk, newlines normalised, validating as it goes.

    NUL bytes mean a binary file; invalid UTF-8 is reported with its byte offset unless
    ``encoding_errors='replace'`` (then U+FFFD is substituted, as the user asked). A character split
    across two chunks is decoded whole (the incremental decoder keeps its first bytes).
    ``on_raw`` sees every raw chunk as read (to fingerprint the file or show progress).
    """
    if encoding_errors not in ("strict", "replace"):
        raise GenlabError("--encoding-errors must be 'strict' or 'replace'")
    decoder = codecs.getincrementaldecoder("utf-8")(errors=encoding_errors)
    offset = 0  # file offset of the first byte of ``raw``
    pending_cr = False
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise GenlabError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fh:
        first = True
        while True:
            try:
                raw = fh.read(CHUNK_BYTES)
            except OSError as exc:
                raise GenlabError(f"cannot read {path}: {exc.strerror or exc}") from exc
            final = not raw
            if on_raw is not None and raw:
                on_raw(raw)
            if raw and b"\x00" in raw:
                at = offset + raw.index(b"\x00")
                raise GenlabError(f"{path} looks binary (NUL byte at offset {at}); pass UTF-8 text files only")
            buffered = len(decoder.getstate()[0])  # bytes of an unfinished character from the last chunk
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as exc:
                at = offset - buffered + exc.start
                raise GenlabError(
                    f"{path} is not valid UTF-8 (byte offset {at}); convert it to UTF-8 "
                    "or pass --encoding-errors replace"
                ) from exc
            offset += len(raw)
            if first and text:  # a byte-order mark is not text
                first = False
                if text[0] == "\ufeff":
                    text = text[1:]
            if pending_cr:
                text = "\r" + text
                pending_cr = False
            if "\r" in text:
                if text.endswith("\r") and not final:  # a "\r\n" may straddle two chunks
                    text, pending_cr = text[:-1], True
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text
            if final:
                return


def _split_units(chunks: Iterator[str], unit: str) -> Iterator[list[str]]:
    """Turn a stream of text chunks into lists of documents of the given unit (blank ones are dropped).

    Lists, not single documents, so that callers handle a chunk's thousands of lines with a few
    C-level calls instead of a Python step per line. Only an unfinished line or paragraph is carried
    from one chunk to the next, so memory stays O(chunk) whatever the corpus size.
    """
    if unit == "file":
        text = "".join(chunks)
        if text and not text.isspace():
            yield [text]
        return
    pending = ""
    for chunk in chunks:
        text = pending + chunk if pending else chunk
        if unit == "line":
            parts = text.split("\n")
            pending = parts.pop()
        else:
            # A break at the very end could grow with the next chunk: only split up to the last
            # non-blank character, where every break is complete.
            end = len(text.rstrip(" \t\n"))
            parts = _PARAGRAPH_BREAK.split(text[:end])
            pending = parts.pop() + text[end:]
        docs = _keep(parts, unit)
        if docs:
            yield docs
    docs = _keep([pending] if unit == "line" else _PARAGRAPH_BREAK.split(pending), unit)
    if docs:
        yield docs


def _keep(parts: list[str], unit: str) -> list[str]:
    docs = list(filter(None, parts))  # C-level passes first: blank documents are rare
    if any(map(str.isspace, docs)):
        docs = [p for p in docs if not p.isspace()]
    return docs if unit == "line" else [p.strip("\n") for p in docs]


@dataclass
class CorpusStats:
    documents: int = 0
    characters: int = 0
    #: bytes read from the files (or the UTF-8 size of a built-in text), as stored on disk
    bytes: int = 0
    fingerprint: str = ""
    files: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    """A lazily read corpus: ``documents()`` streams it; ``scan()`` validates and counts it."""

    spec: str
    unit: str = "file"
    encoding_errors: str = "strict"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise GenlabError(f"unknown --unit {self.unit!r}; choose one of {', '.join(UNITS)}")
        if self.encoding_errors not in ("strict", "replace"):
            raise GenlabError("--encoding-errors must be 'strict' or 'replace'")
        if self.spec.startswith("builtin:"):
            self._builtin = _builtin_texts(self.spec.split(":", 1)[1])
            self._files: list[Path] = []
        else:
            self._builtin = []
            self._files = resolve_files(self.spec)

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self._builtin] or [str(p) for p in self._files]

    def _sources(self, on_raw: Callable[[bytes], None] | None = None) -> Iterator[Iterator[str]]:
        """Each file's (or built-in text's) decoded chunks, in corpus order."""
        for _, text in self._builtin:
            if on_raw is not None:
                on_raw(text.encode("utf-8", "surrogatepass"))
            yield iter([text.replace("\r\n", "\n").replace("\r", "\n")])
        for path in self._files:
            yield iter_text_chunks(path, self.encoding_errors, on_raw)

    def document_batches(self, on_raw: Callable[[bytes], None] | None = None) -> Iterator[list[str]]:
        """Every document in a fixed order (files sorted, then position in file), a chunk's worth at a time.

        ``on_raw`` sees the raw bytes as they are read (see :func:`iter_text_chunks`).
        """
        for chunks in self._sources(on_raw):
            yield from _split_units(chunks, self.unit)

    def documents(self) -> Iterator[str]:
        """Every document in a fixed order (files sorted, then position in file)."""
        for batch in self.document_batches():
            yield from batch

    def scan(self, progress: bool = False) -> CorpusStats:
        """Read everything once: validate, count documents and characters, fingerprint the content."""
        stats = CorpusStats(files=self.names)
        digest = hashlib.sha256(f"genlab-corpus\0{self.unit}\0{self.encoding_errors}\0".encode())
        total = sum(p.stat().st_size for p in self._files) or None
        bar = _progress(progress, "scan corpus", total)

        def seen(raw: bytes) -> None:
            digest.update(raw)
            stats.bytes += len(raw)
            bar.update(len(raw))

        try:
            for chunks in self._sources(seen):
                digest.update(b"\0genlab-file\0")  # file boundaries matter (one document per file)
                for batch in _split_units(chunks, self.unit):
                    stats.documents += len(batch)
                    stats.characters += sum(map(len, batch))
        except BaseException:
            bar.leave = False  # an error message follows: clear the bar's line for it
            raise
        finally:
            bar.close()
        if stats.documents == 0:
            raise GenlabError(f"corpus {self.spec} is empty (no non-blank {self.unit}s); add text to it")
        stats.fingerprint = digest.hexdigest()
        return stats


def _progress(enabled: bool, desc: str, total: int | None = None):
    """A bytes progress bar (MB/s, ETA) on a terminal; nothing when disabled or when stderr is a log."""
    from tqdm.auto import tqdm

    return tqdm(desc=desc, total=total, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None if enabled else True, dynamic_ncols=True, mininterval=0.5)


def parse_ratios(text: str) -> tuple[float, float, float]:
    """Parse ``"0.9,0.05,0.05"`` into train/val/test ratios that sum to 1."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 0 for p in parts) or parts[0] <= 0 or abs(sum(parts) - 1) > 1e-6:
        raise GenlabError(f"--split {text!r} must be three non-negative ratios train,val,test summing to 1, "
                          "e.g. 0.9,0.05,0.05")
    return parts[0], parts[1], parts[2]


def assign_splits(n_documents: int, ratios: tuple[float, float, float], seed: int,
                  shuffle: bool = True) -> np.ndarray:
    """Deterministically assign each document index to 0 (train), 1 (val) or 2 (test).

    Every split with a positive ratio gets at least one document; the rest follow the ratios.
    ``shuffle=False`` keeps corpus order (first documents train, then val, then test).
    """
    wanted = [i for i, r in enumerate(ratios) if r > 0]
    if n_documents < len(wanted):
        raise GenlabError(
            f"corpus too small to split: {n_documents} document(s) for {len(wanted)} non-empty splits; "
            "add text, use --unit line/paragraph, or change --split"
        )
    counts = [0, 0, 0]
    for i in (1, 2):
        if ratios[i] > 0:
            counts[i] = max(1, int(round(ratios[i] * n_documents)))
    counts[0] = n_documents - counts[1] - counts[2]
    if counts[0] < 1:
        raise GenlabError(f"corpus too small to split: {n_documents} documents leave none for training")
    labels = np.repeat(np.arange(3, dtype=np.uint8), counts)
    if shuffle:
        rng = np.random.default_rng(seed)
        labels = labels[rng.permutation(n_documents)]
    return labels


def split_by_position(text: str, ratios: tuple[float, float, float]) -> tuple[list[str], list[int]]:
    """Cut one document into train, val and test pieces, in order, at line boundaries.

    What nanoGPT and char-rnn do with their single ``input.txt``: the first ~90 % of the characters
    train, the next ~5 % validate, the last ~5 % test. Each cut moves forward to the end of a line, and
    every split with a positive ratio keeps at least one non-blank line. Returns the three pieces (an
    empty string for a split whose ratio is 0) and how many lines each holds.
    """
    lines = text.splitlines(keepends=True)
    wanted = [r > 0 for r in ratios]
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    if len(nonblank) < sum(wanted):
        raise GenlabError(
            f"corpus too small to split: one document of {len(nonblank)} non-blank line(s) cannot make "
            f"{sum(wanted)} non-empty splits by position; add text, or change --split (e.g. 1,0,0)")
    ends = np.cumsum([len(line) for line in lines])  # character offset after each line
    cuts = []  # how many non-blank lines go before each cut
    low = 0
    for k in (0, 1):
        target = round(sum(ratios[:k + 1]) * len(text))  # round: 0.9 + 0.05 is 0.9500000000000001
        line = int(np.searchsorted(ends, target))  # the line in which the target offset falls
        taken = int(np.searchsorted(nonblank, line, side="right"))  # non-blank lines up to and including it
        need_before = low + int(wanted[k])
        need_after = sum(wanted[k + 1:])
        taken = min(max(taken, need_before), len(nonblank) - need_after)
        cuts.append(taken)
        low = taken
    # a cut falls right after the last non-blank line of the piece before it (blank lines go with the next)
    at = [0] + [nonblank[c - 1] + 1 if c > 0 else 0 for c in cuts] + [len(lines)]
    pieces = ["".join(lines[at[i]:at[i + 1]]) for i in range(3)]
    return pieces, [at[i + 1] - at[i] for i in range(3)]


class PositionalSplit:
    """A one-document corpus read as its train, val and test pieces (see :func:`split_by_position`).

    It stands in for the :class:`Corpus` when ``prepare`` splits: the pieces are its documents, in
    split order, and ``labels`` says which split each belongs to.
    """

    def __init__(self, corpus: Corpus, ratios: tuple[float, float, float]) -> None:
        self.corpus = corpus
        self.spec = corpus.spec
        self.ratios = ratios
        self.labels = np.array([i for i, r in enumerate(ratios) if r > 0], dtype=np.uint8)
        self.lines: list[int] = []

    def document_batches(self, on_raw: Callable[[bytes], None] | None = None) -> Iterator[list[str]]:
        docs = [doc for batch in self.corpus.document_batches(on_raw) for doc in batch]
        if len(docs) != 1:
            raise GenlabError(f"corpus {self.spec} changed while it was being prepared; run prepare again")
        pieces, self.lines = split_by_position(docs[0], self.ratios)
        yield [piece for piece, r in zip(pieces, self.ratios) if r > 0]
