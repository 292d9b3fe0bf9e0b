"""The score gauges: every verdict the pipeline produced, each against its bar.

Critic (0-10), each reviewer of the latest round against the review threshold, the twin's
decision and confidence, code QC and the judge (0-100, against their thresholds). Drawn from
``RunState.scores`` only. A ``compact`` one (shown instead on small terminals) squeezes the
gauges into one line.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from engine.run_views import Scores
from engine.state import RunState
from tui.widgets.run_header import TextLine, bar

LABEL_WIDTH = 11
BAR_WIDTH = 12
TWIN_STYLES = {"ACCEPT": "bold green", "CHANGE": "bold yellow", "REJECT": "bold red"}


def _verdict(value: float, threshold: float | None, passed: bool | None = None) -> tuple[str, str]:
    if passed is not None:  # the stage's own verdict, where the score alone does not make it
        return ("✓", "green") if passed else ("✗", "red")
    if threshold is None:
        return "", "cyan"
    return ("✓", "green") if value >= threshold else ("✗", "red")


def gauge_line(
    label: str,
    value: float | None,
    top: float,
    threshold: float | None,
    passed: bool | None = None,
    *,
    width: int = LABEL_WIDTH,
) -> Text:
    """``label  ██████░░░░  value/top ≥ threshold ✓`` (a dash when there is no value yet);
    ``passed``, when given, is the mark instead of the comparison; ``width``: the labels'."""
    text = Text(label.ljust(width)[:width])
    if value is None:
        text.append("░" * BAR_WIDTH + "  —", style="dim")
        return text
    mark, style = _verdict(value, threshold, passed)
    text.append(bar(value / top, BAR_WIDTH), style=style)
    shown = f"{value:.1f}" if top <= 10 else f"{value:.0f}"
    text.append(f"  {shown}/{top:g}")
    if threshold is not None:
        text.append(f" ≥{threshold:g} ")
        text.append(mark, style=f"bold {style}")
    return text


def gauges_text(scores: Scores) -> Text:
    """Every gauge, one per line, the bars in one column."""
    threshold = scores.review_threshold
    reviews = scores.latest_reviews()
    # A reviewer's label holds its round ("reviewer-1 r2"): cut to the others' width, the
    # round was lost and a second round read as the first.
    labels = [f"{review.reviewer} r{review.round}" for review in reviews]
    width = max([LABEL_WIDTH, *(len(label) + 1 for label in labels)])
    lines = [gauge_line("critic", scores.critic, 10, None, width=width)]
    for label, review in zip(labels, reviews, strict=True):
        lines.append(gauge_line(label, review.score, 100, threshold, width=width))
    if not reviews:
        lines.append(gauge_line("reviewers", None, 100, threshold, width=width))
    twin = Text("twin".ljust(width))
    if scores.twin_decision is None:
        twin.append("—", style="dim")
    else:
        twin.append(scores.twin_decision, style=TWIN_STYLES.get(scores.twin_decision, "bold"))
        if scores.twin_confidence is not None:
            twin.append(f"  confidence {bar(scores.twin_confidence, 6)} ")
            twin.append(f"{scores.twin_confidence:.2f}")
    lines.append(twin)
    lines.append(gauge_line("code QC", scores.qc, 100, scores.qc_threshold, width=width))
    judge = gauge_line(
        "judge", scores.judge, 100, scores.judge_threshold, scores.judge_passed, width=width
    )
    if scores.checklist:
        judge.append(f" checklist {checklist_count(scores)}")
    lines.append(judge)
    return Text("\n").join(lines)


def checklist_count(scores: Scores) -> str:
    """``7/9``: the judge's checklist items that passed, of all."""
    return f"{sum(scores.checklist.values())}/{len(scores.checklist)}"


def compact_gauges_text(scores: Scores) -> Text:
    """The gauges on one line: ``critic 7.4 · rev 82 71/80 · twin ACCEPT .91 · qc 88 · judge —``."""

    def value(
        v: float | None, fmt: str, threshold: float | None = None, passed: bool | None = None
    ) -> Text:
        if v is None:
            return Text("—", style="dim")
        _, style = _verdict(v, threshold, passed)
        return Text(format(v, fmt), style=style)

    parts = [Text.assemble("critic ", value(scores.critic, ".1f"))]
    reviews = Text("rev ")
    latest = scores.latest_reviews()
    for i, review in enumerate(latest):
        if i:
            reviews.append(" ")
        reviews.append_text(value(review.score, "d", scores.review_threshold))
    if not latest:  # a dash, as for the others ("rev  ·" before the first review)
        reviews.append_text(value(None, "d"))
    if scores.review_threshold is not None:
        reviews.append(f"/{scores.review_threshold}", style="dim")
    parts.append(reviews)
    twin = Text("twin ")
    twin.append(
        scores.twin_decision or "—", style=TWIN_STYLES.get(scores.twin_decision or "", "dim")
    )
    if scores.twin_confidence is not None:
        twin.append(f" {scores.twin_confidence:.2f}")
    parts.append(twin)
    parts.append(Text.assemble("qc ", value(scores.qc, "d", scores.qc_threshold)))
    judge = value(scores.judge, "d", scores.judge_threshold, scores.judge_passed)
    parts.append(Text.assemble("judge ", judge))
    return Text(" · ", style="dim").join(parts)


class ScoreGauges(TextLine):
    """The gauges panel (or line, when ``compact``)."""

    DEFAULT_CSS = """
    ScoreGauges {
        height: auto;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    compact: reactive[bool] = reactive(False, init=False)
    """One line instead of one gauge per line."""

    def __init__(
        self, *, compact: bool = False, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__("", id=id, classes=classes)
        self._scores = Scores()
        self.set_reactive(ScoreGauges.compact, compact)

    def on_mount(self) -> None:
        self.set_class(self.compact, "-compact")
        self._redraw()

    def show(self, state: RunState) -> None:
        """Redraw from ``state.scores``."""
        self._scores = state.scores
        self._redraw()

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self._redraw()

    def _redraw(self) -> None:
        render = compact_gauges_text if self.compact else gauges_text
        self.show_text(render(self._scores))
