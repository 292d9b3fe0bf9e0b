"""Where the run screen's toasts stand: over the agent log's lines, and nothing else.

Textual racks toasts at the screen's bottom right, half the screen wide, one row above the
footer. On the run screen at 100x30 that covered the agents panel's edge, the budget
strip's tokens and cost and the agent log's last rows, for as long as a toast lasts (30 s
for a start-up warning). Here the rack stands within the log's lines, at their bottom: the
task graph, the agent rows, the log's title (which agent, SIM or not), the budget strip and
the banner's and the footer's keys stay in view. Toasts come mostly at the start, while the
logs are short and their last rows blank; a toast over a full log's newest lines goes when
clicked.
"""

from __future__ import annotations

from textual.screen import Screen

from tui.widgets.agent_log import AgentLog
from tui.widgets.line_view import LineView


def toasts_over_the_log(screen: Screen[object]) -> None:
    """Put ``screen``'s toast rack over its agent log's lines (nothing to do before the log
    is laid out or while it is folded away). Called after every layout of the screen: a
    style set to the value it has lays nothing out again."""
    lines = screen.query_one(AgentLog).query_one(LineView).region
    if not lines:
        return
    for rack in screen.query("#textual-toastrack"):
        styles = rack.styles
        # A docked widget is moved by its margin, not narrowed by it: its width is set.
        styles.margin = (0, 0, screen.size.height - lines.bottom, lines.x)
        styles.width = lines.width
        styles.max_height = lines.height
