"""The merge queue and a user's checkout of the integration branch, past the first notice.

Two things a user can do with ``git checkout shopfloor/wip/RUN`` that the queue's wait did
not handle: leave it checked out (an owner gone for the night: the run sat there for ever,
after one notice), and commit on it (their commit was "put back" as an agent's move by the
next attempt, and its changes squashed into that task's commit). Real repositories, a real
bus and escalation broker; the escalations are answered as a person would, with ``decide``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NamedTuple

import pytest
from repo_helpers import git
from test_merge_queue import TreeGate, checkout_view, notices, reflog, task_commit, until

from engine.bus import EventBus
from engine.escalations import EscalationBroker
from engine.events import EventBase, Merged
from engine.merge_queue import MergeOutcome, MergeQueue, StopRequested
from engine.run_views import EscalationView
from engine.workspace import GitWorkspaces


class Setup(NamedTuple):
    ws: GitWorkspaces
    base: str
    bus: EventBus
    events: list[EventBase]
    broker: EscalationBroker
    """Where a person's answer goes, as the TUI or ``shopfloor approve|reject`` posts it."""


@pytest.fixture
async def run(user_repo: Path, worktree_root: Path) -> Setup:
    ws = GitWorkspaces(user_repo, "mw", worktree_root)
    base = await ws.start()
    bus = EventBus("mw")
    events: list[EventBase] = []
    bus.listen(events.append)
    return Setup(ws, base, bus, events, EscalationBroker(bus))


def queue_for(
    run: Setup,
    gate: TreeGate | None = None,
    *,
    broker: EscalationBroker | None = None,
    checkout_wait_s: float | None = None,
) -> MergeQueue:
    return MergeQueue(
        run.ws,
        [gate or TreeGate()],
        run.bus.emit,
        emit_new=run.bus.emit_new,
        release_poll_s=0.02,
        broker=broker or run.broker,
        checkout_wait_s=checkout_wait_s,
    )


def answer(run: Setup, esc: EscalationView, decision: str) -> None:
    assert run.broker.decide(esc.escalation_id, decision, "human:test")


def asked(bus: EventBus) -> list[EscalationView]:
    return list(bus.state.escalations.values())


async def question(bus: EventBus, number: int = 1) -> EscalationView:
    await until(lambda: len(asked(bus)) >= number)
    return asked(bus)[number - 1]


def submit(queue: MergeQueue, commit: str) -> asyncio.Task[MergeOutcome]:
    return asyncio.create_task(queue.submit("a", 1, commit, "Task a"))


def hint(checkout: Path) -> str:
    return f"`git -C {checkout} checkout -` (or `checkout --detach` to keep looking)"


# -- a branch left checked out -------------------------------------------------------------------


async def test_a_branch_held_past_the_wait_asks_and_stop_stops_the_run(run, user_repo: Path):
    ws, base, bus, events, _ = run
    wip = ws.integration_branch
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    git(user_repo, "checkout", "-q", wip)
    looking = checkout_view(user_repo)
    queue = queue_for(run, checkout_wait_s=0.3)
    submitted = submit(queue, commit_a)

    esc = await question(bus)
    assert (esc.kind, esc.task_id, esc.options, esc.default) == (
        "merge",
        "a",
        ["retry", "stop"],
        "stop",
    )
    assert esc.question == (
        f"Merging has waited over 0.3s before task a: {wip} is checked out in {user_repo}. "
        f"Retry (after {hint(user_repo)}), or stop the run (it stays resumable)?"
    )
    assert len(notices(events)) == 1  # the notice is still said, once
    assert not submitted.done()

    answer(run, esc, "stop")
    with pytest.raises(StopRequested) as stopped:
        await asyncio.wait_for(submitted, 10)
    assert str(stopped.value) == (
        f"the run stops before merging task a: {wip} is checked out in {user_repo}; "
        f"{hint(user_repo)}, then resume it"
    )
    assert notices(events)[1:] == [str(stopped.value)]
    assert ws.branch_tip(wip) == base  # nothing moved under the user
    assert checkout_view(user_repo) == looking
    assert not any(ws.root.glob("merge-*"))
    assert bus.state.escalations[esc.escalation_id].decision == "stop"


async def test_released_while_the_question_is_open_the_queue_answers_it_and_lands(
    run, user_repo: Path
):
    ws, base, bus, events, _ = run
    wip = ws.integration_branch
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    git(user_repo, "checkout", "-q", wip)
    queue = queue_for(run, checkout_wait_s=0.2)
    submitted = submit(queue, commit_a)
    esc = await question(bus)

    git(user_repo, "checkout", "-q", "-")
    outcome = await asyncio.wait_for(submitted, 10)
    assert outcome.merged and ws.branch_tip(wip) == outcome.commit
    assert reflog(user_repo, wip) == [outcome.commit, base]
    resolved = bus.state.escalations[esc.escalation_id]
    assert (resolved.decision, resolved.decided_by) == ("retry", "merge-queue")
    assert resolved.note == f"{wip} was released"
    assert [e.task_id for e in events if isinstance(e, Merged)] == ["a"]
    assert notices(events)[-1] == f"merging goes on: {wip} is no longer checked out in {user_repo}"


async def test_retry_while_still_held_waits_that_long_again_then_asks_again(run, user_repo: Path):
    ws, base, bus, _, _ = run
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    git(user_repo, "checkout", "-q", ws.integration_branch)
    queue = queue_for(run, checkout_wait_s=0.3)
    submitted = submit(queue, commit_a)
    first = await question(bus)
    answer(run, first, "retry")
    await until(lambda: bus.state.escalations[first.escalation_id].decision == "retry")
    await asyncio.sleep(0.15)
    assert len(asked(bus)) == 1  # not asked again before the wait is up again
    second = await question(bus, 2)
    assert second.question == first.question and second.decision is None
    answer(run, second, "stop")
    with pytest.raises(StopRequested):
        await asyncio.wait_for(submitted, 10)
    assert ws.branch_tip(ws.integration_branch) == base


async def test_the_reject_policy_stops_a_run_held_past_the_wait_without_a_person(
    run, user_repo: Path
):
    ws, base, bus, _, _ = run
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    git(user_repo, "checkout", "-q", ws.integration_branch)
    broker = EscalationBroker(bus, policy="reject")
    queue = queue_for(run, broker=broker, checkout_wait_s=0.2)
    with pytest.raises(StopRequested):
        await asyncio.wait_for(queue.submit("a", 1, commit_a, "Task a"), 10)
    (esc,) = asked(bus)
    assert (esc.decision, esc.decided_by) == ("stop", "policy:reject")
    assert ws.branch_tip(ws.integration_branch) == base


def test_the_checkout_wait_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="checkout wait must be positive"):
        MergeQueue(None, [], lambda e: None, checkout_wait_s=0)  # type: ignore[arg-type]


# -- commits of the user's on the branch ---------------------------------------------------------


async def user_commits_while_it_waits(
    ws: GitWorkspaces, queue: MergeQueue, user_repo: Path, commit_a: str
) -> tuple[asyncio.Task[MergeOutcome], str]:
    """The user checks the branch out, the merge waits, they commit there and let go."""
    git(user_repo, "checkout", "-q", ws.integration_branch)
    submitted = submit(queue, commit_a)
    await until(lambda: queue.paused_on is not None or submitted.done())
    assert not submitted.done()
    (user_repo / "mine.txt").write_text("mine\n")
    git(user_repo, "add", "mine.txt")
    git(user_repo, "commit", "-q", "-m", "my own fix")
    mine = git(user_repo, "rev-parse", "HEAD")
    git(user_repo, "checkout", "-q", "-")
    return submitted, mine


async def test_commits_made_on_the_checked_out_branch_are_named_and_kept_when_the_run_stops(
    run, user_repo: Path
):
    """Before, the merge failed ("no longer points at"), the task's next attempt started from
    the user's commit, the attempt's put-back moved the branch off it as "the agent's" move,
    and its changes shipped squashed into that task's commit."""
    ws, base, bus, events, _ = run
    wip = ws.integration_branch
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    queue = queue_for(run)
    submitted, mine = await user_commits_while_it_waits(ws, queue, user_repo, commit_a)

    esc = await question(bus)
    short = git(user_repo, "rev-parse", "--short", mine)
    assert (esc.kind, esc.options, esc.default) == ("merge", ["accept", "stop"], "stop")
    assert esc.question == (
        f"{wip} holds 1 commit(s) the run did not make, on top of what it merged: "
        f"{short} my own fix. Accept them (the run's tasks merge on top of them and ship "
        "with them), or stop the run (it stays resumable)?"
    )
    assert ws.integration_tip() == base  # the run's work does not go on from them, unasked
    answer(run, esc, "stop")
    with pytest.raises(StopRequested) as stopped:
        await asyncio.wait_for(submitted, 10)
    assert f"holds 1 commit(s) it did not make ({short} my own fix); they stay there" in str(
        stopped.value
    )
    assert f"branch -f {wip} {base}`" in str(stopped.value)
    assert notices(events)[-1] == str(stopped.value)
    assert ws.branch_tip(wip) == mine  # kept, and the run's merge did not land over it
    assert git(user_repo, "show", f"{wip}:mine.txt") == "mine"
    assert reflog(user_repo, wip) == [mine, base]


async def test_accepted_commits_of_the_users_are_built_on_and_the_merge_gates_run_again(
    run, user_repo: Path
):
    ws, base, bus, events, _ = run
    wip = ws.integration_branch
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    gate = TreeGate()
    queue = queue_for(run, gate)
    submitted, mine = await user_commits_while_it_waits(ws, queue, user_repo, commit_a)
    esc = await question(bus)
    checked = gate.checked
    answer(run, esc, "accept")

    outcome = await asyncio.wait_for(submitted, 10)
    assert outcome.merged and ws.branch_tip(wip) == outcome.commit == ws.integration_tip()
    assert git(user_repo, "log", "--reverse", "--format=%s", f"{base}..{wip}").splitlines() == [
        "my own fix",
        "Task a",
    ]
    assert reflog(user_repo, wip) == [outcome.commit, mine, base]
    assert gate.checked == checked + 1 and outcome.commit in gate.passed_heads
    assert git(user_repo, "show", f"{outcome.commit}:mine.txt") == "mine"
    assert [e.task_id for e in events if isinstance(e, Merged)] == ["a"]
    assert notices(events)[-2] == (
        f"merging goes on on top of 1 commit(s) on {wip} that the run did not make "
        f"({git(user_repo, 'rev-parse', '--short', mine)} my own fix): they ship with the run"
    )


async def test_a_branch_reset_under_the_run_stops_it_with_the_command_that_puts_it_back(
    run, user_repo: Path
):
    """A branch that no longer holds the run's tip (reset, rewritten): no commits to accept,
    and merging there would drop the run's own merges. Stopped at once, nothing moved."""
    ws, base, bus, _, _ = run
    wip = ws.integration_branch
    first = await queue_for(run).submit("a", 1, await task_commit(ws, "a", {"a.txt": "a\n"}), "A")
    assert first.merged and first.commit is not None
    commit_b = await task_commit(ws, "b", {"b.txt": "b\n"})
    git(user_repo, "branch", "-f", wip, base)
    with pytest.raises(StopRequested) as stopped:
        await asyncio.wait_for(queue_for(run).submit("b", 1, commit_b, "B"), 10)
    assert str(stopped.value) == (
        f"the run stops before merging task b: {wip} was moved to {base[:10]}, without "
        f"{first.commit[:10]} where the run left it; put it back with "
        f"`git -C {user_repo} branch -f {wip} {first.commit}`, then resume it"
    )
    assert ws.branch_tip(wip) == base and asked(bus) == []
