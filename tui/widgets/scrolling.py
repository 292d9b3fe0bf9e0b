"""What the TUI's scrolling views share."""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView


def resize_quietly(view: ScrollView, size: Size) -> None:
    """Resize ``view``'s scrollable area without laying the whole screen out again.

    ``virtual_size`` is a reactive with ``layout=True``: assigning it lays out every widget
    of the screen (14-25 ms on a slow machine, against a 50 ms budget for a key press), and
    a growing log or a table whose columns widen change it during a flood. A view whose own
    size does not depend on its content only needs its scrollbars told. They are updated
    here the way Textual's size update does it (``_scroll_update``; Textual is pinned); if
    one of them appears or disappears, its own reactive asks for the layout that then is
    needed.
    """
    if size == view.virtual_size:
        return
    view.set_reactive(ScrollView.virtual_size, size)
    if view.is_mounted:
        view._scroll_update(size)
