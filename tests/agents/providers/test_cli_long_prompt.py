"""A task prompt too long for one command-line argument reaches every bundled coding agent.

Linux refuses an argument over 128 KiB (``MAX_ARG_STRLEN``: "Argument list too long"), and
an engineer's prompt with its repository context and a retry's failure output can be longer.
Claude Code, Codex and Gemini CLI then read it on stdin; Aider reads no stdin in its
``--message`` mode and failed every attempt to start ("too long for a command-line
argument"): it now gets ``--message-file`` with the prompt in a private file, removed after
the run and never in the worktree it commits. Each agent is its fake
(tests/agents/providers/fake_agents), run with its bundled profile's arguments.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from agents.provider import CompletionRequest, Message, ProviderError
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import DEFAULT_AGENTS
from agents.providers.cli_prompt import MAX_PROMPT_ARG, command_line
from agents.registry import ProviderOptions

FAKES = Path(__file__).parent / "fake_agents"
LAST = "End of the task: add hello.py."


def long_task(workspace: Path) -> CompletionRequest:
    """A 260 KB prompt (twice what one argument may hold) whose last line is :data:`LAST`."""
    context = "".join(f"context line {n} of the repository\n" for n in range(8000))
    return CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", f"Task t1: add hello.py\n{context}{LAST}"),),
        labels={"role": "engineer", "task": "t1", "workspace": str(workspace)},
    )


@pytest.mark.parametrize("name", sorted(DEFAULT_AGENTS))
async def test_a_prompt_over_the_argument_limit_reaches_each_bundled_agent_whole(
    tmp_path: Path, name: str
):
    bundled = DEFAULT_AGENTS[name]
    fake = (sys.executable, str(FAKES / f"fake_{name}.py"), *bundled.argv[1:])
    agent = dataclasses.replace(bundled, argv=fake, fence=False, timeout_s=30.0)
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    request = long_task(worktree)
    prompt_bytes = len((request.system + request.messages[0].content).encode())
    assert prompt_bytes > 2 * MAX_PROMPT_ARG
    argv, via = CliProvider(name, agent)._argv("x" * prompt_bytes, tmp_path / "prompt.md")
    assert via == ("file" if name == "aider" else "stdin")
    assert all(len(arg) < MAX_PROMPT_ARG for arg in argv)
    said: list[str] = []
    await CliProvider(name, agent).complete(request, said.append)
    # The fake wrote the prompt's last line: the agent read it whole.
    assert (worktree / "hello.py").read_text() == f"# {LAST}\nprint('hi')\n"
    assert sorted(p.name for p in worktree.iterdir()) == ["hello.py"]  # no prompt file here
    if name == "aider":  # the system prompt, a blank line and the task's 8002 lines
        [read] = [line for line in said if line.startswith("Read ")]
        file = Path(read.removeprefix("Read 8004 prompt lines from "))
        assert file.name == "prompt.md" and not file.parent.exists()


def test_the_prompt_file_replaces_its_option_only_where_the_argv_has_it(tmp_path: Path):
    """A configured Aider whose argv puts the prompt elsewhere (no ``--message`` before it)
    has no file way: it is told in one line where to put ``{prompt}`` for one (it reads no
    stdin: "an argv without {prompt}" would have sent the prompt nowhere)."""
    aider = dataclasses.replace(DEFAULT_AGENTS["aider"], argv=("aider", "-m", "{prompt}"))
    short = command_line(aider, "aider", "", "hello", tmp_path / "p.md")
    assert short == (["aider", "-m", "hello"], "argument")
    with pytest.raises(ProviderError) as refused:
        command_line(aider, "aider", "", "x" * (MAX_PROMPT_ARG + 1), tmp_path / "p.md")
    assert str(refused.value) == (
        "cli:aider: the prompt (100001 bytes) is too long for a command-line argument; put "
        "{prompt} right after --message in [providers.cli.aider] argv to have it in a "
        "--message-file"
    )
    whole = command_line(DEFAULT_AGENTS["aider"], "aider", "gpt-5", "x" * 100_001, tmp_path / "p")
    assert whole.argv[:3] == ["aider", "--message-file", str(tmp_path / "p")]
    assert whole.argv[-2:] == ["--model", "gpt-5"] and whole.via == "file"


def test_a_configured_agent_with_no_way_for_a_long_prompt_is_told_what_can_be_set(
    tmp_path: Path,
):
    """``[providers.cli.NAME]`` configures no stdin or prompt-file way (only argv, output,
    timeout_s, keys, fence): the line said "give an argv without {prompt} to have it on
    stdin", wrong for an agent that reads no stdin. It now says when that helps, and the
    setting that shortens the prompt otherwise."""
    argv = ["mybot", "--task", "{prompt}"]
    options = ProviderOptions.from_mapping({"cli": {"mybot": {"argv": argv}}})
    mybot = options.cli_agents["mybot"]
    with pytest.raises(ProviderError) as refused:
        command_line(mybot, "mybot", "", "x" * (MAX_PROMPT_ARG + 1), tmp_path / "p.md")
    assert str(refused.value) == (
        "cli:mybot: the prompt (100001 bytes) is too long for a command-line argument; if "
        "the agent reads its prompt on stdin, give [providers.cli.mybot] an argv without "
        "{prompt}; else lower [context] budget_tokens (the repository context in the prompt)"
    )
    assert "\n" not in str(refused.value)
    # Claude Code reads stdin: its {prompt} inside a longer argument keeps the stdin advice.
    claude = ProviderOptions.from_mapping(
        {"cli": {"claude": {"argv": ["claude", "--prompt={prompt}"]}}}
    ).cli_agents["claude"]
    with pytest.raises(ProviderError, match=r"argv without \{prompt\} to have it on stdin$"):
        command_line(claude, "claude", "", "x" * (MAX_PROMPT_ARG + 1), tmp_path / "p.md")
