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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genlab.errors import GenlabError

UNITS = ("file", "line", "paragraph")
SPLITS = ("train", "val", "test")
CHUNK_BYTES = 1 << 22  # 4 MiB: the streaming unit, and so the bound on memory per file
BUILTINS = ("pydoc",)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


def _builtin_texts(name: str) -> list[tuple[str, str]]:
    """(name, text) pairs for a built-in corpus; only texts that ship with our dependencies."""
    if name == "pydoc":
        from pydoc_data.topics import topics

        return [(f"builtin:pydoc/{key}", topics[key]) for key in sorted(topics)]
    raise GenlabError(f"unknown built-in corpus 'builtin:{name}'; available: "
                      + ", ".join(f"builtin:{b}" for b in BUILTINS))


def resolve_files(spec: str) -> list[Path]:
    """Expand a file, folder (recursively, sorted) or glob into a sorted list of files."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise GenlabError(f"corpus folder {spec} contains no files; add .txt files or pass a file")
        return files
    if any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise GenlabError(f"corpus pattern {spec} matches no files; check the pattern")
        return files
    raise GenlabError(f"corpus {spec} not found: pass a text file, a folder, a glob, or builtin:pydoc")


def iter_text_chunks(path: Path, encoding_errors: str = "strict") -> Iterator[str]:
    """Yield decoded text of ``path`` chunk by chunk, newlines normalised, validating as it goes.

    NUL bytes mean a binary file; invalid UTF-8 is reported with its byte offset unless
    ``encoding_errors='replace'`` (then U+FFFD is substituted, as the user asked).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    fallback = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = 0
    pending_cr = False
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise GenlabError(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        first = True
        while True:
            raw = fh.read(CHUNK_BYTES)
            final = not raw
            if raw and b"\x00" in raw:
                at = offset + raw.index(b"\x00")
                raise GenlabError(f"{path} looks binary (NUL byte at offset {at}); pass UTF-8 text files only")
            if first and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
                offset += len(codecs.BOM_UTF8)
            first = False
            buffered = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as exc:
                if encoding_errors != "replace":
                    at = offset - buffered + exc.start
                    raise GenlabError(
                        f"{path} is not valid UTF-8 (byte offset {at}); convert it to UTF-8 "
                        "or pass --encoding-errors replace"
                    ) from exc
                text = fallback.decode(raw, final=final)
                decoder = fallback
            offset += len(raw)
            if pending_cr:
                text = "\r" + text
                pending_cr = False
            if text.endswith("\r") and not final:
                text, pending_cr = text[:-1], True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text
            if final:
                return


def _split_units(chunks: Iterator[str], unit: str) -> Iterator[str]:
    """Turn a stream of text chunks into documents of the given unit (empty ones are dropped)."""
    if unit == "file":
        text = "".join(chunks)
        if text.strip():
            yield text
        return
    separator = "\n" if unit == "line" else None
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        parts = buffer.split("\n") if separator else _PARAGRAPH_BREAK.split(buffer)
        buffer = parts.pop()
        for part in parts:
            if part.strip():
                yield part if separator else part.strip("\n")
    if buffer.strip():
        yield buffer if separator else buffer.strip("\n")


@dataclass
class CorpusStats:
    documents: int = 0
    characters: int = 0
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

    def documents(self) -> Iterator[str]:
        """Every document in a fixed order (files sorted, then position in file)."""
        if self._builtin:
            for _, text in self._builtin:
                yield from _split_units(iter([text]), self.unit)
            return
        for path in self._files:
            yield from _split_units(iter_text_chunks(path, self.encoding_errors), self.unit)

    def scan(self, progress: bool = False) -> CorpusStats:
        """Read everything once: validate, count documents/characters/bytes, fingerprint content."""
        stats = CorpusStats(files=self.names)
        digest = hashlib.sha256(f"{self.unit}\0".encode())
        bar = _progress(progress, "scan corpus")
        for doc in self.documents():
            data = doc.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
            stats.documents += 1
            stats.characters += len(doc)
            stats.bytes += len(data)
            bar.update(len(data))
        bar.close()
        if stats.documents == 0:
            raise GenlabError(f"corpus {self.spec} is empty (no non-blank {self.unit}s); add text to it")
        stats.fingerprint = digest.hexdigest()
        return stats


def _progress(enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled,
                dynamic_ncols=True, mininterval=0.5)


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
