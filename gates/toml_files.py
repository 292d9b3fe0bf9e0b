"""A repository's TOML files read for what they configure: a missing, unreadable or
malformed file reads as empty (the tool that owns it says what is wrong with it)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path) -> dict[str, Any]:
    """``path``'s TOML, or {} when it is missing, unreadable or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
