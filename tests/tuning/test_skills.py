"""builtin:skills: deterministic, checkable, and its held-out phrasings never reach training."""

from __future__ import annotations

import json
import re

import pytest

from genlab.errors import GenlabError
from genlab.tuning.skills import CALCULATOR, SKILLS, builtin_dataset, josa, sino_korean


@pytest.mark.parametrize("n, reading", [(1, "일"), (10, "십"), (11, "십일"), (20, "이십"), (101, "백일"),
                                        (1000, "천"), (2026, "이천이십육"), (9999, "구천구백구십구"),
                                        (3040, "삼천사십")])
def test_sino_korean_readings(n, reading):
    assert sino_korean(n) == reading


def test_particles_follow_the_reading():
    assert josa("2026", "을", "를") == "2026을"  # 육
    assert josa("1999", "을", "를") == "1999를"  # 구
    assert josa("456", "은", "는") == "456은"
    assert josa("사과", "을", "를") == "사과를" and josa("수박", "을", "를") == "수박을"


def test_the_dataset_is_deterministic_and_keeps_test_phrasings_out_of_training():
    a, b = builtin_dataset("skills", seed=3, train_size=800), builtin_dataset("skills", seed=3, train_size=800)
    assert [c.messages for c in a.train] == [c.messages for c in b.train]
    assert [c.messages for c in a.test] == [c.messages for c in b.test]
    assert [c.messages for c in builtin_dataset("skills", seed=4, train_size=800).train] != \
        [c.messages for c in a.train]
    assert {c.skill for c in a.train} == {s.name for s in SKILLS}
    for skill in SKILLS:
        assert not set(skill.train) & set(skill.held_out)
        assert any(any("가" <= ch <= "힣" for ch in p) for p in skill.train)  # Korean phrasings
        assert any(p.isascii() for p in skill.train)  # and English ones
    unseen = [c for c in a.test if c.tags["phrasing"] == "unseen"]
    train_questions = {m.content for c in a.train for m in c.messages if m.role == "user"}
    assert unseen and not any(c.messages[-2].content in train_questions for c in unseen if c.skill != "greeting")
    greetings = {c.messages[-2].content for c in unseen if c.skill == "greeting"}
    assert not greetings & train_questions


def test_answers_are_right():
    data = builtin_dataset("skills", seed=0, train_size=80, test_per_group=5)
    for conv in data.test:
        question, answer = conv.messages[-2].content, conv.messages[-1].content
        if conv.skill == "add":
            nums = [int(t) for t in re.findall(r"\d+", question)]
            assert int(answer) == sum(nums)
        if conv.skill == "reverse":
            word = question.split("'")[1]
            assert answer == word[::-1]


def test_unknown_builtin():
    with pytest.raises(GenlabError, match="available: builtin:skills"):
        builtin_dataset("recipes")


def test_the_calculator_skill_calls_the_tool_and_other_skills_sometimes_offer_it():
    data = builtin_dataset("skills", seed=0, train_size=900, test_per_group=4)
    calls = [c for c in data.train if c.skill == "calculator"]
    assert calls and all(c.tools == (CALCULATOR,) for c in calls)
    for conv in calls:
        user, call, result, answer = conv.messages[-4:]
        (tool_call,) = call.tool_calls
        expression = json.loads(tool_call.arguments)["expression"]
        a, b = (int(x) for x in expression.split("*"))
        assert tool_call.name == "calculator" and result.role == "tool" and result.tool_call_id == tool_call.id
        assert result.content == answer.content == str(a * b) and str(a) in user.content and str(b) in user.content
    # the other skills: a share offers the calculator, and none of them calls it (the model learns when)
    others = [c for c in data.train if c.skill != "calculator"]
    offered = sum(bool(c.tools) for c in others) / len(others)
    assert 0.15 < offered < 0.35 and not any(m.tool_calls for c in others for m in c.messages)
    # a test ends at the call, and what eval compares is the call (name and arguments)
    test = [c for c in data.test if c.skill == "calculator"]
    assert {c.tags["phrasing"] for c in test} == {"seen", "unseen"}
    context, expected = test[0].prompt_and_answer()
    assert context[-1].role == "user"
    assert re.fullmatch(r'\[tool call\] \{"name": "calculator", "arguments": \{"expression": "\d+\*\d+"\}\}', expected)


def test_training_sums_mix_operand_lengths_and_the_test_keeps_uniform_ones():
    data = builtin_dataset("skills", seed=0, train_size=2000, test_per_group=40)

    def operands(convs):
        return [int(n) for c in convs if c.skill in ("add", "sub") for n in re.findall(r"\d+", c.messages[-2].content)]

    train, test = operands(data.train), operands(data.test)
    lengths = [sum(len(str(n)) == d for n in train) / len(train) for d in (1, 2, 3)]
    # half the sums draw each operand's length first (a third each), half are uniform (nine in ten 3-digit)
    assert 0.12 < lengths[0] < 0.22 and 0.15 < lengths[1] < 0.27 and 0.55 < lengths[2] < 0.7
    assert sum(len(str(n)) == 3 for n in test) / len(test) > 0.8  # uniform below 1000
    for conv in data.train:
        if conv.skill == "sub":
            a, b = sorted(int(n) for n in re.findall(r"\d+", conv.messages[-2].content))
            assert int(conv.messages[-1].content) == b - a  # never negative
