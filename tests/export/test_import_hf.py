"""``genlab import-hf``: a GPT-2 folder made by transformers becomes a run with GPT-2's logits, both ways."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from genlab.cli import main as genlab_main
from genlab.export.import_hf import DEAD_LOGIT
from genlab.export.import_tokenizer import ENDOFTEXT
from genlab.models import load_model
from genlab.tokenizers import EOS_ID, SPECIAL_TOKENS

from .conftest import TEXT

transformers = pytest.importorskip("transformers")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("genlab: error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def imported(gpt2_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("imported") / "gpt2-run"
    assert genlab_main(["import-hf", str(gpt2_folder), "--out", str(run)]) == 0
    return run


def _id_map(gpt2_folder: Path, tokenizer) -> dict[int, int]:
    """GPT-2 id → genlab id, read from the two vocabularies."""
    hf_vocab = json.loads((gpt2_folder / "tokenizer.json").read_text())["model"]["vocab"]
    ours = json.loads(tokenizer.hf_json)["model"]["vocab"]
    mapping = {i: ours[t] for t, i in hf_vocab.items() if t != ENDOFTEXT}
    mapping[transformers.AutoTokenizer.from_pretrained(gpt2_folder).convert_tokens_to_ids(ENDOFTEXT)] = EOS_ID
    return mapping


def test_logits_are_gpt2s_and_the_new_specials_never_win(gpt2_folder: Path, imported: Path) -> None:
    hf = transformers.GPT2LMHeadModel.from_pretrained(gpt2_folder).eval()
    model, tokenizer, config = load_model(imported)
    mapping = _id_map(gpt2_folder, tokenizer)
    # ids kept: all but <|endoftext|> (→ <eos>) and the tokens GPT-2 had at 0-3 (moved past the end)
    assert sum(g == o for g, o in mapping.items()) == len(mapping) - 5 and mapping[min(mapping)] != 0
    assert config["model"]["activation"] == "gelu_tanh" and model.vocab_size == len(mapping) + 3
    gpt2_ids = torch.randint(0, len(mapping), (8, 128), generator=torch.Generator().manual_seed(0))  # 1,024 tokens
    ours_ids = gpt2_ids.clone().apply_(mapping.__getitem__)
    with torch.no_grad():
        theirs, ours = hf(gpt2_ids).logits, model.logits(ours_ids)
    order = torch.tensor([mapping[i] for i in range(len(mapping))])
    assert (ours[..., order] - theirs).abs().max().item() <= 1e-4
    new = [i for i in range(len(SPECIAL_TOKENS)) if i != EOS_ID]
    assert ours[..., new].max().item() <= DEAD_LOGIT / 2  # probability exactly 0 in float32
    log_ours, log_theirs = torch.log_softmax(ours, -1), torch.log_softmax(theirs, -1)
    assert (log_ours[..., order] - log_theirs).abs().max().item() <= 1e-4
    assert torch.exp(log_ours[..., new]).max().item() == 0.0


def test_the_tokenizer_encodes_as_gpt2s_with_mapped_ids(gpt2_folder: Path, imported: Path) -> None:
    _, tokenizer, _ = load_model(imported)
    theirs = transformers.AutoTokenizer.from_pretrained(gpt2_folder)
    mapping = _id_map(gpt2_folder, tokenizer)
    for text in [*TEXT, "unseen ÿ 😀 漢字", "  spaces  \n\n"]:
        assert tokenizer.encode(text) == [mapping[i] for i in theirs(text)["input_ids"]], text
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_round_trip_export_gives_the_same_logits(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    assert genlab_main(["export", str(imported), "--format", "hf", "--out", str(out)]) == 0
    model, tokenizer, _ = load_model(imported)
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    assert json.loads((out / "config.json").read_text())["activation_function"] == "gelu_new"
    ids = torch.randint(EOS_ID, model.vocab_size, (8, 128), generator=torch.Generator().manual_seed(1))  # real tokens
    with torch.no_grad():
        theirs, ours = hf(ids).logits, model.logits(ids)
    assert (theirs[..., EOS_ID:] - ours[..., EOS_ID:]).abs().max().item() <= 1e-4
    torch.testing.assert_close(theirs[..., :EOS_ID], ours[..., :EOS_ID], rtol=1e-5, atol=0.0)  # the ≈ −1e4 rows
    auto = transformers.AutoTokenizer.from_pretrained(out)
    assert auto(TEXT[0], add_special_tokens=False)["input_ids"] == tokenizer.encode(TEXT[0])


def test_pickle_checkpoints_load_with_weights_only(gpt2_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    shutil.copytree(gpt2_folder, folder)
    hf = transformers.GPT2LMHeadModel.from_pretrained(gpt2_folder)
    (folder / "model.safetensors").unlink()
    torch.save(hf.state_dict(), folder / "pytorch_model.bin")
    (folder / "tokenizer.json").unlink()  # and the tokenizer from vocab.json + merges.txt
    data = json.loads((gpt2_folder / "tokenizer.json").read_text())
    vocab = {**data["model"]["vocab"], ENDOFTEXT: data["added_tokens"][0]["id"]}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    assert genlab_main(["import-hf", str(folder), "--out", str(tmp_path / "run")]) == 0
    a, _, _ = load_model(tmp_path / "run")
    ids = torch.randint(4, a.vocab_size, (1, 16))
    b, _, _ = load_model_from(gpt2_folder, tmp_path / "ref")
    with torch.no_grad():
        torch.testing.assert_close(a.logits(ids), b.logits(ids))


def load_model_from(folder: Path, run: Path):
    assert genlab_main(["import-hf", str(folder), "--out", str(run)]) == 0
    return load_model(run)


def test_the_run_generates_serves_evaluates_and_fine_tunes(imported: Path, export_corpus: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from genlab.serve import ServeLimits, create_app, load_runs

    run = tmp_path / "tuned"
    shutil.copytree(imported, run)
    assert genlab_main(["generate", str(run), "--prompt", "the cat", "--max-tokens", "8", "--seed", "1"]) == 0
    assert genlab_main(["eval", str(run), "--corpus", str(export_corpus), "--max-tokens", "300", "--quiet"]) == 0
    with TestClient(create_app(load_runs([run]), ServeLimits(max_batch=4))) as client:
        answer = client.post("/v1/completions", json={"model": "tuned", "prompt": "the", "max_tokens": 5,
                                                      "temperature": 0}).json()
        assert answer["choices"][0]["finish_reason"] in ("length", "stop")
    assert genlab_main(["prepare", "--corpus", str(export_corpus), "--unit", "line", "--tokenizer-from", str(run),
                        "--out", str(run), "--quiet"]) == 0
    before, _, _ = load_model(run, which="latest")
    assert genlab_main(["train", str(run), "--model", "gpt", "--resume", "--max-steps", "2", "--batch-size", "2",
                        "--quiet"]) == 0
    after, _, _ = load_model(run, which="latest")
    wte0, wte1 = before.transformer.wte.weight, after.transformer.wte.weight
    assert 0 < (wte1 - wte0).abs().max().item() < 0.01  # fine-tuned from GPT-2's weights, not re-initialised
    capsys.readouterr()
    # a plain `train` would replace the imported weights: it is refused
    assert genlab_main(["train", str(run), "--model", "gpt", "--max-steps", "1", "--quiet"]) == 2
    assert "--resume" in _error(capsys)


def test_bad_input_is_one_line_exit_2(gpt2_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def fails(folder: Path, words: str, out: Path | None = None) -> None:
        assert genlab_main(["import-hf", str(folder), "--out", str(out or tmp_path / "out")]) == 2
        assert words in _error(capsys)

    fails(tmp_path / "missing", "not a folder")
    broken = tmp_path / "broken"
    shutil.copytree(gpt2_folder, broken)
    weights = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    fails(broken, "corrupted")
    (broken / "model.safetensors").write_bytes(b"")
    fails(broken, "corrupted")
    (broken / "config.json").write_text("")
    fails(broken, "corrupted")
    config = json.loads((gpt2_folder / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    fails(broken, "not a GPT-2 config")
    (broken / "config.json").write_text(json.dumps({**config, "activation_function": "relu"}))
    fails(broken, "activation_function")
    (broken / "config.json").write_text(json.dumps(config))
    (broken / "tokenizer.json").write_bytes(b"\xff\xfe garbage")
    fails(broken, "corrupted")
    fails(gpt2_folder, "already holds", out=_existing_run(tmp_path, gpt2_folder))
    with pytest.raises(SystemExit) as exc:
        genlab_main(["import-hf", str(gpt2_folder), "--out", str(tmp_path / "x"), "--format", "nonsense"])
    assert exc.value.code == 2


def _existing_run(tmp_path: Path, folder: Path) -> Path:
    run = tmp_path / "existing"
    assert genlab_main(["import-hf", str(folder), "--out", str(run)]) == 0
    return run


@pytest.mark.parametrize("which", ["plain", "chat"])
def test_a_genlab_export_imports_back_with_the_runs_own_logits(which: str, gpt_runs, chat_runs,
                                                                 tmp_path: Path) -> None:
    """genlab's export has <pad> <unk> <bos> <eos> at 0-3 and no <|endoftext|>: import used to refuse it."""
    source = gpt_runs["bpe"] if which == "plain" else chat_runs["bpe"]
    hf, run = tmp_path / "hf", tmp_path / "run"
    assert genlab_main(["export", str(source), "--format", "hf", "--out", str(hf)]) == 0
    assert genlab_main(["import-hf", str(hf), "--out", str(run)]) == 0
    (ours, tokenizer, _), (back, tokenizer_back, config) = load_model(source), load_model(run)
    assert tokenizer_back.vocab_size == tokenizer.vocab_size == back.vocab_size
    assert tokenizer_back.added_specials == tokenizer.added_specials
    for text in [*TEXT, "hi cat"]:
        assert tokenizer_back.encode(text) == tokenizer.encode(text), text
    ids = torch.randint(0, tokenizer.vocab_size, (4, 64), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(back.logits(ids), ours.logits(ids), rtol=0.0, atol=1e-5)
    assert config["imported_from"]["token_ids"].startswith("genlab's own")


def test_config_sizes_are_checked_naming_the_field(gpt2_folder: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """n_head 0 used to end in an internal ZeroDivisionError (exit 1)."""
    folder = tmp_path / "gpt2"
    shutil.copytree(gpt2_folder, folder)
    config = json.loads((gpt2_folder / "config.json").read_text())
    for change, words in [({"n_head": 0}, "n_head 0"), ({"n_embd": -32}, "n_embd -32"), ({"n_layer": 1.5}, "n_layer"),
                          ({"n_positions": "128"}, "n_positions"), ({"vocab_size": None}, "no vocab_size"),
                          ({"n_head": 5}, "n_head 5 does not divide"), ({"n_layer": True}, "n_layer")]:
        (folder / "config.json").write_text(json.dumps({**config, **change}))
        assert genlab_main(["import-hf", str(folder), "--out", str(tmp_path / "out")]) == 2, change
        assert words in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_what_is_not_a_gpt2_folder_is_named(gpt_runs, gpt2_folder: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert genlab_main(["import-hf", str(empty), "--out", str(tmp_path / "a")]) == 2
    err = _error(capsys)
    assert "no config.json" in err and "Hugging Face GPT-2 folder" in err and "prepare" not in err
    assert genlab_main(["import-hf", str(gpt_runs["bpe"]), "--out", str(tmp_path / "a")]) == 2
    assert "already a genlab run" in _error(capsys)
    exported = tmp_path / "char-hf"
    assert genlab_main(["export", str(gpt_runs["char"]), "--format", "hf", "--out", str(exported)]) == 0
    capsys.readouterr()
    assert genlab_main(["import-hf", str(exported), "--out", str(tmp_path / "a")]) == 2
    assert "char/word/jamo" in _error(capsys)


def test_out_must_be_new_or_empty(gpt2_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gpt2"
    shutil.copytree(gpt2_folder, folder)
    assert genlab_main(["import-hf", str(folder), "--out", str(folder)]) == 2
    assert "is the folder being imported" in _error(capsys)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "tokenizer.json").write_text("{}")
    assert genlab_main(["import-hf", str(folder), "--out", str(busy)]) == 2
    assert "not empty" in _error(capsys) and (busy / "tokenizer.json").read_text() == "{}"
    (busy / "tokenizer.json").unlink()
    assert genlab_main(["import-hf", str(folder), "--out", str(busy)]) == 0
