"""Tools (OpenAI's function calling) as the chat template sees them: their declaration, and one call.

A tool is declared as OpenAI does, ``{"type": "function", "function": {"name", "description", "parameters"}}``
with ``parameters`` a JSON Schema of the arguments object. The model is shown the offered tools in a
compact form — one line per tool, a signature a small model can read at the cost of few tokens::

    calculator(expression: string): Evaluate an arithmetic expression.

rather than the full JSON Schema (which would cost a char-level model hundreds of tokens per turn).

A call is the function's name and its arguments, a JSON object. OpenAI carries the arguments as JSON
*text*; here they are kept as canonical JSON text in the one layout constrained decoding writes
(``{"expression": "12*7"}``: ``", "`` between items, ``": "`` after keys, as Python's ``json.dumps``;
see :mod:`genlab.structured.grammar`), so the call a model learns in fine-tuning is written exactly as
the server lets it write one, and the rendered call, the parsed call and the call a server returns
are the same string.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genlab.errors import GenlabError

#: OpenAI's rule for function names
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
#: the first line of the tools turn (the rest: one signature per line)
TOOLS_HEADER = "Tools:"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str = ""
    #: the JSON Schema of the arguments object
    parameters: Any = None

    @property
    def schema(self) -> dict[str, Any]:
        return self.parameters if isinstance(self.parameters, dict) else EMPTY_PARAMETERS

    def openai(self) -> dict[str, Any]:
        """The declaration as OpenAI's API writes it."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.schema
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolUse:
    #: every offered tool (all are shown to the model, even with ``tool_choice: "none"``)
    tools: tuple[ToolSpec, ...]
    #: "auto", "none", "required", or "function" (one named function must be called)
    choice: str = "auto"
    name: str | None = None
    #: whether a turn may hold several calls (OpenAI's ``parallel_tool_calls``, true by default)
    parallel: bool = True

    @property
    def callable(self) -> tuple[ToolSpec, ...]:
        """The tools this turn may call."""
        if self.choice == "none":
            return ()
        if self.choice == "function":
            return tuple(t for t in self.tools if t.name == self.name)
        return self.tools

    @property
    def must_call(self) -> bool:
        return self.choice in ("required", "function")

    def spec(self, name: str) -> ToolSpec | None:
        return next((t for t in self.callable if t.name == name), None)


@dataclass(frozen=True)
class ToolCall:
    name: str
    #: the arguments as canonical JSON text of an object (see :func:`canonical_arguments`)
    arguments: str
    #: the call's id (``call_…``), which the tool message answering it names; never shown to the model
    id: str = ""

    def body(self) -> str:
        """What follows the tool-call marker in the template: ``{"name": …, "arguments": {…}}``."""
        return '{"name": ' + json.dumps(self.name, ensure_ascii=False) + ', "arguments": ' + self.arguments + "}"


def canonical_json(value: Any) -> str:
    """``value`` as JSON text in the fixed layout (``{"a": 1, "b": [2, 3]}``), characters unescaped."""
    return json.dumps(value, ensure_ascii=False)


def canonical_arguments(arguments: Any, where: str = "arguments") -> str:
    """A call's arguments (JSON text, or an already decoded object) as canonical JSON text of an object."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError as exc:
            raise GenlabError(f"{where} is not valid JSON ({exc}); send the arguments as a JSON object's text") \
                from None
    if not isinstance(arguments, dict):
        raise GenlabError(f"{where} must be a JSON object, got {type(arguments).__name__}")
    return canonical_json(arguments)


def parse_call_body(text: str) -> ToolCall:
    """The text after a tool-call marker → a call; a :class:`GenlabError` when it is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GenlabError(f"the tool call is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("arguments"),
                                                                                               dict):
        raise GenlabError('a tool call must be {"name": "…", "arguments": {…}}')
    return ToolCall(data["name"], canonical_json(data["arguments"]))


def parse_tools(raw: Any, where: str = "tools") -> tuple[ToolSpec, ...]:
    """OpenAI's ``tools`` list → specs; each problem is a :class:`GenlabError` naming the tool.

    Chat Completions nests a function (``{"type": "function", "function": {"name", …}}``); the Responses API
    writes it flat (``{"type": "function", "name", "description", "parameters"}``): both are read.
    """
    if not isinstance(raw, list):
        raise GenlabError(f"{where} must be a list of {{\"type\": \"function\", \"function\": {{…}}}}")
    specs: list[ToolSpec] = []
    for k, tool in enumerate(raw):
        at = f"{where}[{k}]"
        flat = isinstance(tool, dict) and "function" not in tool and "name" in tool  # the Responses API's form
        if not isinstance(tool, dict) or tool.get("type") != "function" \
                or not (flat or isinstance(tool.get("function"), dict)):
            raise GenlabError(f"{at} must be {{\"type\": \"function\", \"function\": {{\"name\": …}}}} "
                              "(genlab models call functions only)")
        function = tool if flat else tool["function"]
        name = function.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise GenlabError(f"{at}.function.name must be 1–64 letters, digits, '_' or '-', got {name!r}")
        description = function.get("description", "")
        if not isinstance(description, str):
            raise GenlabError(f"{at}.function.description must be a string")
        parameters = function.get("parameters", EMPTY_PARAMETERS)
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise GenlabError(f"{at}.function.parameters must be a JSON Schema of an object "
                              '({"type": "object", "properties": {…}})')
        if any(s.name == name for s in specs):
            raise GenlabError(f"{at}: two tools are named {name!r}; names must be distinct")
        specs.append(ToolSpec(name, description.strip(), parameters))
    return tuple(specs)


def type_text(schema: Any) -> str:
    """A JSON Schema as a short type: ``string``, ``number[]``, ``{a: string, b?: integer}``, ``"x"|"y"``."""
    if not isinstance(schema, dict):
        return "any"
    if "enum" in schema and isinstance(schema["enum"], list):
        return "|".join(canonical_json(v) for v in schema["enum"])
    if "const" in schema:
        return canonical_json(schema["const"])
    for combinator in ("anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            return "|".join(type_text(s) for s in schema[combinator])
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(type_text({**schema, "type": k}) for k in kind)
    if kind == "array":
        return type_text(schema.get("items")) + "[]"
    if kind == "object" or "properties" in schema:
        return "{" + fields_text(schema) + "}"
    return kind if isinstance(kind, str) else "any"


def fields_text(schema: dict[str, Any]) -> str:
    """An object schema's properties as ``a: string, b?: integer`` (``?``: not required)."""
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or ())
    return ", ".join(f"{name}{'' if name in required else '?'}: {type_text(sub)}" for name, sub in properties.items())


def signature(tool: ToolSpec) -> str:
    """One tool as the model reads it: ``name(field: type, …): description``."""
    line = f"{tool.name}({fields_text(tool.schema)})"
    return f"{line}: {tool.description}" if tool.description else line


def describe_tools(tools: Sequence[ToolSpec]) -> str:
    """The text of the tools turn: a header, then one signature per line."""
    return "\n".join([TOOLS_HEADER, *(signature(t) for t in tools)])


def reply_text(content: str, call_bodies: Sequence[str]) -> str:
    """An assistant reply as one comparable string: its text, then each call's body on its own line.

    Bodies that parse as a call are written canonically, so the same call in other spacing compares equal;
    what does not parse is kept as it is (and so never equals a real call).
    """
    lines = [content.strip()]
    for body in call_bodies:
        with contextlib.suppress(GenlabError):
            body = parse_call_body(body).body()
        lines.append(f"[tool call] {body}")
    return "\n".join(lines).strip()
