"""The JSON Schema subset genlab turns into a grammar, checked before anything is compiled.

A keyword the grammar cannot enforce (``pattern``, ``format``, ``oneOf``, …) is refused by name rather
than ignored: ignoring it would let the model write JSON that parses but does not validate, while the
caller believes it was constrained. What is enforced token by token:

- ``type`` (object, array, string, number, integer, boolean, null, or a list of them);
- ``properties``, ``required``, ``additionalProperties`` (true, false or a schema);
- ``items``, ``minItems``, ``maxItems``; ``minLength``, ``maxLength``; ``minimum``, ``maximum``;
- ``enum``, ``const``, ``anyOf``; ``$ref`` to ``#/$defs/…`` or ``#/definitions/…`` (what Pydantic writes).

Annotations (``title``, ``description``, ``default``, ``examples``, …) change nothing and are accepted.
"""

from __future__ import annotations

from typing import Any

from genlab.errors import GenlabError

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
#: keywords whose value is one subschema / a map of subschemas / a list of subschemas
SUBSCHEMA = ("items", "additionalProperties")
SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
SUBSCHEMA_LISTS = ("anyOf",)
VALUES = ("type", "required", "enum", "const", "$ref", "minItems", "maxItems", "minLength", "maxLength",
          "minimum", "maximum")
ANNOTATIONS = ("title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
               "readOnly", "writeOnly")
SUPPORTED = frozenset(SUBSCHEMA + SUBSCHEMA_MAPS + SUBSCHEMA_LISTS + VALUES + ANNOTATIONS)


class UnsupportedSchemaError(GenlabError):
    """A schema that is not valid JSON Schema, or uses a keyword constrained decoding cannot enforce."""

    def __init__(self, message: str, keyword: str | None = None) -> None:
        super().__init__(message)
        self.keyword = keyword


#: deepest nesting of objects and arrays a schema may have: jsonschema and the grammar compiler recurse
#: once per level, and a schema a few hundred levels deep exhausted Python's stack (a 500 from the server)
MAX_DEPTH = 64


def _depth(value: Any) -> int:
    """How deeply JSON objects and arrays nest in ``value``, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:  # deeper than that is refused anyway: no need to walk it
                stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_schema(schema: Any) -> None:
    """Raise :class:`UnsupportedSchemaError` naming the first problem; return quietly for a usable schema."""
    if not isinstance(schema, dict):
        raise UnsupportedSchemaError(f"a JSON schema must be a JSON object, got {type(schema).__name__}")
    if _depth(schema) > MAX_DEPTH:
        raise UnsupportedSchemaError(f"the JSON schema nests objects and arrays more than {MAX_DEPTH} levels deep; "
                                     "flatten it")
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(top level)"
        raise UnsupportedSchemaError(f"the JSON schema is invalid at {where}: {exc.message}") from None
    _check(schema, "#", schema)


def _check(node: Any, where: str, root: dict[str, Any]) -> None:
    if isinstance(node, bool):  # true / false are schemas too (anything / nothing)
        return
    for key, value in node.items():
        if key not in SUPPORTED:
            raise UnsupportedSchemaError(
                f"the JSON schema keyword {key!r} (at {where}) is not supported by constrained decoding; "
                f"supported: {', '.join(sorted(SUPPORTED - set(ANNOTATIONS)))}", key)
        if key in SUBSCHEMA:
            _check(value, f"{where}/{key}", root)
        elif key in SUBSCHEMA_MAPS:
            for name, sub in value.items():
                _check(sub, f"{where}/{key}/{name}", root)
        elif key in SUBSCHEMA_LISTS:
            for i, sub in enumerate(value):
                _check(sub, f"{where}/{key}/{i}", root)
    if "$ref" in node:
        _check_ref(node["$ref"], where, root)


def _check_ref(ref: str, where: str, root: dict[str, Any]) -> None:
    """Only references into the schema's own ``$defs`` / ``definitions`` (no remote documents)."""
    target: Any = root
    parts = ref.split("/")
    if parts[0] != "#" or len(parts) != 3 or parts[1] not in ("$defs", "definitions"):
        raise UnsupportedSchemaError(f"$ref {ref!r} (at {where}) is not supported: refer to '#/$defs/NAME'", "$ref")
    target = root.get(parts[1], {}).get(parts[2].replace("~1", "/").replace("~0", "~"))
    if target is None:
        raise UnsupportedSchemaError(f"$ref {ref!r} (at {where}) names no definition in the schema", "$ref")
