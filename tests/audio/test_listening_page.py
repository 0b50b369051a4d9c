"""The listening page ``genlab audio sample`` writes: what it lists, what it escapes, and that a browser plays it."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch

from genlab.audio.classifier import AudioJudge, WordClassifier
from genlab.audio.listening_page import clip_rows, real_examples, write_listening_page

from .conftest import genlab


def test_real_examples_take_the_words_in_turn():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert real_examples(labels, 6, 4).tolist() == [0, 3, 5, 1]
    assert real_examples(labels, 6, 10).tolist() == [0, 3, 5, 1, 4, 2]  # no more than there are
    assert real_examples(None, 5, 3).tolist() == [0, 1, 2]
    assert real_examples(None, 2, 3).tolist() == [0, 1]


def _judge(classes: int) -> AudioJudge:
    torch.manual_seed(0)
    return AudioJudge("classifier", 0.9, 8000, net=WordClassifier(classes).eval())


def test_rows_name_what_the_judge_hears_and_the_level():
    clips = torch.zeros(2, 1, 8000)
    clips[1, 0] = 0.5 * torch.sin(torch.arange(8000) * 0.3)
    judge = _judge(3)
    rows = clip_rows(clips, ["a.wav", "b.wav"], judge, ["x", "y", "z"], ["x", None])
    probs = judge.probs(clips)
    for row, p in zip(rows, probs):
        assert row.heard == ["x", "y", "z"][int(p.argmax())]
        assert row.heard_prob == pytest.approx(float(p.max()))
    assert rows[0].word == "x" and rows[1].word is None
    assert rows[1].level_dbfs == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)
    assert rows[0].level_dbfs < -150  # silence
    # no judge, or one of unlabelled clips (PCA features, no words): no word heard
    assert [r.heard for r in clip_rows(clips, ["a.wav", "b.wav"], None, [])] == [None, None]
    pca = AudioJudge("pca", None, 8000, mean=np.zeros(1), components=np.zeros((1, 1)))
    assert clip_rows(clips, ["a.wav", "b.wav"], pca, [])[0].heard is None


def test_the_page_escapes_names_and_says_how_to_get_the_judge(tmp_path):
    clips = torch.zeros(1, 1, 8000)
    rows = clip_rows(clips, ["<b>.wav"], None, [], ["<script>alert(1)</script>"])
    page = write_listening_page(tmp_path, "t <i>", rows, [], None, "runs/a&b").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<title>t &lt;i&gt;</title>" in page
    assert 'src="&lt;b&gt;.wav"' in page
    assert "genlab audio eval runs/a&amp;b" in page
    assert "<th>judge hears</th>" not in page and "Real held-out" not in page


def test_sample_writes_a_page_that_lists_every_clip_and_real_ones(tmp_path, trained_run):
    out = genlab("audio", "sample", str(trained_run), "--num", "4", "--out", str(tmp_path / "c"), "--seed", "1")
    assert out.returncode == 0, out.stderr
    assert "index.html" in out.stdout
    page = (tmp_path / "c" / "index.html").read_text(encoding="utf-8")
    generated = re.findall(r'<audio controls preload="metadata" src="(\d+\.wav)">', page)
    real = re.findall(r'<audio controls preload="metadata" src="(real/\d+\.wav)">', page)
    assert generated == ["000.wav", "001.wav", "002.wav", "003.wav"]
    assert real == ["real/000.wav", "real/001.wav", "real/002.wav", "real/003.wav"]
    for file in generated + real:
        assert (tmp_path / "c" / file).read_bytes()[:4] == b"RIFF"
    # the real clips take the words in turn; training cached the judge, so the page says what it hears
    assert re.findall(r"<td>(tone\d)</td>", page) == ["tone0", "tone1", "tone2", "tone0"]
    assert page.count("<th>judge hears</th>") == 2  # the generated table and the real one
    assert len(re.findall(r"\((\d+)%\)", page)) == 8
    assert sorted(p.name for p in (tmp_path / "c").glob("*.wav")) == generated  # real clips stay in real/


def test_without_a_cached_judge_the_page_says_how_to_get_one(tmp_path, trained_run):
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    for file in run.glob("classifier.*"):
        file.unlink()
    sample = ("audio", "sample", str(run), "--num", "2", "--out", str(tmp_path / "d"), "--seed", "1")
    assert genlab(*sample).returncode == 0
    page = (tmp_path / "d" / "index.html").read_text(encoding="utf-8")
    assert f"genlab audio eval {run}" in page and "<th>judge hears</th>" not in page
    assert not list(run.glob("classifier.*"))  # sampling never trains a judge
    assert genlab("audio", "eval", str(run)).returncode == 0
    assert genlab(*sample).returncode == 0
    assert (tmp_path / "d" / "index.html").read_text(encoding="utf-8").count("<th>judge hears</th>") == 2


def test_a_browser_loads_and_plays_every_clip(tmp_path, trained_run, browser):
    out = genlab("audio", "sample", str(trained_run), "--num", "2", "--out", str(tmp_path / "e"), "--seed", "1")
    assert out.returncode == 0, out.stderr
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((tmp_path / "e" / "index.html").as_uri())
    durations = page.eval_on_selector_all("audio", """els => Promise.all(els.map(a => new Promise((ok, fail) => {
        if (a.readyState >= 1) return ok(a.duration);
        a.addEventListener('loadedmetadata', () => ok(a.duration));
        a.addEventListener('error', () => fail(new Error('cannot decode ' + a.src)));
        a.load();
    })))""")
    assert len(durations) == 4 and all(d == pytest.approx(1.0, abs=0.01) for d in durations)
    played = page.eval_on_selector("audio", """a => new Promise((ok, fail) => {
        a.muted = true;
        a.addEventListener('timeupdate', () => { if (a.currentTime > 0) ok(a.currentTime); });
        a.play().catch(fail);
    })""")
    assert played > 0
    assert errors == []
    page.close()
