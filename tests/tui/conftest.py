"""Fixtures for the command tests: a fresh data folder, no database or loop from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import loop as event_loop


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``SHOPFLOOR_HOME`` in the test's folder; ``SHOPFLOOR_DB`` and the loop choice unset,
    so a command uses that folder's database and the CLI's own event loop."""
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    return tmp_path / "home"
