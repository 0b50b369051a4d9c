"""Course step 2b: vectorization (벡터화) — a corpus becomes a memory-mapped array of token ids.

``prepare`` streams the corpus three times (validate and count; train the tokenizer on the training
documents; encode) and never holds more than a chunk of documents in memory, so a 1 GB corpus prepares
in bounded RSS. Each split is a flat binary file of uint16 (vocab ≤ 65,536) or uint32 ids: every
document's tokens followed by ``<eos>``, which marks "a document ends here" for every model.
The batching helpers cut (input, target) windows straight from the memory map.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from genlab.checkpoint import atomic_write, read_json, write_json
from genlab.corpus import SPLITS, Corpus, PositionalSplit, assign_splits
from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, Tokenizer
from genlab.tokenizers import KINDS as TOKENIZER_KINDS
from genlab.tokenizers import load as load_tokenizer
from genlab.tokenizers import train as train_tokenizer
from genlab.tokenizers.base import id_dtype

#: how much training text each tokenizer kind learns from by default (None: all of the train split).
#: Counting characters runs at the speed of reading; word counting is a Python regex; HF's BPE
#: trainer manages only ~2 MB/s on a small CPU, and a few KB of text per vocabulary entry settle
#: its merges (see ``default_sample_mb``).
DEFAULT_SAMPLE_MB: dict[str, float | None] = {"char": None, "jamo": None, "word": 64}
BPE_SAMPLE_KB_PER_TOKEN = 4
BPE_SAMPLE_MIN_MB = 8
ENGINE_CHECK_CHARS = 1 << 18  # the BPE engine is checked against HF on this much of the corpus


def dtype_for(vocab_size: int) -> np.dtype:
    """uint16 ids while the vocabulary fits (≤ 65,536), else uint32."""
    return id_dtype(vocab_size)


@dataclass
class PrepareConfig:
    corpus: str
    out: str
    tokenizer: str = "char"
    vocab_size: int | None = None
    min_frequency: int | None = None
    lowercase: bool = False
    unit: str = "file"
    split: tuple[float, float, float] = (0.9, 0.05, 0.05)
    shuffle: bool = True
    seed: int = 1337
    encoding_errors: str = "strict"
    #: MB of training text the tokenizer learns from (None: the kind's default; 0: all of it)
    tokenizer_sample_mb: float | None = None
    #: a run (or tokenizer.json) whose tokenizer to reuse — as it is for an imported GPT-2's byte-level BPE,
    #: grown by the corpus's new symbols otherwise (continued pretraining with ``genlab train --init-from``)
    tokenizer_from: str | None = None

    def validate(self) -> None:
        if self.tokenizer not in TOKENIZER_KINDS:
            raise GenlabError(f"unknown tokenizer {self.tokenizer!r}; choose one of {', '.join(TOKENIZER_KINDS)}")
        if self.lowercase and self.tokenizer != "word":
            raise GenlabError("--lowercase only applies to --tokenizer word (other kinds keep text exactly)")
        if self.tokenizer_sample_mb is not None and not self.tokenizer_sample_mb >= 0:
            raise GenlabError("--tokenizer-sample-mb must be ≥ 0 (0 = all training text)")


def default_sample_mb(cfg: PrepareConfig) -> float | None:
    """MB of training text the tokenizer learns from unless the user says otherwise (None: all)."""
    if cfg.tokenizer == "bpe":
        vocab = cfg.vocab_size or 4096
        return max(BPE_SAMPLE_MIN_MB, vocab * BPE_SAMPLE_KB_PER_TOKEN / 1024)  # 16 MB for 4,096 tokens
    return DEFAULT_SAMPLE_MB.get(cfg.tokenizer)


def _labelled_batches(corpus: Corpus, labels: np.ndarray) -> Iterator[tuple[list[str], np.ndarray]]:
    """The corpus in chunk-sized lists of documents, each with its documents' split labels."""
    changed = GenlabError(f"corpus {corpus.spec} changed while it was being prepared; run prepare again")
    at = 0
    for batch in corpus.document_batches():
        if at + len(batch) > len(labels):
            raise changed
        yield batch, labels[at:at + len(batch)]
        at += len(batch)
    if at != len(labels):
        raise changed


def _training_texts(corpus: Corpus, labels: np.ndarray, budget: int | None, train_chars: int,
                    joined: bool = False) -> Iterator[str]:
    """Training-split documents for the tokenizer: all of them, or ~``budget`` characters spread over the corpus.

    Sampling is systematic (every k-th training document, k = train_chars/budget), so the sample is
    deterministic and comes from the whole corpus, not just its first files.
    ``joined``: yield each chunk's training documents as one string (for tokenizers that only count).
    """
    rate = 1.0 if not budget or budget >= train_chars else budget / train_chars
    credit = 0.0
    for batch, lab in _labelled_batches(corpus, labels):
        train = batch if bool((lab == 0).all()) else list(compress(batch, (lab == 0).tolist()))
        if rate < 1.0:  # every (1/rate)-th document, evenly through the corpus
            picked = []
            for doc in train:
                credit += rate
                if credit >= 1.0:
                    credit -= 1.0
                    picked.append(doc)
            train = picked
        if joined:
            yield "".join(train)
        else:
            yield from train


def _holds_trained_model(out: Path) -> bool:
    """Weights or a training state: what a new tokenizer (or a grown one) in ``out`` would orphan."""
    return any((out / name).exists() for name in ("model.safetensors", "model-best.safetensors", "train_state.pt"))


def _tokenizer_of_out(cfg: PrepareConfig, out: Path) -> bool:
    """Whether ``--tokenizer-from`` names ``--out`` itself (the run, or its tokenizer.json)."""
    if not cfg.tokenizer_from:
        return False
    source = Path(cfg.tokenizer_from)
    folder = source if source.is_dir() else source.parent
    return out.exists() and folder.exists() and folder.resolve() == out.resolve()


def prepare(cfg: PrepareConfig, progress: bool = True) -> dict[str, Any]:
    """Build a run directory: ``tokenizer.json``, ``{train,val,test}.bin`` and ``meta.json``.

    Three streaming passes over the corpus: validate and count it; train the tokenizer on (a sample
    of) the training documents; encode every document into its split's file. Memory is one chunk of
    documents plus one byte per document for its split label, whatever the corpus size.
    """
    from tqdm.auto import tqdm

    cfg.validate()
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; pass a directory for the run (e.g. runs/NAME)")
    in_place = _tokenizer_of_out(cfg, out)
    if _holds_trained_model(out) and not in_place:
        raise GenlabError(f"{out} holds a trained model; preparing it again would replace the tokenizer that model "
                          f"was trained with: prepare into a new --out (and `genlab train NEW --init-from {out}` "
                          "to continue from it)")
    corpus = Corpus(cfg.corpus, unit=cfg.unit, encoding_errors=cfg.encoding_errors)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    stats = corpus.scan(progress=progress)
    positional = stats.documents == 1 and sum(r > 0 for r in cfg.split) > 1
    if positional:  # one file, as nanoGPT's input.txt: split it by position, at line boundaries
        corpus = PositionalSplit(corpus, cfg.split)
        labels = corpus.labels
        train_chars = int(stats.characters * cfg.split[0])
    else:
        labels = assign_splits(stats.documents, cfg.split, cfg.seed, shuffle=cfg.shuffle)
        train_chars = int(stats.characters * np.count_nonzero(labels == 0) / stats.documents)
    timings["scan"] = time.perf_counter() - started

    mark = time.perf_counter()
    sample_mb = default_sample_mb(cfg) if cfg.tokenizer_sample_mb is None else cfg.tokenizer_sample_mb
    # the budget is in MB of UTF-8; documents are measured in characters, so convert at the corpus's ratio
    budget = int(sample_mb * (1 << 20) * stats.characters / stats.bytes) if sample_mb else None
    if cfg.tokenizer_from:
        base = existing_tokenizer(cfg.tokenizer_from)
        missing = base.missing_symbols(_training_texts(corpus, labels, None, train_chars, False))
        if missing and in_place and _holds_trained_model(out):
            raise GenlabError(f"{len(missing)} symbol(s) of this corpus are not in {out}'s tokenizer, and growing it "
                              f"in place would break the model trained with it: prepare into a new --out with "
                              f"--tokenizer-from {cfg.tokenizer_from}, then `genlab train NEW --init-from {out}`")
        tok = base.extended(missing) if missing else base
        cfg.tokenizer = tok.kind
        if missing:
            print(f"tokenizer of {cfg.tokenizer_from} ({base.kind}, {base.vocab_size:,} ids) + {len(missing)} new "
                  "symbol(s) of this corpus", file=sys.stderr)
    else:
        joined = TOKENIZER_KINDS[cfg.tokenizer].trains_on_joined_text
        tok = train_tokenizer(cfg.tokenizer, _training_texts(corpus, labels, budget, train_chars, joined),
                              vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                              lowercase=cfg.lowercase or None, show_progress=progress and sys.stderr.isatty())
    timings["tokenizer"] = time.perf_counter() - mark

    mark = time.perf_counter()
    dtype = dtype_for(tok.vocab_size)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenlabError(f"cannot create the run directory {out}: {exc.strerror or exc}") from exc
    counts = {s: {"documents": 0, "tokens": 0, "characters": 0, "bytes": 0, "unk": 0} for s in SPLITS}
    digests = {s: hashlib.sha256() for s in SPLITS}
    tmp_paths = {s: out / f".{s}.bin.partial" for s in SPLITS}
    files: dict[str, Any] = {}
    bar = tqdm(total=stats.bytes, desc=f"prepare ({cfg.tokenizer})", unit="B", unit_scale=True,
               unit_divisor=1024, disable=None if progress else True, dynamic_ncols=True, mininterval=0.5)
    tokens_done = 0
    try:
        for s in SPLITS:
            files[s] = open(tmp_paths[s], "wb")
        verify = getattr(tok, "verify_engine", None)
        for docs, lab in _labelled_batches(corpus, labels):
            if verify is not None:  # once, on the corpus's first documents
                verify(_head(docs, ENGINE_CHECK_CHARS))
                verify = None
            nbytes = 0
            for index, texts in _by_split(docs, lab):
                name = SPLITS[index]
                stream = np.asarray(tok.encode_stream(texts, EOS_ID, dtype), dtype=dtype)
                text_bytes = len("".join(texts).encode("utf-8", "surrogatepass"))
                c = counts[name]
                c["documents"] += len(texts)
                c["tokens"] += int(stream.size)
                c["characters"] += sum(map(len, texts))
                c["bytes"] += text_bytes
                c["unk"] += int(np.count_nonzero(stream == tok.unk_id))
                files[name].write(memoryview(stream))
                digests[name].update(memoryview(stream))
                nbytes += text_bytes
                tokens_done += int(stream.size)
            bar.update(nbytes)
            elapsed = time.perf_counter() - mark
            if progress and elapsed > 0:
                bar.set_postfix_str(f"{tokens_done / elapsed:,.0f} tok/s", refresh=False)
        bar.update(max(0, bar.total - bar.n))  # documents' text is a little smaller than the files
        for fh in files.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
    except BaseException as exc:
        bar.leave = False
        for fh in files.values():
            fh.close()
        for tmp in tmp_paths.values():
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GenlabError(f"could not write the token store in {out}: {exc.strerror or exc}; "
                              "free disk space or choose another --out") from exc
        raise
    finally:
        bar.close()
    for s in SPLITS:
        tmp_paths[s].replace(out / f"{s}.bin")
    tok.save(out / "tokenizer.json")
    timings["encode"] = time.perf_counter() - mark
    elapsed = time.perf_counter() - started
    meta = {
        "format": "genlab-token-store",
        "version": 1,
        "dtype": dtype.name,
        "vocab_size": tok.vocab_size,
        "tokenizer": tok.kind,
        "tokenizer_fingerprint": tok.fingerprint(),
        "eos_id": EOS_ID,
        "splits": counts,
        "split_sha256": {s: d.hexdigest() for s, d in digests.items()},
        "corpus": {"spec": cfg.corpus, "files": stats.files[:100], "documents": stats.documents,
                   "characters": stats.characters, "bytes": sum(c["bytes"] for c in counts.values()),
                   "file_bytes": stats.bytes, "fingerprint": stats.fingerprint},
        "config": {**asdict(cfg), "split": list(cfg.split)},
        "split_by": "position" if positional else "document",
        "split_lines": dict(zip(SPLITS, corpus.lines)) if positional else None,
        "engine": getattr(tok, "active_engine", tok.kind),
        "seconds": round(elapsed, 3),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    write_json(out / "meta.json", meta)
    return meta


def existing_tokenizer(source: str | Path) -> Tokenizer:
    """The tokenizer of a run directory (its ``tokenizer.json``) or a tokenizer file."""
    path = Path(source)
    return load_tokenizer(path / "tokenizer.json" if path.is_dir() else path)


def _head(docs: list[str], chars: int) -> list[str]:
    """The first documents of a batch, up to about ``chars`` characters."""
    taken, size = [], 0
    for doc in docs:
        if size >= chars:
            break
        taken.append(doc)
        size += len(doc)
    return taken


def _by_split(docs: list[str], labels: np.ndarray) -> Iterator[tuple[int, list[str]]]:
    """The batch's documents grouped by split (corpus order kept within each), skipping empty groups."""
    first = int(labels[0])
    if bool((labels == first).all()):
        yield first, docs
        return
    for index in range(len(SPLITS)):
        chosen = labels == index
        if chosen.any():
            yield index, list(compress(docs, chosen.tolist()))


class TokenStore:
    """The prepared data of a run: tokenizer, metadata, and memory-mapped splits."""

    def __init__(self, run: str | Path) -> None:
        self.run = Path(run)
        self.meta = read_json(self.run / "meta.json")
        if self.meta.get("format") == "genlab-pairs-store":
            raise GenlabError(f"{self.run} holds parallel pairs, not a text corpus: train an encoder-decoder on it "
                              f"(`genlab train {self.run} --model rnn-attn` or `--model transformer`), or prepare a "
                              "corpus with `genlab prepare --corpus` for a language model")
        if self.meta.get("format") != "genlab-token-store":
            raise GenlabError(f"{self.run / 'meta.json'} is not a genlab token store; run `genlab prepare`")
        self.dtype = np.dtype(self.meta["dtype"])
        self._tokenizer: Tokenizer | None = None

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            tok = load_tokenizer(self.run / "tokenizer.json")
            if tok.fingerprint() != self.meta["tokenizer_fingerprint"]:
                raise GenlabError(f"{self.run}/tokenizer.json does not match the token store; re-run prepare")
            self._tokenizer = tok
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    def split(self, name: str) -> np.ndarray:
        """The split's ids as a read-only memory map (no copy)."""
        if name not in SPLITS:
            raise GenlabError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        path = self.run / f"{name}.bin"
        if not path.is_file():
            raise GenlabError(f"{path} not found; run `genlab prepare --out {self.run}`")
        expected = self.meta["splits"][name]["tokens"] * self.dtype.itemsize
        if path.stat().st_size != expected:
            raise GenlabError(f"{path} is truncated or altered ({path.stat().st_size} bytes, expected {expected})")
        if expected == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.memmap(path, dtype=self.dtype, mode="r")

    def stats(self, name: str) -> dict[str, int]:
        return dict(self.meta["splits"][name])


def write_ids(path: str | Path, ids: np.ndarray, vocab_size: int) -> None:
    """Write an id array as a store split (used by tests and tools that build stores directly)."""
    data = np.asarray(ids).astype(dtype_for(vocab_size)).tobytes()
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _maps_whole_file(data: np.ndarray) -> bool:
    """True when ``data`` is a contiguous memory map of its whole file from byte 0 (a split as
    :meth:`TokenStore.split` opens it), so token ``i`` is at byte ``i × itemsize`` of that file.

    A slice of a memmap keeps its parent's file name and offset, so only a whole-file map qualifies.
    """
    if not (hasattr(os, "preadv") and isinstance(data, np.memmap) and data.filename and data.offset == 0):
        return False
    try:
        return data.flags.c_contiguous and data.nbytes == os.path.getsize(data.filename)
    except OSError:
        return False


class WindowReader:
    """Reads token windows of one split with positioned reads (``os.preadv``) into a fresh batch.

    Why not index the memory map: on current Linux kernels the page cache holds large folios (2 MB
    measured here), and a mapped read of a 65-token window maps the whole folio into the process, so
    random windows over a large store count ever more of it as the trainer's resident memory (a
    1 GB corpus: 2 GB RSS after 300 steps). A positioned read copies just the window's bytes from
    the same page cache — one copy, as fancy indexing would make — and resident memory stays flat
    whatever the corpus size. Platforms without ``os.preadv`` index the memory map instead.
    """

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.dtype = data.dtype
        self._fd = os.open(data.filename, os.O_RDONLY) if _maps_whole_file(data) else None

    def __len__(self) -> int:
        return len(self.data)

    def read(self, starts: np.ndarray, length: int) -> np.ndarray:
        """``len(starts)`` windows of ``length`` ids as an int64 array ``(rows, length)``."""
        if self._fd is None:
            return self.data[starts[:, None] + np.arange(length)].astype(np.int64)
        size = length * self.dtype.itemsize
        buffer = bytearray(len(starts) * size)
        view = memoryview(buffer)
        for i, start in enumerate(starts.tolist()):
            if os.preadv(self._fd, [view[i * size:(i + 1) * size]], start * self.dtype.itemsize) != size:
                raise GenlabError("a token store split became shorter while training; re-run `genlab prepare`")
        return np.frombuffer(buffer, dtype=self.dtype).reshape(len(starts), length).astype(np.int64)

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def random_windows(data: np.ndarray | WindowReader, block_size: int, batch_size: int,
                   generator: np.random.Generator):
    """``batch_size`` random (x, y) windows of ``block_size`` tokens, y shifted by one (torch int64).

    Pass a :class:`WindowReader` when drawing many batches from a memory-mapped split, so memory stays
    flat (a plain array or memmap is wrapped for this one call).
    """
    import torch

    reader = data if isinstance(data, WindowReader) else WindowReader(data)
    n = len(reader) - block_size - 1
    if n < 0:
        raise GenlabError(f"the split has {len(reader)} tokens, fewer than the context {block_size} + 1; "
                          "use a smaller --block-size or a larger corpus")
    starts = generator.integers(0, n + 1, size=batch_size)
    chunk = torch.from_numpy(reader.read(starts, block_size + 1))
    return chunk[:, :-1], chunk[:, 1:]


def sequential_windows(data: np.ndarray, block_size: int, max_windows: int | None = None
                       ) -> Iterator[tuple[int, np.ndarray]]:
    """Non-overlapping windows covering ``data`` in order: yields (start, ids[start : start+block+1])."""
    count = 0
    for start in range(0, max(len(data) - 1, 0), block_size):
        yield start, np.asarray(data[start:start + block_size + 1], dtype=np.int64)
        count += 1
        if max_windows is not None and count >= max_windows:
            return
