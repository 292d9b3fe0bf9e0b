"""Tool calling for models that cannot call tools: a text format in, ToolCalls out.

Many local models behind an OpenAI-compatible server have no tool support (or the server
lacks a parser for their format). Rather than fail, we describe the tools in the system
prompt and ask for fenced JSON actions — ```` ```json {"tool": NAME, "arguments": {...}} ``` ````
— or, for edits, the SEARCH/REPLACE blocks coding models are trained on:

    path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

The reply is parsed back into ToolCalls in the order they appear, so the engineer's loop and
its toolbelt run unchanged. Tool results go back as user messages.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agents.provider import Message, ToolCall, ToolSpec

_FENCED_JSON = re.compile(r"```(?:json|JSON)?[ \t]*\n(?P<body>\{.*?\})[ \t]*\n?```", re.DOTALL)
_SEARCH_REPLACE = re.compile(
    r"(?:^|\n)(?P<path>[^\n`<>=]+?)[ \t]*\n"
    r"(?:```[^\n]*\n)?"
    r"<<<<<<< SEARCH[ \t]*\n(?P<search>.*?)(?:\n)?=======[ \t]*\n"
    r"(?P<replace>.*?)(?:\n)?>>>>>>> REPLACE",
    re.DOTALL,
)


def describe_tools(tools: tuple[ToolSpec, ...]) -> str:
    """The system-prompt section that teaches the text format for ``tools``."""
    lines = [
        "You cannot call functions directly. To use a tool, put a fenced JSON block in your "
        "reply, exactly like this:",
        "```json",
        '{"tool": "TOOL_NAME", "arguments": {"name": "value"}}',
        "```",
        "You may use several blocks in one reply; they run in order and you will get each "
        "result in the next message. The tools:",
    ]
    for tool in tools:
        params = json.dumps(tool.parameters.get("properties", {}), separators=(",", ":"))
        lines.append(f"- {tool.name}: {tool.description} Arguments: {params}")
    names = {t.name for t in tools}
    if "edit_file" in names:
        lines += [
            "To change part of a file you may instead write a SEARCH/REPLACE block: the file "
            "path on its own line, then",
            "<<<<<<< SEARCH",
            "the exact existing lines",
            "=======",
            "the new lines",
            ">>>>>>> REPLACE",
            "An empty SEARCH section creates the file with the new lines.",
        ]
    return "\n".join(lines)


def _json_action(body: str, names: set[str]) -> tuple[str, dict[str, Any]] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    name = data.get("tool") or data.get("name") or data.get("action")
    args = data.get("arguments", data.get("args", data.get("parameters", {})))
    if not isinstance(name, str) or name not in names or not isinstance(args, dict):
        return None
    return name, args


def parse_actions(text: str, tools: tuple[ToolSpec, ...]) -> tuple[ToolCall, ...]:
    """The tool calls a text-format reply asks for, in the order they appear."""
    names = {t.name for t in tools}
    found: list[tuple[int, str, dict[str, Any]]] = []
    for match in _FENCED_JSON.finditer(text):
        action = _json_action(match.group("body"), names)
        if action is not None:
            found.append((match.start(), *action))
    if not found and text.strip().startswith("{"):
        action = _json_action(text.strip(), names)
        if action is not None:
            found.append((0, *action))
    if "edit_file" in names:
        for match in _SEARCH_REPLACE.finditer(text):
            path = match.group("path").strip().strip("`*").strip()
            search, replace = match.group("search"), match.group("replace")
            if not search.strip() and "write_file" in names:
                content = replace if replace.endswith("\n") else replace + "\n"
                found.append((match.start(), "write_file", {"path": path, "content": content}))
            else:
                args = {"path": path, "search": search, "replace": replace}
                found.append((match.start(), "edit_file", args))
    found.sort(key=lambda item: item[0])
    return tuple(
        ToolCall(f"text-{index}", name, args) for index, (_, name, args) in enumerate(found)
    )


def render_history(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our conversation as plain chat messages: actions as text, results as user turns."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            for call in message.tool_calls:
                names[call.id] = call.name
            content = message.content
            if not content and message.tool_calls:
                content = "\n".join(
                    "```json\n" + json.dumps({"tool": c.name, "arguments": c.arguments}) + "\n```"
                    for c in message.tool_calls
                )
            out.append({"role": "assistant", "content": content or "(no reply)"})
            continue
        if message.role == "tool":
            name = names.get(message.tool_call_id or "", "tool")
            status = "failed" if message.is_error else "result"
            content = f"[{name} {status}]\n{message.content}"
        else:
            content = message.content
        if out and out[-1]["role"] == "user":
            out[-1]["content"] += "\n\n" + content
        else:
            out.append({"role": "user", "content": content})
    return out
