"""Parallel data for encoder–decoder models: (source, target) pairs → a pairs store in a run directory.

Course steps 1–2 for translation: read pairs (``FILE.tsv`` with ``source<TAB>target`` per line, a
folder of line-aligned ``*.src``/``*.tgt`` files, or a built-in task), validate them with the same
rules as a single corpus (UTF-8, no binary, no empty file; a bad line is reported by its number),
split them deterministically, learn one shared tokenizer or one per side, and store the token ids.

The split is made over *distinct sources*: every pair with the same source lands in the same split,
so a held-out sentence was never seen in training, and its several translations (Tatoeba lists many
per English sentence) become the references of one multi-reference BLEU item.

Run-directory files: ``meta.json`` (format ``genlab-pairs-store``), ``tokenizer.json`` (the target
side, which decodes the model's output; also the source side when shared), ``source_tokenizer.json``
(only with ``--no-shared-vocab``), ``{split}.pairs.safetensors`` (flat id arrays + offsets, no pickle)
and ``{split}.pairs.jsonl`` (the original texts, which BLEU compares against).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genlab.checkpoint import read_json, save_numpy, write_json, write_text
from genlab.corpus import SPLITS, assign_splits, iter_text_chunks, parse_ratios
from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, PAD_ID, Tokenizer
from genlab.tokenizers import load as load_tokenizer
from genlab.tokenizers import train as train_tokenizer

if TYPE_CHECKING:
    import torch

PAIRS_FORMAT = "genlab-pairs-store"
SOURCE_TOKENIZER = "source_tokenizer.json"
TARGET_TOKENIZER = "tokenizer.json"
MAX_REPORTED_BAD_LINES = 5


@dataclass
class PairsConfig:
    pairs: str
    out: str
    tokenizer: str = "char"
    vocab_size: int | None = None
    min_frequency: int | None = None
    lowercase: bool = False
    shared_vocab: bool = True
    max_length: int | None = None
    skip_bad_lines: bool = False
    num_examples: int | None = None
    split: tuple[float, float, float] = (0.9, 0.05, 0.05)
    shuffle: bool = True
    seed: int = 1337
    encoding_errors: str = "strict"


@dataclass
class PairsRead:
    pairs: list[tuple[str, str]]
    #: ``"FILE: line N: why"`` for every skipped line (``--skip-bad-lines``)
    bad_lines: list[str]
    files: list[str]


# --------------------------------------------------------------------------------------------- reading


def iter_lines(path: Path, encoding_errors: str = "strict") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline), streamed and validated as UTF-8."""
    buffer = ""
    number = 0
    for chunk in iter_text_chunks(path, encoding_errors):
        buffer += chunk
        *complete, buffer = buffer.split("\n")
        for line in complete:
            number += 1
            yield number, line
    if buffer:
        yield number + 1, buffer


def _reject(bad: list[str], where: str, why: str, skip: bool) -> None:
    if not skip:
        raise GenlabError(f"{where}: {why}; fix it or pass --skip-bad-lines")
    bad.append(f"{where}: {why}")


def _read_tsv(path: Path, skip: bool, encoding_errors: str) -> PairsRead:
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    for number, line in iter_lines(path, encoding_errors):
        if not line.strip():
            continue  # blank lines separate nothing and are not pairs
        where = f"{path}: line {number}"
        fields = line.split("\t")
        if len(fields) != 2:
            found = "no tab" if len(fields) == 1 else f"{len(fields)} tab-separated fields"
            _reject(bad, where, f"expected 'source<TAB>target', found {found}", skip)
            continue
        src, tgt = fields[0].strip(), fields[1].strip()
        if not src or not tgt:
            _reject(bad, where, f"the {'source' if not src else 'target'} is empty", skip)
            continue
        pairs.append((src, tgt))
    return PairsRead(pairs, bad, [str(path)])


def _read_folder(folder: Path, skip: bool, encoding_errors: str) -> PairsRead:
    sources = sorted(folder.glob("*.src"))
    if not sources:
        raise GenlabError(f"pairs folder {folder} has no *.src files; add NAME.src and NAME.tgt (line-aligned)")
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    files: list[str] = []
    for src_path in sources:
        tgt_path = src_path.with_suffix(".tgt")
        if not tgt_path.is_file():
            raise GenlabError(f"{src_path} has no matching {tgt_path.name}; add it or remove the .src file")
        files += [str(src_path), str(tgt_path)]
        src_lines = iter_lines(src_path, encoding_errors)
        tgt_lines = iter_lines(tgt_path, encoding_errors)
        for number in itertools.count(1):
            s, t = next(src_lines, None), next(tgt_lines, None)
            if s is None and t is None:
                break
            if s is None or t is None:
                longer = tgt_path if s is None else src_path
                raise GenlabError(f"{src_path} and {tgt_path} are not line-aligned: {longer.name} has more lines "
                                  f"(from line {number}); each line of .src must match the same line of .tgt")
            src, tgt = s[1].strip(), t[1].strip()
            if not src and not tgt:
                continue
            if not src or not tgt:
                empty = src_path if not src else tgt_path
                _reject(bad, f"{empty}: line {number}", "empty line where its partner has text", skip)
                continue
            pairs.append((src, tgt))
    return PairsRead(pairs, bad, files)


def read_pairs(spec: str, skip_bad_lines: bool = False, num_examples: int | None = None, seed: int = 1337,
               encoding_errors: str = "strict") -> PairsRead:
    """All (source, target) pairs of ``spec``: a TSV file, a folder of *.src/*.tgt, or ``builtin:NAME``."""
    if spec.startswith("builtin:"):
        from genlab.builtin_tasks import DEFAULT_EXAMPLES, generate

        name = spec.split(":", 1)[1]
        return PairsRead(generate(name, num_examples or DEFAULT_EXAMPLES, seed), [], [spec])
    path = Path(spec)
    if path.is_dir():
        read = _read_folder(path, skip_bad_lines, encoding_errors)
    elif path.is_file():
        read = _read_tsv(path, skip_bad_lines, encoding_errors)
    else:
        raise GenlabError(f"pairs {spec} not found: pass a .tsv file (source<TAB>target), a folder of "
                          "*.src/*.tgt files, or builtin:dates|ko-numbers|reverse")
    if not read.pairs:
        raise GenlabError(f"pairs {spec} contain no usable pairs; expected lines of 'source<TAB>target'")
    if num_examples is not None:
        read.pairs = read.pairs[:num_examples]
    return read


# --------------------------------------------------------------------------------------------- encoding


def encode_source(tokenizer: Tokenizer, text: str) -> np.ndarray:
    """Source ids as the encoder sees them: the text's tokens then ``<eos>`` (so no source is empty)."""
    return np.concatenate([tokenizer.encode_array(text), [EOS_ID]]).astype(np.int64)


def encode_target(tokenizer: Tokenizer, text: str) -> np.ndarray:
    """Target ids without specials; the task adds ``<bos>`` in front (input) and ``<eos>`` behind (output)."""
    return tokenizer.encode_array(text).astype(np.int64)


def _flatten(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(a) for a in arrays])
    flat = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, dtype=np.int32)
    return flat, offsets


def _unflatten(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i]:offsets[i + 1]].astype(np.int64) for i in range(len(offsets) - 1)]


def prepare_pairs(cfg: PairsConfig, progress: bool = True) -> dict[str, Any]:
    """Build a pairs store in ``cfg.out``; returns its ``meta.json`` content."""
    started = time.perf_counter()
    read = read_pairs(cfg.pairs, cfg.skip_bad_lines, cfg.num_examples, cfg.seed, cfg.encoding_errors)
    # split by distinct source, so repeated sources (several references) never straddle splits
    first_seen: dict[str, int] = {}
    for src, _ in read.pairs:
        first_seen.setdefault(src, len(first_seen))
    labels = assign_splits(len(first_seen), cfg.split, cfg.seed, shuffle=cfg.shuffle)
    split_of = [int(labels[first_seen[src]]) for src, _ in read.pairs]
    # a built-in task's alphabet is fixed and fully known, so its tokenizer sees every pair (a rare
    # capital letter of a month name must not become <unk> in test); real data: training pairs only
    builtin = cfg.pairs.startswith("builtin:")
    train_pairs = [p for p, s in zip(read.pairs, split_of) if s == 0 or builtin]

    options = {"vocab_size": cfg.vocab_size, "min_frequency": cfg.min_frequency, "lowercase": cfg.lowercase or None}
    if cfg.shared_vocab:
        tgt_tok = train_tokenizer(cfg.tokenizer, (t for p in train_pairs for t in p), **options)
        src_tok = tgt_tok
    else:
        src_tok = train_tokenizer(cfg.tokenizer, (s for s, _ in train_pairs), **options)
        tgt_tok = train_tokenizer(cfg.tokenizer, (t for _, t in train_pairs), **options)

    from tqdm.auto import tqdm

    encoded: dict[str, dict[str, list]] = {s: {"src": [], "tgt": [], "text": []} for s in SPLITS}
    counts = {s: {"pairs": 0, "sources": 0, "source_tokens": 0, "target_tokens": 0, "unk": 0, "too_long": 0}
              for s in SPLITS}
    for (src, tgt), s in tqdm(list(zip(read.pairs, split_of)), desc="encode pairs", unit="pair",
                              disable=not progress, mininterval=0.5):
        name = SPLITS[s]
        src_ids, tgt_ids = encode_source(src_tok, src), encode_target(tgt_tok, tgt)
        if cfg.max_length is not None and max(len(src_ids) - 1, len(tgt_ids)) > cfg.max_length:
            counts[name]["too_long"] += 1
            continue
        encoded[name]["src"].append(src_ids)
        encoded[name]["tgt"].append(tgt_ids)
        encoded[name]["text"].append((src, tgt))
    for name in SPLITS:
        e, c = encoded[name], counts[name]
        c["pairs"] = len(e["src"])
        c["sources"] = len({src for src, _ in e["text"]})
        c["source_tokens"] = int(sum(len(a) for a in e["src"]))
        c["target_tokens"] = int(sum(len(a) + 1 for a in e["tgt"]))
        c["unk"] = int(sum(int((a == src_tok.unk_id).sum()) for a in e["src"])
                       + sum(int((a == tgt_tok.unk_id).sum()) for a in e["tgt"]))
    if counts["train"]["pairs"] == 0:
        raise GenlabError(f"no training pairs left (--max-length {cfg.max_length} dropped "
                          f"{counts['train']['too_long']:,}); raise --max-length or add data")

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    tgt_tok.save(out / TARGET_TOKENIZER)
    if cfg.shared_vocab:
        (out / SOURCE_TOKENIZER).unlink(missing_ok=True)
    else:
        src_tok.save(out / SOURCE_TOKENIZER)
    for name in SPLITS:
        e = encoded[name]
        src_flat, src_off = _flatten(e["src"])
        tgt_flat, tgt_off = _flatten(e["tgt"])
        save_numpy(out / f"{name}.pairs.safetensors", {"src_ids": src_flat, "src_offsets": src_off,
                                                       "tgt_ids": tgt_flat, "tgt_offsets": tgt_off})
        lines = "".join(json.dumps({"src": s, "tgt": t}, ensure_ascii=False) + "\n" for s, t in e["text"])
        write_text(out / f"{name}.pairs.jsonl", lines)
    lengths = [len(a) for e in encoded.values() for a in e["src"]] or [0]
    tgt_lengths = [len(a) + 1 for e in encoded.values() for a in e["tgt"]] or [0]
    meta = {
        "format": PAIRS_FORMAT,
        "version": 1,
        "tokenizer": tgt_tok.kind,
        "shared_vocab": cfg.shared_vocab,
        "vocab_size": tgt_tok.vocab_size,
        "source_vocab_size": src_tok.vocab_size,
        "target_vocab_size": tgt_tok.vocab_size,
        "tokenizer_fingerprint": tgt_tok.fingerprint(),
        "source_tokenizer_fingerprint": src_tok.fingerprint(),
        "max_source_tokens": int(max(lengths)),
        "max_target_tokens": int(max(tgt_lengths)),
        "splits": counts,
        "bad_lines_skipped": len(read.bad_lines),
        "bad_lines": read.bad_lines[:MAX_REPORTED_BAD_LINES],
        "pairs": {"spec": cfg.pairs, "files": read.files[:100], "pairs": len(read.pairs),
                  "distinct_sources": len(first_seen)},
        "config": {**asdict(cfg), "split": list(cfg.split)},
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json(out / "meta.json", meta)
    return meta


# --------------------------------------------------------------------------------------------- the store


class PairStore:
    """The prepared parallel data of a run: both tokenizers, metadata, token ids and texts per split."""

    def __init__(self, run: str | Path) -> None:
        self.run = Path(run)
        self.meta = read_json(self.run / "meta.json")
        if self.meta.get("format") != PAIRS_FORMAT:
            raise GenlabError(f"{self.run} holds no parallel data (meta.json is not a {PAIRS_FORMAT}); "
                              f"prepare it with `genlab prepare --pairs FILE.tsv --out {self.run}`")
        self._tokenizers: dict[str, Tokenizer] = {}
        self._examples: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def _tokenizer(self, side: str) -> Tokenizer:
        if side not in self._tokenizers:
            shared = self.meta.get("shared_vocab", True)
            path = self.run / (TARGET_TOKENIZER if side == "target" or shared else SOURCE_TOKENIZER)
            tok = load_tokenizer(path)
            key = "source_tokenizer_fingerprint" if side == "source" else "tokenizer_fingerprint"
            if tok.fingerprint() != self.meta[key]:
                raise GenlabError(f"{path} does not match the pairs store; re-run `genlab prepare --pairs`")
            self._tokenizers[side] = tok
        return self._tokenizers[side]

    @property
    def source_tokenizer(self) -> Tokenizer:
        return self._tokenizer("source")

    @property
    def target_tokenizer(self) -> Tokenizer:
        return self._tokenizer("target")

    def examples(self, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(source ids ending in ``<eos>``, target ids without specials) for every pair of ``split``."""
        if split not in SPLITS:
            raise GenlabError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        if split not in self._examples:
            from genlab.checkpoint import load_numpy

            arrays = load_numpy(self.run / f"{split}.pairs.safetensors")
            try:
                src = _unflatten(arrays["src_ids"], arrays["src_offsets"])
                tgt = _unflatten(arrays["tgt_ids"], arrays["tgt_offsets"])
            except KeyError as exc:
                raise GenlabError(f"{self.run}/{split}.pairs.safetensors lacks {exc}; re-run prepare") from exc
            if len(src) != self.meta["splits"][split]["pairs"] or len(tgt) != len(src):
                raise GenlabError(f"{self.run}/{split}.pairs.safetensors does not match meta.json; re-run prepare")
            self._examples[split] = (src, tgt)
        return self._examples[split]

    def texts(self, split: str) -> list[tuple[str, str]]:
        """The original (source, target) texts of ``split``, in store order."""
        path = self.run / f"{split}.pairs.jsonl"
        if not path.is_file():
            raise GenlabError(f"{path} not found; re-run `genlab prepare --pairs --out {self.run}`")
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            pairs = [(r["src"], r["tgt"]) for r in rows]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise GenlabError(f"{path} is corrupted ({exc}); re-run prepare") from exc
        if len(pairs) != self.meta["splits"][split]["pairs"]:
            raise GenlabError(f"{path} does not match meta.json; re-run prepare")
        return pairs

    def references(self, split: str) -> tuple[list[str], list[list[str]]]:
        """Distinct sources of ``split`` (first-seen order) and, for each, all its reference targets."""
        refs: dict[str, list[str]] = {}
        for src, tgt in self.texts(split):
            refs.setdefault(src, []).append(tgt)
        return list(refs), list(refs.values())


def is_pairs_run(run: str | Path) -> bool:
    """True when ``run``'s meta.json describes a pairs store (used to route commands)."""
    path = Path(run) / "meta.json"
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == PAIRS_FORMAT
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


# --------------------------------------------------------------------------------------------- command line


def prepare_pairs_cli(args: argparse.Namespace) -> int:
    """``genlab prepare --pairs SPEC --out RUN``."""
    cfg = PairsConfig(pairs=args.pairs, out=args.out, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
                      min_frequency=getattr(args, "min_frequency", None), lowercase=getattr(args, "lowercase", False),
                      shared_vocab=args.shared_vocab, max_length=args.max_length,
                      skip_bad_lines=args.skip_bad_lines, num_examples=args.num_examples,
                      split=parse_ratios(args.split), shuffle=not getattr(args, "no_shuffle", False),
                      seed=args.seed, encoding_errors=getattr(args, "encoding_errors", "strict"))
    meta = prepare_pairs(cfg, progress=not args.quiet)
    s = meta["splits"]
    vocab = (f"shared vocab {meta['vocab_size']:,}" if meta["shared_vocab"]
             else f"vocab source {meta['source_vocab_size']:,} / target {meta['target_vocab_size']:,}")
    print(f"prepared {args.out}: pairs train {s['train']['pairs']:,} / val {s['val']['pairs']:,} / "
          f"test {s['test']['pairs']:,}, tokenizer {meta['tokenizer']} ({vocab}), longest source "
          f"{meta['max_source_tokens']} / target {meta['max_target_tokens']} tokens in {meta['seconds']:.1f}s")
    dropped = sum(c["too_long"] for c in s.values())
    if dropped:
        print(f"dropped {dropped:,} pairs longer than --max-length {cfg.max_length}")
    if meta["bad_lines_skipped"]:
        print(f"skipped {meta['bad_lines_skipped']:,} bad lines, e.g. " + "; ".join(meta["bad_lines"][:3]))
    return 0


def pad_batch(seqs: list[np.ndarray], prefix: int | None = None, suffix: int | None = None) -> torch.Tensor:
    """Right-pad id arrays with ``<pad>`` into one ``[B, T]`` int64 tensor, optionally adding a token
    in front (``<bos>``) or behind (``<eos>``) each."""
    extra = (prefix is not None) + (suffix is not None)
    width = max(len(s) for s in seqs) + extra
    out = np.full((len(seqs), width), PAD_ID, dtype=np.int64)
    for i, s in enumerate(seqs):
        row = ([prefix] if prefix is not None else []) + s.tolist() + ([suffix] if suffix is not None else [])
        out[i, : len(row)] = row
    import torch  # lazily: preparing pairs never needs PyTorch

    return torch.from_numpy(out)
