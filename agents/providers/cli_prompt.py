"""How the task's prompt reaches a coding agent: as an argument, on stdin, or in a file.

An agent's argv template holds ``{prompt}`` where its prompt goes (``claude -p {prompt}``).
Linux takes at most 128 KiB in one argument (``MAX_ARG_STRLEN``: "Argument list too long"),
and an engineer's prompt — its task, the repository context, a retry's failure output — can be
longer. Such a prompt goes where the agent reads a long one instead: Claude Code, Codex and
Gemini CLI read it on stdin (:attr:`~agents.providers.cli_agents.CliAgent.stdin_prompt`),
Aider from a file (:attr:`~agents.providers.cli_agents.CliAgent.prompt_file`,
``--message-file``). An agent with neither fails in one line saying how to configure it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, NamedTuple

from agents.provider import CompletionRequest, ProviderError
from agents.providers.cli_agents import CliAgent

MAX_PROMPT_ARG = 100_000
"""Bytes of prompt passed as an argument; a longer one goes to stdin or a file (Linux refuses
one argument over 128 KiB: "Argument list too long")."""

Via = Literal["argument", "stdin", "file"]

_PLACEHOLDER = re.compile(r"\{prompt\}|\{model\}")


class CommandLine(NamedTuple):
    """An agent's argv with its prompt placed, and where the prompt is: in the argv, to be
    written to the agent's stdin, or to be written to the file the argv names."""

    argv: list[str]
    via: Via


def agent_prompt(request: CompletionRequest) -> str:
    """The one prompt an agent is given: the system prompt, then what the user said."""
    said = [m.content for m in request.messages if m.role == "user" and m.content]
    parts = [request.system, *said] if request.system else said
    return "\n\n".join(parts)


def command_line(
    agent: CliAgent, name: str, model: str, prompt: str, prompt_file: Path | None = None
) -> CommandLine:
    """``agent``'s command line for ``prompt`` (on ``model``; ``name`` is its ``cli:NAME``).
    A prompt over :data:`MAX_PROMPT_ARG` bytes for a ``{prompt}`` argument goes to stdin
    where the agent reads it there, else to ``prompt_file`` where the agent takes a file (the
    caller writes it); else ``ProviderError``."""
    spec = f"cli:{name}@{model}" if model else f"cli:{name}"
    template = list(agent.argv)
    if model and not any("{model}" in a for a in template):
        template += agent.model_args
    via: Via = "argument" if any("{prompt}" in a for a in template) else "stdin"
    size = len(prompt.encode("utf-8"))
    if via == "argument" and size > MAX_PROMPT_ARG:
        at = template.index("{prompt}") if template.count("{prompt}") == 1 else -1
        option = template[at - 1] if at > 0 else None
        if at != -1 and agent.stdin_prompt is not None:
            template[at : at + 1] = agent.stdin_prompt
            via = "stdin"
        elif (
            agent.prompt_file is not None
            and option == agent.prompt_file[0]
            and prompt_file is not None
        ):
            template[at - 1 : at + 1] = [agent.prompt_file[1], str(prompt_file)]
            via = "file"
        else:
            raise ProviderError(
                f"{spec}: the prompt ({size} bytes) is too long for a command-line "
                f"argument; {_long_prompt_advice(agent, name)}"
            )
    # One pass, so the prompt (code, often with ``{model}`` in an f-string) is not
    # itself searched for placeholders.
    values = {"{prompt}": prompt, "{model}": model}
    argv = [_PLACEHOLDER.sub(lambda m: values[m[0]], a) for a in template]
    return CommandLine(argv, via)


def _long_prompt_advice(agent: CliAgent, name: str) -> str:
    """What the user can configure for a prompt too long for ``agent``'s argv: the way the
    agent has (stdin, a file option), else the one setting that makes the prompt shorter."""
    table = f"[providers.cli.{name}]"
    if agent.prompt_file is not None:
        option, file_option = agent.prompt_file
        return f"put {{prompt}} right after {option} in {table} argv to have it in a {file_option}"
    if agent.stdin_prompt is not None:
        return f"give {table} an argv without {{prompt}} to have it on stdin"
    return (
        f"if the agent reads its prompt on stdin, give {table} an argv without {{prompt}}; "
        "else lower [context] budget_tokens (the repository context in the prompt)"
    )
