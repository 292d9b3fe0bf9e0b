"""``shopfloor db upgrade|rebuild|prune``: looking after the database itself.

``upgrade`` migrates the schema to this version's head (opening a store does that too; the
command makes it an explicit, reported step for a team's shared PostgreSQL). ``rebuild``
recomputes the projections from the event log, while runs go on writing to it. ``prune
--older-than 30d`` deletes runs that finished longer ago than that — never a run still
going — and, beside a SQLite database, the lease files no live process holds (one is left
behind by every run that ever started).
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

from rich.console import Console

from storage.lease import prune_leases
from storage.paths import safe_url
from tui.commands.common import EXIT_OK, add_db_option, open_store

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def duration(text: str) -> timedelta:
    """argparse type: ``30d``, ``12h``, ``90m`` or ``2w`` as a timedelta."""
    match = _DURATION.match(text.lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use a number and m, h, d or w, e.g. 30d)"
        )
    if int(match.group(1)) == 0:  # `prune --older-than 0d` would delete every finished run
        raise argparse.ArgumentTypeError(f"a duration must be more than zero: {text!r}")
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise argparse.ArgumentTypeError(f"duration too long: {text!r}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database upkeep: upgrade, rebuild, prune")
    actions = db.add_subparsers(dest="db_action", required=True, metavar="ACTION")

    upgrade = actions.add_parser("upgrade", help="migrate the schema to this version")
    add_db_option(upgrade)
    upgrade.set_defaults(handler=cmd_upgrade)

    rebuild = actions.add_parser("rebuild", help="recompute runs/tasks/escalations/learnings")
    add_db_option(rebuild)
    rebuild.set_defaults(handler=cmd_rebuild)

    prune = actions.add_parser("prune", help="delete runs that finished long ago")
    prune.add_argument(
        "--older-than",
        type=duration,
        required=True,
        metavar="AGE",
        help="finished more than this long ago, e.g. 30d, 12h, 2w",
    )
    add_db_option(prune)
    prune.set_defaults(handler=cmd_prune)


async def cmd_upgrade(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args, create=True) as store:
        where = safe_url(store.url)
        done = store.migrated
        if done is None or not done.changed:
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
        replayed = await store.rebuild_projections()
        events = await store.count_events()
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
