"""The key bar: Textual's Footer showing only the keys that fit whole.

Textual's Footer lays every key out in one row and lets the terminal's edge cut the last
ones: at 60 columns the run screen's bar ended "/ Sea", and "Filter" was gone without a
word. :class:`KeyBar` composes the same keys, then keeps them in the order they are bound
(their priority) while they fit whole, drops the rest, and ends with "…" when it dropped any
and has the room. "? Help" always stays: the help lists every key the bar cannot show.

The keys are measured once mounted (their CSS applied, as Textual will lay them out) and
before the batch ends, so no frame shows the keys that do not fit.
"""

from __future__ import annotations

from textual import events
from textual.widget import Widget
from textual.widgets import Footer, Label

HELP_KEY = "question_mark"
"""The key of "? Help", which the bar keeps whatever it drops."""

PALETTE = "-command-palette"
"""Textual's class on the palette's key, docked at the bar's right end."""


class KeysLeftOut(Label):
    """The "…" ending a key bar that dropped keys."""

    DEFAULT_CSS = """
    KeysLeftOut {
        margin: 0 1 0 0;
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    """

    def __init__(self) -> None:
        super().__init__("…")
        self.tooltip = "more keys: ? Help lists them all"


class KeyBar(Footer):
    """A footer that shows whole keys only, "? Help" among them (see the module's words)."""

    def __init__(self, *, show_command_palette: bool = True, compact: bool = False) -> None:
        super().__init__(show_command_palette=show_command_palette, compact=compact)
        self._fitted_width = 0
        """The bar's width when its keys were last chosen."""

    async def recompose(self) -> None:
        async with self.batch():
            await super().recompose()
            await self._fit()

    async def _fit(self) -> None:
        """Drop the keys that do not fit whole; end with "…" when any went and it fits."""
        self._fitted_width = width = self.size.width
        keys = [child for child in self.children if not child.has_class(PALETTE)]
        if not width or not keys:
            return  # not laid out yet: a resize fits it
        room = width - sum(outer_width(c, self) for c in self.children if c.has_class(PALETTE))
        helps = [key for key in keys if getattr(key, "key", None) == HELP_KEY]
        used = sum(outer_width(key, self) for key in helps)
        dropped: list[Widget] = []
        for key in keys:
            if key in helps:
                continue
            if dropped or used + outer_width(key, self) > room:
                dropped.append(key)
            else:
                used += outer_width(key, self)
        if not dropped:
            return
        await self.remove_children(dropped)
        kept = [key for key in keys if key not in dropped]
        ellipsis = KeysLeftOut()
        await self.mount(ellipsis, after=kept[-1] if kept else None)
        if used + outer_width(ellipsis, self) > room:
            await ellipsis.remove()

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._fitted_width:
            self.call_after_refresh(self.recompose)

    def watch_compact(self) -> None:
        if self._bindings_ready:  # else there are no keys yet
            self.call_after_refresh(self.recompose)  # the keys' widths change

    def watch_show_command_palette(self) -> None:
        if self._bindings_ready:
            self.call_after_refresh(self.recompose)  # the room for the keys changes


def outer_width(widget: Widget, bar: Widget) -> int:
    """The cells ``widget`` takes in ``bar``'s row: its content, padding, border and margin."""
    content = widget.get_content_width(bar.size, bar.app.size)
    return content + widget.styles.gutter.width + widget.styles.margin.width
