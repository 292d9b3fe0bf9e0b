"""A dropped decisions inbox is made again by ``shopfloor db rebuild``, as a projection is.

The ``decisions`` table is no projection of the log (the answers posted and not yet taken
are nowhere else), so ``db rebuild`` left it out: with it gone, ``approve`` failed with "no
such table: decisions" and nothing in the CLI made it again, while a run waiting for an
answer waited for ever (its inbox reader retries). ``db upgrade`` exited 0 on it. Now
``approve`` and ``db upgrade`` name the rebuild, which makes the table again, empty, and the
answer posted then reaches the run. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

from demo_process import cli
from sqlalchemy import text

from engine.bus import EventBus
from engine.events import EscalationRaised, RunStarted
from storage.errors import INBOX_REMEDY
from storage.paths import db_option
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK


async def test_db_rebuild_makes_a_dropped_inbox_again_and_answers_reach_the_run(
    backend_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    bus = EventBus("r-asks")
    async with await SqlEventStore.open(backend_url) as store:
        await store.append(
            [
                bus.emit(
                    RunStarted(
                        request="Build a greeting CLI",
                        repo="/repos/greet",
                        base_branch="main",
                        base_commit="0" * 40,
                        integration_branch="shopfloor/wip/r-asks",
                    )
                ),
                bus.emit(
                    EscalationRaised(
                        escalation_id="esc-1", kind="twin", question="Ship it?", options=["yes"]
                    )
                ),
            ]
        )
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP TABLE decisions"))
    db = db_option(backend_url)
    rebuild = f"`shopfloor db rebuild{db}`"
    remedy = INBOX_REMEDY.replace("`shopfloor db rebuild`", rebuild)
    lost = f"the database has no decisions table; {remedy}"

    refused = await asyncio.to_thread(cli, home, "approve", "esc-1", "--db", backend_url)
    assert refused.returncode == EXIT_BAD_INPUT, refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.endswith(f": {lost}\n"), refused.stderr  # was: no such table

    upgrade = await asyncio.to_thread(cli, home, "db", "upgrade", "--db", backend_url)
    assert upgrade.returncode == EXIT_FAILED, upgrade.stdout + upgrade.stderr  # was: 0
    assert upgrade.stderr.endswith(f"schema stamped at revision 0003, but {lost}\n")

    command = shlex.split(upgrade.stderr.split("`")[1])
    rebuilt = await asyncio.to_thread(cli, home, *command[1:])
    assert rebuilt.returncode == EXIT_OK, rebuilt.stderr
    assert rebuilt.stdout.splitlines()[0] == (
        "recreated the table(s) the database had lost: decisions (the decisions inbox empty)"
    )
    answered = await asyncio.to_thread(cli, home, "approve", "esc-1", "--db", backend_url)
    assert answered.returncode == EXIT_OK, answered.stderr
    async with await SqlEventStore.open(backend_url) as store:
        assert await store.missing_tables() == []
        waiting = await store.waiting_decisions("r-asks")
        assert waiting[("r-asks", "esc-1")].decision == "yes"


async def test_a_run_on_a_database_without_its_inbox_stops_before_any_work(
    backend_url: str, tmp_path: Path
) -> None:
    """It would have waited for ever at its first escalation, no answer able to reach it."""
    async with await SqlEventStore.open(backend_url) as store:
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP TABLE decisions"))
    said = await asyncio.to_thread(
        cli,
        *(tmp_path / "home", "demo", "--headless", "--speed", "1000"),
        *("--out", str(tmp_path / "repo"), "--db", backend_url),
    )
    assert said.returncode == EXIT_FAILED, said.stderr[-2000:]
    line = said.stderr.splitlines()[-1]
    assert line.startswith(
        "shopfloor: the run stopped because the database lost its decisions inbox, which "
        "waiting will not change: cannot write events: "
    ), line
    rebuild = f"`shopfloor db rebuild{db_option(backend_url)}`"
    assert line.endswith(INBOX_REMEDY.replace("`shopfloor db rebuild`", rebuild)), line
    async with await SqlEventStore.open(backend_url) as store:
        assert await store.count_events() == 0  # refused before the run started
