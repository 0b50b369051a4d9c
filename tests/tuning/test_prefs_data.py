"""Preference files: TRL's and OpenAI's formats, ratings, and line-numbered errors."""

from __future__ import annotations

import json

import pytest

from genlab.errors import GenlabError
from genlab.tuning.prefs_data import read_preferences
from genlab.tuning.template import Message


def write(tmp_path, *records) -> str:
    path = tmp_path / "p.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                            for r in records), encoding="utf-8")
    return str(path)


def test_the_formats_read_into_the_same_pairs(tmp_path):
    user = [{"role": "user", "content": "q"}]
    pairs = read_preferences(write(
        tmp_path,
        {"prompt": "q", "chosen": "good", "rejected": "bad"},
        {"chosen": user + [{"role": "assistant", "content": "good"}],
         "rejected": user + [{"role": "assistant", "content": "bad"}]},  # implicit prompt
        {"prompt": user, "chosen": [{"role": "assistant", "content": "good"}],
         "rejected": [{"role": "assistant", "content": "bad"}]},
        {"input": {"messages": user}, "preferred_output": [{"role": "assistant", "content": "good"}],
         "non_preferred_output": [{"role": "assistant", "content": "bad"}]},
    ))
    assert {(p.prompt, p.chosen, p.rejected) for p in pairs} == {((Message("user", "q"),), "good", "bad")}
    doc = read_preferences(write(tmp_path, {"chosen": "a great film", "rejected": "a dull film"}))[0]
    assert doc.prompt == () and doc.prompt_text == ""  # an empty prompt: the answers start a document


def test_ratings_pair_a_liked_with_a_disliked_answer(tmp_path):
    pairs = read_preferences(write(tmp_path, {"prompt": "q", "completion": "nice", "label": True},
                                   {"prompt": "q", "completion": "rude", "label": False},
                                   {"prompt": "other", "completion": "lonely", "label": True},
                                   {"prompt": "q", "chosen": "c", "rejected": "r"}))
    assert sorted((p.chosen, p.rejected) for p in pairs) == [("c", "r"), ("nice", "rude")]


@pytest.mark.parametrize("line, pattern", [
    ("{oops", "invalid JSON"),
    ('{"chosen": "a"}', "needs 'chosen' and 'rejected'"),
    ('{"chosen": "", "rejected": "b"}', "'chosen' is empty"),
    ('{"chosen": "a", "rejected": "a"}', "the same answer"),
    ('{"chosen": [{"role": "user", "content": "x"}], "rejected": "b"}', "must end with a non-empty assistant"),
    ('{"prompt": 3, "chosen": "a", "rejected": "b"}', "'prompt' must be a string or a non-empty list"),
    ('{"input": {}, "preferred_output": [], "non_preferred_output": []}', "'input.messages' must be"),
    ('{"prompt": "q", "completion": "x", "label": "yes"}', "true/false 'label'"),
])
def test_bad_lines_name_the_line(tmp_path, line, pattern):
    path = write(tmp_path, {"prompt": "q", "chosen": "a", "rejected": "b"}, line)
    with pytest.raises(GenlabError, match=rf"p\.jsonl:2: .*{pattern}"):
        read_preferences(path)
    assert len(read_preferences(path, skip_bad_lines=True)) == 1


def test_files_without_pairs(tmp_path):
    with pytest.raises(GenlabError, match="holds no preference pairs"):
        read_preferences(write(tmp_path, {"prompt": "q", "completion": "x", "label": True}))
    with pytest.raises(GenlabError, match="not found"):
        read_preferences(tmp_path / "none.jsonl")
