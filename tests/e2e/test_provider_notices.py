"""What a person sees of the provider layer's notices — a fallback, a model skipped while it is
down, a stream cut off — from the chain through an agent's session and the event bus to the
headless console and the TUI's agent log.

Before notices had a kind of their own they were ``error`` lines: the headless console showed
them only with ``-v`` (so an overnight log said nothing of a dead primary), and the TUI drew
them like every other line, a failing tool's output included.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

import pytest
from rich.console import Console

from agents.provider import Completion, CompletionRequest, Message, ProviderError, Usage
from agents.providers.fallback_chain import FallbackProvider
from agents.roles.common import AgentSession
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    BlueprintProposed,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from tui.app import ShopfloorApp
from tui.headless import ConsoleReporter
from tui.widgets.agent_log import AgentLog
from tui.widgets.line_view import LineView

pytestmark = pytest.mark.e2e

ASK = CompletionRequest(system="s", messages=(Message("user", "go"),), labels={"task": "t1"})
ENGINEER = "engineer:t1:a1"


class Link:
    """A link that streams ``pieces`` and then fails with ``error``, or streams "done"."""

    simulated = False

    def __init__(
        self, name: str, *, pieces: tuple[str, ...] = (), error: Exception | None = None
    ) -> None:
        self.family, self.model, self.spec = "openai", name, f"openai:{name}"
        self.pieces, self.error = pieces, error

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        for piece in self.pieces:
            if on_text is not None:
                on_text(piece)
        if self.error is not None:
            raise self.error
        if on_text is not None:
            on_text("done")
        return Completion("done", usage=Usage(10, 2), model=self.model)


async def an_engineer_on_a_chain_whose_primary_dies(bus: EventBus) -> None:
    """A run on one task whose engineer's primary streams a little and dies (HTTP 401), the
    backup answers, then one of its tools fails."""
    bus.emit(
        RunStarted(
            request="r",
            repo="/r",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="b",
        )
    )
    bus.emit(StageChanged(stage=Stage.BUILD))
    bus.emit(BlueprintProposed(blueprint=Blueprint(spec="s", tasks=[Task(id="t1", title="T")])))
    bus.emit(TaskStateChanged(task_id="t1", state=TaskState.RUNNING, attempt=1))
    dead = ProviderError("openai:primary: HTTP 401 bad key", status=401)
    chain = FallbackProvider([Link("primary", pieces=("Let me st",), error=dead), Link("backup")])
    session = AgentSession(
        chain, bus.emit, agent_id=ENGINEER, role="engineer", task_id="t1", attempt=1
    )
    await session.complete(ASK, session.say)
    session.say("pytest: 1 failed", kind="error")


NOTICE = (
    "openai:primary: HTTP 401 bad key; the text openai:primary streamed above is cut off, not an "
    "answer; openai:primary is skipped for the rest of the run; falling back to openai:backup"
)


@pytest.mark.parametrize("verbose", [False, True])
async def test_the_headless_console_says_a_fallback_once_with_or_without_verbose(verbose: bool):
    bus = EventBus("r-notices")
    console = Console(file=io.StringIO(), width=400)
    reporter = ConsoleReporter(bus.subscribe("console"), console, verbose=verbose, live=False)
    task = asyncio.create_task(reporter.run())
    await an_engineer_on_a_chain_whose_primary_dies(bus)
    await bus.close()
    await asyncio.wait_for(task, 5)
    lines = [line[9:] for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]
    assert [line for line in lines if "falling back" in line] == [f"» {ENGINEER}: {NOTICE}"]
    # A failing tool is agent chatter: shown with -v only, and not as a notice.
    assert any("pytest: 1 failed" in line for line in lines) == verbose
    assert not any(line.startswith("»") and "pytest" in line for line in lines)


async def test_the_tui_log_draws_notices_and_failures_apart_from_the_models_words():
    bus = EventBus("r-notices")
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(120, 40)) as pilot:
        await an_engineer_on_a_chain_whose_primary_dies(bus)
        log = app.screen.query_one(AgentLog)
        for _ in range(500):
            if log.agent_id == ENGINEER and len(log.lines) == 4:
                break
            await asyncio.sleep(0.01)
        await pilot.pause(0.3)
        assert list(log.lines) == ["Let me st", f"» {NOTICE}", "done", "! pytest: 1 failed"]
        view = log.query_one(LineView)
        view.refresh()
        await pilot.pause()
        drawn = {}
        for y in range(view.size.height):
            strip = view.render_line(y)
            text = strip.text.strip()
            if text:
                drawn[text[:9]] = next(s.style for s in strip if s.text.strip())
        text_style, notice, _, error = (drawn[line[:9]] for line in log.lines)
        assert text_style is not None and notice is not None and error is not None
        assert len({text_style.color, notice.color, error.color}) == 3
        assert notice.italic and not text_style.italic
        answer = drawn["done"]  # the answer after the notice is plain text again
        assert answer is not None and (answer.color, answer.italic) == (text_style.color, None)
