"""A repository's TOML files read for what they configure: a missing, unreadable or
malformed file reads as empty (the tool that owns it says what is wrong with it), and so does
one reached through a symlink leading out of the folder read (``engine.beneath``): an agent
may have linked it to a file of the host."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from engine.beneath import read_text_beneath


def read_toml(path: Path, *, root: Path | None = None) -> dict[str, Any]:
    """``path``'s TOML, or {} when it is missing, unreadable, not TOML or reached through a
    link leading out of ``root`` (the folder holding it unless given: the workspace)."""
    try:
        return tomllib.loads(read_text_beneath(root or path.parent, path))
    except (OSError, ValueError):  # TOMLDecodeError, UnicodeDecodeError, LeavesRoot
        return {}
