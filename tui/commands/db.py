"""``shopfloor db upgrade|rebuild|prune``: looking after the database itself.

``upgrade`` migrates the schema to this version's head (opening a store does that too; the
command makes it an explicit, reported step for a team's shared PostgreSQL). ``rebuild``
recomputes the projections from the event log, while runs go on writing to it, and makes
again a projection table that was dropped. ``prune --older-than 30d`` deletes runs that
finished longer ago than that — never a run still going — and, beside a SQLite database,
the lease files no live process holds (one is left behind by every run that ever started).
"""

from __future__ import annotations

import argparse

from rich.console import Console

from storage.lease_files import prune_leases
from storage.paths import db_option, safe_url
from tui.commands.common import EXIT_OK, open_store


async def cmd_upgrade(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args, create=True) as store:
        where = safe_url(store.url)
        done = store.migrated
        missing = await store.missing_projections()
        if missing:  # stamped at head, yet a table is gone: upgrading does not make it again
            tables = ", ".join(missing)
            one = "table" if len(missing) == 1 else "tables"
            console.print(
                f"{where}: schema stamped at revision {done.after if done else 'head'}, but "
                f"the database has no {tables} {one}; `shopfloor db rebuild"
                f"{db_option(store.url)}` makes {'it' if len(missing) == 1 else 'them'} "
                "again from the events table (a projection of the log: nothing is lost)",
                highlight=False,
                soft_wrap=True,
            )
        elif done is None or not done.changed:
            head = done.after if done else "head"
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


async def cmd_rebuild(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        missing = await store.missing_projections()
        replayed = await store.rebuild_projections()
        events = await store.count_events()
    if missing:
        tables = ", ".join(missing)
        console.print(f"recreated the table(s) the database had lost: {tables}")
    console.print(f"rebuilt projections of {replayed} run(s) from {events} event(s)")
    return EXIT_OK


async def cmd_prune(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        pruned = await store.prune(args.older_than)
        leases = prune_leases(store)  # SQLite: the files of runs no process drives
    if pruned:
        console.print(f"pruned {len(pruned)} finished run(s): {', '.join(pruned)}")
    else:
        console.print("nothing to prune")
    if leases:
        console.print(f"removed {leases} lease file(s) no process holds")
    return EXIT_OK
