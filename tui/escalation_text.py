"""What the escalation dialog draws, as Rich text: the question's header, its options with
the keys that take them, and the context (a diff in syntax colours, other text as it is).
Kept apart from the dialog (tui/screens/escalation.py), which is about keys and the queue.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from engine.run_views import EscalationView
from tui.decision_words import VERBS, option_for
from tui.text import SIM_BADGE

DIFF_MARKERS = ("diff --git", "--- a/", "+++ b/", "@@ ")
KEYS = {"approve": "a", "reject": "r", "change": "c"}
"""The dialog's key for each of the commands' decisions."""


def split_context(context: str) -> list[tuple[str, str]]:
    """Cut the context into ("diff", text) and ("text", text) parts, in order."""
    parts: list[tuple[str, str]] = []
    kind, block = "text", list[str]()
    for line in context.splitlines():
        starts_diff = line.startswith(DIFF_MARKERS)
        in_diff = kind == "diff" and (line[:1] in " +-@\\" or line.startswith("index "))
        new_kind = "diff" if starts_diff or in_diff else "text"
        if new_kind != kind and block:
            parts.append((kind, "\n".join(block)))
            block = []
        kind = new_kind
        block.append(line)
    if block:
        parts.append((kind, "\n".join(block)))
    return [(k, t) for k, t in parts if t.strip()]


def context_renderable(context: str, *, dark: bool) -> RenderableType:
    """The context with diffs syntax-coloured (ANSI theme: no truecolor needed)."""
    if not context.strip():
        return Text("(no context given)", style="dim")
    theme = "ansi_dark" if dark else "ansi_light"
    rendered: list[RenderableType] = []
    for kind, text in split_context(context):
        if kind == "diff":
            rendered.append(Syntax(text, "diff", theme=theme, word_wrap=True))
        else:
            rendered.append(Text(text))
    return Group(*rendered)


def question_text(
    esc: EscalationView, position: int, total: int, *, simulated: bool = False
) -> Text:
    """Header of the modal: the SIM badge of a simulated run (its twin's or breaker's word
    is a SIM model's; on a small terminal the dialog covers the header that says so), where
    in the queue, what kind, which task, the question."""
    text = Text()
    if simulated:
        text.append(*SIM_BADGE)
        text.append(" ")
    text.append(f"escalation {position}/{total}", style="bold")
    text.append(f"  {esc.kind}", style="bold magenta")
    if esc.task_id:
        text.append(f"  task {esc.task_id}")
    text.append(f"  {esc.escalation_id}\n", style="dim")
    text.append(esc.question, style="bold")
    return text


def options_text(esc: EscalationView, read_only: bool) -> Text:
    """The options with the keys that take them."""
    text = Text()
    keys = {option_for(esc.options, VERBS[verb]): key for verb, key in KEYS.items()}
    for i, option in enumerate(esc.options, start=1):
        if i > 1:
            text.append("   ")
        text.append(f"[{keys.get(option) or i}] ", style="bold cyan")
        text.append(option, style="bold" if option == esc.default else "")
        if option == esc.default:
            text.append(" (default)", style="dim")
    if read_only:
        text.append("\nread-only: this view cannot send decisions", style="italic yellow")
    return text
