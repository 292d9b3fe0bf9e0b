"""``shopfloor approve|reject|change`` as a demanding user meets it, on both backends.

Before, an escalation someone had already answered got "no open escalation", the same words
as an id that never existed, and an escalation left open by a run that had ended was listed
as waiting and took an approval nothing would ever read. Two people answering at the same
moment could both be told "posted". Now: "already answered" names the decision, who gave it
and when (exit 2); an unknown id is "no such escalation"; a run that has ended takes no
answer; exactly one of two racing answers wins and the other is told who won; and the
command says whether the run took the answer or, when it is not running, how it will.
"""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
from rich.console import Console

from engine.bus import EventBus
from engine.events import (
    EscalationRaised,
    EscalationResolved,
    EventBase,
    Outcome,
    RunFinished,
    RunStarted,
)
from engine.protocols import ExternalDecision
from storage.errors import StorageError
from storage.inbox import take_decisions
from storage.lease import RunLease
from storage.paths import db_option
from storage.store import SqlEventStore
from tui.cli import build_parser, main
from tui.commands import escalations as commands
from tui.commands.exit_codes import UsageError

WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
OPTIONS = ["accept", "change", "reject"]
REFUSED = (UsageError, StorageError)
"""What the CLI reports as one line with exit code 2 (tui.cli.BAD_INPUT)."""


@pytest.fixture(autouse=True)
def quick_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing plays the run in most tests: do not wait long to see it take an answer."""
    monkeypatch.setattr(commands, "CONFIRM_S", 0.3, raising=False)
    monkeypatch.setattr(commands, "decider", lambda: "human:me")


def started(run_id: str) -> list[EventBase]:
    bus = EventBus(run_id)
    return [
        bus.emit(
            RunStarted(
                request="Build a greeting CLI",
                repo="/repos/greet",
                base_branch="main",
                base_commit="0" * 40,
                integration_branch=f"shopfloor/wip/{run_id}",
            )
        ),
        bus.emit(
            EscalationRaised(
                escalation_id="esc-1", kind="twin", question="Ship it?", options=OPTIONS
            )
        ),
    ]


def then(run_id: str, after: list[EventBase], event: EventBase) -> EventBase:
    return event.model_copy(update={"run_id": run_id, "seq": after[-1].seq + 1})


async def decide(url: str, *words: str) -> str:
    """Run ``shopfloor WORDS --db URL``'s handler; returns what it printed."""
    args = build_parser(words[0]).parse_args([*words, "--db", url])
    out = io.StringIO()
    await args.handler(args, Console(file=out, width=300, markup=False))
    return out.getvalue().strip()


async def test_an_answered_escalation_says_by_whom_and_when(backend_url: str) -> None:
    async with await SqlEventStore.open(backend_url) as store:
        log = started("r-answered")
        resolved = EscalationResolved(escalation_id="esc-1", decision="reject", decided_by="twin")
        await store.append([*log, then("r-answered", log, resolved)])
    already = (
        rf"^escalation 'esc-1' of run r-answered was already answered: reject by twin at {WHEN}$"
    )
    for verb, *more in (("approve",), ("reject", "--reason", "no"), ("change", "--note", "x")):
        with pytest.raises(REFUSED, match=already):
            await decide(backend_url, verb, "esc-1", *more)
    with pytest.raises(UsageError, match=r"^no such escalation 'esc-2'; "):
        await decide(backend_url, "approve", "esc-2")
    with pytest.raises(UsageError, match=r"^no such escalation 'esc-2' in run r-answered; "):
        await decide(backend_url, "approve", "esc-2", "--run", "r-ans")


async def test_an_answer_waiting_in_the_inbox_counts_as_answered(backend_url: str) -> None:
    async with await SqlEventStore.open(backend_url) as store:
        await store.append(started("r-down"))  # the run's process is gone: nothing takes it
    said = await decide(backend_url, "approve", "esc-1")
    assert said == (
        "accept posted for escalation esc-1 of run r-down; no process drives the run now "
        f"(stopped or killed): `shopfloor resume r-down{db_option(backend_url)}` takes it"
    )
    with pytest.raises(REFUSED) as info:
        await decide(backend_url, "reject", "esc-1")
    assert info.match(
        rf"^escalation 'esc-1' of run r-down was already answered: accept by human:me at {WHEN}; "
        "the run has not taken it yet$"
    )


async def test_a_run_that_ended_takes_no_answer(backend_url: str) -> None:
    async with await SqlEventStore.open(backend_url) as store:
        log = started("r-ended")  # killed by a gate while esc-1 was still open
        await store.append([*log, then("r-ended", log, RunFinished(outcome=Outcome.KILLED))])
    assert await decide(backend_url, "escalations") == "no escalations waiting"
    with pytest.raises(REFUSED, match=r"^run r-ended has ended \(killed\); escalation 'esc-1' "):
        await decide(backend_url, "approve", "esc-1")
    async with await SqlEventStore.open(backend_url) as store:
        assert await take_decisions(store.engine, "r-ended") == []  # nothing was posted


async def test_the_same_id_in_several_runs_picks_the_one_still_waiting(backend_url: str) -> None:
    async with await SqlEventStore.open(backend_url) as store:
        old = started("r-old")
        resolved = EscalationResolved(escalation_id="esc-1", decision="accept", decided_by="twin")
        await store.append([*old, then("r-old", old, resolved)])
        await store.append(started("r-new"))
    said = await decide(backend_url, "reject", "esc-1")
    assert said.startswith("reject posted for escalation esc-1 of run r-new;")


async def test_two_shells_answering_at_once_get_one_winner(backend_url: str) -> None:
    async with await SqlEventStore.open(backend_url) as store:
        await store.append(started("r-race"))
    results = await asyncio.gather(
        decide(backend_url, "approve", "esc-1"),
        decide(backend_url, "reject", "esc-1"),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    winner = won[0].split()[0]
    assert isinstance(lost[0], REFUSED)
    assert str(lost[0]).startswith(
        f"escalation 'esc-1' of run r-race was already answered: {winner} by human:me at "
    )
    async with await SqlEventStore.open(backend_url) as store:
        taken = await take_decisions(store.engine, "r-race")
    assert [d.decision for d in taken] == [winner]


async def next_decisions(store: SqlEventStore, run_id: str) -> list[ExternalDecision]:
    """Take what is posted for ``run_id``, as the run's engine does, once something is."""
    for _ in range(500):
        if taken := await take_decisions(store.engine, run_id):
            return taken
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing was posted for {run_id}")


async def play_the_run(store: SqlEventStore, run_id: str, log: list[EventBase]) -> None:
    """What the run's engine does with its inbox: take the decision, log the resolution."""
    (answer,) = await next_decisions(store, run_id)
    resolved = EscalationResolved(
        escalation_id=answer.escalation_id,
        decision=answer.decision,
        decided_by=answer.decided_by,
        note=answer.note,
    )
    await store.append([then(run_id, log, resolved)])


async def test_the_command_says_when_the_run_took_the_answer(
    backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "CONFIRM_S", 10.0, raising=False)
    async with await SqlEventStore.open(backend_url) as store:
        log = started("r-live")
        await store.append(log)
        lease = await RunLease.take(store, "r-live")  # its process is alive and drives it
        run = asyncio.ensure_future(play_the_run(store, "r-live", log))
        said = await decide(backend_url, "change", "esc-1", "--note", "smaller tasks")
        await run
        await lease.release()
    assert said == "change posted for escalation esc-1 of run r-live; the run took it"


async def test_an_answer_overtaken_inside_the_run_is_not_called_posted(
    backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run had taken someone's answer but not logged it yet when ours arrived: the
    inbox accepted ours, and the run then dropped it. Before, we were told "posted"."""
    monkeypatch.setattr(commands, "CONFIRM_S", 10.0, raising=False)
    async with await SqlEventStore.open(backend_url) as store:
        log = started("r-overtaken")
        await store.append(log)
        lease = await RunLease.take(store, "r-overtaken")  # its process is alive and drives it
        await store.post_decision("r-overtaken", "esc-1", "reject", "human:ann", "no")
        (first,) = await take_decisions(store.engine, "r-overtaken")  # taken, not yet logged

        async def log_the_first_answer() -> None:
            await next_decisions(store, "r-overtaken")  # ours arrived (and is dropped)
            resolved = EscalationResolved(
                escalation_id="esc-1", decision=first.decision, decided_by=first.decided_by
            )
            await store.append([then("r-overtaken", log, resolved)])

        run = asyncio.ensure_future(log_the_first_answer())
        with pytest.raises(UsageError) as info:
            await decide(backend_url, "approve", "esc-1")
        await run
        await lease.release()
    assert info.match(
        rf"^escalation 'esc-1' of run r-overtaken was answered meanwhile: reject by human:ann "
        rf"at {WHEN}; your accept was not used$"
    )


def test_the_command_line_exits_2_with_one_line(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI's entry point: exit code 2 and one line on stderr, no traceback."""

    async def seed() -> None:
        async with await SqlEventStore.open(db_url) as store:
            log = started("r-cli")
            done = EscalationResolved(escalation_id="esc-1", decision="accept", decided_by="twin")
            await store.append([*log, then("r-cli", log, done)])

    asyncio.run(seed())
    assert main(["reject", "esc-1", "--db", db_url]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        rf"shopfloor: escalation 'esc-1' of run r-cli was already answered: accept by twin "
        rf"at {WHEN}",
        line,
    )


async def test_the_list_says_which_question_was_answered_and_waits_for_its_run(
    backend_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A teammate answered a stopped run's question from another shell: the list says so,
    rather than showing it as waiting for a human, which had the next person answer again."""
    async with await SqlEventStore.open(backend_url) as store:
        await store.append(started("r-down"))
        await store.append(started("r-up"))
    await decide(backend_url, "approve", "esc-1", "--run", "r-down")
    listed = await decide(backend_url, "escalations")
    down, up = (
        next(line for line in listed.splitlines() if line.strip().startswith(run))
        for run in ("r-down", "r-up")
    )
    resume = f"`shopfloor resume r-down{db_option(backend_url)}`"  # on the database listed
    assert f"answered: accept by human:me, waits for {resume}" in down
    assert "accept / change / reject" in up and "answered" not in up
    assert "approve|reject|change" in listed  # r-up waits: the hint is for it
    capsys.readouterr()
    await decide(backend_url, "escalations", "--json")
    entries = json.loads(capsys.readouterr().out)
    answered = {entry["run_id"]: entry["answered"] for entry in entries}
    assert answered["r-up"] is None
    assert (answered["r-down"]["decision"], answered["r-down"]["decided_by"]) == (
        "accept",
        "human:me",
    )
    async with await SqlEventStore.open(backend_url) as store:
        lease = await RunLease.take(store, "r-up")  # a live process drives r-up
        try:
            await decide(backend_url, "reject", "esc-1", "--run", "r-up")
            listed = await decide(backend_url, "escalations", "r-up")
        finally:
            await lease.release()
    assert "answered: reject by human:me, the run takes it" in listed
    assert "approve|reject|change" not in listed  # nothing listed waits for an answer


NOTE_KEY = "sk-ant-api03-n0te5ecret0123456789abcdef"
"""A key a person pasted into a decision's note ("use the staging key sk-...")."""


async def test_a_note_holding_a_key_is_kept_cleaned_and_the_run_taking_it_is_said(
    backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox kept a decision's note as it was typed: a key in it stayed in the
    decisions table (read by everyone sharing a PostgreSQL database) after the run had logged
    the note cleaned. And the run's logged note, cleaned, no longer equalled the note the
    command had posted, so a run that took the answer was said to have taken another one:
    "answered meanwhile ... your change was not used"."""
    from sqlalchemy import select

    from storage.schema import decisions

    monkeypatch.setattr(commands, "CONFIRM_S", 10.0, raising=False)
    note = f"use the staging key {NOTE_KEY} for the smoke test"
    async with await SqlEventStore.open(backend_url) as store:
        log = started("r-noted")
        await store.append(log)
        lease = await RunLease.take(store, "r-noted")
        run = asyncio.ensure_future(play_the_run(store, "r-noted", log))
        said = await decide(backend_url, "change", "esc-1", "--note", note)
        await run
        await lease.release()
        async with store.engine.connect() as conn:
            stored = (await conn.execute(select(decisions.c.note))).scalars().all()
        with pytest.raises(REFUSED) as info:  # and a second answer is refused without it
            await decide(backend_url, "reject", "esc-1", "--reason", note)
    assert said == "change posted for escalation esc-1 of run r-noted; the run took it"
    assert stored == ["use the staging key [REDACTED] for the smoke test"]
    assert NOTE_KEY not in str(info.value)
