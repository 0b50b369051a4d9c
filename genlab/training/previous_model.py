"""A fresh run over a trained one (``--overwrite``): the old model is set aside, not deleted, until the
new run has saved a checkpoint of its own.

Deleting the old weights up front lost them whenever the new run stopped before its first checkpoint
(a NaN at step 2, a refused batch, Ctrl-C, a crash): the user had asked to replace a model, not to be
left with none. Set-aside files live in ``RUN/.previous-model/`` and go back in place if the new run
fails first; once the new run saves, they are deleted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from genlab.training.metrics import METRICS_FILE, PLOT_FILE
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TRAIN_STATE

PREVIOUS_DIR = ".previous-model"
#: what a fresh run replaces (config.json is rewritten by the new run, so a copy of it is kept too)
MOVED = (LATEST_WEIGHTS, BEST_WEIGHTS, TRAIN_STATE, METRICS_FILE, PLOT_FILE)
WEIGHTS = (LATEST_WEIGHTS, BEST_WEIGHTS, TRAIN_STATE)


class PreviousModel:
    """The previous model's files of run directory ``path`` while a fresh run has not saved yet."""

    def __init__(self, path: Path) -> None:
        self.path, self.dir = Path(path), Path(path) / PREVIOUS_DIR
        self.kept = False

    def set_aside(self) -> None:
        """Move the old model out of the way (a run with no weights yet has only stale records to drop)."""
        present = [name for name in MOVED if (self.path / name).exists()]
        if not any(name in WEIGHTS for name in present):
            for name in present:
                (self.path / name).unlink(missing_ok=True)
            return
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()
        if (self.path / "config.json").is_file():
            shutil.copy2(self.path / "config.json", self.dir / "config.json")
        for name in present:
            os.replace(self.path / name, self.dir / name)
        self.kept = True

    def drop(self) -> None:
        """The new run has a checkpoint: the old model goes for good."""
        if self.kept:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.kept = False

    def restore(self) -> None:
        """The new run failed before saving: the old model (and its config.json) go back in place."""
        if not self.kept:
            return
        for name in MOVED:
            (self.path / name).unlink(missing_ok=True)  # the failed run's own records
        for item in self.dir.iterdir():
            os.replace(item, self.path / item.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.kept = False
