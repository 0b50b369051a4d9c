"""The training record: ``metrics.jsonl`` (one JSON object per line) and ``loss.png`` drawn from it.

Lines are ``{"kind": "train", "step", "time", "tokens", "loss", "lr", "grad_norm", "clip_rate",
"tokens_per_s"}`` every ``log_interval`` steps (``tokens`` in the unit the task's loss averages over:
tokens, or its ``count_unit``, e.g. texts for a classifier, pairs for DPO) and ``{"kind": "eval",
"step", "time", "val_loss", "val_perplexity", ...}`` at each evaluation; ``time`` is training wall
time in seconds, across resumes. On resume, lines past the checkpoint's step are dropped, so the
file tells one story.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genlab.checkpoint import write_text

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"


class MetricsLog:
    """Appends records to ``RUN/metrics.jsonl`` and keeps them in memory for the plot."""

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.plot_path = Path(run_dir) / PLOT_FILE
        self.records: list[dict[str, Any]] = []
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if isinstance(record, dict) and record.get("step", 0) <= resume_step:
                    self.records.append(record)
        write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))
        self._fh = open(self.path, "a", encoding="utf-8")
        self._child: Any = None  # the process drawing loss.png, if one was started

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
        if self._child is not None:
            self._child.wait()

    def plot(self, wait: bool = True) -> None:
        """Draw train and val loss against step and against wall time into ``loss.png``.

        The drawing happens in a child process: matplotlib costs the training process ~35 MB of peak
        memory otherwise, which is about what separates genlab's peak RSS from nanoGPT's
        (benchmarks/shakespeare_char.py). ``wait=False`` (plots during training) does not block a step;
        a plot still being drawn is not started again.
        """
        if self._child is not None and self._child.poll() is None:
            if not wait:
                return
            self._child.wait()
        import subprocess
        import sys

        if not self._fh.closed:
            self._fh.flush()
        self._child = subprocess.Popen([sys.executable, "-m", "genlab.training.metrics", str(self.path),
                                        str(self.plot_path)], stdin=subprocess.DEVNULL)
        if wait and self._child.wait() != 0:
            raise RuntimeError(f"drawing {self.plot_path} failed (exit {self._child.returncode})")


def plot_losses(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genlab.checkpoint import atomic_write

    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval" and r.get("val_loss") is not None]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, key, label in ((axes[0], "step", "optimizer step"), (axes[1], "time", "wall time (s)")):
        if train:
            ax.plot([r[key] for r in train], [r["loss"] for r in train], label="train", lw=1)
        if evals:
            ax.plot([r[key] for r in evals], [r["val_loss"] for r in evals], "o-", label="val", ms=3)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-entropy (nats/token)")
    if train or evals:  # a run stopped before its first record has no curve to name
        axes[0].legend()
    fig.suptitle("training loss")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``; a line cut short (a crash mid-write) is skipped."""
    out = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


if __name__ == "__main__":  # python -m genlab.training.metrics METRICS_JSONL PNG (MetricsLog.plot's child)
    import sys

    plot_losses(read_records(Path(sys.argv[1])), Path(sys.argv[2]))
