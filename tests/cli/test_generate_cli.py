"""``genlab generate --json-schema FILE`` / ``--json``: structured output from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from genlab.cli import main

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 6}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("json-cli")
    lines = [json.dumps({"name": n, "age": a}) for n, a in [("cat", 3), ("dog", 12), ("bird", 1)]]
    (root / "c.txt").write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    out = root / "run"
    assert main(["prepare", "--corpus", str(root / "c.txt"), "--unit", "line", "--out", str(out), "--quiet"]) == 0
    assert main(["train", str(out), "--model", "markov", "--order", "3", "--quiet"]) == 0
    (root / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    return out


def test_json_schema_samples_validate(run: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["generate", str(run), "--json-schema", str(run.parent / "schema.json"), "--num", "6", "--seed", "1",
                 "--temperature", "1.5", "--format", "jsonl", "--max-tokens", "80"]) == 0
    samples = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(samples) == 6 and any(s["finish_reason"] == "stop" for s in samples)
    for s in samples:
        if s["finish_reason"] == "stop":
            jsonschema.validate(json.loads(s["text"]), SCHEMA)


def test_json_gives_an_object(run: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["generate", str(run), "--json", "--seed", "2", "--temperature", "0.5", "--max-tokens", "80"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), dict)


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read it"),
    ("{not json", "is not a JSON file"),
    ('{"type": "string", "pattern": "a+"}', "'pattern'"),
    ('{"type": "strnig"}', "invalid"),
])
def test_a_bad_schema_file_is_one_line_and_exit_2(run: Path, tmp_path: Path, capsys, content, message) -> None:
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    capsys.readouterr()
    assert main(["generate", str(run), "--json-schema", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_json_and_json_schema_exclude_each_other(run: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["generate", str(run), "--json", "--json-schema", "x.json"])
    assert exit_.value.code == 2
