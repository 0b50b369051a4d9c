"""Text augmentation: EDA, Korean jamo typo noise, and back-translation through genlab translation runs.

EDA (Wei & Zou 2019, "Easy Data Augmentation") makes a new sentence from an old one by one of four
word-level edits, each touching about ``alpha`` × (number of words) words: *random swap* of two
words, *random deletion* (each word dropped with probability ``alpha``), *random insertion* of a word
— here a word from the same sentence, since genlab has no thesaurus — at a random place, and *synonym
replacement*, only with a dictionary the user gives (``--synonyms``): KorEDA's authors found that
automatic Korean synonyms often change the meaning. *Jamo noise* imitates typing errors: in a
fraction ``p`` of the Hangul syllables one jamo (초성, 중성 or 종성) becomes another. *Back-translation*
paraphrases a sentence by translating it to another language and back with two genlab translation
runs (``RUN+RUN``; one run that maps the language into itself also works).

Labels never change: an augmented copy carries its original's label. Every copy is drawn from its
own generator ``[seed, text index, copy]``, so the result does not depend on order or batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genlab.errors import GenlabError
from genlab.tokenizers.jamo import N_FINAL, N_INITIAL, N_MEDIAL, SYLLABLE_BASE, is_syllable

EDA_OPERATIONS = ("swap", "delete", "insert", "synonym")
DEFAULT_STRENGTH = {"eda": 0.1, "jamo": 0.05}


# --- EDA ------------------------------------------------------------------------------------------

def random_swap(words: list[str], n: int, rng: np.random.Generator) -> list[str]:
    out = list(words)
    for _ in range(n if len(out) > 1 else 0):
        i, j = rng.choice(len(out), size=2, replace=False)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: np.random.Generator) -> list[str]:
    """Each word dropped with probability ``p``; at least one word always stays."""
    if len(words) <= 1:
        return list(words)
    keep = rng.random(len(words)) >= p
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return [w for w, k in zip(words, keep) if k]


def random_insertion(words: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """``n`` times: a copy of one of the sentence's own words, inserted at a random place."""
    out = list(words)
    for _ in range(n if out else 0):
        out.insert(int(rng.integers(len(out) + 1)), out[int(rng.integers(len(out)))])
    return out


def synonym_replacement(words: list[str], n: int, rng: np.random.Generator,
                        synonyms: dict[str, list[str]]) -> list[str]:
    """Up to ``n`` words that the dictionary knows, each replaced by one of its synonyms."""
    out = list(words)
    candidates = [i for i, w in enumerate(out) if synonyms.get(w)]
    for i in rng.permutation(candidates)[:n] if candidates else []:
        options = synonyms[out[i]]
        out[i] = options[int(rng.integers(len(options)))]
    return out


def eda(text: str, rng: np.random.Generator, alpha: float = 0.1,
        synonyms: dict[str, list[str]] | None = None) -> str:
    """One EDA edit of ``text``, the operation drawn uniformly (synonyms only with a dictionary)."""
    words = text.split()
    if not words:
        return text
    n = max(1, round(alpha * len(words)))
    ops = [op for op in EDA_OPERATIONS if op != "synonym" or synonyms]
    op = ops[int(rng.integers(len(ops)))]
    if op == "swap":
        words = random_swap(words, n, rng)
    elif op == "delete":
        words = random_deletion(words, alpha, rng)
    elif op == "insert":
        words = random_insertion(words, n, rng)
    else:
        words = synonym_replacement(words, n, rng, synonyms or {})
    return " ".join(words)


# --- jamo noise -----------------------------------------------------------------------------------

def jamo_noise(text: str, rng: np.random.Generator, p: float = 0.05) -> str:
    """In each Hangul syllable with probability ``p``, one of its jamo becomes another (a typo)."""
    chars = list(text)
    hits = [i for i, c in enumerate(chars) if is_syllable(c)]
    for i in hits:
        if rng.random() >= p:
            continue
        code = ord(chars[i]) - SYLLABLE_BASE
        initial, medial, final = code // (N_MEDIAL * N_FINAL), (code // N_FINAL) % N_MEDIAL, code % N_FINAL
        which = int(rng.integers(3))
        if which == 0:
            initial = (initial + 1 + int(rng.integers(N_INITIAL - 1))) % N_INITIAL
        elif which == 1:
            medial = (medial + 1 + int(rng.integers(N_MEDIAL - 1))) % N_MEDIAL
        else:
            final = (final + 1 + int(rng.integers(N_FINAL - 1))) % N_FINAL
        chars[i] = chr(SYLLABLE_BASE + (initial * N_MEDIAL + medial) * N_FINAL + final)
    return "".join(chars)


# --- back-translation -----------------------------------------------------------------------------

def backtranslate(texts: Sequence[str], runs: Sequence[str | Path], device: str = "cpu") -> list[str]:
    """``texts`` through each translation run in turn (greedy decoding, so deterministic)."""
    from genlab.beam import translate_texts
    from genlab.models import load_model
    from genlab.pairs import PairStore

    out = list(texts)
    for run in runs:
        model, target_tokenizer, _ = load_model(run, device=device, which="best")
        if not getattr(model, "is_seq2seq", False):
            raise GenlabError(f"backtranslate:{run} is not a translation run (train one with `genlab train RUN "
                              "--model transformer` on prepared --pairs)")
        source_tokenizer = PairStore(run).source_tokenizer
        todo = [i for i, t in enumerate(out) if t.strip()]
        done = translate_texts(model, source_tokenizer, target_tokenizer, [out[i] for i in todo], device=device)
        for i, t in zip(todo, done):
            out[i] = t
    return out


# --- a configured augmentation --------------------------------------------------------------------

@dataclass
class TextAugment:
    """The augmentations asked for (in order), their strengths, and the seed that makes them repeatable."""

    steps: list[tuple[str, Any]]  # ("eda", alpha) | ("jamo", p) | ("backtranslate", [run, …])
    seed: int = 1337
    copies: int = 1
    synonyms: dict[str, list[str]] = field(default_factory=dict)

    def one(self, text: str, rng: np.random.Generator) -> str:
        """``text`` through the word- and jamo-level steps (back-translation runs in batches, see ``texts``)."""
        for kind, value in self.steps:
            if kind == "eda":
                text = eda(text, rng, value, self.synonyms or None)
            elif kind == "jamo":
                text = jamo_noise(text, rng, value)
        return text

    def texts(self, texts: Sequence[str]) -> list[str]:
        """``copies`` augmented versions of every text (copy-major: all first copies, then all second, …)."""
        out: list[str] = []
        for copy in range(self.copies):
            batch = list(texts)
            for kind, value in self.steps:
                if kind == "backtranslate":
                    batch = backtranslate(batch, value)
            out.extend(self.one(t, np.random.default_rng([self.seed, i, copy])) for i, t in enumerate(batch))
        return out

    def labelled(self, texts: Sequence[str], labels: Sequence[int]) -> tuple[list[str], list[int]]:
        """The originals followed by their augmented copies, each copy with its original's label."""
        extra = self.texts(texts)
        return list(texts) + extra, list(labels) + list(labels) * self.copies

    def spec(self) -> str:
        return ", ".join(f"{k}:{'+'.join(map(str, v)) if k == 'backtranslate' else v}" for k, v in self.steps) + \
            f" ×{self.copies}"

    def describe(self) -> dict[str, Any]:
        return {"steps": [[k, v] for k, v in self.steps], "copies": self.copies, "seed": self.seed,
                "synonyms": len(self.synonyms)}


def load_synonyms(path: str | Path) -> dict[str, list[str]]:
    """A synonym dictionary: one ``word<TAB>syn1,syn2,…`` a line (UTF-8); line-numbered errors."""
    from genlab.classify.data import read_lines

    table: dict[str, list[str]] = {}
    for number, line in read_lines(path, "--synonyms"):
        if not line.strip():
            continue
        word, tab, rest = line.partition("\t")
        options = [s.strip() for s in rest.split(",") if s.strip()]
        if not tab or not word.strip() or not options:
            raise GenlabError(f"{path}:{number}: expected `word<TAB>synonym1,synonym2`, got {line[:40]!r}")
        table[word.strip()] = options
    if not table:
        raise GenlabError(f"--synonyms {path} holds no entries")
    return table


#: augmented copies of each text at most: each copy is held in memory (and encoded) with the originals
MAX_COPIES = 100


def refuse_orphan_flags(specs: Sequence[str] | None, synonyms: str | None, copies: int | None) -> None:
    """``--synonyms`` and ``--augment-copies`` only shape ``--augment``: alone, they did nothing without a word."""
    if not specs and (synonyms or copies):
        flag = "--synonyms" if synonyms else "--augment-copies"
        raise GenlabError(f"{flag} shapes text augmentation, which is off; add --augment eda (or jamo, backtranslate)")


def from_flags(specs: Sequence[str], synonyms: str | None, copies: int | None, seed: int) -> TextAugment:
    """``--augment`` values (checked by ``genlab.cli.args.augment_spec``) → a :class:`TextAugment`."""
    if copies is not None and copies > MAX_COPIES:
        raise GenlabError(f"--augment-copies {copies}: at most {MAX_COPIES} augmented copies of each text (each is "
                          "kept in memory with the originals)")
    steps: list[tuple[str, Any]] = []
    for spec in specs:
        kind, _, value = spec.partition(":")
        if kind == "backtranslate":
            runs = [r for r in value.split("+") if r]
            for run in runs:
                if not (Path(run) / "config.json").is_file():
                    raise GenlabError(f"backtranslate: {run} has no trained model (config.json missing)")
            steps.append((kind, runs))
        else:
            steps.append((kind, float(value) if value else DEFAULT_STRENGTH[kind]))
    if synonyms and not any(k == "eda" for k, _ in steps):
        raise GenlabError("--synonyms is used by --augment eda; add --augment eda")
    return TextAugment(steps, seed=seed, copies=copies or 1, synonyms=load_synonyms(synonyms) if synonyms else {})
