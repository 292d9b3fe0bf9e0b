"""Rich-only text pieces shared by the headless console and the Textual widgets.

Kept free of Textual so :mod:`tui.headless` can use them without importing it.
"""

from __future__ import annotations

SIM_BADGE = (" SIM ", "bold reverse magenta")
"""How the simulated-provider marker looks wherever it appears."""


def compact_count(value: int) -> str:
    """1234 -> '1.2k', 1234567 -> '1.2M'; small numbers unchanged."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    return str(value)
