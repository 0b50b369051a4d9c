"""Course step 2b: vectorization (벡터화) — a corpus becomes a memory-mapped array of token ids.

``prepare`` streams the corpus three times (validate and count; train the tokenizer on the training
documents; encode) and never holds more than a chunk of documents in memory, so a 1 GB corpus prepares
in bounded RSS. Each split is a flat binary file of uint16 (vocab ≤ 65,536) or uint32 ids: every
document's tokens followed by ``<eos>``, which marks "a document ends here" for every model.
The batching helpers cut (input, target) windows straight from the memory map.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genlab.checkpoint import atomic_write, read_json, write_json
from genlab.corpus import SPLITS, Corpus, assign_splits
from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, Tokenizer
from genlab.tokenizers import load as load_tokenizer
from genlab.tokenizers import train as train_tokenizer

BATCH_DOCS_BYTES = 1 << 22  # encode documents in ~4 MiB batches
TOKENIZER_SAMPLE_BYTES = 200 << 20  # the tokenizer learns from at most this much training text


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


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


def _doc_batches(docs: Iterator[str], labels: np.ndarray) -> Iterator[tuple[list[str], list[int]]]:
    batch: list[str] = []
    splits: list[int] = []
    size = 0
    for i, doc in enumerate(docs):
        batch.append(doc)
        splits.append(int(labels[i]))
        size += len(doc)
        if size >= BATCH_DOCS_BYTES:
            yield batch, splits
            batch, splits, size = [], [], 0
    if batch:
        yield batch, splits


def prepare(cfg: PrepareConfig, progress: bool = True) -> dict[str, Any]:
    """Build a run directory: ``tokenizer.json``, ``{train,val,test}.bin`` and ``meta.json``."""
    from tqdm.auto import tqdm

    out = Path(cfg.out)
    corpus = Corpus(cfg.corpus, unit=cfg.unit, encoding_errors=cfg.encoding_errors)
    started = time.perf_counter()
    stats = corpus.scan(progress=progress)
    labels = assign_splits(stats.documents, cfg.split, cfg.seed, shuffle=cfg.shuffle)

    def training_docs() -> Iterator[str]:
        budget = TOKENIZER_SAMPLE_BYTES
        for doc, label in zip(corpus.documents(), labels):
            if label == 0:
                yield doc
                budget -= len(doc)
                if budget <= 0:
                    return

    tok = train_tokenizer(cfg.tokenizer, training_docs(), vocab_size=cfg.vocab_size,
                          min_frequency=cfg.min_frequency, lowercase=cfg.lowercase or None)
    dtype = dtype_for(tok.vocab_size)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(out / "tokenizer.json")

    counts = {s: {"documents": 0, "tokens": 0, "characters": 0, "bytes": 0, "unk": 0} for s in SPLITS}
    digests = {s: hashlib.sha256() for s in SPLITS}
    tmp_paths = {s: out / f".{s}.bin.partial" for s in SPLITS}
    files = {s: open(tmp_paths[s], "wb") for s in SPLITS}
    bar = tqdm(total=stats.bytes, desc=f"prepare ({cfg.tokenizer})", unit="B", unit_scale=True,
               unit_divisor=1024, disable=not progress, dynamic_ncols=True, mininterval=0.5)
    try:
        for docs, splits in _doc_batches(corpus.documents(), labels):
            encoded = tok.encode_batch(docs)
            per_split: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
            eos = np.array([EOS_ID], dtype=np.int64)
            nbytes = 0
            for doc, ids, s in zip(docs, encoded, splits):
                name = SPLITS[s]
                c = counts[name]
                c["documents"] += 1
                c["tokens"] += len(ids) + 1
                c["characters"] += len(doc)
                b = len(doc.encode("utf-8", "surrogatepass"))
                c["bytes"] += b
                nbytes += b
                c["unk"] += int(np.count_nonzero(ids == tok.unk_id))
                per_split[s].extend((ids, eos))
            for s, parts in per_split.items():
                if parts:
                    data = np.concatenate(parts).astype(dtype).tobytes()
                    files[SPLITS[s]].write(data)
                    digests[SPLITS[s]].update(data)
            bar.update(nbytes)
            bar.set_postfix(tok_s=f"{sum(c['tokens'] for c in counts.values()) / bar.format_dict['elapsed']:.3g}"
                            if bar.format_dict["elapsed"] else "")
    except BaseException as exc:
        for fh in files.values():
            fh.close()
        for tmp in tmp_paths.values():
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GenlabError(f"could not write the token store in {out}: {exc.strerror}; free disk space") from exc
        raise
    finally:
        bar.close()
    for fh in files.values():
        fh.close()
    for s in SPLITS:
        tmp_paths[s].replace(out / f"{s}.bin")
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
                   "characters": stats.characters, "bytes": stats.bytes, "fingerprint": stats.fingerprint},
        "config": {**asdict(cfg), "split": list(cfg.split)},
        "seconds": round(elapsed, 3),
    }
    write_json(out / "meta.json", meta)
    return meta


class TokenStore:
    """The prepared data of a run: tokenizer, metadata, and memory-mapped splits."""

    def __init__(self, run: str | Path) -> None:
        self.run = Path(run)
        self.meta = read_json(self.run / "meta.json")
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


def random_windows(data: np.ndarray, block_size: int, batch_size: int, generator: np.random.Generator):
    """``batch_size`` random (x, y) windows of ``block_size`` tokens, y shifted by one (torch int64)."""
    import torch

    n = len(data) - block_size - 1
    if n < 0:
        raise GenlabError(f"the split has {len(data)} tokens, fewer than the context {block_size} + 1; "
                          "use a smaller --block-size or a larger corpus")
    starts = generator.integers(0, n + 1, size=batch_size)
    idx = starts[:, None] + np.arange(block_size + 1)[None, :]
    chunk = torch.from_numpy(np.asarray(data[idx], dtype=np.int64))
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
