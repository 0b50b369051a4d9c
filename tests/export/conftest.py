"""Small trained GPT runs (made with the real CLI) and a small random GPT-2 folder made with transformers.

Nothing is downloaded: the GPT-2 is built from a ``GPT2Config`` and a byte-level BPE trained here, in
GPT-2's layout (the 256 byte tokens first, merges after, ``<|endoftext|>`` last).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genlab.cli import main as genlab_main

TEXT = [
    "the cat sat on the mat. the dog ran in the park!",
    "hello world, this is genlab: a café, a naïve résumé.",
    "안녕하세요, 반갑습니다. 생성형 인공지능을 배웁니다.",
    "오늘 날씨가 좋습니다. 고양이가 매트 위에 앉았다.",
    "numbers 123 4567 and symbols !\"#$ ~ tabs\tand  spaces",
]


def cli(*argv: str) -> None:
    assert genlab_main(list(argv)) == 0, f"genlab {' '.join(argv)} failed"


@pytest.fixture(scope="session")
def export_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export-corpus") / "corpus.txt"
    path.write_text("\n".join(TEXT * 60) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def gpt_runs(tmp_path_factory: pytest.TempPathFactory, export_corpus: Path) -> dict[str, Path]:
    """One small trained GPT per tokenizer kind (block 128; 8 windows of 128 are 1,024 tokens)."""
    root = tmp_path_factory.mktemp("export-runs")
    runs = {}
    for kind in ("char", "word", "jamo", "bpe"):
        run = root / f"gpt-{kind}"
        extra = ["--vocab-size", "320"] if kind == "bpe" else []
        cli("prepare", "--corpus", str(export_corpus), "--unit", "line", "--tokenizer", kind, "--out", str(run),
            "--quiet", *extra)
        cli("train", str(run), "--model", "gpt", "--n-layer", "2", "--n-head", "2", "--n-embd", "32",
            "--block-size", "128", "--batch-size", "4", "--max-steps", "3", "--device", "cpu", "--quiet")
        runs[kind] = run
    return runs


@pytest.fixture(scope="session")
def chat_runs(tmp_path_factory: pytest.TempPathFactory, gpt_runs: dict[str, Path]) -> dict[str, Path]:
    """The char and bpe runs fine-tuned for chat: their tokenizers grew the chat template's special tokens."""
    root = tmp_path_factory.mktemp("export-chat")
    data = root / "chat.jsonl"
    line = json.dumps({"messages": [{"role": "user", "content": "hi cat"},
                                    {"role": "assistant", "content": "the cat sat"}]})
    data.write_text("\n".join([line] * 20) + "\n", encoding="utf-8")
    runs = {}
    for kind in ("char", "bpe"):
        runs[kind] = root / f"chat-{kind}"
        cli("finetune", str(gpt_runs[kind]), "--data", str(data), "--out", str(runs[kind]), "--max-steps", "2",
            "--batch-size", "2", "--device", "cpu", "--quiet")
    return runs


@pytest.fixture(scope="session")
def gpt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random GPT-2 saved by transformers: safetensors, tokenizer.json, tanh GELU (gelu_new) as GPT-2's."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    folder = tmp_path_factory.mktemp("gpt2") / "tiny-gpt2"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator(TEXT * 20, trainer)
    tok.add_special_tokens(["<|endoftext|>"])
    GPT2TokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                      unk_token="<|endoftext|>").save_pretrained(folder)
    eot = tok.token_to_id("<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=128, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=eot, eos_token_id=eot)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # LayerNorms as a trained model has them (a fresh one has γ = 1, β = 0)
        for name, p in model.named_parameters():
            if ".ln_" in name or "ln_f" in name:
                p.add_(torch.randn_like(p) * 0.2)
    model.save_pretrained(folder)
    return folder
