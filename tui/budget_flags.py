"""What ``run`` and ``resume`` make of their budget flags (``--max-cost`` and its kin, added
by :func:`tui.parsers.run.add_budget_options`), and the resume command that names the ones a
run stopped on its budget needs to go on.

:func:`stopped_line` is the one sentence saying how to go on with a run no process drives,
whoever says it: the end of ``run``, ``status``, and ``attach`` (its toast and its closing
line). It counts the answers waiting in the run's inbox (``shopfloor approve`` while the run
was stopped), which ``resume`` takes: a raise waiting there needs no ``--max-tokens``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.durations import duration_text
from engine.spend import BudgetLimits, Crossed, still_crossed
from engine.state import RunState
from storage.paths import db_option

if TYPE_CHECKING:
    from storage.store import SqlEventStore

FLAGS = {
    "max_tokens": "--max-tokens",
    "max_cost_usd": "--max-cost",
    "max_duration_s": "--max-duration",
    "task_max_tokens": "--task-max-tokens",
    "task_max_cost_usd": "--task-max-cost",
}
"""Each :class:`BudgetLimits` field and its flag (``[engine]`` keys of the same names)."""


def budget_from_args(args: argparse.Namespace) -> BudgetLimits | None:
    """The budgets the command line set, or None when it set none."""
    limits = BudgetLimits(
        max_tokens=args.max_tokens,
        max_cost_usd=args.max_cost,
        task_max_tokens=args.task_max_tokens,
        task_max_cost_usd=args.task_max_cost,
        max_duration_s=args.max_duration,
    )
    return limits if limits.given() else None


def resume_command(run_id: str, crossed: Crossed | None = None, *, db: str = "") -> str:
    """``shopfloor resume RUN``, with the flags that lift each budget ``crossed`` names to
    where a "raise" would (the owner may give more), and ``db``: the ``--db`` of the run's
    database (:func:`storage.paths.db_option`; "" for the default one)."""
    words = ["shopfloor", "resume", run_id]
    if crossed is not None:
        for name, flag in FLAGS.items():
            value = getattr(crossed.raised, name)
            if name == "max_duration_s" and value is not None:
                words += [flag, duration_text(value)]
            elif value is not None:
                words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(words) + db


def stopped_line(
    state: RunState,
    why: str | None = None,
    answers: Mapping[str, str] | None = None,
    *,
    db: str = "",
) -> str:
    """How to go on with a run no process drives (``why``: how it came to stop, unless its
    log says it was interrupted or it stopped on its budget): the resume command, with the
    budgets it needs when it stopped over one, and the abandon command.

    ``answers``: the decisions waiting in the run's inbox (escalation id -> decision, as
    :func:`posted_answers` reads them), which the resume takes: a "raise" of the budget
    question the stop left open lifts that budget, so the command needs no flag for it.
    ``db``: the ``--db`` both commands carry (:func:`storage.paths.db_option`)."""
    crossed = still_crossed(state)
    carries = "carries it on"
    if crossed is not None:
        why = f"the run stopped on its budget: it is {crossed.text}"
        after = still_crossed(state, answers=answers) if answers else crossed
        if after is None:
            carries = "takes the raise waiting in its inbox and carries it on"
        elif after != crossed:
            carries = "takes the raise waiting in its inbox, and carries it on with a higher budget"
        else:
            carries = "carries it on with a higher budget"
        crossed = after
    elif state.interrupted_at is not None:
        # Its process stopped it cleanly and logged so: not "a signal or a crash".
        when = datetime.fromisoformat(state.interrupted_at).astimezone(UTC)
        why = (
            f"the run was interrupted at {when:%Y-%m-%d %H:%M} UTC (Ctrl-C, the TUI's q or a"
            " stop signal) and stopped cleanly; its events are kept in the database"
        )
    elif why is None:
        why = "the run was interrupted; its events are kept in the database"
    return (
        f"{why}: `{resume_command(state.run_id, crossed, db=db)}` {carries}, "
        f"`shopfloor abandon {state.run_id}{db}` ends it"
    )


async def posted_answers(store: SqlEventStore, run_id: str) -> dict[str, str]:
    """Decisions posted (``shopfloor approve``) to the run's open escalations while no
    process drove it, which its resume takes: escalation id -> decision."""
    waiting = await store.waiting_decisions(run_id)
    return {escalation_id: answer.decision for (_, escalation_id), answer in waiting.items()}


async def go_on_line(store: SqlEventStore, state: RunState, why: str | None = None) -> str:
    """:func:`stopped_line` for a stored run, with the answers waiting in its inbox, its
    commands naming the store's database."""
    answers = await posted_answers(store, state.run_id)
    return stopped_line(state, why, answers, db=db_option(store.url))
