"""How each coding agent that ``cli:NAME`` runs is started, and what it may see.

A :class:`CliAgent` is an argv template, its output format and its limits; the bundled
ones (Claude Code, Codex, Gemini CLI, Aider) are :data:`DEFAULT_AGENTS`, a
``[providers.cli.NAME]`` table configures others (agents/registry.py).

The agent is the model client itself, so it keeps the host environment it needs for its own
login (unlike gate commands, whose environment is scrubbed) — but only its own key: the other
providers' API keys, the GitHub token the factory publishes with and the database URL are
withheld (:func:`agent_env`). Claude Code sees ``ANTHROPIC_API_KEY``, Codex
``OPENAI_API_KEY``, Gemini CLI ``GEMINI_API_KEY`` and ``GOOGLE_API_KEY``; Aider, which talks
to any provider, sees every model key; a configured agent declares its ``keys``. A key
written into a configured argv is found (:func:`argv_keys`) and warned about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from agents.routing import KEY_VARIABLES
from engine.redaction import Redactor, is_secret_parameter
from engine.repo_guard import AGENT_IDENT

OutputFormat = Literal["claude-stream-json", "codex-json", "gemini-stream-json", "text"]


@dataclass(frozen=True)
class CliAgent:
    """How to start one agent: an argv template (``{prompt}``, ``{model}``) and its output.

    Without a ``{prompt}`` placeholder the prompt is written to the agent's stdin.
    """

    argv: tuple[str, ...]
    output: OutputFormat = "text"
    timeout_s: float = 1800.0
    keys: tuple[str, ...] | None = None
    """The model API key variables the agent may see; None: every model key."""
    stdin_prompt: tuple[str, ...] | None = None
    """What stands for a ``{prompt}`` argument when the prompt is too long for one (Linux
    takes at most 128 KiB in a single argument) and goes to stdin instead: ``()`` drops it
    (Claude Code reads its prompt from stdin), ``("-",)`` is Codex's; None: no such way."""
    fence: bool = True
    """Run the agent with the user's checkout read-only
    (:func:`~agents.providers.cli_fence.fence_argv`), where bubblewrap works; ``fence = false``
    in its table runs it as it is."""
    model_args: tuple[str, ...] = ()
    """Added to an argv without ``{model}`` when a model is asked for (``cli:NAME@MODEL``):
    the bundled agents' own option, ``--model {model}``."""
    prompt_file: tuple[str, str] | None = None
    """For an agent that reads no stdin: the option ``{prompt}`` follows, and the option
    that takes a file of the prompt instead, for a prompt too long for one argument
    (Aider's ``--message`` and ``--message-file``); None: no such way."""


DEFAULT_AGENTS: dict[str, CliAgent] = {
    "claude": CliAgent(
        (
            "claude",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "acceptEdits",
            # acceptEdits approves edits alone: in print mode every other shell command
            # (pytest, ruff) was denied, so the engineer could neither see its tests fail
            # first nor pass. Codex's --full-auto and Gemini's --yolo run commands too.
            "--allowedTools",
            "Bash",
        ),
        "claude-stream-json",
        keys=("ANTHROPIC_API_KEY",),
        stdin_prompt=(),
        model_args=("--model", "{model}"),
    ),
    "codex": CliAgent(
        ("codex", "exec", "--json", "--full-auto", "{prompt}"),
        "codex-json",
        keys=("OPENAI_API_KEY",),
        stdin_prompt=("-",),
        model_args=("--model", "{model}"),
    ),
    "gemini": CliAgent(
        ("gemini", "-p", "{prompt}", "--output-format", "stream-json", "--yolo"),
        "gemini-stream-json",
        keys=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        stdin_prompt=("",),  # `gemini -p ""` takes the prompt piped to it
        model_args=("--model", "{model}"),
    ),
    "aider": CliAgent(
        ("aider", "--message", "{prompt}", "--yes-always", "--no-auto-commits", "--no-pretty"),
        "text",
        prompt_file=("--message", "--message-file"),
        model_args=("--model", "{model}"),
    ),
}


FACTORY_SECRETS = ("GITHUB_TOKEN", "GH_TOKEN", "SHOPFLOOR_DB")
"""What no agent sees: the factory publishes and stores; agents only edit the worktree."""


def agent_env(agent: CliAgent, host: Mapping[str, str]) -> dict[str, str]:
    """The environment ``agent`` runs with: ``host`` without the keys it has no need of."""
    model_keys = {name for names in KEY_VARIABLES.values() for name in names}
    allowed = model_keys if agent.keys is None else set(agent.keys)
    withheld = (model_keys - allowed) | set(FACTORY_SECRETS)
    kept = {name: value for name, value in host.items() if name not in withheld}
    return {**kept, **AGENT_IDENT}  # the refs its git moves are logged as the agent's


_KEY_OPTION_NOT_KEY = re.compile(r"[-_](file|path|env|var|name|helper|cmd|command|dir)$", re.I)
"""An option named like a key whose value says where a key is, not the key
(``--api-key-file PATH``, ``--token-env NAME``)."""


def argv_keys(argv: Sequence[str]) -> list[tuple[str, str]]:
    """``(option, value)`` for each key a configured argv holds: the value of an option
    named like a secret (``--api-key VALUE``, ``--openai-api-key=VALUE``, ``--token V``,
    by :func:`~engine.redaction.is_secret_parameter`), and any argument of a known key
    shape (``sk-...``), as ``("a key-shaped argument", arg)``. Placeholders are no keys.

    An argv is every local user's to read (``ps``, ``/proc/<pid>/cmdline``) while the
    agent runs: :func:`argv_key_warning` says so at set-up, and these values are redacted
    from what the agent prints (:meth:`~agents.providers.cli.CliProvider.complete`)."""
    shapes = Redactor(())
    found: list[tuple[str, str]] = []
    for index, arg in enumerate(argv):
        if arg.startswith("-"):
            option, eq, value = arg.partition("=")
            if not eq:
                following = argv[index + 1] if index + 1 < len(argv) else ""
                value = "" if following.startswith("-") else following
            name = option.lstrip("-")
            if (
                value.strip()
                and "{" not in value
                and is_secret_parameter(name)
                and not _KEY_OPTION_NOT_KEY.search(name)
            ):
                found.append((option, value))
                continue
        if shapes.contains_secret(arg) and not any(arg.endswith(v) for _, v in found):
            found.append(("a key-shaped argument", arg))
    return found


def argv_key_warning(name: str, agent: CliAgent) -> str | None:
    """The one-line warning for an agent whose configured argv holds a key (naming the
    agent and the option, never the value); None when it holds none."""
    options = list(dict.fromkeys(option for option, _ in argv_keys(agent.argv)))
    if not options:
        return None
    return (
        f"[providers.cli.{name}] argv holds a key ({', '.join(options)}): every local user "
        "can read it with ps while the agent runs. Keys belong in the environment: the "
        "agent inherits shopfloor's, and a model key (OPENAI_API_KEY, ...) when its keys "
        "setting names it"
    )
