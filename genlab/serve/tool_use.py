"""A request's ``tools``, ``tool_choice`` and ``parallel_tool_calls``, checked into one
:class:`~genlab.tuning.tools.ToolUse`.

OpenAI's meanings: ``auto`` (the default when tools are given) lets the model answer in text or call
tools; ``none`` shows the tools but forbids calling them; ``required`` makes the turn one or more calls;
``{"type": "function", "function": {"name": …}}`` makes it one call of that function. Every problem is a
400 that names the field; a request whose ``tool_choice`` asks for a call without ``tools`` is one.
"""

from __future__ import annotations

from typing import Any

from genlab.errors import GenlabError
from genlab.serve.errors import bad_request
from genlab.tuning.tools import ToolSpec, ToolUse, parse_tools

CHOICES = ("auto", "none", "required")
__all__ = ["ToolUse", "tool_use"]


def tool_use(tools: Any, tool_choice: Any = None, parallel_tool_calls: bool | None = None) -> ToolUse | None:
    """The checked tool settings of a request, or None when it offers no tools (400s name the field)."""
    choice, name = _choice(tool_choice)
    if not tools:
        if choice in ("required", "function"):
            raise bad_request(f"tool_choice {_shown(tool_choice)} needs 'tools': offer the functions the model "
                              "may call", "tool_choice")
        return None
    try:
        specs = parse_tools(tools, "tools")
    except GenlabError as exc:
        raise bad_request(str(exc), "tools") from None
    for k, spec in enumerate(specs):
        _check_parameters(spec, k)
    if name is not None and not any(t.name == name for t in specs):
        raise bad_request(f"tool_choice names the function {name!r}, which is not in 'tools' "
                          f"({', '.join(t.name for t in specs)})", "tool_choice")
    return ToolUse(specs, choice, name, parallel=parallel_tool_calls is not False)


def _choice(tool_choice: Any) -> tuple[str, str | None]:
    if tool_choice is None:
        return "auto", None
    if isinstance(tool_choice, str):
        if tool_choice not in CHOICES:
            raise bad_request(f"tool_choice must be one of {', '.join(CHOICES)} or "
                              '{"type": "function", "function": {"name": …}}, got ' + repr(tool_choice), "tool_choice")
        return tool_choice, None
    function = tool_choice.get("function") if isinstance(tool_choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if tool_choice.get("type") != "function" or not isinstance(name, str) or not name:
        raise bad_request('tool_choice as an object must be {"type": "function", "function": {"name": "…"}}',
                          "tool_choice")
    return "function", name


def _shown(tool_choice: Any) -> str:
    return repr(tool_choice) if isinstance(tool_choice, str) else "for a named function"


def _check_parameters(spec: ToolSpec, index: int) -> None:
    """A tool's parameters must be a JSON Schema constrained decoding can follow (a call is made to match it)."""
    from genlab.structured.schema import check_schema

    try:
        check_schema(spec.schema)
    except GenlabError as exc:
        raise bad_request(f"tools[{index}].function.parameters: {exc}", "tools") from None
