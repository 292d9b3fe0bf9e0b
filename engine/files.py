"""Files replaced whole: a reader (another run, another shell) sees the old file or the new
one, never one half written, and two writers never share a scratch file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def scratch_beside(path: Path) -> Path:
    """A scratch name in ``path``'s folder (so the rename stays on one file system), hidden,
    of this process and a random token."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to a scratch file beside ``path``, then rename it over ``path``; the
    scratch file is gone whatever happens. An ``OSError`` is the caller's to say."""
    tmp = scratch_beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
