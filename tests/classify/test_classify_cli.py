"""``genlab classify``, ``genlab train --model bert``, ``genlab fill`` and ``--init-from`` through the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genlab.classify.model import load_classifier
from genlab.cli import main as genlab_main
from genlab.models import load_model

CORPUS = ["가나다 라마 바사", "아자차 카타 파하", "abc def ghi", "가나 다라 마바 사아"]


def cli(*argv: str) -> None:
    assert genlab_main(list(argv)) == 0, f"genlab {' '.join(argv)} failed"


def genlab(*args: str) -> subprocess.CompletedProcess:
    """The CLI in this process (a subprocess per call would re-import torch): exit code and stderr."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = genlab_main(list(args))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def assert_user_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genlab: error: "), proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_one_subprocess_error_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GENLAB_VERBOSE"}
    proc = subprocess.run([sys.executable, "-m", "genlab", "classify", "eval", str(tmp_path / "nope"), "--data",
                           str(tmp_path / "x.tsv")], capture_output=True, text=True, timeout=300, env=env)
    assert_user_error(proc, "not found|no trained")


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bert")
    (root / "corpus.txt").write_text("\n".join(CORPUS * 20) + "\n", encoding="utf-8")
    run = root / "bert"
    cli("prepare", "--corpus", str(root / "corpus.txt"), "--unit", "line", "--out", str(run), "--quiet")
    cli("train", str(run), "--model", "bert", "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size",
        "32", "--max-steps", "6", "--eval-interval", "3", "--eval-batches", "2", "--batch-size", "8", "--seed", "1",
        "--quiet", "--threads", "1")
    return run


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic task: the label says which syllable the text repeats."""
    path = tmp_path_factory.mktemp("labels") / "labels.tsv"
    lines = [f"{'pos' if i % 2 else 'neg'}\t{('가' if i % 2 else '나') * (2 + i % 5)} 다 {i % 3}" for i in range(80)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bert_eval_and_fill(bert_run: Path, capsys) -> None:
    capsys.readouterr()
    cli("eval", str(bert_run), "--split", "val", "--quiet")
    out = capsys.readouterr().out
    assert re.search(r"val: masked-token accuracy 0\.\d+", out) and "MLM perplexity" in out
    cli("fill", str(bert_run), "가나<mask> 라마", "--top-k", "3")
    lines = capsys.readouterr().out.strip().splitlines()
    probs = [float(line.split()[-1]) for line in lines]
    assert len(lines) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    _, tokenizer, _ = load_model(bert_run)
    assert tokenizer.special_id("<mask>") == tokenizer.vocab_size - 1  # added after every other id
    assert_user_error(genlab("fill", str(bert_run), "no mask here"), "no <mask>")


def test_commands_a_bert_cannot_serve_say_so_up_front_and_name_genlab_fill(bert_run: Path, monkeypatch) -> None:
    refused = genlab("generate", str(bert_run), "--prompt", "가")
    assert_user_error(refused, r"BERT encoder: .*does not generate text; use `genlab fill ")
    assert refused.stdout == ""  # the prompt was once printed before the error
    monkeypatch.setattr(sys, "stdin", io.StringIO("가나\n"))
    refused = genlab("chat", str(bert_run))
    assert_user_error(refused, r"BERT encoder: .*use `genlab fill ")
    assert refused.stdout == "" and sys.stdin.read() == "가나\n"  # refused before the first message is read
    assert_user_error(genlab("translate", str(bert_run)), r"holds a BERT encoder, not an encoder-decoder: use `genlab "
                      r"fill ")  # once: use `genlab generate`, which refuses a BERT


def test_runs_that_are_neither_bert_nor_a_backbone_get_advice_that_works(tmp_path: Path, bert_run: Path,
                                                                         labels: Path) -> None:
    run = tmp_path / "markov"
    cli("prepare", "--corpus", str(bert_run.parent / "corpus.txt"), "--unit", "line", "--out", str(run), "--quiet")
    cli("train", str(run), "--model", "markov", "--quiet")
    for verb, target in (("eval", "--data"), ("predict", None)):
        proc = genlab("classify", verb, str(run), *((target, str(labels)) if target else (str(labels),)))
        assert_user_error(proc, r"holds a Markov chain, not a classifier; a classifier starts from a bert, gpt, rnn, "
                          r"lstm or gru run")
        assert f"--init-from {run}" not in proc.stderr  # which `classify train` refuses for a Markov chain
    proc = genlab("fill", str(run), "가<mask>")
    assert_user_error(proc, r"holds a Markov chain, not a BERT; .*`genlab prepare --corpus FILE --out BERT_RUN`, "
                      r"then `genlab train BERT_RUN --model bert`")
    assert f"train {run} --model bert" not in proc.stderr  # which would need --overwrite and replace the chain
    assert_user_error(genlab("fill", str(run / "config.json"), "가<mask>"),
                      f"config.json is a file, not a run directory: pass the run folder that holds it, {run}$")


def test_a_rotary_bert_trains_fills_and_hands_its_weights_to_a_classifier(tmp_path: Path, bert_run: Path,
                                                                         labels: Path, capsys) -> None:
    run = tmp_path / "rope"
    cli("prepare", "--corpus", str(bert_run.parent / "corpus.txt"), "--unit", "line", "--out", str(run), "--quiet")
    cli("train", str(run), "--model", "bert", "--positions", "rope", "--n-layer", "1", "--n-head", "2", "--n-embd",
        "32", "--block-size", "32", "--max-steps", "2", "--eval-interval", "2", "--eval-batches", "1", "--batch-size",
        "4", "--seed", "1", "--quiet", "--threads", "1")
    model, _, config = load_model(run)
    assert config["model"]["positions"] == "rope" and not hasattr(model.transformer, "wpe")
    capsys.readouterr()
    cli("fill", str(run), "가나<mask> 라마", "--top-k", "2")
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    cls = tmp_path / "cls"
    cli("classify", "train", str(cls), "--init-from", str(run), "--data", str(labels), "--max-steps", "1",
        "--eval-interval", "1", "--lr", "0", "--quiet", "--threads", "1")
    classifier, _, _ = load_classifier(cls, which="latest")
    assert classifier.backbone.config.positions == "rope"
    for name, tensor in classifier.backbone.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name
    bad = genlab("train", str(run), "--model", "bert", "--positions", "sinusoidal", "--max-steps", "1", "--overwrite")
    assert_user_error(bad, "bert positions must be learned or rope")
    scratch = tmp_path / "scratch"
    cli("classify", "train", str(scratch), "--init-from", "none", "--positions", "rope", "--data", str(labels),
        "--max-steps", "1", "--eval-interval", "1", "--quiet", "--threads", "1")
    assert load_classifier(scratch, which="latest")[0].backbone.config.positions == "rope"
    cases = [(("--init-from", str(run), "--positions", "rope"), "--positions is for --init-from none"),
             (("--init-from", "none", "--model", "lstm", "--positions", "rope"), "--positions is for a bert or gpt")]
    for flags, message in cases:
        proc = genlab("classify", "train", str(tmp_path / "x"), "--data", str(labels), *flags, "--max-steps", "1")
        assert_user_error(proc, message)


def test_the_fast_bert_preset_trains_with_muon_and_hands_its_weights_on(tmp_path: Path, bert_run: Path,
                                                                        labels: Path) -> None:
    run = tmp_path / "fast"
    cli("prepare", "--corpus", str(bert_run.parent / "corpus.txt"), "--unit", "line", "--out", str(run), "--quiet")
    cli("train", str(run), "--model", "bert", "--preset", "bert-tiny-fast", "--n-layer", "1", "--n-embd", "32",
        "--block-size", "32", "--max-steps", "2", "--eval-interval", "2", "--eval-batches", "1", "--batch-size", "4",
        "--seed", "1", "--quiet", "--threads", "1")
    model, _, config = load_model(run)
    assert {k: config["model"][k] for k in ("positions", "qk_norm", "activation", "dropout")} == \
        {"positions": "rope", "qk_norm": True, "activation": "relu2", "dropout": 0.0}
    assert config["train"]["optimizer"] == "muon"
    cls = tmp_path / "cls"
    cli("classify", "train", str(cls), "--init-from", str(run), "--data", str(labels), "--max-steps", "1",
        "--eval-interval", "1", "--lr", "0", "--quiet", "--threads", "1")
    classifier, _, _ = load_classifier(cls, which="latest")
    assert classifier.backbone.config.qk_norm and classifier.backbone.config.activation == "relu2"
    for name, tensor in classifier.backbone.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name
    assert_user_error(genlab("train", str(run), "--model", "lstm", "--qk-norm", "--max-steps", "1", "--overwrite"),
                      "--qk-norm is for --model gpt or bert")


def test_aux_lm_fine_tunes_with_the_pretraining_loss_and_resumes_only_with_the_same_weight(
        tmp_path: Path, bert_run: Path, labels: Path) -> None:
    run = tmp_path / "aux"
    common = ("--data", str(labels), "--eval-interval", "2", "--quiet", "--threads", "1", "--seed", "2")
    cli("classify", "train", str(run), "--init-from", str(bert_run), "--aux-lm", "0.5", "--max-steps", "2", *common)
    cli("classify", "train", str(run), "--init-from", str(bert_run), "--aux-lm", "0.5", "--max-steps", "4", "--resume",
        *common)
    assert load_classifier(run, which="latest")[2]["classify"]["aux_lm"] == 0.5
    changed = genlab("classify", "train", str(run), "--init-from", str(bert_run), "--max-steps", "6", "--resume",
                     *common)
    assert_user_error(changed, "trained with --aux-lm 0.5; resume with the same weight")
    for model in ("bert", "gpt"):  # a scratch BERT's tokenizer has <mask> too
        assert genlab("classify", "train", str(tmp_path / model), "--init-from", "none", "--model", model, "--aux-lm",
                      "1", "--max-steps", "1", *common).returncode == 0
    assert_user_error(genlab("classify", "train", str(tmp_path / "x"), "--init-from", "none", "--aux-lm", "-1",
                             *common), "aux-lm")


def test_ema_and_dtype_reach_the_classifier_and_its_checkpoints(tmp_path: Path, bert_run: Path, labels: Path,
                                                                capsys) -> None:
    from genlab.checkpoint import read_json, torch_load

    run = tmp_path / "ema"
    cli("classify", "train", str(run), "--init-from", str(bert_run), "--data", str(labels), "--max-steps", "4",
        "--eval-interval", "4", "--ema", "0.9", "--dtype", "bfloat16", "--quiet", "--threads", "1", "--seed", "2")
    train = read_json(run / "config.json")["train"]
    assert train["ema"] == 0.9 and train["dtype"] == "bfloat16"
    average = torch_load(run / "train_state.pt")["weight_average"]
    best = load_classifier(run, which="best")[0]
    for name, p in best.named_parameters():  # one evaluation, at the last step: the best weights are the average
        assert torch.equal(p, average[name]), name
    capsys.readouterr()
    cli("classify", "eval", str(run), "--data", str(labels))
    assert "accuracy" in capsys.readouterr().out
    assert_user_error(genlab("classify", "train", str(tmp_path / "bad"), "--init-from", str(bert_run), "--data",
                             str(labels), "--max-steps", "1", "--ema", "1"), "--ema 1 must be in")


def test_classify_end_to_end_reaches_100_percent(tmp_path: Path, labels: Path, capsys) -> None:
    run = tmp_path / "cls"
    cli("classify", "train", str(run), "--init-from", "none", "--data", str(labels), "--max-steps", "60",
        "--eval-interval", "20", "--seed", "3", "--quiet", "--threads", "1", "--lr", "2e-3")
    capsys.readouterr()
    cli("classify", "eval", str(run), "--data", str(labels))
    out = capsys.readouterr().out
    assert "accuracy 1.000" in out and "macro-F1 1.000" in out
    assert (run / "confusion.png").stat().st_size > 1000
    (tmp_path / "in.txt").write_text("가가가 다 1\n\n나나 다 2\n", encoding="utf-8")
    cli("classify", "predict", str(run), str(tmp_path / "in.txt"))
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""  # one line out per line in: a blank stays blank
    rows = [lines[0].split("\t"), lines[2].split("\t")]
    assert [r[0] for r in rows] == ["pos", "neg"] and all(float(r[1]) > 0.5 for r in rows)
    assert_user_error(genlab("classify", "eval", str(run), "--data", str(labels), "--plot", str(tmp_path)),
                      r"--plot .* is a directory; give the PNG file to write, e\.g\. --plot .*confusion\.png")
    assert_user_error(genlab("classify", "eval", str(run), "--data", str(labels), "--plot",
                             str(tmp_path / "in.txt" / "c.png")), r"could not write .*choose another --plot$")
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    del config["model"]["labels"]
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert_user_error(genlab("classify", "predict", str(run), str(tmp_path / "in.txt")),
                      r"does not describe a model genlab can build")


def test_self_training_pseudo_labels_then_trains_on_them_without_validating_on_them(tmp_path: Path,
                                                                                   labels: Path, capsys) -> None:
    from genlab.checkpoint import read_json

    teacher = tmp_path / "teacher"
    cli("classify", "train", str(teacher), "--init-from", "none", "--data", str(labels), "--max-steps", "60",
        "--eval-interval", "20", "--seed", "3", "--quiet", "--threads", "1", "--lr", "2e-3")
    unlabelled = tmp_path / "unlabelled.txt"  # texts of the same task that the teacher never saw, one twice
    unlabelled.write_text("가가가가가가 다 7\n나나나나나나 다 8\n가가가가가가 다 7\n나나 다 9\tx\n", encoding="utf-8")
    pseudo = tmp_path / "pseudo.tsv"
    capsys.readouterr()
    cli("classify", "pseudo-label", str(teacher), str(unlabelled), "--out", str(pseudo), "--min-prob", "0.5")
    assert "pseudo-labelled 3 of 3 texts" in capsys.readouterr().out
    rows = [line.split("\t") for line in pseudo.read_text(encoding="utf-8").splitlines()]
    assert sorted(rows) == [["neg", "나나 다 9 x"], ["neg", "나나나나나나 다 8"], ["pos", "가가가가가가 다 7"]]
    cli("classify", "pseudo-label", str(teacher), str(unlabelled), "--out", str(tmp_path / "one.tsv"),
        "--min-prob", "0.5", "--max-per-class", "1")
    assert sorted(x.split("\t")[0] for x in (tmp_path / "one.tsv").read_text(encoding="utf-8").splitlines()) == [
        "neg", "pos"]
    assert_user_error(genlab("classify", "pseudo-label", str(teacher), str(unlabelled), "--out", str(pseudo),
                             "--min-prob", "1"), "no text reached --min-prob 1")
    assert_user_error(genlab("classify", "pseudo-label", str(teacher), str(unlabelled), "--out",
                             str(pseudo / "inside.tsv"), "--min-prob", "0.5"), "could not write")

    student = tmp_path / "student"
    common = ("--data", str(labels), "--max-steps", "2", "--quiet", "--threads", "1", "--seed", "3")
    cli("classify", "train", str(student), "--init-from", "none", "--extra-train", str(pseudo), *common)
    info = read_json(student / "config.json")["classify"]
    assert info["extra_train_texts"] == 3 and info["val_texts"] == 8  # 10 % of --data only
    assert info["train_texts"] == 72 + 3
    other = tmp_path / "other.tsv"
    other.write_text("maybe\t가나\n", encoding="utf-8")
    assert_user_error(genlab("classify", "train", str(tmp_path / "s2"), "--init-from", "none", "--extra-train",
                             str(other), *common), r"--extra-train .*other.tsv has label\(s\) \['maybe'\]")


def test_init_from_loads_every_encoder_weight(tmp_path: Path, bert_run: Path, labels: Path) -> None:
    run = tmp_path / "ft"
    cli("classify", "train", str(run), "--init-from", str(bert_run), "--data", str(labels), "--max-steps", "1",
        "--eval-interval", "1", "--lr", "0", "--quiet", "--threads", "1")
    model, _, config = load_classifier(run, which="latest")
    base, _, _ = load_model(bert_run)
    assert config["init_from"]["run"] == str(bert_run)
    base_state = base.state_dict()
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, base_state[name]), name  # lr 0: still exactly the pretrained weights
    assert set(model.backbone.state_dict()) == set(base_state)


def test_train_init_from_continues_pretraining(tmp_path: Path, bert_run: Path) -> None:
    corpus = tmp_path / "new.txt"
    corpus.write_text("\n".join(["새로운 도메인 글", "가나다 새 글"] * 120) + "\n", encoding="utf-8")
    grown = tmp_path / "grown"
    cli("prepare", "--corpus", str(corpus), "--unit", "line", "--out", str(grown), "--tokenizer-from", str(bert_run),
        "--quiet")
    cli("train", str(grown), "--model", "bert", "--init-from", str(bert_run), "--max-steps", "1", "--lr", "0",
        "--eval-interval", "1", "--eval-batches", "1", "--batch-size", "4", "--quiet", "--threads", "1")
    model, tok, config = load_model(grown, which="latest")
    base, base_tok, _ = load_model(bert_run)
    assert tok.vocab_size > base_tok.vocab_size and config["init_from"]["run"] == str(bert_run)
    new_rows = {t: i for i, t in enumerate(tok.token_strings())}
    for i, token in enumerate(base_tok.token_strings()):  # every old token keeps its embedding row
        assert torch.equal(model.transformer.wte.weight[new_rows[token]], base.transformer.wte.weight[i])
    assert torch.equal(model.transformer.h[0].attn.c_attn.weight, base.transformer.h[0].attn.c_attn.weight)
    # a run prepared with its own, unrelated tokenizer is refused with a clear error
    other = tmp_path / "other"
    corpus.write_text("\n".join(["xyz qrs"] * 120) + "\n", encoding="utf-8")
    cli("prepare", "--corpus", str(corpus), "--unit", "line", "--out", str(other), "--quiet")
    assert_user_error(genlab("train", str(other), "--model", "bert", "--init-from", str(bert_run), "--max-steps",
                             "1"), r"tokenizer is not that run's.*--tokenizer-from")
    assert_user_error(genlab("train", str(other), "--model", "gpt", "--init-from", str(bert_run), "--max-steps",
                             "1"), r"holds a bert model")


def test_bad_input_is_one_line_exit_2(tmp_path: Path, bert_run: Path, labels: Path) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    binary = tmp_path / "bad.tsv"
    binary.write_bytes(b"pos\tgood\nneg\t\xff\xfe\n")
    out = str(tmp_path / "x")
    assert_user_error(genlab("classify", "train", out, "--init-from", "none", "--data", str(empty)), "is empty")
    assert_user_error(genlab("classify", "train", out, "--init-from", "none", "--data", str(binary)),
                      r"bad.tsv:2: invalid UTF-8")
    assert_user_error(genlab("classify", "train", out, "--init-from", str(tmp_path / "nope"), "--data", str(labels)),
                      "not found|no trained model")
    assert_user_error(genlab("classify", "train", out, "--init-from", "none", "--data", str(labels), "--augment",
                             "eda:7"), r"strength")
    assert_user_error(genlab("classify", "train", out, "--init-from", "none", "--data", str(labels),
                             "--time-budget", "soon"), r"duration")
    assert_user_error(genlab("classify", "eval", str(tmp_path / "nope"), "--data", str(labels)), "not found|no trained")
    assert_user_error(genlab("classify", "eval", str(bert_run), "--data", str(labels)), "not a classifier")
    assert_user_error(genlab("fill", str(tmp_path / "nope"), "<mask>"), "not found|no trained")
    assert_user_error(genlab("fill", str(bert_run), "x", "--top-k", "-1"), "positive integer")
    assert_user_error(genlab("train", str(bert_run), "--model", "bert", "--augment", "nonsense"),
                      "unknown augmentation")
    weights = (bert_run / "model.safetensors").read_bytes()
    assert_user_error(genlab("classify", "train", str(bert_run), "--init-from", str(bert_run), "--data", str(labels)),
                      "is the --init-from run itself")
    assert_user_error(genlab("classify", "train", str(bert_run), "--init-from", "none", "--data", str(labels),
                             "--overwrite"), "holds a bert run, not a classifier")
    assert (bert_run / "model.safetensors").read_bytes() == weights
    assert_user_error(genlab("classify", "train", out, "--init-from", str(bert_run), "--data", str(labels),
                             "--preset", "bert-small"), "--preset is for --init-from none")
    for flags, pattern in ((["--augment-copies", "3"], "--augment-copies shapes text augmentation, which is off"),
                           (["--augment", "eda", "--augment-copies", "1000000"], "at most 100 augmented copies")):
        assert_user_error(genlab("classify", "train", out, "--init-from", "none", "--data", str(labels), *flags),
                          pattern)
    assert_user_error(genlab("train", str(bert_run), "--model", "bert", "--resume", "--augment-copies", "2"),
                      "--augment-copies shapes text augmentation")
