"""Keys typed into a text box before it has the focus.

A key that opens a text box (``c`` for a change note, ``/`` for the log's search) gives the
box the focus on the next turn of the event loop. The keys typed right after it — a paste,
type-ahead while the screen was busy, or a burst over SSH, where several keys arrive in one
read — have been routed by then to the screen, where they ran as its bindings: in tmux,
``c`` then "add a test" approved the plan with the ``a`` of "add" instead of sending a note.
The screen opens the box when the key reaches it and hands the box, through
:func:`type_ahead`, the keys that come before the focus does.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


async def type_ahead(box: Input, event: events.Key) -> bool:
    """Type ``event`` into ``box``, which is open but has no focus yet, as the box would take
    it with the focus: a character, backspace, enter (submits). Whether it took the key (not
    escape, not a key that moves between widgets); a key taken is stopped."""
    if event.key == "enter":
        await box.action_submit()
    elif event.key == "backspace":
        box.action_delete_left()
    elif event.is_printable and event.character:
        if box.selection.is_empty:
            box.insert_text_at_cursor(event.character)
        else:  # what the box selected on opening (the filter applied before) is replaced
            box.replace(event.character, *box.selection)
    else:
        return False
    event.stop()
    event.prevent_default()
    return True
