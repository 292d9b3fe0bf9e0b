"""``shopfloor learnings [list|show ID|prune]``: what the factory learned, with provenance.

Learnings are recorded at the end of runs (LearningRecorded) and kept in the ``learnings``
projection; later runs retrieve the relevant ones into the planner's and engineers' context.
``prune`` retires learnings so they are never retrieved again (the log stays append-only).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from storage.records import LearningRecord
from tui.commands.common import open_store
from tui.commands.exit_codes import EXIT_OK, UsageError
from tui.memory import retire, retired_ids


def _row(record: LearningRecord, retired: set[str]) -> dict[str, object]:
    return {
        "learning_id": record.learning_id,
        "run_id": record.run_id,
        "kind": record.kind,
        "text": record.text,
        "source": record.source,
        "tags": list(record.tags),
        "recorded_at": record.recorded_at.isoformat(),
        "pruned": record.learning_id in retired,
    }


async def cmd_learnings(args: argparse.Namespace, console: Console) -> int:
    action = args.learn_action or "list"
    async with await open_store(args) as store:
        run_id = None
        if action == "list" and getattr(args, "run", None):
            run_id = await store.resolve_run_id(args.run)
        records = await store.learnings(run_id)
    retired = retired_ids()
    if action == "show":
        hits = [r for r in records if r.learning_id.startswith(args.learning_id)]
        if len(hits) != 1:
            what = "no learning" if not hits else f"{len(hits)} learnings"
            raise UsageError(f"{what} matching {args.learning_id!r}")
        for key, value in _row(hits[0], retired).items():
            console.print(Text.assemble((f"{key}:", "bold"), f" {value}"), soft_wrap=True)
        return EXIT_OK
    if action == "prune":
        return _prune(args, records, console)
    shown = [r for r in records if getattr(args, "all", False) or r.learning_id not in retired]
    if getattr(args, "json", False):
        console.print_json(json.dumps([_row(r, retired) for r in shown]))
        return EXIT_OK
    table = Table("id", "kind", "source", "learning", title=f"{len(shown)} learning(s)")
    for r in shown:
        table.add_row(r.learning_id, r.kind, r.source, r.text)
    console.print(table)
    return EXIT_OK


def _prune(args: argparse.Namespace, records: list[LearningRecord], console: Console) -> int:
    if not args.ids and args.older_than is None:
        raise UsageError("name learning ids to prune, or give --older-than AGE")
    chosen: set[str] = set()
    for wanted in args.ids:
        hits = [r.learning_id for r in records if r.learning_id.startswith(wanted)]
        if len(hits) != 1:
            what = "no learning" if not hits else f"{len(hits)} learnings"
            raise UsageError(f"{what} matching {wanted!r}")
        chosen.add(hits[0])
    if args.older_than is not None:
        cutoff = datetime.now(UTC) - args.older_than
        chosen |= {r.learning_id for r in records if _aware(r.recorded_at) < cutoff}
    count = retire(chosen)
    console.print(f"pruned {count} learning(s); runs will no longer use them")
    return EXIT_OK


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
