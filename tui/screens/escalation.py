"""The escalation modal: one question at a time, answered with one key.

:class:`EscalationScreen` is a ``ModalScreen[Decision]``: it shows a waiting escalation —
the question, its options, the context (a diff in syntax colours, failing gate output as
plain text; for a question about the plan, the plan itself) — and returns the
:class:`~tui.messages.Decision` taken: ``a`` approve, ``r`` reject, ``c`` change (with a
typed note), ``1``-``9`` any option by number. ``n``/``p`` move through the queue; escape
closes it without deciding (the result is then None). Who decided is not the modal's
business: whoever delivers the decision adds ``human:<user>`` (tui/decision_delivery.py).

The queue follows the run while it is open (:meth:`EscalationScreen.follow`): an escalation
decided elsewhere (``shopfloor approve``, the timeout) leaves it with a word saying how, one
raised meanwhile joins it, and the modal closes when nothing waits any more. A question
that has just taken the place of another ignores the decision keys for a moment, so a key
meant for the one before (a double press, type-ahead over a slow link) cannot decide it
unseen.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from engine.run_views import EscalationView
from engine.state import RunState
from tui.decision_words import VERBS, option_for
from tui.escalation_text import KEYS, context_renderable, options_text, question_text
from tui.messages import Decision
from tui.plan_text import PLAN_ESCALATIONS, plan_text
from tui.type_ahead import type_ahead
from tui.widgets.key_bar import KeyBar

VERB_OF = {key: verb for verb, key in KEYS.items()}
SETTLE_S = 0.5
"""How long a question that replaced another on screen ignores the decision keys."""
SMALL_WIDTH, SMALL_HEIGHT = 60, 20
"""Below either, the dialog takes the whole terminal and drops its blank lines."""
NARROW_WIDTH = 80
"""Below it, the dialog takes the terminal's width and its key bar the compact style: at 60
columns a review question's bar (58 cells) had 50, and "? Help" was off its end."""


def decision_option(esc: EscalationView, verb: str) -> str | None:
    """The option approve / reject / change take in ``esc`` (what the commands take); a
    question with no options takes the verb itself; None: it has none."""
    return option_for(esc.options, VERBS[verb]) or (verb if not esc.options else None)


class NoteInput(Input):
    """The box a "change" note is typed in. Its keys are in the footer while it is open:
    the dialog's own (approve, reject, next...) type letters there, so Textual leaves them
    out, and Input's enter is hidden; a person should not have to guess that enter sends."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send note"),
        Binding("escape", "screen.close", "Cancel note"),
    ]


class EscalationScreen(ModalScreen[Decision]):
    """One waiting escalation, and one key per decision."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # One binding a word (tui.decision_words): the key bar shows the one the question
        # offers, named so ("a Retry", "r Skip"), as the options line does, and no c where
        # nothing changes (check_action); it said "a Approve r Reject c Change" for all.
        *(
            Binding(KEYS[verb], action, word.capitalize())
            for verb in VERBS
            for word in VERBS[verb]
            for action in [
                f"change('{word}')" if verb == "change" else f"decide('{verb}', '{word}')"
            ]
        ),
        Binding("n", "step(1)", "Next"),
        # Off the key bar (n goes round the queue; the help lists p), so "? Help" fits it
        # at 80 columns.
        Binding("p", "step(-1)", "Previous", show=False),
        Binding("escape", "close", "Close"),
        # A modal leaves out the app's keys: ? (the help says "everywhere") did nothing here.
        Binding("question_mark", "app.help", "Help"),
        *(Binding(str(i), f"pick({i})", show=False) for i in range(1, 10)),
    ]

    index: reactive[int] = reactive(0, init=False)
    """Which escalation of the queue is shown."""

    def __init__(
        self,
        state: RunState,
        queue: list[str],
        *,
        read_only: bool = False,
        settle: bool = False,
    ) -> None:
        """``queue``: ids of the escalations to go through, oldest first. ``settle``: the
        queue reopens right after a decision, so its first question ignores the decision
        keys for :data:`SETTLE_S`."""
        super().__init__()
        self._state = state
        self._queue = [eid for eid in queue if eid in state.escalations]
        self.read_only = read_only
        self._settled_at = time.monotonic() + SETTLE_S if settle else 0.0
        self._question = Static(id="esc-question")
        self._options = Static(id="esc-options")
        self._context_view = Static(id="esc-context")
        self._note = NoteInput(
            placeholder="what should change? (enter sends, esc cancels)",
            id="esc-note",
            select_on_focus=False,  # what was typed before the focus came stays
        )

    @property
    def current(self) -> EscalationView | None:
        """The escalation on screen."""
        if not self._queue:
            return None
        return self._state.escalations[self._queue[self.index]]

    def compose(self) -> ComposeResult:
        with Vertical(id="esc-dialog"):
            with VerticalScroll(id="esc-question-scroll"):
                yield self._question
            yield self._options
            with VerticalScroll(id="esc-context-scroll"):
                yield self._context_view
            yield self._note
            yield KeyBar()

    def on_mount(self) -> None:
        self._redraw()
        self._read_context()

    def _read_context(self) -> None:
        # The arrows and page keys scroll the context (a diff, a failing gate's output, the
        # plan) from the start: without the focus on it they did nothing, and at 80x24 only
        # its first lines showed. The decision keys are the screen's, whatever has the focus.
        self.set_focus(self.query_one("#esc-context-scroll"))

    def on_resize(self, event: events.Resize) -> None:
        small = event.size.width < SMALL_WIDTH or event.size.height < SMALL_HEIGHT
        self.set_class(small, "-small")
        narrow = event.size.width < NARROW_WIDTH
        self.set_class(narrow, "-narrow")
        self.query_one(KeyBar).compact = narrow
        self.call_after_refresh(self._toasts_above_the_keys)

    def _toasts_above_the_keys(self) -> None:
        # Textual docks the toasts one row above the screen's bottom, where an app's footer
        # is: here they stood over the dialog's own key bar (the demo's start-up toast hid
        # the twin question's keys). Lifted to end above it, whatever the dialog's size.
        keys = self.query_one(KeyBar).region
        for rack in self.query("#textual-toastrack"):
            if keys:
                rack.styles.margin = (0, 0, max(1, self.size.height - keys.y), 0)

    def watch_index(self) -> None:
        self._shown_anew()
        self._redraw()

    def _redraw(self) -> None:
        esc = self.current
        if esc is None:
            self._question.update(Text("nothing waits", style="dim"))
            return
        self._question.update(
            question_text(esc, self.index + 1, len(self._queue), simulated=self._state.simulated)
        )
        self._options.update(options_text(esc, self.read_only))
        dark = self.app.current_theme.dark
        context = context_renderable(esc.context, dark=dark)
        blueprint = self._state.blueprint
        if esc.kind in PLAN_ESCALATIONS and blueprint is not None:
            # A question about the plan: the plan itself, to read before answering.
            heading = Text("\nthe plan in question", style="bold underline")
            context = Group(context, heading, plan_text(blueprint))
        self._context_view.update(context)
        self.query_one("#esc-dialog").border_title = "decision needed"
        self.refresh_bindings()  # the key bar names this question's decisions

    def _shown_anew(self) -> None:
        # Another escalation is on screen: no half-typed note, and its question from the top.
        if self.has_class("-changing"):
            self.remove_class("-changing")
            self._read_context()
        if self.is_mounted:  # its question and context from the top, not where the last was
            self.query_one("#esc-question-scroll").scroll_home(animate=False)
            self.query_one("#esc-context-scroll").scroll_home(animate=False)

    def follow(self, state: RunState, waiting: list[str]) -> None:
        """Keep the queue to ``waiting`` (the escalations of ``state`` still open, oldest
        first): drop the ones decided elsewhere, saying how, add the ones raised since, and
        close when none is left."""
        self._state = state
        queue = [eid for eid in self._queue if eid in waiting]
        queue += [eid for eid in waiting if eid not in queue and eid in state.escalations]
        if queue == self._queue:
            return
        shown = self._queue[self.index] if self._queue else None
        for eid in self._queue:
            if eid not in queue:
                self._say_decided_elsewhere(eid)
        self._queue = queue
        if not queue:
            self._close_when_nothing_waits()
            return
        if shown in queue:
            self.set_reactive(EscalationScreen.index, queue.index(shown))
        else:  # another question takes the place of the one on screen
            self.set_reactive(EscalationScreen.index, min(self.index, len(queue) - 1))
            self._shown_anew()
            self._settled_at = time.monotonic() + SETTLE_S
        if self.is_mounted:
            self._redraw()

    def _close_when_nothing_waits(self) -> None:
        # dismiss() pops the top screen: with help open above, close once back on top.
        if self.is_active:
            self.dismiss(None)

    def on_screen_resume(self) -> None:
        if not self._queue:
            self._close_when_nothing_waits()

    def _say_decided_elsewhere(self, escalation_id: str) -> None:
        esc = self._state.escalations.get(escalation_id)
        if esc is None or esc.decision is None:
            return  # not decided: the run ended, and the app says so
        if esc.decided_by == "timeout":
            how = f"timed out, the default was taken: {esc.decision}"
        else:
            how = f"{esc.decision} by {esc.decided_by or 'someone else'}"
        self.notify(
            f"{escalation_id} no longer waits: {how}",
            title="decided elsewhere",
            severity="warning",
            timeout=6,
            markup=False,
        )

    def _settled(self) -> bool:
        # A decision key is only taken for a question that has been on screen a moment.
        if time.monotonic() >= self._settled_at:
            return True
        self.notify(
            "this question has just appeared: read it, then press the key again",
            severity="warning",
            timeout=3,
            markup=False,
        )
        return False

    def action_step(self, step: int) -> None:
        """Show the next (1) or previous (-1) escalation of the queue."""
        if len(self._queue) == 1:  # the key did nothing, and said nothing
            self.notify("this is the only escalation that waits", timeout=3, markup=False)
        elif self._queue:
            self.index = (self.index + step) % len(self._queue)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A decision key is on the key bar under the word the question takes for it."""
        if action == "decide":
            verb, word = parameters
        elif action == "change" and parameters:
            verb, word = "change", parameters[0]
        else:
            return True
        return self._word_for(str(verb)) == word

    def _word_for(self, verb: str) -> str | None:
        # The key bar's name for it: that option in lower case.
        esc = self.current
        option = decision_option(esc, verb) if esc is not None else None
        return option.lower() if option is not None else None

    def action_decide(self, kind: str, word: str = "") -> None:
        """Approve or reject: the option of the escalation that means it (``word``, the key
        bar's name for it, is that option)."""
        esc = self.current
        if esc is None:
            return
        option = decision_option(esc, kind)
        if option is None:
            self.notify(
                f"this escalation has no {kind} option: {', '.join(esc.options)}", markup=False
            )
            return
        if self._settled():
            self._finish(Decision(esc.escalation_id, option))

    def action_pick(self, number: int) -> None:
        """Take option ``number`` (1-based) as listed."""
        esc = self.current
        if esc is not None and not 1 <= number <= len(esc.options):
            listed = ", ".join(f"{i} {option}" for i, option in enumerate(esc.options, 1))
            self.notify(
                f"no option {number}: {listed or 'it lists none (a, r or c answer it)'}",
                markup=False,
            )
        elif esc is not None:
            option = esc.options[number - 1]
            if option_for([option], VERBS["change"]):
                self.action_change()
            elif self._settled():
                self._finish(Decision(esc.escalation_id, option))

    def action_change(self, word: str = "") -> None:
        """Ask for the note that says what to change (``word``: the key bar's name)."""
        esc = self.current
        if esc is None:
            return
        if decision_option(esc, "change") is None:
            self.notify(
                f"this escalation has no change option: {', '.join(esc.options)}", markup=False
            )
            return
        self.add_class("-changing")
        self._note.value = ""
        self._note.focus()

    async def on_key(self, event: events.Key) -> None:
        # The note box opens when c reaches the screen, not later as a binding, and takes
        # the keys that were on their way before its focus came (tui.type_ahead): as
        # bindings, the a of "add a test" typed fast after c approved the plan.
        if self.has_class("-changing"):
            if event.key == "escape":
                event.stop()
                self.action_close()
            else:
                await type_ahead(self._note, event)
        elif event.key == "c":
            event.stop()
            event.prevent_default()
            self.action_change()
        elif event.key in ("a", "r") and (verb := VERB_OF[event.key]) and not self._word_for(verb):
            # Off the key bar, as the question has no such option: said, not silent.
            event.stop()
            self.action_decide(verb)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        esc = self.current
        note = event.value.strip()
        if esc is None:
            return
        if not note:
            self.notify(
                "type what should change, or press escape", severity="warning", markup=False
            )
            return
        option = option_for(esc.options, VERBS["change"]) or "change"
        self._finish(Decision(esc.escalation_id, option, note))

    def action_close(self) -> None:
        """Leave the note box if it is open, else close the queue without deciding."""
        if self.has_class("-changing"):
            self.remove_class("-changing")
            self._read_context()
            return
        self.dismiss(None)

    def _finish(self, decision: Decision) -> None:
        if self.read_only:
            self.notify(
                "read-only view: decisions cannot be sent from here",
                severity="warning",
                markup=False,
            )
            return
        self.dismiss(decision)
