"""``genlab classify train|eval|predict``: labelled text in, a classifier run out, accuracy and predictions.

``train`` builds the classifier from ``--init-from PRETRAINED_RUN`` (its tokenizer and weights) or
``none`` (a tokenizer trained on the labelled texts and a model of the same shape from random
weights: the baseline that shows what pretraining is worth), holds out a validation split, adds
augmented copies of the training texts if asked, and trains with the one loop.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genlab.checkpoint import read_config
from genlab.classify.data import LabelledData, load_labelled, load_texts, read_lines, validation_split
from genlab.classify.head import DEFAULT_POOLING
from genlab.classify.model import backbone_builder, build_classifier, encode_texts, load_classifier, probabilities
from genlab.classify.task import ClassificationTask, EncodedTexts
from genlab.errors import GenlabError
from genlab.stdin_text import stdin_lines
from genlab.tokenizers import Tokenizer
from genlab.training.config import resolve
from genlab.training.task import BEST_WEIGHTS, TRAIN_STATE

#: training defaults: frequent evaluation (accuracy picks the best weights), mild weight decay
CLASSIFY_DEFAULTS: dict[str, Any] = {"batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 30,
                                     "max_steps": 1000, "lr_decay_steps": 1000, "eval_interval": 100,
                                     "eval_batches": 10, "weight_decay": 0.01}
#: a pretrained backbone is fine-tuned more gently than a fresh one is trained
FINETUNE_LR = 5e-4
DEFAULT_MAX_LENGTH = 128


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def _scratch(args: argparse.Namespace, texts: list[str]) -> tuple[Tokenizer, dict[str, Any]]:
    """``--init-from none``: a tokenizer trained on the labelled texts and the family's preset shape."""
    from dataclasses import asdict

    from genlab.models.presets import preset_for
    from genlab.tokenizers import train as train_tokenizer

    family = args.model or "bert"
    tokenizer = train_tokenizer(args.tokenizer or "char", texts)
    if family == "bert":
        from genlab.models.bert import MASK_TOKEN, BertConfig

        tokenizer = tokenizer.extended((), [MASK_TOKEN])  # the same vocabulary layout as a pretrained BERT
        base: dict[str, Any] = asdict(BertConfig())
    elif family == "gpt":
        from genlab.models.gpt import GPTConfig

        base = asdict(GPTConfig())
    else:
        from genlab.models.rnn import RNNConfig

        base = asdict(RNNConfig(cell=family))
        base.pop("cell")
    _, preset = preset_for(family, args.preset)
    base.update({k: v for k, v in preset["model"].items() if k != "family"})
    base.update(family=family, vocab_size=tokenizer.vocab_size)
    if family in ("bert", "gpt"):
        base["block_size"] = args.max_length or DEFAULT_MAX_LENGTH
        if args.positions:
            base["positions"] = args.positions
    elif args.positions:
        raise GenlabError(f"--positions is for a bert or gpt backbone, not {family}")
    return tokenizer, base


def _refuse_other_runs(path: Path, init_from: str) -> None:
    """A classifier gets a directory of its own: never the run it starts from, nor any other kind of run
    (``--overwrite`` replaces a classifier, not the language model a user pretrained)."""
    source = Path(init_from)
    if init_from != "none" and source.exists() and path.exists() and path.resolve() == source.resolve():
        raise GenlabError(f"{path} is the --init-from run itself; give the classifier a new directory, e.g. "
                          f"{path.parent / (path.name + '-classifier')}")
    if (path / "config.json").is_file():
        family = (read_config(path).get("model") or {}).get("family")
        if family not in (None, "classifier"):
            raise GenlabError(f"{path} holds a {family} run, not a classifier; give the classifier a directory of "
                              "its own (--init-from that run to start from it)")


def train_cli(args: argparse.Namespace) -> int:
    from genlab.training.loop import fit
    from genlab.training.state import require_checkpoint

    path = Path(args.run)
    if path.exists() and not path.is_dir():
        raise GenlabError(f"{path} is a file; pass a directory for the classifier run")
    _refuse_other_runs(path, args.init_from)
    data = load_labelled(args.data)
    seed = args.seed if args.seed is not None else 1337
    train_idx, val_idx = validation_split(len(data), args.val_fraction, seed)
    train_data, val_data = data.subset(train_idx), data.subset(val_idx)
    classes = data.classes()
    extra = None
    if args.extra_train:  # e.g. `classify pseudo-label`'s output: trained on, never validated on
        extra = load_labelled(args.extra_train, "--extra-train", min_classes=1)
        unknown = sorted(set(extra.labels) - set(classes))
        if unknown:
            raise GenlabError(f"--extra-train {args.extra_train} has label(s) {unknown[:3]} that --data lacks "
                              f"({classes}); give the same label names")
        train_data = train_data + extra

    pretrained = args.init_from != "none"
    if pretrained:
        from genlab.training.init_from import InitFrom

        source = InitFrom(args.init_from, families=tuple(DEFAULT_POOLING))
        if args.model and args.model != source.family:
            raise GenlabError(f"--model {args.model} differs from --init-from {source.path} ({source.family}); "
                              "drop --model")
        tokenizer, backbone_config = source.tokenizer, dict(source.config["model"])
        if args.tokenizer:
            raise GenlabError("--tokenizer is for --init-from none (a pretrained run brings its own tokenizer)")
        if args.positions:
            raise GenlabError("--positions is for --init-from none (a pretrained run keeps its own)")
        if args.preset:
            raise GenlabError("--preset is for --init-from none (a pretrained run keeps its own size)")
    else:
        source = None
        tokenizer, backbone_config = _scratch(args, train_data.texts)
    if args.dropout is not None:
        backbone_config["dropout"] = args.dropout
    family = backbone_config["family"]
    limit = int(backbone_config["block_size"]) if family in ("bert", "gpt") else 10**9
    max_length = min(args.max_length or DEFAULT_MAX_LENGTH, limit)
    if max_length < 3:
        raise GenlabError("--max-length must be at least 3 (<bos>, a token, <eos>)")
    pooling = args.pooling or DEFAULT_POOLING[family]
    model_config = {"family": "classifier", "backbone": backbone_config, "labels": classes, "pooling": pooling,
                    "max_length": max_length, "head_dropout": 0.1}

    augmenter = None
    texts, labels = train_data.texts, train_data.labels
    from genlab.augment.text import refuse_orphan_flags

    refuse_orphan_flags(args.augment, args.synonyms, args.augment_copies)
    if args.augment:
        from genlab.augment.text import from_flags

        augmenter = from_flags(args.augment, args.synonyms, args.augment_copies, seed)
        texts, labels = augmenter.labelled(texts, labels)
    index = {c: i for i, c in enumerate(classes)}
    train_e = EncodedTexts(encode_texts(tokenizer, texts, max_length), np.array([index[x] for x in labels]))
    val_e = EncodedTexts(encode_texts(tokenizer, val_data.texts, max_length),
                         np.array([index[x] for x in val_data.labels]))
    data_id = _fingerprint(train_data.texts, train_data.labels, val_data.texts, val_data.labels,
                           augmenter.describe() if augmenter else None, tokenizer.fingerprint(), max_length)
    info = {"init_from": source.describe() if source else None,
            "classify": {"data": str(args.data), "extra_train": str(args.extra_train) if extra else None,
                         "extra_train_texts": len(extra) if extra else 0,
                         "train_texts": len(train_data), "val_texts": len(val_data),
                         "augmented_texts": len(texts) - len(train_data),
                         "skipped_empty": data.skipped + (extra.skipped if extra else 0),
                         "classes": classes, "freeze_encoder": bool(args.freeze_encoder),
                         "data_fingerprint": data_id},
            "augment": augmenter.describe() if augmenter else None}

    if args.resume:
        require_checkpoint(path)
        saved = read_config(path)
        if (saved.get("classify") or {}).get("data_fingerprint") != data_id:
            raise GenlabError(f"the labelled data, the split or the tokenizer changed since {path} was started; "
                              "resume with the same --data, --seed and --init-from, or start a new run")
        before = (saved.get("classify") or {}).get("aux_lm", 0.0)
        if before != args.aux_lm:
            raise GenlabError(f"{path} was trained with --aux-lm {before:g}; resume with the same weight")
        model_config = saved["model"]
        cfg = resolve(args, saved.get("train"))
    else:
        if (path / TRAIN_STATE).is_file() and not args.overwrite:
            raise GenlabError(f"{path} already holds a trained classifier: continue it with --resume, or pass "
                              "--overwrite to start over")
        defaults = dict(CLASSIFY_DEFAULTS, seed=seed)
        if pretrained:
            defaults.update(lr=FINETUNE_LR, min_lr=FINETUNE_LR / 10)
        cfg = resolve(args, defaults, decay_follows_stop=True)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GenlabError(f"cannot create {path}: {exc.strerror or exc}") from exc
        tokenizer.save(path / "tokenizer.json")

    def build(config: dict[str, Any]):
        backbone = None
        if source is not None:
            backbone = source.model(config["backbone"], tokenizer, backbone_builder(family))
        model = build_classifier(config, backbone)
        if args.freeze_encoder:
            for p in model.backbone.parameters():
                p.requires_grad_(False)
        return model

    auxiliary = None
    if args.aux_lm:
        from genlab.classify.auxiliary import AuxiliaryLM

        auxiliary = AuxiliaryLM.of(args.aux_lm, family, tokenizer)
    info["classify"]["aux_lm"] = args.aux_lm
    task = ClassificationTask(tokenizer.fingerprint(), train_e, val_e, build, info, auxiliary)
    counts = ", ".join(f"{c}: {train_data.labels.count(c):,}" for c in classes)
    print(f"classifier on {args.data}: {len(train_data):,} texts to train ({counts}"
          f"{f'; {len(extra):,} from --extra-train' if extra else ''})"
          f"{f' + {len(texts) - len(train_data):,} augmented copies' if augmenter else ''}, {len(val_data):,} held "
          f"out; {family} backbone from {source.path if source else 'random weights'}, pooling {pooling}")
    result = fit(task, cfg, path, model_config, resume=args.resume, progress=not args.quiet)
    best = _best_accuracy(path)
    print(f"trained classifier: {result.steps:,} steps in {result.elapsed:.1f} s ({result.stopped}); "
          f"best val accuracy {best:.3f} at step {result.best_step}")
    print(f"weights: {path / BEST_WEIGHTS}; next: genlab classify eval {path} --data LABELS · "
          f"genlab classify predict {path} FILE")
    return 0


def _best_accuracy(path: Path) -> float:
    best = math.nan
    try:
        for line in (path / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "val_accuracy" in record and not record["val_accuracy"] <= best:
                best = record["val_accuracy"]
    except (OSError, ValueError):
        pass
    return best


def scores(truth: np.ndarray, guess: np.ndarray, k: int) -> tuple[float, float, np.ndarray]:
    """Accuracy, macro-F1 (over the classes) and the confusion matrix ``[true, predicted]``."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, guess), 1)
    tp = np.diag(confusion).astype(float)
    precision = tp / np.maximum(confusion.sum(axis=0), 1)
    recall = tp / np.maximum(confusion.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return float((truth == guess).mean()), float(f1.mean()), confusion


def plot_confusion(confusion: np.ndarray, classes: list[str], out: Path, title: str, flag: str = "--plot") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genlab.checkpoint import atomic_write

    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * k, 1.0 + 0.6 * k))
    ax.imshow(confusion, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{confusion[i, j]:,}", ha="center", va="center",
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set_xticks(range(k), classes)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=100), flag)
    plt.close(fig)


def eval_cli(args: argparse.Namespace) -> int:
    if args.plot and Path(args.plot).is_dir():  # refused before the evaluation, not after it
        raise GenlabError(f"--plot {args.plot} is a directory; give the PNG file to write, e.g. "
                          f"--plot {Path(args.plot) / 'confusion.png'}")
    model, tokenizer, config = load_classifier(args.run, which=args.which)
    classes = config["model"]["labels"]
    data: LabelledData = load_labelled(args.data)
    unknown = sorted(set(data.labels) - set(classes))
    if unknown:
        raise GenlabError(f"--data {args.data} has label(s) {unknown[:3]} the classifier never saw (it knows "
                          f"{classes})")
    index = {c: i for i, c in enumerate(classes)}
    rows = encode_texts(tokenizer, data.texts, int(config["model"]["max_length"]))
    truth = np.array([index[x] for x in data.labels])
    guess = probabilities(model, rows).argmax(axis=1)
    accuracy, macro_f1, confusion = scores(truth, guess, len(classes))
    print(f"texts {len(data):,}")
    print(f"accuracy {accuracy:.3f}")
    print(f"macro-F1 {macro_f1:.3f}")
    out = Path(args.plot) if args.plot else Path(args.run) / "confusion.png"
    plot_confusion(confusion, classes, out, f"{Path(args.data).name}: accuracy {accuracy:.3f}")
    print(f"confusion matrix: {out}")
    return 0


def pseudo_label_cli(args: argparse.Namespace) -> int:
    """Label unlabelled texts with a trained classifier, keeping the confident ones (self-training).

    With few labels and many unlabelled texts, a classifier's confident guesses on the unlabelled ones
    are mostly right; training a fresh classifier on the labels plus those guesses (``classify train
    --extra-train``, with dropout and augmentation as noise: Xie et al.'s "noisy student") usually
    generalises better than its teacher. The output is ``label<TAB>text``, the most confident first.
    """
    from genlab.checkpoint import write_text

    model, tokenizer, config = load_classifier(args.run, which=args.which)
    classes = config["model"]["labels"]
    # a text given twice would count twice; a tab inside a text would break the output's columns
    texts = list(dict.fromkeys(t.replace("\t", " ") for t in load_texts(args.input)))
    probs = probabilities(model, encode_texts(tokenizer, texts, int(config["model"]["max_length"])))
    best, confidence = probs.argmax(axis=1), probs.max(axis=1)
    keep, taken = [], np.zeros(len(classes), dtype=np.int64)
    for i in np.argsort(-confidence, kind="stable"):  # the most confident first
        if confidence[i] < args.min_prob:
            break
        if not args.max_per_class or taken[best[i]] < args.max_per_class:
            keep.append(i)
            taken[best[i]] += 1
    if not keep:
        raise GenlabError(f"no text reached --min-prob {args.min_prob:g} (the most confident: "
                          f"{confidence.max():.3f}); lower it")
    lines = "".join(f"{classes[best[i]]}\t{texts[i]}\n" for i in keep)
    write_text(args.out, lines)
    counts = ", ".join(f"{c}: {int(taken[k]):,}" for k, c in enumerate(classes))
    print(f"pseudo-labelled {len(keep):,} of {len(texts):,} texts at probability ≥ {args.min_prob:g} ({counts}): "
          f"{args.out}")
    print(f"next: genlab classify train NEW_RUN --data LABELS --extra-train {args.out} --init-from PRETRAINED_RUN")
    return 0


def predict_cli(args: argparse.Namespace) -> int:
    model, tokenizer, config = load_classifier(args.run, which=args.which)
    classes = config["model"]["labels"]
    if args.input == "-":
        lines = list(stdin_lines())
    else:
        lines = [line for _, line in read_lines(args.input, "input")]
        if lines and not lines[-1]:
            lines.pop()  # what follows the file's last newline
    texts = [line.strip() for line in lines]
    todo = [i for i, text in enumerate(texts) if text]
    if not todo:
        raise GenlabError("nothing to classify: the input has no non-empty line")
    probs = probabilities(model, encode_texts(tokenizer, [texts[i] for i in todo], int(config["model"]["max_length"])))
    out = [""] * len(texts)  # one output line per input line: a blank line stays blank, so the two line up
    for i, row in zip(todo, probs):
        best = int(row.argmax())
        out[i] = f"{classes[best]}\t{row[best]:.4f}"
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0
