"""The chat template: rendering, the loss mask it returns with the ids, and parsing back."""

from __future__ import annotations

import pytest

from genlab.errors import GenlabError
from genlab.tokenizers import train
from genlab.tokenizers.base import CHAT_TOKENS
from genlab.tuning.template import ChatTemplate, Message, normalise

CONVERSATION = [
    Message("system", "You answer briefly."),
    Message("user", "2026을 한국어로 읽어 줘"),
    Message("assistant", "이천이십육"),
    Message("user", "and <|end|> 2027?"),
    Message("assistant", "이천이십칠", weight=0),
]
TEXT = " ".join(m.content for m in CONVERSATION)


def chat_tokenizer(kind: str):
    base = train(kind, [TEXT], **({"vocab_size": 300} if kind == "bpe" else {}))
    return base.extended(base.missing_symbols([m.content for m in CONVERSATION]), CHAT_TOKENS)


@pytest.mark.parametrize("kind", ["char", "word", "jamo", "bpe"])
def test_render_then_parse_gives_the_conversation_back(kind):
    template = ChatTemplate(chat_tokenizer(kind))
    rendered = template.render(CONVERSATION)
    assert len(rendered.ids) == len(rendered.mask)
    parsed = template.parse(rendered.ids)
    assert [(m.role, m.content) for m in parsed] == [(m.role, m.content) for m in CONVERSATION]
    # no template token leaks into decoded text, and the user's literal "<|end|>" stays text
    assert template.tokenizer.decode(rendered.ids) == "".join(m.content for m in CONVERSATION)
    assert rendered.ids.count(template.end_id) == len(CONVERSATION)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_the_mask_covers_assistant_content_and_its_end_of_turn_only(kind):
    tok = chat_tokenizer(kind)
    template = ChatTemplate(tok)
    rendered = template.render(CONVERSATION)
    learned = [i for i, m in zip(rendered.ids, rendered.mask) if m]
    assert learned == tok.encode("이천이십육") + [template.end_id]  # the weight-0 answer is context only
    prompt = template.render(CONVERSATION[:2], add_generation_prompt=True)
    assert prompt.ids[-1] == template.role_ids["assistant"] and not any(prompt.mask)


def test_a_tokenizer_without_chat_tokens_is_refused():
    with pytest.raises(GenlabError, match="no chat tokens; fine-tune it first"):
        ChatTemplate(train("char", ["abc"]))


def test_openai_messages_are_normalised():
    messages = normalise([{"role": "developer", "content": "hi"},
                          {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert messages == [Message("system", "hi"), Message("user", "ab")]
    with pytest.raises(GenlabError, match="unknown chat role 'tool'"):
        normalise([{"role": "tool", "content": "x"}])


def test_parse_rejects_malformed_ids():
    template = ChatTemplate(chat_tokenizer("char"))
    with pytest.raises(GenlabError, match="outside a turn"):
        template.parse([template.end_id])
    user = template.role_ids["user"]
    with pytest.raises(GenlabError, match="starts inside"):
        template.parse([user, user])
