"""The plan screen (``b``): the blueprint the run builds, to read in full.

The task graph shows titles and order; this shows what the planner wrote — the spec, the
acceptance criteria, each task's description, files and test plan — as the reviewers and
the twin read it. It is the plan as the run holds it when the screen opens (a revised plan
shows once it is reopened). Escape goes back.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui.plan_text import plan_text
from tui.screens.run_model import RunModel
from tui.widgets.key_bar import KeyBar


class PlanScreen(Screen[None]):
    """The run's blueprint, scrollable."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("b", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, model: RunModel) -> None:
        """``model``: the run whose plan is shown."""
        super().__init__()
        self._model = model

    def compose(self) -> ComposeResult:
        blueprint = self._model.state.blueprint
        body = (
            plan_text(blueprint)
            if blueprint is not None
            else Text("no plan yet: the planner has not drawn one", style="dim")
        )
        with VerticalScroll(id="plan"):
            yield Static(body, id="plan-body")
        yield KeyBar()

    def on_mount(self) -> None:
        scroll = self.query_one("#plan", VerticalScroll)
        scroll.border_title = "the plan"
        scroll.focus()
