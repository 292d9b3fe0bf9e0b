"""No API key reaches the screen: not in the closing lines of a headless run, not in the TUI.

An agent echoes what it sees, a model writes a key-shaped string, a run's reason quotes a
gate or a provider's error. The headless console's event lines were redacted, but the
closing ``reason:`` line printed the run's reason as it was, and the TUI drew agents' lines
and reasons as they came.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sample_run
from pilot_helpers import caught_up
from repo_helpers import make_repo
from rich.console import Console

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
)
from engine.state import RunState
from tui.app import ShopfloorApp
from tui.cli import main
from tui.commands.run import print_ending
from tui.messages import EventStreamEnded

SHAPED = "sk-ant-api03-" + "Q7x" * 12
"""A key by its shape: in no variable of this process."""
LITERAL = "plain-secret-value-4f1c9e"
"""A key by where it is: the value of a secret-looking variable."""


@pytest.fixture(autouse=True)
def secret_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PROVIDER_API_KEY", LITERAL)


def test_the_closing_lines_show_no_key_in_the_reason() -> None:
    state = RunState.fold(
        [
            RunStarted(
                run_id="r1",
                seq=1,
                request="x",
                repo="/srv/repo",
                base_branch="main",
                base_commit="0" * 40,
                integration_branch="shopfloor/wip/r1",
            ),
            RunFinished(
                run_id="r1",
                seq=2,
                outcome=Outcome.FAILED,
                reason=f"engineer failed: 401 for key {SHAPED} (also {LITERAL})",
            ),
        ]
    )
    out = io.StringIO()
    print_ending(state, Console(file=out, width=200, markup=False))
    shown = out.getvalue()
    assert "reason: engineer failed: 401 for key [REDACTED] (also [REDACTED])" in shown
    assert SHAPED[:12] not in shown and LITERAL not in shown


def shown_text(app: ShopfloorApp) -> str:
    """Everything the current screen draws, as plain text."""
    return "\n".join(
        "".join(segment.text for segment in line)
        for line in app.screen._compositor.render_update(full=True).strips  # type: ignore[attr-defined]
    )


async def test_the_tui_shows_no_key_in_an_agents_lines_or_the_runs_reason() -> None:
    bus = EventBus("r-keys")
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(160, 48)) as pilot:
        bus.emit(
            RunStarted(
                request="Build it",
                repo="/srv/repo",
                base_branch="main",
                base_commit="0" * 40,
                integration_branch="shopfloor/wip/r-keys",
                simulated=True,
            )
        )
        bus.emit(
            BlueprintProposed(blueprint=Blueprint(spec="S", tasks=[Task(id="t1", title="One")]))
        )
        bus.emit(StageChanged(stage=Stage.BUILD))
        sample_run.attempt(bus, "t1", 1, [f"export KEY={SHAPED}"], passes=False)
        agent = sample_run.engineer_id("t1", 1)
        bus.emit(AgentOutput(agent_id=agent, text=f"env says {LITERAL}"))
        bus.emit(RunFinished(outcome=Outcome.FAILED, reason=f"gave up: {SHAPED}"))
        await caught_up(app, bus, pilot)
        screen = shown_text(app)
        assert "export KEY=[REDACTED]" in screen and "env says [REDACTED]" in screen
        assert "gave up: [REDACTED]" in screen
        assert SHAPED[:12] not in screen and LITERAL not in screen
        kept = "\n".join(app.lines.lines(agent)) + (app.state.reason or "")
        assert SHAPED[:12] not in kept and LITERAL not in kept


async def test_the_error_toasts_show_no_key() -> None:
    """An engine's crash and a failed event feed are exceptions, not events: the bus never
    cleaned their words, and a provider's error may quote the request's key."""
    bus = EventBus("r-toasts")

    async def run() -> None:
        raise RuntimeError(f"401 from the provider: x-api-key {SHAPED} ({LITERAL})")

    app = ShopfloorApp(bus.subscribe("tui"), run_task=run)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await pilot.pause()
        app.main.post_message(EventStreamEnded(0, error=f"OperationalError: {LITERAL} {SHAPED}"))
        await pilot.pause()
        said = "\n".join(str(n.message) for n in app._notifications)  # type: ignore[attr-defined]
    assert "RuntimeError: 401 from the provider: x-api-key [REDACTED] ([REDACTED])" in said
    assert "OperationalError: [REDACTED] [REDACTED]" in said
    assert SHAPED[:12] not in said and LITERAL not in said


URL_TOKEN = "tok-9f8e7d6c5b4a"
"""A local server's key in its base URL: no known shape, in no variable."""


@pytest.mark.parametrize(
    "config",
    [
        f'[models]\ncritic = "opneai:qwen@http://alice:{URL_TOKEN}@127.0.0.1:9/v1"\n',
        f'[providers.limits."openai:qwen@http://alice:{URL_TOKEN}@127.0.0.1:9/v1"]\n'
        "max_concurency = 2\n",
    ],
    ids=["misspelt family", "misspelt limit"],
)
def test_a_config_error_shows_no_password_of_a_models_url(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config error quotes the spec as the file wrote it: a proxy's or local server's
    password went to the terminal (and to CI logs) in the one-line error."""
    repo = make_repo(tmp_path / "repo", {"README.md": "# x\n"})
    toml = tmp_path / "shopfloor.toml"
    toml.write_text(config)
    db = tmp_path / "runs.db"
    assert main(["run", "x", "--repo", str(repo), "--config", str(toml), "--db", str(db)]) == 2
    said = capsys.readouterr().err
    assert "alice:[REDACTED]@127.0.0.1" in said
    assert URL_TOKEN not in said
