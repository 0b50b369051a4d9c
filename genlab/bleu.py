"""Course step 5 for translation: BLEU (이중 언어 평가 연구 점수), chrF and exact match.

BLEU compares n-grams of each output with one or more reference translations; the numbers come from
``sacrebleu`` (the field's reference implementation), printed with its *signature* string, which
records every setting (tokenizer, smoothing, number of references, version) needed to reproduce
them. chrF does the same on character n-grams, which suits Korean, where a word carries its
particles. Exact match — the share of outputs equal to a reference — is the natural measure for the
built-in tasks, whose answers are exact.

``genlab eval RUN --bleu [--beam K] [--split S]`` translates a held-out split of a run (a source with
several translations is one item with several references); ``genlab eval --hyp FILE --ref FILE``
scores any system's output, one sentence per line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

WORST_EXAMPLES = 3


@dataclass
class BleuReport:
    bleu: float
    chrf: float
    exact_match: float
    matched: int
    sentences: int
    bleu_signature: str
    chrf_signature: str
    #: BLEU's 1- to 4-gram precisions, brevity penalty and length ratio
    precisions: list[float]
    brevity_penalty: float
    ratio: float
    #: (sentence chrF, source, hypothesis, references) of the lowest-scoring outputs
    worst: list[tuple[float, str, str, list[str]]] = field(default_factory=list)

    def lines(self, label: str) -> list[str]:
        p = "/".join(f"{x:.1f}" for x in self.precisions)
        out = [
            f"{label}: BLEU {self.bleu:.2f} ({p}, BP {self.brevity_penalty:.3f}, ratio {self.ratio:.3f}) "
            f"· signature {self.bleu_signature}",
            f"{label}: chrF {self.chrf:.2f} · signature {self.chrf_signature}",
            f"{label}: exact match {self.exact_match:.2%} ({self.matched:,}/{self.sentences:,})",
        ]
        if self.worst:
            out.append(f"{label}: worst examples (lowest sentence chrF):")
            for score, src, hyp, refs in self.worst:
                out.append(f"  chrF {score:5.1f} | src: {src}" if src else f"  chrF {score:5.1f}")
                out.append(f"             | hyp: {hyp}")
                out.append(f"             | ref: {' ‖ '.join(refs)}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"bleu": self.bleu, "chrf": self.chrf, "exact_match": self.exact_match, "matched": self.matched,
                "sentences": self.sentences, "bleu_signature": self.bleu_signature,
                "chrf_signature": self.chrf_signature, "precisions": self.precisions,
                "brevity_penalty": self.brevity_penalty, "ratio": self.ratio,
                "worst": [{"chrf": s, "source": src, "hypothesis": h, "references": r} for s, src, h, r in self.worst]}


def reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """Per-sentence reference lists → sacrebleu's streams (stream k = every sentence's k-th reference).

    Sentences with fewer references are padded with ``None``, which sacrebleu skips.
    """
    width = max((len(r) for r in references), default=0)
    if any(len(r) == 0 for r in references):
        raise GenlabError("every sentence needs at least one reference")
    return [[r[k] if k < len(r) else None for r in references] for k in range(width)]


def score(hypotheses: Sequence[str], references: Sequence[Sequence[str]], sources: Sequence[str] | None = None,
          worst: int = WORST_EXAMPLES) -> BleuReport:
    """Corpus BLEU and chrF (sacrebleu defaults), exact match, and the ``worst`` lowest-chrF sentences."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise GenlabError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets; they must align")
    if not hypotheses:
        raise GenlabError("nothing to score: no sentences")
    streams = reference_streams(references)
    bleu_metric, chrf_metric = BLEU(), CHRF()
    bleu = bleu_metric.corpus_score(list(hypotheses), streams)
    chrf = chrf_metric.corpus_score(list(hypotheses), streams)
    matched = sum(h in refs for h, refs in zip(hypotheses, references))
    misses = []
    for i, (h, refs) in enumerate(zip(hypotheses, references)):
        if h not in refs and len(misses) < 10_000:
            misses.append((chrf_metric.sentence_score(h, list(refs)).score, i))
    misses.sort()
    shown = [(s, sources[i] if sources is not None else "", hypotheses[i], list(references[i]))
             for s, i in misses[:worst]]
    return BleuReport(bleu=bleu.score, chrf=chrf.score, exact_match=matched / len(hypotheses), matched=matched,
                      sentences=len(hypotheses), bleu_signature=str(bleu_metric.get_signature()),
                      chrf_signature=str(chrf_metric.get_signature()), precisions=list(bleu.precisions),
                      brevity_penalty=bleu.bp, ratio=bleu.ratio, worst=shown)


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 file (empty lines kept: an empty hypothesis is still an answer)."""
    from genlab.corpus import iter_text_chunks

    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path} not found")
    text = "".join(iter_text_chunks(path))
    if not text:
        raise GenlabError(f"{path} is empty; expected one sentence per line")
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def _print(report: BleuReport, label: str, as_json: bool, extra: dict[str, Any]) -> None:
    if as_json:
        print(json.dumps({"split": label, **extra, **report.as_dict()}, ensure_ascii=False))
        return
    for line in report.lines(label):
        print(line)


def _score_files(args: argparse.Namespace) -> int:
    if not args.ref:
        raise GenlabError("--hyp needs at least one --ref FILE (repeat --ref for several references)")
    hyps = read_lines(args.hyp)
    ref_files = [read_lines(r) for r in args.ref]
    for name, lines in zip(args.ref, ref_files):
        if len(lines) != len(hyps):
            raise GenlabError(f"{args.hyp} has {len(hyps):,} lines but {name} has {len(lines):,}; "
                              "hypotheses and references must align line by line")
    references = [list(refs) for refs in zip(*ref_files)]
    _print(score(hyps, references), Path(args.hyp).name, args.json, {"references": list(args.ref)})
    return 0


def eval_cli(args: argparse.Namespace) -> int:
    """``genlab eval RUN --bleu [--beam K] [--split S]`` or ``genlab eval --hyp FILE --ref FILE``."""
    if getattr(args, "hyp", None):
        return _score_files(args)
    if not args.run:
        raise GenlabError("genlab eval --bleu needs a run directory (or --hyp FILE --ref FILE)")
    from genlab.beam import translate_texts
    from genlab.devices import resolve_device
    from genlab.models import load_model
    from genlab.pairs import PairStore

    device = resolve_device(args.device)
    model, target_tokenizer, _ = load_model(args.run, device=device, which=args.which)
    if not getattr(model, "is_seq2seq", False):
        raise GenlabError(f"{args.run} holds a language model: BLEU needs an encoder-decoder "
                          f"(use `genlab eval {args.run}` for perplexity)")
    store = PairStore(args.run)
    beam = getattr(args, "beam", 1) or 1
    for split in [args.split] if args.split else ["test"]:
        sources, references = store.references(split)
        if not sources:
            raise GenlabError(f"split {split} of {args.run} has no pairs; choose another --split")
        hyps = translate_texts(model, store.source_tokenizer, target_tokenizer, sources, beam_size=beam,
                               device=device, progress=not args.quiet)
        _print(score(hyps, references, sources), split, args.json, {"beam": beam})
    return 0
