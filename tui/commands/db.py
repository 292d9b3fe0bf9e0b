"""``shopfloor db upgrade|rebuild|prune``: looking after the database itself.

``upgrade`` migrates the schema to this version's head (opening a store does that too; the
command makes it an explicit, reported step for a team's shared PostgreSQL). ``rebuild``
recomputes the projections from the event log, while runs go on writing to it, and makes
again a projection table that was dropped (and the decisions inbox's, empty). ``prune
--older-than 30d`` deletes runs that finished longer ago than that — never a run still
going — and, beside a SQLite database, the lease files no live process holds (one is left
behind by every run that ever started), and the audit reports of the runs it deleted that
the data home's ``reports/`` holds: a report there lives as long as its run's record (one
written with ``run --out`` is the user's, elsewhere, and never touched).
"""

from __future__ import annotations

import argparse
import shutil

from rich.console import Console
from rich.text import Text

from engine.data_home import home_location
from storage.errors import INBOX_TABLE, lost_table_line
from storage.lease_files import prune_leases
from storage.paths import db_option, safe_url
from tui.commands.common import open_store
from tui.commands.exit_codes import EXIT_FAILED, EXIT_OK


async def cmd_upgrade(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args, create=True) as store:
        where = safe_url(store.url)
        done = store.migrated
        missing = await store.missing_tables()
        db = db_option(store.url)
    head = done.after if done else "head"
    if missing:  # stamped at head, yet a table is gone: upgrading does not make it again
        # Exit 1, as a run on it stops: the schema is not whole, and waiting will not make it.
        Console(stderr=True, highlight=False, markup=False).print(
            Text.assemble(
                ("shopfloor:", "bold red"),
                f" {where}: schema stamped at revision {head}, but {_lost(missing, db)}",
            ),
            soft_wrap=True,
        )
        return EXIT_FAILED
    if done is None or not done.changed:
        console.print(
            f"{where}: schema already at revision {head}", highlight=False, soft_wrap=True
        )
    else:
        before = done.before or "empty"
        console.print(
            f"{where}: schema upgraded from {before} to {done.after}",
            highlight=False,
            soft_wrap=True,  # one line however long the URL, for grep and logs
        )
    return EXIT_OK


def _lost(missing: list[str], db: str) -> str:
    """What the database lacks (projection tables, the decisions inbox) and the rebuild that
    makes each again."""
    said = []
    projections = [table for table in missing if table != INBOX_TABLE]
    if projections:
        one = len(projections) == 1
        said.append(
            f"the database has no {', '.join(projections)} {'table' if one else 'tables'}; "
            f"`shopfloor db rebuild{db}` makes {'it' if one else 'them'} again from the events "
            "table (a projection of the log: nothing is lost)"
        )
    if INBOX_TABLE in missing:
        said.append(lost_table_line(INBOX_TABLE, db))
    return "; ".join(said)


async def cmd_rebuild(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        missing = await store.missing_tables()
        replayed = await store.rebuild_projections()
        events = await store.count_events()
    if missing:
        tables = ", ".join(missing)
        empty = " (the decisions inbox empty)" if INBOX_TABLE in missing else ""
        console.print(
            f"recreated the table(s) the database had lost: {tables}{empty}", soft_wrap=True
        )
    console.print(f"rebuilt projections of {replayed} run(s) from {events} event(s)")
    return EXIT_OK


def remove_reports(run_ids: list[str]) -> int:
    """Remove the data home's audit reports (``reports/RUN``) of ``run_ids``; how many went."""
    try:
        reports = home_location() / "reports"
    except RuntimeError:  # $SHOPFLOOR_HOME names "~nosuchuser": no reports there
        return 0
    removed = 0
    for run_id in run_ids:
        folder = reports / run_id
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed += not folder.exists()
    return removed


async def cmd_prune(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        pruned = await store.prune(args.older_than)
        leases = prune_leases(store)  # SQLite: the files of runs no process drives
    reports = remove_reports(pruned)
    if pruned:
        console.print(f"pruned {len(pruned)} finished run(s): {', '.join(pruned)}")
    else:
        console.print("nothing to prune")
    if leases:
        console.print(f"removed {leases} lease file(s) no process holds")
    if reports:
        console.print(f"removed the audit report(s) of {reports} of them from the data folder")
    return EXIT_OK
