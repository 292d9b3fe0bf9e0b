"""The engineer's tools as a model sees them, apart from running them.

What the model is offered (:data:`TOOL_SPECS`: list, read, write and edit files, run the
tests or one command, finish), what each call answers (:class:`ToolResult`), a call as the
agent's log shows it (:func:`describe_call`), and what a tool loop sends back for a reply cut
at the output limit (:func:`answers_to_a_cut_reply`). :class:`~agents.toolbelt.Toolbelt`
runs the calls in a worktree; the engineer's and the verifier's loops use both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from agents.provider import Message, ToolCall, ToolSpec


@dataclass(frozen=True)
class ToolResult:
    text: str
    is_error: bool = False


CUT_NOTICE = (
    "Your reply was cut off at the output limit, so none of its tool calls was run. "
    "Go on in smaller steps: a large file in parts (its start with write_file, the rest "
    "added with edit_file)."
)


EMPTY_REPLY_NOTICE = (
    "Your reply was empty: no text and no tool call. Go on with the task: call the next tool, "
    "or finish with a summary when the task is done."
)
"""The user turn that follows a model's empty reply (asked once an attempt): Anthropic's advice
for an empty ``end_turn``, rather than the same request again."""


def answers_to_a_cut_reply(calls: Sequence[ToolCall]) -> list[Message]:
    """What a tool loop sends back for a reply cut at the output limit: the last call's
    arguments may be half there (a file's content cut off), so none is run; each gets
    :data:`CUT_NOTICE` as its error, or, for a reply of text alone, the next user turn."""
    return [Message("tool", CUT_NOTICE, tool_call_id=call.id, is_error=True) for call in calls] or [
        Message("user", CUT_NOTICE)
    ]


def describe_call(call: ToolCall) -> str:
    """A tool call as the agent's log shows it: long text arguments (a file's content, an
    edit) by their length, not in full."""
    shown = {
        k: (v if not isinstance(v, str) or len(v) < 60 else f"<{len(v)} chars>")
        for k, v in call.arguments.items()
    }
    return f"{call.name} {json.dumps(shown)}" if shown else call.name


TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "list_files", "List the files of the repository.", {"type": "object", "properties": {}}
    ),
    ToolSpec(
        "read_file",
        "Read a text file of the repository.",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    ToolSpec(
        "write_file",
        "Create or overwrite a file with the given content.",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    ),
    ToolSpec(
        "edit_file",
        "Replace exactly one occurrence of `search` with `replace` in a file.",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "search": {"type": "string"},
                "replace": {"type": "string"},
            },
            "required": ["path", "search", "replace"],
        },
    ),
    ToolSpec(
        "run_tests",
        "Run the project's tests as the gates do: pytest for Python, each package.json's "
        "test script (npm test) for Node; optional extra arguments for the test runner "
        "(a file or folder runs in the project or package holding it).",
        {"type": "object", "properties": {"args": {"type": "array", "items": {"type": "string"}}}},
    ),
    ToolSpec(
        "run",
        "Run one command in the repository, as an argv list without a shell, e.g. "
        '["python", "-m", "ruff", "check", "."]. No network; long output is cut.',
        {
            "type": "object",
            "properties": {
                "argv": {"type": "array", "items": {"type": "string"}},
                "timeout_s": {"type": "number"},
            },
            "required": ["argv"],
        },
    ),
    ToolSpec(
        "finish",
        "End the attempt with a one-paragraph summary of what was done.",
        {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
    ),
)
