"""Fixtures every test folder may use.

``share_gate_cache`` points a test's data folder at one gate cache for the whole session. The
bundled demo builds the same trees in every test that runs it, so its gates' verdicts are the
same too; a test whose point is not the gates (an escalation answered from another process, a
run resumed after a signal, metrics scraped during a run) may reuse them rather than run
pytest, bandit and detect-secrets again on every tree (about half the CPU a demo costs). The
cache's key holds each gate's configuration, the gates' code and the tools' versions, and a
session starts with an empty one, so nothing crosses from one version of the code to the
next.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def share_gate_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], None]:
    """A function that makes the data folder ``home`` use the session's gate cache; entries
    already in its own cache join the session's."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this session's folder, shared by its workers
    shared = base / "shared-gate-cache"
    shared.mkdir(exist_ok=True)

    def share(home: Path) -> None:
        own = home / "gate-cache"
        if own.is_symlink():
            return
        if own.is_dir():
            for entry in own.glob("*.json"):
                os.replace(entry, shared / entry.name)
            shutil.rmtree(own)
        home.mkdir(parents=True, exist_ok=True)
        own.symlink_to(shared, target_is_directory=True)

    return share
