"""The SFT task: packed rows, and a loss over assistant tokens only (checked by hand)."""

from __future__ import annotations

import math

import numpy as np
import torch

from genlab.models import gpt
from genlab.tokenizers import EOS_ID, train
from genlab.tokenizers.base import CHAT_TOKENS
from genlab.tuning.chat_data import Conversation
from genlab.tuning.sft import SFTTask, encode_split, split_conversations
from genlab.tuning.template import ChatTemplate, Message

CONVS = [
    Conversation([Message("user", "ping"), Message("assistant", "pong")]),
    Conversation([Message("system", "be brief"), Message("user", "2+2"), Message("assistant", "4"),
                  Message("user", "3+3"), Message("assistant", "6", weight=0)]),
    Conversation([Message("user", "안녕"), Message("assistant", "반가워요")]),
]


def make_task(block: int = 12) -> tuple[SFTTask, torch.nn.Module]:
    text = " ".join(m.content for c in CONVS for m in c.messages)
    tok = train("char", [text]).extended((), CHAT_TOKENS)
    template = ChatTemplate(tok)
    split = encode_split(template, CONVS)
    config = {"family": "gpt", "vocab_size": tok.vocab_size, "n_layer": 1, "n_head": 2, "n_embd": 16,
              "block_size": block}
    torch.manual_seed(0)
    model = gpt.build(config)
    return SFTTask("gpt", tok, split, split, block, lambda cfg: gpt.build(cfg)), model


def test_encoded_conversations_start_with_eos_and_mask_assistant_tokens():
    task, _ = make_task()
    data = task.splits["train"]
    assert len(data) == 3
    ids, mask = data.conversation(0)
    tok = task.tokenizer
    assert ids[0] == EOS_ID and mask[0] == 0
    assert tok.decode(ids[mask == 1]) == "pong"
    ids, mask = data.conversation(1)
    assert tok.decode(ids[mask == 1]) == "4"  # the weight-0 answer is not a target
    assert data.target_tokens == len("pong") + 1 + len("4") + 1 + len("반가워요") + 1


def test_the_loss_equals_a_hand_computed_mean_over_assistant_tokens():
    task, model = make_task()
    x, y, mask = task.batch("train", 4, np.random.default_rng(5))
    assert x.shape == y.shape == mask.shape == (4, 12)
    assert torch.equal(x[:, 1:], y[:, :-1])
    with torch.no_grad():
        loss = task.loss(model, (x, y, mask))
    with torch.no_grad():
        logits = model(x)
    total, count = 0.0, 0
    for b in range(4):
        for t in range(12):
            if mask[b, t]:
                logp = torch.log_softmax(logits[b, t].double(), dim=-1)
                total -= float(logp[y[b, t]])
                count += 1
    assert count == task.count_tokens((x, y, mask)) > 0
    assert math.isclose(float(loss), total / count, rel_tol=1e-5)


def test_rows_are_packed_without_padding_and_are_reproducible():
    task, _ = make_task(block=40)
    a = task.batch("train", 3, np.random.default_rng(1))
    b = task.batch("train", 3, np.random.default_rng(1))
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    x = a[0]
    assert (x[:, 0] == EOS_ID).all()  # each row starts at a conversation
    assert (x != 0).all()  # packed: no <pad> anywhere
    assert int((x == EOS_ID).sum()) >= 2 * 3  # several conversations per row


def test_split_is_deterministic_and_never_empty():
    convs = CONVS * 7
    train_a, val_a = split_conversations(convs, 0.1, seed=2)
    train_b, val_b = split_conversations(convs, 0.1, seed=2)
    assert len(val_a) == 2 and len(train_a) == 19
    assert [id(c) for c in val_a] == [id(c) for c in val_b]
    assert split_conversations(CONVS[:2], 0.01, seed=0)[1]  # at least one held out
