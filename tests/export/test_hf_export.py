"""``genlab export --format hf``: transformers loads the folder, and gives genlab's logits and ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.cli import main as genlab_main
from genlab.export.hf_tokenizer import hf_tokenizer_json, special_tokens
from genlab.models import load_model
from genlab.tokenizers import SPECIAL_TOKENS
from genlab.tokenizers.char import CharTokenizer

from .conftest import TEXT

transformers = pytest.importorskip("transformers")

KINDS = ["char", "word", "jamo", "bpe"]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("genlab: error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def exported(gpt_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    out = {}
    for kind, run in gpt_runs.items():
        out[kind] = root / kind
        assert genlab_main(["export", str(run), "--format", "hf", "--out", str(out[kind])]) == 0
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_transformers_gives_genlab_logits_on_1000_tokens(kind: str, gpt_runs, exported) -> None:
    model, tokenizer, _ = load_model(gpt_runs[kind])
    hf = transformers.GPT2LMHeadModel.from_pretrained(exported[kind]).eval()
    ids = np.fromfile(gpt_runs[kind] / "train.bin", dtype=np.uint16).astype(np.int64)
    windows = torch.from_numpy(np.resize(ids, 8 * 128).reshape(8, 128))  # 1,024 tokens
    with torch.no_grad():
        ours, theirs = model.logits(windows), hf(windows).logits
    assert theirs.shape == ours.shape
    assert (ours - theirs).abs().max().item() <= 1e-4
    config = json.loads((exported[kind] / "config.json").read_text())
    assert config["activation_function"] == "gelu" and config["tie_word_embeddings"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_the_tokenizer_gives_genlab_ids(kind: str, gpt_runs, exported) -> None:
    from tokenizers import Tokenizer

    _, tokenizer, _ = load_model(gpt_runs[kind])
    auto = transformers.AutoTokenizer.from_pretrained(exported[kind])
    plain = Tokenizer.from_file(str(exported[kind] / "tokenizer.json"))
    if kind == "bpe":
        assert isinstance(auto, transformers.PreTrainedTokenizerFast)
    samples = [*TEXT, "unseen: ÿ 😀 漢字 \u1100\u1161 z", "  leading and trailing  ", "", "line\nbreaks\r\n"]
    for text in samples:
        ids = tokenizer.encode(text)
        if kind == "jamo" and "\u1100" in text:
            continue  # literal conjoining jamo map to the jamo ids there (genlab keeps them apart; documented)
        assert plain.encode(text, add_special_tokens=False).ids == ids, text
        assert auto(text, add_special_tokens=False)["input_ids"] == ids, text
    for i, name in enumerate(SPECIAL_TOKENS):
        assert auto.convert_tokens_to_ids(name) == i and plain.id_to_token(i) == name
    assert auto.eos_token == "<eos>" and auto.pad_token == "<pad>" and auto.unk_token == "<unk>"
    sample = TEXT[1] if kind != "jamo" else TEXT[2]
    decoded = auto.decode(tokenizer.encode(sample), skip_special_tokens=True)
    import unicodedata

    assert unicodedata.normalize("NFC", decoded) == sample


def test_special_tokens_beyond_genlabs_four_are_carried_over() -> None:
    """A tokenizer that declares more special tokens (as a chat template adds) keeps them, by id and name."""

    class WithChatTokens(CharTokenizer):
        EXTRA = ("<|user|>", "<|assistant|>")

        def __init__(self, chars):
            super().__init__(chars)
            self.itos = [*SPECIAL_TOKENS, *self.EXTRA, *self.chars]

        def encode(self, text: str) -> list[int]:
            return [i + len(self.EXTRA) if i >= len(SPECIAL_TOKENS) else i for i in super().encode(text)]

        def to_dict(self):
            return {**super().to_dict(), "special_tokens": [*SPECIAL_TOKENS, *self.EXTRA]}

    from tokenizers import Tokenizer

    tok = WithChatTokens(list("abc "))
    assert special_tokens(tok) == list(enumerate([*SPECIAL_TOKENS, *WithChatTokens.EXTRA]))
    hf = Tokenizer.from_str(json.dumps(hf_tokenizer_json(tok)))
    assert hf.encode("ab c", add_special_tokens=False).ids == tok.encode("ab c")
    assert hf.token_to_id("<|assistant|>") == 5 and hf.get_vocab_size() == tok.vocab_size
    assert hf.encode("<|user|>a", add_special_tokens=False).ids == [4, tok.encode("a")[0]]


TINY_NEURAL = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "32", "--batch-size", "2",
               "--device", "cpu"]


def tiny_run(run: Path, corpus: Path, *train: str) -> Path:
    """``corpus`` prepared into ``run`` (char tokens, one document a line), then trained with ``train``."""
    assert genlab_main(["prepare", "--corpus", str(corpus), "--unit", "line", "--out", str(run), "--quiet"]) == 0
    assert genlab_main(["train", str(run), *train, "--quiet"]) == 0
    return run


def test_other_families_are_refused_naming_what_is_supported(tmp_path: Path, export_corpus: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run(tmp_path / "markov", export_corpus, "--model", "markov", "--order", "2")
    capsys.readouterr()
    for fmt in ("hf", "gguf"):
        assert genlab_main(["export", str(run), "--format", fmt, "--out", str(tmp_path / "x")]) == 2
        assert "GPT runs" in _error(capsys) and "markov" in capsys.readouterr().err + "markov"


def test_a_bert_or_a_reward_model_is_refused_saying_what_it_is(tmp_path: Path, export_corpus: Path, gpt_runs,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The message once listed only Markov/RNN/LSTM/GRU/seq2seq as what has no architecture elsewhere."""
    bert = tiny_run(tmp_path / "bert", export_corpus, "--model", "bert", *TINY_NEURAL, "--max-steps", "1")
    prefs = tmp_path / "prefs.jsonl"
    pair = json.dumps({"prompt": "the cat", "chosen": " sat", "rejected": " ran"})
    prefs.write_text(f"{pair}\n" * 4, encoding="utf-8")
    rm = tmp_path / "rm"
    assert genlab_main(["reward", str(gpt_runs["char"]), "--data", str(prefs), "--out", str(rm), "--max-steps", "1",
                        "--batch-size", "2", "--device", "cpu", "--quiet"]) == 0
    capsys.readouterr()
    for run, kind in ((bert, "a BERT encoder"), (rm, "a reward model")):
        for fmt in ("hf", "gguf"):
            assert genlab_main(["export", str(run), "--format", fmt, "--out", str(tmp_path / "x")]) == 2
            err = _error(capsys)
            assert "supports only GPT runs in GPT-2's layout" in err and f"{run} holds {kind}:" in err, err
            assert err.endswith("export a gpt run") and "Markov/RNN" not in err, err


def test_bad_input_is_one_line_exit_2(gpt_runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert genlab_main(["export", str(tmp_path / "missing"), "--format", "hf", "--out", str(tmp_path / "o")]) == 2
    assert "missing" in _error(capsys)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (broken / name).write_bytes((gpt_runs["char"] / name).read_bytes())
    weights = (gpt_runs["char"] / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # truncated
    assert genlab_main(["export", str(broken), "--format", "hf", "--out", str(tmp_path / "o")]) == 2
    assert "corrupted" in _error(capsys)
    (broken / "model.safetensors").write_bytes(b"")  # empty
    assert genlab_main(["export", str(broken), "--format", "hf", "--out", str(tmp_path / "o")]) == 2
    _error(capsys)
    (broken / "config.json").write_text("{not json")
    assert genlab_main(["export", str(broken), "--format", "hf", "--out", str(tmp_path / "o")]) == 2
    _error(capsys)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert genlab_main(["export", str(gpt_runs["char"]), "--format", "hf", "--out", str(a_file)]) == 2
    assert "is a file" in _error(capsys)
    with pytest.raises(SystemExit) as exc:
        genlab_main(["export", str(gpt_runs["char"]), "--format", "onnx", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2


def test_a_gpt_trained_outside_gpt2s_layout_is_refused_naming_the_options(tmp_path: Path, export_corpus: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run(tmp_path / "modern", export_corpus, "--model", "gpt", *TINY_NEURAL, "--max-steps", "2",
                   "--positions", "rope", "--qk-norm", "--activation", "relu2", "--optimizer", "muon")
    capsys.readouterr()
    for fmt in ("hf", "gguf"):
        assert genlab_main(["export", str(run), "--format", fmt, "--out", str(tmp_path / "x.gguf")]) == 2
        err = _error(capsys)
        assert "--positions rope" in err and "--qk-norm" in err and "--activation relu2" in err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_out_is_never_a_run_or_a_folder_of_other_files(gpt_runs, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``export RUN --out RUN`` used to replace the run's config.json, weights and tokenizer with HF's."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(gpt_runs["char"], run)
    (tmp_path / "link").symlink_to(run)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    before, other_run = _snapshot(run), _snapshot(gpt_runs["bpe"])
    for out, words in [(run, "is the run being exported"), (tmp_path / "x" / ".." / "run", "is the run being exported"),
                       (tmp_path / "link", "is the run being exported"), (gpt_runs["bpe"], "is a genlab run"),
                       (other, "is not empty")]:
        assert genlab_main(["export", str(run), "--format", "hf", "--out", str(out)]) == 2, out
        assert words in _error(capsys)
    assert _snapshot(run) == before and (other / "notes.txt").read_text() == "keep me"
    assert _snapshot(gpt_runs["bpe"]) == other_run
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):  # an empty folder, then the same folder again: a previous export is replaced
        assert genlab_main(["export", str(run), "--format", "hf", "--out", str(empty)]) == 0
    assert json.loads((empty / "config.json").read_text())["genlab_export"] == 1
    (empty / "README.md").write_text("my notes")  # no longer export's files alone: left alone
    assert genlab_main(["export", str(run), "--format", "hf", "--out", str(empty)]) == 2
    assert "README.md" in _error(capsys)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_a_chat_fine_tuned_run_exports_its_chat_tokens(kind: str, chat_runs, tmp_path: Path) -> None:
    """A chat fine-tune adds special tokens after the vocabulary; the char export called that file damaged."""
    from tokenizers import Tokenizer

    from genlab.tokenizers.base import TEMPLATE_TOKENS

    out = tmp_path / "hf"
    assert genlab_main(["export", str(chat_runs[kind]), "--format", "hf", "--out", str(out)]) == 0
    model, tokenizer, _ = load_model(chat_runs[kind])
    auto = transformers.AutoTokenizer.from_pretrained(out)
    plain = Tokenizer.from_file(str(out / "tokenizer.json"))
    ids = [tokenizer.special_id(name) for name in TEMPLATE_TOKENS]
    assert ids == list(range(tokenizer.vocab_size - len(TEMPLATE_TOKENS), tokenizer.vocab_size))
    assert auto.convert_tokens_to_ids(list(TEMPLATE_TOKENS)) == ids == [plain.token_to_id(t) for t in TEMPLATE_TOKENS]
    assert len(auto) == tokenizer.vocab_size == plain.get_vocab_size()
    for text in ["hi cat", "the cat sat", TEXT[0]]:
        assert auto(text, add_special_tokens=False)["input_ids"] == tokenizer.encode(text) \
            == plain.encode(text, add_special_tokens=False).ids, text
    assert auto.decode([ids[1], *tokenizer.encode("hi cat")], skip_special_tokens=True) == "hi cat"
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    window = torch.tensor([[3, ids[1], *tokenizer.encode("hi cat"), ids[3], ids[2]]])
    with torch.no_grad():
        assert (model.logits(window) - hf(window).logits).abs().max().item() <= 1e-4


@pytest.mark.parametrize("kind", ["char", "word", "jamo"])
def test_added_special_tokens_keep_their_ids_in_every_kind(kind: str) -> None:
    from tokenizers import Tokenizer

    from genlab.tokenizers.base import TEMPLATE_TOKENS
    from genlab.tokenizers.jamo import JamoTokenizer
    from genlab.tokenizers.word import WordTokenizer

    tok = {"char": lambda: CharTokenizer(list("abc "), TEMPLATE_TOKENS),
           "word": lambda: WordTokenizer(["a", "b", " "], added_specials=TEMPLATE_TOKENS),
           "jamo": lambda: JamoTokenizer(list("abc "), TEMPLATE_TOKENS)}[kind]()
    hf = Tokenizer.from_str(json.dumps(hf_tokenizer_json(tok)))
    assert hf.get_vocab_size() == tok.vocab_size
    assert [hf.token_to_id(t) for t in TEMPLATE_TOKENS] == [tok.special_id(t) for t in TEMPLATE_TOKENS]
    assert hf.encode("a b", add_special_tokens=False).ids == tok.encode("a b")
