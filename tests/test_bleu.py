"""BLEU, chrF and exact match: agreement with sacrebleu itself, edge cases, and `genlab eval --hyp/--ref`."""

from __future__ import annotations

import json
import re

import pytest
import sacrebleu

from genlab.bleu import reference_streams, score
from genlab.cli import main
from genlab.errors import GenlabError

REFS = ["the cat sat on the mat", "a dog barked at the mailman", "오늘 날씨가 좋다", "it is raining again today",
        "we will meet at noon tomorrow"]
HYPS = ["the cat sat on a mat", "the dog barked at a mailman", "오늘 날씨 좋다", "it is raining today",
        "we will meet at noon tomorrow"]
SECOND = ["there is a cat on the mat", "a dog was barking at the postman", "오늘은 날씨가 좋네", None, None]


def test_references_against_themselves_score_100():
    report = score(REFS, [[r] for r in REFS])
    assert report.bleu == pytest.approx(100.0) and report.chrf == pytest.approx(100.0)
    assert report.exact_match == 1.0 and report.worst == []


def test_empty_hypotheses_score_0():
    report = score([""] * len(REFS), [[r] for r in REFS])
    assert report.bleu == 0.0 and report.chrf == 0.0 and report.exact_match == 0.0


def test_scores_equal_direct_sacrebleu_calls_with_one_and_several_references():
    one = score(HYPS, [[r] for r in REFS])
    assert one.bleu == sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert one.chrf == sacrebleu.corpus_chrf(HYPS, [REFS]).score
    assert 0 < one.bleu < 100 and one.exact_match == pytest.approx(1 / 5)
    several = score(HYPS, [[r] + ([s] if s else []) for r, s in zip(REFS, SECOND)])
    assert several.bleu == sacrebleu.corpus_bleu(HYPS, [REFS, SECOND]).score
    assert several.chrf == sacrebleu.corpus_chrf(HYPS, [REFS, SECOND]).score
    assert several.bleu_signature.startswith("nrefs:var") and one.bleu_signature.startswith("nrefs:1|")
    assert "version:" + sacrebleu.__version__ in one.bleu_signature


def test_exact_match_accepts_any_reference_and_worst_examples_are_ranked():
    refs = [["yes", "oui"], ["no"], ["maybe"], ["never"]]
    report = score(["oui", "no", "perhaps", "nevermore"], refs, sources=["s1", "s2", "s3", "s4"], worst=2)
    assert report.matched == 2 and report.exact_match == 0.5
    assert [w[1] for w in report.worst] == ["s3", "s4"]  # "perhaps" shares fewer character n-grams than "nevermore"
    assert report.worst[0][0] <= report.worst[1][0]


def test_reference_streams_pad_with_none_and_refuse_missing_references():
    assert reference_streams([["a"], ["b", "c"]]) == [["a", "b"], [None, "c"]]
    with pytest.raises(GenlabError, match="at least one reference"):
        reference_streams([["a"], []])
    with pytest.raises(GenlabError, match="align"):
        score(["a"], [["a"], ["b"]])


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_cli_scores_files_like_sacrebleu(tmp_path, capsys):
    hyp, ref = _write(tmp_path / "hyp.txt", HYPS), _write(tmp_path / "ref.txt", REFS)
    assert main(["eval", "--hyp", hyp, "--ref", ref]) == 0
    out = capsys.readouterr().out
    bleu = float(re.search(r"BLEU ([0-9.]+)", out).group(1))
    assert bleu == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=0.005)
    assert re.search(r"exact match 20\.00% \(1/5\)", out) and "chrF" in out and "signature nrefs:1" in out
    assert main(["eval", "--hyp", hyp, "--ref", ref, "--ref", ref, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bleu"] == pytest.approx(bleu, abs=0.005) and data["sentences"] == 5


def test_cli_refuses_misaligned_or_missing_files(tmp_path, capsys):
    hyp, short = _write(tmp_path / "hyp.txt", HYPS), _write(tmp_path / "short.txt", REFS[:3])
    assert main(["eval", "--hyp", hyp, "--ref", short]) == 2
    assert "5 lines" in capsys.readouterr().err
    assert main(["eval", "--hyp", hyp]) == 2
    assert "--ref" in capsys.readouterr().err
    assert main(["eval", "--hyp", str(tmp_path / "missing.txt"), "--ref", short]) == 2
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe broken\n")
    assert main(["eval", "--hyp", str(tmp_path / "bad.txt"), "--ref", short]) == 2
    assert "UTF-8" in capsys.readouterr().err
