"""Readers that live for hours survive their PostgreSQL connections being killed.

A run waiting for an approval, ``attach`` and every tail hold connections for as long as a
run lasts; a server restart, a failover or an administrator's ``pg_terminate_backend`` kills
them. Before, the run's decisions stream ended on the first failed query (a traceback in the
log, and the run waited forever for an approval that had been posted), a tail ended with
"connection is closed", and a listener whose connection died was never replaced. Here the
backends are killed for real, with ``pg_terminate_backend``, and the readers carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import SimpleNamespace

import asyncpg
import pytest
from pg_proxy import PgProxy
from sqlalchemy.engine import make_url

from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    EscalationRaised,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
)
from storage.errors import StorageError
from storage.notify import EVENTS_CHANNEL, Wakeup, notify
from storage.reconnect import Reconnecting
from storage.run_writer import ProcessStorageWriter
from storage.store import SqlEventStore
from storage.tail import tail_run
from storage.writer import OUTAGE_S


def run_started() -> RunStarted:
    return RunStarted(
        request="Build a greeting CLI",
        repo="/repos/greet",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/integration",
    )


def admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def kill_backends(url: str) -> int:
    """``pg_terminate_backend`` every other connection to the test's database."""
    dsn = admin_dsn(url)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    await asyncio.sleep(0.2)  # the server closes the sockets; the clients see EOF
    return int(killed)


async def listeners(url: str, channel: str) -> int:
    conn = await asyncpg.connect(admin_dsn(url), timeout=5)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = $1",
                f'LISTEN "{channel}"',
            )
        )
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_the_runs_decisions_stream_outlives_killed_connections(empty_pg_url):
    async with await SqlEventStore.open(empty_pg_url) as store:
        bus = EventBus("r-wait")
        await store.append(
            [
                bus.emit(run_started()),
                bus.emit(
                    EscalationRaised(
                        escalation_id="esc-1",
                        kind="twin",
                        question="Accept the plan?",
                        options=["accept", "reject"],
                    )
                ),
            ]
        )
        stream = store.decisions("r-wait", poll_s=0.01)
        async with contextlib.aclosing(stream):
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.3)  # the run listens and has read the empty inbox
            assert await kill_backends(empty_pg_url) >= 1
            async with await SqlEventStore.open(empty_pg_url) as approver:
                await approver.post_decision("r-wait", "esc-1", "accept", "human:ana")
            decision = await asyncio.wait_for(waiting, timeout=10)
    assert (decision.escalation_id, decision.decision, decision.decided_by) == (
        "esc-1",
        "accept",
        "human:ana",
    )


@pytest.mark.postgres
async def test_the_runs_decisions_stream_outlives_an_outage(empty_pg_url):
    """The database is away for a few seconds (restart, failover) while the run waits."""
    async with await SqlEventStore.open(empty_pg_url) as store:
        bus = EventBus("r-outage")
        await store.append(
            [
                bus.emit(run_started()),
                bus.emit(
                    EscalationRaised(
                        escalation_id="esc-1", kind="twin", question="Ship?", options=["accept"]
                    )
                ),
            ]
        )
    proxy = await PgProxy(empty_pg_url).start()
    try:
        async with await SqlEventStore.open(proxy.url) as run_side:
            stream = run_side.decisions("r-outage", poll_s=0.01)
            async with contextlib.aclosing(stream):
                waiting = asyncio.ensure_future(anext(stream))
                await asyncio.sleep(0.3)
                await proxy.cut()
                # Longer than the listener's 2 s fallback: the run reads the inbox meanwhile.
                await asyncio.sleep(2.5)
                assert not waiting.done()  # still waiting, not ended with an error
                async with await SqlEventStore.open(empty_pg_url) as approver:
                    await approver.post_decision("r-outage", "esc-1", "accept", "human:bo")
                await proxy.restore()
                decision = await asyncio.wait_for(waiting, timeout=10)
    finally:
        await proxy.close()
    assert (decision.escalation_id, decision.decided_by) == ("esc-1", "human:bo")


@pytest.mark.postgres
async def test_a_tail_carries_on_after_its_connections_are_killed(empty_pg_url):
    async with (
        await SqlEventStore.open(empty_pg_url) as writer,
        await SqlEventStore.open(empty_pg_url) as reader,
    ):
        bus = EventBus("r-tail")
        first = [bus.emit(run_started()), bus.emit(StageChanged(stage=Stage.BUILD))]
        await writer.append(first)
        seen: list[int] = []
        got_two = asyncio.Event()

        async def follow() -> None:
            async for event in reader.tail("r-tail"):
                seen.append(event.seq)
                if len(seen) == 2:
                    got_two.set()

        tailing = asyncio.ensure_future(follow())
        await asyncio.wait_for(got_two.wait(), timeout=5)
        await asyncio.sleep(0.1)  # the tail waits for a notification now
        assert await kill_backends(empty_pg_url) >= 2  # its LISTEN and its pooled connection

        more = [bus.emit(AgentOutput(agent_id="eng-1", text=f"line {i}")) for i in range(3)]
        more.append(bus.emit(RunFinished(outcome=Outcome.SHIPPED)))
        async with await SqlEventStore.open(empty_pg_url) as run_writer:  # the run's writer
            await run_writer.append(more)  # retries its batch on a new connection
        await asyncio.wait_for(tailing, timeout=10)  # ends at RunFinished, no error
    assert seen == [1, 2, 3, 4, 5, 6]


@pytest.mark.postgres
async def test_a_killed_listener_listens_again_and_wakes_on_the_next_commit(empty_pg_url):
    async with await SqlEventStore.open(empty_pg_url) as store:
        # safety_s is long: a wake-up within the test's time can only come from NOTIFY.
        async with Wakeup(store.engine, EVENTS_CHANNEL, "r-wake", safety_s=60) as wakeup:
            assert wakeup.listening
            await kill_backends(empty_pg_url)
            # Seeing its connection die wakes the reader at once (it may have missed a commit).
            await asyncio.wait_for(wakeup.wait(), timeout=5)
            assert wakeup.listening
            assert wakeup.relistened == 1
            assert await listeners(empty_pg_url, EVENTS_CHANNEL) == 1

            waiting = asyncio.ensure_future(wakeup.wait())
            await asyncio.sleep(0.1)
            assert not waiting.done()
            started = time.monotonic()
            async with store.engine.begin() as conn:
                await notify(conn, EVENTS_CHANNEL, ["r-wake"])
            await asyncio.wait_for(waiting, timeout=5)
            assert time.monotonic() - started < 5


async def test_a_tail_says_so_when_the_database_keeps_failing(db_url):
    """Retrying has an end: a tail whose reads fail for ``reconnect_s`` raises the error."""
    async with await SqlEventStore.open(db_url) as store:
        bus = EventBus("r-gone")
        await store.append([bus.emit(run_started())])
        tail = tail_run(store, "r-gone", reconnect_s=0.5, poll_s=0.01)
        async with contextlib.aclosing(tail):
            assert (await anext(tail)).seq == 1
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql("DROP TABLE events")
            started = time.monotonic()
            with pytest.raises(StorageError, match=r"^cannot read events of run r-gone: "):
                await asyncio.wait_for(anext(tail), timeout=10)
            assert 0.5 <= time.monotonic() - started < 5


async def test_backoff_grows_and_resets(monkeypatch):
    """The delays asked of the event loop double up to the cap and start again after a
    success (the delays asked, not the time slept: a loaded machine oversleeps)."""
    asked: list[float] = []

    async def sleep(delay: float) -> None:
        asked.append(delay)

    monkeypatch.setattr("storage.reconnect.asyncio", SimpleNamespace(sleep=sleep))
    retry = Reconnecting("probe", first_s=0.01, max_s=0.04)
    for _ in range(4):
        await retry.failed(StorageError("down"))
    assert retry.failures == 4
    assert asked == [0.01, 0.02, 0.04, 0.04]
    retry.ok()
    assert retry.failures == 0
    await retry.failed(StorageError("down again"))
    assert asked[-1] == 0.01


@pytest.mark.postgres
async def test_a_run_rides_out_a_database_outage_without_losing_events(empty_pg_url):
    """The writer process waits out a few seconds without the database; nothing is lost."""
    proxy = await PgProxy(empty_pg_url).start()
    try:
        bus = EventBus("r-blip")
        writer = await ProcessStorageWriter.start(proxy.url, bus.subscribe("storage", durable=True))
        writing = asyncio.create_task(writer.run())
        emitted = [bus.emit(run_started())]
        await asyncio.wait_for(bus.durable(), 10)
        await proxy.cut()
        emitted += [bus.emit(AgentOutput(agent_id="eng-1", text=f"line {i}")) for i in range(50)]
        await asyncio.sleep(1.5)  # the writer's batch meets the outage and waits
        assert not writing.done(), "the run's writer gave up on a short outage"
        await proxy.restore()
        await asyncio.wait_for(bus.durable(), 15)
        emitted.append(bus.emit(RunFinished(outcome=Outcome.SHIPPED)))
        await bus.close()
        await asyncio.wait_for(writing, 15)
    finally:
        await proxy.close()
    async with await SqlEventStore.open(empty_pg_url) as store:
        assert await store.read("r-blip") == emitted


@pytest.mark.postgres
async def test_the_writer_process_gives_up_after_the_outage_window_it_was_given(empty_pg_url):
    """``outage_s`` reaches the writer process: given 1 s, it stops storing a cut database
    after a second or so of retries, not after the default 30 s."""
    proxy = await PgProxy(empty_pg_url).start()
    try:
        bus = EventBus("r-window")
        writer = await ProcessStorageWriter.start(
            proxy.url, bus.subscribe("storage", durable=True), outage_s=1.0
        )
        writing = asyncio.create_task(writer.run())
        bus.emit(run_started())
        await asyncio.wait_for(bus.durable(), 10)
        await proxy.cut()
        cut_at = time.monotonic()
        bus.emit(AgentOutput(agent_id="eng-1", text="into the outage"))
        with pytest.raises(StorageError):
            await asyncio.wait_for(writing, OUTAGE_S)
        gave_up_after = time.monotonic() - cut_at
    finally:
        await proxy.close()
    assert 1.0 <= gave_up_after < OUTAGE_S / 3, gave_up_after


@pytest.mark.postgres
async def test_a_read_after_the_servers_connections_were_killed_just_works(empty_pg_url):
    """``status``, ``runs`` and ``serve-metrics`` read through a pool whose connections the
    server may have dropped since: the read is made again on a fresh connection."""
    async with await SqlEventStore.open(empty_pg_url) as store:
        bus = EventBus("r-read")
        await store.append([bus.emit(run_started())])
        assert [r.run_id for r in await store.list_runs()] == ["r-read"]  # a pooled connection
        assert await kill_backends(empty_pg_url) >= 1
        assert [r.run_id for r in await store.list_runs()] == ["r-read"]
        assert [e.seq for e in await store.read("r-read")] == [1]


@pytest.mark.postgres
async def test_a_tail_waits_out_an_outage_longer_than_it_retries_a_failing_read(empty_pg_url):
    """``attach`` overnight: a server restart or failover longer than the tail's
    ``reconnect_s`` ended the feed ("event feed stopped"), and the control room sat still
    over a run that went on once the server was back. An unreachable database is now waited
    for however long; the tail reads on from its cursor."""
    proxy = await PgProxy(empty_pg_url).start()
    try:
        async with (
            await SqlEventStore.open(empty_pg_url) as writer,
            await SqlEventStore.open(proxy.url) as reader,
        ):
            bus = EventBus("r-long-outage")
            await writer.append([bus.emit(run_started())])
            seen: list[int] = []
            tail = tail_run(reader, "r-long-outage", reconnect_s=0.5, poll_s=0.01)

            async def follow() -> None:
                async for event in tail:
                    seen.append(event.seq)  # noqa: PERF401 - read while it grows

            following = asyncio.ensure_future(follow())
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.05)
            await proxy.cut()
            await asyncio.sleep(5)  # ten times reconnect_s without the server
            assert not following.done(), "the tail gave up on an outage"
            more = [bus.emit(AgentOutput(agent_id="eng-1", text=f"line {i}")) for i in range(3)]
            more.append(bus.emit(RunFinished(outcome=Outcome.SHIPPED)))
            await writer.append(more)  # the run went on meanwhile (another route to it)
            await proxy.restore()
            await asyncio.wait_for(following, timeout=15)  # ends at RunFinished, no error
    finally:
        await proxy.close()
    assert seen == [1, 2, 3, 4, 5]


class _Notes:
    """Stands in for the attached view: what it would toast."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def notify(self, message: str, **_: object) -> None:
        self.said.append(message)

    def show_stopped(self, stopped: bool) -> None:
        pass


@pytest.mark.postgres
async def test_an_attached_view_says_the_database_does_not_answer_and_when_it_does(
    empty_pg_url,
):
    """The feed waits out an outage without end, so the view says why it stands still."""
    from storage.lease import RunLease
    from tui.driver_watch import watch_driver

    proxy = await PgProxy(empty_pg_url).start()
    try:
        async with (
            await SqlEventStore.open(empty_pg_url) as writer,
            await SqlEventStore.open(proxy.url) as reader,
        ):
            await writer.append([EventBus("r-view").emit(run_started())])
            lease = await RunLease.take(writer, "r-view")  # a process drives it elsewhere
            view = _Notes()
            watching = asyncio.ensure_future(watch_driver(view, reader, "r-view", poll_s=0.05))  # type: ignore[arg-type]
            await asyncio.sleep(0.3)
            assert view.said == []
            await proxy.cut()
            await asyncio.sleep(1.0)
            assert len(view.said) == 1, view.said  # said once, not on every poll
            assert view.said[0].startswith("the database does not answer (")
            assert view.said[0].endswith("); this view carries on when it does")
            await proxy.restore()
            await asyncio.sleep(1.0)
            assert view.said[1:] == ["the database answers again"]
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await lease.release()
    finally:
        await proxy.close()
