"""``genlab reward / score / dpo / rlhf / prefs`` and ``generate --format jsonl`` through the command line."""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

# the Korean answers use the base corpus's syllables: text the base cannot read is no preference to learn
GOOD = ["great movie", "love it", "so good", "best film", "wonderful", "반갑습니다", "인공지능"]
BAD = ["bad movie", "hate it", "so boring", "worst film", "awful", "안녕하세요", "생성형"]


def genlab(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GENLAB_VERBOSE"}
    return subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True, timeout=300,
                          env=env, input=stdin)


def ok(*args: str, stdin: str | None = None) -> str:
    proc = genlab(*args, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def prefs(tmp_path_factory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("prefs") / "prefs.jsonl"
    path.write_text("".join(json.dumps({"chosen": rng.choice(GOOD), "rejected": rng.choice(BAD)},
                                       ensure_ascii=False) + "\n" for _ in range(60)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reward_run(chat_base_run: Path, prefs: Path) -> Path:
    out = chat_base_run.parent / "rm"
    stdout = ok("reward", str(chat_base_run), "--data", str(prefs), "--out", str(out), "--max-steps", "60",
                "--eval-interval", "30", "--threads", "1", "--seed", "1", "--quiet")
    accuracy = float(re.search(r"pairwise accuracy ([\d.]+)%", stdout).group(1))
    assert accuracy == 100.0  # the held-out pairs are easy: every good review beats every bad one
    return out


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompts.txt"
    path.write_text("\nthe \n{\"prompt\": \"안녕\"}\n", encoding="utf-8")
    return path


def test_score_ranks_good_above_bad(reward_run: Path):
    scores = [float(x) for x in ok("score", str(reward_run), stdin="great movie\nawful\n").split()]
    assert len(scores) == 2 and scores[0] > scores[1]


def test_dpo_moves_the_policy_toward_the_chosen_answers(chat_base_run: Path, prefs: Path, tmp_path: Path):
    out = tmp_path / "dpo"
    stdout = ok("dpo", str(chat_base_run), "--data", str(prefs), "--out", str(out), "--beta", "0.1", "--max-steps",
                "30", "--lr", "3e-3", "--eval-interval", "15", "--threads", "1", "--quiet")
    assert "trained with DPO: 30 steps" in stdout
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert evals[-1]["reward_accuracy"] > 0.5 and evals[-1]["reward_margin"] > 0
    assert evals[-1]["val_loss"] < 0.6931  # below log 2, where it starts
    assert "val_perplexity" not in evals[-1]
    samples = [json.loads(line) for line in ok("generate", str(out), "--num", "3", "--max-tokens", "8", "--seed", "2",
                                                "--format", "jsonl").splitlines()]
    assert [s["index"] for s in samples] == [0, 1, 2] and all(isinstance(s["text"], str) for s in samples)
    assert all(1 <= s["tokens"] <= 8 and s["finish_reason"] in ("stop", "length") for s in samples)


def test_dpo_epochs_count_passes_over_the_pairs(chat_base_run: Path, prefs: Path, tmp_path: Path):
    """``--epochs 2`` is two passes over the training pairs (it once divided pairs by tokens: 1 step)."""
    out = tmp_path / "dpo-epochs"
    ok("dpo", str(chat_base_run), "--data", str(prefs), "--out", str(out), "--epochs", "2", "--batch-size", "8",
       "--eval-interval", "100", "--threads", "1", "--quiet")
    config = json.loads((out / "config.json").read_text())
    pairs = config["dpo"]["train_pairs"]
    assert config["runtime"]["planned_steps"] == -(-2 * pairs // 8) > 2
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == config["runtime"]["planned_steps"]
    # the learning rate decays over those steps, not the default plan's 500 (most of them at the floor)
    assert config["train"]["lr_decay_steps"] == config["runtime"]["planned_steps"]
    assert config["train"]["decay_over_run"] is False  # settled: a resume follows the saved decay
    ok("dpo", str(chat_base_run), "--data", str(prefs), "--out", str(out), "--resume", "--max-steps", "30",
       "--eval-interval", "100", "--threads", "1", "--quiet")
    resumed = json.loads((out / "config.json").read_text())["train"]
    assert resumed["lr_decay_steps"] == config["runtime"]["planned_steps"] and resumed["max_steps"] == 30


@pytest.mark.parametrize("algo", ["rloo", "ppo", "online-dpo"])
def test_rlhf_runs_logs_and_resumes_on_the_same_curve(chat_base_run: Path, reward_run: Path, prompts: Path,
                                                      tmp_path: Path, algo: str):
    common = ("--reward", str(reward_run), "--prompts", str(prompts), "--algo", algo, "--max-new-tokens", "6",
              "--batch-size", "2", "--samples", "3", "--eval-interval", "2", "--log-interval", "1", "--threads", "1",
              "--lr-decay-steps", "4", "--seed", "4", "--quiet")
    ok("rlhf", str(chat_base_run), "--out", str(tmp_path / "straight"), "--max-steps", "4", *common)
    ok("rlhf", str(chat_base_run), "--out", str(tmp_path / "resumed"), "--max-steps", "2", *common)
    ok("rlhf", str(chat_base_run), "--out", str(tmp_path / "resumed"), "--max-steps", "4", "--resume", *common)

    def records(run: str, kind: str) -> list[dict]:
        return [r for r in map(json.loads, (tmp_path / run / "metrics.jsonl").read_text().splitlines())
                if r["kind"] == kind]

    assert [r["loss"] for r in records("resumed", "train")] == \
        pytest.approx([r["loss"] for r in records("straight", "train")], abs=1e-6)
    last = records("straight", "eval")[-1]
    for key in ("reward", "kl", "entropy", "length", "distinct_2", "beta"):
        assert key in last and isinstance(last[key], float)
    assert 1 <= last["length"] <= 6


def test_rlhf_reward_clip_caps_the_scores_it_trains_on(chat_base_run: Path, reward_run: Path, prompts: Path,
                                                     tmp_path: Path):
    common = ("--reward", str(reward_run), "--prompts", str(prompts), "--max-new-tokens", "6", "--batch-size", "2",
              "--samples", "3", "--eval-interval", "2", "--threads", "1", "--seed", "4", "--quiet", "--max-steps", "2")
    ok("rlhf", str(chat_base_run), "--out", str(tmp_path / "clipped"), "--reward-clip", "1e-6", *common)
    ok("rlhf", str(chat_base_run), "--out", str(tmp_path / "raw"), *common)
    evals = {run: [r for r in map(json.loads, (tmp_path / run / "metrics.jsonl").read_text().splitlines())
                   if r["kind"] == "eval"][-1] for run in ("clipped", "raw")}
    assert evals["clipped"]["clipped"] == 1.0 and evals["raw"]["clipped"] == 0.0
    config = json.loads((tmp_path / "clipped" / "config.json").read_text())
    assert config["rlhf"]["reward_clip"] == 1e-6


def test_prefs_writes_pairs_dpo_can_read(chat_base_run: Path, reward_run: Path, prompts: Path, tmp_path: Path):
    out = tmp_path / "onpolicy.jsonl"
    stdout = ok("prefs", str(chat_base_run), "--reward", str(reward_run), "--prompts", str(prompts), "--out", str(out),
                "--samples", "4", "--max-new-tokens", "8", "--seed", "1")
    assert "preference pairs" in stdout
    from genlab.tuning.prefs_data import read_preferences

    pairs = read_preferences(out)
    assert pairs and all(p.chosen != p.rejected for p in pairs)


def test_bad_input_is_one_line_and_exit_2(chat_base_run: Path, reward_run: Path, prefs: Path, prompts: Path,
                                          tmp_path: Path):
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_bytes(b'{"chosen": "\xff", "rejected": "x"}\n')
    base, out = str(chat_base_run), str(tmp_path / "out")
    cases = [
        (("reward", base, "--data", str(tmp_path / "empty.jsonl"), "--out", out), "holds no preference pairs"),
        (("reward", base, "--data", str(tmp_path / "bad.jsonl"), "--out", out), r"bad\.jsonl:1: not valid UTF-8"),
        (("reward", base, "--data", str(tmp_path / "missing.jsonl"), "--out", out), "not found"),
        (("dpo", base, "--data", str(prefs), "--out", base), "--out must be a new directory"),
        (("dpo", base, "--data", str(prefs), "--out", out, "--beta", "nan"), "--beta: expected a finite number"),
        (("rlhf", base, "--reward", base, "--prompts", str(prompts), "--out", out),
         "genlab rlhf --reward needs a reward"),
        (("rlhf", base, "--reward", str(reward_run), "--prompts", str(tmp_path / "no.txt"), "--out", out), "not found"),
        (("rlhf", base, "--reward", str(reward_run), "--prompts", str(prompts), "--out", out, "--samples", "1"),
         "--samples must be ≥ 2"),
        (("score", base), "is not a reward model"),
        (("rlhf", base, "--reward", str(reward_run), "--prompts", str(tmp_path / "empty.jsonl"), "--out", out),
         "is empty; write one prompt per line"),
        (("prefs", base, "--reward", str(reward_run), "--prompts", str(tmp_path / "empty.jsonl"), "--out",
          str(tmp_path / "p.jsonl")), "is empty"),
        # the command run is the one named (these once said `genlab rlhf`)
        (("prefs", base, "--reward", base, "--prompts", str(prompts), "--out", str(tmp_path / "p.jsonl")),
         "genlab prefs --reward needs a reward"),
        (("prefs", str(reward_run), "--reward", str(reward_run), "--prompts", str(prompts), "--out",
          str(tmp_path / "p.jsonl")), "holds a reward model; genlab prefs needs a gpt"),
        (("reward", str(prefs), "--data", str(prefs), "--out", out), r"prefs\.jsonl is a file, not a run directory"),
        (("reward", base, "--data", str(tmp_path), "--out", out), "is a directory; pass a JSONL file"),
    ]
    for args, pattern in cases:
        proc = genlab(*args, stdin="x\n")
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and re.search(pattern, lines[0]), (args, lines)


def test_what_a_reward_model_or_unreadable_data_cannot_do_is_one_line(chat_base_run: Path, reward_run: Path,
                                                                      prompts: Path, tmp_path: Path):
    """Each of these once crashed, wrote nothing useful, or trained on nothing without a word."""
    base, rm = str(chat_base_run), str(reward_run)
    unreadable = tmp_path / "unreadable.jsonl"  # symbols the char base never saw: every answer is all <unk>
    unreadable.write_text("".join(json.dumps({"chosen": "ЖЖЖ", "rejected": "ЩЩЩ"}) + "\n" for _ in range(8)),
                          encoding="utf-8")
    copy = tmp_path / "prompts.txt"
    copy.write_text(prompts.read_text(encoding="utf-8"), encoding="utf-8")
    keep = tmp_path / "keep.jsonl"
    keep.write_text("kept\n", encoding="utf-8")
    cases = [
        (("generate", rm, "--max-tokens", "3"), "", "reward model: it scores answers"),
        (("chat", rm), "hi\n", "reward model: it scores answers"),
        (("serve", rm, "--port", "0"), "", "does not generate text"),
        (("score", rm), "good \udcff\n", "stdin line 1 is not valid UTF-8"),
        (("dpo", base, "--data", str(unreadable), "--out", str(tmp_path / "d")), "", "same tokens"),
        (("reward", base, "--data", str(unreadable), "--out", str(tmp_path / "r")), "", "same tokens"),
        (("prefs", base, "--reward", rm, "--prompts", str(copy), "--out", str(copy)), "", "is the --prompts file"),
        (("prefs", base, "--reward", rm, "--prompts", str(prompts), "--out", str(keep), "--temperature", "0"), "",
         "decodes greedily"),
    ]
    for args, stdin, pattern in cases:
        proc = subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, timeout=120,
                              input=stdin.encode("utf-8", "surrogateescape"))
        err = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == 2, (args, err)
        lines = [line for line in err.strip().splitlines() if line.startswith("genlab: error")]
        assert len(lines) == 1 and re.search(pattern, lines[0]), (args, err)
    assert keep.read_text(encoding="utf-8") == "kept\n" and copy.read_text(encoding="utf-8") == prompts.read_text(
        encoding="utf-8")


def test_commands_a_reward_model_cannot_serve_name_what_it_is_and_genlab_score(reward_run: Path, tmp_path: Path,
                                                                                 capsys, monkeypatch):
    from genlab.cli import main

    rm = str(reward_run)
    cases = [
        (("generate", rm, "--prompt", "the"), r"holds a reward model: it scores answers but does not generate text; "
         r"use `genlab score "),
        (("chat", rm), r"holds a reward model: .*use `genlab score "),
        (("translate", rm), r"holds a reward model, not an encoder-decoder: use `genlab score "),
        (("fill", rm, "the <mask>"), r"holds a reward model, not a BERT; .*`genlab prepare --corpus FILE"),
        (("export", rm, "--format", "hf", "--out", str(tmp_path / "hf")),
         r"supports only GPT runs .* but .* holds a reward model: .*export a gpt run"),
        (("classify", "predict", rm, "-"), r"holds a reward model, not a classifier; a classifier starts from a bert, "
         r"gpt, rnn, lstm or gru run .*e\.g\. .*base, the gpt run .* was made from"),
    ]
    capsys.readouterr()
    for args, pattern in cases:
        monkeypatch.setattr(sys, "stdin", io.StringIO("great movie\n"))
        assert main(list(args)) == 2, args
        out, err = capsys.readouterr()
        assert out == "" and sys.stdin.read() == "great movie\n", (args, out)  # refused before reading or printing
        lines = err.strip().splitlines()
        assert len(lines) == 1 and re.search(pattern, lines[0]), (args, lines)


def test_a_reward_model_on_the_policys_base_is_refused_for_the_real_reason(chat_base_run: Path, chat_data: Path,
                                                                           reward_run: Path, prefs: Path,
                                                                           prompts: Path, tmp_path: Path, capsys):
    """The chat fine-tune grew its base's tokenizer: the reward model, trained on that very base, reads
    other ids. The message once said to train the reward model on the policy's base run, which it was."""
    from genlab.cli import main

    chat = tmp_path / "chat"
    common = ("--max-steps", "1", "--batch-size", "2", "--threads", "1", "--quiet")
    assert main(["finetune", str(chat_base_run), "--data", str(chat_data), "--out", str(chat), *common]) == 0
    capsys.readouterr()
    assert main(["rlhf", str(chat), "--reward", str(reward_run), "--prompts", str(prompts), "--out",
                 str(tmp_path / "rl")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "base run" not in err
    assert re.search(rf"read different tokenizers .*: {re.escape(str(chat))} started from "
                     rf"{re.escape(str(chat_base_run))}, whose tokenizer the reward model reads, and added tokens .*"
                     rf"train the reward model on {re.escape(str(chat))} itself \(`genlab reward ", err), err
    chat_rm = tmp_path / "chat-rm"  # the advice, taken: now the reward model reads the chat run's tokens
    assert main(["reward", str(chat), "--data", str(prefs), "--out", str(chat_rm), *common]) == 0
    capsys.readouterr()
    assert main(["prefs", str(chat_base_run), "--reward", str(chat_rm), "--prompts", str(prompts), "--out",
                 str(tmp_path / "p.jsonl")]) == 2  # the other way round: the policy is the base
    assert re.search(rf"the reward model was trained on {re.escape(str(chat))}, which started from .*use "
                     rf"{re.escape(str(chat))} as the policy", capsys.readouterr().err)


def test_rlhf_on_a_single_prompt_says_it_is_both_trained_on_and_scored(chat_base_run: Path, reward_run: Path,
                                                                       tmp_path: Path, capsys):
    from genlab.cli import main

    one = tmp_path / "one.txt"
    one.write_text("the \n", encoding="utf-8")
    assert main(["rlhf", str(chat_base_run), "--reward", str(reward_run), "--prompts", str(one), "--out",
                 str(tmp_path / "rl"), "--max-steps", "1", "--samples", "2", "--max-new-tokens", "3", "--batch-size",
                 "1", "--threads", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 prompt, both trained on and scored as the held-out check (give 2 or more prompts" in out
    assert "held out;" not in out  # once: "1 training prompts, 1 held out", the same prompt in both
