"""The storage writer: group commit from a bus subscription, retries, no silent drops."""

from __future__ import annotations

import asyncio

import pytest

from engine.bus import DurabilityLost, EventBus
from engine.events import AgentOutput, Outcome
from storage.errors import StorageError
from storage.writer import StorageWriter


async def test_a_burst_of_1000_events_is_stored_in_order_in_few_commits(store):
    bus = EventBus("r-burst")
    writer = StorageWriter(store, bus.subscribe("storage"))
    writing = asyncio.create_task(writer.run())

    emitted = [bus.emit(AgentOutput(agent_id="eng-1", text=f"line {i}")) for i in range(1000)]
    await bus.close()  # returns once the writer has acknowledged everything
    await asyncio.wait_for(writing, timeout=10)

    stored = await store.read("r-burst")
    assert stored == emitted
    assert [e.seq for e in stored] == list(range(1, 1001))
    assert writer.events_written == 1000
    assert 1 <= writer.batches < 1000
    assert writer.batches == -(-1000 // writer.batch_limit)  # full batches under a burst


async def test_events_emitted_while_writing_are_picked_up_by_later_batches(store, emit_little_run):
    bus = EventBus("r-trickle")
    writer = StorageWriter(store, bus.subscribe("storage"), batch_limit=4)
    writing = asyncio.create_task(writer.run())

    emitted = emit_little_run(bus)
    for i in range(20):
        emitted.append(bus.emit(AgentOutput(agent_id="eng-1", text=f"after {i}")))
        if i % 5 == 0:
            await asyncio.sleep(0)  # let the writer take what has queued so far
    await bus.close()
    await asyncio.wait_for(writing, timeout=10)

    assert await store.read("r-trickle") == emitted
    assert writer.events_written == len(emitted)
    assert writer.batches >= -(-len(emitted) // 4)
    run = await store.get_run("r-trickle")
    assert run is not None
    assert (run.outcome, run.tasks_total, run.tasks_merged) == (Outcome.SHIPPED, 2, 2)
    assert run.last_seq == len(emitted)


async def test_two_runs_written_concurrently_into_one_database_stay_apart(store, emit_little_run):
    buses = [EventBus("r-one"), EventBus("r-two")]
    writers = [StorageWriter(store, bus.subscribe("storage"), batch_limit=3) for bus in buses]
    tasks = [asyncio.create_task(w.run()) for w in writers]

    emitted: dict[str, list] = {bus.run_id: [] for bus in buses}
    for bus in buses:
        emitted[bus.run_id] += emit_little_run(bus)
    for i in range(50):
        for bus in buses:
            emitted[bus.run_id].append(
                bus.emit(AgentOutput(agent_id="a", text=f"{bus.run_id} {i}"))
            )
        await asyncio.sleep(0)
    await asyncio.gather(*(bus.close() for bus in buses))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    for bus in buses:
        assert await store.read(bus.run_id) == emitted[bus.run_id]
    assert [r.run_id for r in await store.list_runs()] == sorted(emitted, reverse=True)


class FlakyStore:
    """Fails the first ``failures`` appends, then passes them to the real store."""

    def __init__(self, inner, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    async def append(self, events):
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageError("database is locked")
        await self.inner.append(events)


async def test_a_failed_append_is_retried_and_nothing_is_lost(store, caplog):
    bus = EventBus("r-flaky")
    flaky = FlakyStore(store, failures=2)
    notices: list[str] = []
    writer = StorageWriter(
        flaky, bus.subscribe("storage"), retries=3, backoff_s=0.001, on_notice=notices.append
    )
    writing = asyncio.create_task(writer.run())

    emitted = [bus.emit(AgentOutput(agent_id="a", text=str(i))) for i in range(10)]
    await bus.close()
    await asyncio.wait_for(writing, timeout=10)

    assert await store.read("r-flaky") == emitted
    assert (writer.retried, writer.batches, flaky.calls) == (2, 1, 3)
    assert "retrying" in caplog.text
    # The person is told once of the retries (not per attempt) and once of the recovery.
    assert notices[0] == "storing the run's events failed; retrying: database is locked"
    assert notices[1].startswith("recovered: 10 events stored after ")
    assert len(notices) == 2


async def test_an_append_that_keeps_failing_raises_and_is_not_acknowledged(store):
    bus = EventBus("r-broken")
    flaky = FlakyStore(store, failures=100)
    sub = bus.subscribe("storage", durable=True)
    writer = StorageWriter(flaky, sub, retries=2, backoff_s=0.001)
    for i in range(5):
        bus.emit(AgentOutput(agent_id="a", text=str(i)))

    with pytest.raises(StorageError, match="database is locked"):
        await asyncio.wait_for(writer.run(), timeout=10)

    assert flaky.calls == 3  # the first try and two retries
    assert (writer.batches, writer.events_written) == (0, 0)
    # The writer let go of the bus (nothing waits on it forever), but the bus does not
    # pretend the events were stored: the durability barrier refuses.
    await asyncio.wait_for(bus.drain(), timeout=1)
    with pytest.raises(DurabilityLost):
        await bus.durable()
    assert await store.count_events("r-broken") == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [("batch_limit", 0), ("retries", -1), ("outage_s", 0.0), ("outage_s", float("nan"))],
)
def test_nonsense_settings_are_refused(option, value):
    bus = EventBus("r-x")
    with pytest.raises(ValueError, match=option):
        StorageWriter(FlakyStore(None, failures=0), bus.subscribe("storage"), **{option: value})


class AnswerLostStore:
    """Commits the first append for real, then reports the connection lost (as when a
    network drop takes COMMIT's answer): the writer cannot know the batch is stored."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    async def append(self, events) -> None:
        self.calls += 1
        await self.inner.append(events)
        if self.calls == 1:
            lost = ConnectionResetError("connection reset by peer")
            raise StorageError(f"cannot write events: {lost}") from lost

    async def holds(self, events) -> bool:
        return await self.inner.holds(events)


async def test_a_batch_whose_commit_answer_was_lost_is_not_a_failure(store, caplog):
    bus = EventBus("r-lost-answer")
    lossy = AnswerLostStore(store)
    writer = StorageWriter(lossy, bus.subscribe("storage"), backoff_s=0.001)
    writing = asyncio.create_task(writer.run())

    emitted = [bus.emit(AgentOutput(agent_id="a", text=str(i))) for i in range(10)]
    await bus.close()
    await asyncio.wait_for(writing, timeout=10)  # the retry's "already stored" is checked

    assert await store.read("r-lost-answer") == emitted  # each event once
    assert (writer.batches, writer.events_written, lossy.calls) == (1, 10, 2)
    assert "answer was lost" in caplog.text


async def test_other_events_under_the_same_numbers_still_fail_after_a_lost_connection(store):
    bus = EventBus("r-clash")
    sub = bus.subscribe("storage", durable=True)
    ours = [bus.emit(AgentOutput(agent_id="a", text=f"ours {i}")) for i in range(3)]
    theirs = [ev.model_copy(update={"text": f"theirs {ev.seq}"}) for ev in ours]
    await store.append(theirs)  # another writer stored different events under those numbers

    class LostThenRefused:
        calls = 0

        async def append(self, events) -> None:
            self.calls += 1
            if self.calls == 1:
                raise StorageError("cannot write events: gone") from OSError("gone")
            await store.append(events)

        async def holds(self, events) -> bool:
            return await store.holds(events)

    writer = StorageWriter(LostThenRefused(), sub, backoff_s=0.001)
    with pytest.raises(StorageError, match="already stored"):
        await asyncio.wait_for(writer.run(), timeout=10)
    assert [ev.text for ev in await store.read("r-clash")] == ["theirs 1", "theirs 2", "theirs 3"]
