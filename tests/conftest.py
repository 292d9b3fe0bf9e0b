"""Fixtures every test folder may use.

``share_gate_cache`` points a test's data folder at one gate cache for the whole session. The
bundled demo builds the same trees in every test that runs it, so its gates' verdicts are the
same too; a test whose point is not the gates (an escalation answered from another process, a
run resumed after a signal, metrics scraped during a run) may reuse them rather than run
pytest, bandit and detect-secrets again on every tree (about half the CPU a demo costs). The
cache's key holds each gate's configuration, the gates' code and the tools' versions, and a
session starts with an empty one, so nothing crosses from one version of the code to the
next.

The tests that run the whole factory (marked ``e2e``, or taking ``share_gate_cache``) take
a minute or more each under load and are most of the suite's time. Collected in folder
order, several came last (the tmux, attach and restart tests live in tests/tui), and
pytest-xdist's default ``load`` mode handed them out at the end, so one worker ran them alone
while the other sat idle. They are moved to the front (their order among themselves kept),
and ``-n`` distributes by work stealing instead of ``load`` (whose first chunk would now hand
all of them to one worker): each worker starts on its share of the queue and an idle one
takes half of what a busy one has left, so the suite ends on short tests on every worker.
Another ``--dist`` mode asked for by name is left as it is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loop_pauses import BALLAST_MB


def runs_the_whole_factory(item: pytest.Item) -> bool:
    """Whether ``item`` runs the whole factory: marked ``e2e`` or sharing the gate cache."""
    return item.get_closest_marker("e2e") is not None or "share_gate_cache" in getattr(
        item, "fixturenames", ()
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The whole-factory tests first, each group in its collected order (see above)."""
    items.sort(key=lambda item: not runs_the_whole_factory(item))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Work stealing where pytest-xdist would use ``load`` (see above)."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import WorkStealingScheduling

    return WorkStealingScheduling(config, log)


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


@pytest.fixture
def ballast() -> Iterator[None]:
    """The test process holds loop_pauses.BALLAST_MB of resident memory meanwhile."""
    held = b"\1" * (BALLAST_MB * 2**20)  # every page written, so resident
    yield
    del held
