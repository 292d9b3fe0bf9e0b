"""Counting the git commands a piece of the factory runs, by git's own ``GIT_TRACE`` log.

The factory's git calls keep the process environment (``engine.repo_guard.git_run``,
``gates.cache``), so a test that sets ``GIT_TRACE`` to a file reads back one line per git
process, whichever module started it and however (argv, GitPython, asyncio).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

_ENTRY = re.compile(r"^(?=\d\d:\d\d:\d\d\.\d+ )", re.MULTILINE)
"""Where an entry of the log starts (a commit message's new lines continue the one before)."""
_BUILT_IN = re.compile(r"trace: built-in: git (?P<args>.*)", re.DOTALL)


class GitTrace:
    """The git commands run since the trace started, as their argument strings."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def commands(self) -> list[str]:
        """Every git command run so far, its arguments unquoted and joined by spaces (options
        such as ``-c`` left out by git itself)."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        found = (_BUILT_IN.search(entry) for entry in _ENTRY.split(text))
        return [" ".join(shlex.split(m["args"])) for m in found if m]

    def count(self, prefix: str) -> int:
        """How many of them start with ``prefix`` (``"ls-files -s"``)."""
        return sum(1 for args in self.commands() if args.startswith(prefix))

    def clear(self) -> None:
        """Start counting again from nothing."""
        self.log.write_text("", encoding="utf-8")


def trace_git(monkeypatch: pytest.MonkeyPatch, log: Path) -> GitTrace:
    """Log each git command this process and its children run from now on into ``log``."""
    log.write_text("", encoding="utf-8")
    monkeypatch.setenv("GIT_TRACE", str(log))
    return GitTrace(log)
