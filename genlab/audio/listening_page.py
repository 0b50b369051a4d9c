"""A page to listen to generated clips beside real ones: ``index.html`` in ``genlab audio sample``'s folder.

Numbers say how far a generator is from speech; only listening says what it sounds like. The page
puts each WAV file in an ``<audio>`` player, with the word it was asked for (a conditional run), the
word the evaluation's judge hears in it and how sure the judge is, and its level, and below them a
few real held-out clips to compare by ear. It links the files by relative paths, so the folder can
be moved or zipped, and needs no server: open it in a browser.

The judge is the one cached in the run (training picks its best checkpoint with it, and ``genlab
audio eval`` makes it where it is missing); sampling never trains one, so where there is none the
page says how to add the column instead.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.audio.classifier import AudioJudge
from genlab.audio.metrics import rms_dbfs
from genlab.checkpoint import write_text

PAGE = "index.html"


@dataclass
class ClipRow:
    """One player on the page."""

    file: str  # relative to the page
    level_dbfs: float
    word: str | None = None  # the word asked for (generated) or said (real); None: not known
    heard: str | None = None  # the judge's most likely word
    heard_prob: float | None = None


def clip_rows(clips: torch.Tensor, files: list[str], judge: AudioJudge | None, classes: list[str],
              words: list[str | None] | None = None) -> list[ClipRow]:
    """Rows for ``clips [N, 1, T]`` saved as ``files``: level, and what the judge hears where it can tell words."""
    levels = rms_dbfs(clips)
    probs = judge.probs(clips) if judge is not None else None  # None too for a judge of unlabelled clips
    rows = []
    for i, file in enumerate(files):
        row = ClipRow(file=file, level_dbfs=float(levels[i]), word=words[i] if words else None)
        if probs is not None:
            best = int(np.argmax(probs[i]))
            row.heard, row.heard_prob = classes[best], float(probs[i, best])
        rows.append(row)
    return rows


def real_examples(labels: np.ndarray | None, count: int, k: int) -> np.ndarray:
    """Indices of ``k`` held-out clips to play: the words in turn where clips have words, else the first ``k``."""
    if labels is None:
        return np.arange(min(k, count))
    queues = [list(np.flatnonzero(labels == w)) for w in np.unique(labels)]
    pick: list[int] = []
    while len(pick) < min(k, count):
        for queue in queues:
            if queue and len(pick) < k:
                pick.append(int(queue.pop(0)))
    return np.array(pick, dtype=np.int64)


def _table(rows: list[ClipRow], word_header: str) -> str:
    show_word = any(r.word is not None for r in rows)
    show_heard = any(r.heard is not None for r in rows)
    head = ["#", "clip"] + ([word_header] if show_word else []) + (["judge hears"] if show_heard else []) + ["level"]
    lines = ["<table>", "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for i, r in enumerate(rows):
        cells = [str(i), f'<audio controls preload="metadata" src="{html.escape(r.file)}"></audio>'
                         f' <a href="{html.escape(r.file)}">{html.escape(r.file)}</a>']
        if show_word:
            cells.append(html.escape(r.word) if r.word is not None else "—")
        if show_heard:
            agrees = r.word is not None and r.heard == r.word
            mark = ' class="agrees"' if agrees else ""
            cells.append(f"<span{mark}>{html.escape(r.heard or '—')}</span> ({r.heard_prob:.0%})"
                         if r.heard is not None else "—")
        cells.append(f"{r.level_dbfs:.1f} dBFS")
        lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


STYLE = """body { font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: middle; }
audio { height: 2em; vertical-align: middle; }
.agrees { color: #1a7f37; font-weight: 600; }
img { max-width: 100%; }
.note { color: #555; }"""


def write_listening_page(out: Path, title: str, generated: list[ClipRow], real: list[ClipRow],
                         judge: AudioJudge | None, run: str, spectrograms: str | None = "spectrograms.png") -> Path:
    """Write ``out/index.html`` (atomically) and return its path."""
    if judge is None:
        note = (f"Run <code>genlab audio eval {html.escape(run)}</code> once, then sample again, "
                "to see which word the evaluation's judge hears in each clip.")
    elif judge.net is None:
        note = "These clips carry no words (no sub-folders), so the judge cannot name what it hears."
    else:
        note = (f"The judge is the evaluation's small word classifier, trained on the real clips (test accuracy "
                f"{judge.accuracy:.1%}); green: it hears the word that was asked for.")
    parts = ["<!doctype html>", '<html lang="en">', '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>\n{STYLE}\n</style>",
             f"<h1>{html.escape(title)}</h1>", f'<p class="note">{note}</p>']
    if spectrograms:
        parts.append(f'<img src="{html.escape(spectrograms)}" alt="log-mel spectrograms of the generated clips">')
    parts += ["<h2>Generated</h2>", _table(generated, "asked for")]
    if real:
        parts += ["<h2>Real held-out clips</h2>", _table(real, "word")]
    path = Path(out) / PAGE
    write_text(path, "\n".join(parts) + "\n")
    return path
