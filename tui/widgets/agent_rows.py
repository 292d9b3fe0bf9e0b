"""The agent table's rows as text: one agent's cells, the columns' widths, a padded line.

The cells of one agent (:func:`agent_cells`: its name, state, model with the SIM badge,
tokens, cost and role), the columns narrowed so that the cost stays in sight in a narrow
panel (:func:`fitted_widths`: the model's, the name's, then the model's dropped and the
state's a glyph), and one line of cells padded to their columns' widths (:func:`row_text`),
a simulated agent's marked SIM in it whether or not the model column is drawn.
:class:`~tui.widgets.agent_table.AgentTable` draws each row from these as one cached strip.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

from engine.run_views import AgentView
from engine.spend import dollars
from tui.text import SIM_BADGE, SIM_MARK, compact_count

Cell = str | Text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("agent", "agent"),
    ("state", "state"),
    ("model", "model"),
    ("tokens", "tokens"),
    ("cost", "cost"),
    ("role", "role"),
)
"""Column keys and labels; the most telling first, so narrow terminals keep them."""

CELL_PADDING = 1
"""Blank cells on each side of every cell."""

AGENT_COLUMN, STATE_COLUMN, MODEL_COLUMN = 0, 1, 2
KEPT_COLUMNS = 5
"""The columns kept on screen when the table is wider than its panel: the agent to its
cost (the role is also in the agent's name)."""

MODEL_MIN_WIDTH = 5
"""The narrowest the model column gets: the SIM badge, or the start of the provider's name
(``open…``, ``anth…``)."""

AGENT_MIN_WIDTH = 12
"""The narrowest the agent column gets once the model's is at its narrowest: a name cut in
its middle (``task_…ing:a2``) keeps its role's start and its task's end and attempt."""


STATE_GLYPH_WIDTH = 1
"""The state column's width once its words give way to :data:`STANDING_GLYPHS`."""


def fitted_widths(widths: tuple[int, ...], room: int) -> tuple[int, ...]:
    """``widths`` with the model column narrowed, to :data:`MODEL_MIN_WIDTH` at the least,
    then the agent's, to :data:`AGENT_MIN_WIDTH`, so that the columns up to the cost fit in
    ``room`` cells. Where even that is too wide, the model column goes (0: not drawn) and
    the state is a glyph (:data:`STATE_GLYPH_WIDTH`), and the agent's name takes the room
    that leaves, down to :data:`AGENT_MIN_WIDTH` again.

    The model's spec is the widest cell after the agent's name (`` SIM  sim:inventory``,
    ``openai:qwen2.5-coder-32b-instruct``), and in a half-screen panel of a 120-column
    terminal it pushed the tokens and the cost out of sight; the full spec is in the agent
    log's title, as are the agent's whole name and the SIM badge. At 80 columns (a 34-cell
    panel) the name, the state's word and the model's five cells left no room for the cost.
    A panel too narrow even so scrolls sideways, the name whole.
    """
    shown = _narrowed(widths, room, ((MODEL_COLUMN, MODEL_MIN_WIDTH),))
    if shown is not None:
        return shown
    compact = list(widths)
    compact[MODEL_COLUMN] = 0
    compact[STATE_COLUMN] = min(widths[STATE_COLUMN], STATE_GLYPH_WIDTH)
    return _narrowed(tuple(compact), room, ()) or tuple(compact)


def _narrowed(
    widths: tuple[int, ...], room: int, first: tuple[tuple[int, int], ...]
) -> tuple[int, ...] | None:
    """``widths`` with the columns of ``first`` (column, least width), then the agent's,
    narrowed until the columns up to the cost fit in ``room``; None if they cannot."""
    over = table_width(widths[:KEPT_COLUMNS]) - room
    shown = list(widths)
    for column, least in (*first, (AGENT_COLUMN, AGENT_MIN_WIDTH)):
        cut = min(max(over, 0), max(shown[column] - least, 0))
        shown[column] -= cut
        over -= cut
    return tuple(shown) if over <= 0 else None


def table_width(widths: tuple[int, ...]) -> int:
    """Cells taken by columns of ``widths``, their padding included (one of width 0 is not
    drawn)."""
    return sum(w + 2 * CELL_PADDING for w in widths if w)


STANDING_STYLES = {
    "running": "bold yellow",
    "done": "green",
    "failed": "bold red",
    "cut off": "magenta",
}
"""How each of :meth:`~engine.run_views.AgentView.standing`'s words is coloured."""

STANDING_GLYPHS = {"running": "◐", "done": "✓", "failed": "✗", "cut off": "⊘"}
"""The state in one cell, coloured as its word, in a narrow panel (the task graph's running
and failed glyphs)."""


def agent_state(agent: AgentView, live: bool = True) -> Text:
    """running / done / failed / cut off, coloured (``live``: as for
    :meth:`~engine.run_views.AgentView.standing`)."""
    standing = agent.standing(live)
    return Text(standing, style=STANDING_STYLES[standing])


def model_cell(agent: AgentView) -> Text:
    """The model spec, with the SIM badge in front for a simulated agent."""
    if agent.simulated and agent.model in ("sim", "sim:"):
        return Text(*SIM_BADGE)
    text = Text()
    if agent.simulated:
        text.append(*SIM_BADGE)
        text.append(" ")
    text.append(agent.model, style="dim")
    return text


def agent_cells(agent: AgentView, live: bool = True) -> tuple[Cell, ...]:
    """The row of one agent (``live``: a process drives the unfinished run)."""
    tokens = compact_count(agent.input_tokens + agent.output_tokens)
    return (
        agent.agent_id,
        agent_state(agent, live),
        model_cell(agent),
        Text(tokens, justify="right"),
        Text(dollars(agent.cost_usd), justify="right"),
        agent.role,
    )


def cell_text(cell: Cell, width: int, *, middle: bool = False) -> Text:
    """``cell`` cut or padded to ``width`` cells, justified as the cell asks (``middle``: a
    plain string too long is cut in its middle, both its ends kept)."""
    if middle and isinstance(cell, str) and len(cell) > width > 2 and cell.isascii():
        tail = width // 2
        cell = f"{cell[: width - 1 - tail]}…{cell[-tail:]}"
    text = Text(cell) if isinstance(cell, str) else cell.copy()
    justify = text.justify if text.justify in ("left", "center", "right") else "left"
    text.truncate(width, overflow="ellipsis")
    text.align(justify, width)
    return text


def row_text(cells: tuple[Cell, ...], widths: tuple[int, ...], *, simulated: bool = False) -> Text:
    """One table line: every cell padded to its column's width; a column of width 0 left
    out, a state too wide for its column drawn as its glyph, and a label wider than its
    column (the header's "state" over the glyphs) left blank. Without the model column
    (and its SIM badge) the row of a ``simulated`` agent (:attr:`AgentView.simulated`, not
    what its model cell reads) starts with :data:`~tui.text.SIM_MARK`, in the blank cell
    before its name."""
    pad = " " * CELL_PADDING
    line = Text(no_wrap=True, end="")
    for column, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        if not width:
            continue
        if column == STATE_COLUMN and cell_len_of(cell) > width:
            cell = state_glyph(cell)
        if column == AGENT_COLUMN and not widths[MODEL_COLUMN] and simulated:
            line.append(*SIM_MARK)
            line.append(pad[1:])
        else:
            line.append(pad)
        line.append_text(cell_text(cell, width, middle=column == AGENT_COLUMN))
        line.append(pad)
    return line


def cell_len_of(cell: Cell) -> int:
    """Cells ``cell`` takes on screen."""
    return cell_len(cell) if isinstance(cell, str) else cell.cell_len


def state_glyph(cell: Cell) -> Text:
    """A state's word as its glyph, in its colour; blank for anything else (the header)."""
    word = cell if isinstance(cell, str) else cell.plain
    style = "" if isinstance(cell, str) else cell.style
    return Text(STANDING_GLYPHS.get(word, ""), style=style)
