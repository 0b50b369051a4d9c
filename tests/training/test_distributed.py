"""Data-parallel training under torchrun: the same command gives the same optimisation for any K.

The CI check starts a real ``torchrun --nproc-per-node 2`` job (gloo on loopback, CPU) and compares
its loss curve step by step with a single process given the same global batch and seed; the job's
checkpoint is then resumed by a single process, which must continue the very same curve.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from genlab.cli import main
from genlab.errors import GenlabError
from genlab.tokens import PrepareConfig, prepare
from genlab.training.distributed import Ranks, from_environment, micro_slices, rank_rows

#: an odd global batch: the two ranks get 3 and 2 rows, so uneven shares are covered too
FLAGS = ["--model", "gpt", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
         "--batch-size", "5", "--lr", "3e-3", "--warmup-steps", "2", "--lr-decay-steps", "8",
         "--eval-interval", "4", "--eval-batches", "3", "--log-interval", "1", "--threads", "1",
         "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(1)
    words = ["spring", "rain", "falls", "on", "the", "old", "roof", "and", "봄비", "가", "내린다"]
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 8))) + "." for _ in range(600)]
    (root / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    prepare(PrepareConfig(corpus=str(root / "text.txt"), out=str(root / "base"), unit="line",
                          split=(0.8, 0.1, 0.1)), progress=False)
    return root / "base"


def copy_run(prepared, dest):
    shutil.copytree(prepared, dest)
    return dest


def curve(run) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """Per-step train loss and gradient norm, and per-evaluation val loss, from metrics.jsonl."""
    train, norm, val = {}, {}, {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "train":
            train[record["step"]], norm[record["step"]] = record["loss"], record["grad_norm"]
        else:
            val[record["step"]] = record["val_loss"]
    return train, norm, val


def torchrun(args: list[str], nproc: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only: CI machines need no network
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "genlab", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)


def test_two_processes_follow_the_single_process_curve_and_resume_with_another_count(prepared, tmp_path):
    single = copy_run(prepared, tmp_path / "single")
    assert main(["train", str(single), *FLAGS, "--max-steps", "8"]) == 0

    ddp = copy_run(prepared, tmp_path / "ddp")
    done = torchrun(["train", str(ddp), *FLAGS, "--max-steps", "4"], nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained gpt") == 1  # rank 0 reports (and writes the files)
    config = json.loads((ddp / "config.json").read_text())
    assert config["train"]["batch_size"] == 5

    # resume the 2-process checkpoint with 1 process (a different K), then with 2 processes again
    assert main(["train", str(ddp), *FLAGS, "--max-steps", "6", "--resume"]) == 0
    done = torchrun(["train", str(ddp), *FLAGS, "--max-steps", "8", "--resume"], nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]

    train_1, norm_1, val_1 = curve(single)
    train_k, norm_k, val_k = curve(ddp)
    assert sorted(train_1) == sorted(train_k) == list(range(1, 9))
    for step in train_1:
        assert train_k[step] == pytest.approx(train_1[step], abs=1e-4), step
        # the gradient itself, not only the loss (AdamW would hide a gradient off by a constant factor)
        assert norm_k[step] == pytest.approx(norm_1[step], rel=1e-4), step
    assert sorted(val_1) == [4, 8] and sorted(val_k) == [4, 6, 8]  # a run that stops also evaluates
    for step in val_1:
        assert val_k[step] == pytest.approx(val_1[step], abs=1e-4), step
    assert train_1[8] < train_1[1]  # it did learn: equal curves are not two flat lines


def test_rows_split_the_global_batch_exactly_once():
    for batch, world in [(5, 2), (12, 4), (7, 3), (3, 3)]:
        shares = [rank_rows(batch, Ranks(r, world, r)) for r in range(world)]
        covered = [i for s in shares for i in range(batch)[s]]
        assert covered == list(range(batch))
        sizes = [len(range(batch)[s]) for s in shares]
        assert max(sizes) - min(sizes) <= 1
    assert [(s.start, s.stop) for s in micro_slices(5, 2)] == [(0, 2), (2, 4), (4, 5)]


def test_a_batch_smaller_than_the_job_is_a_clear_error():
    with pytest.raises(GenlabError, match="--batch-size 1 is smaller than the 2 processes"):
        rank_rows(1, Ranks(0, 2, 0))


def test_bad_torchrun_variables_are_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(GenlabError, match="not a valid place"):
        from_environment()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(GenlabError, match="not integers"):
        from_environment()
