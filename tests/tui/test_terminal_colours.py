"""Named colours on a 16-colour terminal and under NO_COLOR, in a real terminal (tmux).

On ``TERM=xterm`` the header's "running", the current stage and a running task came out
bright red (Monokai's orange yellow matched to the nearest of 16 colours), like a failure;
under NO_COLOR a failed task and the SIM badge were grey 59 on a background near 30.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from rich.color import Color, ColorSystem
from textual.color import Color as TextualColor
from textual.theme import BUILTIN_THEMES

from tests.support.tmux_session import tmux_session
from tui.terminal_colours import (
    GREY_ON_DARK,
    GREY_ON_LIGHT,
    STANDARD_THEME,
    legible_ansi_theme,
    legible_themes,
)

REPO = Path(__file__).resolve().parents[2]

APP = """
import asyncio, sys
sys.path[:0] = [{repo!r}]
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentStarted, BlueprintProposed, EscalationRaised, RunStarted, Stage, StageChanged,
    TaskState, TaskStateChanged,
)
from tui.app import ShopfloorApp

bus = EventBus("r-colours")

async def feed() -> None:
    await asyncio.sleep(0.5)
    bus.emit(RunStarted(request="Add a greeting", repo="/srv", base_branch="main",
                        base_commit="0" * 40, integration_branch="wip", simulated=True))
    tasks = [Task(id="t1", title="Greeting"), Task(id="t2", title="Farewell")]
    bus.emit(BlueprintProposed(blueprint=Blueprint(spec="s", tasks=tasks)))
    bus.emit(StageChanged(stage=Stage.BUILD))
    bus.emit(TaskStateChanged(task_id="t1", state=TaskState.RUNNING, attempt=1))
    bus.emit(TaskStateChanged(task_id="t2", state=TaskState.FAILED, attempt=1))
    bus.emit(AgentStarted(agent_id="engineer:t1:a1", role="engineer", model="sim:",
                          simulated=True, task_id="t1", attempt=1))
    bus.emit(EscalationRaised(escalation_id="esc-1", kind="task", task_id="t2",
                              question="Retry the farewell?", options=["retry", "skip"]))
    await asyncio.sleep(3600)

ShopfloorApp(bus.subscribe("tui"), run_task=feed).run()
"""

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def foregrounds(line: str) -> list[tuple[str, str]]:
    """``line``'s text runs, each with the foreground in force: ``"33"``, ``"38;5;252"``."""
    runs: list[tuple[str, str]] = []
    fg, at = "", 0
    for match in SGR.finditer(line):
        if match.start() > at:
            runs.append((line[at : match.start()], fg))
        at = match.end()
        codes = match.group(1).split(";") if match.group(1) else ["0"]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in ("0", "39"):
                fg = ""
            elif code == "38" and i + 2 < len(codes) and codes[i + 1] == "5":
                fg, i = f"38;5;{codes[i + 2]}", i + 2
            elif code.isdigit() and (30 <= int(code) <= 37 or 90 <= int(code) <= 97):
                fg = code
            elif code == "48" and i + 2 < len(codes):
                i += 2
            i += 1
    runs.append((line[at:], fg))
    return runs


def backgrounds(line: str) -> list[tuple[str, str]]:
    """``line``'s text runs, each with the 16-colour background in force: ``"43"``, ``"103"``."""
    runs: list[tuple[str, str]] = []
    bg, at = "", 0
    for match in SGR.finditer(line):
        if match.start() > at:
            runs.append((line[at : match.start()], bg))
        at = match.end()
        for code in match.group(1).split(";") if match.group(1) else ["0"]:
            if code in ("0", "49"):
                bg = ""
            elif code.isdigit() and (40 <= int(code) <= 47 or 100 <= int(code) <= 107):
                bg = code
    runs.append((line[at:], bg))
    return runs


def foreground_of(screen: str, word: str) -> str:
    for line in screen.splitlines():
        for text, fg in foregrounds(line):
            if word in text:
                return fg
    raise AssertionError(f"{word!r} is not on the screen:\n{SGR.sub('', screen)}")


def grey_level(fg: str) -> int:
    """The brightness (0-255) of a 256-colour grey or colour-cube foreground."""
    number = int(fg.rsplit(";", 1)[1])
    if number >= 232:
        return 8 + 10 * (number - 232)
    red, green, blue = Color.from_ansi(number).get_truecolor()
    return (red + green + blue) // 3


def run_in_tmux(tmp_path: Path, env: list[str]) -> str:
    script = tmp_path / "app.py"
    script.write_text(APP.format(repo=str(REPO)), encoding="utf-8")
    command = ["env", *env, sys.executable, str(script)]
    with tmux_session(*command, width=120, height=30, cwd=REPO) as session:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = session.screen(escapes=True)
            # The footer comes last (Textual composes it again once the bindings settle).
            if "Farewell" in screen and "engineer:t1:a1" in screen and "Quit" in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the run never showed:\n{screen}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_running_is_yellow_on_a_16_colour_terminal(tmp_path: Path) -> None:
    screen = run_in_tmux(tmp_path, ["-u", "NO_COLOR", "-u", "COLORTERM", "TERM=xterm"])
    assert foreground_of(screen, "running") == "33"  # the header: yellow, not bright red
    assert foreground_of(screen, " build ") == "33"  # the current stage
    assert foreground_of(screen, "✓intake") == "32"
    assert foreground_of(screen, "failed") in ("31", "91")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_escalation_banner_and_the_keys_are_yellow_on_a_16_colour_terminal(
    tmp_path: Path,
) -> None:
    # The theme's orange warning and accent (#FFA62B) matched bright red, the error's colour.
    screen = run_in_tmux(tmp_path, ["-u", "NO_COLOR", "-u", "COLORTERM", "TERM=xterm"])
    banner = next(line for line in screen.splitlines() if "escalation waits" in line)
    assert {bg for text, bg in backgrounds(banner) if "escalation waits" in text} == {"103"}
    footer = screen.rstrip("\n").splitlines()[-1]
    keys = [fg for text, fg in foregrounds(footer) if text.strip() in ("e", "q", "?")]
    assert keys and set(keys) == {"93"}, foregrounds(footer)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_failed_task_and_the_sim_badge_stay_readable_under_no_color(tmp_path: Path) -> None:
    screen = run_in_tmux(tmp_path, ["-u", "COLORTERM", "TERM=tmux-256color", "NO_COLOR=1"])
    for word in ("failed", " SIM ", "running"):
        fg = foreground_of(screen, word)
        assert fg.startswith("38;5;") and grey_level(fg) >= 200, (word, fg)


def test_each_named_colour_comes_back_as_itself_on_16_colours() -> None:
    assert legible_ansi_theme("standard", no_color=False, dark=True) is STANDARD_THEME
    assert legible_ansi_theme("truecolor", no_color=False, dark=True) is None
    assert legible_ansi_theme("256", no_color=False, dark=False) is None
    for number in range(16):
        triplet = STANDARD_THEME.ansi_colors[number]
        assert Color.from_triplet(triplet).downgrade(ColorSystem.STANDARD).number == number


def test_no_color_greys_every_colour_apart_from_the_background() -> None:
    assert legible_ansi_theme("standard", no_color=True, dark=True) is GREY_ON_DARK
    assert legible_ansi_theme(None, no_color=True, dark=False) is GREY_ON_LIGHT
    for number in range(1, 7):  # red, green, yellow, blue, magenta, cyan
        on_dark = TextualColor(*GREY_ON_DARK.ansi_colors[number]).monochrome
        on_light = TextualColor(*GREY_ON_LIGHT.ansi_colors[number]).monochrome
        assert on_dark.brightness > 0.8 and on_light.brightness < 0.2


def drawn_red(value: str) -> bool:
    """Whether a 16-colour terminal draws a theme's CSS value (#RRGGBB [alpha], ansi_*) red."""
    if value.startswith("ansi_"):
        return value.split()[0] in ("ansi_red", "ansi_bright_red")
    if not value.startswith("#"):
        return False
    rgb = TextualColor.parse(value.split()[0]).rgb
    return Color.from_rgb(*rgb).downgrade(ColorSystem.STANDARD).number in (1, 9)


def test_no_colour_of_the_16_colour_themes_but_the_errors_comes_out_red() -> None:
    assert legible_themes("truecolor", no_color=False) == {}
    assert legible_themes("standard", no_color=True) == {}
    themes = legible_themes("standard", no_color=False)
    assert {"textual-dark", "textual-light", "gruvbox", "monokai", "ansi-light"} <= set(themes)
    for name, builtin in BUILTIN_THEMES.items():
        theme = themes.get(name, builtin)  # a built-in without a copy drew no red
        for variable, value in theme.to_color_system().generate().items():
            assert "error" in variable or not drawn_red(value), (theme.name, variable, value)
        assert theme.error == builtin.error, theme.name  # an error keeps its colour
