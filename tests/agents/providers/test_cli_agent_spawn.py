"""Starting a coding agent does not hold the event loop until the agent runs.

The agent died with the factory through a ``preexec_fn`` (``prctl``): Python ran in the child
between ``fork`` and ``exec``, so it forked (copying the factory's page tables) instead of
using ``vfork``, and the loop — every other agent, the merge queue, the TUI, the event
writer — stood still until the agent's ``exec``. It is started through ``setpriv
--pdeathsig`` now, as the sandbox's commands are (tests/gates/test_sandbox_spawn_stall.py);
that it still dies with the factory is test_a_coding_agent_dies_with_a_factory_killed_by_sigkill.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
from pathlib import Path

import pytest
from loop_pauses import needs_setpriv, pauses

from agents.provider import CompletionRequest, Message, ProviderError
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from engine.parent_death import dies_with_us


def ask(workspace: Path) -> CompletionRequest:
    return CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", "Task t1: nothing to do"),),
        labels={"role": "engineer", "task": "t1", "workspace": str(workspace)},
    )


@needs_setpriv
async def test_an_agent_starts_without_holding_the_loop_as_the_preexec_fn_did(
    tmp_path: Path, ballast: None
) -> None:
    """A whole agent call (an agent that exits at once) against a bare start with the
    ``preexec_fn``, in the same process: the loop's median pause is under half of it."""
    true = shutil.which("true")
    assert true is not None
    agent = CliProvider("quick", CliAgent((true, "{prompt}"), "text", 30.0, fence=False))

    async def with_preexec_fn() -> None:
        process = await asyncio.create_subprocess_exec(
            true, start_new_session=True, preexec_fn=dies_with_us()
        )
        await process.wait()

    async def an_agent_call() -> None:
        assert (await agent.complete(ask(tmp_path))).text == "quick finished"

    old, new = [], []
    for _ in range(3):  # alternated, so a busy moment of the machine falls on both
        old += await pauses(with_preexec_fn, 4)
        new += await pauses(an_agent_call, 4)
    ratio = statistics.median(new) / statistics.median(old)
    assert ratio < 0.5, (f"{ratio:.2f}", [f"{p * 1000:.1f}" for p in old + new])


async def test_an_agent_that_is_not_executable_cannot_start_in_one_line(tmp_path: Path):
    """Started through a shell, a program that cannot be run would be an exit code 126:
    it is said as before, and marked missing, so a fallback chain skips it."""
    program = tmp_path / "agent.py"
    program.write_text("print('not executable')\n")
    agent = CliProvider("mine", CliAgent((str(program), "{prompt}"), "text", fence=False))
    with pytest.raises(ProviderError) as caught:
        await agent.complete(ask(tmp_path))
    assert str(caught.value) == f"cli:mine: cannot start {program}: Permission denied"
    assert caught.value.missing
