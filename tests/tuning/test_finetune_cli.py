"""``genlab finetune`` through the real command line: a chat run that answers, resume, LoRA, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genlab.cli import main as genlab_main
from genlab.models import load_model
from genlab.tokenizers.base import TEMPLATE_TOKENS
from genlab.tuning.chat_data import Conversation
from genlab.tuning.template import Message

PING = {"messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]}


def cli(*argv: str) -> None:
    assert genlab_main(list(argv)) == 0, f"genlab {' '.join(argv)} failed"


def genlab(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GENLAB_VERBOSE"}
    return subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd, input=stdin)


def assert_user_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genlab: error: "), proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_the_chat_run_records_its_lineage_and_answers(chat_run, chat_base_run, chat_data):
    config = json.loads((chat_run / "config.json").read_text())
    assert config["chat_template"] == "genlab-chat-v1"
    assert config["init_from"]["run"] == str(chat_base_run) and config["init_from"]["weights"] == "base"
    assert config["finetune"]["train_conversations"] + config["finetune"]["val_conversations"] == 20
    model, tok, _ = load_model(chat_run)
    assert [tok.special_id(t) for t in TEMPLATE_TOKENS] == list(range(tok.vocab_size - 6, tok.vocab_size))
    proc = genlab("eval", str(chat_run), "--data", str(chat_data), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("exact match 100.0% (20/20)")
    assert re.search(r"math\s+100\.0%", proc.stdout)
    proc = genlab("chat", str(chat_run), "--temperature", "0", stdin="ping\n안녕\n/exit\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["model> pong", "model> 반가워요"]


def test_the_base_model_is_untouched_and_old_logits_survive_the_growth(chat_run, chat_base_run):
    """The fine-tuned run's first weights are the base's: step 0 of a fresh fine-tune keeps old-id logits."""
    from genlab.tuning.finetune import base_run, grown_tokenizer, model_builder

    config, base_tok = base_run(chat_base_run)
    base_model, _, _ = load_model(chat_base_run)
    tok, missing = grown_tokenizer(base_tok, [Conversation([Message("user", "qz"), Message("assistant", "가")])])
    assert set(missing) == {"q", "z", "가"}
    grown = model_builder(chat_base_run, config, base_tok.token_strings(), tok.token_strings(), None, None)(
        {**config["model"], "vocab_size": tok.vocab_size}).eval()
    ids = torch.tensor([base_tok.encode("the cat sat")])
    with torch.no_grad():
        assert torch.equal(grown(ids)[..., : base_tok.vocab_size], base_model(ids))


def _finetune(base: Path, data: Path, out: Path, *extra: str) -> None:
    cli("finetune", str(base), "--data", str(data), "--out", str(out), "--batch-size", "4", "--lr", "5e-3",
        "--eval-interval", "3", "--log-interval", "1", "--threads", "1", "--seed", "5", "--quiet", *extra)


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["kind"] == "train"]


@pytest.mark.parametrize("lora", [False, True])
def test_resume_continues_the_same_curve(chat_base_run, chat_data, tmp_path, lora):
    extra = ("--lora-rank", "4") if lora else ()
    _finetune(chat_base_run, chat_data, tmp_path / "straight", "--max-steps", "8", "--lr-decay-steps", "8", *extra)
    _finetune(chat_base_run, chat_data, tmp_path / "resumed", "--max-steps", "4", "--lr-decay-steps", "8", *extra)
    _finetune(chat_base_run, chat_data, tmp_path / "resumed", "--max-steps", "8", "--resume", *extra)
    assert _losses(tmp_path / "resumed") == pytest.approx(_losses(tmp_path / "straight"), abs=1e-6)
    config = json.loads((tmp_path / "resumed" / "config.json").read_text())
    runtime = config["runtime"]
    if lora:
        assert runtime["trainable_parameters"] < runtime["parameters"] / 5
        assert config["finetune"]["lora"] == {"rank": 4, "alpha": 8}
    # the saved weights are a plain model whatever the training method: eval and generation load them
    model, _, _ = load_model(tmp_path / "resumed")
    assert not any("lora" in name for name in model.state_dict())


def test_a_recurrent_base_fine_tunes_too(tmp_path, chat_data):
    (tmp_path / "c.txt").write_text("hello there\n안녕하세요\n" * 20, encoding="utf-8")
    cli("prepare", "--corpus", str(tmp_path / "c.txt"), "--unit", "line", "--out", str(tmp_path / "base"), "--quiet")
    cli("train", str(tmp_path / "base"), "--model", "lstm", "--n-layer", "1", "--n-embd", "32", "--block-size", "16",
        "--batch-size", "4", "--max-steps", "3", "--threads", "1", "--quiet")
    _finetune(tmp_path / "base", chat_data, tmp_path / "chat", "--max-steps", "3")
    proc = genlab("generate", str(tmp_path / "chat"), "--max-tokens", "5", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    proc = genlab("finetune", str(tmp_path / "base"), "--data", str(chat_data), "--out", str(tmp_path / "x"),
                  "--lora-rank", "4")
    assert_user_error(proc, r"--lora-rank adapts a GPT's attention and MLP layers; .* holds a lstm model")


def test_builtin_skills_fine_tunes(chat_base_run, tmp_path):
    out = tmp_path / "skills"
    proc = genlab("finetune", str(chat_base_run), "--data", "builtin:skills", "--out", str(out), "--max-steps", "2",
                  "--batch-size", "2", "--threads", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "142,500 conversations" in proc.stdout and "7,500 held out" in proc.stdout
    assert re.search(r"6 chat tokens, \d+ new symbols", proc.stdout)
    vocabulary = next(line for line in proc.stdout.splitlines() if line.startswith("vocabulary"))
    assert vocabulary.endswith(")") and "\\n" in vocabulary  # the tools turn's newline, shown as \n


def test_bad_input_is_one_line_and_exit_2(chat_base_run, chat_data, tmp_path):
    (tmp_path / "bad.jsonl").write_text(json.dumps(PING) + '\n{"messages": [{"role": "robot"}]}\n',
                                        encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"prompt": "caf\xe9", "completion": "x"}\n')
    base = str(chat_base_run)
    out = str(tmp_path / "out")
    cases = [
        (("finetune", base, "--data", str(tmp_path / "bad.jsonl"), "--out", out),
         r"bad\.jsonl:2: message 1 has unknown role 'robot'.*--skip-bad-lines"),
        (("finetune", base, "--data", str(tmp_path / "empty.jsonl"), "--out", out), "holds no conversations"),
        (("finetune", base, "--data", str(tmp_path / "latin1.jsonl"), "--out", out),
         r"latin1\.jsonl:1: not valid UTF-8"),
        (("finetune", base, "--data", str(tmp_path / "nope.jsonl"), "--out", out), "not found"),
        (("finetune", str(tmp_path / "nobase"), "--data", str(chat_data), "--out", out), "nobase"),
        (("finetune", base, "--data", str(chat_data), "--out", base), "--out must be a new directory"),
        (("finetune", base, "--data", "builtin:recipes", "--out", out), "available: builtin:skills"),
        (("finetune", base, "--data", str(chat_data), "--out", out, "--lora-rank", "0"),
         "--lora-rank: expected a positive"),
        (("finetune", base, "--data", str(chat_data), "--out", out, "--val-fraction", "1.5"), "--val-fraction"),
        (("eval", base, "--data", str(chat_data)), "was not fine-tuned for chat"),
    ]
    for args, pattern in cases:
        assert_user_error(genlab(*args), pattern)
    proc = genlab("finetune", base, "--data", str(tmp_path / "bad.jsonl"), "--out", out, "--skip-bad-lines",
                  "--max-steps", "1", "--quiet")
    assert proc.returncode == 2 and "at least 2 conversations" in proc.stderr  # one good line is too few


def test_eval_without_data_on_a_chat_run_points_to_data(chat_run):
    assert_user_error(genlab("eval", str(chat_run)), r"fine-tuned chat run without a token store; .*--data")



def test_fine_tuning_keeps_the_base_optimizer_unless_lora():
    from genlab.tuning.finetune import LORA_LR, MUON_LR, SFT_DEFAULTS, sft_defaults

    assert sft_defaults({"train": {"optimizer": "adamw"}}, lora=False) == SFT_DEFAULTS
    assert sft_defaults({}, lora=False) == SFT_DEFAULTS
    muon = sft_defaults({"train": {"optimizer": "muon"}}, lora=False)
    assert muon["optimizer"] == "muon" and muon["lr"] == MUON_LR and muon["min_lr"] == MUON_LR / 10
    lora = sft_defaults({"train": {"optimizer": "muon"}}, lora=True)  # adapters are low-rank: AdamW
    assert "optimizer" not in lora and lora["lr"] == LORA_LR
    assert sft_defaults({}, lora=False, context=256)["batch_size"] == 16  # the same 4,096 tokens a batch
    assert sft_defaults({}, lora=False, context=16)["batch_size"] == 32


def test_the_context_grows_to_fit_conversations_only_where_positions_are_computed():
    from genlab.errors import GenlabError
    from genlab.tuning.finetune import CONTEXT_CAP, _context

    learned = {"model": {"family": "gpt", "block_size": 128}}
    rope = {"model": {"family": "gpt", "block_size": 128, "positions": "rope"}}
    lstm = {"model": {"family": "lstm", "block_size": 64}}
    assert _context(learned, None, longest=189) == 128  # its position table ends at 128
    assert _context(rope, None, longest=189) == 256  # the smallest power of two holding 188 + 1 ids
    assert _context(rope, None, longest=129) == 128 and _context(rope, None, longest=130) == 256
    assert _context(rope, None, longest=40) == 128  # never shorter than pretraining's
    assert _context(lstm, None, longest=100) == 128
    assert _context(rope, None, longest=50_000) == CONTEXT_CAP
    assert _context(rope, 512, longest=10) == 512 and _context(learned, 64, longest=500) == 64
    with pytest.raises(GenlabError, match="exceeds the base GPT's 128 learned positions"):
        _context(learned, 256, longest=10)


def test_a_rotary_base_fine_tunes_with_a_longer_context(tmp_path, chat_data):
    base = tmp_path / "base"
    (tmp_path / "corpus.txt").write_text("hello there, how are you?\n안녕하세요 반가워요\n" * 40, encoding="utf-8")
    cli("prepare", "--corpus", str(tmp_path / "corpus.txt"), "--unit", "line", "--out", str(base), "--quiet")
    cli("train", str(base), "--model", "gpt", "--preset", "gpt-tiny-fast", "--n-layer", "1", "--n-embd", "32",
        "--block-size", "8", "--batch-size", "4", "--max-steps", "2", "--threads", "1", "--quiet")
    out = tmp_path / "chat"
    proc = genlab("finetune", str(base), "--data", str(chat_data), "--out", str(out), "--max-steps", "2",
                  "--batch-size", "2", "--threads", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "longer than the context" not in proc.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["block_size"] == config["finetune"]["context"] > 8
    assert config["train"]["optimizer"] == "muon"  # the base's
    proc = genlab("eval", str(out), "--data", str(chat_data), "--quiet")
    assert proc.returncode == 0 and proc.stdout.startswith("exact match"), proc.stderr
