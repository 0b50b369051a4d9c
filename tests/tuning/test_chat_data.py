"""Chat JSONL validation: every problem names its file and line."""

from __future__ import annotations

import json

import pytest

from genlab.errors import GenlabError
from genlab.tuning.chat_data import parse_record, read_chat_file
from genlab.tuning.template import Message
from genlab.tuning.tools import ToolCall

GOOD = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                     {"role": "assistant", "content": "a", "weight": 1}], "skill": "x", "id": 7}


def test_both_formats_are_read_and_metadata_is_ignored(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({"prompt": "p", "completion": "c", "meta": 1}) + "\n",
                    encoding="utf-8")
    first, second = read_chat_file(path)
    assert first.messages == [Message("system", "s"), Message("user", "q"), Message("assistant", "a")]
    assert first.skill == "x" and first.source == f"{path}:1"
    assert second.messages == [Message("user", "p"), Message("assistant", "c")] and second.source == f"{path}:3"
    assert second.prompt_and_answer() == ([Message("user", "p")], "c")


BAD = {
    "invalid JSON": ('{"messages": [', "invalid JSON"),
    "not an object": ("[1, 2]", "expected a JSON object, got list"),
    "unknown role": ('{"messages": [{"role": "bot", "content": "x"}]}', "unknown role 'bot'"),
    "empty content": ('{"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "a"}]}',
                      r"message 1 \(user\) has empty content"),
    "content type": ('{"messages": [{"role": "user", "content": 5}]}', "needs 'content' as a string"),
    "no assistant": ('{"messages": [{"role": "user", "content": "q"}]}', "no assistant message"),
    "all weight 0": ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", '
                     '"weight": 0}]}', "nothing to learn"),
    "weight on user": ('{"messages": [{"role": "user", "content": "q", "weight": 1}, '
                       '{"role": "assistant", "content": "a"}]}', "'weight' is only for assistant messages"),
    "weight 2": ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", '
                 '"weight": 2}]}', "'weight' must be 0 or 1"),
    "both formats": ('{"messages": [], "prompt": "p", "completion": "c"}', "has both"),
    "empty completion": ('{"prompt": "p", "completion": ""}', "'completion' is empty"),
    "skill type": ('{"prompt": "p", "completion": "c", "skill": 3}', "'skill' must be a string"),
    "messages type": ('{"messages": "hi"}', "'messages' must be a non-empty list"),
    "tool calls on user": ('{"messages": [{"role": "user", "content": "q", "tool_calls": []}, '
                           '{"role": "assistant", "content": "a"}]}', "only assistant messages carry 'tool_calls'"),
    "tool call arguments": ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": '
                            '[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{x"}}]}]}',
                            r"message 2: tool_calls\[0\]\.function\.arguments is not valid JSON"),
    "tool call not offered": ('{"tools": [{"type": "function", "function": {"name": "g"}}], "messages": '
                              '[{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"id": "c1", '
                              '"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}',
                              r"message 2 calls 'f', which is not in the line's 'tools' \(g\)"),
    "tool without id": ('{"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r"}, '
                        '{"role": "assistant", "content": "a"}]}', r"message 2 \(tool\) needs 'tool_call_id'"),
    "tool answers nothing": ('{"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r", '
                             '"tool_call_id": "c9"}, {"role": "assistant", "content": "a"}]}',
                             "answers tool_call_id 'c9', but no earlier assistant message"),
    "tools type": ('{"tools": {"name": "f"}, "messages": [{"role": "user", "content": "q"}, '
                   '{"role": "assistant", "content": "a"}]}', "'tools' must be a list"),
    "tool name": ('{"tools": [{"type": "function", "function": {"name": "a b"}}], "messages": '
                  '[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
                  r"'tools'\[0\]\.function\.name must be 1–64 letters"),
}


TOOL_LINE = {
    "tools": [{"type": "function", "function": {"name": "calculator", "description": "Arithmetic.", "parameters": {
        "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}],
    "messages": [
        {"role": "user", "content": "12*7?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "calculator", "arguments": "{\"expression\": \"12*7\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "84"},
        {"role": "assistant", "content": "84"},
    ],
}


def test_openai_tool_call_lines_are_read():
    conv = parse_record(TOOL_LINE, "d.jsonl:1")
    assert [t.name for t in conv.tools] == ["calculator"]
    assert conv.messages[1] == Message("assistant", "", tool_calls=(ToolCall("calculator", '{"expression": "12*7"}',
                                                                             "call_1"),))
    assert conv.messages[2] == Message("tool", "84", tool_call_id="call_1")
    assert '{"name": "calculator", "arguments": {"expression": "12*7"}}' in conv.texts()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_lines_name_the_file_and_line(tmp_path, case):
    line, pattern = BAD[case]
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(GenlabError, match=rf"d\.jsonl:2: .*{pattern}.*--skip-bad-lines"):
        read_chat_file(path)


def test_skip_bad_lines_reports_and_keeps_the_rest(tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join([json.dumps(GOOD), "{oops", json.dumps(GOOD), '{"messages": []}']) + "\n",
                    encoding="utf-8")
    assert len(read_chat_file(path, skip_bad_lines=True)) == 2
    assert "skipped 2 bad line(s)" in capsys.readouterr().err


@pytest.mark.parametrize("content, pattern", [
    (b"", "holds no conversations"),
    (b"\n  \n", "holds no conversations"),
    (b'{"prompt": "p", "completion": "\xff"}\n', r"d\.jsonl:1: not valid UTF-8"),
    (b"\x00\x01binary", "looks binary"),
])
def test_unusable_files_are_clear_errors(tmp_path, content, pattern):
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    with pytest.raises(GenlabError, match=pattern):
        read_chat_file(path)
    with pytest.raises(GenlabError, match="not found"):
        read_chat_file(tmp_path / "missing.jsonl")


def test_parse_record_accepts_an_implicit_prompt():
    conv = parse_record({"prompt": "", "completion": "hello"}, "x:1")
    assert conv.messages == [Message("assistant", "hello")]
