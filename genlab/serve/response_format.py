"""``response_format``: OpenAI's structured outputs, enforced by constrained decoding.

``{"type": "text"}`` changes nothing; ``{"type": "json_object"}`` makes the answer one JSON object;
``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` makes it a JSON document valid
under the schema. The constraint is exact whatever ``strict`` says (genlab has no "best effort" mode:
a constrained answer that ends by itself always validates; one cut by ``max_tokens`` says ``length``).
A schema keyword the grammar cannot enforce is a 400 that names it, before any generation starts.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from genlab.errors import GenlabError
from genlab.generate import SamplingConfig
from genlab.serve.errors import APIError, bad_request
from genlab.serve.registry import ServedModel

PARAM = "response_format"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class JSONSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = None
    strict: bool | None = None

    @classmethod
    def parse(cls, data: Any) -> JSONSchemaFormat:
        if not isinstance(data, dict):
            raise bad_request("response_format.json_schema must be an object with name and schema",
                              f"{PARAM}.json_schema")
        data = dict(data)
        if "schema" in data:
            data["schema_"] = data.pop("schema")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(p) for p in first.get("loc", ())).replace("schema_", "schema")
            raise bad_request(f"Invalid value for 'response_format.json_schema.{field}': {first.get('msg')}",
                              f"{PARAM}.json_schema.{field}") from None


def response_grammar(response_format: dict[str, Any] | None):
    """The grammar ``response_format`` asks for (a :class:`genlab.structured.Grammar`), or None for text."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        _only(response_format, {"type"})
        return None
    from genlab.structured import UnsupportedSchemaError, json_object_grammar, json_schema_grammar

    if kind == "json_object":
        _only(response_format, {"type"})
        return json_object_grammar()
    if kind == "json_schema":
        _only(response_format, {"type", "json_schema"})
        spec = JSONSchemaFormat.parse(response_format.get("json_schema"))
        if not NAME.match(spec.name):
            raise bad_request("response_format.json_schema.name must be 1-64 letters, digits, '_' or '-'",
                              f"{PARAM}.json_schema.name")
        if spec.schema_ is None:
            raise bad_request("response_format.json_schema.schema is required (the JSON Schema to follow)",
                              f"{PARAM}.json_schema.schema")
        try:
            return json_schema_grammar(spec.schema_, spec.name)
        except UnsupportedSchemaError as exc:
            raise APIError(400, str(exc), param=f"{PARAM}.json_schema.schema",
                           code="unsupported_schema" if exc.keyword else "invalid_schema") from None
    raise bad_request(f"response_format.type must be 'text', 'json_object' or 'json_schema', got {kind!r}",
                      f"{PARAM}.type")


def _only(response_format: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(response_format) - allowed)
    if extra:
        raise bad_request(f"Unrecognized request argument supplied: response_format.{extra[0]}",
                          f"{PARAM}.{extra[0]}")


def check_constraint(served: ServedModel, cfg: SamplingConfig) -> None:
    """Build the request's constraint once, so a grammar this model's vocabulary cannot start is a 400 now."""
    if cfg.grammar is None:
        return
    try:
        cfg.constraints(served.tokenizer, 1)
    except GenlabError as exc:
        raise APIError(400, str(exc), param=PARAM, code="unsupported_response_format") from None
