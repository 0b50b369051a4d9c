"""Encoder–decoder models: the decoding protocol, masking, teacher forcing, and real learning on dates."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from genlab.beam import translate_texts
from genlab.cli import main
from genlab.errors import GenlabError
from genlab.models import load_model
from genlab.models.seq2seq import RNNAttnSeq2Seq, TransformerSeq2Seq, build
from genlab.pairs import PairStore, pad_batch
from genlab.tokenizers import BOS_ID, EOS_ID, PAD_ID
from genlab.training.seq2seq_task import Seq2SeqTask


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models run fastest on one thread, above all on a shared machine; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


VARIANTS = [
    {"family": "rnn-attn", "cell": "gru", "attention": "bahdanau"},
    {"family": "rnn-attn", "cell": "lstm", "attention": "luong", "n_layer": 2},
    {"family": "rnn-attn", "cell": "gru", "attention": "luong"},
    {"family": "transformer", "positions": "sinusoidal"},
    {"family": "transformer", "positions": "learned", "share_embeddings": False, "src_vocab_size": 17},
]


def tiny(variant: dict, seed: int = 0):
    torch.manual_seed(seed)
    cfg = {"src_vocab_size": 13, "tgt_vocab_size": 13, "n_embd": 16, "dropout": 0.0, **variant}
    if cfg["family"] == "transformer":
        cfg.update(n_head=2, max_positions=32)
    return build(cfg).eval()


def sample_batch():
    src = pad_batch([np.array([5, 6, 7, 8, EOS_ID]), np.array([9, 10, EOS_ID])])
    tgt_in = pad_batch([np.array([4, 5, 6]), np.array([7, 8, 9, 10])], prefix=BOS_ID)
    return src, tgt_in


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(str(x) for x in v.values()))
def test_incremental_step_matches_teacher_forced_forward(variant):
    model = tiny(variant)
    src, tgt_in = sample_batch()
    with torch.no_grad():
        full = model(src, tgt_in)
        state = model.start(model.encode(src))
        steps = []
        for t in range(tgt_in.shape[1]):
            logits, state = model.step(tgt_in[:, t], state)
            steps.append(logits)
    assert full.shape == (2, tgt_in.shape[1], 13)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(str(x) for x in v.values()))
def test_padding_changes_nothing_and_gets_no_attention(variant):
    model = tiny(variant)
    src, tgt_in = sample_batch()
    with torch.no_grad():
        batched, attention = model(src, tgt_in, return_attention=True)
        alone = model(src[1:, :3], tgt_in[1:])  # the short sentence without the padding its batch adds
    torch.testing.assert_close(batched[1], alone[0], atol=1e-5, rtol=1e-5)
    assert attention.shape == (2, tgt_in.shape[1], src.shape[1])
    assert torch.all(attention[1, :, 3:] == 0)  # padded source positions
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, tgt_in.shape[1]))


def test_reorder_follows_beams():
    for variant in (VARIANTS[1], VARIANTS[3]):
        model = tiny(variant)
        src, _ = sample_batch()
        with torch.no_grad():
            state = model.start(model.encode(src))
            swapped = model.reorder(state, torch.tensor([1, 0]))
            a, _ = model.step(torch.tensor([BOS_ID, BOS_ID]), state)
            b, _ = model.step(torch.tensor([BOS_ID, BOS_ID]), swapped)
        torch.testing.assert_close(b, a.flip(0))


def test_teacher_forcing_ratio_feeds_own_predictions_only_in_training():
    model = tiny({"family": "rnn-attn", "teacher_forcing": 0.0})
    src, tgt_in = sample_batch()
    with torch.no_grad():
        forced = model(src, tgt_in)  # eval mode: always the reference
        model.train()
        free = model(src, tgt_in)  # ratio 0: every later input is the model's own argmax
        model.cfg.teacher_forcing = 1.0
        forced_train = model(src, tgt_in)
    torch.testing.assert_close(forced_train, forced)
    torch.testing.assert_close(free[:, 0], forced[:, 0])  # the first step always gets <bos>
    assert not torch.allclose(free[:, 1:], forced[:, 1:])
    # ratio 0 equals greedy decoding fed step by step
    model.eval()
    state = model.start(model.encode(src))
    token = tgt_in[:, 0]
    for t in range(tgt_in.shape[1]):
        logits, state = model.step(token, state)
        torch.testing.assert_close(logits, free[:, t], atol=1e-5, rtol=1e-5)
        token = logits.argmax(-1)


@pytest.mark.parametrize("change, message", [
    ({"family": "rnn-attn", "cell": "rnn"}, "--cell"),
    ({"family": "rnn-attn", "attention": "dot"}, "--attention"),
    ({"family": "rnn-attn", "teacher_forcing": 1.5}, "--teacher-forcing"),
    ({"family": "transformer", "n_embd": 30, "n_head": 4}, "divisible"),
    ({"family": "transformer", "src_vocab_size": 20}, "shared embeddings"),
    ({"family": "transformer", "positions": "rotary"}, "--positions"),
    ({"family": "gpt"}, "not an encoder-decoder"),
])
def test_bad_configs_are_clear_errors(change, message):
    with pytest.raises(GenlabError, match=message):
        build({"src_vocab_size": 13, "tgt_vocab_size": 13, **change})


def test_learned_positions_refuse_too_long_inputs():
    model = tiny(VARIANTS[4])
    with pytest.raises(GenlabError, match="positions"):
        model.encode(torch.full((1, 40), 5))


# --------------------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("dates")
    assert main(["prepare", "--pairs", "builtin:dates", "--num-examples", "4000", "--out", str(run), "--quiet"]) == 0
    return run


def _task_args(**kw) -> argparse.Namespace:
    base = {k: None for k in ("preset", "n_embd", "n_layer", "n_head", "dropout", "cell", "attention",
                              "teacher_forcing", "positions", "tie_weights", "block_size")}
    return argparse.Namespace(**{**base, **kw})


def test_task_batches_and_loss_ignore_padding(dates_run):
    task = Seq2SeqTask(dates_run, _task_args(model="rnn-attn", n_embd=16))
    src, tgt_in, tgt_out = task.batch("train", 8, np.random.default_rng(0))
    again = task.batch("train", 8, np.random.default_rng(0))
    assert all(torch.equal(a, b) for a, b in zip((src, tgt_in, tgt_out), again))
    assert torch.all(tgt_in[:, 0] == BOS_ID) and torch.equal(tgt_in[:, 1:] != PAD_ID, tgt_out[:, :-1] != PAD_ID)
    assert torch.all((tgt_out == EOS_ID).sum(1) == 1) and task.count_tokens((src, tgt_in, tgt_out)) == 8 * 11
    torch.manual_seed(0)
    model = task.build_model(task.model_config(_task_args(model="rnn-attn", n_embd=16))).eval()
    logits = model(src, tgt_in)
    keep = tgt_out != PAD_ID
    manual = -torch.log_softmax(logits, -1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)[keep].mean()
    torch.testing.assert_close(task.loss(model, (src, tgt_in, tgt_out)), manual)
    cfg = task.model_config(_task_args(model="rnn-attn", n_embd=16, cell="lstm", attention="luong"))
    assert (cfg["cell"], cfg["attention"], cfg["src_vocab_size"]) == ("lstm", "luong", task.tokenizer.vocab_size)
    with pytest.raises(GenlabError, match="preset"):
        task.model_config(_task_args(model="rnn-attn", preset="gpt-small"))


def _held_out_exact_match(run) -> float:
    """Greedy exact match on test dates whose day never appears among the training targets."""
    model, tokenizer, _ = load_model(run)
    assert getattr(model, "is_seq2seq", False)
    store = PairStore(run)
    train_days = {t for _, t in store.texts("train")}
    pairs = [(s, t) for s, t in store.texts("test") if t not in train_days]
    assert len(pairs) >= 150
    hyps = translate_texts(model, store.source_tokenizer, tokenizer, [s for s, _ in pairs])
    return sum(h == t for h, (_, t) in zip(hyps, pairs)) / len(pairs)


def _train(run, *flags: str) -> None:
    assert main(["train", str(run), "--seed", "1", "--threads", "1", "--quiet", "--overwrite", *flags]) == 0


def test_rnn_attn_learns_dates(dates_run, capsys):
    _train(dates_run, "--model", "rnn-attn", "--n-embd", "64", "--lr", "3e-3", "--max-steps", "300",
           "--eval-interval", "300")
    assert "exact_match" in capsys.readouterr().out
    model, _, config = load_model(dates_run)
    assert isinstance(model, RNNAttnSeq2Seq) and config["model"]["family"] == "rnn-attn"
    assert _held_out_exact_match(dates_run) >= 0.90


def test_transformer_learns_dates(dates_run):
    _train(dates_run, "--model", "transformer", "--n-embd", "64", "--n-layer", "1", "--positions", "learned",
           "--dropout", "0", "--lr", "3e-3", "--max-steps", "500", "--eval-interval", "500")
    model, _, _ = load_model(dates_run)
    assert isinstance(model, TransformerSeq2Seq) and model.cfg.share_embeddings
    assert _held_out_exact_match(dates_run) >= 0.90
    # tied weights are stored once and re-tied on load
    assert model.head.weight.data_ptr() == model.src_embed.weight.data_ptr()
    (dates_run / "model-best.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(GenlabError, match="corrupted or truncated"):
        load_model(dates_run)
