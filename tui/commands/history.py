"""``shopfloor runs`` and ``shopfloor status``: what the event log says about past runs."""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.durations import duration_text
from engine.events import Outcome
from engine.repo_guard import git_run
from engine.request_title import request_title
from engine.spend import dollars
from engine.state import RunState
from storage.answers import WaitingDecision
from storage.errors import LOG_GONE_REMEDY, RunInFlight, RunNotFound
from storage.lease import live_runs
from storage.lease_files import lease_folder
from storage.paths import db_option
from storage.store import SqlEventStore
from tui.budget_flags import go_on_line
from tui.commands.common import open_store
from tui.commands.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_KILLED, EXIT_OK, UsageError
from tui.plan_text import PLAN_ESCALATIONS, plan_text
from tui.run_settings import PYTHON_KEY, WARNING_KEY
from tui.text import agents_text, answer_command, cost_text, one_line

STOPPED = "stopped"
"""What ``runs`` and ``status`` call an unfinished run no live process drives."""


def standing(outcome: Outcome, live: bool) -> str:
    """The word ``runs`` and ``status`` show for a run: its outcome, or :data:`STOPPED` for
    an unfinished run no live process drives (``--json``'s ``standing``: scripts read it
    rather than combine ``outcome`` and ``live``)."""
    return STOPPED if outcome is Outcome.RUNNING and not live else outcome.value


NO_DRIVER = "no process drives this run any more (stopped by a signal or a crash)"
"""How ``status`` and ``attach`` say why an unfinished run is stopped."""


UNFINISHED_READ = 10_000
"""How many unfinished runs ``runs --outcome running|stopped`` reads before it sorts them."""


async def cmd_runs(args: argparse.Namespace, console: Console) -> int:
    under_way = args.outcome in (Outcome.RUNNING.value, STOPPED)
    async with await open_store(args) as store:
        records = await store.list_runs(
            # Which unfinished runs are stopped only the leases tell: all of them are read
            # (they are few), then the limit applies to the ones asked for.
            limit=UNFINISHED_READ if under_way else args.limit,
            repo=args.repo,
            outcome=Outcome.RUNNING
            if under_way
            else Outcome(args.outcome)
            if args.outcome
            else None,
            since=args.since,
        )
        unfinished = [r.run_id for r in records if r.outcome is Outcome.RUNNING]
        live = await live_runs(store, unfinished) if unfinished else {}
    if under_way:
        driven = args.outcome == Outcome.RUNNING.value
        records = [r for r in records if (r.run_id in live) is driven][: args.limit]
    if args.json:
        rows = [
            {
                **r.to_json(),
                "live": r.run_id in live,
                "standing": standing(r.outcome, r.run_id in live),
            }
            for r in records
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    table = Table(box=None)
    table.add_column("run", no_wrap=True, min_width=12)
    table.add_column("outcome", no_wrap=True, min_width=11)
    table.add_column("tasks", no_wrap=True, min_width=5)
    table.add_column("branch", overflow="fold")
    wide = console.width >= 110  # on a narrow terminal the branch matters more than the request
    if wide:
        table.add_column("request", no_wrap=True, overflow="ellipsis", max_width=48)
    for r in records:
        sim = " SIM" if r.simulated else ""
        outcome = r.outcome.value
        if r.outcome is Outcome.RUNNING and r.run_id not in live:
            outcome = STOPPED  # its process is gone: ``resume`` carries it on
        branch = one_line(r.branch) if r.branch else "-"
        row = [r.run_id, outcome + sim, f"{r.tasks_merged}/{r.tasks_total}", branch]
        if wide:
            row.append(one_line(request_title(r.request)))
        table.add_row(*row)
    console.print(table if records else no_runs_line(args))
    return EXIT_OK


def no_runs_line(args: argparse.Namespace) -> str:
    """What ``runs`` says when it lists nothing: "no runs yet" only when no filter was
    given; with one, which filters matched nothing (python-slugify's trial: ``runs
    --outcome stopped`` said "no runs yet" beside eleven stored runs)."""
    asked = [
        f"--{flag} {value}"
        for flag, value in (("repo", args.repo), ("outcome", args.outcome))
        if value
    ]
    if args.since is not None:
        asked.append(f"--since {args.since:%Y-%m-%d %H:%M} UTC")
    return f"no runs match {' '.join(asked)}" if asked else "no runs yet"


async def _state_and_driver(
    store: SqlEventStore, run_ref: str, *, go_on: bool = False
) -> tuple[RunState, str | None, str | None]:
    """The folded log, the live process driving the unfinished run (None: none does), and
    with ``go_on``, for a stopped run, how to go on with it (:func:`go_on_line`)."""
    try:
        run_id = await store.resolve_run_id(run_ref)
    except RunNotFound as exc:
        raise RunNotFound(f"{exc}{lost_log(store, run_ref)}") from exc
    state = RunState.fold(await store.read(run_id))
    if state.outcome is not Outcome.RUNNING:
        return state, None, None
    driver = (await live_runs(store, [run_id])).get(run_id)
    line = await go_on_line(store, state, NO_DRIVER) if go_on and driver is None else None
    return state, driver, line


def lost_log(store: SqlEventStore, run_ref: str) -> str:
    """Why a run the database does not know was not a typo, when its lease file (SQLite)
    says a process drove it on this database: its log went (a deleted file, a new database
    made in its place by the default path), and what brings it back; else nothing."""
    folder = lease_folder(store)
    if folder is None or not run_ref.strip():  # PostgreSQL: its leases leave nothing behind
        return ""  # no id (an unset variable) is the prefix of every lease: no run is meant
    try:
        leased = sorted(p.name for p in folder.iterdir() if p.name.startswith(run_ref.strip()))
    except OSError:  # no folder, or none this user may look into
        return ""
    if len(leased) != 1:
        return ""
    return (
        f", though run {leased[0]} was driven on this database (its lease is in {folder}): "
        f"its log is not in it any more; {LOG_GONE_REMEDY}"
    )


def exit_code(state: RunState) -> int:
    """The process exit code for how a run ended."""
    return {
        Outcome.SHIPPED: EXIT_OK,
        Outcome.REPORTED: EXIT_OK,
        Outcome.FAILED: EXIT_FAILED,
        Outcome.KILLED: EXIT_KILLED,
        Outcome.RUNNING: EXIT_INTERRUPTED,
    }[state.outcome]


async def load_stopped_run(store: SqlEventStore, run_ref: str, doing: str) -> RunState:
    """The folded log in ``store`` of a run no live process drives (:class:`RunInFlight`
    otherwise, and a UsageError for a run that never started), for ``resume`` or ``abandon``
    (``doing``: "resumed", "abandoned"); it may have finished. The store stays open: the
    command goes on with it."""
    state, driver, _ = await _state_and_driver(store, run_ref)
    if driver is not None:
        raise RunInFlight(state.run_id, driver, db_option(store.url))
    if not state.run_id:
        raise UsageError(f"run {run_ref} has no RunStarted event; it cannot be {doing}")
    return state


def spend_text(state: RunState, now: datetime | None = None) -> str:
    """What the run spent (tokens: in, of them cached, and out; its cost, ``+ unpriced`` when
    some calls had no price) and the limits its log reports, as ``status --json`` has them:
    the run's, and the per-task ones a resume set (``now``: a live run's clock)."""
    cached = f" with {state.cached_tokens:,} cached" if state.cached_tokens else ""
    tokens = state.input_tokens + state.output_tokens
    text = (
        f"spent: {tokens:,} tokens ({state.input_tokens:,} in{cached}, "
        f"{state.output_tokens:,} out), {cost_text(state.cost_usd, state.unpriced_models)}"
    )
    budget = state.budget_status(now)
    if budget is None:
        return text
    limits = []
    for scope, tokens, cost, time in (
        ("run", budget["max_tokens"], budget["max_cost_usd"], budget["max_duration_s"]),
        ("each task", budget["task_max_tokens"], budget["task_max_cost_usd"], None),
    ):
        said = [f"{tokens:,} tokens"] if tokens is not None else []
        said += [dollars(cost)] if cost is not None else []
        if time is not None:  # said as `--max-duration` takes it
            said.append(
                f"{duration_text(time)} of time ({duration_text(budget['duration_s'])} driven)"
            )
        if said:
            limits.append(f"{scope} {', '.join(said)}")
    if limits:
        text += f"; budget: {', '.join(limits)}"
    if budget["exceeded"]:
        text += f"; {budget['exceeded']} budget exceeded"
    return text


def left_branch_line(state: RunState) -> str | None:
    """For a run that failed or was killed: the integration branch it leaves in the
    repository, what is on it and the command that deletes it (None when it is gone)."""
    ended = state.outcome in (Outcome.FAILED, Outcome.KILLED)
    if not ended or state.mode == "audit" or not state.integration_branch or not state.repo:
        return None
    branch = state.integration_branch
    try:
        found = git_run(
            Path(state.repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"
        )
    except OSError:  # the repository's folder is gone
        return None
    if found.returncode != 0:
        return None
    merged = list(dict.fromkeys(state.merged))
    what = (
        f"with the {len(merged)} task(s) the run merged ({', '.join(merged)})"
        if merged
        else "at the commit the run started from"
    )
    delete = f"git -C {shlex.quote(state.repo)} branch -D {shlex.quote(branch)}"
    return f"left in the repository: {branch}, {what}; `{delete}` deletes it"


def open_question_lines(
    state: RunState,
    driven: bool,
    answered: dict[tuple[str, str], WaitingDecision],
    db: str = "",
) -> list[Text]:
    """What ``status`` says of the run's open escalations: each question, and the command
    that answers it from this shell (or the answer already posted that the run has not
    taken). ``status`` said "stage twin, running" and nothing of the human it waited for.
    ``db``: the ``--db`` of the database read (:func:`storage.paths.db_option`), which the
    commands carry."""
    lines: list[Text] = []
    run = state.run_id
    for e in state.open_escalations:
        options = f" [{' / '.join(e.options)}]" if e.options else ""
        task = f", task {e.task_id}" if e.task_id else ""
        head = "waiting for a human" if driven else "open when the run stopped"
        lines.append(
            Text.assemble(
                (f"{head}: ", "bold yellow"),
                (e.escalation_id, "bold"),
                f" ({e.kind}{task}) {one_line(e.question)}{options}",
            )
        )
        waiting = answered.get((run, e.escalation_id))
        if waiting is not None:
            taker = "the run takes it" if driven else f"`shopfloor resume {run}{db}` takes it"
            how = f"answered: {one_line(str(waiting.decision))} by "
            how += f"{one_line(waiting.decided_by)}, {taker}"
        else:
            how = f"answer with: {answer_command(e.escalation_id, run, e.options, db=db)}"
            if not driven:
                how += f" (`shopfloor resume {run}{db}` takes it; else it is asked again)"
        if e.kind in PLAN_ESCALATIONS:
            how += f"; the plan: shopfloor status {run} --plan{db}"
        lines.append(Text(f"  {how}", style="dim"))
    return lines


async def cmd_status(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        state, driver, go_on = await _state_and_driver(store, args.run_id, go_on=not args.json)
        asks = not args.json and state.outcome is Outcome.RUNNING and state.open_escalations
        answered = await store.waiting_decisions(state.run_id) if asks else {}
        db = db_option(store.url)
    # A driven run's time runs on between its events (a night waiting on a person's answer).
    now = datetime.now(UTC) if driver is not None else None
    # Said when the run (or its latest resume) started: uncommitted files it left out.
    warnings = str(state.settings.get(WARNING_KEY) or "").splitlines()
    if args.json:
        live = {
            "live": driver is not None,
            "driver": driver,
            "standing": standing(state.outcome, driver is not None),
        }
        report = {**state.to_status(now), **live, "warnings": warnings}
        report["agents"] = asdict(state.agent_tally(live=driver is not None))
        if args.plan:
            blueprint = state.blueprint
            report["plan"] = blueprint.model_dump(mode="json") if blueprint else None
        print(json.dumps(report, indent=2))
        return EXIT_OK
    sim = " SIM" if state.simulated else ""
    outcome = state.outcome.value
    if state.outcome is Outcome.RUNNING:
        outcome = f"running ({driver})" if driver else STOPPED
    console.print(
        Text.assemble(
            "run ", (state.run_id, "bold"), f"{sim} — {outcome} (stage {state.stage.value})"
        )
    )
    if go_on is not None:
        console.print(go_on, soft_wrap=True, highlight=False)
    if state.outcome is Outcome.RUNNING:
        for line in open_question_lines(state, driver is not None, answered, db):
            console.print(line, soft_wrap=True, highlight=False)
    # What a planner, a failure or another person wrote is drawn, never obeyed as escapes.
    console.print(f"request: {one_line(request_title(state.request))}")
    if state.branch:
        console.print(f"branch: {one_line(state.branch)}")
    python = state.settings.get(PYTHON_KEY)
    if python:
        console.print(f"python for the tests and mypy: {one_line(str(python))}", highlight=False)
    if state.tasks:  # an audit has none, nor a run stopped before its plan: no bare header
        table = Table("task", "state", "attempts", "title", box=None)
        for task in state.tasks.values():
            row = (one_line(task.id), task.state.value, str(task.attempts), one_line(task.title))
            table.add_row(*row)
        console.print(table)
    if state.agents:  # the same counts as the run screen's budget line
        tally = agents_text(state.agent_tally(live=driver is not None), separator=", ")
        console.print(Text.assemble("agents: ", tally), highlight=False)
    console.print(spend_text(state, now), soft_wrap=True, highlight=False)
    if state.reason:
        console.print(f"reason: {one_line(state.reason)}")
    left = left_branch_line(state)
    if left:
        console.print(one_line(left), soft_wrap=True, highlight=False, markup=False)
    if state.baseline_red:
        red = "; ".join(f"{gate} ({summary})" for gate, summary in state.baseline_red.items())
        console.print(
            f"already red before this run (on the base commit; not the run's doing): "
            f"{one_line(red)}",
            soft_wrap=True,
            highlight=False,
        )
    for warning in warnings:
        console.print(Text(f"warning: {one_line(warning)}", style="yellow"), soft_wrap=True)
    if args.plan:
        console.print()
        if state.blueprint is None:
            console.print("no plan yet: the planner has not drawn one", highlight=False)
        else:
            console.print(plan_text(state.blueprint), highlight=False, soft_wrap=True)
    return EXIT_OK
